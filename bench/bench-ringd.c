/* SPDX-License-Identifier: MIT */
/*
 * bench-ringd: what a driver costs in ringd, against the floor measured in
 * the same run.
 *
 *   1. device appearance -> dext started: `virt add` on the control socket
 *      until the dext's start callback runs (it writes a line to a FIFO
 *      the bench reads), p50 and p99; baseline: posix_spawn of a no-op
 *      process plus a one-byte handshake over a socketpair.
 *      Devices appear 20 ms apart, each on an idle system: this is a
 *      latency figure, not a throughput one.  Measured twice: cold
 *      (ringd --spares 0, a new process per instance) and with the
 *      default warm spare per bundle.
 *   2. crash -> started again: the dext aborts 50 ms after start; time from
 *      its "crash" line to the next "start" line.
 *   3. ringd's RSS with 1,000 virtual devices, and an idle dext's RSS.
 *
 * Targets (issue 4): p50 within 3x of the bare cost and under 3 ms;
 * restart under 5 ms p50; ringd under 16 MiB; a dext under 2 MiB.
 *
 * Usage: bench-ringd [ITERATIONS]   (run from the build tree: it finds
 * ringd, ringctl and the test dext relative to itself)
 */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "ipc/msg.h"
#include "ipc/proto.h"
#include "shared/macro.h"
#include "value/value.h"

extern char **environ;

static char builddir[PATH_MAX];

static void find_builddir(void) {
        char *s;

        if (bench_self_dir(builddir, sizeof(builddir)) < 0)
                builddir[0] = 0;
        else if ((s = strrchr(builddir, '/')))
                *s = 0;
}

/* ---- baseline ---- */

static double bare_spawn(void) {
        char exe[PATH_MAX + 32], c;
        posix_spawn_file_actions_t fa;
        int sv[2];
        pid_t pid;
        double t0, t;

        snprintf(exe, sizeof(exe), "%s/bench/noop-handshake", builddir);
        socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv);
        int child = fcntl(sv[1], F_DUPFD_CLOEXEC, 10);
        close(sv[1]);
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, child, 3);
        t0 = bench_now_ms();
        if (posix_spawn(&pid, exe, &fa, NULL, (char *[]){ exe, NULL }, environ) != 0) {
                perror("posix_spawn");
                exit(1);
        }
        if (read(sv[0], &c, 1) != 1)
                exit(1);
        t = bench_now_ms() - t0;
        (void) write(sv[0], &c, 1);
        waitpid(pid, NULL, 0);
        posix_spawn_file_actions_destroy(&fa);
        close(child);
        close(sv[0]);
        return t;
}

/* ---- ringd ---- */

typedef struct daemon {
        char root[PATH_MAX];
        char fifo[PATH_MAX + 16];
        pid_t pid;
        rk_channel *ch;
        int fifo_fd;
        char line[4096];
        size_t len;
} daemon_t;

static void write_bundle(daemon_t *d) {
        char path[PATH_MAX * 2], cmd[PATH_MAX * 3];
        FILE *f;

        snprintf(cmd, sizeof(cmd), "mkdir -p %s/extensions/B.dext/Contents/MacOS && cp %s/tests/test-dext %s/extensions/B.dext/Contents/MacOS/",
                 d->root, builddir, d->root);
        if (system(cmd) != 0)
                exit(1);
        snprintf(path, sizeof(path), "%s/extensions/B.dext/Contents/Info.plist", d->root);
        f = fopen(path, "w");
        fprintf(f,
                "<plist version=\"1.0\"><dict><key>CFBundleIdentifier</key><string>com.bench.dext</string>"
                "<key>CFBundleVersion</key><string>1</string><key>CFBundlePackageType</key><string>DEXT</string>"
                "<key>CFBundleExecutable</key><string>test-dext</string><key>IOKitPersonalities</key><dict>"
                "<key>Start</key><dict><key>IOClass</key><string>IOUserService</string><key>IOUserClass</key>"
                "<string>RKTestDriver</string><key>IOProviderClass</key><string>RKBenchDevice</string>"
                "<key>RKTestRecord</key><string>%s</string></dict>"
                "<key>Crash</key><dict><key>IOClass</key><string>IOUserService</string><key>IOUserClass</key>"
                "<string>RKTestDriver</string><key>IOProviderClass</key><string>RKBenchCrash</string>"
                "<key>RKTestRecord</key><string>%s</string><key>RKTestCrashAfter</key><integer>50</integer></dict>"
                "</dict></dict></plist>",
                d->fifo, d->fifo);
        fclose(f);
}

static rk_value *call(daemon_t *d, rk_value *req);

static void start_daemon(daemon_t *d, unsigned spares, bool sandbox) {
        char nspares[16];
        char exe[PATH_MAX + 16], sock[PATH_MAX + 32], logp[PATH_MAX + 32];
        struct sockaddr_un { sa_family_t f; char p[108]; } sa = { AF_UNIX, "" };
        int fd;

        strcpy(d->root, "/tmp/bench-ringd-XXXXXX");
        if (!mkdtemp(d->root))
                exit(1);
        /* the dext runs as its own uid, confined: it may write the FIFO (--sandbox-rw) */
        chmod(d->root, 0755);
        snprintf(d->fifo, sizeof(d->fifo), "%s/fifo", d->root);
        mkfifo(d->fifo, 0666);
        chmod(d->fifo, 0666);
        d->fifo_fd = open(d->fifo, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        write_bundle(d);
        snprintf(exe, sizeof(exe), "%s/ringd", builddir);
        snprintf(logp, sizeof(logp), "%s/ringd.log", d->root);
        d->pid = fork();
        if (d->pid == 0) {
                int lf = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
                dup2(lf, 2);
                snprintf(nspares, sizeof(nspares), "%u", spares);
                execl(exe, exe, "--root", d->root, "--no-linux", "--crash-limit", "16", "--crash-window", "0.001",
                      "--spares", nspares, "--sandbox-rw", d->root, sandbox ? "-v" : "--no-sandbox", (char *) NULL);
                _exit(127);
        }
        snprintf(sock, sizeof(sock), "%s/run/ringd.sock", d->root);
        if ((size_t) snprintf(sa.p, sizeof(sa.p), "%s", sock) >= sizeof(sa.p)) {
                fprintf(stderr, "bench-ringd: socket path too long\n");
                exit(1);
        }
        for (int k = 0; k < 200; k++) {
                fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
                if (connect(fd, (void *) &sa, sizeof(sa)) == 0)
                        break;
                close(fd);
                fd = -1;
                usleep(20000);
        }
        if (fd < 0 || rk_channel_new(fd, 0, &d->ch) < 0) {
                fprintf(stderr, "bench-ringd: ringd did not come up (see %s)\n", logp);
                exit(1);
        }
        {
                /* the bench bundle is unsigned: developer mode */
                _cleanup_(rk_value_unrefp) rk_value *req = NULL, *rep = NULL;
                rk_value_new_dict(&req);
                rk_dict_set_string(req, "command", "developer");
                rk_dict_set_bool(req, "on", true);
                rep = call(d, req);
        }
}

static rk_value *call(daemon_t *d, rk_value *req) {
        rk_msg m = RK_MSG_INIT;
        rk_value *rep = NULL;

        if (rk_channel_send_plist(d->ch, RK_CTL_REQUEST, 1, -EBADF, req) < 0 ||
            rk_channel_recv_wait(d->ch, &m, 10000) < 0 || rk_msg_read_plist(&m, &rep) < 0) {
                fprintf(stderr, "bench-ringd: control call failed\n");
                exit(1);
        }
        rk_msg_done(&m);
        return rep;
}

static uint64_t virt_add(daemon_t *d, const char *cls) {
        _cleanup_(rk_value_unrefp) rk_value *req = NULL, *rep = NULL;
        uint64_t id = 0;
        rk_value_new_dict(&req);
        rk_dict_set_string(req, "command", "virt-add");
        rk_dict_set_string(req, "class", cls);
        rep = call(d, req);
        rk_dict_get_u64(rep, "id", &id);
        return id;
}

static void virt_remove(daemon_t *d, uint64_t id) {
        _cleanup_(rk_value_unrefp) rk_value *req = NULL, *rep = NULL;
        rk_value_new_dict(&req);
        rk_dict_set_string(req, "command", "virt-remove");
        rk_dict_set_integer(req, "id", id, false);
        rep = call(d, req);
}

/* Wait for a record line starting with `event`; returns its arrival time, and its pid field. */
static double wait_line(daemon_t *d, const char *event, int *pid) {
        for (;;) {
                char *nl;
                while ((nl = memchr(d->line, '\n', d->len))) {
                        double t = bench_now_ms();
                        bool hit = strncmp(d->line, event, strlen(event)) == 0 && d->line[strlen(event)] == ' ';
                        if (hit && pid) {
                                char *sp = memrchr(d->line, ' ', (size_t) (nl - d->line));
                                *pid = sp ? atoi(sp + 1) : 0;
                        }
                        memmove(d->line, nl + 1, d->len - (size_t) (nl + 1 - d->line));
                        d->len -= (size_t) (nl + 1 - d->line);
                        if (hit)
                                return t;
                }
                struct pollfd p = { .fd = d->fifo_fd, .events = POLLIN };
                if (poll(&p, 1, 10000) != 1) {
                        fprintf(stderr, "bench-ringd: no '%s' line within 10 s\n", event);
                        exit(1);
                }
                ssize_t n = read(d->fifo_fd, d->line + d->len, sizeof(d->line) - d->len - 1);
                if (n > 0)
                        d->len += (size_t) n;
        }
}

static long rss_kib(pid_t pid) {
        char path[64], buf[4096];
        long kib = -1;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        f = fopen(path, "r");
        if (!f)
                return -1;
        while (fgets(buf, sizeof(buf), f))
                if (sscanf(buf, "VmRSS: %ld kB", &kib) == 1)
                        break;
        fclose(f);
        return kib;
}

/* Proportional and private memory: what the process costs beyond the shared libraries. */
static void pss_kib(pid_t pid, long *pss, long *priv) {
        char path[64], buf[256];
        long v;
        FILE *f;

        *pss = *priv = -1;
        snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int) pid);
        f = fopen(path, "r");
        if (!f)
                return;
        *priv = 0;
        while (fgets(buf, sizeof(buf), f)) {
                if (sscanf(buf, "Pss: %ld kB", &v) == 1)
                        *pss = v;
                else if (sscanf(buf, "Private_Clean: %ld kB", &v) == 1 || sscanf(buf, "Private_Dirty: %ld kB", &v) == 1)
                        *priv += v;
        }
        fclose(f);
}

static void stop_daemon(daemon_t *d) {
        char cmd[PATH_MAX + 16];

        kill(d->pid, SIGTERM);
        waitpid(d->pid, NULL, 0);
        rk_channel_free(d->ch);
        close(d->fifo_fd);
        snprintf(cmd, sizeof(cmd), "rm -rf %s", d->root);
        (void) system(cmd);
}

typedef struct phase {
        double *appear, *restart;
        long dext_rss, dext_pss, dext_priv;
} phase;

/* appearance -> start, n times; then n crash -> start cycles on one device */
static void run_phase(daemon_t *d, unsigned n, phase *ph) {
        int dext_pid = 0;

        ph->dext_rss = ph->dext_pss = ph->dext_priv = -1;
        for (unsigned k = 0; k < n; k++) {
                double t0 = bench_now_ms();
                uint64_t id = virt_add(d, "RKBenchDevice");
                ph->appear[k] = wait_line(d, "start", &dext_pid) - t0;
                if (k == n / 2) {
                        usleep(200000);
                        ph->dext_rss = rss_kib(dext_pid);
                        pss_kib(dext_pid, &ph->dext_pss, &ph->dext_priv);
                }
                virt_remove(d, id);
                wait_line(d, "free", NULL);
                usleep(getenv("BENCH_GAP_US") ? (useconds_t) atoi(getenv("BENCH_GAP_US")) : 20000); /* latency, not throughput: each device appears on an idle system */
        }
        uint64_t id = virt_add(d, "RKBenchCrash");
        wait_line(d, "start", NULL);
        for (unsigned k = 0; k < n; k++) {
                double t0 = wait_line(d, "crash", NULL);
                ph->restart[k] = wait_line(d, "start", NULL) - t0;
        }
        virt_remove(d, id);
}

int main(int argc, char **argv) {
        unsigned n = argc > 1 ? (unsigned) atoi(argv[1]) : 100;
        double *bare = calloc(n, sizeof(double));
        phase cold = { .appear = calloc(n, sizeof(double)), .restart = calloc(n, sizeof(double)) },
              bare_cold = { .appear = calloc(n, sizeof(double)), .restart = calloc(n, sizeof(double)) },
              warm = { .appear = calloc(n, sizeof(double)), .restart = calloc(n, sizeof(double)) };
        daemon_t d = {};
        long ringd_rss, ringd_rss0;

        if (n < 2) {
                fprintf(stderr, "usage: bench-ringd [ITERATIONS >= 2]\n");
                return 2;
        }
        find_builddir();
        for (unsigned k = 0; k < n; k++)
                bare[k] = bare_spawn();

        /* cold: every instance is a fresh process (ringd --spares 0), unsandboxed then sandboxed */
        start_daemon(&d, 0, false);
        run_phase(&d, n, &bare_cold);
        stop_daemon(&d);
        memset(&d, 0, sizeof(d));
        start_daemon(&d, 0, true);
        run_phase(&d, n, &cold);
        stop_daemon(&d);

        /* the default: sandboxed, one warm spare per bundle that has run */
        memset(&d, 0, sizeof(d));
        start_daemon(&d, 1, true);
        run_phase(&d, n, &warm);
        ringd_rss0 = rss_kib(d.pid);
        for (unsigned k = 0; k < 1000; k++)
                virt_add(&d, "RKUnmatchedDevice");
        ringd_rss = rss_kib(d.pid);

        double b50 = bench_pct(bare, n, 0.5), b99 = bench_pct(bare, n, 0.99);
        printf("baseline posix_spawn + handshake of a no-op process: p50 %.3f ms, p99 %.3f ms\n", b50, b99);
        for (int w = 0; w < 3; w++) {
                static const char *const names[] = {
                        "cold, unsandboxed (--spares 0 --no-sandbox: verified exec of the bare dext)",
                        "cold, sandboxed (--spares 0: ringkit-sandbox-exec, own uid, landlock, seccomp)",
                        "default (sandboxed, --spares 1: a warm spare per bundle)",
                };
                phase *ph = w == 0 ? &bare_cold : w == 1 ? &cold : &warm;
                double a50 = bench_pct(ph->appear, n, 0.5), a99 = bench_pct(ph->appear, n, 0.99);
                double r50 = bench_pct(ph->restart, n, 0.5), r99 = bench_pct(ph->restart, n, 0.99);
                printf("%s:\n", names[w]);
                printf("  device appearance -> dext start: p50 %.3f ms, p99 %.3f ms (%u devices); ratio to baseline p50 "
                       "%.2fx (target <= 3x and < 3 ms: %s)\n",
                       a50, a99, n, a50 / b50, a50 <= 3 * b50 && a50 < 3 ? "met" : "NOT met");
                printf("  crash -> started again: p50 %.3f ms, p99 %.3f ms (%u crashes) (target < 5 ms: %s)\n", r50, r99,
                       n, r50 < 5 ? "met" : "NOT met");
                printf("  dext RSS while running: %.2f MiB (target < 2 MiB: %s); PSS %.2f MiB, private %.2f MiB\n",
                       ph->dext_rss / 1024.0, ph->dext_rss >= 0 && ph->dext_rss < 2048 ? "met" : "NOT met",
                       ph->dext_pss / 1024.0, ph->dext_priv / 1024.0);
        }
        printf("sandbox set-up per cold launch: p50 %.3f ms (sandboxed %.3f - unsandboxed %.3f)\n",
               bench_pct(cold.appear, n, 0.5) - bench_pct(bare_cold.appear, n, 0.5), bench_pct(cold.appear, n, 0.5),
               bench_pct(bare_cold.appear, n, 0.5));
        printf("ringd RSS: %.1f MiB idle, %.1f MiB with 1,000 virtual devices (target < 16 MiB: %s)\n",
               ringd_rss0 / 1024.0, ringd_rss / 1024.0, ringd_rss < 16 * 1024 ? "met" : "NOT met");
        stop_daemon(&d);
        free(bare);
        free(cold.appear);
        free(cold.restart);
        free(bare_cold.appear);
        free(bare_cold.restart);
        free(warm.appear);
        free(warm.restart);
        return 0;
}
