/* SPDX-License-Identifier: MIT */
/*
 * IPC framing: imsg-like messages over AF_UNIX SOCK_SEQPACKET sockets,
 * between ringd, driver processes and ringctl.
 *
 * Wire format: one message per datagram, so framing never has to resync and
 * a passed fd arrives with exactly the message it belongs to.
 *
 *     offset  size  field
 *          0     4  type      application message type
 *          4     4  len       payload bytes that follow the header
 *          8     2  flags     RK_MSG_F_FD: one fd travels with it; other bits 0
 *         10     2  reserved  0
 *         12     4  peer      per-channel id chosen by the application
 *                             (an instance id, a service id, a request id)
 *         16     4  pid       sender's pid, informational only
 *         20   len  payload   opaque; control messages carry a binary plist
 *
 * Integers are in native byte order: both ends run on the same host.  The
 * header has no padding by construction (checked at compile time).
 *
 * Limits and rules (each enforced on send and on receive):
 *   - header + payload <= RK_MSG_MAX (64 KiB);
 *   - at most one fd (SCM_RIGHTS) per message, and only on a channel made
 *     with RK_CHANNEL_FDS; the RK_MSG_F_FD flag says whether it is there;
 *   - no other ancillary data (do not set SO_PASSCRED on a channel socket:
 *     ask rk_channel_get_peer_cred() instead);
 *   - a datagram that breaks a rule is dropped whole, with any fds it
 *     carried closed, and rk_channel_recv() returns -EBADMSG; the next
 *     datagram is read normally.  What to do about the peer is the caller's
 *     call (ringd drops it).
 *
 * Sending never blocks: rk_channel_send() tries to write at once and queues
 * a copy (and a duplicate of the fd) when the socket is full.  The queue is
 * bounded (RK_CHANNEL_QUEUE_MAX_MSGS messages, RK_CHANNEL_QUEUE_MAX_BYTES
 * bytes) so a peer that stops reading cannot make us grow: beyond it,
 * -ENOBUFS.  Flush when the socket turns writable: watch EPOLLOUT while
 * rk_channel_has_pending().
 *
 * All calls return 0 (or a count) or a negative errno; -EINVAL for a bad
 * argument.  Nothing prints.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "value/value.h"

typedef struct rk_msg_hdr {
        uint32_t type;
        uint32_t len;
        uint16_t flags;
        uint16_t reserved;
        uint32_t peer;
        uint32_t pid;
} rk_msg_hdr;

_Static_assert(sizeof(rk_msg_hdr) == 20, "the wire header is 20 bytes");

#define RK_MSG_HDR_SIZE ((size_t) sizeof(rk_msg_hdr))
#define RK_MSG_MAX ((size_t) 64 * 1024)                     /* header + payload */
#define RK_MSG_PAYLOAD_MAX (RK_MSG_MAX - RK_MSG_HDR_SIZE)

#define RK_MSG_F_FD 0x0001u

#define RK_CHANNEL_FDS 0x1u /* channel flag: messages may carry one fd */

#define RK_CHANNEL_QUEUE_MAX_MSGS 1024u
#define RK_CHANNEL_QUEUE_MAX_BYTES ((size_t) 4 * 1024 * 1024)

/* A received message.  Free with rk_msg_done(). */
typedef struct rk_msg {
        uint32_t type, peer, pid;
        uint16_t flags;
        uint8_t *data; /* len bytes, malloc'd; NULL when len == 0 */
        size_t len;
        int fd;        /* -EBADF when none; O_CLOEXEC */
} rk_msg;

#define RK_MSG_INIT ((rk_msg){ .fd = -EBADF })

/* Frees the payload and closes an fd not taken; leaves m empty.  NULL-safe. */
void rk_msg_done(rk_msg *m);
/* Returns the fd (-EBADF when none) and forgets it: the caller owns it. */
int rk_msg_take_fd(rk_msg *m);

/*
 * The payload as a binary plist whose root is a dictionary.
 * -EINVAL, -EBADMSG (not a binary plist, malformed, or not a dictionary),
 * -ENOMEM.
 */
int rk_msg_read_plist(const rk_msg *m, rk_value **ret);

typedef struct rk_channel rk_channel;

/* socketpair(AF_UNIX, SOCK_SEQPACKET|SOCK_CLOEXEC|SOCK_NONBLOCK).  -EINVAL, -EMFILE... */
int rk_socketpair(int ret[2]);

/*
 * Wraps a connected AF_UNIX SOCK_SEQPACKET socket, which is made
 * non-blocking and close-on-exec.  On success the channel owns fd; on
 * failure the caller still does.  flags: 0 or RK_CHANNEL_FDS.
 * -EINVAL, -ENOTSOCK, -EPROTOTYPE (not SOCK_SEQPACKET), -EAFNOSUPPORT (not
 * AF_UNIX), -ENOMEM.
 */
int rk_channel_new(int fd, unsigned flags, rk_channel **ret);
/* Closes the socket, drops queued messages (closing their fds).  NULL-safe; returns NULL. */
rk_channel *rk_channel_free(rk_channel *ch);
static inline void rk_channel_freep(rk_channel **ch) {
        if (*ch)
                rk_channel_free(*ch);
}

int rk_channel_get_fd(rk_channel *ch); /* the socket, or -EINVAL */

/* SO_PEERCRED of the socket: the peer's pid, uid, gid at connect time. */
int rk_channel_get_peer_cred(rk_channel *ch, struct ucred *ret);

/*
 * Sends one message: payload copied, fd (-EBADF for none) duplicated when
 * the message has to wait in the queue; the caller keeps its own fd and
 * buffer.  Returns 0 when sent or queued.
 *   -EINVAL    bad argument, or an fd on a channel without RK_CHANNEL_FDS
 *   -EMSGSIZE  header + len > RK_MSG_MAX
 *   -ENOBUFS   the queue is full (the message was not queued)
 *   -EPIPE     the peer is gone; the channel stays broken
 *   -EBADF     fd is not an open descriptor
 *   -ENOMEM, -EMFILE, or another errno of sendmsg(2) for a message the
 *   kernel refused (that message is dropped).
 */
int rk_channel_send(rk_channel *ch, uint32_t type, uint32_t peer, int fd, const void *data,
                    size_t len);

/* As rk_channel_send(), the payload being v (a dictionary) as a binary plist. */
int rk_channel_send_plist(rk_channel *ch, uint32_t type, uint32_t peer, int fd, const rk_value *v);

/*
 * Writes queued messages, in order, until the socket is full.  Returns the
 * number still queued (0: all sent), -EPIPE when the peer is gone, or the
 * errno of a message the kernel refused (that message is dropped; call
 * again for the rest).
 */
int rk_channel_flush(rk_channel *ch);
bool rk_channel_has_pending(rk_channel *ch);

/*
 * Reads one message if one is waiting.  Returns 1 (*ret filled; free it
 * with rk_msg_done()), 0 (nothing to read), -ECONNRESET (the peer closed
 * the connection: end of stream, also for a zero-length datagram, which
 * cannot be told from it), -EBADMSG (a datagram broke the rules; it was
 * dropped and its fds closed; the channel stays usable), -ENOMEM (the
 * message was lost), or another errno of recvmsg(2).  On every return but
 * 1, *ret is set to an empty message (RK_MSG_INIT).
 */
int rk_channel_recv(rk_channel *ch, rk_msg *ret);

/*
 * Blocking helper for simple clients (ringctl, a driver's start-up
 * handshake): flushes the queue and waits up to timeout_ms (-1: forever)
 * for one message.  Returns as rk_channel_recv() does, never 0:
 * -ETIMEDOUT when nothing came in time.
 */
int rk_channel_recv_wait(rk_channel *ch, rk_msg *ret, int timeout_ms);
