/* SPDX-License-Identifier: MIT */
/*
 * ringkit-sandbox-exec: run one program confined, from verified bytes.
 *
 *   ringkit-sandbox-exec (--exec-fd N | --exec PATH --sha256 HEX)
 *           (--uid U --gid G | --user NAME) [--bundle DIR] [--data DIR]
 *           [--ro PATH]... [--rw PATH]... [--dev PATH]... [--no-network]
 *           [--rlimit-as BYTES] [--rlimit-nofile N] [--rlimit-nproc N]
 *           [--keep-fd N]... [--seccomp-fd N] [--die-with-parent]
 *           [--cgroup-procs FILE] -- ARGV0 [ARGS...]
 *
 * --cgroup-procs: a cgroup.procs file this process joins before anything
 * else (ringd's pids cgroup for the launch, capped at --max-tasks), so
 * that nothing the program forks can start outside it.
 * --seccomp-fd: a filter prebuilt by rk_sandbox_seccomp_export() (ringd
 * builds it once), loaded instead of compiled here.
 *
 * ringd posix_spawns this instead of the dext, with the same file actions
 * (channel on RK_DEXT_FD, /dev/null on 0) and environment; it passes the
 * channel as --keep-fd and, once wired, the sealed memfd as --exec-fd.
 *
 * Steps, each in the order that keeps the next possible:
 *   1. parse; resolve --user (needs /etc/passwd, so before landlock);
 *      with --exec, verified exec into a sealed memfd; with --exec-fd,
 *      check the memfd carries its seals
 *   2. rk_sandbox_apply(): close fds -> rlimits -> no_new_privs -> landlock
 *      -> drop uid/gid -> seccomp
 *   3. fexecve(memfd, argv, environ)
 * RINGKIT_SANDBOX_TIMING set in the environment: one line on stderr with
 * the microseconds each step took, just before the exec.
 * Any failure before the exec prints "ringkit-sandbox-exec: STEP: why" and
 * exits 127; after the exec the exit status is the program's.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "rings/sandbox.h"

#define MAX_LIST 32

typedef struct opts {
        rk_sandbox_config c;
        const char *exec_path, *sha_hex;
        const char *ro[MAX_LIST], *rw[MAX_LIST], *dev[MAX_LIST];
        int keep[MAX_LIST];
        size_t n_keep;
        bool die_with_parent;
        const char *cgroup_procs;
        char **argv;
} opts;

_printf_(2, 3) static int die(const char *step, const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "ringkit-sandbox-exec: %s: ", step);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return 127;
}

static int die_diag(const char *step, rk_diag *d, int r) {
        fprintf(stderr, "ringkit-sandbox-exec: %s failed: %s\n", step, strerror(-r));
        rk_diag_print(d, stderr);
        return 127;
}

static int parse_ull(const char *s, unsigned long long max, unsigned long long *ret) {
        char *end;

        errno = 0;
        *ret = strtoull(s, &end, 10);
        return errno || end == s || *end || *s == '-' || *ret > max ? -EINVAL : 0;
}

static int add_list(const char **list, size_t *n, const char *v) {
        if (*n >= MAX_LIST)
                return -E2BIG;
        list[(*n)++] = v;
        return 0;
}

static int parse_user(opts *o, const char *name) {
        struct passwd *pw = getpwnam(name);

        if (!pw)
                return -ESRCH;
        o->c.uid = pw->pw_uid;
        o->c.gid = pw->pw_gid;
        return 0;
}

enum { O_EXEC_FD = 256, O_EXEC, O_SHA, O_UID, O_GID, O_USER, O_BUNDLE, O_DATA, O_RO, O_DEV,
       O_NONET, O_AS, O_NOFILE, O_NPROC, O_KEEP, O_RW, O_SECCOMP_FD, O_DIE_WITH_PARENT, O_CGROUP_PROCS };

static const struct option longopts[] = {
        { "exec-fd", 1, NULL, O_EXEC_FD }, { "exec", 1, NULL, O_EXEC }, { "sha256", 1, NULL, O_SHA },
        { "uid", 1, NULL, O_UID }, { "gid", 1, NULL, O_GID }, { "user", 1, NULL, O_USER },
        { "bundle", 1, NULL, O_BUNDLE }, { "data", 1, NULL, O_DATA }, { "ro", 1, NULL, O_RO },
        { "dev", 1, NULL, O_DEV }, { "no-network", 0, NULL, O_NONET },
        { "rlimit-as", 1, NULL, O_AS }, { "rlimit-nofile", 1, NULL, O_NOFILE },
        { "rlimit-nproc", 1, NULL, O_NPROC }, { "keep-fd", 1, NULL, O_KEEP }, { "rw", 1, NULL, O_RW },
        { "seccomp-fd", 1, NULL, O_SECCOMP_FD }, { "die-with-parent", 0, NULL, O_DIE_WITH_PARENT },
        { "cgroup-procs", 1, NULL, O_CGROUP_PROCS }, { NULL, 0, NULL, 0 },
};

static int parse_one(opts *o, int opt, const char *arg) {
        unsigned long long v = 0;
        int r = 0;

        bool numeric = opt == O_EXEC_FD || opt == O_SECCOMP_FD || opt == O_UID || opt == O_GID || opt == O_AS ||
                       opt == O_NOFILE || opt == O_NPROC || opt == O_KEEP;

        if (numeric)
                r = parse_ull(arg, opt == O_AS ? (unsigned long long) RLIM_INFINITY - 1
                                               : (unsigned long long) INT32_MAX - 1, &v);
        if (r < 0)
                return r;
        switch (opt) {
        case O_EXEC_FD: o->c.exec_fd = (int) v; break;
        case O_SECCOMP_FD: o->c.seccomp_fd = (int) v; break;
        case O_EXEC: o->exec_path = arg; break;
        case O_SHA: o->sha_hex = arg; break;
        case O_UID: o->c.uid = (uid_t) v; break;
        case O_GID: o->c.gid = (gid_t) v; break;
        case O_USER: return parse_user(o, arg);
        case O_BUNDLE: o->c.bundle = arg; break;
        case O_DATA: o->c.data = arg; break;
        case O_RO: return add_list(o->ro, &o->c.n_ro, arg);
        case O_RW: return add_list(o->rw, &o->c.n_rw, arg);
        case O_DEV: return add_list(o->dev, &o->c.n_dev, arg);
        case O_NONET: o->c.no_network = true; break;
        case O_DIE_WITH_PARENT: o->die_with_parent = true; break;
        case O_CGROUP_PROCS: o->cgroup_procs = arg; break;
        case O_AS: o->c.rlimit_as = (rlim_t) v; break;
        case O_NOFILE: o->c.rlimit_nofile = (rlim_t) v; break;
        case O_NPROC: o->c.rlimit_nproc = (rlim_t) v; break;
        case O_KEEP:
                if (o->n_keep >= MAX_LIST)
                        return -E2BIG;
                o->keep[o->n_keep++] = (int) v;
                break;
        default: return -EINVAL;
        }
        return 0;
}

static int parse(opts *o, int argc, char **argv) {
        int opt, r;

        o->c = RK_SANDBOX_CONFIG_INIT;
        while ((opt = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
                if (opt == '?')
                        return die("arguments", "%s", "unknown option");
                r = parse_one(o, opt, optarg);
                if (r < 0)
                        return die("arguments", r == -ESRCH ? "no such user: %s" : "bad value: %s", optarg);
        }
        if (optind >= argc)
                return die("arguments", "%s", "no program after --");
        if ((o->c.exec_fd >= 0) == !!o->exec_path)
                return die("arguments", "%s", "give exactly one of --exec-fd and --exec");
        if (o->exec_path && !o->sha_hex)
                return die("arguments", "%s", "--exec needs --sha256");
        o->c.ro = o->ro;
        o->c.rw = o->rw;
        o->c.dev = o->dev;
        o->c.keep_fds = o->keep;
        o->c.n_keep_fds = o->n_keep;
        o->argv = argv + optind;
        return 0;
}

/* --cgroup-procs: this process into the cgroup, so everything it runs stays there */
static int join_cgroup(const char *procs) {
        char num[24];
        int fd = open(procs, O_WRONLY | O_CLOEXEC), n = snprintf(num, sizeof(num), "%d", (int) getpid());
        bool ok;

        if (fd < 0)
                return die("cgroup", "%s: %s", procs, strerror(errno));
        ok = write(fd, num, (size_t) n) == n;
        if (!ok) {
                int e = errno;
                close(fd);
                return die("cgroup", "%s: %s", procs, strerror(e));
        }
        close(fd);
        return 0;
}

static int prepare_exec(opts *o, rk_diag *d) {
        uint8_t sha[RK_SHA256_LEN];
        int r;

        if (o->c.exec_fd >= 0) {
                r = rk_memfd_check_sealed(o->c.exec_fd);
                if (r < 0)
                        return die("exec fd", "%s", "not a sealed memfd (write, grow and shrink seals needed)");
                return 0;
        }
        if (rk_sha256_from_hex(o->sha_hex, sha) < 0)
                return die("arguments", "bad --sha256: %s", o->sha_hex);
        r = rk_verified_exec_prepare(o->exec_path, sha, &o->c.exec_fd, d);
        if (r < 0)
                return die_diag("verified exec", d, r);
        return 0;
}

static double now_us(void) {
        struct timespec t;

        clock_gettime(CLOCK_MONOTONIC, &t);
        return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

int main(int argc, char **argv) {
        rk_sandbox_timing timing = { 0 };
        double t0, t_verify = 0;
        rk_diag d;
        opts o = { 0 };
        int r;

        pid_t launcher = getppid();

        rk_diag_init(&d);
        r = parse(&o, argc, argv);
        if (r == 0 && o.cgroup_procs)
                r = join_cgroup(o.cgroup_procs);
        if (r == 0) {
                t0 = now_us();
                r = prepare_exec(&o, &d);
                t_verify = now_us() - t0;
        }
        if (getenv("RINGKIT_SANDBOX_TIMING"))
                o.c.timing = &timing;
        for (size_t k = 0; r == 0 && k < o.n_keep; k++) /* granted fds survive the exec */
                if (fcntl(o.keep[k], F_SETFD, 0) < 0)
                        r = die("keep fd", "%s", "not an open descriptor");
        if (r == 0) {
                extern char **environ;
                r = rk_sandbox_apply(&o.c, &d);
                if (r < 0)
                        die_diag("sandbox", &d, r);
                else if (o.c.timing)
                        fprintf(stderr, "ringkit-sandbox-exec: timing us: verify %.1f close_fds %.1f rlimits %.1f "
                                "landlock %.1f drop %.1f seccomp %.1f\n", t_verify, timing.close_fds / 1e3,
                                timing.rlimits / 1e3, timing.landlock / 1e3, timing.drop / 1e3, timing.seccomp / 1e3);
                /*
                 * --die-with-parent (ringd passes it): SIGKILL when the
                 * launcher dies, so no extension outlives its supervisor.
                 * Set here, after the uid drop (which clears it) and before
                 * the exec (which keeps it); a launcher already gone by now
                 * is caught by the parent check.
                 */
                if (r == 0 && o.die_with_parent &&
                    (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != launcher))
                        r = die("die-with-parent", "%s", "the launcher is gone");
                if (r == 0)
                        fexecve(o.c.exec_fd, o.argv, environ);
                if (r == 0)
                        die("exec", "%s", strerror(errno));
                /* partly confined: no exit handlers (a leak checker would trip on landlock) */
                fflush(stderr);
                _exit(127);
        }
        rk_diag_done(&d);
        return r;
}
