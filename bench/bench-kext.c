/* SPDX-License-Identifier: MIT */
/*
 * bench-kext: the cost of a call into the same driver built as a kext and
 * as a dext (bench/kext-bench-driver.c), from ringd's side.
 *
 *   plain      an indirect call through a function pointer (the floor)
 *   kext       what ringd does per call into a kext (kext_instance_call):
 *              authenticate the signed pointer from the sealed class table
 *              (SipHash-2-4 over pointer + slot address), frame the call for
 *              the panic handler, call
 *   dext       an IPC round trip to the same driver in its own process: the
 *              request and the reply over a SOCK_SEQPACKET channel with
 *              ringd's framing (ipc/msg.h), as ringd talks to dexts
 *
 * The kext is loaded as ringd loads one (ELF rules, dlopen of a sealed
 * memfd, module start, seal).  Rounds interleave the three; each figure is
 * the median over rounds of the mean per call.  Usage:
 *   bench-kext [--rounds N] [KEXT.so DEXT-EXECUTABLE]
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "ipc/msg.h"
#include "rings/kext-load.h"
#include "rings/sandbox.h"

#ifndef BENCH_KEXT_SO
#define BENCH_KEXT_SO "bench-kext-driver.so"
#endif
#ifndef BENCH_DEXT_EXE
#define BENCH_DEXT_EXE "bench-kext-dext"
#endif

extern char **environ;

static int host_register(rk_kext *k, const rk_kext_class *cls) {
        return rk_kext_image_add_class((rk_kext_image *) k, cls);
}
static const rk_kext_host host = { .abi_version = RK_KEXT_ABI_VERSION, .size = sizeof(rk_kext_host),
                                   .register_class = host_register };

typedef int (*call_fn)(void *, uint64_t, uint64_t, uint64_t *);

int main(int argc, char **argv) {
        const char *so = BENCH_KEXT_SO, *dexe = BENCH_DEXT_EXE;
        int rounds = 9, argi = 1;
        char why[256] = "";
        rk_kext_image *img = NULL;
        const rk_kext_class_rec *cls;
        int (*mstart)(rk_kext *, const rk_kext_host *);
        int (*cstart)(rk_kext_service *, rk_kext_service *, void **);
        void *state = NULL;
        volatile call_fn plain;
        rk_channel *ch = NULL;
        int sv[2], fd, r;
        pid_t pid;
        posix_spawn_file_actions_t fa;
        const uint64_t n_local = 2000000, n_ipc = 20000;
        double *t_plain, *t_kext, *t_ipc;
        uint64_t sink = 0;

        if (argc > 2 && strcmp(argv[1], "--rounds") == 0) {
                rounds = atoi(argv[2]);
                argi = 3;
        }
        if (argc - argi == 2) {
                so = argv[argi];
                dexe = argv[argi + 1];
        } else if (argc != argi) {
                fprintf(stderr, "usage: bench-kext [--rounds N] [KEXT.so DEXT-EXECUTABLE]\n");
                return 2;
        }
        if (rounds < 1)
                rounds = 1;
        if (rk_kpac_init() < 0)
                return 1;
        /* the kext, loaded as ringd loads one */
        fd = rk_memfd_seal_file(so);
        if (fd < 0) {
                fprintf(stderr, "bench-kext: %s: %s\n", so, strerror(-fd));
                return 1;
        }
        r = rk_kext_image_load(fd, "org.ringkit.bench", false, &img, why, sizeof(why), NULL);
        close(fd);
        if (r < 0) {
                fprintf(stderr, "bench-kext: %s: %s\n", so, why);
                return 1;
        }
        mstart = (int (*)(rk_kext *, const rk_kext_host *)) rk_kpac_auth(&img->table->mod_start, "bench", "start");
        if (mstart((rk_kext *) img, &host) < 0 || !(cls = rk_kext_image_class(img, "RKBenchDriver")))
                return 1;
        cstart = (int (*)(rk_kext_service *, rk_kext_service *, void **)) rk_kpac_auth(&cls->start, "bench", "start");
        if (cstart(NULL, NULL, &state) < 0)
                return 1;
        if (rk_kext_image_seal(img) < 0)
                fprintf(stderr, "bench-kext: sealing failed\n");
        plain = (call_fn) cls->call.ptr;

        /* the dext: the same driver in its own process, a channel on fd 3 */
        if (rk_socketpair(sv) < 0)
                return 1;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
        r = posix_spawn(&pid, dexe, &fa, NULL, (char *[]){ (char *) dexe, NULL }, environ);
        posix_spawn_file_actions_destroy(&fa);
        close(sv[1]);
        if (r != 0) {
                fprintf(stderr, "bench-kext: %s: %s\n", dexe, strerror(r));
                return 1;
        }
        if (rk_channel_new(sv[0], 0, &ch) < 0)
                return 1;

        t_plain = calloc((size_t) rounds, sizeof(double));
        t_kext = calloc((size_t) rounds, sizeof(double));
        t_ipc = calloc((size_t) rounds, sizeof(double));
        if (!t_plain || !t_kext || !t_ipc)
                return 1;
        for (int k = 0; k < rounds; k++) {
                uint64_t t0, res = 0;

                t0 = bench_now_ns();
                for (uint64_t i = 0; i < n_local; i++) {
                        plain(state, 0, i, &res);
                        sink += res;
                }
                t_plain[k] = (double) (bench_now_ns() - t0) / (double) n_local;

                t0 = bench_now_ns();
                for (uint64_t i = 0; i < n_local; i++) {
                        rk_kext_frame f;
                        call_fn c = (call_fn) rk_kpac_auth(&cls->call, "org.ringkit.bench", "call");
                        rk_kext_enter(&f, "org.ringkit.bench", "RKBenchDriver call");
                        c(state, 0, i, &res);
                        rk_kext_leave(&f);
                        sink += res;
                }
                t_kext[k] = (double) (bench_now_ns() - t0) / (double) n_local;

                t0 = bench_now_ns();
                for (uint64_t i = 0; i < n_ipc; i++) {
                        uint64_t req[2] = { 0, i }, rep[2];
                        rk_msg m = RK_MSG_INIT;
                        if (rk_channel_send(ch, 1, 0, -EBADF, req, sizeof(req)) < 0 ||
                            rk_channel_recv_wait(ch, &m, 5000) < 0 || m.len != sizeof(rep)) {
                                fprintf(stderr, "bench-kext: the dext did not answer\n");
                                return 1;
                        }
                        memcpy(rep, m.data, sizeof(rep));
                        rk_msg_done(&m);
                        if (rep[0] != 0 || rep[1] != i + 1) {
                                fprintf(stderr, "bench-kext: wrong answer from the dext\n");
                                return 1;
                        }
                        sink += rep[1];
                }
                t_ipc[k] = (double) (bench_now_ns() - t0) / (double) n_ipc;
        }
        {
                double p = bench_median(t_plain, rounds), kx = bench_median(t_kext, rounds), ipc = bench_median(t_ipc, rounds);
                printf("bench-kext: %d rounds; per call, median of round means (%llu local, %llu IPC calls a round)\n",
                       rounds, (unsigned long long) n_local, (unsigned long long) n_ipc);
                printf("  plain indirect call (floor)        %9.1f ns\n", p);
                printf("  kext call, authenticated + framed  %9.1f ns   (+%.1f ns over the plain call: pointer authentication)\n",
                       kx, kx - p);
                printf("  dext call, IPC round trip          %9.1f ns\n", ipc);
                printf("  ratio dext / kext                  %9.1fx\n", ipc / kx);
                printf("  sealed with %s\n", img->used_mseal ? "mseal" : "mprotect (no mseal)");
        }
        rk_channel_free(ch);
        waitpid(pid, NULL, 0);
        free(t_plain);
        free(t_kext);
        free(t_ipc);
        rk_kext_image_free(img);
        return sink == 42 ? 3 : 0; /* keeps the sums alive */
}
