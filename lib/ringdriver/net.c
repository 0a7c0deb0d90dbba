/* SPDX-License-Identifier: MIT */
/*
 * The network family (include/ringkit/net.h): an Ethernet interface that
 * ringd created for the dext (RK_DEXT_NET_CREATE), with frames in and out
 * over its TAP descriptor on the driver's dispatch queue.
 *
 * Invariants: the receive watch exists only while a callback is set; a
 * callback may free the interface it is called for (the free is deferred
 * until the read loop returns); the TAP descriptor is closed exactly once,
 * by the free, after ringd was asked to delete the interface.
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "driver-private.h"
#include "ipc/proto.h"
#include "ringkit/net.h"
#include "shared/macro.h"

#define RX_BUF (65536 + 64) /* the largest frame a TAP hands out, whatever the MTU */
#define RX_BATCH 64         /* frames per wake-up: the queue stays fair to other sources */

struct rk_net_interface {
        rk_driver *driver;
        int fd;
        int ifindex;
        char name[IFNAMSIZ];
        uint8_t mac[6];
        uint32_t mtu;
        uint64_t id;
        rk_driver_watch *watch;
        rk_net_receive_fn cb;
        void *ud;
        uint8_t *buf;
        bool dispatching, freed;
};

int rk_net_interface_create(rk_driver *d, const char *name_hint, const uint8_t mac[6], rk_net_interface **ret) {
        _cleanup_(rk_value_unrefp) rk_value *req = NULL, *reply = NULL;
        const char *name;
        const void *m;
        size_t mlen = 0;
        uint64_t u;
        rk_net_interface *n;
        int fd = -EBADF, r;

        if (!d || !ret)
                return -EINVAL;
        if ((r = rk_value_new_dict(&req)) < 0 || (name_hint && (r = rk_dict_set_string(req, "name", name_hint)) < 0))
                return r;
        if (mac) {
                _cleanup_(rk_value_unrefp) rk_value *v = NULL;
                if ((r = rk_value_new_data(mac, 6, &v)) < 0 || (r = rk_dict_set(req, "mac", v)) < 0)
                        return r;
        }
        r = rk_driver_request(d, RK_DEXT_NET_CREATE, req, &reply, &fd);
        if (r < 0)
                return r;
        name = rk_dict_get_string(reply, "name");
        m = rk_value_is(rk_dict_get(reply, "mac"), RK_TYPE_DATA) ? rk_data(rk_dict_get(reply, "mac"), &mlen) : NULL;
        if (fd < 0 || !name || strlen(name) >= IFNAMSIZ || !m || mlen != 6) {
                if (fd >= 0)
                        close(fd);
                return -EBADMSG;
        }
        n = calloc(1, sizeof(*n));
        if (!n) {
                close(fd);
                return -ENOMEM;
        }
        n->driver = d;
        n->fd = fd;
        snprintf(n->name, sizeof(n->name), "%s", name);
        memcpy(n->mac, m, 6);
        if (rk_dict_get_u64(reply, "ifindex", &u))
                n->ifindex = (int) u;
        if (rk_dict_get_u64(reply, "mtu", &u))
                n->mtu = (uint32_t) u;
        if (rk_dict_get_u64(reply, "id", &u))
                n->id = u;
        *ret = n;
        return 0;
}

static void really_free(rk_net_interface *n) {
        rk_driver_watch_cancel(n->watch);
        if (n->fd >= 0)
                close(n->fd);
        free(n->buf);
        free(n);
}

static void on_readable(rk_driver *d, rk_driver_watch *w, int fd, uint32_t revents, void *ud) {
        rk_net_interface *n = ud;

        n->dispatching = true;
        for (unsigned k = 0; k < RX_BATCH && n->cb && !n->freed; k++) {
                ssize_t len = read(n->fd, n->buf, RX_BUF);
                if (len < 0 && errno == EINTR)
                        continue;
                if (len < 0 && errno == EAGAIN)
                        break;
                if (len <= 0) {
                        /* the interface was deleted under us: nothing more will come */
                        rk_driver_log(d, RK_LOG_WARNING, "network interface %s: %s; receiving stops", n->name,
                                      len < 0 ? strerror(errno) : "end of file");
                        rk_driver_watch_cancel(n->watch);
                        n->watch = NULL;
                        break;
                }
                n->cb(n, n->buf, (size_t) len, n->ud);
        }
        n->dispatching = false;
        if (n->freed)
                really_free(n);
}

int rk_net_interface_set_receive(rk_net_interface *n, rk_net_receive_fn cb, void *ud) {
        int r;

        if (!n || n->freed)
                return -EINVAL;
        n->cb = cb;
        n->ud = ud;
        if (!cb) {
                rk_driver_watch_cancel(n->watch);
                n->watch = NULL;
                return 0;
        }
        if (!n->buf && !(n->buf = malloc(RX_BUF)))
                return -ENOMEM;
        if (n->watch)
                return 0;
        r = rk_driver_watch_fd(n->driver, n->fd, EPOLLIN, on_readable, n, &n->watch);
        if (r < 0)
                n->cb = NULL;
        return r;
}

int rk_net_interface_send(rk_net_interface *n, const void *frame, size_t len) {
        ssize_t w;
        uint32_t mtu = 0;

        if (!n || !frame || len < 14)
                return -EINVAL;
        (void) rk_net_interface_get_mtu(n, &mtu);
        if (len > (size_t) mtu + 18)
                return -EMSGSIZE;
        do
                w = write(n->fd, frame, len);
        while (w < 0 && errno == EINTR);
        if (w < 0)
                return -errno;
        return (size_t) w == len ? 0 : -EIO;
}

const char *rk_net_interface_get_name(rk_net_interface *n) {
        return n ? n->name : NULL;
}

int rk_net_interface_get_ifindex(rk_net_interface *n) {
        return n && n->ifindex > 0 ? n->ifindex : -EINVAL;
}

int rk_net_interface_get_mac(rk_net_interface *n, uint8_t ret[6]) {
        if (!n || !ret)
                return -EINVAL;
        memcpy(ret, n->mac, 6);
        return 0;
}

int rk_net_interface_get_mtu(rk_net_interface *n, uint32_t *ret) {
        struct ifreq ifr = {};
        int fd;

        if (!n || !ret)
                return -EINVAL;
        /* asked live: any socket answers SIOCGIFMTU, and a sandboxed dext may make AF_UNIX ones */
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", n->name);
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd >= 0) {
                if (ioctl(fd, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu > 0)
                        n->mtu = (uint32_t) ifr.ifr_mtu;
                close(fd);
        }
        *ret = n->mtu;
        return 0;
}

uint64_t rk_net_interface_get_service_id(rk_net_interface *n) {
        return n ? n->id : 0;
}

int rk_net_interface_get_fd(rk_net_interface *n) {
        return n ? n->fd : -EINVAL;
}

void rk_net_interface_free(rk_net_interface *n) {
        _cleanup_(rk_value_unrefp) rk_value *req = NULL;

        if (!n || n->freed)
                return;
        /* ringd deletes it now; were this lost, it would when the instance ends */
        if (rk_value_new_dict(&req) >= 0 && rk_dict_set_integer(req, "ifindex", (uint64_t) n->ifindex, false) >= 0)
                (void) rk_driver_request(n->driver, RK_DEXT_NET_DESTROY, req, NULL, NULL);
        n->freed = true;
        n->cb = NULL;
        if (!n->dispatching)
                really_free(n);
}
