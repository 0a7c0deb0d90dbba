/* SPDX-License-Identifier: MIT */
/*
 * libringkit-nf: the network filter SDK (include/ringkit/nf.h) over ringd's
 * wire protocol (ipc/nf-proto.h).
 *
 * What stays true here:
 *   - the filter owns one rk_channel, the one ringd passed at launch; it
 *     never blocks except in rk_nf_filter_new() (the welcome) and run;
 *   - a FLOW is decoded into a stack rk_nf_flow, valid for the handler
 *     call only; the handler's verdict is sent at once unless it paused.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ipc/msg.h"
#include "ipc/nf-proto.h"
#include "ipc/nf-wire.h"
#include "ringkit/nf.h"
#include "shared/debug-wait.h"
#include "shared/macro.h"

/* `ringctl debug`: a system extension started for a debugger stops before main() (shared/debug-wait.h) */
RK_DEBUG_WAIT_CONSTRUCTOR(wait_for_debugger)

#define WELCOME_TIMEOUT_MS 5000
#define DEFAULT_SPIN_USEC 50

struct rk_nf_filter {
        rk_channel *ch;
        rk_nf_handler handler;
        void *userdata;
        uint32_t id, deadline_ms;
        bool fail_closed;
        bool stop;
        unsigned spin_usec;     /* rk_nf_filter_set_spin() */
};

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

RK_EXPORT int rk_nf_filter_set_spin(rk_nf_filter *f, unsigned usec) {
        if (!f || usec > 1000)
                return -EINVAL;
        f->spin_usec = usec;
        return 0;
}

RK_EXPORT const char *rk_nf_verdict_name(rk_nf_verdict v) {
        switch (v) {
        case RK_NF_VERDICT_ALLOW:
                return "allow";
        case RK_NF_VERDICT_DROP:
                return "drop";
        case RK_NF_VERDICT_PAUSE:
                return "pause";
        }
        return NULL;
}

/* $RINGKIT_NF_FD: the connection ringd passed; taken once. */
static int inherited_fd(void) {
        const char *e = getenv("RINGKIT_NF_FD");
        char *end;
        long n;

        if (!e || !*e)
                return -ENOTCONN;
        n = strtol(e, &end, 10);
        unsetenv("RINGKIT_NF_FD");
        if (*end || n < 3 || n > 1024 || fcntl((int) n, F_GETFD) < 0)
                return -ENOTCONN;
        return (int) n;
}

RK_EXPORT int rk_nf_filter_new(rk_nf_filter **ret, rk_nf_handler handler, void *userdata) {
        _cleanup_(rk_channel_freep) rk_channel *ch = NULL;
        rk_msg m = RK_MSG_INIT;
        rk_nf_wire_welcome w;
        rk_nf_filter *f;
        int fd, r;

        if (!ret || !handler)
                return -EINVAL;
        fd = inherited_fd();
        if (fd < 0)
                return fd;
        if ((r = rk_channel_new(fd, 0, &ch)) < 0) {
                close(fd);
                return r;
        }
        r = rk_channel_recv_wait(ch, &m, WELCOME_TIMEOUT_MS);
        if (r == -ECONNRESET)
                return -ENOTCONN;
        if (r < 0)
                return r;
        if (m.type != RK_NF_MSG_WELCOME || m.len != sizeof(w)) {
                rk_msg_done(&m);
                return -EPROTO;
        }
        memcpy(&w, m.data, sizeof(w));
        rk_msg_done(&m);
        if (w.version != RK_NF_PROTO_VERSION)
                return -EPROTO;
        f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        f->ch = TAKE_PTR(ch);
        f->spin_usec = DEFAULT_SPIN_USEC;
        f->handler = handler;
        f->userdata = userdata;
        f->id = w.filter_id;
        f->deadline_ms = w.deadline_ms;
        f->fail_closed = w.fail_closed != 0;
        *ret = f;
        return 0;
}

RK_EXPORT rk_nf_filter *rk_nf_filter_free(rk_nf_filter *f) {
        if (!f)
                return NULL;
        rk_channel_free(f->ch);
        free(f);
        return NULL;
}

RK_EXPORT int rk_nf_filter_get_fd(rk_nf_filter *f) {
        return f ? rk_channel_get_fd(f->ch) : -EINVAL;
}

RK_EXPORT bool rk_nf_filter_is_fail_closed(rk_nf_filter *f) {
        return f && f->fail_closed;
}

RK_EXPORT unsigned rk_nf_filter_get_deadline_ms(rk_nf_filter *f) {
        return f ? f->deadline_ms : 0;
}

RK_EXPORT void rk_nf_filter_stop(rk_nf_filter *f) {
        if (f)
                f->stop = true;
}

RK_EXPORT int rk_nf_filter_respond(rk_nf_filter *f, uint64_t flow_id, rk_nf_verdict verdict) {
        rk_nf_wire_verdict v = { .id = flow_id, .verdict = (uint32_t) verdict };

        if (!f || (verdict != RK_NF_VERDICT_ALLOW && verdict != RK_NF_VERDICT_DROP))
                return -EINVAL;
        return rk_channel_send(f->ch, RK_NF_MSG_VERDICT, 0, -EBADF, &v, sizeof(v));
}

static int handle_flow(rk_nf_filter *f, const rk_msg *m) {
        rk_nf_flow_decoded d;
        rk_nf_verdict v;
        int r = rk_nf_wire_flow_decode(m->data, m->len, &d);

        if (r < 0)
                return r;
        v = f->handler(f, &d.fl, f->userdata);
        if (v == RK_NF_VERDICT_PAUSE)
                return 0;
        return rk_nf_filter_respond(f, d.w.id, v == RK_NF_VERDICT_DROP ? RK_NF_VERDICT_DROP : RK_NF_VERDICT_ALLOW);
}

RK_EXPORT int rk_nf_filter_dispatch(rk_nf_filter *f) {
        int n = 0;
        uint64_t end = 0;

        if (!f)
                return -EINVAL;
        for (;;) {
                rk_msg m = RK_MSG_INIT;
                int r = rk_channel_recv(f->ch, &m);
                if (r == 0 && n > 0 && f->spin_usec && !f->stop) {
                        /*
                         * Flows come in bursts: having answered, look for the
                         * next one a short while (rk_nf_filter_set_spin) before
                         * going back to sleep; a sleep and wake-up cost more.
                         */
                        uint64_t t = now_usec();
                        if (!end)
                                end = t + f->spin_usec;
                        if (t < end) {
                                sched_yield(); /* whoever was woken onto this CPU runs now, not after the spin */
                                continue;
                        }
                }
                if (r == 0)
                        break;
                if (r < 0)
                        return r;
                if (m.type == RK_NF_MSG_FLOW) {
                        r = handle_flow(f, &m);
                        n++;
                        end = 0; /* the spin starts again after each flow */
                } else
                        r = 0; /* unknown types are ignored: a newer ringd */
                rk_msg_done(&m);
                if (r == -EPIPE)
                        return -ECONNRESET;
                if (f->stop)
                        break;
        }
        if (rk_channel_has_pending(f->ch)) {
                int r = rk_channel_flush(f->ch);
                if (r == -EPIPE)
                        return -ECONNRESET;
        }
        return n;
}

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

RK_EXPORT int rk_nf_filter_run(rk_nf_filter *f, int timeout_ms) {
        uint64_t end = timeout_ms >= 0 ? now_ms() + (uint64_t) timeout_ms : UINT64_MAX;

        if (!f)
                return -EINVAL;
        f->stop = false;
        while (!f->stop) {
                struct pollfd p = { .fd = rk_channel_get_fd(f->ch), .events = POLLIN };
                int wait = -1, r;
                if (rk_channel_has_pending(f->ch))
                        p.events |= POLLOUT;
                if (end != UINT64_MAX) {
                        uint64_t t = now_ms();
                        if (t >= end)
                                return 0;
                        wait = (int) (end - t);
                }
                r = poll(&p, 1, wait);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (r == 0)
                        continue;
                r = rk_nf_filter_dispatch(f);
                if (r < 0)
                        return r;
        }
        return 0;
}
