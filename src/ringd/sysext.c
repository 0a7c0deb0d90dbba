/* SPDX-License-Identifier: MIT */
/*
 * Supervised system extensions: every activated, enabled (approved) system
 * extension runs as one long-lived process that ringd launches, restarts
 * and stops.  User view: docs/system-extensions.md.
 *
 * Which ones run: after every catalogue scan (approval, deactivation,
 * replacement, rescans, start) sysext_reconcile() compares the catalogue's
 * system extension bundles that come from ringd's store as enabled rows
 * (activation_enabled_paths) with the records here: a bundle without a
 * record is launched; a record whose store copy is no longer enabled
 * (deactivated, or replaced by a later version) is stopped.  A replacement
 * therefore starts the new version and stops the old one in the same pass.
 *
 * How it runs: like a dext (launch.c): the bundle's signature checked, the
 * executable run from a sealed memfd of verified bytes, through
 * ringkit-sandbox-exec (its own uid, landlock: the bundle read-only and a
 * private data directory, no network, the dexts' seccomp list, no device
 * nodes).  It gets no channel of the dext lifecycle; instead, ringd hands it
 * the connections its entitlements earn, already admitted:
 *   fd 3  ($RINGKIT_ES_FD)  an endpoint security client (es.c, es_adopt),
 *         for com.apple.developer.endpoint-security.client;
 *   fd 6  ($RINGKIT_NF_FD)  a network filter (nf.c), for
 *         com.apple.developer.networking.networkextension holding
 *         "content-filter-provider" (policy: Info.plist RKNetworkFilter).
 * Its fds 1 and 2 are a pipe to ringd (outlog.c: ringd's log, `ringctl log`).
 * Since the process runs from a memfd, /proc/PID/exe is not the bundle's
 * file, and it could not pass es.c's admission by connecting; these
 * pre-admitted sockets are how ringd vouches for its own children.
 * Arguments come from Info.plist RKArguments (signed with the bundle).
 *
 * States of one record (struct sysext), and who moves it:
 *
 *     sx_launch ──► RUNNING ──exit──► on_exit: crash counted
 *                     ▲                 │ under --crash-limit in --crash-window
 *                     │ on_retry        ▼
 *                     └──────────── BACKOFF (10 ms, doubling to 5 s)
 *                                       │ crash limit reached
 *                                       ▼
 *                                    FAILED (not restarted; `ringctl list` says why)
 *     any ──sx_retire (deactivated, replaced, ringd stops)──► STOPPING
 *         (SIGTERM; SIGKILL after STOP_GRACE_USEC) ──exit──► freed
 *
 * A filter's nf.c record lives as long as the sysext record (not the
 * process), so its fail-open/fail-closed policy holds while it restarts.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ringd/ringd.h"
#include "shared/macro.h"
#include "trust/entitlements.h"


#define SX_ES_FD 3
#define SX_NF_FD 6
#define STOP_GRACE_USEC (3 * 1000000ULL)
#define MAX_ARGS 64
#define NF_DEFAULT_DEADLINE_MS 1000
#define NF_FILTER_PROVIDER "content-filter-provider"

typedef enum sx_state { SX_RUNNING, SX_BACKOFF, SX_FAILED, SX_STOPPING } sx_state;

typedef struct sysext sysext;
struct sysext {
        ringd *d;
        char *bundle, *path, *version, *exe, *tag, *team;
        struct stat path_st;    /* the store copy's directory: its identity */
        sx_state state;
        pid_t pid;
        rk_source *child, *timer;
        uint64_t crashes[16];
        unsigned n_crashes, restarts, launches;
        uint64_t backoff_usec, started_at;
        char *failed, *last_exit;
        bool es, nf;            /* the connections it gets */
        bool debug_next;        /* `ringctl debug`: its next launch stops before main() for a debugger */
        bool relaunch;          /* stopping its process to launch it again at once (debug_next), not a crash */
        char cg[32];            /* its run's pids cgroup under ringd's ("sx<n>"), "" when none: see limits.c */
        nf_filter *filter;
        char **args;
        size_t n_args;
        void (*stopped)(void *ud);
        void *stopped_ud;
        sysext *next;
};

struct sysext_state {
        sysext *list;
        unsigned next_cg;
};

static const char *state_name(sx_state s) {
        static const char *const n[] = { [SX_RUNNING] = "running", [SX_BACKOFF] = "restarting",
                                         [SX_FAILED] = "failed", [SX_STOPPING] = "stopping" };
        return n[s];
}

static bool developer_mode(ringd *d) {
        return d->extdb && rk_extdb_get_developer_mode(d->extdb) > 0;
}

/* Whatever the last run left in its cgroup (children it forked) is killed, and the cgroup goes. */
static void sx_cgroup_drop(sysext *x) {
        if (!x->cg[0])
                return;
        limits_kill_pid(x->d, x->cg, 0);
        limits_release_leaf(x->d, x->cg);
        x->cg[0] = 0;
}

static void sx_free(sysext *x) {
        ringd *d = x->d;

        if (x->debug_next) /* a `ringctl debug` still waits: it will not start again */
                control_debug_started(d, x->bundle, 0, x->tag, -ECANCELED,
                                      "debug: the system extension stopped (deactivated, replaced, or ringd stopping) before it started again");
        sx_cgroup_drop(x);
        for (sysext **p = &d->sx->list; *p; p = &(*p)->next)
                if (*p == x) {
                        *p = x->next;
                        break;
                }
        nf_filter_remove(x->filter);
        rk_source_unref(x->child);
        rk_source_unref(x->timer);
        for (size_t k = 0; k < x->n_args; k++)
                free(x->args[k]);
        free(x->args);
        free(x->bundle);
        free(x->path);
        free(x->version);
        free(x->exe);
        free(x->tag);
        free(x->team);
        free(x->failed);
        free(x->last_exit);
        if (x->stopped)
                x->stopped(x->stopped_ud);
        free(x);
}

/* ---- what it gets: entitlements, Info.plist ---- */

static bool has_string(const rk_value *v, const char *s) {
        if (rk_value_is(v, RK_TYPE_STRING))
                return streq(rk_string(v), s);
        for (size_t k = 0; k < rk_array_size(v); k++)
                if (streq_ptr(rk_string(rk_array_get(v, k)), s))
                        return true;
        return false;
}

/* Decide the connections (es, nf) and read RKArguments / RKNetworkFilter.  0, or -EINVAL with *why. */
static int sx_config(sysext *x, const rk_bundle *b, bool *fail_closed, unsigned *deadline_ms, char **why) {
        ringd *d = x->d;
        const rk_value *ents = NULL, *args = rk_dict_get(b->info, "RKArguments"),
                       *nfc = rk_dict_get(b->info, "RKNetworkFilter");
        const char *vwhy = NULL;
        int r = launch_entitlements(d, x->bundle, &ents, &vwhy);

        if (r < 0) {
                (void) asprintf(why, "no launch record: %s", vwhy ? vwhy : strerror(-r));
                return r;
        }
        if (r == 1) {
                x->es = rk_bool(rk_dict_get(ents, RK_ENT_ENDPOINT_SECURITY));
                x->nf = has_string(rk_dict_get(ents, RK_ENT_NETWORK_EXTENSION), NF_FILTER_PROVIDER) ||
                        has_string(rk_dict_get(ents, RK_ENT_NETWORK_EXTENSION), NF_FILTER_PROVIDER "-systemextension");
        } else if (developer_mode(d)) {
                /* unsigned: no entitlements to read; developer mode relaxes as es.c's admission does */
                x->es = true;
                x->nf = nfc != NULL;
                activation_relax(d, x->bundle, x->nf ? "unsigned system extension given endpoint security and a network filter"
                                                     : "unsigned system extension given endpoint security");
        }
        if (args) {
                if (!rk_value_is(args, RK_TYPE_ARRAY) || rk_array_size(args) > MAX_ARGS) {
                        (void) asprintf(why, "%s: Info.plist key RKArguments must be an array of at most %d strings",
                                        b->info_path, MAX_ARGS);
                        return -EINVAL;
                }
                x->args = calloc(rk_array_size(args) + 1, sizeof(char *));
                if (!x->args)
                        return -ENOMEM;
                for (size_t k = 0; k < rk_array_size(args); k++) {
                        const char *s = rk_string(rk_array_get(args, k));
                        if (!s) {
                                (void) asprintf(why, "%s: Info.plist key RKArguments[%zu] is not a string", b->info_path, k);
                                return -EINVAL;
                        }
                        if (!(x->args[x->n_args++] = strdup(s)))
                                return -ENOMEM;
                }
        }
        *fail_closed = false;
        *deadline_ms = NF_DEFAULT_DEADLINE_MS;
        if (nfc) {
                const char *pol = rk_dict_get_string(nfc, "FailPolicy");
                const rk_value *dl = rk_dict_get(nfc, "DeadlineMs");
                uint64_t ms = 0;
                if (!rk_value_is(nfc, RK_TYPE_DICT)) {
                        (void) asprintf(why, "%s: Info.plist key RKNetworkFilter must be a dictionary", b->info_path);
                        return -EINVAL;
                }
                if (rk_dict_get(nfc, "FailPolicy") && (!pol || (!streq(pol, "fail-open") && !streq(pol, "fail-closed")))) {
                        (void) asprintf(why, "%s: Info.plist key RKNetworkFilter.FailPolicy must be \"fail-open\" or \"fail-closed\"",
                                        b->info_path);
                        return -EINVAL;
                }
                if (dl && (!rk_integer_u64(dl, &ms) || ms < 1 || ms > 60000)) {
                        (void) asprintf(why, "%s: Info.plist key RKNetworkFilter.DeadlineMs must be an integer 1..60000",
                                        b->info_path);
                        return -EINVAL;
                }
                *fail_closed = pol && streq(pol, "fail-closed");
                if (dl)
                        *deadline_ms = (unsigned) ms;
                if (!x->nf)
                        log_warning(d, "%s: has RKNetworkFilter but not the entitlement " RK_ENT_NETWORK_EXTENSION
                                       " with \"" NF_FILTER_PROVIDER "\"; it gets no filter", x->tag);
        }
        return 0;
}

/* ---- launching ---- */

static int on_exit_(rk_source *s, const siginfo_t *si, void *ud);

static void strv_freep(char ***v) {
        if (*v)
                for (char **p = *v; *p; p++)
                        free(*p);
        free(*v);
}

/* argv: the plan's (launch.c keeps fd 3 = SX_ES_FD open in the sandbox), with --keep-fd for the filter socket, then RKArguments. */
static int make_argv(sysext *x, const launch_plan *plan, char ***ret) {
        size_t n = 0, k = 0;
        char **v;

        while (plan->argv[n])
                n++;
        v = calloc(n + x->n_args + 2, sizeof(char *));
        if (!v)
                return -ENOMEM;
        for (size_t j = 0; j < n; j++) {
                char keep3[32];
                snprintf(keep3, sizeof(keep3), "--keep-fd=%d", SX_ES_FD);
                if (plan->path && !x->es && streq(plan->argv[j], keep3))
                        continue; /* the sandbox keeps fd 3 for a dext's channel; without a client it is not open */
                if (!(v[k++] = strdup(plan->argv[j])))
                        goto oom;
                if (j == 0 && plan->path && x->nf && asprintf(&v[k++], "--keep-fd=%d", SX_NF_FD) < 0) {
                        v[--k] = NULL;
                        goto oom;
                }
        }
        for (size_t j = 0; j < x->n_args; j++)
                if (!(v[k++] = strdup(x->args[j])))
                        goto oom;
        *ret = v;
        return 0;
oom:
        strv_freep(&v);
        return -ENOMEM;
}

/* A socketpair whose child end is kept off the low fd numbers. */
static int pair(int *parent, int *child) {
        int sv[2], r = rk_socketpair(sv);

        if (r < 0)
                return r;
        *child = fcntl(sv[1], F_DUPFD_CLOEXEC, 10);
        close(sv[1]);
        if (*child < 0) {
                r = -errno;
                close(sv[0]);
                return r;
        }
        *parent = sv[0];
        return 0;
}

static int sx_spawn_process(sysext *x) {
        ringd *d = x->d;
        launch_plan plan = { .exec_fd = -EBADF, .seccomp_fd = -EBADF };
        _cleanup_(strv_freep) char **env = NULL, **argv = NULL;
        char es_s[16], nf_s[16];
        _cleanup_(closep) int exec_fd = -EBADF, es_p = -EBADF, es_c = -EBADF, nf_p = -EBADF, nf_c = -EBADF,
                              out_fd = -EBADF;
        _cleanup_(freep) char *procs = NULL;
        pid_t pid;
        int r, pidfd;

        /* capped at --max-tasks like a dext, and no child of it outlives the run: its own pids cgroup, joined
         * before it runs a line (so nothing it forks at once starts outside) */
        snprintf(x->cg, sizeof(x->cg), "sx%u", ++d->sx->next_cg);
        if ((r = limits_prepare_leaf(d, x->cg, &procs)) < 0)
                log_warning(d, "%s: cannot prepare its limits: %s", x->tag, strerror(-r));
        r = launch_prepare(d, x->bundle, x->exe, x->tag, &plan);
        if (r < 0)
                return r;
        exec_fd = fcntl(plan.exec_fd, F_DUPFD_CLOEXEC, 10);
        if (exec_fd < 0)
                r = -errno;
        if (r >= 0 && x->es)
                r = pair(&es_p, &es_c);
        if (r >= 0 && x->nf)
                r = pair(&nf_p, &nf_c);
        if (r >= 0) {
                snprintf(es_s, sizeof(es_s), "%d", SX_ES_FD);
                snprintf(nf_s, sizeof(nf_s), "%d", SX_NF_FD);
                r = launch_env((const char *const[]){ "RINGKIT_INSTANCE", x->tag, "RINGKIT_DATA_DIR", plan.data_dir,
                                                      "RINGKIT_ES_FD", x->es ? es_s : NULL,
                                                      "RINGKIT_NF_FD", x->nf ? nf_s : NULL,
                                                      "RINGKIT_WAIT_DEBUGGER", x->debug_next ? "1" : NULL, NULL },
                               &env);
        }
        if (r >= 0)
                r = make_argv(x, &plan, &argv);
        if (r < 0) {
                launch_plan_done(&plan);
                return r;
        }
        {
                int dups[4][2], n = 0;
                if (x->es)
                        dups[n][0] = es_c, dups[n++][1] = SX_ES_FD;
                if (x->nf)
                        dups[n][0] = nf_c, dups[n++][1] = SX_NF_FD;
                /* its standard output and error: a pipe to ringd (outlog.c); without one, ringd's own */
                if ((r = outlog_pipe(d, x->bundle, x->tag, &out_fd)) < 0)
                        log_warning(d, "%s: no output pipe (%s): it writes to ringd's standard error", x->tag, strerror(-r));
                else {
                        dups[n][0] = out_fd, dups[n++][1] = STDOUT_FILENO;
                        dups[n][0] = out_fd, dups[n++][1] = STDERR_FILENO;
                }
                r = launch_spawn(&plan, exec_fd, (const int(*)[2]) dups, (size_t) n, argv, env, procs, &pid);
                if (out_fd >= 0)
                        close(TAKE_FD(out_fd)); /* the child's now: ringd's copy would keep the pipe from reaching EOF */
        }
        launch_plan_done(&plan);
        if (r < 0)
                return r;
        x->pid = pid;
        pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        r = rk_loop_add_child(d->loop, &x->child, pid, pidfd >= 0 ? pidfd : -EBADF, on_exit_, x);
        if (pidfd >= 0)
                close(pidfd);
        if (r < 0) {
                (void) kill(pid, SIGKILL);
                return r;
        }
        if (x->es && (r = es_adopt(d, TAKE_FD(es_p), pid, x->bundle, x->team, x->exe)) < 0)
                log_warning(d, "%s: no endpoint security client: %s", x->tag, strerror(-r));
        if (x->nf && x->filter && (r = nf_filter_connect(x->filter, TAKE_FD(nf_p), pid)) < 0)
                log_warning(d, "%s: no network filter connection: %s", x->tag, strerror(-r));
        return 0;
}

static int sx_spawn(sysext *x) {
        int r = sx_spawn_process(x);

        if (r < 0)
                sx_cgroup_drop(x); /* prepared for a process that did not start, or was killed at once */
        return r;
}

/* An administrator's fresh start (`ringctl restart`, `ringctl debug`): no failure, no crash counted, no back-off. */
static void sx_forget_crashes(sysext *x) {
        x->failed = mfree(x->failed);
        x->n_crashes = 0;
        memset(x->crashes, 0, sizeof(x->crashes));
        x->backoff_usec = 0;
}

static void sx_fail(sysext *x, const char *fmt, ...) _printf_(2, 3);
static void sx_fail(sysext *x, const char *fmt, ...) {
        va_list ap;

        free(x->failed);
        va_start(ap, fmt);
        if (vasprintf(&x->failed, fmt, ap) < 0)
                x->failed = NULL;
        va_end(ap);
        x->state = SX_FAILED;
        x->pid = 0;
        log_error(x->d, "%s: %s", x->tag, x->failed ? x->failed : "failed");
}

static void sx_launch(sysext *x) {
        bool debug = x->debug_next;
        int r = sx_spawn(x);

        x->debug_next = false;
        if (r < 0) {
                sx_fail(x, "not launched: %s; not retried until `ringctl restart`, a new activation or a restart of ringd", strerror(-r));
                if (debug)
                        control_debug_started(x->d, x->bundle, 0, x->tag, r, x->failed);
                return;
        }
        x->state = SX_RUNNING;
        x->launches++;
        x->started_at = rk_now();
        log_notice(x->d, "%s: running, pid %d%s%s%s", x->tag, (int) x->pid, x->es ? ", endpoint security client" : "",
                   x->nf ? ", network filter" : "", debug ? ", stopped for a debugger" : "");
        if (debug) {
                log_notice(x->d, "%s: waiting for a debugger: gdb -p %d", x->tag, (int) x->pid);
                control_debug_started(x->d, x->bundle, x->pid, x->tag, 0, NULL);
        }
}

static int on_timer(rk_source *s, uint64_t usec, void *ud) {
        sysext *x = ud;

        if (x->state == SX_BACKOFF) {
                if (!x->debug_next)
                        x->restarts++; /* a launch for a debugger is asked for, not a restart after a crash */
                x->child = rk_source_unref(x->child);
                sx_launch(x);
        } else if ((x->state == SX_STOPPING || x->relaunch) && x->pid > 0) {
                log_warning(x->d, "%s: did not stop within %llu s of SIGTERM; killing it", x->tag,
                            (unsigned long long) (STOP_GRACE_USEC / 1000000));
                (void) kill(x->pid, SIGKILL);
        }
        return 0;
}

static void arm(sysext *x, uint64_t at) {
        if (!x->timer && rk_loop_add_time(x->d->loop, &x->timer, at, on_timer, x) < 0)
                return;
        (void) rk_source_set_time(x->timer, at);
        (void) rk_source_set_enabled(x->timer, RK_SOURCE_ONESHOT);
}

static int on_exit_(rk_source *s, const siginfo_t *si, void *ud) {
        sysext *x = ud;
        ringd *d = x->d;
        uint64_t now = rk_now();
        unsigned recent = 0;
        char why[64];

        if (si->si_code == CLD_EXITED)
                snprintf(why, sizeof(why), "exited with status %d", si->si_status);
        else
                snprintf(why, sizeof(why), "killed by signal %s", sigabbrev_np(si->si_status) ?: "?");
        free(x->last_exit);
        x->last_exit = strdup(why);
        x->pid = 0;
        sx_cgroup_drop(x);
        if (x->state == SX_STOPPING) {
                log_info(d, "%s: stopped (%s)", x->tag, why);
                sx_free(x);
                return 0;
        }
        if (x->relaunch) {
                /* stopped for `ringctl debug`: launched again at once, from the timer (this child source is still
                 * in its callback), and not counted as a crash */
                x->relaunch = false;
                log_info(d, "%s: stopped (%s) to start again for a debugger", x->tag, why);
                x->state = SX_BACKOFF;
                arm(x, now);
                return 0;
        }
        x->crashes[x->n_crashes++ % ELEMENTSOF(x->crashes)] = now;
        for (unsigned k = 0; k < ELEMENTSOF(x->crashes) && k < x->n_crashes; k++)
                recent += now - x->crashes[k] <= d->crash_window_usec;
        if (recent >= d->crash_limit) {
                sx_fail(x, "%s; crashed %u times within %.1f s: crash loop, not restarted until `ringctl restart`, a new activation or a restart of ringd",
                        why, recent, (double) d->crash_window_usec / 1e6);
                return 0;
        }
        /* a process that ran a whole window starts the back-off afresh */
        if (now - x->started_at > d->crash_window_usec || !x->backoff_usec)
                x->backoff_usec = d->backoff_min_usec;
        else if ((x->backoff_usec *= 2) > d->backoff_max_usec)
                x->backoff_usec = d->backoff_max_usec;
        log_warning(d, "%s: %s; restarting in %llu ms", x->tag, why, (unsigned long long) (x->backoff_usec / 1000));
        x->state = SX_BACKOFF;
        arm(x, now + x->backoff_usec);
        return 0;
}

/* ---- the set that runs ---- */

static void sx_retire(sysext *x, const char *why) {
        if (x->state == SX_STOPPING)
                return;
        if (x->state != SX_RUNNING || x->pid <= 0) {
                log_info(x->d, "%s: %s; removed (%s)", x->tag, why, state_name(x->state));
                sx_free(x);
                return;
        }
        log_notice(x->d, "%s: %s; stopping pid %d", x->tag, why, (int) x->pid);
        x->state = SX_STOPPING;
        (void) kill(x->pid, SIGTERM);
        arm(x, rk_now() + STOP_GRACE_USEC);
}

static char *team_of(const char *store_path) {
        /* STORE/<team>/<identifier>/<version>-<cdhash>/<Name>.systemextension */
        char buf[4096], *s;

        snprintf(buf, sizeof(buf), "%s", store_path);
        for (int k = 0; k < 3; k++) {
                s = strrchr(buf, '/');
                if (!s)
                        return strdup("-");
                *s = 0;
        }
        s = strrchr(buf, '/');
        return strdup(s ? s + 1 : "-");
}

static void sx_start(ringd *d, rk_bundle *b, const struct stat *st) {
        sysext *x = calloc(1, sizeof(*x));
        _cleanup_(freep) char *why = NULL;
        bool fail_closed = false;
        unsigned deadline_ms = 0;
        int r;

        if (!x)
                return;
        x->d = d;
        x->path_st = *st;
        if (!(x->bundle = strdup(rk_bundle_name(b))) || !(x->path = strdup(b->path)) ||
            !(x->version = strdup(b->version ? b->version : "?")) || !(x->exe = strdup(b->executable_path)) ||
            asprintf(&x->tag, "%s (system extension %s)", rk_bundle_name(b), b->version ? b->version : "?") < 0 ||
            !(x->team = team_of(b->path))) {
                free(x->tag);
                x->tag = NULL;
                x->next = NULL;
                free(x->bundle);
                free(x->path);
                free(x->version);
                free(x->exe);
                free(x);
                return;
        }
        x->next = d->sx->list;
        d->sx->list = x;
        r = sx_config(x, b, &fail_closed, &deadline_ms, &why);
        if (r < 0) {
                sx_fail(x, "not launched: %s", why ? why : strerror(-r));
                return;
        }
        if (x->nf && (r = nf_filter_add(d, x->bundle, fail_closed, deadline_ms, &x->filter)) < 0) {
                log_error(d, "%s: cannot be a network filter: %s", x->tag, strerror(-r));
                x->nf = false;
        }
        sx_launch(x);
}

static bool is_enabled(char **paths, size_t n, const struct stat *st) {
        for (size_t k = 0; k < n; k++) {
                struct stat ps;
                if (stat(paths[k], &ps) == 0 && ps.st_dev == st->st_dev && ps.st_ino == st->st_ino)
                        return true;
        }
        return false;
}

void sysext_reconcile(ringd *d) {
        char **paths = NULL;
        size_t n = 0;

        if (!d->sx && !(d->sx = calloc(1, sizeof(*d->sx))))
                return;
        if (activation_enabled_paths(d, &paths, &n) < 0) {
                log_error(d, "system extensions: cannot read the enabled extensions; none started or stopped");
                return;
        }
        /* stop what is no longer enabled (deactivated, replaced, store copy gone) */
        for (sysext *x = d->sx->list, *nx; x; x = nx) {
                nx = x->next;
                if (x->state != SX_STOPPING && (d->shutting_down || !is_enabled(paths, n, &x->path_st)))
                        sx_retire(x, d->shutting_down ? "ringd stops" : "no longer activated enabled");
        }
        for (size_t k = 0; k < d->n_bundles && !d->shutting_down; k++) {
                rk_bundle *b = d->bundles[k];
                struct stat st;
                bool have = false;
                if (b->kind != RK_BUNDLE_SYSEXT || !b->executable_path || stat(b->path, &st) < 0 ||
                    !is_enabled(paths, n, &st))
                        continue;
                for (sysext *x = d->sx->list; x && !have; x = x->next)
                        have = x->state != SX_STOPPING && x->path_st.st_dev == st.st_dev && x->path_st.st_ino == st.st_ino;
                if (!have)
                        sx_start(d, b, &st);
        }
        for (size_t k = 0; k < n; k++)
                free(paths[k]);
        free(paths);
}

bool sysext_busy(ringd *d, const char *bundle) {
        for (sysext *x = d->sx ? d->sx->list : NULL; x; x = x->next)
                if (x->state == SX_STOPPING && streq(x->bundle, bundle))
                        return true;
        return false;
}

unsigned sysext_stop_all(ringd *d, void (*stopped)(void *ud), void *ud) {
        unsigned n = 0;

        for (sysext *x = d->sx ? d->sx->list : NULL, *nx; x; x = nx) {
                nx = x->next;
                if (x->state == SX_RUNNING && x->pid > 0) {
                        x->stopped = stopped;
                        x->stopped_ud = ud;
                        n++;
                }
                sx_retire(x, "ringd stops");
        }
        return n;
}

static rk_value *sx_value(sysext *x) {
        rk_value *v = NULL;

        if (rk_value_new_dict(&v) < 0)
                return NULL;
        (void) rk_dict_set_string(v, "bundle", x->bundle);
        (void) rk_dict_set_string(v, "version", x->version);
        (void) rk_dict_set_string(v, "team", x->team);
        (void) rk_dict_set_string(v, "path", x->path);
        (void) rk_dict_set_string(v, "state", state_name(x->state));
        (void) rk_dict_set_integer(v, "pid", (uint64_t) (x->pid > 0 ? x->pid : 0), false);
        (void) rk_dict_set_integer(v, "launches", x->launches, false);
        (void) rk_dict_set_integer(v, "restarts", x->restarts, false);
        (void) rk_dict_set_bool(v, "endpoint_security", x->es);
        (void) rk_dict_set_bool(v, "network_filter", x->nf);
        if (x->last_exit)
                (void) rk_dict_set_string(v, "last_exit", x->last_exit);
        if (x->state == SX_FAILED && x->failed)
                (void) rk_dict_set_string(v, "failed", x->failed);
        return v;
}

int sysext_list(ringd *d, rk_value **ret) {
        rk_value *a = NULL;
        int r = rk_value_new_array(&a);

        if (r < 0)
                return r;
        for (sysext *x = d->sx ? d->sx->list : NULL; x; x = x->next) {
                rk_value *v = sx_value(x);
                if (!v || (r = rk_array_append(a, v)) < 0) {
                        rk_value_unref(v);
                        rk_value_unref(a);
                        return r < 0 ? r : -ENOMEM;
                }
                rk_value_unref(v);
        }
        *ret = a;
        return 0;
}

/*
 * restart {bundle}: an administrator's retry of a system extension ringd
 * stopped (a crash loop, a launch that failed), from the same verified
 * store copy, with its crash count cleared.  One that runs or is between
 * two restarts is left alone (-EALREADY); an unknown bundle is -ENOENT.
 */
void sysext_cmd_restart(ctl_client *c, uint32_t peer, rk_value *req) {
        ringd *d = control_client_ringd(c);
        const char *bundle = rk_dict_get_string(req, "bundle");
        _cleanup_(rk_value_unrefp) rk_value *v = NULL;
        _cleanup_(freep) char *msg = NULL;
        sysext *x;

        if (!bundle || !*bundle)
                return control_reply_error(c, peer, -EINVAL, "restart: 'bundle' (a system extension's identifier) is required");
        for (x = d->sx ? d->sx->list : NULL; x; x = x->next)
                if (streq(x->bundle, bundle) && x->state != SX_STOPPING)
                        break;
        if (!x) {
                if (asprintf(&msg, "restart: %s is not a system extension ringd runs (activated, approved and enabled)", bundle) < 0)
                        msg = NULL;
                return control_reply_error(c, peer, -ENOENT, msg);
        }
        if (x->state != SX_FAILED) {
                if (asprintf(&msg, "restart: %s is %s, not stopped", bundle, state_name(x->state)) < 0)
                        msg = NULL;
                return control_reply_error(c, peer, -EALREADY, msg);
        }
        log_notice(d, "%s: restarted by an administrator (was: %s)", x->tag, x->failed ? x->failed : "failed");
        sx_forget_crashes(x);
        x->child = rk_source_unref(x->child); /* the last run's, exited */
        sx_launch(x);
        /* the reply: what `ringctl list` shows of it, and ok */
        if (!(v = sx_value(x)) || rk_dict_set_bool(v, "ok", true) < 0)
                return control_reply_error(c, peer, -ENOMEM, NULL);
        control_reply_fd(c, peer, v, -EBADF);
}

int sysext_debug(ringd *d, const char *bundle, char **why) {
        sysext *x;

        *why = NULL;
        for (x = d->sx ? d->sx->list : NULL; x; x = x->next)
                if (streq(x->bundle, bundle) && x->state != SX_STOPPING)
                        break;
        if (!x)
                return 0;
        if (x->debug_next) {
                if (asprintf(why, "debug: %s is already being started for a debugger", bundle) < 0)
                        *why = NULL;
                return -EBUSY;
        }
        x->debug_next = true;
        switch (x->state) {
        case SX_RUNNING:
                if (x->pid > 0) {
                        log_notice(d, "%s: stopping pid %d, to start it again stopped for a debugger", x->tag, (int) x->pid);
                        x->relaunch = true;
                        (void) kill(x->pid, SIGTERM);
                        arm(x, rk_now() + STOP_GRACE_USEC);
                        return 1;
                }
                break;
        case SX_FAILED:
                log_notice(d, "%s: started for a debugger (was: %s)", x->tag, x->failed ? x->failed : "failed");
                sx_forget_crashes(x);
                break;
        case SX_BACKOFF:
        case SX_STOPPING:
                break;
        }
        /* not running (failed, or waiting to restart): launched now */
        if (x->timer)
                (void) rk_source_set_enabled(x->timer, RK_SOURCE_OFF);
        x->child = rk_source_unref(x->child); /* the last run's, exited */
        sx_launch(x);
        return 1;
}

int sysext_status(ringd *d, rk_value *m) {
        _cleanup_(rk_value_unrefp) rk_value *a = NULL;
        int r = sysext_list(d, &a);

        return r < 0 ? r : rk_dict_set(m, "system_extensions", a);
}

void sysext_done(ringd *d) {
        if (!d->sx)
                return;
        while (d->sx->list) {
                sysext *x = d->sx->list;
                if (x->pid > 0) {
                        (void) kill(x->pid, SIGKILL);
                        if (x->cg[0])
                                limits_kill_pid(d, x->cg, x->pid);
                        /* reap it: the child source goes with the record */
                        siginfo_t si;
                        (void) waitid(P_PID, (id_t) x->pid, &si, WEXITED);
                }
                x->stopped = NULL;
                sx_free(x);
        }
        free(d->sx);
        d->sx = NULL;
}
