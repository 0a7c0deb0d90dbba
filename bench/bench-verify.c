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
 *
 * Then what ringd pays at each launch (src/ringd/launch.c): the bundle's
 * signature is verified once and kept while its signature files are
 * unchanged, and the executable is copied into a sealed memfd and checked
 * against the code directory -- "cold" hashes it every time, "warm" is
 * the cache hit ringd gets while the file's identity is unchanged.  The
 * baseline of the same run is opening and reading the file (what an exec
 * of the file reads anyway).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "catalogue/bundle.h"
#include "trust/codedir.h"
#include <openssl/evp.h>

#include "rings/sandbox.h"
#include "trust/sign.h"
#include <unistd.h>

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

static uint8_t exe_sha[32];
static rk_vexec_cache *cache;

static int vexec_cold(const char *exe, const char *unused) {
        int fd = -1, r = rk_verified_exec_prepare(exe, exe_sha, &fd, NULL);
        if (fd >= 0)
                close(fd);
        return r;
}

static void openssl_sha256(const void *data, size_t len, uint8_t out[32]) {
        EVP_Digest(data, len, out, NULL, EVP_sha256(), NULL);
}

/* a miss every time, hashed with OpenSSL as ringd does */
static int vexec_cold_openssl(const char *exe, const char *unused) {
        rk_vexec_cache *c = NULL;
        int fd = -1, r = rk_vexec_cache_new(&c);
        if (r < 0)
                return r;
        rk_vexec_cache_set_hash(c, openssl_sha256);
        r = rk_verified_exec_prepare_cached(c, exe, exe_sha, &fd, NULL);
        if (fd >= 0)
                close(fd);
        rk_vexec_cache_free(c);
        return r;
}

static int vexec_warm(const char *exe, const char *unused) {
        int fd = -1, r = rk_verified_exec_prepare_cached(cache, exe, exe_sha, &fd, NULL);
        if (fd >= 0)
                close(fd);
        return r;
}

static int read_file(const char *exe, const char *unused) {
        char buf[65536];
        int fd = open(exe, O_RDONLY | O_CLOEXEC);
        ssize_t n;
        if (fd < 0)
                return -errno;
        while ((n = read(fd, buf, sizeof(buf))) > 0)
                ;
        close(fd);
        return n < 0 ? -errno : 0;
}

static void run(const char *label, int (*fn)(const char *, const char *), const char *a, const char *b, int rounds) {
        double t0 = bench_now_us();
        int r = fn(a, b);
        double first = bench_now_us() - t0;
        t0 = bench_now_us();
        for (int i = 1; i < rounds && r >= 0; i++)
                r = fn(a, b);
        double avg = rounds > 1 ? (bench_now_us() - t0) / (rounds - 1) : first;
        if (r < 0)
                printf("%-40s failed: %s\n", label, strerror(-r));
        else
                printf("%-40s first %9.1f us   warm %9.1f us/round\n", label, first, avg);
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
        if (b && b->executable_path) {
                run("baseline: hash program", hash_exec_once, b->executable_path, NULL, rounds);
                printf("per launch in ringd (signature kept while unchanged):\n");
                if (rk_codedir_hash_file(AT_FDCWD, b->executable_path, exe_sha) < 0 || rk_vexec_cache_new(&cache) < 0)
                        return 1;
                run("baseline: read program", read_file, b->executable_path, NULL, rounds);
                run("verified exec, cold (own SHA-256, as ringkit-sandbox-exec --exec)", vexec_cold, b->executable_path, NULL, rounds);
                run("verified exec, cold (OpenSSL, as ringd)", vexec_cold_openssl, b->executable_path, NULL, rounds);
                /* the file must be older than the cache's racy window to be cached */
                rk_vexec_cache_set_hash(cache, openssl_sha256);
                run("verified exec, warm", vexec_warm, b->executable_path, NULL, rounds);
                unsigned hits = 0, misses = 0;
                rk_vexec_cache_stats(cache, &hits, &misses);
                printf("warm cache: %u hits, %u misses\n", hits, misses);
                rk_vexec_cache_free(cache);
        }
        rk_bundle_unref(b);
        return 0;
}
