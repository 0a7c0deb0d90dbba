/* SPDX-License-Identifier: MIT */
/*
 * A hostile peer for tests/test-hostile.sh: it speaks the framing of
 * ipc/msg.h by hand (so it can break it) to one of ringd's sockets or to a
 * driver's user client, and prints one line per probe for the test to check.
 *
 *   hostile-peer es SOCKET        an admitted endpoint security client (run
 *                                 from an entitled system extension): broken
 *                                 requests (each must be ACKed with its errno),
 *                                 broken datagrams (dropped), then a good
 *                                 request that must still work; prints
 *                                 "ack NAME RESULT" / "ok NAME" / "bad NAME".
 *   hostile-peer es-stall SOCKET FILE  subscribes to NOTIFY_OPEN and never
 *                                 reads again; touches FILE once subscribed
 *                                 and sleeps until killed.
 *   hostile-peer uc ROOT          an app: opens a user client of the sample
 *                                 driver (RKUCSampleDevice) per probe, sends it
 *                                 garbage and reports whether the driver closed
 *                                 the connection ("closed NAME"), then opens a
 *                                 fresh one and calls method 0 ("call ok N").
 *
 *   hostile-peer watch-stall ROOT CLASS FLAG  watches services of CLASS on
 *                                 ringd's control socket, touches FLAG and
 *                                 never reads the events ringd pushes.
 *   hostile-peer nf               a network filter extension launched by ringd:
 *                                 broken verdicts and datagrams, then silence.
 *   hostile-peer                  (no arguments: ringd supervising it) waits.
 *
 * Exit 0 when every probe behaved; 1 otherwise; 2 on a set-up failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ipc/es-proto.h"
#include "ipc/nf-proto.h"
#include "ipc/msg.h"
#include "ringkit/client.h"
#include "ringkit/es.h"
#include "../../lib/ringkit/uc-wire.h"

static int failures;

static int send_raw(int fd, const void *p, size_t n, int pass_fd) {
        struct iovec iov = { (void *) p, n };
        union {
                char buf[CMSG_SPACE(sizeof(int))];
                struct cmsghdr align;
        } u;
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

        if (pass_fd >= 0) {
                memset(&u, 0, sizeof(u));
                mh.msg_control = u.buf;
                mh.msg_controllen = sizeof(u.buf);
                struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
        }
        return sendmsg(fd, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

/* A well-framed message (header + payload), optionally with an fd and the flag saying so. */
static int send_msg(int fd, uint32_t type, uint32_t peer, const void *p, size_t n, int pass_fd, bool flag) {
        uint8_t buf[RK_MSG_MAX + 64];
        rk_msg_hdr h = { .type = type, .len = (uint32_t) n, .flags = flag ? RK_MSG_F_FD : 0, .peer = peer,
                         .pid = (uint32_t) getpid() };

        memcpy(buf, &h, sizeof(h));
        if (n)
                memcpy(buf + sizeof(h), p, n);
        return send_raw(fd, buf, sizeof(h) + n, pass_fd);
}

/* The next datagram within ms: its header and up to room payload bytes; -ETIMEDOUT, -ECONNRESET. */
static int recv_msg(int fd, rk_msg_hdr *h, void *p, size_t room, int ms) {
        uint8_t buf[RK_MSG_MAX];
        struct pollfd pf = { .fd = fd, .events = POLLIN };
        ssize_t n;

        if (poll(&pf, 1, ms) <= 0)
                return -ETIMEDOUT;
        n = recv(fd, buf, sizeof(buf), MSG_CMSG_CLOEXEC);
        if (n <= 0)
                return n == 0 ? -ECONNRESET : -errno;
        if ((size_t) n < sizeof(*h))
                return -EBADMSG;
        memcpy(h, buf, sizeof(*h));
        memcpy(p, buf + sizeof(*h), (size_t) n - sizeof(*h) < room ? (size_t) n - sizeof(*h) : room);
        return 0;
}

static int connect_unix(const char *path) {
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

        if (fd < 0 || strlen(path) >= sizeof(a.sun_path))
                return -1;
        strcpy(a.sun_path, path);
        if (connect(fd, (struct sockaddr *) &a, sizeof(a)) < 0) {
                close(fd);
                return -1;
        }
        return fd;
}

/* ---- endpoint security ---- */

static int es_open(const char *path) {
        rk_msg_hdr h;
        uint8_t p[64];
        int fd = connect_unix(path);

        if (fd < 0 || recv_msg(fd, &h, p, sizeof(p), 5000) < 0 || h.type != RK_ES_MSG_WELCOME) {
                fprintf(stderr, "es: not welcomed on %s\n", path);
                exit(2);
        }
        return fd;
}

/* Send a request, expect its ACK with `want`. */
static void es_expect(int fd, const char *name, uint32_t type, const void *p, size_t n, int32_t want) {
        static uint32_t seq = 100;
        rk_msg_hdr h;
        int32_t got = 1;

        seq++;
        if (send_msg(fd, type, seq, p, n, -1, false) < 0) {
                printf("bad %s: send failed\n", name);
                failures++;
                return;
        }
        for (;;) {
                if (recv_msg(fd, &h, &got, sizeof(got), 5000) < 0) {
                        printf("bad %s: no ack\n", name);
                        failures++;
                        return;
                }
                if (h.type == RK_ES_MSG_ACK && h.peer == seq)
                        break;
        }
        printf("ack %s %d\n", name, got);
        if (got != want) {
                printf("bad %s: wanted %d\n", name, want);
                failures++;
        }
}

static int es_probe(const char *path) {
        int fd = es_open(path), p[2];
        uint8_t junk[300], big[8];
        rk_msg_hdr h;
        uint64_t mask = UINT64_C(1) << 63;
        uint32_t ms = 0;
        struct {
                rk_es_wire_mute w;
                char path[8];
        } mute = { { .kind = RK_ES_MUTE_EXE_PREFIX }, { 'n', 'o', 'n', 'u', 'l', 'l', '!', '!' } };

        for (size_t k = 0; k < sizeof(junk); k++)
                junk[k] = (uint8_t) (k * 131u + 7u);
        /* broken framing: each is dropped whole (no ACK), the channel stays */
        (void) send_raw(fd, junk, sizeof(junk), -1);              /* random bytes */
        (void) send_raw(fd, junk, 10, -1);                        /* a truncated header */
        h = (rk_msg_hdr){ .type = RK_ES_MSG_SET_DEADLINE, .len = 1u << 30, .peer = 1 };
        (void) send_raw(fd, &h, sizeof(h), -1);                   /* a length past the datagram */
        h = (rk_msg_hdr){ .type = RK_ES_MSG_SET_DEADLINE, .len = 4, .flags = RK_MSG_F_FD, .peer = 1 };
        (void) send_raw(fd, &h, sizeof(h), -1);                   /* says an fd, short payload, no fd */
        if (pipe2(p, O_CLOEXEC) == 0) {                           /* an fd the es channel does not take */
                ms = 500;
                (void) send_msg(fd, RK_ES_MSG_SET_DEADLINE, 2, &ms, sizeof(ms), p[0], true);
                close(p[0]);
                close(p[1]);
        }
        es_expect(fd, "subscribe-short", RK_ES_MSG_SUBSCRIBE, big, 4, -EBADMSG);
        es_expect(fd, "subscribe-unknown-event", RK_ES_MSG_SUBSCRIBE, &mask, sizeof(mask), -EINVAL);
        es_expect(fd, "mute-unterminated", RK_ES_MSG_MUTE, &mute, sizeof(mute), -EINVAL);
        mute.w.kind = 99;
        es_expect(fd, "mute-unknown-kind", RK_ES_MSG_MUTE, &mute, sizeof(mute.w), -EINVAL);
        ms = 0;
        es_expect(fd, "deadline-zero", RK_ES_MSG_SET_DEADLINE, &ms, sizeof(ms), -EINVAL);
        es_expect(fd, "deadline-oversized", RK_ES_MSG_SET_DEADLINE, junk, 200, -EBADMSG);
        es_expect(fd, "unknown-type", 0x4599, junk, 16, -EOPNOTSUPP);
        es_expect(fd, "ringd-type", RK_ES_MSG_WELCOME, junk, 16, -EOPNOTSUPP);
        /* an answer to an event never sent, and one with a result that is neither allow nor deny: no ACK */
        {
                rk_es_wire_respond r = { .id = 123456789, .result = 0 };
                (void) send_msg(fd, RK_ES_MSG_RESPOND, 0, &r, sizeof(r), -1, false);
                r.result = 77;
                (void) send_msg(fd, RK_ES_MSG_RESPOND, 0, &r, sizeof(r), -1, false);
        }
        /* still served */
        ms = 700;
        es_expect(fd, "deadline-after-garbage", RK_ES_MSG_SET_DEADLINE, &ms, sizeof(ms), 0);
        close(fd);
        return failures ? 1 : 0;
}

static _Noreturn void es_stall(const char *path, const char *flag) {
        int fd = es_open(path);
        uint64_t mask = UINT64_C(1) << RK_ES_EVENT_TYPE_NOTIFY_OPEN;
        int one;

        es_expect(fd, "subscribe-notify-open", RK_ES_MSG_SUBSCRIBE, &mask, sizeof(mask), 0);
        one = open(flag, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (one >= 0)
                close(one);
        for (;;)
                pause(); /* never reads again */
}

/* ---- network filter ---- */

/*
 * Launched by ringd as a filter extension (RKArguments ["nf"]): takes the
 * connection ($RINGKIT_NF_FD), waits for the welcome, sends broken
 * verdicts and broken datagrams, then stays connected and silent (a filter
 * that answers nothing: its flows get the policy).
 */
static _Noreturn void nf_filter(void) {
        const char *e = getenv("RINGKIT_NF_FD");
        int fd = e ? atoi(e) : -1, p[2];
        rk_msg_hdr h;
        uint8_t junk[200], w[64];
        rk_nf_wire_verdict v = { .id = 1, .verdict = 7 };

        for (size_t k = 0; k < sizeof(junk); k++)
                junk[k] = (uint8_t) (k * 53u + 3u);
        if (fd < 3 || recv_msg(fd, &h, w, sizeof(w), 5000) < 0 || h.type != RK_NF_MSG_WELCOME)
                exit(2);
        (void) send_msg(fd, RK_NF_MSG_VERDICT, 0, &v, 4, -1, false);          /* short */
        (void) send_msg(fd, RK_NF_MSG_VERDICT, 0, &v, sizeof(v), -1, false);  /* neither allow nor drop */
        v.verdict = 1; /* RK_NF_VERDICT_DROP */
        v.id = 999999;
        (void) send_msg(fd, RK_NF_MSG_VERDICT, 0, &v, sizeof(v), -1, false);  /* a flow never sent: late */
        (void) send_msg(fd, 0x4e99, 0, junk, 16, -1, false);                   /* unknown type */
        (void) send_msg(fd, RK_NF_MSG_FLOW, 0, junk, 100, -1, false);          /* ringd's type */
        (void) send_raw(fd, junk, sizeof(junk), -1);                           /* random bytes */
        (void) send_raw(fd, junk, 9, -1);                                      /* truncated header */
        if (pipe2(p, O_CLOEXEC) == 0) {                                        /* an fd on a channel without fds */
                (void) send_msg(fd, RK_NF_MSG_VERDICT, 0, &v, sizeof(v), p[0], true);
                close(p[0]);
                close(p[1]);
        }
        for (;;)
                pause();
}

/* ---- the control socket: a watcher that never reads ---- */

static void on_service(rk_client *c, uint64_t id, bool appeared, void *ud) {
        (void) c;
        (void) id;
        (void) appeared;
        (void) ud;
}

/* Watches class CLASS on ringd's control socket, touches FLAG, never reads again. */
static _Noreturn void watch_stall(const char *root, const char *cls, const char *flag) {
        rk_client *c = NULL;
        rk_matching *m = NULL;
        int fd;

        if (rk_client_new(root, &c) < 0 || rk_matching_new(&m) < 0 || rk_matching_set_class(m, cls) < 0 ||
            rk_client_watch(c, m, on_service, NULL, NULL) < 0)
                exit(2);
        fd = open(flag, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0)
                close(fd);
        for (;;)
                pause();
}

/* ---- user clients (app side) ---- */

static rk_connection *uc_open(rk_client *c, uint64_t id) {
        rk_connection *conn = NULL;
        int r = rk_client_open(c, id, 0, &conn);

        if (r < 0) {
                fprintf(stderr, "uc: rk_client_open: %s\n", strerror(-r));
                exit(2);
        }
        return conn;
}

/* Did the driver close the connection within 5 s? */
static bool uc_closed(int fd) {
        for (int k = 0; k < 50; k++) {
                struct pollfd pf = { .fd = fd, .events = POLLIN };
                char buf[RK_MSG_MAX];
                if (poll(&pf, 1, 100) <= 0)
                        continue;
                ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
                if (n == 0 || (n < 0 && errno == ECONNRESET))
                        return true;
        }
        return false;
}

static void uc_probe(rk_client *c, uint64_t id, const char *name, uint32_t type, const void *p, size_t n,
                     int pass_fd, bool raw) {
        rk_connection *conn = uc_open(c, id);
        int fd = rk_connection_get_fd(conn);

        if (raw)
                (void) send_raw(fd, p, n, -1);
        else
                (void) send_msg(fd, type, 1, p, n, pass_fd, pass_fd >= 0);
        if (uc_closed(fd))
                printf("closed %s\n", name);
        else {
                printf("bad %s: the driver kept the connection\n", name);
                failures++;
        }
        rk_connection_close(conn);
}

/* A well-framed request the driver must refuse with a status (MEMORY_OK < 0), keeping the connection. */
static void uc_refused(rk_client *c, uint64_t id, const char *name, uint32_t type, const void *p, size_t n, int pass_fd) {
        rk_connection *conn = uc_open(c, id);
        int fd = rk_connection_get_fd(conn);
        struct uc_status st = { .status = 0 };
        rk_msg_hdr h;

        (void) send_msg(fd, type, 9, p, n, pass_fd, true);
        for (;;) {
                if (recv_msg(fd, &h, &st, sizeof(st), 5000) < 0) {
                        printf("bad %s: no answer\n", name);
                        failures++;
                        break;
                }
                if (h.type == UC_MEMORY_OK) {
                        printf("refused %s %d\n", name, st.status);
                        if (st.status >= 0)
                                failures++;
                        break;
                }
        }
        rk_connection_close(conn);
}

static int uc_call_ok(rk_client *c, uint64_t id) {
        rk_connection *conn = uc_open(c, id);
        uint64_t in[2] = { 20, 22 }, out[1] = { 0 };
        uint32_t n = 1;
        int r = rk_connection_call_scalars(conn, 0, in, 2, out, &n);

        rk_connection_close(conn);
        if (r < 0 || out[0] != 42) {
                printf("bad call: %s, %llu\n", strerror(-r), (unsigned long long) out[0]);
                return -1;
        }
        printf("call ok %llu\n", (unsigned long long) out[0]);
        return 0;
}

static int uc_main(const char *root) {
        rk_client *c = NULL;
        rk_matching *m = NULL;
        uint64_t id = 0;
        uint8_t junk[256];
        struct uc_call call = { .n_scalar_in = 1000 };
        struct uc_size sz = { .id = 1, .size = (uint64_t) 1 << 40 };
        int p[2];

        for (size_t k = 0; k < sizeof(junk); k++)
                junk[k] = (uint8_t) (k * 37u + 11u);
        if (rk_client_new(root, &c) < 0 || rk_matching_new(&m) < 0 || rk_matching_set_class(m, "RKUCSampleDevice") < 0 ||
            rk_client_wait(c, m, 10000, &id) < 0) {
                fprintf(stderr, "uc: no RKUCSampleDevice\n");
                return 2;
        }
        if (uc_call_ok(c, id) < 0)
                failures++;
        uc_probe(c, id, "random-bytes", 0, junk, sizeof(junk), -1, true);
        uc_probe(c, id, "truncated-header", 0, junk, 7, -1, true);
        uc_probe(c, id, "call-short", UC_CALL, &call, 12, -1, false);
        uc_probe(c, id, "call-too-many-scalars", UC_CALL, &call, sizeof(call), -1, false);
        {
                /* says 2 scalars and a 100-byte structure, carries 16 bytes after the header */
                uint8_t b[sizeof(struct uc_call) + 16] = { 0 };
                call = (struct uc_call){ .n_scalar_in = 2, .struct_in_len = 100 };
                memcpy(b, &call, sizeof(call));
                uc_probe(c, id, "call-short-payload", UC_CALL, b, sizeof(b), -1, false);
        }
        uc_probe(c, id, "unknown-type", 77, junk, 32, -1, false);
        uc_probe(c, id, "app-sends-reply", UC_REPLY, junk, 32, -1, false);
        uc_probe(c, id, "memory-without-fd", UC_MEMORY, &sz, sizeof(sz), -1, false);
        if (pipe2(p, O_CLOEXEC) == 0) {
                uc_refused(c, id, "memory-huge-pipe", UC_MEMORY, &sz, sizeof(sz), p[0]);
                close(p[0]);
                close(p[1]);
        }
        {
                int mfd = memfd_create("hostile", MFD_CLOEXEC); /* not sealed: it could shrink under the driver */
                sz.size = 4096;
                if (mfd >= 0 && ftruncate(mfd, 4096) == 0)
                        uc_refused(c, id, "memory-unsealed", UC_MEMORY, &sz, sizeof(sz), mfd);
                if (mfd >= 0)
                        close(mfd);
        }
        if (uc_call_ok(c, id) < 0)
                failures++;
        rk_matching_free(m);
        rk_client_free(c);
        return failures ? 1 : 0;
}

int main(int argc, char **argv) {
        setvbuf(stdout, NULL, _IOLBF, 0);
        if (argc == 1) /* launched by ringd as a supervised system extension: stay quiet until stopped */
                for (;;)
                        pause();
        if (argc == 3 && !strcmp(argv[1], "es"))
                return es_probe(argv[2]);
        if (argc == 4 && !strcmp(argv[1], "es-stall"))
                es_stall(argv[2], argv[3]);
        if (argc == 5 && !strcmp(argv[1], "watch-stall"))
                watch_stall(argv[2], argv[3], argv[4]);
        if (argc == 2 && !strcmp(argv[1], "nf"))
                nf_filter();
        if (argc == 3 && !strcmp(argv[1], "uc"))
                return uc_main(argv[2]);
        fprintf(stderr, "usage: hostile-peer es SOCKET | es-stall SOCKET FLAG | watch-stall ROOT CLASS FLAG | nf | uc ROOT\n");
        return 2;
}
