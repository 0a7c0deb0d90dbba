/* SPDX-License-Identifier: MIT */
/*
 * The client end of ringd's control socket; see ctl-client.h.  Built into
 * ringkit's core and, as its own copy, into libringkit.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ipc/ctl-client.h"

char *rk_ctl_socket_path(const char *root) {
        char *p = NULL;

        if (!root)
                root = getenv("RINGKIT_ROOT");
        if (root && *root)
                return asprintf(&p, "%s/run/ringd.sock", root) < 0 ? NULL : p;
        return strdup("/run/ringkit/ringd.sock");
}

int rk_ctl_connect(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd, r;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

int rk_ctl_flush_wait(rk_channel *ch) {
        int r;

        while (rk_channel_has_pending(ch)) {
                struct pollfd p = { .fd = rk_channel_get_fd(ch), .events = POLLOUT };
                if (poll(&p, 1, -1) < 0 && errno != EINTR)
                        return -errno;
                r = rk_channel_flush(ch);
                if (r < 0)
                        return r;
        }
        return 0;
}
