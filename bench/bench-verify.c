/* SPDX-License-Identifier: MIT */
/*
 * Cost of verifying a signed bundle per launch.
 *
 *   bench-verify BUNDLE TRUST_DIR [ROUNDS]
 *
 * Prints, per round average: the full rk_verify_bundle() (chain, CMS,
 * re-hash of every file, entitlements), and as baselines from the same run
 * the re-hash alone (rk_codedir_new_from_bundle) and hashing the executable
 * alone (what a launch-time check of only the program would cost).  The
 * first round is reported separately as "first" (cold caches in this
 * process: trust store parse, OpenSSL tables); the page cache is not
 * dropped, which would need root.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalogue/bundle.h"
#include "trust/codedir.h"
#include "trust/sign.h"

static double now_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e6 + (double) ts.tv_nsec / 1e3;
}

static int verify_once(const char *b, const char *trust) {
        return rk_verify_bundle(b, trust, NULL, 0, NULL, NULL);
}

static int hash_all_once(const char *b, const char *unused) {
        rk_codedir *cd = NULL;
        int r = rk_codedir_new_from_bundle(b, &cd, NULL);
        rk_codedir_free(cd);
        return r;
}

static int hash_exec_once(const char *exe, const char *unused) {
        uint8_t h[32];
        return rk_codedir_hash_file(AT_FDCWD, exe, h);
}

static void run(const char *label, int (*fn)(const char *, const char *), const char *a, const char *b, int rounds) {
        double t0 = now_us();
        int r = fn(a, b);
        double first = now_us() - t0;
        t0 = now_us();
        for (int i = 1; i < rounds && r >= 0; i++)
                r = fn(a, b);
        double avg = rounds > 1 ? (now_us() - t0) / (rounds - 1) : first;
        if (r < 0)
                printf("%-22s failed: %s\n", label, strerror(-r));
        else
                printf("%-22s first %9.1f us   warm %9.1f us/round\n", label, first, avg);
}

int main(int argc, char **argv) {
        if (argc < 3) {
                fprintf(stderr, "usage: bench-verify BUNDLE TRUST_DIR [ROUNDS]\n");
                return 2;
        }
        int rounds = argc > 3 ? atoi(argv[3]) : 200;
        rk_bundle *b = NULL;
        (void) rk_bundle_load(argv[1], &b, NULL);
        printf("bundle %s, %d rounds\n", argv[1], rounds);
        run("verify (full)", verify_once, argv[1], argv[2], rounds);
        run("baseline: hash files", hash_all_once, argv[1], NULL, rounds);
        if (b && b->executable_path)
                run("baseline: hash program", hash_exec_once, b->executable_path, NULL, rounds);
        rk_bundle_unref(b);
        return 0;
}
