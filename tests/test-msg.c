/* SPDX-License-Identifier: MIT */
/*
 * IPC framing: round trips with and without fds, plists, the size limit,
 * peer death, hostile datagrams written by hand with raw sendmsg (each one
 * refused with -EBADMSG, no fd leaked, the channel still usable), the
 * bounded send queue and resuming after the peer drains, the blocking
 * helper, and a round-trip latency figure between two processes (printed,
 * not asserted).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ipc/msg.h"
#include "shared/loop.h"
#include "shared/macro.h"
#include "test.h"
#include "value/plist.h"

static int count_fds(void) {
        int n = 0;
        for (int fd = 0; fd < 4096; fd++)
                if (fcntl(fd, F_GETFD) >= 0)
                        n++;
        return n;
}

/* A channel on one end of a fresh pair; the other end raw in *other. */
static int pair(unsigned flags_a, rk_channel **a, unsigned flags_b, rk_channel **b, int *other) {
        int sv[2], r;

        r = rk_socketpair(sv);
        if (r < 0)
                return r;
        r = rk_channel_new(sv[0], flags_a, a);
        if (r < 0)
                return r;
        if (b)
                return rk_channel_new(sv[1], flags_b, b);
        *other = sv[1];
        return 0;
}

TEST(args) {
        _cleanup_(rk_channel_freep) rk_channel *a = NULL;
        int sv[2], p[2];
        rk_msg m = RK_MSG_INIT;

        CHECK_INTEQ(rk_channel_new(-1, 0, &a), -EINVAL);
        CHECK_INTEQ(rk_socketpair(NULL), -EINVAL);
        ASSERT(pipe2(p, O_CLOEXEC) == 0);
        CHECK_INTEQ(rk_channel_new(p[0], 0, &a), -ENOTSOCK);
        close(p[0]);
        close(p[1]);
        ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        CHECK_INTEQ(rk_channel_new(sv[0], 0, &a), -EPROTOTYPE);
        close(sv[0]);
        close(sv[1]);

        /* a blocking, inheritable socket is made non-blocking and CLOEXEC */
        ASSERT(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0);
        CHECK_INTEQ(rk_channel_new(sv[0], 0x80, &a), -EINVAL);
        ASSERT(rk_channel_new(sv[0], 0, &a) == 0);
        CHECK(fcntl(sv[0], F_GETFL) & O_NONBLOCK);
        CHECK(fcntl(sv[0], F_GETFD) & FD_CLOEXEC);
        CHECK_INTEQ(rk_channel_get_fd(a), sv[0]);
        CHECK_INTEQ(rk_channel_get_fd(NULL), -EINVAL);

        CHECK_INTEQ(rk_channel_send(NULL, 1, 0, -EBADF, NULL, 0), -EINVAL);
        CHECK_INTEQ(rk_channel_send(a, 1, 0, -EBADF, NULL, 3), -EINVAL);
        /* no fds on a channel without RK_CHANNEL_FDS */
        CHECK_INTEQ(rk_channel_send(a, 1, 0, 0, "x", 1), -EINVAL);
        CHECK_INTEQ(rk_channel_recv(a, NULL), -EINVAL);
        CHECK_INTEQ(rk_channel_recv(NULL, &m), -EINVAL);
        CHECK_INTEQ(m.fd, -EBADF);
        CHECK_INTEQ(rk_channel_recv(a, &m), 0);
        CHECK_INTEQ(rk_channel_flush(NULL), -EINVAL);
        CHECK(!rk_channel_has_pending(NULL));
        CHECK_INTEQ(rk_channel_recv_wait(a, &m, -2), -EINVAL);
        CHECK_INTEQ(rk_msg_take_fd(NULL), -EINVAL);
        CHECK_INTEQ(rk_msg_read_plist(NULL, NULL), -EINVAL);
        rk_msg_done(NULL);
        CHECK(rk_channel_free(NULL) == NULL);
        close(sv[1]);
}

TEST(round_trip) {
        _cleanup_(rk_channel_freep) rk_channel *a = NULL, *b = NULL;
        rk_msg m = RK_MSG_INIT;

        ASSERT(pair(0, &a, 0, &b, NULL) == 0);
        CHECK_INTEQ(rk_channel_send(a, 7, 0xdeadbeef, -EBADF, "hello", 5), 0);
        CHECK_INTEQ(rk_channel_send(a, 8, 1, -EBADF, NULL, 0), 0);
        CHECK(!rk_channel_has_pending(a));

        ASSERT(rk_channel_recv(b, &m) == 1);
        CHECK_INTEQ(m.type, 7);
        CHECK_INTEQ(m.peer, 0xdeadbeef);
        CHECK_INTEQ(m.pid, getpid());
        CHECK_INTEQ(m.flags, 0);
        CHECK_INTEQ(m.len, 5);
        CHECK(m.data && memcmp(m.data, "hello", 5) == 0);
        CHECK_INTEQ(m.fd, -EBADF);
        rk_msg_done(&m);
        CHECK(m.data == NULL);

        ASSERT(rk_channel_recv(b, &m) == 1);
        CHECK_INTEQ(m.type, 8);
        CHECK_INTEQ(m.len, 0);
        CHECK(m.data == NULL);
        rk_msg_done(&m);
        CHECK_INTEQ(rk_channel_recv(b, &m), 0);

        /* and back */
        CHECK_INTEQ(rk_channel_send(b, 9, 2, -EBADF, "ok", 2), 0);
        CHECK_INTEQ(rk_channel_recv_wait(a, &m, 1000), 1);
        CHECK_INTEQ(m.type, 9);
        rk_msg_done(&m);
}

TEST(fd_passing) {
        _cleanup_(rk_channel_freep) rk_channel *a = NULL, *b = NULL;
        rk_msg m = RK_MSG_INIT;
        int p[2], fd, before;
        char buf[8] = {};

        ASSERT(pair(RK_CHANNEL_FDS, &a, RK_CHANNEL_FDS, &b, NULL) == 0);
        ASSERT(pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0);
        before = count_fds();

        /* the write end travels; the sender keeps its own */
        CHECK_INTEQ(rk_channel_send(a, 1, 0, p[1], "w", 1), 0);
        CHECK(fcntl(p[1], F_GETFD) >= 0);
        ASSERT(rk_channel_recv(b, &m) == 1);
        CHECK_INTEQ(m.flags, RK_MSG_F_FD);
        fd = rk_msg_take_fd(&m);
        CHECK_INTEQ(m.fd, -EBADF);
        ASSERT(fd >= 0);
        CHECK(fd != p[1]);
        CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        rk_msg_done(&m);
        CHECK(write(fd, "through", 7) == 7);
        CHECK(read(p[0], buf, sizeof(buf)) == 7);
        CHECK_STREQ(buf, "through");
        close(fd);
        CHECK_INTEQ(count_fds(), before);

        /* a message whose fd nobody takes closes it when done */
        CHECK_INTEQ(rk_channel_send(a, 2, 0, p[1], NULL, 0), 0);
        ASSERT(rk_channel_recv(b, &m) == 1);
        CHECK(m.fd >= 0);
        CHECK_INTEQ(count_fds(), before + 1);
        rk_msg_done(&m);
        CHECK_INTEQ(count_fds(), before);

        /* not an fd */
        CHECK_INTEQ(rk_channel_send(a, 3, 0, 999, NULL, 0), -EBADF);
        close(p[0]);
        close(p[1]);
}

static rk_value *sample_dict(void) {
        rk_value *d = NULL, *arr = NULL, *e = NULL;

        if (rk_value_new_dict(&d) < 0)
                return NULL;
        rk_dict_set_string(d, "CFBundleIdentifier", "com.example.driver");
        rk_dict_set_integer(d, "InstanceID", 42, false);
        rk_dict_set_bool(d, "Debug", true);
        rk_value_new_array(&arr);
        rk_value_new_string("usb", &e);
        rk_array_append(arr, e);
        rk_dict_set(d, "Families", arr);
        rk_value_unref(e);
        rk_value_unref(arr);
        return d;
}

TEST(plist) {
        _cleanup_(rk_channel_freep) rk_channel *a = NULL, *b = NULL;
        _cleanup_(rk_value_unrefp) rk_value *d = sample_dict(), *got = NULL, *arr = NULL;
        _cleanup_(freep) char *bin = NULL;
        size_t n = 0;
        rk_msg m = RK_MSG_INIT;

        ASSERT(d);
        ASSERT(pair(0, &a, 0, &b, NULL) == 0);
        CHECK_INTEQ(rk_channel_send_plist(a, 100, 5, -EBADF, d), 0);
        ASSERT(rk_channel_recv(b, &m) == 1);
        CHECK_INTEQ(m.type, 100);
        CHECK_INTEQ(rk_msg_read_plist(&m, &got), 0);
        CHECK(rk_value_equal(d, got));
        rk_msg_done(&m);

        /* a root that is no dictionary: refused both ways */
        ASSERT(rk_value_new_array(&arr) == 0);
        CHECK_INTEQ(rk_channel_send_plist(a, 100, 5, -EBADF, arr), -EINVAL);
        ASSERT(rk_plist_to_binary(arr, &bin, &n) == 0);
        CHECK_INTEQ(rk_channel_send(a, 100, 5, -EBADF, bin, n), 0);
        ASSERT(rk_channel_recv(b, &m) == 1);
        rk_value_unrefp(&got);
        got = NULL;
        CHECK_INTEQ(rk_msg_read_plist(&m, &got), -EBADMSG);
        rk_msg_done(&m);

        /* not a binary plist; a truncated one; XML is not accepted here */
        static const char *const bad[] = {
                "", "bplist0", "bplist00", "bplist00\x01\x02\x03 garbage that is not a trailer at all",
                "<?xml version=\"1.0\"?><plist><dict/></plist>",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                CHECK_INTEQ(rk_channel_send(a, 1, 0, -EBADF, bad[i], strlen(bad[i])), 0);
                ASSERT(rk_channel_recv(b, &m) == 1);
                CHECK_INTEQ(rk_msg_read_plist(&m, &got), -EBADMSG);
                rk_msg_done(&m);
        }
        free(bin);
        bin = NULL;
        ASSERT(rk_plist_to_binary(d, &bin, &n) == 0);
        CHECK_INTEQ(rk_channel_send(a, 1, 0, -EBADF, bin, n - 3), 0);
        ASSERT(rk_channel_recv(b, &m) == 1);
        CHECK_INTEQ(rk_msg_read_plist(&m, &got), -EBADMSG);
        rk_msg_done(&m);
}

TEST(max_size) {
        _cleanup_(rk_channel_freep) rk_channel *a = NULL, *b = NULL;
        _cleanup_(freep) uint8_t *big = malloc(RK_MSG_MAX + 1);
        rk_msg m = RK_MSG_INIT;

        ASSERT(big);
        for (size_t i = 0; i <= RK_MSG_MAX; i++)
                big[i] = (uint8_t) (i * 7);
        ASSERT(pair(0, &a, 0, &b, NULL) == 0);
        CHECK_INTEQ(rk_channel_send(a, 1, 0, -EBADF, big, RK_MSG_PAYLOAD_MAX), 0);
        CHECK_INTEQ(rk_channel_send(a, 1, 0, -EBADF, big, RK_MSG_PAYLOAD_MAX + 1), -EMSGSIZE);
        CHECK_INTEQ(rk_channel_send(a, 1, 0, -EBADF, big, SIZE_MAX), -EMSGSIZE);
        ASSERT(rk_channel_recv(b, &m) == 1);
        CHECK_INTEQ(m.len, RK_MSG_PAYLOAD_MAX);
        CHECK(memcmp(m.data, big, RK_MSG_PAYLOAD_MAX) == 0);
        rk_msg_done(&m);
        CHECK_INTEQ(rk_channel_recv(b, &m), 0);
}

TEST(peer_death) {
        _cleanup_(rk_channel_freep) rk_channel *a = NULL, *b = NULL;
        rk_msg m = RK_MSG_INIT;

        ASSERT(pair(0, &a, 0, &b, NULL) == 0);
        CHECK_INTEQ(rk_channel_send(a, 1, 0, -EBADF, "last words", 10), 0);
        a = rk_channel_free(a);
        /* what was sent before the close still arrives, then the end */
        CHECK_INTEQ(rk_channel_recv(b, &m), 1);
        rk_msg_done(&m);
        CHECK_INTEQ(rk_channel_recv(b, &m), -ECONNRESET);
        CHECK_INTEQ(rk_channel_recv(b, &m), -ECONNRESET);
        CHECK_INTEQ(rk_channel_recv_wait(b, &m, 1000), -ECONNRESET);
        CHECK_INTEQ(rk_channel_send(b, 1, 0, -EBADF, "x", 1), -EPIPE);
        CHECK_INTEQ(rk_channel_send(b, 1, 0, -EBADF, "x", 1), -EPIPE);
        CHECK_INTEQ(m.fd, -EBADF);
}

TEST(peer_cred) {
        _cleanup_(rk_channel_freep) rk_channel *a = NULL, *b = NULL;
        struct ucred uc = {};

        ASSERT(pair(0, &a, 0, &b, NULL) == 0);
        CHECK_INTEQ(rk_channel_get_peer_cred(a, &uc), 0);
        CHECK_INTEQ(uc.pid, getpid());
        CHECK_INTEQ(uc.uid, getuid());
        CHECK_INTEQ(rk_channel_get_peer_cred(a, NULL), -EINVAL);
}

TEST(recv_wait_timeout) {
        _cleanup_(rk_channel_freep) rk_channel *a = NULL, *b = NULL;
        rk_msg m = RK_MSG_INIT;
        uint64_t t0 = rk_now();

        ASSERT(pair(0, &a, 0, &b, NULL) == 0);
        CHECK_INTEQ(rk_channel_recv_wait(b, &m, 30), -ETIMEDOUT);
        CHECK(rk_now() - t0 >= 30 * 1000);
        CHECK_INTEQ(rk_channel_recv_wait(b, &m, 0), -ETIMEDOUT);
}

/* hostile datagrams ------------------------------------------------------------ */

/* Sends buf with the fds in n_cmsg SCM_RIGHTS messages (fds split evenly). */
static int raw_send(int sock, const void *buf, size_t len, const int *fds, size_t n_fds, size_t n_cmsg) {
        union {
                struct cmsghdr align;
                uint8_t b[256];
        } control = {};
        struct iovec iov = { (void *) buf, len };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

        if (n_fds > 0) {
                struct cmsghdr *c;
                size_t per = n_fds / n_cmsg, used = 0;

                mh.msg_control = &control;
                mh.msg_controllen = n_cmsg * CMSG_SPACE(per * sizeof(int));
                c = CMSG_FIRSTHDR(&mh);
                for (size_t k = 0; k < n_cmsg; k++, c = CMSG_NXTHDR(&mh, c)) {
                        c->cmsg_level = SOL_SOCKET;
                        c->cmsg_type = SCM_RIGHTS;
                        c->cmsg_len = CMSG_LEN(per * sizeof(int));
                        memcpy(CMSG_DATA(c), fds + used, per * sizeof(int));
                        used += per;
                }
        }
        return sendmsg(sock, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

static size_t frame(uint8_t *buf, uint32_t type, uint32_t len, uint16_t flags, uint16_t reserved,
                    size_t payload) {
        rk_msg_hdr h = { .type = type, .len = len, .flags = flags, .reserved = reserved, .peer = 1, .pid = 2 };
        memcpy(buf, &h, sizeof(h));
        memset(buf + sizeof(h), 'p', payload);
        return sizeof(h) + payload;
}

typedef struct hostile {
        const char *name;
        unsigned chan_flags;
        uint32_t len;      /* header's len */
        uint16_t flags, reserved;
        size_t payload;    /* bytes actually sent after the header */
        size_t raw;        /* when set: send only this many bytes of the frame (EMPTY: 0) */
        size_t n_fds, n_cmsg;
} hostile;

#define EMPTY SIZE_MAX

static const hostile hostiles[] = {
        { "short header 1", 0, 0, 0, 0, 0, 1, 0, 0 },
        { "short header 19", 0, 0, 0, 0, 0, 19, 0, 0 },
        { "len too big", 0, 11, 0, 0, 10, 0, 0, 0 },
        { "len too small", 0, 9, 0, 0, 10, 0, 0, 0 },
        { "len huge", 0, UINT32_MAX, 0, 0, 10, 0, 0, 0 },
        { "reserved set", 0, 4, 0, 1, 4, 0, 0, 0 },
        { "unknown flag", 0, 4, 0x8000, 0, 4, 0, 0, 0 },
        { "fd flag, no fd", RK_CHANNEL_FDS, 4, RK_MSG_F_FD, 0, 4, 0, 0, 0 },
        { "fd, no fd flag", RK_CHANNEL_FDS, 4, 0, 0, 4, 0, 1, 1 },
        { "fd on a no-fd channel", 0, 4, RK_MSG_F_FD, 0, 4, 0, 1, 1 },
        { "two fds in one cmsg", RK_CHANNEL_FDS, 4, RK_MSG_F_FD, 0, 4, 0, 2, 1 },
        { "two cmsgs", RK_CHANNEL_FDS, 4, RK_MSG_F_FD, 0, 4, 0, 2, 2 },
        { "sixteen fds", RK_CHANNEL_FDS, 4, RK_MSG_F_FD, 0, 4, 0, 16, 1 },
        { "empty datagram with fd", RK_CHANNEL_FDS, 0, 0, 0, 0, EMPTY, 1, 1 },
        { "oversize", 0, (uint32_t) RK_MSG_PAYLOAD_MAX + 1, 0, 0, RK_MSG_PAYLOAD_MAX + 1, 0, 0, 0 },
        { "oversize with fd", RK_CHANNEL_FDS, (uint32_t) RK_MSG_PAYLOAD_MAX + 1, RK_MSG_F_FD, 0,
          RK_MSG_PAYLOAD_MAX + 1, 0, 1, 1 },
};

static void check_hostile(const hostile *t, uint8_t *buf) {
        _cleanup_(rk_channel_freep) rk_channel *ch = NULL;
        int other = -EBADF, fds[16], p[2], before, r;
        rk_msg m = RK_MSG_INIT;
        size_t n;

        ASSERT(pair(t->chan_flags, &ch, 0, NULL, &other) == 0);
        ASSERT(pipe2(p, O_CLOEXEC) == 0);
        for (size_t i = 0; i < t->n_fds; i++)
                fds[i] = p[i % 2];
        n = frame(buf, 1, t->len, t->flags, t->reserved, t->payload);
        if (t->raw)
                n = t->raw == EMPTY ? 0 : t->raw;
        before = count_fds();
        r = raw_send(other, buf, n, fds, t->n_fds, t->n_cmsg ? t->n_cmsg : 1);
        if (r < 0) {
                fprintf(stderr, "%s: raw send: %s\n", t->name, strerror(-r));
                rk_test_failed_flag = true;
        }
        r = rk_channel_recv(ch, &m);
        if (r != -EBADMSG) {
                fprintf(stderr, "hostile \"%s\": got %d, want -EBADMSG\n", t->name, r);
                rk_test_failed_flag = true;
        }
        CHECK_INTEQ(m.fd, -EBADF);
        CHECK(m.data == NULL);
        if (count_fds() != before) {
                fprintf(stderr, "hostile \"%s\": fd leak %d -> %d\n", t->name, before, count_fds());
                rk_test_failed_flag = true;
        }
        /* the channel reads on */
        n = frame(buf, 2, 3, 0, 0, 3);
        CHECK_INTEQ(raw_send(other, buf, n, NULL, 0, 1), 0);
        CHECK_INTEQ(rk_channel_recv(ch, &m), 1);
        CHECK_INTEQ(m.type, 2);
        rk_msg_done(&m);
        close(other);
        close(p[0]);
        close(p[1]);
}

TEST(hostile_datagrams) {
        _cleanup_(freep) uint8_t *buf = malloc(RK_MSG_MAX + 64);
        int before = count_fds();

        ASSERT(buf);
        for (size_t i = 0; i < ELEMENTSOF(hostiles); i++)
                check_hostile(&hostiles[i], buf);
        CHECK_INTEQ(count_fds(), before);
}

TEST(hostile_credentials) {
        _cleanup_(rk_channel_freep) rk_channel *ch = NULL;
        uint8_t buf[64];
        int other = -EBADF, one = 1, before;
        rk_msg m = RK_MSG_INIT;
        size_t n = frame(buf, 1, 4, 0, 0, 4);

        ASSERT(pair(RK_CHANNEL_FDS, &ch, 0, NULL, &other) == 0);
        /* SO_PASSCRED makes the kernel attach credentials to everything */
        ASSERT(setsockopt(rk_channel_get_fd(ch), SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) == 0);
        before = count_fds();
        CHECK_INTEQ(raw_send(other, buf, n, NULL, 0, 1), 0);
        CHECK_INTEQ(rk_channel_recv(ch, &m), -EBADMSG);
        CHECK_INTEQ(raw_send(other, buf, n, &other, 1, 1), 0);
        CHECK_INTEQ(rk_channel_recv(ch, &m), -EBADMSG);
        CHECK_INTEQ(count_fds(), before);
        close(other);
}

TEST(empty_datagram) {
        _cleanup_(rk_channel_freep) rk_channel *ch = NULL;
        uint8_t buf[64];
        int other = -EBADF;
        rk_msg m = RK_MSG_INIT;

        ASSERT(pair(0, &ch, 0, NULL, &other) == 0);
        /* indistinguishable from the end of the stream: reported as such */
        CHECK_INTEQ(raw_send(other, buf, 0, NULL, 0, 1), 0);
        CHECK_INTEQ(rk_channel_recv(ch, &m), -ECONNRESET);
        /* but nothing broke: a real message still arrives */
        CHECK_INTEQ(raw_send(other, buf, frame(buf, 5, 0, 0, 0, 0), NULL, 0, 1), 0);
        CHECK_INTEQ(rk_channel_recv(ch, &m), 1);
        CHECK_INTEQ(m.type, 5);
        rk_msg_done(&m);
        close(other);
}

/* the send queue ----------------------------------------------------------------- */

static int drain(rk_channel *b, uint32_t *next, int max) {
        rk_msg m = RK_MSG_INIT;
        int got = 0, r;

        while (got < max && (r = rk_channel_recv(b, &m)) == 1) {
                uint32_t seq;
                memcpy(&seq, m.data, sizeof(seq));
                if (seq != *next) {
                        fprintf(stderr, "out of order: %u, want %u\n", seq, *next);
                        rk_test_failed_flag = true;
                }
                *next = seq + 1;
                rk_msg_done(&m);
                got++;
        }
        return got;
}

TEST(bounded_queue_and_resume) {
        _cleanup_(rk_channel_freep) rk_channel *a = NULL, *b = NULL;
        uint8_t payload[16] = {};
        uint32_t seq = 0, next = 0;
        int r, queued, drained = 0;

        ASSERT(pair(0, &a, 0, &b, NULL) == 0);
        /* b never reads: the kernel buffer fills, then our queue, then -ENOBUFS */
        for (;;) {
                memcpy(payload, &seq, sizeof(seq));
                r = rk_channel_send(a, 1, 0, -EBADF, payload, sizeof(payload));
                if (r < 0)
                        break;
                seq++;
        }
        CHECK_INTEQ(r, -ENOBUFS);
        CHECK(rk_channel_has_pending(a));
        queued = rk_channel_flush(a);
        CHECK_INTEQ(queued, RK_CHANNEL_QUEUE_MAX_MSGS);
        CHECK(seq > RK_CHANNEL_QUEUE_MAX_MSGS); /* some went to the kernel */
        printf("# queue: %u messages accepted, %d of them queued, kernel took %u\n", seq, queued,
               seq - (uint32_t) queued);

        /* the peer reads a little: a partial flush */
        drained += drain(b, &next, 100);
        r = rk_channel_flush(a);
        CHECK(r > 0 && r < queued);
        /* the queue has room again, and order is kept */
        memcpy(payload, &seq, sizeof(seq));
        CHECK_INTEQ(rk_channel_send(a, 1, 0, -EBADF, payload, sizeof(payload)), 0);
        seq++;
        /* drain and flush in turns until everything arrived */
        for (int rounds = 0; rounds < 10000 && next < seq; rounds++) {
                drained += drain(b, &next, 50);
                CHECK(rk_channel_flush(a) >= 0);
        }
        CHECK_INTEQ(next, seq);
        CHECK_INTEQ((uint32_t) drained, seq);
        CHECK(!rk_channel_has_pending(a));
        CHECK_INTEQ(rk_channel_flush(a), 0);
}

TEST(bounded_queue_bytes) {
        _cleanup_(rk_channel_freep) rk_channel *a = NULL, *b = NULL;
        _cleanup_(freep) uint8_t *big = calloc(1, RK_MSG_PAYLOAD_MAX);
        int r, n = 0;

        ASSERT(big);
        ASSERT(pair(0, &a, 0, &b, NULL) == 0);
        while ((r = rk_channel_send(a, 1, 0, -EBADF, big, RK_MSG_PAYLOAD_MAX)) == 0)
                n++;
        CHECK_INTEQ(r, -ENOBUFS);
        r = rk_channel_flush(a);
        CHECK_INTEQ((size_t) r, RK_CHANNEL_QUEUE_MAX_BYTES / RK_MSG_MAX);
        CHECK(n > r);
}

TEST(queued_fds) {
        _cleanup_(rk_channel_freep) rk_channel *b = NULL;
        rk_channel *a = NULL;
        uint8_t payload[4000] = {};
        int p[2], before, r, sent = 0;
        char c = 0;
        rk_msg m = RK_MSG_INIT;

        before = count_fds();
        ASSERT(pair(RK_CHANNEL_FDS, &a, RK_CHANNEL_FDS, &b, NULL) == 0);
        /* fill the kernel buffer so that the next messages queue */
        while (!rk_channel_has_pending(a))
                ASSERT(rk_channel_send(a, 1, 0, -EBADF, payload, sizeof(payload)) == 0);
        ASSERT(pipe2(p, O_CLOEXEC) == 0);
        for (int i = 0; i < 3; i++)
                CHECK_INTEQ(rk_channel_send(a, 2, 0, p[1], "f", 1), 0);
        /* the caller's fd is its own: closing it does not hurt the queued copies */
        close(p[1]);
        for (int rounds = 0; rounds < 10000 && sent < 3; rounds++) {
                r = rk_channel_recv(b, &m);
                if (r == 1 && m.type == 2) {
                        CHECK(m.fd >= 0);
                        CHECK(write(m.fd, "z", 1) == 1);
                        sent++;
                }
                rk_msg_done(&m);
                CHECK(rk_channel_flush(a) >= 0);
        }
        CHECK_INTEQ(sent, 3);
        CHECK(read(p[0], &c, 1) == 1 && c == 'z');

        /* queued fds close with the channel */
        while (!rk_channel_has_pending(a))
                ASSERT(rk_channel_send(a, 1, 0, -EBADF, payload, sizeof(payload)) == 0);
        for (int i = 0; i < 5; i++)
                CHECK_INTEQ(rk_channel_send(a, 2, 0, p[0], NULL, 0), 0);
        rk_channel_free(a);
        close(p[0]);
        b = rk_channel_free(b);
        CHECK_INTEQ(count_fds(), before);
}

/* round-trip latency between two processes ---------------------------------------- */

static void echo_child(int fd) {
        rk_channel *ch = NULL;
        rk_msg m = RK_MSG_INIT;

        if (rk_channel_new(fd, 0, &ch) < 0)
                _exit(2);
        while (rk_channel_recv_wait(ch, &m, -1) == 1) {
                if (rk_channel_send(ch, m.type, m.peer, -EBADF, m.data, m.len) < 0)
                        _exit(3);
                rk_msg_done(&m);
        }
        _exit(0);
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

static uint64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

#define ROUNDS 20000
#define WARMUP 1000

TEST(round_trip_latency) {
        _cleanup_(rk_channel_freep) rk_channel *ch = NULL;
        _cleanup_(freep) uint64_t *lat = calloc(ROUNDS, sizeof(uint64_t));
        uint8_t payload[16] = "0123456789abcdef";
        rk_msg m = RK_MSG_INIT;
        int sv[2], status = 0;
        pid_t pid;

        ASSERT(lat);
        ASSERT(rk_socketpair(sv) == 0);
        pid = fork();
        ASSERT(pid >= 0);
        if (pid == 0) {
                close(sv[0]);
                echo_child(sv[1]);
        }
        close(sv[1]);
        ASSERT(rk_channel_new(sv[0], 0, &ch) == 0);
        for (int i = 0; i < WARMUP + ROUNDS; i++) {
                uint64_t t0 = now_ns();
                if (rk_channel_send(ch, 1, (uint32_t) i, -EBADF, payload, sizeof(payload)) < 0 ||
                    rk_channel_recv_wait(ch, &m, 5000) != 1) {
                        CHECK(!"round trip failed");
                        break;
                }
                if (i >= WARMUP)
                        lat[i - WARMUP] = now_ns() - t0;
                CHECK_INTEQ(m.peer, i);
                CHECK_INTEQ(m.len, sizeof(payload));
                rk_msg_done(&m);
        }
        ch = rk_channel_free(ch);
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        qsort(lat, ROUNDS, sizeof(uint64_t), cmp_u64);
        printf("# round trip, 16-byte payload, two processes, %d rounds: "
               "p50 %.1f us, p90 %.1f us, p99 %.1f us, min %.1f us\n",
               ROUNDS, lat[ROUNDS / 2] / 1000.0, lat[ROUNDS * 9 / 10] / 1000.0,
               lat[ROUNDS * 99 / 100] / 1000.0, lat[0] / 1000.0);
}
