/* SPDX-License-Identifier: MIT */
/*
 * The event loop (see loop.h for the contract).
 *
 * Map of this file:
 *   1. structures
 *   2. the epoll backend: epoll_set(), epoll_del()
 *   3. time: rk_now(), the timer heap, arming the one timerfd
 *   4. signals: the loop's signalfd and its mask
 *   5. enabling and disabling a source (what each type registers)
 *   6. source lifetime: new, ref/unref, disconnect, floating release
 *   7. adding sources, then setters and getters
 *   8. one iteration: prepare, wait, process, dispatch; exit
 *   9. the loop object
 *
 * Kernel objects: one epoll fd; one timerfd (CLOCK_MONOTONIC, absolute) for
 * every timer; one signalfd for every signal source, created on first use;
 * one pidfd per child source.  io fds stay the caller's.
 *
 * Timers sit in a binary min-heap ordered by (deadline, creation order),
 * each source knowing its index.  A heap rather than a sorted list because
 * ringd keeps one timer per supervised instance, channel and pending
 * request, and those are re-armed all the time: insert, remove and re-arm
 * are O(log n) instead of O(n), the next deadline is O(1), and collecting
 * the k expired timers is O(k) by walking the heap from the root and
 * pruning at the first unexpired node.  (10k timers in the tests.)
 *
 * Invariants:
 *   1. An enabled io or child source is registered in epoll with its
 *      source as data.ptr; a disabled one is not.  The timerfd and the
 *      signalfd are registered with &loop->timer_fd / &loop->signal_fd.
 *   2. An enabled time source is in the heap (time.idx valid); a disabled
 *      one is not (time.idx == HEAP_NONE).
 *   3. Enabled defer sources, and only they, are on loop->defers.
 *   4. loop->sigmask holds exactly the signals of enabled signal sources,
 *      and the signalfd watches that mask.
 *   5. timer_armed is the absolute expiry (ns) the timerfd is set to, 0 if
 *      disarmed, and is never later than the work it must wake us for:
 *      the first deadline, or "now" (1 ns) while a defer source is enabled.
 *      It may be earlier (a removed timer): that costs one empty wake-up,
 *      and prepare() recomputes it exactly before every wait.
 *   6. A source is in loop->pending at most once (queued), only during one
 *      iteration; `pending` says it is still to be dispatched and is
 *      cleared when the source is disabled.  A queued source's memory stays
 *      allocated until the dispatch loop has passed it, even after its last
 *      reference went: that is what makes unref from callbacks safe.
 *   7. A source the caller holds keeps a reference on the loop
 *      (holds_loop); floating sources do not, so freeing the loop frees
 *      them.  A source outliving its loop is disconnected (loop == NULL).
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shared/loop.h"
#include "shared/macro.h"

/* ---- 1. structures ------------------------------------------------------ */

#define HEAP_NONE SIZE_MAX
#define MAX_EVENTS 64
#define IO_EVENTS (EPOLLIN | EPOLLOUT | EPOLLPRI | EPOLLRDHUP | EPOLLERR | EPOLLHUP | EPOLLEXCLUSIVE)

typedef enum kind { K_IO, K_TIME, K_SIGNAL, K_CHILD, K_DEFER, K_EXIT } kind;

typedef enum state { STATE_RUNNING, STATE_EXITING, STATE_FINISHED } state;

struct rk_source {
        unsigned n_ref;
        rk_loop *loop;          /* NULL once disconnected */
        kind kind;
        int enabled;            /* RK_SOURCE_OFF / ON / ONESHOT */
        int64_t priority;
        uint64_t seq;           /* creation order */
        size_t order;           /* dispatch order among equal priorities */
        bool floating;          /* the loop owns one of n_ref */
        bool holds_loop;        /* we own a reference on loop */
        bool pending;           /* to be dispatched in this iteration */
        bool queued;            /* in loop->pending: memory must stay */
        void *userdata;
        rk_source *prev, *next;   /* loop->sources */
        rk_source *dprev, *dnext; /* loop->defers */
        union {
                struct {
                        int fd;
                        uint32_t events, revents;
                        rk_io_handler cb;
                } io;
                struct {
                        uint64_t usec;
                        size_t idx;
                        rk_time_handler cb;
                } time;
                struct {
                        int sig;
                        struct signalfd_siginfo info;
                        rk_signal_handler cb;
                } signal;
                struct {
                        pid_t pid;
                        int pidfd;
                        bool exited;
                        siginfo_t info;
                        rk_child_handler cb;
                } child;
                struct {
                        rk_handler cb;
                } defer; /* also exit */
        };
};

struct rk_loop {
        unsigned n_ref;
        int epoll_fd, timer_fd, signal_fd;
        uint64_t timer_armed;
        rk_source **heap;
        size_t n_heap, cap_heap;
        rk_source *signals[_NSIG];
        sigset_t sigmask;
        rk_source *sources;
        size_t n_sources;
        rk_source *defers;
        size_t n_defers;
        rk_source **pending;
        size_t n_pending, cap_pending;
        uint64_t seq;
        state state;
        bool in_run;
        int exit_code;
};

static int grow(void *arrayp, size_t *cap, size_t need) {
        void **a = arrayp;
        size_t n = *cap ? *cap : 16;
        void *p;

        if (need <= *cap)
                return 0;
        while (n < need)
                n *= 2;
        p = reallocarray(*a, n, sizeof(void *));
        if (!p)
                return -ENOMEM;
        *a = p;
        *cap = n;
        return 0;
}

/* ---- 2. the epoll backend ------------------------------------------------ */

static int epoll_set(rk_loop *l, int op, int fd, uint32_t events, void *ptr) {
        struct epoll_event ev = { .events = events, .data.ptr = ptr };
        return epoll_ctl(l->epoll_fd, op, fd, &ev) < 0 ? -errno : 0;
}

/* The fd may already be closed (epoll dropped it then): nothing to undo. */
static void epoll_del(rk_loop *l, int fd) {
        (void) epoll_ctl(l->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
}

/* ---- 3. time ------------------------------------------------------------- */

uint64_t rk_now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

void rk_spin(uint64_t usec, bool (*step)(void *userdata), void *userdata) {
        uint64_t end;

        if (!usec || !step)
                return;
        end = rk_now() + usec;
        while (step(userdata) && rk_now() < end)
                sched_yield();
}

static bool heap_less(const rk_source *a, const rk_source *b) {
        return a->time.usec < b->time.usec || (a->time.usec == b->time.usec && a->seq < b->seq);
}

static void heap_put(rk_loop *l, size_t i, rk_source *s) {
        l->heap[i] = s;
        s->time.idx = i;
}

static void heap_up(rk_loop *l, size_t i) {
        rk_source *s = l->heap[i];
        while (i > 0 && heap_less(s, l->heap[(i - 1) / 2])) {
                heap_put(l, i, l->heap[(i - 1) / 2]);
                i = (i - 1) / 2;
        }
        heap_put(l, i, s);
}

static void heap_down(rk_loop *l, size_t i) {
        rk_source *s = l->heap[i];
        for (;;) {
                size_t c = 2 * i + 1;
                if (c >= l->n_heap)
                        break;
                if (c + 1 < l->n_heap && heap_less(l->heap[c + 1], l->heap[c]))
                        c++;
                if (!heap_less(l->heap[c], s))
                        break;
                heap_put(l, i, l->heap[c]);
                i = c;
        }
        heap_put(l, i, s);
}

static void heap_fix(rk_loop *l, rk_source *s) {
        heap_up(l, s->time.idx);
        heap_down(l, s->time.idx);
}

static int heap_insert(rk_loop *l, rk_source *s) {
        if (grow(&l->heap, &l->cap_heap, l->n_heap + 1) < 0)
                return -ENOMEM;
        heap_put(l, l->n_heap++, s);
        heap_up(l, s->time.idx);
        return 0;
}

static void heap_remove(rk_loop *l, rk_source *s) {
        size_t i = s->time.idx;
        rk_source *last = l->heap[--l->n_heap];

        s->time.idx = HEAP_NONE;
        if (i == l->n_heap)
                return;
        heap_put(l, i, last);
        heap_fix(l, last);
}

/* The expiry the timerfd must have (invariant 5), in ns; 0 = none. */
static uint64_t next_wakeup_ns(rk_loop *l) {
        uint64_t u;

        if (l->n_defers > 0)
                return 1;
        if (l->n_heap == 0)
                return 0;
        u = l->heap[0]->time.usec;
        if (u == 0)
                return 1; /* 0 would disarm */
        return u > UINT64_MAX / 1000 ? UINT64_MAX : u * 1000;
}

/*
 * exact: set the timerfd to the wanted expiry.  Otherwise only move it
 * earlier (called when work was added; a later timer can wait for the
 * exact pass in prepare()).  A past expiry fires at once.
 */
static int timer_arm(rk_loop *l, bool exact) {
        uint64_t ns = next_wakeup_ns(l);
        struct itimerspec its = {};

        if (ns == l->timer_armed)
                return 0;
        if (!exact && (ns == 0 || (l->timer_armed != 0 && l->timer_armed < ns)))
                return 0;
        its.it_value.tv_sec = (time_t) (ns / 1000000000u);
        its.it_value.tv_nsec = (long) (ns % 1000000000u);
        if (timerfd_settime(l->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
                return -errno;
        l->timer_armed = ns;
        return 0;
}

static void timer_drain(rk_loop *l) {
        uint64_t expirations;
        if (read(l->timer_fd, &expirations, sizeof(expirations)) == sizeof(expirations))
                l->timer_armed = 0; /* a one-shot timerfd disarms when it fires */
}

/* ---- 4. signals ---------------------------------------------------------- */

static int signal_update(rk_loop *l) {
        int fd, r;

        if (l->signal_fd >= 0)
                return signalfd(l->signal_fd, &l->sigmask, 0) < 0 ? -errno : 0;
        fd = signalfd(-1, &l->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = epoll_set(l, EPOLL_CTL_ADD, fd, EPOLLIN, &l->signal_fd);
        if (r < 0) {
                close(fd);
                return r;
        }
        l->signal_fd = fd;
        return 0;
}

/*
 * One siginfo per iteration: its source cannot be pending yet, so nothing
 * is lost; more queued signals keep the signalfd readable for the next.
 */
static void mark(rk_loop *l, rk_source *s);

static void signal_read(rk_loop *l) {
        struct signalfd_siginfo si;
        rk_source *s;

        if (read(l->signal_fd, &si, sizeof(si)) != sizeof(si))
                return;
        if (si.ssi_signo >= _NSIG)
                return;
        s = l->signals[si.ssi_signo];
        if (!s || s->enabled == RK_SOURCE_OFF)
                return;
        s->signal.info = si;
        mark(l, s);
}

/* ---- 5. enabling and disabling --------------------------------------------- */

static int source_attach(rk_source *s) {
        rk_loop *l = s->loop;
        int r;

        switch (s->kind) {
        case K_IO:
                return epoll_set(l, EPOLL_CTL_ADD, s->io.fd, s->io.events, s);
        case K_TIME:
                r = heap_insert(l, s);
                if (r < 0)
                        return r;
                (void) timer_arm(l, false); /* on failure prepare() retries */
                return 0;
        case K_SIGNAL:
                sigaddset(&l->sigmask, s->signal.sig);
                r = signal_update(l);
                if (r < 0)
                        sigdelset(&l->sigmask, s->signal.sig);
                return r;
        case K_CHILD:
                if (s->child.exited)
                        return -ECHILD;
                return epoll_set(l, EPOLL_CTL_ADD, s->child.pidfd, EPOLLIN, s);
        case K_DEFER:
                s->dprev = NULL;
                s->dnext = l->defers;
                if (l->defers)
                        l->defers->dprev = s;
                l->defers = s;
                l->n_defers++;
                (void) timer_arm(l, false);
                return 0;
        case K_EXIT:
                return 0;
        }
        return -EINVAL;
}

static void source_detach(rk_source *s) {
        rk_loop *l = s->loop;

        s->pending = false;
        switch (s->kind) {
        case K_IO:
                epoll_del(l, s->io.fd);
                break;
        case K_TIME:
                heap_remove(l, s);
                break;
        case K_SIGNAL:
                sigdelset(&l->sigmask, s->signal.sig);
                (void) signal_update(l); /* shrinking an existing mask cannot fail */
                break;
        case K_CHILD:
                epoll_del(l, s->child.pidfd);
                break;
        case K_DEFER:
                if (s->dprev)
                        s->dprev->dnext = s->dnext;
                else
                        l->defers = s->dnext;
                if (s->dnext)
                        s->dnext->dprev = s->dprev;
                s->dprev = s->dnext = NULL;
                l->n_defers--;
                break;
        case K_EXIT:
                break;
        }
}

static void source_disable(rk_source *s) {
        if (s->enabled == RK_SOURCE_OFF || !s->loop)
                return;
        source_detach(s);
        s->enabled = RK_SOURCE_OFF;
}

int rk_source_set_enabled(rk_source *s, int mode) {
        int r;

        if (!s || (mode != RK_SOURCE_OFF && mode != RK_SOURCE_ON && mode != RK_SOURCE_ONESHOT))
                return -EINVAL;
        if (!s->loop)
                return mode == RK_SOURCE_OFF ? 0 : -ESTALE;
        if (mode == RK_SOURCE_OFF) {
                source_disable(s);
                return 0;
        }
        if (s->enabled == RK_SOURCE_OFF) {
                r = source_attach(s);
                if (r < 0)
                        return r;
        }
        s->enabled = mode;
        return 0;
}

int rk_source_get_enabled(rk_source *s) {
        return s ? s->enabled : -EINVAL;
}

/* ---- 6. source lifetime ------------------------------------------------- */

static rk_source *source_new(rk_loop *l, bool floating, kind k, void *userdata) {
        rk_source *s = calloc(1, sizeof(*s));

        if (!s)
                return NULL;
        s->n_ref = 1;
        s->loop = l;
        s->kind = k;
        s->userdata = userdata;
        s->seq = l->seq++;
        s->floating = floating;
        s->holds_loop = !floating;
        if (s->holds_loop)
                rk_loop_ref(l);
        s->next = l->sources;
        if (l->sources)
                l->sources->prev = s;
        l->sources = s;
        l->n_sources++;
        return s;
}

/* Disables s, unhooks it from its loop and closes what it owns. */
static void source_disconnect(rk_source *s) {
        rk_loop *l = s->loop;

        if (!l)
                return;
        source_disable(s);
        if (s->prev)
                s->prev->next = s->next;
        else
                l->sources = s->next;
        if (s->next)
                s->next->prev = s->prev;
        l->n_sources--;
        if (s->kind == K_SIGNAL && l->signals[s->signal.sig] == s)
                l->signals[s->signal.sig] = NULL;
        if (s->kind == K_CHILD && s->child.pidfd >= 0)
                close(TAKE_FD(s->child.pidfd));
        s->loop = NULL;
        if (s->holds_loop) {
                s->holds_loop = false;
                rk_loop_unref(l); /* last: may free l */
        }
}

rk_source *rk_source_ref(rk_source *s) {
        if (s) {
                assert(s->n_ref > 0);
                s->n_ref++;
        }
        return s;
}

rk_source *rk_source_unref(rk_source *s) {
        if (!s)
                return NULL;
        assert(s->n_ref > 0);
        if (--s->n_ref > 0)
                return NULL;
        source_disconnect(s);
        if (!s->queued)
                free(s); /* else the dispatch loop frees it (invariant 6) */
        return NULL;
}

/* A floating source whose job is done (disabled after its callback). */
static void source_release_floating(rk_source *s) {
        if (!s->floating || s->enabled != RK_SOURCE_OFF)
                return;
        s->floating = false;
        rk_source_unref(s);
}

/* ---- 7. adding sources; setters and getters ------------------------------- */

/* Common tail of rk_loop_add_*: enable with the type's default mode. */
static int source_add(rk_source *s, int mode, rk_source **ret) {
        int r = rk_source_set_enabled(s, mode);
        if (r < 0) {
                s->floating = false;
                rk_source_unref(s);
                return r;
        }
        if (ret)
                *ret = s;
        return 0;
}

static int check_loop(rk_loop *l, const void *cb) {
        if (!l || !cb)
                return -EINVAL;
        return l->state == STATE_FINISHED ? -ESTALE : 0;
}

int rk_loop_add_io(rk_loop *l, rk_source **ret, int fd, uint32_t events, rk_io_handler cb,
                   void *userdata) {
        int r = check_loop(l, cb);
        rk_source *s;

        if (r < 0)
                return r;
        if (fd < 0 || (events & ~IO_EVENTS))
                return -EINVAL;
        s = source_new(l, !ret, K_IO, userdata);
        if (!s)
                return -ENOMEM;
        s->io.fd = fd;
        s->io.events = events;
        s->io.cb = cb;
        return source_add(s, RK_SOURCE_ON, ret);
}

int rk_loop_add_time(rk_loop *l, rk_source **ret, uint64_t usec, rk_time_handler cb,
                     void *userdata) {
        int r = check_loop(l, cb);
        rk_source *s;

        if (r < 0)
                return r;
        s = source_new(l, !ret, K_TIME, userdata);
        if (!s)
                return -ENOMEM;
        s->time.usec = usec;
        s->time.idx = HEAP_NONE;
        s->time.cb = cb;
        return source_add(s, RK_SOURCE_ONESHOT, ret);
}

int rk_loop_add_signal(rk_loop *l, rk_source **ret, int sig, rk_signal_handler cb,
                       void *userdata) {
        int r = check_loop(l, cb);
        sigset_t one;
        rk_source *s;

        if (r < 0)
                return r;
        if (sig <= 0 || sig >= _NSIG || sig == SIGKILL || sig == SIGSTOP)
                return -EINVAL;
        if (l->signals[sig])
                return -EBUSY;
        sigemptyset(&one);
        sigaddset(&one, sig);
        r = -pthread_sigmask(SIG_BLOCK, &one, NULL);
        if (r < 0)
                return r;
        s = source_new(l, !ret, K_SIGNAL, userdata);
        if (!s)
                return -ENOMEM;
        s->signal.sig = sig;
        s->signal.cb = cb;
        l->signals[sig] = s;
        return source_add(s, RK_SOURCE_ON, ret);
}

static int child_pidfd(pid_t pid, int pidfd) {
        siginfo_t si = {};
        int fd;

        fd = pidfd >= 0 ? fcntl(pidfd, F_DUPFD_CLOEXEC, 3) : pidfd_open(pid, 0);
        if (fd < 0)
                return -errno;
        /* Is it our child, not yet reaped?  WNOWAIT leaves it as it is. */
        if (waitid((idtype_t) P_PIDFD, (id_t) fd, &si, WEXITED | WNOHANG | WNOWAIT) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

int rk_loop_add_child(rk_loop *l, rk_source **ret, pid_t pid, int pidfd, rk_child_handler cb,
                      void *userdata) {
        int r = check_loop(l, cb), fd;
        rk_source *s;

        if (r < 0)
                return r;
        if (pid <= 0)
                return -EINVAL;
        fd = child_pidfd(pid, pidfd);
        if (fd < 0)
                return fd;
        s = source_new(l, !ret, K_CHILD, userdata);
        if (!s) {
                close(fd);
                return -ENOMEM;
        }
        s->child.pid = pid;
        s->child.pidfd = fd;
        s->child.cb = cb;
        return source_add(s, RK_SOURCE_ONESHOT, ret);
}

static int add_simple(rk_loop *l, rk_source **ret, kind k, rk_handler cb, void *userdata) {
        int r = check_loop(l, cb);
        rk_source *s;

        if (r < 0)
                return r;
        s = source_new(l, !ret, k, userdata);
        if (!s)
                return -ENOMEM;
        s->defer.cb = cb;
        return source_add(s, RK_SOURCE_ONESHOT, ret);
}

int rk_loop_add_defer(rk_loop *l, rk_source **ret, rk_handler cb, void *userdata) {
        return add_simple(l, ret, K_DEFER, cb, userdata);
}

int rk_loop_add_exit(rk_loop *l, rk_source **ret, rk_handler cb, void *userdata) {
        return add_simple(l, ret, K_EXIT, cb, userdata);
}

int rk_source_set_time(rk_source *s, uint64_t usec) {
        if (!s || s->kind != K_TIME)
                return -EINVAL;
        if (!s->loop)
                return -ESTALE;
        s->time.usec = usec;
        s->pending = false; /* not dispatched for the old deadline */
        if (s->time.idx != HEAP_NONE) {
                heap_fix(s->loop, s);
                (void) timer_arm(s->loop, false);
        }
        return 0;
}

int rk_source_get_time(rk_source *s, uint64_t *ret) {
        if (!s || s->kind != K_TIME || !ret)
                return -EINVAL;
        *ret = s->time.usec;
        return 0;
}

int rk_source_set_io_events(rk_source *s, uint32_t events) {
        int r;

        if (!s || s->kind != K_IO || (events & ~IO_EVENTS))
                return -EINVAL;
        if (!s->loop)
                return -ESTALE;
        if (s->enabled != RK_SOURCE_OFF && events != s->io.events) {
                /* EPOLLEXCLUSIVE cannot be modified, only added */
                if ((events | s->io.events) & EPOLLEXCLUSIVE) {
                        epoll_del(s->loop, s->io.fd);
                        r = epoll_set(s->loop, EPOLL_CTL_ADD, s->io.fd, events, s);
                        if (r < 0) /* keep watching as before */
                                (void) epoll_set(s->loop, EPOLL_CTL_ADD, s->io.fd, s->io.events, s);
                } else
                        r = epoll_set(s->loop, EPOLL_CTL_MOD, s->io.fd, events, s);
                if (r < 0)
                        return r;
        }
        s->io.events = events;
        return 0;
}

int rk_source_get_io_fd(rk_source *s) {
        return s && s->kind == K_IO ? s->io.fd : -EINVAL;
}

int rk_source_set_priority(rk_source *s, int64_t priority) {
        if (!s)
                return -EINVAL;
        if (!s->loop)
                return -ESTALE;
        s->priority = priority;
        return 0;
}

void *rk_source_get_userdata(rk_source *s) {
        return s ? s->userdata : NULL;
}

rk_loop *rk_source_get_loop(rk_source *s) {
        return s ? s->loop : NULL;
}

/* ---- 8. one iteration ----------------------------------------------------- */

static void mark(rk_loop *l, rk_source *s) {
        if (s->pending)
                return;
        assert(l->n_pending < l->cap_pending); /* reserved by prepare() */
        s->pending = true;
        s->queued = true;
        s->order = l->n_pending;
        l->pending[l->n_pending++] = s;
}

/* Marks every expired timer below heap index i: O(expired), not O(n). */
static void timers_expire(rk_loop *l, size_t i, uint64_t now) {
        if (i >= l->n_heap || l->heap[i]->time.usec > now)
                return;
        mark(l, l->heap[i]);
        timers_expire(l, 2 * i + 1, now);
        timers_expire(l, 2 * i + 2, now);
}

static int cmp_deadline(const void *a, const void *b) {
        const rk_source *x = *(rk_source *const *) a, *y = *(rk_source *const *) b;
        return heap_less(x, y) ? -1 : heap_less(y, x) ? 1 : 0;
}

static int cmp_dispatch(const void *a, const void *b) {
        const rk_source *x = *(rk_source *const *) a, *y = *(rk_source *const *) b;
        if (x->priority != y->priority)
                return x->priority < y->priority ? -1 : 1;
        return x->order < y->order ? -1 : x->order > y->order ? 1 : 0;
}

static void child_reap(rk_loop *l, rk_source *s) {
        siginfo_t si = {};

        if (waitid((idtype_t) P_PIDFD, (id_t) s->child.pidfd, &si, WEXITED | WNOHANG) < 0) {
                /* reaped behind our back: nothing will ever come */
                s->child.exited = true;
                source_disable(s);
                return;
        }
        if (si.si_pid == 0)
                return; /* readable without an exit: wait on */
        s->child.info = si;
        s->child.exited = true;
        mark(l, s);
}

static void process(rk_loop *l, const struct epoll_event *evs, int n) {
        size_t first_timer;

        for (int i = 0; i < n; i++) {
                void *p = evs[i].data.ptr;
                rk_source *s = p;

                if (p == &l->timer_fd)
                        timer_drain(l);
                else if (p == &l->signal_fd)
                        signal_read(l);
                else if (s->kind == K_IO) {
                        s->io.revents = evs[i].events;
                        mark(l, s);
                } else
                        child_reap(l, s);
        }
        first_timer = l->n_pending;
        if (l->n_heap > 0)
                timers_expire(l, 0, rk_now());
        qsort(l->pending + first_timer, l->n_pending - first_timer, sizeof(rk_source *), cmp_deadline);
        for (size_t i = first_timer; i < l->n_pending; i++)
                l->pending[i]->order = i;
        for (rk_source *s = l->defers; s; s = s->dnext)
                mark(l, s);
}

static int call(rk_source *s) {
        switch (s->kind) {
        case K_IO:
                return s->io.cb(s, s->io.fd, s->io.revents, s->userdata);
        case K_TIME:
                return s->time.cb(s, s->time.usec, s->userdata);
        case K_SIGNAL:
                return s->signal.cb(s, &s->signal.info, s->userdata);
        case K_CHILD:
                return s->child.cb(s, &s->child.info, s->userdata);
        case K_DEFER:
        case K_EXIT:
                return s->defer.cb(s, s->userdata);
        }
        return -EINVAL;
}

static void dispatch_one(rk_source *s) {
        int r;

        s->pending = false;
        /* an exited child cannot fire again */
        if (s->enabled == RK_SOURCE_ONESHOT || s->kind == K_CHILD)
                source_disable(s);
        r = call(s);
        if (s->n_ref == 0)
                return; /* the callback dropped the last reference */
        if (r < 0)
                source_disable(s);
        source_release_floating(s);
}

/* Dispatches loop->pending in priority order; returns 1 if a callback ran. */
static int dispatch(rk_loop *l) {
        int dispatched = 0;

        qsort(l->pending, l->n_pending, sizeof(rk_source *), cmp_dispatch);
        for (size_t i = 0; i < l->n_pending; i++) {
                rk_source *s = l->pending[i];

                if (s->pending && s->loop && (l->state == STATE_RUNNING || s->kind == K_EXIT)) {
                        dispatch_one(s);
                        dispatched = 1;
                }
                s->pending = false;
                s->queued = false;
                if (s->n_ref == 0)
                        free(s);
        }
        l->n_pending = 0;
        return dispatched;
}

static int prepare(rk_loop *l) {
        if (grow(&l->pending, &l->cap_pending, l->n_sources) < 0)
                return -ENOMEM;
        return timer_arm(l, true);
}

static int timeout_ms(rk_loop *l, uint64_t usec) {
        if (l->n_defers > 0)
                return 0;
        if (usec == RK_LOOP_INFINITY)
                return -1;
        return usec / 1000 >= INT_MAX ? INT_MAX : (int) ((usec + 999) / 1000);
}

static int run_once(rk_loop *l, uint64_t timeout_usec) {
        struct epoll_event evs[MAX_EVENTS];
        int n, r;

        r = prepare(l);
        if (r < 0)
                return r;
        n = epoll_wait(l->epoll_fd, evs, MAX_EVENTS, timeout_ms(l, timeout_usec));
        if (n < 0)
                return errno == EINTR ? 0 : -errno;
        process(l, evs, n);
        r = dispatch(l);
        /* leave the loop fd truthful for a caller nesting us (loop.h) */
        (void) timer_arm(l, true);
        return r;
}

static int run_exit(rk_loop *l) {
        int r;

        if (grow(&l->pending, &l->cap_pending, l->n_sources) < 0)
                return -ENOMEM;
        for (rk_source *s = l->sources; s; s = s->next)
                if (s->kind == K_EXIT && s->enabled != RK_SOURCE_OFF) {
                        mark(l, s);
                        s->order = s->seq;
                }
        r = dispatch(l);
        l->state = STATE_FINISHED;
        return r;
}

int rk_loop_run(rk_loop *l, uint64_t timeout_usec) {
        int r;

        if (!l)
                return -EINVAL;
        if (l->in_run)
                return -EBUSY;
        if (l->state == STATE_FINISHED)
                return -ESTALE;
        rk_loop_ref(l);
        l->in_run = true;
        r = l->state == STATE_EXITING ? run_exit(l) : run_once(l, timeout_usec);
        l->in_run = false;
        rk_loop_unref(l);
        return r;
}

int rk_loop_loop(rk_loop *l) {
        int r = 0;

        if (!l)
                return -EINVAL;
        if (l->in_run)
                return -EBUSY;
        if (l->state == STATE_FINISHED)
                return -ESTALE;
        rk_loop_ref(l);
        while (l->state != STATE_FINISHED && r >= 0)
                r = rk_loop_run(l, RK_LOOP_INFINITY);
        if (r >= 0)
                r = l->exit_code;
        rk_loop_unref(l);
        return r;
}

int rk_loop_exit(rk_loop *l, int code) {
        if (!l)
                return -EINVAL;
        if (l->state == STATE_FINISHED)
                return -ESTALE;
        l->state = STATE_EXITING;
        l->exit_code = code;
        return 0;
}

/* ---- 9. the loop object --------------------------------------------------- */

int rk_loop_new(rk_loop **ret) {
        rk_loop *l;

        if (!ret)
                return -EINVAL;
        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->n_ref = 1;
        l->signal_fd = -EBADF;
        sigemptyset(&l->sigmask);
        l->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        l->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (l->epoll_fd < 0 || l->timer_fd < 0 ||
            epoll_set(l, EPOLL_CTL_ADD, l->timer_fd, EPOLLIN, &l->timer_fd) < 0) {
                int r = -errno;
                rk_loop_unref(l);
                return r;
        }
        *ret = l;
        return 0;
}

rk_loop *rk_loop_ref(rk_loop *l) {
        if (l) {
                assert(l->n_ref > 0);
                l->n_ref++;
        }
        return l;
}

static void loop_free(rk_loop *l) {
        assert(!l->in_run);
        /* only floating (or once floating) sources are left: see invariant 7 */
        while (l->sources) {
                rk_source *s = l->sources;
                bool floating = s->floating;

                assert(!s->holds_loop);
                source_disconnect(s);
                if (floating) {
                        s->floating = false;
                        if (--s->n_ref == 0)
                                free(s);
                }
        }
        if (l->epoll_fd >= 0)
                close(l->epoll_fd);
        if (l->timer_fd >= 0)
                close(l->timer_fd);
        if (l->signal_fd >= 0)
                close(l->signal_fd);
        free(l->heap);
        free(l->pending);
        free(l);
}

rk_loop *rk_loop_unref(rk_loop *l) {
        if (!l)
                return NULL;
        assert(l->n_ref > 0);
        if (--l->n_ref == 0)
                loop_free(l);
        return NULL;
}

int rk_loop_get_fd(rk_loop *l) {
        return l ? l->epoll_fd : -EINVAL;
}
