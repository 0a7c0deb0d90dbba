/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the IPC framing: the input is sent as one datagram
 * through a real SOCK_SEQPACKET socketpair and read with rk_channel_recv()
 * on a channel without fd passing, on one with it, and once more with a
 * pipe fd attached; whatever is accepted goes through rk_msg_read_plist().
 * The input is also read as a bare plist payload.  Checked on the way: an
 * accepted message is exactly the datagram (header fields, payload bytes,
 * an fd only when one was sent and allowed), a refused one leaves an empty
 * message, and no descriptor stays open (ASan and the fd count).
 */
#include <assert.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ipc/msg.h"
#include "shared/macro.h"

/* compiled in, so that the framing code is instrumented for coverage */
#include "ipc/msg.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void read_payload(const rk_msg *m) {
        _cleanup_(rk_value_unrefp) rk_value *v = NULL;
        int r = rk_msg_read_plist(m, &v);
        assert(r == 0 || r == -EBADMSG || r == -ENOMEM);
        assert((r == 0) == (v != NULL));
        assert(!v || rk_value_is(v, RK_TYPE_DICT));
}

static int send_with_fd(int sock, const uint8_t *data, size_t size, int fd) {
        union {
                struct cmsghdr align;
                uint8_t buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        struct iovec iov = { (void *) data, size };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

        if (fd >= 0) {
                struct cmsghdr *c;
                mh.msg_control = &control;
                mh.msg_controllen = sizeof(control.buf);
                c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(c), &fd, sizeof(int));
        }
        return sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 ? -errno : 0;
}

static void one(const uint8_t *data, size_t size, unsigned flags, int fd) {
        _cleanup_(rk_channel_freep) rk_channel *ch = NULL;
        rk_msg m = RK_MSG_INIT;
        rk_msg_hdr h;
        int sv[2], r;

        if (rk_socketpair(sv) < 0)
                return;
        if (rk_channel_new(sv[0], flags, &ch) < 0) {
                close(sv[0]);
                close(sv[1]);
                return;
        }
        r = send_with_fd(sv[1], data, size, fd);
        close(sv[1]);
        if (r < 0)
                return;
        r = rk_channel_recv(ch, &m);
        if (r == 1) {
                memcpy(&h, data, sizeof(h));
                assert(size >= sizeof(h) && size <= RK_MSG_MAX);
                assert(m.type == h.type && m.peer == h.peer && m.pid == h.pid && m.flags == h.flags);
                assert(m.len == size - sizeof(h) && m.len == h.len);
                assert(m.len == 0 || memcmp(m.data, data + sizeof(h), m.len) == 0);
                assert((m.fd >= 0) == (fd >= 0));
                assert(m.fd < 0 || (flags & RK_CHANNEL_FDS));
                read_payload(&m);
        } else {
                assert(r == -EBADMSG || r == -ECONNRESET || r == -ENOMEM);
                assert(r != -ECONNRESET || (size == 0 && fd < 0));
                assert(m.fd == -EBADF && m.data == NULL);
        }
        rk_msg_done(&m);
}

static int count_fds(void) {
        int n = 0;
        for (int fd = 0; fd < 256; fd++)
                if (fcntl(fd, F_GETFD) >= 0)
                        n++;
        return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        rk_msg bare = { .data = (uint8_t *) data, .len = size, .fd = -EBADF };
        int p[2], before;

        if (size > RK_MSG_MAX + 16)
                return 0;
        read_payload(&bare);
        if (pipe2(p, O_CLOEXEC) < 0)
                return 0;
        before = count_fds();
        one(data, size, 0, -EBADF);
        one(data, size, RK_CHANNEL_FDS, -EBADF);
        one(data, size, RK_CHANNEL_FDS, p[0]);
        one(data, size, 0, p[0]);
        assert(count_fds() == before);
        close(p[0]);
        close(p[1]);
        return 0;
}
