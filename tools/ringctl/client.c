/* SPDX-License-Identifier: MIT */
/*
 * ringctl's connection to ringd's control socket: one request, one reply
 * (ipc/proto.h).  The socket is ROOT/run/ringd.sock with --root DIR or
 * $RINGKIT_ROOT, else /run/ringkit/ringd.sock.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"
#include "ipc/msg.h"
#include "ipc/proto.h"
#include "shared/macro.h"

char *ringctl_socket_path(const char *root) {
        char *p = NULL;

        if (!root)
                root = getenv("RINGKIT_ROOT");
        if (root && *root) {
                if (asprintf(&p, "%s/run/ringd.sock", root) < 0)
                        return NULL;
                return p;
        }
        return strdup("/run/ringkit/ringd.sock");
}

int ringctl_call(const char *root, rk_value *request, int timeout_ms, rk_value **ret) {
        _cleanup_(freep) char *path = ringctl_socket_path(root);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        rk_channel *ch = NULL;
        rk_msg m = { .fd = -EBADF };
        int fd, r;

        if (!path)
                return -ENOMEM;
        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                r = -errno;
                close(fd);
                fprintf(stderr, "ringctl: cannot reach ringd at %s: %s\n", path, strerror(-r));
                return r;
        }
        r = rk_channel_new(fd, 0, &ch);
        if (r < 0) {
                close(fd);
                return r;
        }
        r = rk_channel_send_plist(ch, RK_CTL_REQUEST, 1, -EBADF, request);
        while (r >= 0 && rk_channel_has_pending(ch)) {
                struct pollfd p = { .fd = rk_channel_get_fd(ch), .events = POLLOUT };
                (void) poll(&p, 1, 1000);
                r = rk_channel_flush(ch);
        }
        if (r >= 0)
                r = rk_channel_recv_wait(ch, &m, timeout_ms);
        if (r >= 0 && m.type != RK_CTL_REPLY)
                r = -EBADMSG;
        if (r >= 0)
                r = rk_msg_read_plist(&m, ret);
        rk_msg_done(&m);
        rk_channel_free(ch);
        if (r == -ETIMEDOUT)
                fprintf(stderr, "ringctl: ringd did not answer in time\n");
        else if (r == -ECONNRESET)
                fprintf(stderr, "ringctl: ringd closed the connection\n");
        return r;
}

int ringctl_check_reply(const char *what, rk_value *reply) {
        const char *err;
        int64_t e = 0;

        if (rk_bool(rk_dict_get(reply, "ok")))
                return 0;
        err = rk_dict_get_string(reply, "error");
        (void) rk_integer_s64(rk_dict_get(reply, "errno"), &e);
        fprintf(stderr, "ringctl %s: %s\n", what, err ? err : "failed");
        return e > 0 ? (int) -e : -EIO;
}
