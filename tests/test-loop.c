/* SPDX-License-Identifier: MIT */
/*
 * The event loop: io readiness, timers (order, re-arming, 10k of them),
 * oneshot and priorities, signals, child exits (also through stop and
 * continue), defer and exit sources, unref from inside callbacks, floating
 * sources, nesting through rk_loop_get_fd(), argument checks.  Run under
 * ASan this also proves that freed sources are not touched again.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shared/loop.h"
#include "shared/macro.h"
#include "test.h"

extern char **environ;

#define MSEC 1000u

/* A log of which callbacks ran, in order: each appends its tag. */
typedef struct trace {
        int tags[64];
        size_t n;
} trace;

static void trace_add(trace *t, int tag) {
        if (t->n < ELEMENTSOF(t->tags))
                t->tags[t->n++] = tag;
}

typedef struct tagged {
        trace *t;
        int tag;
} tagged;

static int on_defer_tag(rk_source *s, void *ud) {
        tagged *x = ud;
        trace_add(x->t, x->tag);
        return 0;
}

static int on_time_tag(rk_source *s, uint64_t usec, void *ud) {
        tagged *x = ud;
        trace_add(x->t, x->tag);
        return 0;
}

static int on_io_count(rk_source *s, int fd, uint32_t revents, void *ud) {
        int *n = ud;
        (*n)++;
        return 0;
}

static int on_defer_count(rk_source *s, void *ud) {
        int *n = ud;
        (*n)++;
        return 0;
}

static int make_pipe(int p[2]) {
        return pipe2(p, O_CLOEXEC | O_NONBLOCK);
}

static int count_fds(void) {
        int n = 0;
        for (int fd = 0; fd < 1024; fd++)
                if (fcntl(fd, F_GETFD) >= 0)
                        n++;
        return n;
}

TEST(args) {
        _cleanup_(rk_loop_unrefp) rk_loop *l = NULL;
        _cleanup_(rk_source_unrefp) rk_source *a = NULL, *b = NULL, *t = NULL;
        int p[2], file, n = 0;

        CHECK_INTEQ(rk_loop_new(NULL), -EINVAL);
        ASSERT(rk_loop_new(&l) == 0);
        CHECK(rk_loop_get_fd(l) >= 0);
        CHECK_INTEQ(rk_loop_get_fd(NULL), -EINVAL);
        CHECK_INTEQ(rk_loop_run(NULL, 0), -EINVAL);
        CHECK_INTEQ(rk_loop_exit(NULL, 0), -EINVAL);
        CHECK_INTEQ(rk_loop_add_defer(l, NULL, NULL, NULL), -EINVAL);
        CHECK_INTEQ(rk_loop_add_time(NULL, NULL, 0, on_time_tag, NULL), -EINVAL);
        CHECK_INTEQ(rk_loop_add_io(l, NULL, -1, EPOLLIN, on_io_count, NULL), -EINVAL);
        CHECK_INTEQ(rk_loop_add_io(l, NULL, 0, EPOLLET, on_io_count, NULL), -EINVAL);
        CHECK_INTEQ(rk_loop_add_signal(l, NULL, SIGKILL, NULL, NULL), -EINVAL);
        CHECK_INTEQ(rk_loop_add_child(l, NULL, 0, -EBADF, NULL, NULL), -EINVAL);
        CHECK_INTEQ(rk_source_set_enabled(NULL, RK_SOURCE_ON), -EINVAL);
        CHECK_INTEQ(rk_source_get_enabled(NULL), -EINVAL);
        CHECK(rk_source_unref(NULL) == NULL);
        CHECK(rk_loop_unref(NULL) == NULL);

        ASSERT(make_pipe(p) == 0);
        ASSERT(rk_loop_add_io(l, &a, p[0], EPOLLIN, on_io_count, &n) == 0);
        /* one enabled watcher per fd: epoll refuses a second */
        CHECK_INTEQ(rk_loop_add_io(l, &b, p[0], EPOLLIN, on_io_count, &n), -EEXIST);
        CHECK(b == NULL);
        CHECK_INTEQ(rk_source_set_enabled(a, 7), -EINVAL);
        CHECK_INTEQ(rk_source_set_time(a, 0), -EINVAL);
        CHECK_INTEQ(rk_source_set_io_events(a, EPOLLET), -EINVAL);
        CHECK_INTEQ(rk_source_get_io_fd(a), p[0]);
        CHECK(rk_source_get_userdata(a) == &n);
        CHECK(rk_source_get_loop(a) == l);
        CHECK_INTEQ(rk_source_get_enabled(a), RK_SOURCE_ON);
        ASSERT(rk_loop_add_time(l, &t, 0, on_time_tag, NULL) == 0);
        CHECK_INTEQ(rk_source_get_io_fd(t), -EINVAL);
        CHECK_INTEQ(rk_source_set_io_events(t, EPOLLIN), -EINVAL);
        CHECK_INTEQ(rk_source_get_enabled(t), RK_SOURCE_ONESHOT);
        CHECK_INTEQ(rk_source_set_enabled(t, RK_SOURCE_OFF), 0);

        /* regular files cannot be polled */
        file = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
        ASSERT(file >= 0);
        CHECK_INTEQ(rk_loop_add_io(l, NULL, file, EPOLLIN, on_io_count, NULL), -EPERM);
        close(file);
        a = rk_source_unref(a);
        close(p[0]);
        close(p[1]);
}

typedef struct io_seen {
        int n, fd;
        uint32_t revents;
} io_seen;

static int on_io_seen(rk_source *s, int fd, uint32_t revents, void *ud) {
        io_seen *x = ud;
        char buf[16];
        x->n++;
        x->fd = fd;
        x->revents = revents;
        while (read(fd, buf, sizeof(buf)) > 0)
                ;
        return 0;
}

TEST(io_pipe) {
        _cleanup_(rk_loop_unrefp) rk_loop *l = NULL;
        _cleanup_(rk_source_unrefp) rk_source *r = NULL, *w = NULL;
        io_seen rs = {}, ws = {};
        int p[2];

        ASSERT(rk_loop_new(&l) == 0);
        ASSERT(make_pipe(p) == 0);
        ASSERT(rk_loop_add_io(l, &r, p[0], EPOLLIN, on_io_seen, &rs) == 0);
        CHECK_INTEQ(rk_loop_run(l, 0), 0);
        CHECK_INTEQ(rs.n, 0);

        CHECK(write(p[1], "x", 1) == 1);
        CHECK_INTEQ(rk_loop_run(l, RK_LOOP_INFINITY), 1);
        CHECK_INTEQ(rs.n, 1);
        CHECK_INTEQ(rs.fd, p[0]);
        CHECK(rs.revents & EPOLLIN);
        /* drained: nothing more */
        CHECK_INTEQ(rk_loop_run(l, 5 * MSEC), 0);
        CHECK_INTEQ(rs.n, 1);

        /* the write end is writable; switch it from nothing to EPOLLOUT */
        ASSERT(rk_loop_add_io(l, &w, p[1], 0, on_io_seen, &ws) == 0);
        CHECK_INTEQ(rk_loop_run(l, 0), 0);
        CHECK_INTEQ(rk_source_set_io_events(w, EPOLLOUT), 0);
        CHECK_INTEQ(rk_loop_run(l, 0), 1);
        CHECK_INTEQ(ws.n, 1);
        CHECK(ws.revents & EPOLLOUT);
        w = rk_source_unref(w);

        /* closing the write end: EPOLLHUP, reported although not asked for */
        close(p[1]);
        CHECK_INTEQ(rk_loop_run(l, RK_LOOP_INFINITY), 1);
        CHECK_INTEQ(rs.n, 2);
        CHECK(rs.revents & EPOLLHUP);
        r = rk_source_unref(r);
        close(p[0]);
}

/* EPOLLEXCLUSIVE: accepted, delivered, and changeable (epoll refuses to MOD it: the loop deletes and adds) */
TEST(io_exclusive) {
        _cleanup_(rk_loop_unrefp) rk_loop *l = NULL;
        _cleanup_(rk_source_unrefp) rk_source *r = NULL;
        io_seen rs = {};
        int p[2];

        ASSERT(rk_loop_new(&l) == 0);
        ASSERT(make_pipe(p) == 0);
        ASSERT(rk_loop_add_io(l, &r, p[0], EPOLLIN | EPOLLEXCLUSIVE, on_io_seen, &rs) == 0);
        CHECK(write(p[1], "x", 1) == 1);
        CHECK_INTEQ(rk_loop_run(l, 1000 * MSEC), 1);
        CHECK_INTEQ(rs.n, 1);
        CHECK(rs.revents & EPOLLIN);
        CHECK_INTEQ(rk_source_set_io_events(r, EPOLLIN), 0);
        CHECK(write(p[1], "x", 1) == 1);
        CHECK_INTEQ(rk_loop_run(l, 1000 * MSEC), 1);
        CHECK_INTEQ(rs.n, 2);
        CHECK_INTEQ(rk_source_set_io_events(r, EPOLLIN | EPOLLEXCLUSIVE), 0);
        CHECK(write(p[1], "x", 1) == 1);
        CHECK_INTEQ(rk_loop_run(l, 1000 * MSEC), 1);
        CHECK_INTEQ(rs.n, 3);
        r = rk_source_unref(r);
        close(p[0]);
        close(p[1]);
}

static bool spin_three(void *ud) {
        return ++*(int *) ud < 3;
}

static bool spin_forever(void *ud) {
        ++*(int *) ud;
        return true;
}

/* rk_spin: stops when the step has nothing left, or when the time is up; 0 makes no call */
TEST(spin) {
        int n = 0;
        uint64_t t0;

        rk_spin(0, spin_three, &n);
        CHECK_INTEQ(n, 0);
        rk_spin(1000 * MSEC, spin_three, &n);
        CHECK_INTEQ(n, 3);
        n = 0;
        t0 = rk_now();
        rk_spin(2 * MSEC, spin_forever, &n);
        CHECK(rk_now() - t0 >= 2 * MSEC);
        CHECK(n >= 1);
}

TEST(timers_order) {
        _cleanup_(rk_loop_unrefp) rk_loop *l = NULL;
        static const int offsets[] = { 50, 10, 30, 20, 40 };
        rk_source *s[ELEMENTSOF(offsets) + 2] = {};
        tagged tags[ELEMENTSOF(s)];
        uint64_t now = rk_now(), u = 0;
        trace t = {};

        ASSERT(rk_loop_new(&l) == 0);
        for (size_t i = 0; i < ELEMENTSOF(offsets); i++) {
                tags[i] = (tagged){ &t, offsets[i] };
                ASSERT(rk_loop_add_time(l, &s[i], now + (uint64_t) offsets[i] * MSEC, on_time_tag,
                                        &tags[i]) == 0);
        }
        /* equal deadlines: creation order */
        tags[5] = (tagged){ &t, 61 };
        tags[6] = (tagged){ &t, 62 };
        ASSERT(rk_loop_add_time(l, &s[5], now + 60 * MSEC, on_time_tag, &tags[5]) == 0);
        ASSERT(rk_loop_add_time(l, &s[6], now + 60 * MSEC, on_time_tag, &tags[6]) == 0);
        CHECK(rk_source_get_time(s[0], &u) == 0 && u == now + 50 * MSEC);

        while (t.n < 7 && rk_now() < now + 2000 * MSEC)
                CHECK(rk_loop_run(l, RK_LOOP_INFINITY) >= 0);
        CHECK_INTEQ(t.n, 7);
        for (size_t i = 0; i + 1 < t.n; i++)
                CHECK(t.tags[i] < t.tags[i + 1]);
        CHECK(rk_now() >= now + 60 * MSEC);
        for (size_t i = 0; i < ELEMENTSOF(s); i++) {
                CHECK_INTEQ(rk_source_get_enabled(s[i]), RK_SOURCE_OFF);
                rk_source_unref(s[i]);
        }
}

typedef struct rearm {
        int n;
        bool late;
} rearm;

static int on_time_rearm(rk_source *s, uint64_t usec, void *ud) {
        rearm *x = ud;
        if (rk_now() < usec)
                x->late = true; /* fired early: would be a bug */
        if (++x->n < 5) {
                rk_source_set_time(s, rk_now() + 2 * MSEC);
                rk_source_set_enabled(s, RK_SOURCE_ONESHOT);
        }
        return 0;
}

TEST(timer_rearm) {
        _cleanup_(rk_loop_unrefp) rk_loop *l = NULL;
        _cleanup_(rk_source_unrefp) rk_source *s = NULL;
        rearm x = {};
        uint64_t start = rk_now();

        ASSERT(rk_loop_new(&l) == 0);
        ASSERT(rk_loop_add_time(l, &s, rk_now() + 2 * MSEC, on_time_rearm, &x) == 0);
        while (rk_source_get_enabled(s) != RK_SOURCE_OFF && rk_now() < start + 2000 * MSEC)
                CHECK(rk_loop_run(l, RK_LOOP_INFINITY) >= 0);
        CHECK_INTEQ(x.n, 5);
        CHECK(!x.late);
        CHECK(rk_now() >= start + 10 * MSEC);
}

TEST(timer_on_and_moves) {
        _cleanup_(rk_loop_unrefp) rk_loop *l = NULL;
        _cleanup_(rk_source_unrefp) rk_source *s = NULL;
        tagged tag;
        trace t = {};

        ASSERT(rk_loop_new(&l) == 0);
        tag = (tagged){ &t, 1 };
        /* ON with a past deadline: fires on every iteration */
        ASSERT(rk_loop_add_time(l, &s, 0, on_time_tag, &tag) == 0);
        CHECK_INTEQ(rk_source_set_enabled(s, RK_SOURCE_ON), 0);
        for (int i = 0; i < 3; i++)
                CHECK_INTEQ(rk_loop_run(l, 0), 1);
        CHECK_INTEQ(t.n, 3);
        /* moved into the future: quiet until then */
        CHECK_INTEQ(rk_source_set_time(s, rk_now() + 1000 * MSEC), 0);
        CHECK_INTEQ(rk_loop_run(l, 5 * MSEC), 0);
        CHECK_INTEQ(t.n, 3);
        /* disabled, then moved back into the past: nothing */
        CHECK_INTEQ(rk_source_set_enabled(s, RK_SOURCE_OFF), 0);
        CHECK_INTEQ(rk_source_set_time(s, 1), 0);
        CHECK_INTEQ(rk_loop_run(l, 5 * MSEC), 0);
        CHECK_INTEQ(t.n, 3);
        CHECK_INTEQ(rk_source_set_enabled(s, RK_SOURCE_ONESHOT), 0);
        CHECK_INTEQ(rk_loop_run(l, RK_LOOP_INFINITY), 1);
        CHECK_INTEQ(t.n, 4);
        CHECK_INTEQ(rk_loop_run(l, 5 * MSEC), 0);
        CHECK_INTEQ(t.n, 4);
}

TEST(oneshot_io) {
        _cleanup_(rk_loop_unrefp) rk_loop *l = NULL;
        _cleanup_(rk_source_unrefp) rk_source *s = NULL;
        int p[2], n = 0;

        ASSERT(rk_loop_new(&l) == 0);
        ASSERT(make_pipe(p) == 0);
        CHECK(write(p[1], "x", 1) == 1);
        ASSERT(rk_loop_add_io(l, &s, p[0], EPOLLIN, on_io_count, &n) == 0);
        CHECK_INTEQ(rk_source_set_enabled(s, RK_SOURCE_ONESHOT), 0);
        CHECK_INTEQ(rk_loop_run(l, 0), 1);
        /* still readable, but the source went OFF */
        CHECK_INTEQ(rk_loop_run(l, 0), 0);
        CHECK_INTEQ(n, 1);
        CHECK_INTEQ(rk_source_get_enabled(s), RK_SOURCE_OFF);
        CHECK_INTEQ(rk_source_set_enabled(s, RK_SOURCE_ONESHOT), 0);
        CHECK_INTEQ(rk_loop_run(l, 0), 1);
        CHECK_INTEQ(n, 2);
        s = rk_source_unref(s);
        close(p[0]);
        close(p[1]);
}

TEST(priorities) {
        _cleanup_(rk_loop_unrefp) rk_loop *l = NULL;
        static const int64_t prio[] = { 10, -5, 0, 3, -100 };
        rk_source *s[ELEMENTSOF(prio)], *tm[2];
        tagged tags[ELEMENTSOF(prio)], ttags[2];
        int p[2];
        trace t = {};

        ASSERT(rk_loop_new(&l) == 0);
        ASSERT(make_pipe(p) == 0);
        CHECK(write(p[1], "x", 1) == 1);
        /* mixed types, all pending in the same iteration */
        for (size_t i = 0; i < ELEMENTSOF(prio); i++) {
                tags[i] = (tagged){ &t, (int) prio[i] };
                if (i == 0)
                        ASSERT(rk_loop_add_io(l, &s[i], p[0], EPOLLIN, on_io_count, &(int){ 0 }) == 0);
                else
                        ASSERT(rk_loop_add_defer(l, &s[i], on_defer_tag, &tags[i]) == 0);
                CHECK_INTEQ(rk_source_set_priority(s[i], prio[i]), 0);
        }
        /* the io source (prio 10) does not trace; timers at prio 5 and 4 */
        ttags[0] = (tagged){ &t, 5 };
        ttags[1] = (tagged){ &t, 4 };
        ASSERT(rk_loop_add_time(l, &tm[0], 0, on_time_tag, &ttags[0]) == 0);
        ASSERT(rk_loop_add_time(l, &tm[1], 0, on_time_tag, &ttags[1]) == 0);
        CHECK_INTEQ(rk_source_set_priority(tm[0], 5), 0);
        CHECK_INTEQ(rk_source_set_priority(tm[1], 4), 0);
        CHECK_INTEQ(rk_loop_run(l, 0), 1);
        ASSERT(t.n == 6);
        CHECK_INTEQ(t.tags[0], -100);
        CHECK_INTEQ(t.tags[1], -5);
        CHECK_INTEQ(t.tags[2], 0);
        CHECK_INTEQ(t.tags[3], 3);
        CHECK_INTEQ(t.tags[4], 4);
        CHECK_INTEQ(t.tags[5], 5);
        for (size_t i = 0; i < ELEMENTSOF(prio); i++)
                rk_source_unref(s[i]);
        rk_source_unref(tm[0]);
        rk_source_unref(tm[1]);
        close(p[0]);
        close(p[1]);
}

typedef struct sig_seen {
        int n, signo;
        pid_t pid;
} sig_seen;

static int on_signal(rk_source *s, const struct signalfd_siginfo *si, void *ud) {
        sig_seen *x = ud;
        x->n++;
        x->signo = (int) si->ssi_signo;
        x->pid = (pid_t) si->ssi_pid;
        return 0;
}

TEST(signals) {
        _cleanup_(rk_loop_unrefp) rk_loop *l = NULL;
        _cleanup_(rk_source_unrefp) rk_source *s1 = NULL, *s2 = NULL;
        sig_seen x1 = {}, x2 = {};
        sigset_t cur;

        ASSERT(rk_loop_new(&l) == 0);
        ASSERT(rk_loop_add_signal(l, &s1, SIGUSR1, on_signal, &x1) == 0);
        CHECK_INTEQ(rk_loop_add_signal(l, NULL, SIGUSR1, on_signal, &x1), -EBUSY);
        /* the loop blocked it for us */
        ASSERT(pthread_sigmask(SIG_SETMASK, NULL, &cur) == 0);
        CHECK(sigismember(&cur, SIGUSR1) == 1);

        CHECK(raise(SIGUSR1) == 0);
        CHECK_INTEQ(rk_loop_run(l, RK_LOOP_INFINITY), 1);
        CHECK_INTEQ(x1.n, 1);
        CHECK_INTEQ(x1.signo, SIGUSR1);
        CHECK_INTEQ(x1.pid, getpid());

        /* disabled: the signal stays pending, delivered when re-enabled */
        CHECK_INTEQ(rk_source_set_enabled(s1, RK_SOURCE_OFF), 0);
        CHECK(raise(SIGUSR1) == 0);
        CHECK_INTEQ(rk_loop_run(l, 10 * MSEC), 0);
        CHECK_INTEQ(x1.n, 1);
        CHECK_INTEQ(rk_source_set_enabled(s1, RK_SOURCE_ON), 0);
        CHECK_INTEQ(rk_loop_run(l, RK_LOOP_INFINITY), 1);
        CHECK_INTEQ(x1.n, 2);

        /* two signals at once: both arrive */
        ASSERT(rk_loop_add_signal(l, &s2, SIGUSR2, on_signal, &x2) == 0);
        CHECK(raise(SIGUSR1) == 0);
        CHECK(raise(SIGUSR2) == 0);
        for (int i = 0; i < 4 && (x1.n < 3 || x2.n < 1); i++)
                CHECK(rk_loop_run(l, 100 * MSEC) >= 0);
        CHECK_INTEQ(x1.n, 3);
        CHECK_INTEQ(x2.n, 1);
        CHECK_INTEQ(x2.signo, SIGUSR2);

        /* after the source goes, the signal can have a new one */
        s2 = rk_source_unref(s2);
        ASSERT(rk_loop_add_signal(l, &s2, SIGUSR2, on_signal, &x2) == 0);
}

typedef struct child_seen {
        int n;
        siginfo_t si;
} child_seen;

static int on_child(rk_source *s, const siginfo_t *si, void *ud) {
        child_seen *x = ud;
        x->n++;
        x->si = *si;
        return 0;
}

static pid_t spawn(const char *const argv[]) {
        pid_t pid;
        if (posix_spawn(&pid, argv[0], NULL, NULL, (char *const *) argv, environ) != 0)
                return -1;
        return pid;
}

static void run_child(const char *const argv[], int kill_with, int want_code, int want_status) {
        _cleanup_(rk_loop_unrefp) rk_loop *l = NULL;
        _cleanup_(rk_source_unrefp) rk_source *s = NULL;
        child_seen x = {};
        pid_t pid;

        ASSERT(rk_loop_new(&l) == 0);
        pid = spawn(argv);
        ASSERT(pid > 0);
        ASSERT(rk_loop_add_child(l, &s, pid, -EBADF, on_child, &x) == 0);
        if (kill_with)
                CHECK(kill(pid, kill_with) == 0);
        for (uint64_t end = rk_now() + 5000 * MSEC; x.n == 0 && rk_now() < end;)
                CHECK(rk_loop_run(l, 100 * MSEC) >= 0);
        CHECK_INTEQ(x.n, 1);
        CHECK_INTEQ(x.si.si_pid, pid);
        CHECK_INTEQ(x.si.si_code, want_code);
        CHECK_INTEQ(x.si.si_status, want_status);
        /* reaped by the loop */
        CHECK(waitpid(pid, NULL, WNOHANG) < 0 && errno == ECHILD);
        /* an exited child source stays off */
        CHECK_INTEQ(rk_source_get_enabled(s), RK_SOURCE_OFF);
        CHECK_INTEQ(rk_source_set_enabled(s, RK_SOURCE_ON), -ECHILD);
}

TEST(child_exit) {
        run_child((const char *const[]){ "/bin/true", NULL }, 0, CLD_EXITED, 0);
        run_child((const char *const[]){ "/bin/sh", "-c", "exit 7", NULL }, 0, CLD_EXITED, 7);
        run_child((const char *const[]){ "/bin/sleep", "10", NULL }, SIGKILL, CLD_KILLED, SIGKILL);
}

TEST(child_stop_continue) {
        _cleanup_(rk_loop_unrefp) rk_loop *l = NULL;
        _cleanup_(rk_source_unrefp) rk_source *s = NULL;
        child_seen x = {};
        int pidfd;
        pid_t pid;

        ASSERT(rk_loop_new(&l) == 0);
        pid = spawn((const char *const[]){ "/bin/sleep", "10", NULL });
        ASSERT(pid > 0);
        /* our own pidfd: the loop duplicates it, we keep ours */
        pidfd = pidfd_open(pid, 0);
        ASSERT(pidfd >= 0);
        ASSERT(rk_loop_add_child(l, &s, pid, pidfd, on_child, &x) == 0);
        CHECK(kill(pid, SIGSTOP) == 0);
        CHECK_INTEQ(rk_loop_run(l, 50 * MSEC), 0);
        CHECK(kill(pid, SIGCONT) == 0);
        CHECK_INTEQ(rk_loop_run(l, 50 * MSEC), 0);
        CHECK_INTEQ(x.n, 0);
        CHECK(pidfd_send_signal(pidfd, SIGTERM, NULL, 0) == 0);
        for (uint64_t end = rk_now() + 5000 * MSEC; x.n == 0 && rk_now() < end;)
                CHECK(rk_loop_run(l, 100 * MSEC) >= 0);
        CHECK_INTEQ(x.n, 1);
        CHECK_INTEQ(x.si.si_code, CLD_KILLED);
        CHECK_INTEQ(x.si.si_status, SIGTERM);
        CHECK(fcntl(pidfd, F_GETFD) >= 0);
        close(pidfd);
}

TEST(child_not_ours) {
        _cleanup_(rk_loop_unrefp) rk_loop *l = NULL;
        child_seen x = {};
        pid_t pid;

        ASSERT(rk_loop_new(&l) == 0);
        CHECK_INTEQ(rk_loop_add_child(l, NULL, 1, -EBADF, on_child, &x), -ECHILD);
        /* already reaped */
        pid = spawn((const char *const[]){ "/bin/true", NULL });
        ASSERT(pid > 0);
        CHECK(waitpid(pid, NULL, 0) == pid);
        CHECK(rk_loop_add_child(l, NULL, pid, -EBADF, on_child, &x) < 0);
}

static int on_defer_three(rk_source *s, void *ud) {
        int *n = ud;
        if (++*n == 3)
                rk_source_set_enabled(s, RK_SOURCE_OFF);
        return 0;
}

TEST(defer) {
        _cleanup_(rk_loop_unrefp) rk_loop *l = NULL;
        _cleanup_(rk_source_unrefp) rk_source *on = NULL;
        int once = 0, three = 0, floating = 0;

        ASSERT(rk_loop_new(&l) == 0);
        ASSERT(rk_loop_add_defer(l, NULL, on_defer_count, &floating) == 0);
        ASSERT(rk_loop_add_defer(l, &on, on_defer_three, &three) == 0);
        CHECK_INTEQ(rk_source_set_enabled(on, RK_SOURCE_ON), 0);
        /* a defer source means no waiting, even with an infinite timeout */
        for (int i = 0; i < 3; i++)
                CHECK_INTEQ(rk_loop_run(l, RK_LOOP_INFINITY), 1);
        CHECK_INTEQ(floating, 1);
        CHECK_INTEQ(three, 3);
        CHECK_INTEQ(once, 0);
        CHECK_INTEQ(rk_loop_run(l, 0), 0);
}

typedef struct exit_ctx {
        rk_loop *l;
        trace t;
} exit_ctx;

static int on_time_exit(rk_source *s, uint64_t usec, void *ud) {
        exit_ctx *x = ud;
        trace_add(&x->t, 100);
        rk_loop_exit(x->l, 42);
        return 0;
}

static int on_time_never(rk_source *s, uint64_t usec, void *ud) {
        exit_ctx *x = ud;
        trace_add(&x->t, 999);
        return 0;
}

static int on_exit_1(rk_source *s, void *ud) {
        trace_add(&((exit_ctx *) ud)->t, 1);
        return 0;
}

static int on_exit_2(rk_source *s, void *ud) {
        trace_add(&((exit_ctx *) ud)->t, 2);
        return 0;
}

TEST(exit_sources) {
        _cleanup_(rk_loop_unrefp) rk_loop *l = NULL;
        rk_source *e1 = NULL, *e2 = NULL, *off = NULL;
        exit_ctx x = {};
        uint64_t now = rk_now();

        ASSERT(rk_loop_new(&l) == 0);
        x.l = l;
        ASSERT(rk_loop_add_exit(l, &e2, on_exit_2, &x) == 0);
        ASSERT(rk_loop_add_exit(l, &e1, on_exit_1, &x) == 0);
        ASSERT(rk_loop_add_exit(l, &off, on_exit_2, &x) == 0);
        CHECK_INTEQ(rk_source_set_enabled(off, RK_SOURCE_OFF), 0);
        CHECK_INTEQ(rk_source_set_priority(e2, 2), 0);
        CHECK_INTEQ(rk_source_set_priority(e1, 1), 0);
        /* a floating exit source (priority 0), released after it ran */
        ASSERT(rk_loop_add_exit(l, NULL, on_exit_1, &x) == 0);
        /* same deadline, later in order: not dispatched once exit was asked */
        ASSERT(rk_loop_add_time(l, NULL, now + 5 * MSEC, on_time_exit, &x) == 0);
        ASSERT(rk_loop_add_time(l, NULL, now + 5 * MSEC, on_time_never, &x) == 0);

        CHECK_INTEQ(rk_loop_loop(l), 42);
        ASSERT(x.t.n == 4);
        CHECK_INTEQ(x.t.tags[0], 100);
        CHECK_INTEQ(x.t.tags[1], 1);
        CHECK_INTEQ(x.t.tags[2], 1);
        CHECK_INTEQ(x.t.tags[3], 2);
        /* finished */
        CHECK_INTEQ(rk_loop_run(l, 0), -ESTALE);
        CHECK_INTEQ(rk_loop_loop(l), -ESTALE);
        CHECK_INTEQ(rk_loop_exit(l, 1), -ESTALE);
        CHECK_INTEQ(rk_loop_add_defer(l, NULL, on_defer_count, &(int){ 0 }), -ESTALE);
        rk_source_unref(e1);
        rk_source_unref(e2);
        rk_source_unref(off);
}

TEST(exit_via_run) {
        _cleanup_(rk_loop_unrefp) rk_loop *l = NULL;
        exit_ctx x = {};

        ASSERT(rk_loop_new(&l) == 0);
        ASSERT(rk_loop_add_exit(l, NULL, on_exit_1, &x) == 0);
        CHECK_INTEQ(rk_loop_run(l, 0), 0);
        CHECK_INTEQ(rk_loop_exit(l, 3), 0);
        CHECK_INTEQ(rk_loop_run(l, RK_LOOP_INFINITY), 1);
        CHECK_INTEQ(x.t.n, 1);
        CHECK_INTEQ(rk_loop_run(l, 0), -ESTALE);
}

/* unref from callbacks ------------------------------------------------------ */

typedef struct holder {
        rk_source *self, *other;
        int n;
} holder;

static int on_io_unref_self(rk_source *s, int fd, uint32_t revents, void *ud) {
        holder *h = ud;
        h->n++;
        h->self = rk_source_unref(h->self); /* the last reference */
        return 0;
}

static int on_defer_unref_other(rk_source *s, void *ud) {
        holder *h = ud;
        h->n++;
        h->other = rk_source_unref(h->other);
        return 0;
}

static int on_defer_fail(rk_source *s, void *ud) {
        (*(int *) ud)++;
        return -EIO;
}

TEST(unref_self_in_callback) {
        _cleanup_(rk_loop_unrefp) rk_loop *l = NULL;
        holder h = {};
        int p[2];

        ASSERT(rk_loop_new(&l) == 0);
        ASSERT(make_pipe(p) == 0);
        CHECK(write(p[1], "x", 1) == 1);
        ASSERT(rk_loop_add_io(l, &h.self, p[0], EPOLLIN, on_io_unref_self, &h) == 0);
        CHECK_INTEQ(rk_loop_run(l, 0), 1);
        CHECK_INTEQ(h.n, 1);
        CHECK(h.self == NULL);
        /* gone: the readable pipe no longer dispatches anything */
        CHECK_INTEQ(rk_loop_run(l, 0), 0);
        CHECK_INTEQ(h.n, 1);
        close(p[0]);
        close(p[1]);
}

TEST(unref_other_in_callback) {
        _cleanup_(rk_loop_unrefp) rk_loop *l = NULL;
        _cleanup_(rk_source_unrefp) rk_source *first = NULL;
        holder h = {};
        int victim = 0;

        ASSERT(rk_loop_new(&l) == 0);
        /* both pending in the same iteration; the first frees the second */
        ASSERT(rk_loop_add_defer(l, &first, on_defer_unref_other, &h) == 0);
        ASSERT(rk_loop_add_defer(l, &h.other, on_defer_count, &victim) == 0);
        CHECK_INTEQ(rk_source_set_priority(first, -1), 0);
        CHECK_INTEQ(rk_loop_run(l, 0), 1);
        CHECK_INTEQ(h.n, 1);
        CHECK_INTEQ(victim, 0);
        CHECK(h.other == NULL);
        CHECK_INTEQ(rk_loop_run(l, 0), 0);
}

static int on_defer_toggle_other(rk_source *s, void *ud) {
        holder *h = ud;
        h->n++;
        rk_source_set_enabled(h->other, RK_SOURCE_OFF);
        rk_source_set_enabled(h->other, RK_SOURCE_ONESHOT);
        return 0;
}

TEST(disable_other_in_callback) {
        _cleanup_(rk_loop_unrefp) rk_loop *l = NULL;
        _cleanup_(rk_source_unrefp) rk_source *first = NULL;
        holder h = {};
        int victim = 0;

        ASSERT(rk_loop_new(&l) == 0);
        ASSERT(rk_loop_add_defer(l, &first, on_defer_toggle_other, &h) == 0);
        ASSERT(rk_loop_add_defer(l, &h.other, on_defer_count, &victim) == 0);
        CHECK_INTEQ(rk_source_set_priority(first, -1), 0);
        /* disabled and re-enabled during the iteration: waits for the next */
        CHECK_INTEQ(rk_loop_run(l, 0), 1);
        CHECK_INTEQ(victim, 0);
        CHECK_INTEQ(rk_loop_run(l, 0), 1);
        CHECK_INTEQ(victim, 1);
        rk_source_unref(h.other);
}

static int on_time_move_other(rk_source *s, uint64_t usec, void *ud) {
        holder *h = ud;
        h->n++;
        rk_source_set_time(h->other, rk_now() + 1000 * 1000 * MSEC);
        return 0;
}

TEST(set_time_while_pending) {
        _cleanup_(rk_loop_unrefp) rk_loop *l = NULL;
        _cleanup_(rk_source_unrefp) rk_source *first = NULL;
        holder h = {};
        tagged tag;
        trace t = {};

        ASSERT(rk_loop_new(&l) == 0);
        tag = (tagged){ &t, 1 };
        ASSERT(rk_loop_add_time(l, &first, 1, on_time_move_other, &h) == 0);
        ASSERT(rk_loop_add_time(l, &h.other, 2, on_time_tag, &tag) == 0);
        CHECK_INTEQ(rk_loop_run(l, 0), 1);
        CHECK_INTEQ(h.n, 1);
        CHECK_INTEQ(t.n, 0);
        CHECK_INTEQ(rk_source_get_enabled(h.other), RK_SOURCE_ONESHOT);
        rk_source_unref(h.other);
}

TEST(callback_error_disables) {
        _cleanup_(rk_loop_unrefp) rk_loop *l = NULL;
        _cleanup_(rk_source_unrefp) rk_source *s = NULL;
        int n = 0;

        ASSERT(rk_loop_new(&l) == 0);
        ASSERT(rk_loop_add_defer(l, &s, on_defer_fail, &n) == 0);
        CHECK_INTEQ(rk_source_set_enabled(s, RK_SOURCE_ON), 0);
        CHECK_INTEQ(rk_loop_run(l, 0), 1);
        CHECK_INTEQ(rk_source_get_enabled(s), RK_SOURCE_OFF);
        CHECK_INTEQ(rk_loop_run(l, 0), 0);
        CHECK_INTEQ(n, 1);
}

static int on_defer_drop_loop(rk_source *s, void *ud) {
        rk_loop **lp = ud;
        *lp = rk_loop_unref(*lp);
        return 0;
}

TEST(loop_unref_in_callback) {
        rk_loop *l = NULL;
        int p[2], n = 0;

        ASSERT(rk_loop_new(&l) == 0);
        ASSERT(make_pipe(p) == 0);
        /* floating sources only: they die with the loop (ASan checks) */
        ASSERT(rk_loop_add_io(l, NULL, p[0], EPOLLIN, on_io_count, &n) == 0);
        ASSERT(rk_loop_add_time(l, NULL, RK_LOOP_INFINITY, on_time_tag, NULL) == 0);
        ASSERT(rk_loop_add_defer(l, NULL, on_defer_drop_loop, &l) == 0);
        ASSERT(rk_loop_add_signal(l, NULL, SIGURG, on_signal, NULL) == 0);
        CHECK_INTEQ(rk_loop_run(l, 0), 1);
        CHECK(l == NULL);
        close(p[0]);
        close(p[1]);
}

static int on_io_keep(rk_source *s, int fd, uint32_t revents, void *ud) {
        rk_source **keep = ud;
        if (!*keep)
                *keep = rk_source_ref(s);
        return 0;
}

TEST(floating_outlives_loop) {
        rk_loop *l = NULL;
        rk_source *kept = NULL;
        int p[2];

        ASSERT(rk_loop_new(&l) == 0);
        ASSERT(make_pipe(p) == 0);
        CHECK(write(p[1], "x", 1) == 1);
        ASSERT(rk_loop_add_io(l, NULL, p[0], EPOLLIN, on_io_keep, &kept) == 0);
        CHECK_INTEQ(rk_loop_run(l, 0), 1);
        ASSERT(kept);
        /* a floating source does not keep the loop alive */
        l = rk_loop_unref(l);
        CHECK(rk_source_get_loop(kept) == NULL);
        CHECK_INTEQ(rk_source_get_enabled(kept), RK_SOURCE_OFF);
        CHECK_INTEQ(rk_source_set_enabled(kept, RK_SOURCE_ON), -ESTALE);
        CHECK_INTEQ(rk_source_set_priority(kept, 1), -ESTALE);
        CHECK_INTEQ(rk_source_set_enabled(kept, RK_SOURCE_OFF), 0);
        rk_source_unref(kept);
        close(p[0]);
        close(p[1]);
}

TEST(held_source_keeps_loop) {
        rk_loop *l = NULL;
        rk_source *s = NULL;
        int n = 0;

        ASSERT(rk_loop_new(&l) == 0);
        ASSERT(rk_loop_add_defer(l, &s, on_defer_count, &n) == 0);
        l = rk_loop_unref(l);
        /* the loop lives on through s */
        ASSERT(rk_source_get_loop(s) != NULL);
        CHECK_INTEQ(rk_loop_run(rk_source_get_loop(s), 0), 1);
        CHECK_INTEQ(n, 1);
        rk_source_unref(s);
}

typedef struct reenter {
        rk_loop *l;
        int r;
} reenter;

static int on_defer_reenter(rk_source *s, void *ud) {
        reenter *x = ud;
        x->r = rk_loop_run(x->l, 0);
        return 0;
}

TEST(no_reentry) {
        _cleanup_(rk_loop_unrefp) rk_loop *l = NULL;
        reenter x = {};

        ASSERT(rk_loop_new(&l) == 0);
        x.l = l;
        ASSERT(rk_loop_add_defer(l, NULL, on_defer_reenter, &x) == 0);
        CHECK_INTEQ(rk_loop_run(l, 0), 1);
        CHECK_INTEQ(x.r, -EBUSY);
}

static bool readable(int fd, int ms) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

TEST(nesting) {
        _cleanup_(rk_loop_unrefp) rk_loop *l = NULL;
        _cleanup_(rk_source_unrefp) rk_source *t = NULL, *io = NULL, *d = NULL;
        tagged tag;
        trace tr = {};
        int fd, p[2], n = 0, dn = 0;
        uint64_t start;

        ASSERT(rk_loop_new(&l) == 0);
        fd = rk_loop_get_fd(l);
        tag = (tagged){ &tr, 1 };

        /* a timer: the fd turns readable when it is due, not before */
        start = rk_now();
        ASSERT(rk_loop_add_time(l, &t, start + 50 * MSEC, on_time_tag, &tag) == 0);
        CHECK(!readable(fd, 0));
        CHECK(readable(fd, 1000));
        CHECK(rk_now() >= start + 50 * MSEC);
        CHECK_INTEQ(rk_loop_run(l, 0), 1);
        CHECK_INTEQ(tr.n, 1);
        CHECK(!readable(fd, 0));

        /* an expired timer added between runs wakes the outer poll at once */
        CHECK_INTEQ(rk_source_set_time(t, 1), 0);
        CHECK_INTEQ(rk_source_set_enabled(t, RK_SOURCE_ONESHOT), 0);
        CHECK(readable(fd, 0));
        CHECK_INTEQ(rk_loop_run(l, 0), 1);
        CHECK_INTEQ(tr.n, 2);
        CHECK(!readable(fd, 0));

        /* an fd */
        ASSERT(make_pipe(p) == 0);
        ASSERT(rk_loop_add_io(l, &io, p[0], EPOLLIN, on_io_count, &n) == 0);
        CHECK(!readable(fd, 0));
        CHECK(write(p[1], "x", 1) == 1);
        CHECK(readable(fd, 1000));
        CHECK_INTEQ(rk_loop_run(l, 0), 1);
        CHECK_INTEQ(n, 1);
        io = rk_source_unref(io);

        /* a defer source */
        ASSERT(rk_loop_add_defer(l, &d, on_defer_count, &dn) == 0);
        CHECK(readable(fd, 0));
        CHECK_INTEQ(rk_loop_run(l, 0), 1);
        CHECK_INTEQ(dn, 1);
        CHECK(!readable(fd, 0));
        close(p[0]);
        close(p[1]);
}

typedef struct many {
        uint64_t last;
        size_t n;
        bool disorder;
} many;

static int on_time_many(rk_source *s, uint64_t usec, void *ud) {
        many *m = ud;
        if (usec < m->last)
                m->disorder = true;
        m->last = usec;
        m->n++;
        return 0;
}

#define N_TIMERS 10000

TEST(timers_10k) {
        _cleanup_(rk_loop_unrefp) rk_loop *l = NULL;
        rk_source **s = calloc(N_TIMERS, sizeof(rk_source *));
        uint64_t now = rk_now();
        size_t cancelled = 0;
        many m = {};
        int before = count_fds();

        ASSERT(s);
        ASSERT(rk_loop_new(&l) == 0);
        srand(1);
        for (size_t i = 0; i < N_TIMERS; i++)
                ASSERT(rk_loop_add_time(l, &s[i], now + (uint64_t) (rand() % 50000), on_time_many, &m) == 0);
        /* cancel every third, re-arm every fifth to another random time */
        for (size_t i = 0; i < N_TIMERS; i++) {
                if (i % 3 == 0) {
                        CHECK_INTEQ(rk_source_set_enabled(s[i], RK_SOURCE_OFF), 0);
                        cancelled++;
                } else if (i % 5 == 0)
                        CHECK_INTEQ(rk_source_set_time(s[i], now + (uint64_t) (rand() % 50000)), 0);
        }
        /* half as floating ones on top */
        for (size_t i = 0; i < N_TIMERS / 2; i++)
                ASSERT(rk_loop_add_time(l, NULL, now + (uint64_t) (rand() % 50000), on_time_many, &m) == 0);
        while (m.n < N_TIMERS - cancelled + N_TIMERS / 2 && rk_now() < now + 10000 * MSEC)
                CHECK(rk_loop_run(l, RK_LOOP_INFINITY) >= 0);
        CHECK_INTEQ(m.n, N_TIMERS - cancelled + N_TIMERS / 2);
        CHECK(!m.disorder);
        CHECK_INTEQ(rk_loop_run(l, 10 * MSEC), 0);
        for (size_t i = 0; i < N_TIMERS; i++)
                rk_source_unref(s[i]);
        free(s);
        l = rk_loop_unref(l);
        CHECK_INTEQ(count_fds(), before);
}

TEST(no_fd_leak) {
        int before = count_fds();
        for (int i = 0; i < 50; i++) {
                _cleanup_(rk_loop_unrefp) rk_loop *l = NULL;
                pid_t pid;

                ASSERT(rk_loop_new(&l) == 0);
                ASSERT(rk_loop_add_signal(l, NULL, SIGUSR2, on_signal, NULL) == 0);
                pid = spawn((const char *const[]){ "/bin/true", NULL });
                ASSERT(pid > 0);
                ASSERT(rk_loop_add_child(l, NULL, pid, -EBADF, on_child, &(child_seen){}) == 0);
                while (waitid(P_PID, (id_t) pid, &(siginfo_t){}, WEXITED | WNOHANG | WNOWAIT) == 0 &&
                       rk_loop_run(l, 100 * MSEC) == 0)
                        ;
        }
        CHECK_INTEQ(count_fds(), before);
}
