/* SPDX-License-Identifier: MIT */
/*
 * bench-es: what endpoint security costs, against the floor measured in the
 * same run.  Needs root (fanotify, a tmpfs mount).
 *
 *   1. posix_spawn + wait of a copy of /bin/true on a private tmpfs, p50 and
 *      p99, four ways:
 *        bare        nothing marked;
 *        raw         an in-process fanotify responder (FAN_OPEN_EXEC_PERM on
 *                    the tmpfs, answered FAN_ALLOW by a thread): the floor;
 *                    one permission event per exec, as for the client;
 *        ringd idle  ringd running, its client connected but unsubscribed
 *                    (nothing marked);
 *        ringd + 1   ringd with one ES client (this program, run from the
 *                    store copy of an activated system extension) answering
 *                    every AUTH_EXEC allow, cache off (subscribed to
 *                    AUTH_EXEC only, as the raw responder marks only
 *                    FAN_OPEN_EXEC_PERM).
 *      They run in interleaved rounds (a block of each per round, in an
 *      order that turns from round to round), so
 *      load from elsewhere on the machine falls on all of them alike.
 *      A fifth condition, spawns only: the client subscribed to AUTH_EXEC
 *      and AUTH_OPEN (an exec's own open is not asked again).  Two
 *      references in the same rounds (see helper_start()): the raw
 *      responder in a process of its own, and a bare relay (one process
 *      forwards each event to a second, which answers): the least any
 *      design with a daemon in the middle costs, printed paired against
 *      ringd + 1.
 *      Added latency: per round, the block's median minus the bare block's
 *      median; the median over rounds (paired, so drift between rounds
 *      cancels; the p50 over all runs is printed too).  Targets (issue 7):
 *      ringd + 1 adds under 100 us p50 and at most twice what raw adds.
 *   2. One AUTH round trip without process creation in it: open()+close()
 *      of a file on the tmpfs from one thread, the same four ways (raw marks
 *      FAN_OPEN_PERM; ringd + 1 subscribes to AUTH_OPEN and answers), p50
 *      and p99: what an AUTH event costs, measurable
 *      even when spawn times are noisy.
 *   3. AUTH events per second sustained: 4 threads open() a file on the
 *      tmpfs for 2 s each way (raw responder; ringd + 1 client answering
 *      AUTH_OPEN, cache off).
 *
 * Environment: BENCH_ES_SPIN=US (ringd's --es-spin), BENCH_ES_CLIENT_SPIN=US
 * (the client's rk_es_set_spin), BENCH_ES_RINGD_LOG=FILE (ringd's log;
 * /dev/null otherwise).
 *
 * Usage: bench-es [ITERATIONS]   (from the build tree: it finds ringd and
 * ringctl relative to itself; the client is a copy of itself, run with
 * --client).  ringd runs in developer mode, so the unsigned client bundle is
 * admitted (the relaxation is logged); nothing else differs from a signed one
 * on the hot path.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/epoll.h>
#include <sys/fanotify.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "ringkit/es.h"

extern char **environ;

static char dir[64], fs[96], target[128], openfile[128];
static char self_dir[PATH_MAX];

typedef struct fig {
        double p50, p99;
} fig;

/* k spawns appended to v[*n] (microseconds each) */
static void spawn_some(int k, double *v, int *n) {
        char *argv[] = { target, NULL };

        for (int i = 0; i < k; i++) {
                pid_t pid;
                int st;
                double t0 = bench_now_us();
                if (posix_spawn(&pid, target, NULL, NULL, argv, environ) != 0) {
                        fprintf(stderr, "bench-es: spawn %s: %m\n", target);
                        exit(1);
                }
                waitpid(pid, &st, 0);
                if (v)
                        v[(*n)++] = bench_now_us() - t0;
                if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                        fprintf(stderr, "bench-es: %s failed (status 0x%x)\n", target, st);
                        exit(1);
                }
        }
}

/* k open()+close() of the file on the tmpfs, one thread: one AUTH_OPEN each when marked */
static void open_some(int k, double *v, int *n) {
        for (int i = 0; i < k; i++) {
                double t0 = bench_now_us();
                int fd = open(openfile, O_RDONLY | O_CLOEXEC);
                if (fd >= 0)
                        close(fd);
                v[(*n)++] = bench_now_us() - t0;
        }
}

/*
 * Paired added latency: for each round, the median of the block of `c`
 * minus the median of the block of `base` of the same round; the median of
 * those differences, with a distribution-free 95% interval for it (the
 * order statistics n/2 -+ 0.98 sqrt(n) of the sorted differences).  Load
 * that comes and goes between rounds cancels out; what is left shows in
 * the interval's width.  Call before figure(), which sorts v.
 */
typedef struct pair {
        double p50, lo, hi;
} pair;

static pair paired(const double *c, const double *base, int rounds, int per) {
        double *d = calloc((size_t) rounds, sizeof(double)), blk[2][64];
        pair r = { 0, 0, 0 };
        int w = 0;

        if (!d || per > 64 || rounds < 1) {
                free(d);
                return r;
        }
        while ((double) w * w < 0.9604 * rounds) /* w = ceil(0.98 sqrt(rounds)), without libm */
                w++;
        for (int k = 0; k < rounds; k++) {
                memcpy(blk[0], c + (size_t) k * per, (size_t) per * sizeof(double));
                memcpy(blk[1], base + (size_t) k * per, (size_t) per * sizeof(double));
                bench_sort(blk[0], (size_t) per);
                bench_sort(blk[1], (size_t) per);
                d[k] = blk[0][per / 2] - blk[1][per / 2];
        }
        bench_sort(d, (size_t) rounds);
        r.p50 = d[rounds / 2];
        r.lo = d[rounds / 2 - w < 0 ? 0 : rounds / 2 - w];
        r.hi = d[rounds / 2 + w >= rounds ? rounds - 1 : rounds / 2 + w];
        free(d);
        return r;
}

static fig figure(double *v, int n) {
        bench_sort(v, (size_t) n);
        return (fig){ v[n / 2], v[(size_t) ((n - 1) * 0.99)] };
}

/* ---- AUTH events per second: 4 threads opening a file ---- */

static atomic_bool stop_opens;
static atomic_ulong n_opens;

static void *opener(void *ud) {
        unsigned long n = 0;
        while (!atomic_load(&stop_opens)) {
                int fd = open(openfile, O_RDONLY | O_CLOEXEC);
                if (fd >= 0)
                        close(fd);
                n++;
        }
        atomic_fetch_add(&n_opens, n);
        return NULL;
}

static double opens_per_sec(double secs) {
        pthread_t t[4];
        double t0 = bench_now_us();

        atomic_store(&stop_opens, false);
        atomic_store(&n_opens, 0);
        for (int k = 0; k < 4; k++)
                pthread_create(&t[k], NULL, opener, NULL);
        usleep((useconds_t) (secs * 1e6));
        atomic_store(&stop_opens, true);
        for (int k = 0; k < 4; k++)
                pthread_join(t[k], NULL);
        return atomic_load(&n_opens) / ((bench_now_us() - t0) / 1e6);
}

/* ---- the raw in-process responder: the floor ---- */

typedef struct raw {
        int fan, stop;
        pthread_t thread;
} raw;

/* One read of the group, every permission event in it allowed; what read() returned. */
static ssize_t allow_all(int fan) {
        char buf[8192] __attribute__((aligned(8)));
        ssize_t n = read(fan, buf, sizeof(buf));

        for (struct fanotify_event_metadata *md = (void *) buf; n > 0 && FAN_EVENT_OK(md, n); md = FAN_EVENT_NEXT(md, n)) {
                struct fanotify_response resp = { .fd = md->fd, .response = FAN_ALLOW };
                if (md->fd < 0)
                        continue;
                (void) !write(fan, &resp, sizeof(resp));
                close(md->fd);
        }
        return n;
}

static void *raw_thread(void *ud) {
        raw *r = ud;
        for (;;) {
                struct pollfd p[2] = { { .fd = r->fan, .events = POLLIN }, { .fd = r->stop, .events = POLLIN } };
                if (poll(p, 2, -1) < 0 || p[1].revents)
                        return NULL;
                (void) allow_all(r->fan);
        }
}

/* mask: FAN_OPEN_EXEC_PERM for the spawns, FAN_OPEN_PERM for the opens */
static int raw_start(raw *r, uint64_t mask) {
        r->fan = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, O_RDONLY | O_CLOEXEC);
        r->stop = eventfd(0, EFD_CLOEXEC);
        if (r->fan < 0 || r->stop < 0 || fanotify_mark(r->fan, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, mask, AT_FDCWD, fs) < 0)
                return -errno;
        return -pthread_create(&r->thread, NULL, raw_thread, r);
}

static void raw_stop(raw *r) {
        uint64_t one = 1;
        (void) !write(r->stop, &one, sizeof(one));
        pthread_join(r->thread, NULL);
        close(r->fan);
        close(r->stop);
}

/*
 * Two references for what any design with the answer in another process
 * costs, each a long-lived helper process holding its own fanotify group
 * (marked and unmarked by the main process around its blocks):
 *   raw process   the raw responder of above in a process of its own: the
 *                 floor of a design where the client reads fanotify itself;
 *   bare relay    a responder process that forwards each event (a 160-byte
 *                 message, about what ringd sends) over a socketpair to a
 *                 second process, which answers (36 bytes, as a client
 *                 does); the first writes the answer to fanotify.  No
 *                 process cache, no path, no policy: the floor of the
 *                 design issue 7 asks for (a daemon owns fanotify and fans
 *                 events out to clients), what ringd + 1 pays at the least.
 */
typedef struct helper {
        int fan;   /* the group, shared with the helper */
        pid_t pid[2];
} helper;

/* named for bench/es-sched-chain.py, which tells the responders apart by name */
static void helper_die_with_parent(const char *name) {
        prctl(PR_SET_NAME, name);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() == 1)
                _exit(0);
}

static void raw_process_main(int fan) {
        for (;;)
                if (allow_all(fan) < 0 && errno != EINTR)
                        _exit(1);
}

static void relay_main(int fan, int sk) {
        char buf[8192] __attribute__((aligned(8))), msg[160];
        int ep = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event e = { .events = EPOLLIN, .data.fd = fan };

        if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fan, &e) < 0)
                _exit(1);
        e.data.fd = sk;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, sk, &e) < 0)
                _exit(1);
        memset(msg, 0, sizeof(msg));
        for (;;) {
                struct epoll_event ev[2];
                int k = epoll_wait(ep, ev, 2, -1);
                if (k < 0 && errno != EINTR)
                        _exit(1);
                for (int i = 0; i < k; i++) {
                        if (ev[i].data.fd == fan) {
                                ssize_t n = read(fan, buf, sizeof(buf));
                                for (struct fanotify_event_metadata *md = (void *) buf; n > 0 && FAN_EVENT_OK(md, n);
                                     md = FAN_EVENT_NEXT(md, n)) {
                                        if (md->fd < 0)
                                                continue;
                                        memcpy(msg, &md->fd, sizeof(md->fd));
                                        (void) !send(sk, msg, sizeof(msg), 0);
                                }
                                continue;
                        }
                        int32_t fd;
                        while (recv(sk, msg, sizeof(msg), MSG_DONTWAIT) >= (ssize_t) sizeof(fd)) {
                                memcpy(&fd, msg, sizeof(fd));
                                struct fanotify_response resp = { .fd = fd, .response = FAN_ALLOW };
                                (void) !write(fan, &resp, sizeof(resp));
                                close(fd);
                        }
                }
        }
}

static void relay_answerer_main(int sk) {
        char msg[160];
        struct pollfd p = { .fd = sk, .events = POLLIN };
        for (;;) {
                if (poll(&p, 1, -1) < 0 && errno != EINTR)
                        _exit(1);
                ssize_t n;
                while ((n = recv(sk, msg, sizeof(msg), MSG_DONTWAIT)) > 0)
                        (void) !send(sk, msg, 36, 0);
                if (n == 0)
                        _exit(0);
        }
}

/* relay: false for the raw process */
static int helper_start(helper *h, bool relay) {
        int sv[2] = { -1, -1 };

        h->fan = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, O_RDONLY | O_CLOEXEC);
        if (h->fan < 0 || (relay && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0))
                return -errno;
        h->pid[0] = fork();
        if (h->pid[0] == 0) {
                helper_die_with_parent(relay ? "bench-es-relay" : "bench-es-rawp");
                if (relay)
                        relay_main(h->fan, sv[0]);
                raw_process_main(h->fan);
        }
        h->pid[1] = -1;
        if (relay) {
                h->pid[1] = fork();
                if (h->pid[1] == 0) {
                        helper_die_with_parent("bench-es-answer");
                        close(h->fan);
                        close(sv[0]);
                        relay_answerer_main(sv[1]);
                }
                close(sv[0]);
                close(sv[1]);
        }
        return h->pid[0] < 0 || (relay && h->pid[1] < 0) ? -EAGAIN : 0;
}

static int helper_mark(helper *h, bool add, uint64_t mask) {
        return fanotify_mark(h->fan, (add ? FAN_MARK_ADD : FAN_MARK_REMOVE) | FAN_MARK_FILESYSTEM, mask, AT_FDCWD, fs) < 0
                       ? -errno
                       : 0;
}

static void helper_stop(helper *h) {
        for (int k = 0; k < 2; k++)
                if (h->pid[k] > 0) {
                        kill(h->pid[k], SIGKILL);
                        waitpid(h->pid[k], NULL, 0);
                }
        if (h->fan >= 0)
                close(h->fan);
}

/* ---- the ES client (this program, run from the store with --client READY-FILE) ---- */

static void on_event(rk_es_client *c, const rk_es_message *m, void *ud) {
        if (m->is_auth)
                rk_es_respond_auth_result(c, m, RK_ES_AUTH_RESULT_ALLOW, false);
}

/*
 * The client: reads commands from fd 3 ('e' subscribe to AUTH_EXEC, 'o' to
 * AUTH_OPEN, 'b' to both, 'u' unsubscribe all), acknowledges each on fd 4 once ringd
 * acknowledged it (the marks are then in place or gone), and answers AUTH
 * events in between.
 */
static int client_main(const char *ready) {
        rk_es_event_type exec_ev = RK_ES_EVENT_TYPE_AUTH_EXEC, open_ev = RK_ES_EVENT_TYPE_AUTH_OPEN;
        rk_es_client *c = NULL;
        char *why = NULL;
        int r = rk_es_new_client(&c, NULL, on_event, NULL, &why);

        if (r < 0) {
                fprintf(stderr, "bench-es client: %s: %s\n", strerror(-r), why ? why : "-");
                return 1;
        }
        /* BENCH_ES_CLIENT_SPIN=US: the client's rk_es_set_spin (the SDK's default otherwise) */
        if (getenv("BENCH_ES_CLIENT_SPIN"))
                (void) rk_es_set_spin(c, (unsigned) atoi(getenv("BENCH_ES_CLIENT_SPIN")));
        fclose(fopen(ready, "w"));
        for (;;) {
                struct pollfd p[2] = { { .fd = rk_es_client_get_fd(c), .events = POLLIN }, { .fd = 3, .events = POLLIN } };
                if (poll(p, 2, -1) < 0 && errno != EINTR)
                        break;
                if (p[0].revents && rk_es_client_dispatch(c) == -ECONNRESET)
                        break;
                if (p[1].revents) {
                        char cmd;
                        if (read(3, &cmd, 1) != 1)
                                break;
                        rk_es_event_type both[] = { exec_ev, open_ev };
                        r = cmd == 'e'   ? rk_es_subscribe(c, &exec_ev, 1)
                            : cmd == 'o' ? rk_es_subscribe(c, &open_ev, 1)
                            : cmd == 'b' ? rk_es_subscribe(c, both, 2)
                                         : rk_es_unsubscribe_all(c);
                        if (r < 0)
                                fprintf(stderr, "bench-es client: %c: %s\n", cmd, strerror(-r));
                        (void) !write(4, &cmd, 1);
                }
        }
        rk_es_client_free(c);
        return 0;
}

static int ctl_w = -1, ack_r = -1;

static void client_cmd(char cmd) {
        char a;
        if (write(ctl_w, &cmd, 1) != 1 || read(ack_r, &a, 1) != 1) {
                fprintf(stderr, "bench-es: the client is gone\n");
                exit(1);
        }
}

/* ---- set-up ---- */

static bool wait_file(const char *p, int ms) {
        for (int k = 0; k < ms / 10; k++) {
                if (access(p, F_OK) == 0)
                        return true;
                usleep(10000);
        }
        return false;
}

static pid_t ringd_pid, client_pid;

static void cleanup(void) {
        if (client_pid > 0) {
                kill(client_pid, SIGTERM);
                waitpid(client_pid, NULL, 0);
        }
        if (ringd_pid > 0) {
                kill(ringd_pid, SIGTERM);
                waitpid(ringd_pid, NULL, 0);
        }
        if (fs[0])
                umount2(fs, MNT_DETACH);
        if (dir[0])
                bench_run("rm -rf '%s'", dir);
}

static void make_bundle(const char *root) {
        char app[256], ext[512], p[600];

        snprintf(app, sizeof(app), "%s/Applications/Bench.app", root);
        snprintf(ext, sizeof(ext), "%s/Contents/Library/SystemExtensions/org.ringkit.bench.es.systemextension", app);
        if (bench_run("mkdir -p '%s/Contents/MacOS' '%s/Contents/MacOS' && printf '#!/bin/sh\\n' >'%s/Contents/MacOS/Bench' && "
                "chmod +x '%s/Contents/MacOS/Bench' && cp /proc/%d/exe '%s/Contents/MacOS/bench-es-client'",
                app, ext, app, app, (int) getpid(), ext))
                exit(1);
        snprintf(p, sizeof(p), "%s/Contents/Info.plist", app);
        bench_write_file(p, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>"
                      "<key>CFBundleIdentifier</key><string>org.ringkit.bench.app</string>"
                      "<key>CFBundleVersion</key><string>1.0</string>"
                      "<key>CFBundlePackageType</key><string>APPL</string>"
                      "<key>CFBundleExecutable</key><string>Bench</string></dict></plist>\n");
        snprintf(p, sizeof(p), "%s/Contents/Info.plist", ext);
        bench_write_file(p, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>"
                      "<key>CFBundleIdentifier</key><string>org.ringkit.bench.es</string>"
                      "<key>CFBundleVersion</key><string>1.0</string>"
                      "<key>CFBundleShortVersionString</key><string>1.0</string>"
                      "<key>CFBundlePackageType</key><string>SYSX</string>"
                      "<key>CFBundleExecutable</key><string>bench-es-client</string></dict></plist>\n");
}

static void print_fig(const char *name, fig f, fig base) {
        printf("  %-34s p50 %7.1f us  p99 %7.1f us   added p50 %+7.1f us\n", name, f.p50, f.p99, f.p50 - base.p50);
}

int main(int argc, char **argv) {
        char root[128], ringd[PATH_MAX + 16], ringctl[PATH_MAX + 16], sock[192], ready[192], store_exe[PATH_MAX];
        int n = argc > 1 ? atoi(argv[1]) : 2000;
        raw rw;
        helper hp = { .fan = -1 }, hr = { .fan = -1 };
        fig bare, rawf, one;
        double raw_ops, es_ops;

        if (argc > 2 && strcmp(argv[1], "--client") == 0)
                return client_main(argv[2]);
        /*
         * ringd supervises every activated system extension, so it runs this
         * bundle's executable too (sandboxed, as its own uid).  That copy
         * stays idle: it is not the measured client, and exiting would have
         * it restarted (with back-off) while the rounds run.
         */
        if (getenv("RINGKIT_INSTANCE")) {
                /* until ringd goes (its parent-death signal ends it); nanosleep is in the sandbox's allow list, pause(2) is not */
                for (;;)
                        sleep(3600);
        }
        if (n < 10)
                n = 10;
        if (geteuid() != 0) {
                fprintf(stderr, "bench-es: needs root (fanotify, tmpfs)\n");
                return 77;
        }
        if (bench_self_dir(self_dir, sizeof(self_dir)) < 0) /* build/bench */
                return 1;
        snprintf(ringd, sizeof(ringd), "%s/../ringd", self_dir);
        snprintf(ringctl, sizeof(ringctl), "%s/../ringctl", self_dir);

        strcpy(dir, "/tmp/bench-es.XXXXXX");
        if (!mkdtemp(dir))
                return 1;
        snprintf(fs, sizeof(fs), "%s/fs", dir);
        snprintf(root, sizeof(root), "%s/root", dir);
        snprintf(target, sizeof(target), "%s/true", fs);
        snprintf(openfile, sizeof(openfile), "%s/file", fs);
        snprintf(sock, sizeof(sock), "%s/run/es.sock", root);
        snprintf(ready, sizeof(ready), "%s/client.ready", dir);
        atexit(cleanup);
        if (bench_run("mkdir -p '%s' '%s/Applications'", fs, root) || mount("bench-es", fs, "tmpfs", 0, "size=16m") < 0 ||
            bench_run("cp /bin/true '%s' && echo x >'%s'", target, openfile)) {
                fprintf(stderr, "bench-es: set-up failed: %m\n");
                return 1;
        }
        setenv("RINGKIT_ES_SOCKET", sock, 1);
        /* the references' helpers, forked while this process is small; each dies with it */
        if (helper_start(&hp, false) < 0 || helper_start(&hr, true) < 0) {
                fprintf(stderr, "bench-es: the reference responders: %m\n");
                return 1;
        }

        /* ringd, developer mode, the client bundle activated and approved */
        make_bundle(root);
        pid_t pid = fork();
        if (pid == 0) {
                int fd = open(getenv("BENCH_ES_RINGD_LOG") ? getenv("BENCH_ES_RINGD_LOG") : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
                dup2(fd, 2);
                /* BENCH_ES_SPIN=US: ringd's --es-spin (its default otherwise) */
                const char *spin = getenv("BENCH_ES_SPIN");
                if (spin)
                        execl(ringd, "ringd", "--root", root, "--no-linux", "--es-scope", fs, "--es-spin", spin, (char *) NULL);
                else
                        execl(ringd, "ringd", "--root", root, "--no-linux", "--es-scope", fs, (char *) NULL);
                _exit(127);
        }
        ringd_pid = pid;
        if (!wait_file(sock, 10000)) {
                fprintf(stderr, "bench-es: ringd did not start (%s)\n", ringd);
                return 1;
        }
        if (bench_run("'%s' --root '%s' developer on >/dev/null && '%s' --root '%s' activate '%s/Applications/Bench.app' "
                "org.ringkit.bench.es >/dev/null && '%s' --root '%s' approve org.ringkit.bench.es >/dev/null",
                ringctl, root, ringctl, root, root, ringctl, root))
                return 1;
        {
                char cmd[1024];
                snprintf(cmd, sizeof(cmd), "ls -d '%s'/var/lib/ringkit/store/*/org.ringkit.bench.es/*/*.systemextension", root);
                FILE *f = popen(cmd, "r");
                if (!f || !fgets(store_exe, sizeof(store_exe) - 40, f)) {
                        fprintf(stderr, "bench-es: no store copy\n");
                        return 1;
                }
                pclose(f);
                store_exe[strcspn(store_exe, "\n")] = 0;
                strcat(store_exe, "/Contents/MacOS/bench-es-client");
        }
        int ctl[2], ack[2];
        if (pipe(ctl) < 0 || pipe(ack) < 0)
                return 1;
        pid = fork();
        if (pid == 0) {
                dup2(ctl[0], 3);
                dup2(ack[1], 4);
                execl(store_exe, "bench-es-client", "--client", ready, (char *) NULL);
                _exit(127);
        }
        client_pid = pid;
        close(ctl[0]);
        close(ack[1]);
        ctl_w = ctl[1];
        ack_r = ack[0];
        if (!wait_file(ready, 10000)) {
                fprintf(stderr, "bench-es: the ES client did not come up (%s)\n", store_exe);
                return 1;
        }

        /*
         * Interleaved rounds, so that load from elsewhere falls on every
         * condition alike: each round runs a block of each.
         */
        enum { BARE, RAW, RAWP, RELAY, IDLE, ONE, BOTH, N_COND };
        static const char *const names[N_COND] = { "bare (no marks)", "raw in-process responder (floor)",
                                                   "raw responder, own process", "bare relay, two processes",
                                                   "ringd, client unsubscribed", "ringd, one ES client answering",
                                                   "ringd, client on AUTH_OPEN too" };
        double *v[N_COND], *ov[N_COND];
        /*
         * Short blocks (10 spawns, 60 opens): the host of a virtual machine
         * changes how fast a halted CPU wakes from one second to the next,
         * and that moves every figure here; blocks of a few tens of
         * milliseconds put the same mix of fast and slow moments in each
         * condition.
         */
        int per = 10, oper = 60, rounds = n / per > 2 ? n / per : 2;
        int cnt[N_COND] = {}, ocnt[N_COND] = {};
        for (int c = 0; c < N_COND; c++)
                v[c] = calloc((size_t) per * rounds, sizeof(double)), ov[c] = calloc((size_t) oper * rounds, sizeof(double));
        printf("bench-es: posix_spawn+wait of %s (a copy of /bin/true on a tmpfs), %d runs each, in %d interleaved rounds\n",
               target, per * rounds, rounds);
        spawn_some(per, NULL, NULL); /* warm-up */
        for (int r = 0; r < rounds; r++) {
                /* the order turns every round, so no condition always runs first or after the same one */
                for (int k = 0; k < N_COND; k++) {
                        int c = (r + k) % N_COND;
                        if (c == RAW && raw_start(&rw, FAN_OPEN_EXEC_PERM) < 0) {
                                fprintf(stderr, "bench-es: fanotify: %m\n");
                                return 1;
                        }
                        helper *h = c == RAWP ? &hp : c == RELAY ? &hr : NULL;
                        if (h && helper_mark(h, true, FAN_OPEN_EXEC_PERM) < 0) {
                                fprintf(stderr, "bench-es: fanotify: %m\n");
                                return 1;
                        }
                        if (c == ONE)
                                client_cmd('e');
                        if (c == BOTH)
                                client_cmd('b');
                        spawn_some(2, NULL, NULL); /* the same warm-up for each */
                        spawn_some(per, v[c], &cnt[c]);
                        if (c == BOTH) {
                                client_cmd('u');
                                continue; /* spawns only: its opens are ONE's */
                        }
                        if (c == RAW) {
                                raw_stop(&rw);
                                if (raw_start(&rw, FAN_OPEN_PERM) < 0)
                                        return 1;
                        }
                        if (c == ONE) {
                                client_cmd('u');
                                client_cmd('o');
                        }
                        if (h && (helper_mark(h, false, FAN_OPEN_EXEC_PERM) < 0 || helper_mark(h, true, FAN_OPEN_PERM) < 0))
                                return 1;
                        open_some(oper, ov[c], &ocnt[c]);
                        if (h && helper_mark(h, false, FAN_OPEN_PERM) < 0)
                                return 1;
                        if (c == RAW)
                                raw_stop(&rw);
                        if (c == ONE)
                                client_cmd('u');
                }
        }
        pair pair_raw = paired(v[RAW], v[BARE], rounds, per), pair_one = paired(v[ONE], v[BARE], rounds, per);
        pair pair_over = paired(v[ONE], v[RAW], rounds, per), pair_both = paired(v[BOTH], v[BARE], rounds, per);
        pair opair_raw = paired(ov[RAW], ov[BARE], rounds, oper), opair_one = paired(ov[ONE], ov[BARE], rounds, oper);
        pair pair_rawp = paired(v[RAWP], v[BARE], rounds, per), pair_relay = paired(v[RELAY], v[BARE], rounds, per);
        pair pair_over_relay = paired(v[ONE], v[RELAY], rounds, per);
        pair opair_rawp = paired(ov[RAWP], ov[BARE], rounds, oper), opair_relay = paired(ov[RELAY], ov[BARE], rounds, oper);
        pair opair_over_relay = paired(ov[ONE], ov[RELAY], rounds, oper);
        helper_stop(&hp);
        helper_stop(&hr);
        fig f[N_COND];
        for (int c = 0; c < N_COND; c++)
                f[c] = figure(v[c], cnt[c]);
        if (raw_start(&rw, FAN_OPEN_PERM) < 0)
                return 1;
        raw_ops = opens_per_sec(2.0);
        raw_stop(&rw);
        client_cmd('o');
        es_ops = opens_per_sec(2.0);
        client_cmd('u');
        bare = f[BARE];
        rawf = f[RAW];
        one = f[ONE];
        for (int c = 0; c < N_COND; c++)
                print_fig(names[c], f[c], bare);
        printf("  added p50 over all runs: one ES client %+.1f us, raw responder %+.1f us\n", one.p50 - bare.p50,
               rawf.p50 - bare.p50);
        printf("  added by one ES client: %.1f us p50 = %.2fx the floor's %.1f us (paired by round; targets: < 100 us, <= 2x)\n",
               pair_one.p50, pair_raw.p50 > 0 ? pair_one.p50 / pair_raw.p50 : 0, pair_raw.p50);
        printf("    95%% intervals: one ES client %.1f .. %.1f us; floor %.1f .. %.1f us\n", pair_one.lo, pair_one.hi,
               pair_raw.lo, pair_raw.hi);
        printf("    one ES client over the floor, paired by round: %+.1f us (%.1f .. %.1f); <= 2x the floor means <= the floor's\n",
               pair_over.p50, pair_over.lo, pair_over.hi);
        printf("  references (paired by round): raw responder in its own process %+.1f us (%.1f .. %.1f); bare relay %+.1f us "
               "(%.1f .. %.1f)\n",
               pair_rawp.p50, pair_rawp.lo, pair_rawp.hi, pair_relay.p50, pair_relay.lo, pair_relay.hi);
        printf("    one ES client over the bare relay, paired by round: %+.1f us (%.1f .. %.1f): what ringd and the SDK add to "
               "the least a daemon in the middle costs\n",
               pair_over_relay.p50, pair_over_relay.lo, pair_over_relay.hi);
        printf("  added with the client on AUTH_EXEC and AUTH_OPEN: %.1f us p50 (%.1f .. %.1f; paired; an exec is still one AUTH_EXEC)\n",
               pair_both.p50, pair_both.lo, pair_both.hi);
        printf("bench-es: one AUTH round trip: open()+close() of %s, one thread, %d each (the same rounds)\n", openfile,
               oper * rounds);
        fig of[N_COND];
        for (int c = 0; c < N_COND; c++)
                if (ocnt[c])
                        print_fig(names[c], of[c] = figure(ov[c], ocnt[c]), of[BARE]);
        printf("  added by one ES client: %.1f us p50 (%.1f .. %.1f) = %.2fx the floor's %.1f us (%.1f .. %.1f) (paired by round)\n",
               opair_one.p50, opair_one.lo, opair_one.hi, opair_raw.p50 > 0 ? opair_one.p50 / opair_raw.p50 : 0,
               opair_raw.p50, opair_raw.lo, opair_raw.hi);
        printf("  references (paired by round): raw responder in its own process %+.1f us (%.1f .. %.1f); bare relay %+.1f us "
               "(%.1f .. %.1f)\n",
               opair_rawp.p50, opair_rawp.lo, opair_rawp.hi, opair_relay.p50, opair_relay.lo, opair_relay.hi);
        printf("    one ES client over the bare relay, paired by round: %+.1f us (%.1f .. %.1f)\n", opair_over_relay.p50,
               opair_over_relay.lo, opair_over_relay.hi);
        printf("bench-es: AUTH events per second (4 threads opening %s for 2 s, cache off)\n", openfile);
        printf("  raw in-process responder %10.0f /s\n", raw_ops);
        printf("  ringd, one ES client     %10.0f /s   (%.2fx the raw responder)\n", es_ops, es_ops / raw_ops);
        return 0;
}
