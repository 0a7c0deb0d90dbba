/* SPDX-License-Identifier: MIT */
/*
 * rk_loop: the one event loop of a ringkit process (ringd, every driver
 * process, ringctl when it waits), with sd-event's model in a small size.
 *
 * A loop owns typed sources: io (an fd in epoll), time (an absolute
 * CLOCK_MONOTONIC deadline in microseconds), signal (signalfd), child
 * (pidfd), defer (runs on every iteration while enabled) and exit (runs
 * once rk_loop_exit() was called).  One iteration, rk_loop_run(), prepares
 * (arms the one timerfd), waits (epoll_wait), then dispatches every pending
 * source in priority order, lower priority values first; among equal
 * priorities timers run in deadline order and the rest in the order the
 * kernel reported them.
 *
 * What a caller can count on:
 *
 *   - Every call returns 0 (or a count, or 1/0 as documented) or a negative
 *     errno.  -EINVAL for a NULL or out-of-range argument, -EINVAL also when
 *     a type-specific call gets a source of another type.  Nothing prints.
 *   - Sources are reference counted.  `ret` may be NULL when adding: the
 *     source is then "floating", owned by the loop, and released when it
 *     is disabled after its callback returns (the common ONESHOT case) or
 *     when the loop is freed.  A source the caller holds keeps the loop
 *     alive; a floating one does not.
 *   - Dropping the last reference to a source disables it at once; the
 *     memory is released after the current dispatch when the loop still
 *     holds it, so unref from inside any callback (its own or another
 *     source's) is safe and a source disabled or freed by an earlier
 *     callback of the same iteration is not dispatched.
 *   - Default enable modes are sd-event's: io and signal ON; time, child,
 *     defer and exit ONESHOT.  A ONESHOT source is set OFF just before its
 *     callback runs, so the callback may re-enable it.
 *   - A callback that returns < 0 has its source disabled (OFF); the loop
 *     goes on and the error is not reported anywhere else (a library does
 *     not print; log in the callback if it matters).
 *   - All descriptors the loop opens are O_CLOEXEC|O_NONBLOCK.  The loop
 *     keeps no global state; one loop per thread at most, and a loop is
 *     used by one thread.
 *   - rk_loop_get_fd() is readable whenever rk_loop_run(loop, 0) would
 *     find work: a ready fd, an expired timer, a pending signal or child
 *     exit, or an enabled defer source.  Nest the loop in another by
 *     polling that fd and calling rk_loop_run(loop, 0) when it is readable.
 */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/types.h>

typedef struct rk_loop rk_loop;
typedef struct rk_source rk_source;

enum {
        RK_SOURCE_OFF = 0,
        RK_SOURCE_ON = 1,
        RK_SOURCE_ONESHOT = -1,
};

#define RK_LOOP_INFINITY UINT64_MAX

typedef int (*rk_io_handler)(rk_source *s, int fd, uint32_t revents, void *userdata);
typedef int (*rk_time_handler)(rk_source *s, uint64_t usec, void *userdata);
typedef int (*rk_signal_handler)(rk_source *s, const struct signalfd_siginfo *si, void *userdata);
typedef int (*rk_child_handler)(rk_source *s, const siginfo_t *si, void *userdata);
typedef int (*rk_handler)(rk_source *s, void *userdata);

/* CLOCK_MONOTONIC in microseconds, the clock of time sources. */
uint64_t rk_now(void);

/*
 * A bounded spin: calls step(userdata) until it returns false (nothing left
 * to wait for) or usec microseconds have passed, yielding the CPU between
 * calls, so that a process woken onto this CPU runs at once instead of
 * after the spin.  0: no call.  For "the answer usually comes sooner than a
 * sleep and wake-up would take" (ringd's endpoint security and network
 * filter).
 */
void rk_spin(uint64_t usec, bool (*step)(void *userdata), void *userdata);

/* -EINVAL, -ENOMEM, -EMFILE/-ENFILE (epoll_create1, timerfd_create). */
int rk_loop_new(rk_loop **ret);
rk_loop *rk_loop_ref(rk_loop *l);    /* NULL-safe */
rk_loop *rk_loop_unref(rk_loop *l);  /* NULL-safe; returns NULL */
static inline void rk_loop_unrefp(rk_loop **l) {
        if (*l)
                rk_loop_unref(*l);
}

/* The epoll fd (see above for nesting), or -EINVAL. */
int rk_loop_get_fd(rk_loop *l);

/*
 * io: `fd` is watched for `events` (EPOLLIN, EPOLLOUT, EPOLLPRI,
 * EPOLLRDHUP; EPOLLERR and EPOLLHUP are always reported; EPOLLEXCLUSIVE:
 * of several exclusive waiters on the fd, a wake-up goes to one that is
 * waiting, see epoll_ctl(2)).  The fd stays
 * the caller's: the loop never closes it; disable or unref the source
 * before closing it.  Level triggered (EPOLLET and EPOLLONESHOT are
 * refused).  -EINVAL, -EEXIST (another enabled source watches the same fd),
 * -EPERM (the fd does not support epoll, e.g. a regular file), -EBADF,
 * -ENOMEM, -ESTALE (the loop has finished).
 */
int rk_loop_add_io(rk_loop *l, rk_source **ret, int fd, uint32_t events, rk_io_handler cb,
                   void *userdata);

/*
 * time: fires once rk_now() >= usec (so 0 fires on the next iteration).
 * The callback gets the source's deadline.  A timer left ON with an
 * unchanged deadline fires again on every iteration; re-arm with
 * rk_source_set_time() and rk_source_set_enabled(ONESHOT).  -EINVAL,
 * -ENOMEM, -ESTALE.
 */
int rk_loop_add_time(rk_loop *l, rk_source **ret, uint64_t usec, rk_time_handler cb,
                     void *userdata);

/*
 * signal: the loop blocks `sig` in the calling thread with pthread_sigmask()
 * and reads it from a signalfd.  Other threads of the process must block it
 * too (block it before creating them), or the kernel may deliver it to one
 * of them.  The signal stays blocked after the source goes.  One source per
 * signal and loop.  -EINVAL (sig out of range, SIGKILL, SIGSTOP), -EBUSY
 * (the signal already has a source), -ENOMEM, -EMFILE, -ESTALE.
 */
int rk_loop_add_signal(rk_loop *l, rk_source **ret, int sig, rk_signal_handler cb,
                       void *userdata);

/*
 * child: reports the exit of `pid`, a child of this process, through a
 * pidfd: pass one (it is duplicated; the caller keeps its own) or -EBADF
 * to have pidfd_open() called.  The loop reaps the child (waitid(P_PIDFD,
 * WEXITED)) and passes the siginfo: si_code CLD_EXITED with the exit code
 * in si_status, or CLD_KILLED/CLD_DUMPED with the signal.  Stops and
 * continues are not reported.  After the exit is dispatched the source is
 * OFF for good (enabling it again returns -ECHILD).  A child source freed
 * before the exit leaves the child unreaped.  Do not set SIGCHLD to
 * SIG_IGN (the kernel would reap the child first).  -EINVAL, -ECHILD (not
 * a child of ours, or already reaped), -ESRCH, -EBADF, -EMFILE, -ENOMEM,
 * -ESTALE.
 */
int rk_loop_add_child(rk_loop *l, rk_source **ret, pid_t pid, int pidfd, rk_child_handler cb,
                      void *userdata);

/* defer: runs on every iteration while enabled.  -EINVAL, -ENOMEM, -ESTALE. */
int rk_loop_add_defer(rk_loop *l, rk_source **ret, rk_handler cb, void *userdata);

/*
 * exit: runs after rk_loop_exit(), in priority order, before rk_loop_loop()
 * returns (or in the rk_loop_run() that follows rk_loop_exit()).
 * -EINVAL, -ENOMEM, -ESTALE.
 */
int rk_loop_add_exit(rk_loop *l, rk_source **ret, rk_handler cb, void *userdata);

/*
 * One iteration.  timeout_usec is relative; RK_LOOP_INFINITY waits
 * forever, 0 does not wait.  Returns 1 when a callback ran, 0 when none
 * did (timeout, interrupted by a signal, or a wake-up with nothing left to
 * do), -EBUSY when called from a callback, -ESTALE once the loop has
 * finished (exit sources ran), -ENOMEM, or the errno of epoll_wait.  When
 * rk_loop_exit() was called, this runs the exit sources instead and the
 * loop is finished.
 */
int rk_loop_run(rk_loop *l, uint64_t timeout_usec);

/*
 * Runs iterations until rk_loop_exit(), runs the exit sources and returns
 * the exit code; or a negative errno from rk_loop_run().
 */
int rk_loop_loop(rk_loop *l);

/*
 * Asks the loop to finish: the current iteration dispatches nothing more,
 * the exit sources run next.  -EINVAL, -ESTALE (already finished).
 */
int rk_loop_exit(rk_loop *l, int code);

/*
 * Sources.  Setters return 0, -EINVAL, or -ESTALE when the loop was freed
 * under a source the caller still holds (only possible for floating
 * sources the caller took a reference to).
 *
 * set_enabled: OFF, ON or ONESHOT.  Enabling can fail the way adding does
 * (-EEXIST, -EPERM, -ENOMEM for io; -ECHILD for an exited child).
 */
int rk_source_set_enabled(rk_source *s, int mode);
int rk_source_get_enabled(rk_source *s); /* the mode, or -EINVAL */
int rk_source_set_time(rk_source *s, uint64_t usec);    /* time sources */
int rk_source_get_time(rk_source *s, uint64_t *ret);    /* time sources */
int rk_source_set_io_events(rk_source *s, uint32_t events); /* io sources */
int rk_source_get_io_fd(rk_source *s);                  /* io sources: the fd, or -EINVAL */
int rk_source_set_priority(rk_source *s, int64_t priority); /* default 0; lower runs first */
void *rk_source_get_userdata(rk_source *s);
rk_loop *rk_source_get_loop(rk_source *s); /* borrowed; NULL once the loop was freed */

rk_source *rk_source_ref(rk_source *s);   /* NULL-safe */
rk_source *rk_source_unref(rk_source *s); /* NULL-safe; returns NULL */
static inline void rk_source_unrefp(rk_source **s) {
        if (*s)
                rk_source_unref(*s);
}
