/* SPDX-License-Identifier: MIT */
/*
 * bench-userclient: what a call from an app to a driver costs, against
 * baselines measured in the same run.
 *
 *   1. Round trip of an external method with two scalars in and one out
 *      (uc-sample-dext's `add`), p50 and mean, through
 *        - the shared-memory call page (the default path),
 *        - the connection's socket (rk_connection_set_fast_path(false)),
 *      against two floors -- a raw SOCK_SEQPACKET socketpair ping-pong
 *      between two processes (16 bytes each way), and a raw shared-memory
 *      ring ping-pong (one page, the same spin-then-futex hand-off as the
 *      call page, nothing else) -- and a D-Bus method call (two uint64
 *      in, one out) through a private dbus-daemon, started for the run.
 *      Targets (issue 8): within 1.3x of the socketpair, >= 10x faster than D-Bus.
 *   2. Calls per second, back to back, for one second on each path.
 *   3. A 1 MiB transfer to the driver by memory descriptor (the app's data
 *      already in the shared buffer; the driver copies it into its own),
 *      against memcpy of 1 MiB within one process, each back to back.
 *      Target >= 0.8x.
 *   4. Events per second through a data queue (16-byte records, 1 MiB ring).
 *
 * It starts its own ringd (developer mode, a virtual device for the sample
 * driver) in a temporary root.
 *
 *     bench-userclient [--mode same|cross|none] [ITERATIONS]
 *
 * Without --mode it runs all three, one after the other, each with its own
 * ringd: `same` pins the app and every peer (echo child, D-Bus, ringd and
 * its dexts) on CPU 0; `cross` the app on CPU 0 and its peers on CPU 1
 * (--pin is that); `none` leaves the scheduler to it.
 * (run from the build tree: it finds ringd, ringctl and uc-sample-dext
 * relative to itself).
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ringkit/client.h>

#include "bench.h"
#include "../lib/ringkit/uc-wire.h" /* the spin budgets and futex helpers the call page uses */

#ifdef HAVE_DBUS
#include <dbus/dbus.h>
#endif

/* same: everything on CPU 0; cross: the app on CPU 0, its peers (echo child, D-Bus, ringd, dexts) on CPU 1 */
static enum { MODE_NONE, MODE_CROSS, MODE_SAME } pin_mode = MODE_NONE;
static const char *const mode_name[] = { "not pinned", "cross-core: app on CPU 0, its peers on CPU 1",
                                         "same core: the app and its peers all on CPU 0" };

static void pin_to(int cpu) {
        cpu_set_t set;
        if (pin_mode == MODE_NONE)
                return;
        if (pin_mode == MODE_SAME)
                cpu = 0;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        (void) sched_setaffinity(0, sizeof(set), &set);
}

typedef struct stats {
        double p50, p90, mean;
} stats;

static stats summarize(double *v, size_t n) {
        stats s = { 0 };
        double sum = 0;
        for (size_t k = 0; k < n; k++)
                sum += v[k];
        qsort(v, n, sizeof(*v), bench_cmp_double);
        s.p50 = v[n / 2];
        s.p90 = v[(size_t) ((double) (n - 1) * 0.9)];
        s.mean = sum / (double) n;
        return s;
}

static void print_stats(const char *what, stats s) {
        printf("  %-44s p50 %8.2f us   p90 %8.2f us   mean %8.2f us\n", what, s.p50, s.p90, s.mean);
}

/* ---- baseline: socketpair ping-pong ---- */

static stats socketpair_pingpong(size_t n) {
        int sv[2];
        pid_t pid;
        char buf[16] = { 0 };
        double *v = calloc(n, sizeof(double));
        stats s;

        if (!v || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                exit(1);
        pid = fork();
        if (pid == 0) {
                pin_to(1);
                close(sv[0]);
                while (read(sv[1], buf, sizeof(buf)) > 0)
                        if (write(sv[1], buf, sizeof(buf)) < 0)
                                break;
                _exit(0);
        }
        close(sv[1]);
        for (size_t k = 0; k < n + 100; k++) {
                double t0 = bench_now_us();
                if (write(sv[0], buf, sizeof(buf)) != sizeof(buf) || read(sv[0], buf, sizeof(buf)) != sizeof(buf))
                        exit(1);
                if (k >= 100)
                        v[k - 100] = bench_now_us() - t0;
        }
        close(sv[0]);
        waitpid(pid, NULL, 0);
        s = summarize(v, n);
        free(v);
        return s;
}

/* ---- floor: a raw shared-memory ring ping-pong ---- */

/*
 * The least a shared-memory hand-off costs here: one page, a request and a
 * response sequence, the caller spinning (up to UC_APP_SPIN_USEC) then
 * FUTEX_WAIT, the server spinning after each answer (up to
 * UC_DEXT_SPIN_USEC) then FUTEX_WAIT -- the call page's maximum budgets,
 * fixed, as an ideal;
 * wake-ups only when the other side said it sleeps; no spinning when both
 * run on one CPU.  What the call page adds on top is the call itself
 * (header, method table, checks) and the driver's event loop.
 */
struct floor_page {
        _Atomic uint32_t req, srv_sleeping, srv_cpu;
        uint8_t pad0[52];
        _Atomic uint32_t resp, app_waiting, app_cpu;
        uint8_t pad1[52];
        uint64_t in[2], out;
};

static bool floor_same_cpu(_Atomic uint32_t *mine, _Atomic uint32_t *theirs) {
        uint32_t cpu = uc_cpu();
        if (atomic_load_explicit(mine, memory_order_relaxed) != cpu)
                atomic_store_explicit(mine, cpu, memory_order_relaxed);
        return cpu && cpu == atomic_load_explicit(theirs, memory_order_relaxed);
}

static void floor_server(struct floor_page *p) {
        uint32_t seen = 0;

        for (;;) {
                uint64_t until = uc_now_usec() + (floor_same_cpu(&p->srv_cpu, &p->app_cpu) ? 0 : UC_DEXT_SPIN_USEC);
                uint32_t seq;
                while ((seq = atomic_load_explicit(&p->req, memory_order_acquire)) == seen) {
                        if (uc_now_usec() >= until) {
                                atomic_store(&p->srv_sleeping, 1);
                                if (atomic_load(&p->req) == seen)
                                        (void) uc_futex_wait(&p->req, seen, -1);
                                atomic_store(&p->srv_sleeping, 0);
                                continue;
                        }
                        for (int k = 0; k < 32; k++)
                                uc_cpu_relax();
                }
                if (seq == UINT32_MAX)
                        _exit(0);
                p->out = p->in[0] + p->in[1];
                seen = seq;
                atomic_store(&p->resp, seq);
                if (atomic_load(&p->app_waiting) && atomic_exchange(&p->app_waiting, 0))
                        uc_futex_wake(&p->resp);
        }
}

static uint64_t floor_call(struct floor_page *p, uint32_t seq, uint64_t a, uint64_t b) {
        uint64_t start = uc_now_usec(), until;
        bool same = floor_same_cpu(&p->app_cpu, &p->srv_cpu);

        p->in[0] = a;
        p->in[1] = b;
        atomic_store(&p->req, seq);
        if (atomic_load(&p->srv_sleeping) && atomic_exchange(&p->srv_sleeping, 0))
                uc_futex_wake(&p->req);
        until = same ? start : start + UC_APP_SPIN_USEC;
        while (atomic_load_explicit(&p->resp, memory_order_acquire) != seq) {
                if (uc_now_usec() < until) {
                        for (int k = 0; k < 32; k++)
                                uc_cpu_relax();
                        continue;
                }
                atomic_store(&p->app_waiting, 1);
                if (atomic_load(&p->resp) != seq)
                        (void) uc_futex_wait(&p->resp, atomic_load(&p->resp), UC_APP_POLL_MS);
        }
        atomic_store_explicit(&p->app_waiting, 0, memory_order_relaxed);
        return p->out;
}

static stats shm_pingpong(size_t n) {
        struct floor_page *p = mmap(NULL, sizeof(*p), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        double *v = calloc(n, sizeof(double));
        pid_t pid;
        stats s;

        if (p == MAP_FAILED || !v)
                exit(1);
        pid = fork();
        if (pid == 0) {
                pin_to(1);
                floor_server(p);
        }
        for (size_t k = 0; k < n + 100; k++) {
                double t0 = bench_now_us();
                if (floor_call(p, (uint32_t) k + 1, k, 2) != k + 2)
                        exit(1);
                if (k >= 100)
                        v[k - 100] = bench_now_us() - t0;
        }
        atomic_store(&p->req, UINT32_MAX);
        uc_futex_wake(&p->req);
        waitpid(pid, NULL, 0);
        munmap(p, sizeof(*p));
        s = summarize(v, n);
        free(v);
        return s;
}

/* ---- baseline: D-Bus ---- */

#ifdef HAVE_DBUS
static pid_t dbus_daemon_pid;

static int dbus_start(char *addr, size_t room) {
        int p[2];
        char out[1024] = { 0 };
        size_t got = 0;

        if (pipe(p) < 0)
                return -1;
        dbus_daemon_pid = fork();
        if (dbus_daemon_pid == 0) {
                char fdarg[32];
                pin_to(1);
                close(p[0]);
                snprintf(fdarg, sizeof(fdarg), "--print-address=%d", p[1]);
                execlp("dbus-daemon", "dbus-daemon", "--session", "--nofork", fdarg, (char *) NULL);
                _exit(127);
        }
        close(p[1]);
        while (got < sizeof(out) - 1 && !memchr(out, '\n', got)) {
                ssize_t r = read(p[0], out + got, sizeof(out) - 1 - got);
                if (r <= 0)
                        break;
                got += (size_t) r;
        }
        close(p[0]);
        if (!memchr(out, '\n', got))
                return -1;
        *strchr(out, '\n') = 0;
        snprintf(addr, room, "%s", out);
        return 0;
}

static DBusConnection *dbus_connect(const char *addr) {
        DBusError e;
        DBusConnection *c;

        dbus_error_init(&e);
        c = dbus_connection_open_private(addr, &e);
        if (!c || !dbus_bus_register(c, &e)) {
                fprintf(stderr, "bench-userclient: D-Bus: %s\n", e.message ? e.message : "cannot connect");
                return NULL;
        }
        return c;
}

static void dbus_server(const char *addr) {
        DBusConnection *c = dbus_connect(addr);
        DBusError e;

        dbus_error_init(&e);
        if (!c || dbus_bus_request_name(c, "org.ringkit.Bench", DBUS_NAME_FLAG_DO_NOT_QUEUE, &e) !=
                          DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER)
                _exit(1);
        while (dbus_connection_read_write(c, -1)) {
                DBusMessage *m;
                while ((m = dbus_connection_pop_message(c))) {
                        dbus_uint64_t a = 0, b = 0, sum;
                        if (dbus_message_is_method_call(m, "org.ringkit.Bench", "Add") &&
                            dbus_message_get_args(m, NULL, DBUS_TYPE_UINT64, &a, DBUS_TYPE_UINT64, &b,
                                                  DBUS_TYPE_INVALID)) {
                                DBusMessage *r = dbus_message_new_method_return(m);
                                sum = a + b;
                                dbus_message_append_args(r, DBUS_TYPE_UINT64, &sum, DBUS_TYPE_INVALID);
                                dbus_connection_send(c, r, NULL);
                                dbus_message_unref(r);
                        }
                        dbus_message_unref(m);
                }
        }
        _exit(0);
}

static int dbus_bench(size_t n, stats *ret) {
        char addr[512];
        DBusConnection *c;
        double *v;
        pid_t server;
        int rc = -1;

        if (dbus_start(addr, sizeof(addr)) < 0) {
                fprintf(stderr, "bench-userclient: cannot start dbus-daemon\n");
                return -1;
        }
        server = fork();
        if (server == 0) {
                pin_to(1);
                dbus_server(addr);
        }
        c = dbus_connect(addr);
        v = calloc(n, sizeof(double));
        if (!c || !v)
                goto out;
        /* wait for the server's name */
        for (int k = 0; k < 500 && !dbus_bus_name_has_owner(c, "org.ringkit.Bench", NULL); k++)
                usleep(10000);
        for (size_t k = 0; k < n + 50; k++) {
                dbus_uint64_t a = k, b = 2, sum = 0;
                DBusMessage *m = dbus_message_new_method_call("org.ringkit.Bench", "/org/ringkit/Bench",
                                                              "org.ringkit.Bench", "Add"), *r;
                double t0 = bench_now_us();
                dbus_message_append_args(m, DBUS_TYPE_UINT64, &a, DBUS_TYPE_UINT64, &b, DBUS_TYPE_INVALID);
                r = dbus_connection_send_with_reply_and_block(c, m, 5000, NULL);
                dbus_message_unref(m);
                if (!r || !dbus_message_get_args(r, NULL, DBUS_TYPE_UINT64, &sum, DBUS_TYPE_INVALID) || sum != a + b) {
                        fprintf(stderr, "bench-userclient: D-Bus call failed\n");
                        if (r)
                                dbus_message_unref(r);
                        goto out;
                }
                dbus_message_unref(r);
                if (k >= 50)
                        v[k - 50] = bench_now_us() - t0;
        }
        *ret = summarize(v, n);
        rc = 0;
out:
        free(v);
        if (c) {
                dbus_connection_close(c);
                dbus_connection_unref(c);
        }
        kill(server, SIGTERM);
        waitpid(server, NULL, 0);
        kill(dbus_daemon_pid, SIGTERM);
        waitpid(dbus_daemon_pid, NULL, 0);
        return rc;
}
#endif

/* ---- ringd ---- */

static char root[64], builddir[PATH_MAX];
static pid_t ringd_pid;

static void cleanup(void) {
        if (ringd_pid > 0) {
                kill(ringd_pid, SIGTERM);
                waitpid(ringd_pid, NULL, 0);
                ringd_pid = 0;
        }
        if (root[0])
                bench_run("rm -rf '%s'", root);
}

static int start_ringd(void) {
        char sock[PATH_MAX], logp[PATH_MAX];
        struct stat st;

        strcpy(root, "/tmp/bench-uc-XXXXXX");
        if (!mkdtemp(root))
                return -1;
        if (bench_run("mkdir -p '%s/extensions/UCSample.dext/Contents/MacOS' && cp '%s/uc-sample-dext' "
                "'%s/extensions/UCSample.dext/Contents/MacOS/' && cp '%s/samples/userclient/Info.plist' "
                "'%s/extensions/UCSample.dext/Contents/'",
                root, builddir, root, RK_SOURCE_DIR, root) != 0) {
                fprintf(stderr, "bench-userclient: cannot install the sample driver in %s\n", root);
                return -1;
        }
        snprintf(logp, sizeof(logp), "%s/ringd.log", root);
        ringd_pid = fork();
        if (ringd_pid == 0) {
                char exe[PATH_MAX + 16], builtin[PATH_MAX + 32];
                int fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                pin_to(1);
                if (fd >= 0)
                        dup2(fd, 2);
                snprintf(exe, sizeof(exe), "%s/ringd", builddir);
                snprintf(builtin, sizeof(builtin), "%s/ringkit-builtin", builddir);
                execl(exe, exe, "--root", root, "--no-linux", "--builtin", builtin, (char *) NULL);
                _exit(127);
        }
        snprintf(sock, sizeof(sock), "%s/run/ringd.sock", root);
        for (int k = 0; k < 500 && stat(sock, &st) < 0; k++)
                usleep(10000);
        if (bench_run("'%s/ringctl' --root '%s' developer on >/dev/null && '%s/ringctl' --root '%s' virt add --class "
                "RKUCSampleDevice --property IOName=bench0 >/dev/null",
                builddir, root, builddir, root) != 0) {
                fprintf(stderr, "bench-userclient: ringd did not come up (see %s)\n", logp);
                return -1;
        }
        return 0;
}

/* ---- user-client figures ---- */

static stats uc_round_trip(rk_connection *conn, size_t n) {
        double *v = calloc(n, sizeof(double));
        stats s;

        for (size_t k = 0; k < n + 100; k++) {
                uint64_t in[2] = { k, 2 }, out[1];
                uint32_t n_out = 1;
                double t0 = bench_now_us();
                if (rk_connection_call_scalars(conn, 0, in, 2, out, &n_out) < 0 || out[0] != k + 2) {
                        fprintf(stderr, "bench-userclient: call failed\n");
                        exit(1);
                }
                if (k >= 100)
                        v[k - 100] = bench_now_us() - t0;
        }
        s = summarize(v, n);
        free(v);
        return s;
}

static double calls_per_second(rk_connection *conn) {
        double t0 = bench_now_us(), t;
        uint64_t k = 0;

        do {
                for (int j = 0; j < 256; j++, k++) {
                        uint64_t in[2] = { k, 2 }, out[1];
                        uint32_t n_out = 1;
                        if (rk_connection_call_scalars(conn, 0, in, 2, out, &n_out) < 0)
                                exit(1);
                }
                t = bench_now_us() - t0;
        } while (t < 1e6);
        return (double) k / (t / 1e6);
}

static double best_m, best_d; /* the fastest of each: what the machine does when nothing else runs */
static double driver_copy_us; /* p50 of the driver's own memcpy inside the call (sample method 2, mode 3) */

static void transfer(rk_connection *conn, size_t iters, double *ret_memcpy_us, double *ret_desc_us) {
        const size_t size = 1 << 20;
        uint8_t *a = malloc(size), *b = malloc(size);
        rk_memory *mem;
        uint64_t mode = 0, out[1];
        double t0;
        double *vm = calloc(iters, sizeof(double)), *vd = calloc(iters, sizeof(double));
        double *vc = calloc(iters, sizeof(double));

        if (!a || !b || !vm || !vd || !vc || rk_memory_new(conn, size, &mem) < 0)
                exit(1);
        memset(a, 0x11, size);
        memset(b, 0x22, size);
        memset(rk_memory_get_address(mem), 0x33, size);
        /*
         * Each a stream of back-to-back transfers, as a throughput figure
         * is: interleaving them would put the driver to sleep between its
         * transfers (its spin budget is microseconds, a memcpy of 1 MiB
         * tens of them) and measure its wake-up instead.
         */
        for (size_t k = 0; k < iters; k++) {
                t0 = bench_now_us();
                memcpy(b, a, size);
                __asm__ __volatile__("" : : "r"(b) : "memory");
                vm[k] = bench_now_us() - t0;
        }
        for (size_t k = 0; k < iters; k++) {
                rk_call call = { .scalar_in = &mode, .scalar_in_count = 1, .scalar_out = out, .scalar_out_count = 1,
                                 .memory = mem, .memory_length = size };
                t0 = bench_now_us();
                if (rk_connection_call(conn, 2, &call) < 0 || out[0] != size)
                        exit(1);
                vd[k] = bench_now_us() - t0;
        }
        /* the same transfers again, the driver timing its own copy: what the call adds is the rest */
        for (size_t k = 0; k < iters; k++) {
                uint64_t timed = 3;
                rk_call call = { .scalar_in = &timed, .scalar_in_count = 1, .scalar_out = out, .scalar_out_count = 1,
                                 .memory = mem, .memory_length = size };
                if (rk_connection_call(conn, 2, &call) < 0)
                        exit(1);
                vc[k] = (double) out[0] / 1e3;
        }
        best_m = best_d = 1e18;
        for (size_t k = 0; k < iters; k++) {
                best_m = vm[k] < best_m ? vm[k] : best_m;
                best_d = vd[k] < best_d ? vd[k] : best_d;
        }
        *ret_memcpy_us = summarize(vm, iters).p50;
        *ret_desc_us = summarize(vd, iters).p50;
        driver_copy_us = summarize(vc, iters).p50;
        rk_memory_free(mem);
        free(a);
        free(b);
        free(vm);
        free(vd);
        free(vc);
}

static double events_per_second(rk_connection *conn, uint64_t n, uint64_t *dropped) {
        uint64_t args[2] = { n, 16 }, out[1], rec[2], got = 0;
        uint32_t n_out = 1;
        rk_queue *q;
        size_t len;
        double t0;

        t0 = bench_now_us();
        if (rk_connection_call_scalars(conn, 4, args, 2, out, &n_out) < 0 ||
            rk_connection_get_queue(conn, (uint32_t) out[0], 5000, &q) < 0)
                exit(1);
        while (got < n) {
                int r = rk_queue_dequeue(q, rec, sizeof(rec), &len);
                if (r == -EAGAIN) {
                        if (rk_queue_wait(q, 5000) < 0)
                                exit(1);
                        continue;
                }
                if (r < 0 || rec[0] != got) {
                        fprintf(stderr, "bench-userclient: queue record %llu out of order\n", (unsigned long long) got);
                        exit(1);
                }
                got++;
        }
        *dropped = rk_queue_get_dropped(q);
        return (double) n / ((bench_now_us() - t0) / 1e6);
}

int main(int argc, char **argv) {
        size_t n = 20000;
        char self[PATH_MAX - 8];
        rk_client *c;
        rk_matching *m;
        rk_connection *conn;
        uint64_t id, dropped = 0;
        stats raw, ring, fast, sock;
        double cps_fast, cps_sock, t_memcpy, t_desc, t_memcpy2, t_desc2, bm2, bd2, eps, copy1;
#ifdef HAVE_DBUS
        stats dbus = { 0 };
        int have_dbus;
#endif

        bool all = true;

        for (int k = 1; k < argc; k++) {
                if (strcmp(argv[k], "--pin") == 0)
                        pin_mode = MODE_CROSS, all = false;
                else if (strcmp(argv[k], "--mode") == 0 && k + 1 < argc) {
                        const char *w = argv[++k];
                        pin_mode = strcmp(w, "same") == 0 ? MODE_SAME : strcmp(w, "cross") == 0 ? MODE_CROSS : MODE_NONE;
                        all = false;
                } else
                        n = strtoul(argv[k], NULL, 10);
        }
        if (n < 100) {
                fprintf(stderr, "usage: bench-userclient [--mode same|cross|none] [ITERATIONS >= 100]\n");
                return 2;
        }
        if (all) {
                /* the three placements in one run, one after the other, each its own process and ringd */
                static const char *const modes[] = { "same", "cross", "none" };
                char nb[32];
                int rc = 0;
                snprintf(nb, sizeof(nb), "%zu", n);
                for (size_t k = 0; k < 3; k++) {
                        pid_t pid;
                        int st;
                        fflush(stdout);
                        pid = fork();
                        if (pid == 0) {
                                execl("/proc/self/exe", argv[0], "--mode", modes[k], nb, (char *) NULL);
                                _exit(127);
                        }
                        if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
                                rc = 1;
                        printf("\n");
                }
                return rc;
        }
        pin_to(0);
        if (bench_self_dir(self, sizeof(self)) < 0)
                return 1;
        snprintf(builddir, sizeof(builddir), "%s/..", self);
        atexit(cleanup);
        signal(SIGPIPE, SIG_IGN);

        printf("bench-userclient: %zu round trips per figure, %ld CPUs online, %s\n", n, sysconf(_SC_NPROCESSORS_ONLN),
               mode_name[pin_mode]);
        raw = socketpair_pingpong(n);
        ring = shm_pingpong(n);
#ifdef HAVE_DBUS
        have_dbus = dbus_bench(n / 4 > 2000 ? 2000 : n / 4, &dbus) == 0;
#endif
        if (start_ringd() < 0)
                return 1;
        if (rk_client_new(root, &c) < 0 || rk_matching_new(&m) < 0 || rk_matching_set_class(m, "UCSampleDriver") < 0 ||
            rk_client_wait(c, m, 10000, &id) < 0 || rk_client_open(c, id, 0, &conn) < 0) {
                fprintf(stderr, "bench-userclient: cannot open the sample driver's user client\n");
                return 1;
        }
        fast = uc_round_trip(conn, n);
        cps_fast = calls_per_second(conn);
        rk_connection_set_fast_path(conn, false);
        sock = uc_round_trip(conn, n);
        cps_sock = calls_per_second(conn);
        /* the transfer's call on the socket path: the app sleeps in recv while the driver copies */
        transfer(conn, 200, &t_memcpy2, &t_desc2);
        bm2 = best_m;
        bd2 = best_d;
        rk_connection_set_fast_path(conn, true);
        transfer(conn, 200, &t_memcpy, &t_desc);
        copy1 = driver_copy_us;
        eps = events_per_second(conn, 1000000, &dropped);

        printf("\n1. round trip, external method with two scalars in, one out\n");
        print_stats("floor: raw socketpair ping-pong", raw);
        print_stats("floor: raw shared-memory ring ping-pong", ring);
        print_stats("user client, shared-memory call page", fast);
        print_stats("user client, socket path", sock);
#ifdef HAVE_DBUS
        if (have_dbus)
                print_stats("D-Bus method call via dbus-daemon", dbus);
#endif
        printf("  ratio shared-memory / socketpair: %.2fx (p50; target <= 1.3x: %s)\n", fast.p50 / raw.p50,
               fast.p50 / raw.p50 <= 1.3 ? "met" : "missed");
        printf("  ratio socket path / socketpair:   %.2fx (p50)\n", sock.p50 / raw.p50);
        printf("  ratio call page / shared-memory ring floor: %.2fx (p50)\n", fast.p50 / ring.p50);
#ifdef HAVE_DBUS
        if (have_dbus) {
                printf("  D-Bus / shared-memory: %.1fx faster (p50; target >= 10x: %s)\n", dbus.p50 / fast.p50,
                       dbus.p50 / fast.p50 >= 10 ? "met" : "missed");
                printf("  D-Bus / socket path:   %.1fx faster (p50)\n", dbus.p50 / sock.p50);
                printf("  D-Bus / shared-memory ring floor: %.1fx, D-Bus / socketpair floor: %.1fx (p50)\n",
                       dbus.p50 / ring.p50, dbus.p50 / raw.p50);
        }
#else
        printf("  D-Bus: not measured (built without libdbus-1)\n");
#endif
        printf("\n2. calls per second, back to back: shared memory %.0f, socket %.0f\n", cps_fast, cps_sock);
        printf("\n3. 1 MiB to the driver by memory descriptor: %.1f us (%.2f GB/s); memcpy 1 MiB: %.1f us (%.2f GB/s)\n",
               t_desc, (1 << 20) / t_desc / 1e3, t_memcpy, (1 << 20) / t_memcpy / 1e3);
        printf("  ratio (throughput, descriptor / memcpy): %.2fx p50 (target >= 0.8x: %s); best of each: %.1f us vs %.1f us, %.2fx\n",
               t_memcpy / t_desc, t_memcpy / t_desc >= 0.8 ? "met" : "missed", best_d, best_m, best_m / best_d);
        printf("  the same call on the socket path: %.1f us p50, %.2fx; best of each: %.1f us vs %.1f us, %.2fx\n",
               t_desc2, t_memcpy2 / t_desc2, bd2, bm2, bm2 / bd2);
        printf("  inside the call (call page), the driver's memcpy of 1 MiB takes %.1f us p50; the hand-off the rest, %.1f us\n",
               copy1, t_desc - copy1);
        printf("\n4. data queue: %.0f events/s (16-byte records, 1 MiB ring; %llu refused while full and retried)\n",
               eps, (unsigned long long) dropped);
        rk_connection_close(conn);
        rk_matching_free(m);
        rk_client_free(c);
        return 0;
}
