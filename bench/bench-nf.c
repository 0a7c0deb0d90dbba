/* SPDX-License-Identifier: MIT */
/*
 * bench-nf: what the network filter adds to a new flow, against the floor
 * measured in the same run.  Needs root (network namespaces, iptables).
 *
 * One namespace B runs a TCP server (accepts and resets); three client
 * namespaces, each joined to B by its own veth pair, are the conditions:
 *   bare   no rules;
 *   raw    the same rules ringd installs (ct state NEW -> NFQUEUE), answered
 *          ACCEPT by a thread of this program on libmnl (src/netfilter/nfq.c):
 *          the floor of any NFQUEUE filter;
 *   ringd  ringd running in that namespace (--nf-queue) with one filter
 *          extension (this program run with --filter: allows every flow),
 *          activated and approved in developer mode, launched and
 *          sandboxed by ringd.
 * A flow is a TCP connect(): its SYN is the packet queued, so the connect
 * time is the SYN/SYN-ACK round trip plus whatever the verdict costs.  The
 * three run in interleaved rounds (a block of each per round) so load from
 * elsewhere falls on all alike.  Added latency = p50 - bare p50; the ratio
 * ringd added / raw added is printed.  Then flows per second: 4 threads
 * connecting for 2 s in each condition.
 *
 * Environment: BENCH_NF_SPIN=US (ringd's --nf-spin), BENCH_NF_FILTER_SPIN=US
 * (the filter's rk_nf_filter_set_spin, passed in its RKArguments).
 *
 * Usage: bench-nf [CONNECTS]   (from the build tree: ringd and ringctl are
 * found next to it).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "netfilter/nfq.h"
#include "ringkit/nf.h"

#define PORT 7100
#define RAW_QUEUE 6401
#define RINGD_QUEUE 6402

enum { BARE, RAW, RINGD, N_COND };
static const char *const names[N_COND] = { "bare (no rules)", "raw in-process NFQUEUE responder (floor)",
                                           "ringd + one filter extension" };
static char ns[N_COND + 1][32], dir[64];
static int ns_fd[N_COND + 1] = { -1, -1, -1, -1 };
static pid_t ringd_pid;
static atomic_bool stop_raw;

static rk_nf_verdict allow_all(rk_nf_filter *f, const rk_nf_flow *fl, void *ud) {
        return RK_NF_VERDICT_ALLOW;
}

static int filter_main(const char *spin) {
        rk_nf_filter *f = NULL;
        int r = rk_nf_filter_new(&f, allow_all, NULL);
        if (r < 0) {
                fprintf(stderr, "bench-nf --filter: %s\n", strerror(-r));
                return 1;
        }
        if (spin)
                (void) rk_nf_filter_set_spin(f, (unsigned) atoi(spin));
        r = rk_nf_filter_run(f, -1);
        rk_nf_filter_free(f);
        return 0;
}

static void cleanup(void) {
        stop_raw = true;
        if (ringd_pid > 0) {
                kill(ringd_pid, SIGTERM);
                waitpid(ringd_pid, NULL, 0);
        }
        for (int k = 0; k <= N_COND; k++)
                if (ns[k][0])
                        bench_run("ip netns del %s 2>/dev/null || true", ns[k]);
        if (dir[0])
                bench_run("rm -rf '%s'", dir);
}

/* ---- the server in B ---- */

static void *server(void *ud) {
        int s, one = 1;
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PORT) };

        if (setns(ns_fd[N_COND], CLONE_NEWNET) < 0)
                return NULL;
        s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(s, (struct sockaddr *) &a, sizeof(a)) < 0 || listen(s, 4096) < 0) {
                perror("bench-nf: server");
                return NULL;
        }
        for (;;) {
                int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
                if (c >= 0)
                        close(c);
        }
        return NULL;
}

/* ---- the floor: an in-process NFQUEUE responder ---- */

static void accept_it(const rk_nfq_packet *p, void *ud) {
        rk_nfq_verdict(ud, p->id, true);
}

static void *raw_responder(void *ud) {
        rk_nfq *q = ud;
        struct pollfd p = { .fd = rk_nfq_get_fd(q), .events = POLLIN };

        while (!stop_raw) {
                if (poll(&p, 1, 100) > 0)
                        (void) rk_nfq_read(q, accept_it, q);
        }
        return NULL;
}

/* ---- flows ---- */

/* One connect from namespace `cond` to B over its veth; microseconds, or -1. */
static double one_connect(int cond) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PORT) };
        struct linger lg = { .l_onoff = 1, .l_linger = 0 };
        char ip[32];
        double t0, t1;
        int s;

        snprintf(ip, sizeof(ip), "10.203.%d.2", cond + 1);
        inet_pton(AF_INET, ip, &a.sin_addr);
        if (setns(ns_fd[cond], CLONE_NEWNET) < 0)
                return -1;
        s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0)
                return -1;
        t0 = bench_now_us();
        int r = connect(s, (struct sockaddr *) &a, sizeof(a));
        t1 = bench_now_us();
        setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)); /* reset: no TIME_WAIT piling up */
        close(s);
        return r < 0 ? -1 : t1 - t0;
}

typedef struct tput {
        int cond;
        double until;
        long n;
} tput;

static void *tput_thread(void *ud) {
        tput *t = ud;
        while (bench_now_us() < t->until)
                if (one_connect(t->cond) >= 0)
                        t->n++;
        return NULL;
}

static double flows_per_second(int cond) {
        tput t[4];
        pthread_t th[4];
        double until = bench_now_us() + 2e6;
        long n = 0;

        for (int k = 0; k < 4; k++) {
                t[k] = (tput){ .cond = cond, .until = until };
                pthread_create(&th[k], NULL, tput_thread, &t[k]);
        }
        for (int k = 0; k < 4; k++) {
                pthread_join(th[k], NULL);
                n += t[k].n;
        }
        return n / 2.0;
}

/* ---- set-up ---- */

static int make_namespaces(void) {
        char p[sizeof(ns) + 16];

        snprintf(ns[N_COND], sizeof(ns[N_COND]), "rkbnf-b-%d", (int) getpid());
        if (bench_run("ip netns add %s && ip -n %s link set lo up", ns[N_COND], ns[N_COND]))
                return -1;
        for (int k = 0; k < N_COND; k++) {
                snprintf(ns[k], sizeof(ns[k]), "rkbnf-%d-%d", k, (int) getpid());
                if (bench_run("ip netns add %s && ip -n %s link set lo up && "
                        "ip link add bnfa%d-%d netns %s type veth peer name bnfb%d-%d netns %s && "
                        "ip -n %s addr add 10.203.%d.1/24 dev bnfa%d-%d && ip -n %s link set bnfa%d-%d up && "
                        "ip -n %s addr add 10.203.%d.2/24 dev bnfb%d-%d && ip -n %s link set bnfb%d-%d up",
                        ns[k], ns[k], k, (int) getpid() % 10000, ns[k], k, (int) getpid() % 10000, ns[N_COND],
                        ns[k], k + 1, k, (int) getpid() % 10000, ns[k], k, (int) getpid() % 10000,
                        ns[N_COND], k + 1, k, (int) getpid() % 10000, ns[N_COND], k, (int) getpid() % 10000))
                        return -1;
        }
        for (int k = 0; k <= N_COND; k++) {
                snprintf(p, sizeof(p), "/run/netns/%s", ns[k]);
                if ((ns_fd[k] = open(p, O_RDONLY | O_CLOEXEC)) < 0)
                        return -1;
        }
        return 0;
}

static int start_ringd(const char *self_dir) {
        char root[96], app[160], ext[320], p[400], ringctl[PATH_MAX + 16], ringd[PATH_MAX + 16], q[16], fspin[80] = "", plist[2048];
        /* BENCH_NF_SPIN=US: ringd's --nf-spin; BENCH_NF_FILTER_SPIN=US: the filter's rk_nf_filter_set_spin (defaults otherwise) */
        const char *spin = getenv("BENCH_NF_SPIN"), *filter_spin = getenv("BENCH_NF_FILTER_SPIN");

        snprintf(ringd, sizeof(ringd), "%s/../ringd", self_dir);
        snprintf(ringctl, sizeof(ringctl), "%s/../ringctl", self_dir);
        snprintf(root, sizeof(root), "%s/root", dir);
        snprintf(app, sizeof(app), "%s/Applications/Bench.app", root);
        snprintf(ext, sizeof(ext), "%s/Contents/Library/SystemExtensions/org.ringkit.bench.nf.systemextension", app);
        if (bench_run("mkdir -p '%s/Contents/MacOS' '%s/Contents/MacOS' && printf '#!/bin/sh\\n' >'%s/Contents/MacOS/Bench' && "
                "chmod +x '%s/Contents/MacOS/Bench' && cp /proc/%d/exe '%s/Contents/MacOS/bench-nf-filter'",
                app, ext, app, app, (int) getpid(), ext))
                return -1;
        snprintf(p, sizeof(p), "%s/Contents/Info.plist", app);
        bench_write_file(p, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>"
                      "<key>CFBundleIdentifier</key><string>org.ringkit.bench.app</string>"
                      "<key>CFBundleVersion</key><string>1.0</string>"
                      "<key>CFBundlePackageType</key><string>APPL</string>"
                      "<key>CFBundleExecutable</key><string>Bench</string></dict></plist>\n");
        snprintf(p, sizeof(p), "%s/Contents/Info.plist", ext);
        if (filter_spin)
                snprintf(fspin, sizeof(fspin), "<string>%d</string>", atoi(filter_spin));
        snprintf(plist, sizeof(plist), "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>"
                      "<key>CFBundleIdentifier</key><string>org.ringkit.bench.nf</string>"
                      "<key>CFBundleVersion</key><string>1.0</string>"
                      "<key>CFBundleShortVersionString</key><string>1.0</string>"
                      "<key>CFBundlePackageType</key><string>SYSX</string>"
                      "<key>CFBundleExecutable</key><string>bench-nf-filter</string>"
                      "<key>RKArguments</key><array><string>--filter</string>%s</array>"
                      "<key>RKNetworkFilter</key><dict><key>FailPolicy</key><string>fail-open</string></dict>"
                      "</dict></plist>\n", fspin);
        bench_write_file(p, plist);
        snprintf(q, sizeof(q), "%d", RINGD_QUEUE);
        snprintf(p, sizeof(p), "/run/netns/%s", ns[RINGD]);
        pid_t pid = fork();
        if (pid == 0) {
                int fd = open("/dev/null", O_WRONLY);
                dup2(fd, 2);
                if (setns(ns_fd[RINGD], CLONE_NEWNET) < 0)
                        _exit(127);
                if (spin)
                        execl(ringd, "ringd", "--root", root, "--no-linux", "--nf-queue", q, "--nf-spin", spin, (char *) NULL);
                else
                        execl(ringd, "ringd", "--root", root, "--no-linux", "--nf-queue", q, (char *) NULL);
                _exit(127);
        }
        ringd_pid = pid;
        for (int k = 0; k < 100; k++) {
                if (bench_run("'%s' --root '%s' status >/dev/null 2>&1", ringctl, root) == 0)
                        break;
                usleep(100000);
        }
        if (bench_run("'%s' --root '%s' developer on >/dev/null && '%s' --root '%s' activate '%s' org.ringkit.bench.nf >/dev/null && "
                "'%s' --root '%s' approve org.ringkit.bench.nf >/dev/null",
                ringctl, root, ringctl, root, app, ringctl, root))
                return -1;
        for (int k = 0; k < 100; k++) {
                if (bench_run("'%s' --root '%s' status --json 2>/dev/null | grep -q '\"connected\":true'", ringctl, root) == 0)
                        return 0;
                usleep(100000);
        }
        fprintf(stderr, "bench-nf: the filter extension did not connect\n");
        return -1;
}

static void print_fig(const char *name, double p50, double p99, double base) {
        printf("  %-44s p50 %8.1f us  p99 %8.1f us   added p50 %+8.1f us\n", name, p50, p99, p50 - base);
}

int main(int argc, char **argv) {
        char self_dir[PATH_MAX];
        int n = argc > 1 ? atoi(argv[1]) : 3000;
        pthread_t srv, rawt;
        rk_nfq *q = NULL;
        int r;

        if (argc > 1 && strcmp(argv[1], "--filter") == 0)
                return filter_main(argc > 2 ? argv[2] : NULL);
        if (n < 30)
                n = 30;
        if (geteuid() != 0) {
                fprintf(stderr, "bench-nf: needs root (network namespaces, iptables)\n");
                return 77;
        }
        if (bench_self_dir(self_dir, sizeof(self_dir)) < 0)
                return 1;
        strcpy(dir, "/tmp/bench-nf.XXXXXX");
        if (!mkdtemp(dir))
                return 1;
        atexit(cleanup);
        signal(SIGPIPE, SIG_IGN);
        if (make_namespaces() < 0) {
                fprintf(stderr, "bench-nf: cannot make the namespaces\n");
                return 1;
        }
        pthread_create(&srv, NULL, server, NULL);
        /* the floor: ringd's rules, pointing at our own queue */
        if (bench_run("ip netns exec %s iptables-restore -w 5 --noflush <<'E'\n*filter\n:BENCH-NF - [0:0]\n"
                "-A BENCH-NF -m conntrack --ctstate NEW -j NFQUEUE --queue-num %d --queue-bypass\n"
                "-I INPUT 1 -j BENCH-NF\n-I OUTPUT 1 -j BENCH-NF\n-I FORWARD 1 -j BENCH-NF\nCOMMIT\nE", ns[RAW], RAW_QUEUE))
                return 1;
        {
                /* the queue's netlink socket belongs to the namespace it is made in */
                int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
                if (setns(ns_fd[RAW], CLONE_NEWNET) < 0 || (r = rk_nfq_open(RAW_QUEUE, &q)) < 0 || setns(self, CLONE_NEWNET) < 0) {
                        fprintf(stderr, "bench-nf: cannot bind NFQUEUE %d\n", RAW_QUEUE);
                        return 1;
                }
                close(self);
        }
        pthread_create(&rawt, NULL, raw_responder, q);
        if (start_ringd(self_dir) < 0)
                return 1;

        double *v[N_COND];
        int cnt[N_COND] = {}, rounds = 30, per = n / rounds > 0 ? n / rounds : 1;
        for (int c = 0; c < N_COND; c++)
                v[c] = calloc((size_t) rounds * per, sizeof(double));
        for (int c = 0; c < N_COND; c++) /* warm up: ARP, caches */
                for (int k = 0; k < 20; k++)
                        (void) one_connect(c);
        for (int round = 0; round < rounds; round++)
                for (int c = 0; c < N_COND; c++)
                        for (int k = 0; k < per; k++) {
                                double t = one_connect(c);
                                if (t >= 0)
                                        v[c][cnt[c]++] = t;
                        }
        double p50[N_COND], p99[N_COND];
        for (int c = 0; c < N_COND; c++) {
                if (!cnt[c]) {
                        fprintf(stderr, "bench-nf: no connect succeeded in condition %s\n", names[c]);
                        return 1;
                }
                qsort(v[c], (size_t) cnt[c], sizeof(double), bench_cmp_double);
                p50[c] = v[c][cnt[c] / 2];
                p99[c] = v[c][(size_t) (cnt[c] * 0.99)];
        }
        printf("bench-nf: TCP connect (SYN -> SYN/ACK through the filter) over a veth pair, %d per condition, %d interleaved rounds\n",
               cnt[BARE], rounds);
        for (int c = 0; c < N_COND; c++)
                print_fig(names[c], p50[c], p99[c], p50[BARE]);
        double ra = p50[RAW] - p50[BARE], ga = p50[RINGD] - p50[BARE];
        printf("  ringd added / floor added: %.2fx%s\n", ra > 0 ? ga / ra : 0.0,
               ra <= 0 ? " (the floor's added cost is within noise)" : "");
        printf("new flows per second (4 threads, 2 s each):\n");
        double fb = flows_per_second(BARE), fr = flows_per_second(RAW), fg = flows_per_second(RINGD);
        printf("  %-44s %9.0f\n  %-44s %9.0f  (%.2fx bare)\n  %-44s %9.0f  (%.2fx bare, %.2fx the floor)\n", names[BARE], fb,
               names[RAW], fr, fr / fb, names[RINGD], fg, fg / fb, fg / fr);
        stop_raw = true;
        pthread_join(rawt, NULL);
        rk_nfq_close(q);
        return 0;
}
