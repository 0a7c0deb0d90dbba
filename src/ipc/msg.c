/* SPDX-License-Identifier: MIT */
/*
 * IPC framing over SOCK_SEQPACKET (see msg.h for the wire format, limits
 * and the contract).
 *
 * Map: the send queue (enqueue, pop); sendmsg with an optional fd;
 * rk_channel_send/flush; receiving: collecting ancillary fds, validating a
 * datagram, rk_channel_recv and the blocking rk_channel_recv_wait; plists;
 * the channel object.
 *
 * Invariants:
 *   1. Messages leave in the order rk_channel_send() accepted them: the
 *      direct write is tried only when the queue is empty.
 *   2. A queued message owns a copy of header and payload and, when it
 *      carries one, a duplicate of the fd; popping it closes the duplicate.
 *   3. n_queued <= RK_CHANNEL_QUEUE_MAX_MSGS and queued_bytes <=
 *      RK_CHANNEL_QUEUE_MAX_BYTES, always.
 *   4. A seqpacket write is all or nothing (EAGAIN leaves the whole message
 *      for later), so there are no partial messages to track.
 *   5. rk_channel_recv() consumes exactly one datagram per call that does
 *      not return 0, and every fd the kernel installed while reading it is
 *      either handed out in the rk_msg or closed before returning.
 */
#include <assert.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ipc/msg.h"
#include "shared/loop.h"
#include "shared/macro.h"
#include "value/bplist.h"

#ifndef SCM_PIDFD
#define SCM_PIDFD 0x04 /* Linux 6.5: installs a pidfd in the receiver */
#endif

/* Room to see (and then refuse) credentials, a pidfd and two fds. */
#define CONTROL_SIZE \
        (CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int)) + CMSG_SPACE(2 * sizeof(int)))
#define MAX_RX_FDS (CONTROL_SIZE / sizeof(int)) /* more than the buffer can hold */

typedef struct qmsg {
        struct qmsg *next;
        int fd;      /* duplicate owned by the queue, or -EBADF */
        size_t size; /* header + payload */
        uint8_t buf[];
} qmsg;

struct rk_channel {
        int fd;
        unsigned flags;
        bool broken;              /* EPIPE seen: the peer is gone */
        qmsg *head, **tail;
        size_t n_queued, queued_bytes;
        uint8_t *rx;              /* RK_MSG_PAYLOAD_MAX bytes, allocated on first recv */
        pid_t pid;                /* ours, for the header: read once, not per message */
};

/* ---- the send queue ---------------------------------------------------- */

static int enqueue(rk_channel *ch, const rk_msg_hdr *h, const void *data, size_t len, int fd) {
        size_t size = RK_MSG_HDR_SIZE + len;
        qmsg *q;

        if (ch->n_queued >= RK_CHANNEL_QUEUE_MAX_MSGS ||
            ch->queued_bytes + size > RK_CHANNEL_QUEUE_MAX_BYTES)
                return -ENOBUFS;
        q = malloc(sizeof(*q) + size);
        if (!q)
                return -ENOMEM;
        q->fd = -EBADF;
        if (fd >= 0) {
                q->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
                if (q->fd < 0) {
                        int r = -errno;
                        free(q);
                        return r;
                }
        }
        q->next = NULL;
        q->size = size;
        memcpy(q->buf, h, RK_MSG_HDR_SIZE);
        if (len > 0)
                memcpy(q->buf + RK_MSG_HDR_SIZE, data, len);
        *ch->tail = q;
        ch->tail = &q->next;
        ch->n_queued++;
        ch->queued_bytes += size;
        return 0;
}

static void pop(rk_channel *ch) {
        qmsg *q = ch->head;

        ch->head = q->next;
        if (!ch->head)
                ch->tail = &ch->head;
        ch->n_queued--;
        ch->queued_bytes -= q->size;
        if (q->fd >= 0)
                close(q->fd);
        free(q);
}

/* ---- writing ------------------------------------------------------------ */

/* One datagram.  0, -EAGAIN (socket full), -EPIPE (peer gone), -errno. */
static int send_datagram(rk_channel *ch, struct iovec *iov, size_t n_iov, int fd) {
        union {
                struct cmsghdr align;
                uint8_t buf[CMSG_SPACE(sizeof(int))];
        } control;
        struct msghdr mh = { .msg_iov = iov, .msg_iovlen = n_iov };
        ssize_t n;

        if (fd >= 0) {
                struct cmsghdr *c;

                memset(&control, 0, sizeof(control));
                mh.msg_control = &control;
                mh.msg_controllen = sizeof(control.buf);
                c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(c), &fd, sizeof(int));
        }
        do
                n = sendmsg(ch->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        while (n < 0 && errno == EINTR);
        if (n >= 0)
                return 0;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
                return -EAGAIN;
        if (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN) {
                ch->broken = true;
                return -EPIPE;
        }
        return -errno;
}

int rk_channel_flush(rk_channel *ch) {
        if (!ch)
                return -EINVAL;
        while (ch->head) {
                struct iovec iov = { ch->head->buf, ch->head->size };
                int r;

                if (ch->broken)
                        return -EPIPE;
                r = send_datagram(ch, &iov, 1, ch->head->fd);
                if (r == -EAGAIN)
                        break;
                if (r == -EPIPE)
                        return r;
                pop(ch); /* sent, or refused for good (ETOOMANYREFS, ...) */
                if (r < 0)
                        return r;
        }
        return (int) ch->n_queued;
}

bool rk_channel_has_pending(rk_channel *ch) {
        return ch && ch->head;
}

int rk_channel_send(rk_channel *ch, uint32_t type, uint32_t peer, int fd, const void *data,
                    size_t len) {
        rk_msg_hdr h;
        int r;

        if (!ch || (len > 0 && !data))
                return -EINVAL;
        if (len > RK_MSG_PAYLOAD_MAX)
                return -EMSGSIZE;
        if (fd >= 0 && !(ch->flags & RK_CHANNEL_FDS))
                return -EINVAL;
        if (ch->broken)
                return -EPIPE;
        h = (rk_msg_hdr){
                .type = type,
                .len = (uint32_t) len,
                .flags = fd >= 0 ? RK_MSG_F_FD : 0,
                .peer = peer,
                .pid = (uint32_t) ch->pid,
        };
        if (!ch->head) {
                /* nothing queued: write straight from the caller's buffers */
                struct iovec iov[2] = { { &h, sizeof(h) }, { (void *) data, len } };
                r = send_datagram(ch, iov, len > 0 ? 2 : 1, fd);
                if (r != -EAGAIN)
                        return r;
        }
        r = enqueue(ch, &h, data, len, fd);
        if (r < 0)
                return r;
        r = rk_channel_flush(ch);
        return r < 0 ? r : 0;
}

int rk_channel_send_plist(rk_channel *ch, uint32_t type, uint32_t peer, int fd, const rk_value *v) {
        _cleanup_(freep) char *buf = NULL;
        size_t n = 0;
        int r;

        if (!ch || !rk_value_is(v, RK_TYPE_DICT))
                return -EINVAL;
        r = rk_bplist_encode(v, &buf, &n);
        if (r < 0)
                return r;
        if (n > RK_MSG_PAYLOAD_MAX)
                return -EMSGSIZE;
        return rk_channel_send(ch, type, peer, fd, buf, n);
}

/* ---- reading ------------------------------------------------------------ */

/*
 * Takes every fd the kernel installed (SCM_RIGHTS, SCM_PIDFD) into fds[],
 * up to MAX_RX_FDS (the control buffer cannot hold more).  Returns the
 * count; *foreign says some other ancillary data came along.
 */
static size_t collect_fds(struct msghdr *mh, int fds[static MAX_RX_FDS], bool *foreign) {
        size_t n = 0;

        *foreign = false;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
                size_t k;

                if (c->cmsg_level != SOL_SOCKET ||
                    (c->cmsg_type != SCM_RIGHTS && c->cmsg_type != SCM_PIDFD)) {
                        *foreign = true;
                        continue;
                }
                if (c->cmsg_type == SCM_PIDFD)
                        *foreign = true;
                k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < k && n < MAX_RX_FDS; i++)
                        memcpy(&fds[n++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        }
        return n;
}

/* The framing rules of msg.h, for a datagram of n bytes with n_fds fds. */
static bool frame_ok(const rk_channel *ch, const rk_msg_hdr *h, size_t n, size_t n_fds) {
        if (n < RK_MSG_HDR_SIZE || h->len != n - RK_MSG_HDR_SIZE || h->len > RK_MSG_PAYLOAD_MAX)
                return false;
        if (h->reserved != 0 || (h->flags & ~RK_MSG_F_FD))
                return false;
        if (n_fds > 1 || (n_fds == 1 && !(ch->flags & RK_CHANNEL_FDS)))
                return false;
        return (n_fds == 1) == !!(h->flags & RK_MSG_F_FD);
}

int rk_channel_recv(rk_channel *ch, rk_msg *ret) {
        union {
                struct cmsghdr align;
                uint8_t buf[CONTROL_SIZE];
        } control;
        rk_msg_hdr h = {};
        struct iovec iov[2];
        struct msghdr mh = {};
        int fds[MAX_RX_FDS];
        size_t n_fds;
        bool foreign;
        ssize_t n;

        if (!ret)
                return -EINVAL;
        *ret = RK_MSG_INIT;
        if (!ch)
                return -EINVAL;
        if (!ch->rx && !(ch->rx = malloc(RK_MSG_PAYLOAD_MAX)))
                return -ENOMEM;
        iov[0] = (struct iovec){ &h, sizeof(h) };
        iov[1] = (struct iovec){ ch->rx, RK_MSG_PAYLOAD_MAX };
        mh.msg_iov = iov;
        mh.msg_iovlen = 2;
        mh.msg_control = &control;
        mh.msg_controllen = sizeof(control.buf);
        do
                n = recvmsg(ch->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                        return 0;
                return errno == EPIPE || errno == ECONNRESET ? -ECONNRESET : -errno;
        }

        n_fds = collect_fds(&mh, fds, &foreign);
        if (n == 0 && n_fds == 0 && !foreign && !(mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
                return -ECONNRESET; /* end of stream */
        if (foreign || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || !frame_ok(ch, &h, (size_t) n, n_fds)) {
                for (size_t i = 0; i < n_fds; i++)
                        close(fds[i]);
                return -EBADMSG;
        }
        if (h.len > 0) {
                ret->data = malloc(h.len);
                if (!ret->data) {
                        if (n_fds)
                                close(fds[0]);
                        return -ENOMEM;
                }
                memcpy(ret->data, ch->rx, h.len);
        }
        ret->type = h.type;
        ret->peer = h.peer;
        ret->pid = h.pid;
        ret->flags = h.flags;
        ret->len = h.len;
        ret->fd = n_fds ? fds[0] : -EBADF;
        return 1;
}

int rk_channel_recv_wait(rk_channel *ch, rk_msg *ret, int timeout_ms) {
        uint64_t end;

        if (!ch || !ret || timeout_ms < -1)
                return -EINVAL;
        end = timeout_ms < 0 ? UINT64_MAX : rk_now() + (uint64_t) timeout_ms * 1000;
        for (;;) {
                struct pollfd p = { .fd = ch->fd, .events = POLLIN };
                uint64_t now;
                int r, ms = -1;

                r = rk_channel_recv(ch, ret);
                if (r != 0)
                        return r;
                if (ch->head) {
                        r = rk_channel_flush(ch);
                        if (r < 0)
                                return r;
                        if (r > 0)
                                p.events |= POLLOUT;
                }
                if (end != UINT64_MAX) {
                        now = rk_now();
                        if (now >= end)
                                return -ETIMEDOUT;
                        ms = (int) ((end - now + 999) / 1000);
                }
                if (poll(&p, 1, ms) < 0 && errno != EINTR)
                        return -errno;
        }
}

/* ---- messages ------------------------------------------------------------ */

void rk_msg_done(rk_msg *m) {
        if (!m)
                return;
        free(m->data);
        if (m->fd >= 0)
                close(m->fd);
        *m = RK_MSG_INIT;
}

int rk_msg_take_fd(rk_msg *m) {
        if (!m)
                return -EINVAL;
        return TAKE_FD(m->fd);
}

int rk_msg_read_plist(const rk_msg *m, rk_value **ret) {
        _cleanup_(rk_value_unrefp) rk_value *v = NULL;
        int r;

        if (!m || !ret)
                return -EINVAL;
        if (m->len < 8 || memcmp(m->data, "bplist00", 8) != 0)
                return -EBADMSG;
        /* our own codec, not rk_plist_parse(): a driver process must not pull in libplist */
        r = rk_bplist_decode(m->data, m->len, &v, NULL);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || !rk_value_is(v, RK_TYPE_DICT))
                return -EBADMSG;
        *ret = TAKE_PTR(v);
        return 0;
}

/* ---- the channel ---------------------------------------------------------- */

int rk_socketpair(int ret[2]) {
        if (!ret)
                return -EINVAL;
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, ret) < 0)
                return -errno;
        return 0;
}

static int check_socket(int fd) {
        int type = 0, domain = 0, fl;
        socklen_t sl = sizeof(type);

        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &sl) < 0)
                return -errno;
        if (type != SOCK_SEQPACKET)
                return -EPROTOTYPE;
        sl = sizeof(domain);
        if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &sl) < 0)
                return -errno;
        if (domain != AF_UNIX)
                return -EAFNOSUPPORT;
        fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
                return -errno;
        return 0;
}

int rk_channel_new(int fd, unsigned flags, rk_channel **ret) {
        rk_channel *ch;
        int r;

        if (fd < 0 || !ret || (flags & ~RK_CHANNEL_FDS))
                return -EINVAL;
        r = check_socket(fd);
        if (r < 0)
                return r;
        ch = calloc(1, sizeof(*ch));
        if (!ch)
                return -ENOMEM;
        ch->fd = fd;
        ch->flags = flags;
        ch->tail = &ch->head;
        ch->pid = getpid();
        *ret = ch;
        return 0;
}

rk_channel *rk_channel_free(rk_channel *ch) {
        if (!ch)
                return NULL;
        while (ch->head)
                pop(ch);
        close(ch->fd);
        free(ch->rx);
        free(ch);
        return NULL;
}

int rk_channel_get_fd(rk_channel *ch) {
        return ch ? ch->fd : -EINVAL;
}

int rk_channel_get_peer_cred(rk_channel *ch, struct ucred *ret) {
        socklen_t sl = sizeof(*ret);

        if (!ch || !ret)
                return -EINVAL;
        if (getsockopt(ch->fd, SOL_SOCKET, SO_PEERCRED, ret, &sl) < 0)
                return -errno;
        return 0;
}
