/* SPDX-License-Identifier: MIT */
/*
 * Families: what ringd does for a dext that the sandbox keeps it from doing
 * itself (ipc/proto.h, RK_DEXT_NET_* and RK_DEXT_PCI_*).
 *
 * Network.  A dext has no CAP_NET_ADMIN (nor any network socket), so ringd
 * makes its interface: RK_DEXT_NET_CREATE opens /dev/net/tun, creates a TAP
 * interface (IFF_TAP | IFF_NO_PI | IFF_TUN_EXCL: never attaches to an
 * interface that already exists), sets the MAC asked for, brings the link
 * up, publishes an IOEthernetInterface nub (BSD Name, IOMACAddress,
 * IOMaxTransferUnit) under the driver's service and answers with the TAP
 * fd.  Only for a bundle entitled to com.apple.developer.driverkit.family.
 * networking (family_entitled).  ringd keeps its own descriptor of every
 * interface it made, so the interface lives exactly as long as ringd says:
 *
 *     (none) --NET_CREATE--> live (ringd's fd + the dext's fd, nub published)
 *     live --NET_DESTROY / instance stopped, crashed or killed--> deleted
 *          (family_instance_release(): RTM_DELLINK while our fd is still
 *           attached, so the index deleted is ours; then our fd closed)
 *
 * The nub goes with the driver's service (nub.c tears the service down with
 * everything published under it).
 *
 * PCI.  The handle of an IOPCIDevice's driver is the device's sysfs config
 * file, opened by ringd (so the whole config space reads, not just the
 * unprivileged 64 bytes): read-only while a kernel driver is bound to the
 * device, read-write when none is.  RK_DEXT_PCI_MAP_BAR hands out a BAR's
 * sysfs resourceN file, and is refused (-EBUSY) while a kernel driver is
 * bound: ringkit never takes a device from its kernel driver; unbinding is
 * an administrator's act (sysfs `driver/unbind`), not a dext's.  Matching
 * already checked the PCI transport entitlement against vendor-id and
 * device-id (launch_allows_provider), and a dext only ever gets its own
 * provider's files.
 *
 * Every request is answered once on the answer socket it carries; a
 * request without one is a malformed message (the dext is treated as
 * crashed, as for any other).
 */
#include <fcntl.h>
#include <limits.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ipc/proto.h"
#include "ringd/ringd.h"
#include "shared/macro.h"
#include "trust/entitlements.h"
#include "trust/sign.h"

#define MAX_NETIFS 8 /* interfaces one instance may hold */

typedef struct netif {
        int fd;             /* ringd's own descriptor of the TAP */
        int ifindex;
        char name[IFNAMSIZ];
        uint64_t nub_id;
} netif;

struct family_state {
        netif ifs[MAX_NETIFS];
        size_t n_ifs;
        bool net_checked, net_allowed; /* the entitlement, verified once per instance */
        const char *net_why;
};

/* ---- answers ---- */

/* Answer on the request's socket (taken), with `res` (may be NULL) plus status/error, and fd if any. */
void family_answer(instance *i, int sock, int status, const char *error, rk_value *res, int fd) {
        _cleanup_(rk_value_unrefp) rk_value *empty = NULL;
        rk_channel *ch = NULL;

        if (!res) {
                if (rk_value_new_dict(&empty) < 0)
                        goto out;
                res = empty;
        }
        if (rk_dict_set_integer(res, "status", (uint64_t) (int64_t) status, true) < 0 ||
            (error && rk_dict_set_string(res, "error", error) < 0))
                goto out;
        if (rk_channel_new(sock, RK_CHANNEL_FDS, &ch) < 0)
                goto out;
        sock = -EBADF; /* the channel's now */
        if (rk_channel_send_plist(ch, RK_DEXT_FAMILY_REPLY, (uint32_t) i->id, status < 0 ? -EBADF : fd, res) < 0)
                log_warning(i->d, "%s: could not answer its family request", i->tag);
out:
        rk_channel_free(ch);
        if (sock >= 0)
                close(sock);
}

_printf_(4, 5) static void refuse(instance *i, int sock, int status, const char *fmt, ...) {
        _cleanup_(freep) char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        log_notice(i->d, "%s: refused: %s", i->tag, msg ? msg : strerror(-status));
        family_answer(i, sock, status, msg ? msg : strerror(-status), NULL, -EBADF);
}

/* ---- entitlements ---- */

bool family_entitled(ringd *d, const char *bundle_id, const char *key, const char **why) {
        const rk_value *ents = NULL, *v;
        int r;

        /*
         * The same rule as launch_allows_provider(), on the same trust record
         * (launch.c verifies a bundle once and again whenever its signature
         * files change, so a bundle re-signed since its launch is judged by
         * what it claims today): a bundle that is not validly signed runs
         * only in developer mode, which is then the only check; a signed one
         * must hold the entitlement, developer mode or not.
         */
        r = launch_entitlements(d, bundle_id, &ents, why);
        if (r < 0)
                return false;
        if (r == 0) {
                if (d->extdb && rk_extdb_get_developer_mode(d->extdb) > 0)
                        return true;
                *why = "not validly signed, and developer mode is off";
                return false;
        }
        v = rk_dict_get(ents, key);
        if (v && rk_value_is(v, RK_TYPE_BOOL) && rk_bool(v))
                return true;
        *why = "missing entitlement";
        return false;
}

/* ---- network ---- */

static struct family_state *state(instance *i) {
        if (!i->family)
                i->family = calloc(1, sizeof(*i->family));
        return i->family;
}

/* An interface name a dext may ask for: the kernel's rules, plus a tame character set. */
static bool valid_name_hint(const char *s) {
        size_t n = strlen(s);
        unsigned pct = 0;

        if (n == 0 || n >= IFNAMSIZ || streq(s, ".") || streq(s, ".."))
                return false;
        for (const char *p = s; *p; p++) {
                if (*p == '%') {
                        if (p[1] != 'd' || ++pct > 1)
                                return false;
                        continue;
                }
                if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') && !(*p >= '0' && *p <= '9') &&
                    *p != '-' && *p != '_' && *p != '.')
                        return false;
        }
        return true;
}

/* RTM_DELLINK for an interface index; 0 or -errno from the kernel's answer. */
static int link_delete(int ifindex) {
        struct {
                struct nlmsghdr nh;
                struct ifinfomsg ifi;
        } req = {
                .nh = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg)), .nlmsg_type = RTM_DELLINK,
                        .nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK, .nlmsg_seq = 1 },
                .ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex },
        };
        struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
        char buf[512];
        ssize_t n;
        _cleanup_(closep) int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

        if (fd < 0)
                return -errno;
        if (sendto(fd, &req, req.nh.nlmsg_len, 0, (struct sockaddr *) &kernel, sizeof(kernel)) < 0)
                return -errno;
        n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0)
                return -errno;
        for (struct nlmsghdr *h = (struct nlmsghdr *) buf; NLMSG_OK(h, (size_t) n); h = NLMSG_NEXT(h, n))
                if (h->nlmsg_type == NLMSG_ERROR) {
                        const struct nlmsgerr *e = NLMSG_DATA(h);
                        return e->error; /* 0 or -errno */
                }
        return -EPROTO;
}

static void netif_delete(instance *i, netif *f) {
        struct ifreq ifr = {};
        int r = -ENODEV;

        /* still attached to our descriptor: the device, its name and so its index are ours */
        if (ioctl(f->fd, TUNGETIFF, &ifr) == 0) {
                int idx = (int) if_nametoindex(ifr.ifr_name);
                r = idx > 0 ? link_delete(idx) : -ENODEV;
        }
        if (r < 0 && r != -ENODEV)
                log_warning(i->d, "%s: cannot delete network interface %s: %s (it goes when its last descriptor closes)",
                            i->tag, f->name, strerror(-r));
        else
                log_info(i->d, "%s: network interface %s deleted", i->tag, f->name);
        close(f->fd);
        f->fd = -EBADF;
}

static void netif_drop(instance *i, size_t k) {
        struct family_state *s = i->family;

        netif_delete(i, &s->ifs[k]);
        s->ifs[k] = s->ifs[--s->n_ifs];
}

static int if_ioctl(unsigned long req, struct ifreq *ifr) {
        _cleanup_(closep) int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return -errno;
        return ioctl(fd, req, ifr) < 0 ? -errno : 0;
}

static int publish_netif(instance *i, const netif *f, const uint8_t mac[6], int mtu, nub **ret) {
        static const char *const chain[] = { "IOEthernetInterface", "IONetworkInterface", "IOService" };
        _cleanup_(rk_value_unrefp) rk_value *props = NULL, *macv = NULL;
        int r;

        if (!i->service)
                return -ENODEV;
        if ((r = rk_value_new_dict(&props)) < 0 || (r = rk_value_new_data(mac, 6, &macv)) < 0 ||
            (r = rk_dict_set_string(props, "BSD Name", f->name)) < 0 ||
            (r = rk_dict_set_string(props, "IOName", f->name)) < 0 || (r = rk_dict_set(props, "IOMACAddress", macv)) < 0 ||
            (r = rk_dict_set_integer(props, "IOMaxTransferUnit", (uint64_t) mtu, false)) < 0 ||
            (r = rk_dict_set_integer(props, "IOInterfaceType", 6 /* IFT_ETHER */, false)) < 0 ||
            (r = rk_dict_set_integer(props, "RKIfIndex", (uint64_t) f->ifindex, false)) < 0 ||
            (r = rk_dict_set_string(props, "RKTransport", "tap")) < 0)
                return r;
        return nub_publish(i->d, i->service, NUB_PUBLISHED, chain, ELEMENTSOF(chain), f->name, props, -EBADF, ret);
}

static void net_create(instance *i, int sock, rk_value *body) {
        struct family_state *s = state(i);
        const char *hint = rk_dict_get_string(body, "name"), *why = "not entitled";
        const rk_value *macv = rk_dict_get(body, "mac");
        _cleanup_(rk_value_unrefp) rk_value *res = NULL, *macd = NULL;
        const uint8_t *want_mac = NULL;
        struct ifreq ifr = {};
        uint8_t mac[6];
        netif f = { .fd = -EBADF };
        nub *created = NULL;
        int r, mtu;

        if (!s)
                return family_answer(i, sock, -ENOMEM, "out of memory", NULL, -EBADF);
        if (s->n_ifs >= MAX_NETIFS)
                return refuse(i, sock, -EMFILE, "network interface not created: it holds %d already", MAX_NETIFS);
        if (!s->net_checked) {
                /* verifying hashes the bundle: once per instance, not once per (possibly hostile) request */
                s->net_allowed = family_entitled(i->d, i->bundle, RK_ENT_NETWORKING, &why);
                s->net_why = why;
                s->net_checked = true;
        }
        if (!s->net_allowed)
                return refuse(i, sock, -EPERM, "network interface not created: %s (%s)", s->net_why, RK_ENT_NETWORKING);
        if (!hint)
                hint = "rk%d";
        if (!valid_name_hint(hint))
                return refuse(i, sock, -EINVAL, "network interface not created: bad name '%s'", hint);
        if (macv) {
                size_t len = 0;
                want_mac = rk_value_is(macv, RK_TYPE_DATA) ? rk_data(macv, &len) : NULL;
                if (!want_mac || len != 6 || (want_mac[0] & 1) || !memcmp(want_mac, "\0\0\0\0\0\0", 6))
                        return refuse(i, sock, -EINVAL, "network interface not created: the MAC must be 6 bytes, unicast, not zero");
        }

        f.fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
        if (f.fd < 0)
                return refuse(i, sock, -errno, "network interface not created: /dev/net/tun: %m");
        ifr.ifr_flags = (short) (IFF_TAP | IFF_NO_PI | IFF_TUN_EXCL); /* IFF_TUN_EXCL is 0x8000: the sign bit */
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", hint);
        if (ioctl(f.fd, TUNSETIFF, &ifr) < 0) {
                r = -errno;
                close(f.fd);
                return refuse(i, sock, r, "network interface %s not created: %s", hint,
                              r == -EBUSY ? "an interface of that name exists" : strerror(-r));
        }
        snprintf(f.name, sizeof(f.name), "%s", ifr.ifr_name);
        /* from here the interface exists; closing f.fd (non-persistent) removes it */
        if (want_mac) {
                struct ifreq h = {};
                h.ifr_hwaddr.sa_family = ARPHRD_ETHER;
                memcpy(h.ifr_hwaddr.sa_data, want_mac, 6);
                if (ioctl(f.fd, SIOCSIFHWADDR, &h) < 0) {
                        r = -errno;
                        goto fail;
                }
        }
        memset(&ifr, 0, sizeof(ifr));
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", f.name);
        if ((r = if_ioctl(SIOCGIFFLAGS, &ifr)) < 0)
                goto fail;
        ifr.ifr_flags |= IFF_UP;
        if ((r = if_ioctl(SIOCSIFFLAGS, &ifr)) < 0 || (r = if_ioctl(SIOCGIFMTU, &ifr)) < 0)
                goto fail;
        mtu = ifr.ifr_mtu;
        if ((r = if_ioctl(SIOCGIFINDEX, &ifr)) < 0)
                goto fail;
        f.ifindex = ifr.ifr_ifindex;
        if (ioctl(f.fd, SIOCGIFHWADDR, &ifr) < 0) {
                r = -errno;
                goto fail;
        }
        memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);

        r = publish_netif(i, &f, mac, mtu, &created);
        if (r < 0)
                goto fail;
        created->owner = i;
        f.nub_id = rk_service_get_id(created->svc);
        s->ifs[s->n_ifs++] = f;
        log_info(i->d, "%s: network interface %s created (ifindex %d, MAC %02x:%02x:%02x:%02x:%02x:%02x, MTU %d)",
                 i->tag, f.name, f.ifindex, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], mtu);
        if (rk_value_new_dict(&res) < 0 || rk_value_new_data(mac, 6, &macd) < 0 ||
            rk_dict_set_string(res, "name", f.name) < 0 ||
            rk_dict_set_integer(res, "ifindex", (uint64_t) f.ifindex, false) < 0 || rk_dict_set(res, "mac", macd) < 0 ||
            rk_dict_set_integer(res, "mtu", (uint64_t) mtu, false) < 0 || rk_dict_set_integer(res, "id", f.nub_id, false) < 0) {
                /* the interface stays, released with the instance; the dext hears it failed */
                family_answer(i, sock, -ENOMEM, "out of memory", NULL, -EBADF);
        } else
                family_answer(i, sock, 0, NULL, res, f.fd);
        nub_match(created);
        return;
fail:
        close(f.fd);
        refuse(i, sock, r, "network interface %s not set up: %s", f.name, strerror(-r));
}

static void net_destroy(instance *i, int sock, rk_value *body) {
        struct family_state *s = i->family;
        uint64_t idx = 0;

        if (!rk_dict_get_u64(body, "ifindex", &idx))
                return family_answer(i, sock, -EINVAL, "no ifindex", NULL, -EBADF);
        for (size_t k = 0; s && k < s->n_ifs; k++)
                if ((uint64_t) s->ifs[k].ifindex == idx) {
                        nub *n = nub_find(i->d, s->ifs[k].nub_id);
                        netif_drop(i, k);
                        family_answer(i, sock, 0, NULL, NULL, -EBADF);
                        if (n && n->kind == NUB_PUBLISHED && n->owner == i)
                                nub_terminate(n, NULL, NULL);
                        return;
                }
        family_answer(i, sock, -ENOENT, "no interface of this instance has that index", NULL, -EBADF);
}

void family_instance_release(instance *i) {
        struct family_state *s = i->family;

        if (!s)
                return;
        while (s->n_ifs)
                netif_drop(i, s->n_ifs - 1);
        free(s);
        i->family = NULL;
}

/* ---- PCI ---- */

/* The sysfs directory of an instance's IOPCIDevice provider, or NULL. */
static const char *pci_syspath(instance *i) {
        nub *p = i->provider;
        const char *path;

        if (!p || p->kind != NUB_LINUX || !rk_service_has_class(p->svc, "IOPCIDevice"))
                return NULL;
        path = p->syspath ? p->syspath : rk_dict_get_string(rk_service_get_properties(p->svc), "RKSysPath");
        if (!path || strncmp(path, "/sys/", 5) != 0 || strstr(path, "/../"))
                return NULL;
        return path;
}

/* The kernel driver bound to the device (its name in buf), or NULL. */
static const char *pci_bound_driver(const char *syspath, char *buf, size_t size) {
        _cleanup_(freep) char *link = NULL;
        char target[PATH_MAX];
        const char *base;
        ssize_t n;

        if (asprintf(&link, "%s/driver", syspath) < 0)
                return "(unknown: out of memory)"; /* when in doubt, bound */
        n = readlink(link, target, sizeof(target) - 1);
        if (n < 0)
                return errno == ENOENT ? NULL : "(unknown)";
        target[n] = 0;
        base = strrchr(target, '/') ? strrchr(target, '/') + 1 : target;
        n = (ssize_t) strnlen(base, size - 1);
        memcpy(buf, base, (size_t) n);
        buf[n] = 0;
        return buf;
}

int family_pci_handle(instance *i) {
        const char *sys = pci_syspath(i), *drv;
        _cleanup_(freep) char *path = NULL;
        char name[128];
        int fd;

        if (!sys || asprintf(&path, "%s/config", sys) < 0)
                return -EBADF;
        drv = pci_bound_driver(sys, name, sizeof(name));
        fd = open(path, (drv ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
                log_warning(i->d, "%s: cannot open %s for its driver: %m", i->tag, path);
                return -EBADF;
        }
        if (drv)
                log_info(i->d, "%s: hands %s to its driver read-only: the device is bound to kernel driver %s", i->tag,
                         path, drv);
        else
                log_info(i->d, "%s: hands %s to its driver (no kernel driver bound: read-write)", i->tag, path);
        return fd;
}

#define IORESOURCE_IO_FLAG 0x00000100ull  /* include/linux/ioport.h */
#define IORESOURCE_MEM_FLAG 0x00000200ull

static void pci_map_bar(instance *i, int sock, rk_value *body) {
        const char *sys = pci_syspath(i), *drv, *addr;
        _cleanup_(rk_value_unrefp) rk_value *res = NULL;
        _cleanup_(freep) char *rpath = NULL, *bpath = NULL;
        _cleanup_(closep) int fd = -EBADF;
        unsigned long long start = 0, end = 0, flags = 0;
        char name[128], line[160];
        uint64_t bar = UINT64_MAX;
        FILE *f;

        if (!rk_dict_get_u64(body, "bar", &bar) || bar > 5)
                return refuse(i, sock, -EINVAL, "BAR not mapped: bar must be 0 to 5");
        if (!sys)
                return refuse(i, sock, -ENODEV, "BAR %u not mapped: the provider is not a PCI device of this machine",
                              (unsigned) bar);
        addr = strrchr(sys, '/') + 1;
        drv = pci_bound_driver(sys, name, sizeof(name));
        if (drv)
                return refuse(i, sock, -EBUSY,
                              "BAR %u of %s not mapped: the device is bound to kernel driver %s; ringkit never takes a "
                              "device from its kernel driver: an administrator must unbind it first "
                              "(echo %s > %s/driver/unbind)",
                              (unsigned) bar, addr, drv, addr, sys);
        if (asprintf(&rpath, "%s/resource", sys) < 0 || asprintf(&bpath, "%s/resource%u", sys, (unsigned) bar) < 0)
                return family_answer(i, sock, -ENOMEM, "out of memory", NULL, -EBADF);
        f = fopen(rpath, "re");
        if (!f)
                return refuse(i, sock, -errno, "BAR %u of %s not mapped: %s: %m", (unsigned) bar, addr, rpath);
        for (unsigned k = 0; k <= bar; k++)
                if (!fgets(line, sizeof(line), f) || sscanf(line, "%llx %llx %llx", &start, &end, &flags) != 3) {
                        start = end = flags = 0;
                        break;
                }
        fclose(f);
        if (end <= start || !(flags & (IORESOURCE_IO_FLAG | IORESOURCE_MEM_FLAG)))
                return refuse(i, sock, -ENXIO, "BAR %u of %s not mapped: the device does not implement it",
                              (unsigned) bar, addr);
        fd = open(bpath, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return refuse(i, sock, errno == ENOENT ? -EOPNOTSUPP : -errno, "BAR %u of %s not mapped: %s: %s",
                              (unsigned) bar, addr, bpath,
                              errno == ENOENT ? "this kernel offers no resource file for it" : strerror(errno));
        if (rk_value_new_dict(&res) < 0 || rk_dict_set_integer(res, "size", end - start + 1, false) < 0 ||
            rk_dict_set_integer(res, "flags", flags, false) < 0 || rk_dict_set_string(res, "path", bpath) < 0)
                return family_answer(i, sock, -ENOMEM, "out of memory", NULL, -EBADF);
        log_info(i->d, "%s: hands %s (%llu bytes, %s) to its driver", i->tag, bpath, end - start + 1,
                 flags & IORESOURCE_IO_FLAG ? "I/O ports" : "memory");
        family_answer(i, sock, 0, NULL, res, fd);
}

/* ---- dispatch ---- */

int family_request(instance *i, uint32_t type, rk_msg *m, rk_value *body) {
        int sock;

        if (type != RK_DEXT_NET_CREATE && type != RK_DEXT_NET_DESTROY && type != RK_DEXT_PCI_MAP_BAR)
                return -EBADMSG;
        sock = rk_msg_take_fd(m);
        if (sock < 0)
                return -EBADMSG; /* nowhere to answer */
        /* destroying is also fine while it stops (a driver's stop() frees its interface) */
        if (i->state != I_START && i->state != I_RUNNING && !(type == RK_DEXT_NET_DESTROY && i->state == I_STOP))
                return family_answer(i, sock, -EPROTO, "only a starting or running driver may ask", NULL, -EBADF), 0;
        switch (type) {
        case RK_DEXT_NET_CREATE:
                net_create(i, sock, body);
                break;
        case RK_DEXT_NET_DESTROY:
                net_destroy(i, sock, body);
                break;
        case RK_DEXT_PCI_MAP_BAR:
                pci_map_bar(i, sock, body);
                break;
        }
        return 0;
}
