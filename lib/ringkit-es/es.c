/* SPDX-License-Identifier: MIT */
/*
 * libringkit-es: the endpoint security client (include/ringkit/es.h) over
 * ringd's wire protocol (ipc/es-proto.h).
 *
 * What stays true here:
 *   - the client owns one rk_channel; it never blocks except in the calls
 *     documented to wait (rk_es_new_client, the control calls, run);
 *   - events that arrive while a control call waits for its ACK are kept,
 *     in order, in `held` and delivered by the next dispatch, before
 *     anything newer is read;
 *   - a message is decoded into a stack rk_es_message whose strings point
 *     into the received payload: valid for the handler call only.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <time.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ipc/es-proto.h"
#include "ipc/es-wire.h"
#include "ipc/msg.h"
#include "ringkit/es.h"
#include "shared/debug-wait.h"
#include "shared/macro.h"

/* `ringctl debug`: a system extension started for a debugger stops before main() (shared/debug-wait.h) */
RK_DEBUG_WAIT_CONSTRUCTOR(wait_for_debugger)

#define CONTROL_TIMEOUT_MS 5000
#define HELD_MAX 4096
#define DEFAULT_SPIN_USEC 0 /* see rk_es_set_spin(): measured, a client spin slows the next event down */

struct rk_es_client {
        rk_channel *ch;
        rk_es_handler handler;
        void *userdata;
        uint32_t id;
        uint32_t seq;
        bool stop;
        unsigned spin_usec;   /* rk_es_set_spin() */
        rk_msg *held;         /* events read while waiting for an ACK */
        size_t n_held, first_held;
};

static const char *const type_names[RK_ES_EVENT_TYPE_LAST] = {
        [RK_ES_EVENT_TYPE_AUTH_EXEC] = "AUTH_EXEC",     [RK_ES_EVENT_TYPE_AUTH_OPEN] = "AUTH_OPEN",
        [RK_ES_EVENT_TYPE_NOTIFY_EXEC] = "NOTIFY_EXEC", [RK_ES_EVENT_TYPE_NOTIFY_OPEN] = "NOTIFY_OPEN",
        [RK_ES_EVENT_TYPE_NOTIFY_CLOSE] = "NOTIFY_CLOSE", [RK_ES_EVENT_TYPE_NOTIFY_CREATE] = "NOTIFY_CREATE",
        [RK_ES_EVENT_TYPE_NOTIFY_RENAME] = "NOTIFY_RENAME", [RK_ES_EVENT_TYPE_NOTIFY_UNLINK] = "NOTIFY_UNLINK",
        [RK_ES_EVENT_TYPE_NOTIFY_FORK] = "NOTIFY_FORK", [RK_ES_EVENT_TYPE_NOTIFY_EXIT] = "NOTIFY_EXIT",
};

RK_EXPORT const char *rk_es_event_type_name(rk_es_event_type t) {
        return (unsigned) t < RK_ES_EVENT_TYPE_LAST ? type_names[t] : NULL;
}

RK_EXPORT int rk_es_event_type_from_name(const char *name) {
        if (!name)
                return -EINVAL;
        for (int k = 0; k < RK_ES_EVENT_TYPE_LAST; k++)
                if (strcasecmp(name, type_names[k]) == 0)
                        return k;
        return -EINVAL;
}

static int default_path(char *buf, size_t n) {
        const char *e = getenv("RINGKIT_ES_SOCKET"), *root = getenv("RINGKIT_ROOT");
        int w;

        if (e && *e)
                w = snprintf(buf, n, "%s", e);
        else if (root && *root)
                w = snprintf(buf, n, "%s/run/es.sock", root);
        else
                w = snprintf(buf, n, "/run/ringkit/es.sock");
        return w < 0 || (size_t) w >= n ? -ENAMETOOLONG : 0;
}

/*
 * RINGKIT_ES_FD=N: ringd launched this process as a supervised system
 * extension and passed it an admitted connection on fd N.  Taken once (the
 * variable is removed), so a second client connects to the socket.
 */
static int inherited_fd(void) {
        const char *e = getenv("RINGKIT_ES_FD");
        char *end;
        long n;
        int fd;

        if (!e || !*e)
                return -EBADF;
        n = strtol(e, &end, 10);
        unsetenv("RINGKIT_ES_FD");
        if (*end || n < 3 || n > 1024 || fcntl((int) n, F_GETFD) < 0)
                return -EBADF;
        fd = (int) n;
        (void) fcntl(fd, F_SETFD, FD_CLOEXEC);
        return fd;
}

RK_EXPORT int rk_es_new_client(rk_es_client **ret, const char *socket_path, rk_es_handler handler, void *userdata,
                               char **ret_reason) {
        _cleanup_(closep) int fd = -EBADF;
        _cleanup_(rk_channel_freep) rk_channel *ch = NULL;
        rk_msg m = RK_MSG_INIT;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        rk_es_client *c;
        int r;

        if (ret_reason)
                *ret_reason = NULL;
        if (!ret || !handler)
                return -EINVAL;
        if (!socket_path && (fd = inherited_fd()) >= 0) {
                /* launched by ringd as a supervised system extension: the socket is already admitted */
        } else if (socket_path) {
                if (strlen(socket_path) >= sizeof(sa.sun_path))
                        return -ENAMETOOLONG;
                strcpy(sa.sun_path, socket_path);
        } else if ((r = default_path(sa.sun_path, sizeof(sa.sun_path))) < 0)
                return r;
        if (fd < 0) {
                fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
                if (fd < 0)
                        return -errno;
                if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                        return -errno;
        }
        if ((r = rk_channel_new(fd, 0, &ch)) < 0)
                return r;
        fd = -EBADF;
        r = rk_channel_recv_wait(ch, &m, CONTROL_TIMEOUT_MS);
        if (r == -ECONNRESET)
                return -EPERM;
        if (r < 0)
                return r;
        if (m.type == RK_ES_MSG_REFUSED && m.len >= sizeof(int32_t)) {
                int32_t e;
                memcpy(&e, m.data, sizeof(e));
                if (ret_reason && m.len > sizeof(e))
                        *ret_reason = strndup((const char *) m.data + sizeof(e), m.len - sizeof(e));
                rk_msg_done(&m);
                return e < 0 ? e : -EPERM;
        }
        if (m.type != RK_ES_MSG_WELCOME || m.len != sizeof(rk_es_wire_welcome)) {
                rk_msg_done(&m);
                return -EPROTO;
        }
        c = calloc(1, sizeof(*c));
        if (!c) {
                rk_msg_done(&m);
                return -ENOMEM;
        }
        rk_es_wire_welcome w;
        memcpy(&w, m.data, sizeof(w));
        rk_msg_done(&m);
        c->ch = TAKE_PTR(ch);
        c->handler = handler;
        c->spin_usec = DEFAULT_SPIN_USEC;
        c->userdata = userdata;
        c->id = w.client_id;
        *ret = c;
        return 0;
}

RK_EXPORT rk_es_client *rk_es_client_free(rk_es_client *c) {
        if (!c)
                return NULL;
        for (size_t k = c->first_held; k < c->n_held; k++)
                rk_msg_done(&c->held[k]);
        free(c->held);
        rk_channel_free(c->ch);
        free(c);
        return NULL;
}

RK_EXPORT int rk_es_client_get_fd(rk_es_client *c) {
        return c ? rk_channel_get_fd(c->ch) : -EINVAL;
}

static int hold(rk_es_client *c, rk_msg *m) {
        if (c->n_held - c->first_held >= HELD_MAX)
                return -ENOBUFS;
        if (c->first_held == c->n_held)
                c->first_held = c->n_held = 0;
        rk_msg *v = realloc(c->held, (c->n_held + 1) * sizeof(*v));
        if (!v)
                return -ENOMEM;
        c->held = v;
        c->held[c->n_held++] = *m;
        *m = RK_MSG_INIT;
        return 0;
}

/* Send a control request and wait for its ACK; events read meanwhile are held. */
static int control(rk_es_client *c, uint32_t type, const void *data, size_t len) {
        uint32_t seq;
        int r;

        if (!c)
                return -EINVAL;
        seq = ++c->seq;
        if ((r = rk_channel_send(c->ch, type, seq, -EBADF, data, len)) < 0)
                return r;
        for (;;) {
                rk_msg m = RK_MSG_INIT;
                r = rk_channel_recv_wait(c->ch, &m, CONTROL_TIMEOUT_MS);
                if (r == -ECONNRESET)
                        return -EPIPE;
                if (r == -EBADMSG)
                        continue;
                if (r < 0)
                        return r;
                if (m.type == RK_ES_MSG_ACK && m.peer == seq) {
                        int32_t res = -EPROTO;
                        if (m.len == sizeof(res))
                                memcpy(&res, m.data, sizeof(res));
                        rk_msg_done(&m);
                        return res;
                }
                if (m.type == RK_ES_MSG_EVENT) {
                        if ((r = hold(c, &m)) < 0) {
                                rk_msg_done(&m);
                                return r;
                        }
                } else
                        rk_msg_done(&m);
        }
}

static int mask_of(const rk_es_event_type *events, size_t n, uint64_t *ret) {
        uint64_t mask = 0;

        if (!events && n)
                return -EINVAL;
        for (size_t k = 0; k < n; k++) {
                if ((unsigned) events[k] >= RK_ES_EVENT_TYPE_LAST)
                        return -EINVAL;
                mask |= UINT64_C(1) << events[k];
        }
        *ret = mask;
        return 0;
}

RK_EXPORT int rk_es_subscribe(rk_es_client *c, const rk_es_event_type *events, size_t n) {
        uint64_t mask;
        int r = mask_of(events, n, &mask);
        return r < 0 ? r : control(c, RK_ES_MSG_SUBSCRIBE, &mask, sizeof(mask));
}

RK_EXPORT int rk_es_unsubscribe(rk_es_client *c, const rk_es_event_type *events, size_t n) {
        uint64_t mask;
        int r = mask_of(events, n, &mask);
        return r < 0 ? r : control(c, RK_ES_MSG_UNSUBSCRIBE, &mask, sizeof(mask));
}

RK_EXPORT int rk_es_unsubscribe_all(rk_es_client *c) {
        uint64_t mask = UINT64_MAX;
        return control(c, RK_ES_MSG_UNSUBSCRIBE, &mask, sizeof(mask));
}

RK_EXPORT int rk_es_respond_id(rk_es_client *c, uint64_t id, rk_es_auth_result result, bool cache) {
        rk_es_wire_respond w = { .id = id, .result = result, .cache = cache };

        if (!c || (result != RK_ES_AUTH_RESULT_ALLOW && result != RK_ES_AUTH_RESULT_DENY))
                return -EINVAL;
        return rk_channel_send(c->ch, RK_ES_MSG_RESPOND, 0, -EBADF, &w, sizeof(w));
}

RK_EXPORT int rk_es_respond_auth_result(rk_es_client *c, const rk_es_message *m, rk_es_auth_result result,
                                        bool cache) {
        if (!m || !m->is_auth)
                return -EINVAL;
        return rk_es_respond_id(c, m->id, result, cache);
}

static int mute(rk_es_client *c, uint32_t type, uint32_t kind, pid_t pid, const char *path) {
        char buf[sizeof(rk_es_wire_mute) + 4096];
        rk_es_wire_mute w = { .kind = kind, .pid = pid };
        size_t len = sizeof(w);

        memcpy(buf, &w, sizeof(w));
        if (path) {
                size_t n = strlen(path) + 1;
                if (n > 4096 || n < 2)
                        return -EINVAL;
                memcpy(buf + len, path, n);
                len += n;
        }
        return control(c, type, buf, len);
}

RK_EXPORT int rk_es_mute_process(rk_es_client *c, pid_t pid) {
        return pid > 0 ? mute(c, RK_ES_MSG_MUTE, RK_ES_MUTE_PID, pid, NULL) : -EINVAL;
}

RK_EXPORT int rk_es_unmute_process(rk_es_client *c, pid_t pid) {
        return pid > 0 ? mute(c, RK_ES_MSG_UNMUTE, RK_ES_MUTE_PID, pid, NULL) : -EINVAL;
}

static int path_kind(rk_es_mute_path_type t) {
        switch (t) {
        case RK_ES_MUTE_PATH_TYPE_LITERAL:
                return RK_ES_MUTE_EXE_LITERAL;
        case RK_ES_MUTE_PATH_TYPE_PREFIX:
                return RK_ES_MUTE_EXE_PREFIX;
        case RK_ES_MUTE_PATH_TYPE_TARGET_PREFIX:
                return RK_ES_MUTE_TARGET_PREFIX;
        }
        return -EINVAL;
}

RK_EXPORT int rk_es_mute_path(rk_es_client *c, const char *path, rk_es_mute_path_type type) {
        int k = path_kind(type);
        return k < 0 || !path ? -EINVAL : mute(c, RK_ES_MSG_MUTE, (uint32_t) k, 0, path);
}

RK_EXPORT int rk_es_unmute_path(rk_es_client *c, const char *path, rk_es_mute_path_type type) {
        int k = path_kind(type);
        return k < 0 || !path ? -EINVAL : mute(c, RK_ES_MSG_UNMUTE, (uint32_t) k, 0, path);
}

RK_EXPORT int rk_es_unmute_all(rk_es_client *c) {
        return mute(c, RK_ES_MSG_UNMUTE, RK_ES_MUTE_ALL, 0, NULL);
}

RK_EXPORT int rk_es_clear_cache(rk_es_client *c) {
        return control(c, RK_ES_MSG_CLEAR_CACHE, NULL, 0);
}

RK_EXPORT int rk_es_set_spin(rk_es_client *c, unsigned usec) {
        if (!c || usec > 1000)
                return -EINVAL;
        c->spin_usec = usec;
        return 0;
}

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

RK_EXPORT int rk_es_set_deadline(rk_es_client *c, unsigned ms) {
        uint32_t v = ms;
        if (ms < RK_ES_DEADLINE_MIN_MS || ms > RK_ES_DEADLINE_MAX_MS)
                return -EINVAL;
        return control(c, RK_ES_MSG_SET_DEADLINE, &v, sizeof(v));
}

/* Decode an EVENT and call the handler.  -EBADMSG for a malformed one. */
static int deliver(rk_es_client *c, const rk_msg *m) {
        const char *s[RK_ES_STR_MAX];
        rk_es_wire_event w;
        rk_es_message e;

        if (m->type != RK_ES_MSG_EVENT)
                return 0; /* a late ACK or something newer: not for the handler */
        if (rk_es_wire_event_decode(m->data, m->len, &w, s) < 0)
                return -EBADMSG;
        e = (rk_es_message){
                .id = w.id,
                .type = (rk_es_event_type) w.type,
                .is_auth = w.flags & RK_ES_F_AUTH,
                .time_usec = w.time_usec,
                .deadline_usec = w.deadline_usec,
                .process = { .pid = w.pid, .ppid = w.ppid, .uid = w.uid, .gid = w.gid,
                             .executable = s[RK_ES_STR_EXE] ? s[RK_ES_STR_EXE] : "",
                             .signing = { .is_signed = w.flags & RK_ES_F_PROC_SIGNED, .team_id = s[RK_ES_STR_TEAM],
                                          .signing_id = s[RK_ES_STR_SIGNING_ID] } },
                .target = { .path = s[RK_ES_STR_TARGET],
                            .signing = { .is_signed = w.flags & RK_ES_F_TARGET_SIGNED,
                                         .team_id = s[RK_ES_STR_TARGET_TEAM],
                                         .signing_id = s[RK_ES_STR_TARGET_SIGNING_ID] } },
                .target2 = { .path = s[RK_ES_STR_TARGET2] },
                .child_pid = w.child_pid,
                .exit_status = w.exit_status,
                .open_flags = w.open_flags,
        };
        c->handler(c, &e, c->userdata);
        return 1;
}

RK_EXPORT int rk_es_client_dispatch(rk_es_client *c) {
        int n = 0, r;

        if (!c)
                return -EINVAL;
        while (c->first_held < c->n_held && !c->stop) {
                rk_msg m = c->held[c->first_held];
                c->held[c->first_held++] = RK_MSG_INIT;
                r = deliver(c, &m);
                rk_msg_done(&m);
                if (r > 0)
                        n++;
        }
        while (!c->stop) {
                rk_msg m = RK_MSG_INIT;
                r = rk_channel_recv(c->ch, &m);
                if (r == 0)
                        break;
                if (r < 0)
                        return n > 0 && r == -EBADMSG ? n : r;
                r = deliver(c, &m);
                rk_msg_done(&m);
                if (r == -EBADMSG)
                        return r;
                if (r > 0)
                        n++;
        }
        (void) rk_channel_flush(c->ch);
        /*
         * Events come in bursts (an exec brings AUTH_EXEC, then the
         * image's opens): having answered, look for the next one a short
         * while (rk_es_set_spin) before going back to sleep; a sleep and
         * wake-up cost more than the spin.
         */
        if (n > 0 && c->spin_usec && !c->stop) {
                uint64_t end = now_usec() + c->spin_usec;
                while (!c->stop && now_usec() < end) {
                        rk_msg m = RK_MSG_INIT;
                        r = rk_channel_recv(c->ch, &m);
                        if (r < 0)
                                return n > 0 ? n : r; /* the next call reports it */
                        if (r == 0) {
                                sched_yield(); /* whoever was woken onto this CPU runs now, not after the spin */
                                continue;
                        }
                        r = deliver(c, &m);
                        rk_msg_done(&m);
                        if (r > 0)
                                n++;
                        (void) rk_channel_flush(c->ch);
                        end = now_usec() + c->spin_usec;
                }
        }
        return n;
}

RK_EXPORT void rk_es_client_stop(rk_es_client *c) {
        if (c)
                c->stop = true;
}

RK_EXPORT int rk_es_client_run(rk_es_client *c, int timeout_ms) {
        struct pollfd p;
        int r;

        if (!c)
                return -EINVAL;
        c->stop = false;
        p.fd = rk_channel_get_fd(c->ch);
        for (;;) {
                if (c->first_held < c->n_held) {
                        if ((r = rk_es_client_dispatch(c)) < 0 && r != -EBADMSG)
                                return r;
                }
                if (c->stop)
                        return 0;
                p.events = POLLIN | (rk_channel_has_pending(c->ch) ? POLLOUT : 0);
                r = poll(&p, 1, timeout_ms);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (r == 0)
                        return 0;
                if (p.revents & POLLOUT)
                        (void) rk_channel_flush(c->ch);
                if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
                        r = rk_es_client_dispatch(c);
                        if (r < 0 && r != -EBADMSG)
                                return r;
                }
                if (c->stop)
                        return 0;
        }
}
