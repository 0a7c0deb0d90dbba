/* SPDX-License-Identifier: MIT */
/*
 * What every bench shares: a monotonic clock in the unit a bench prints,
 * sorting samples and reading percentiles off them, running a shell command,
 * writing a small file, finding the build directory.  Header-only (static inline): each bench is one
 * executable built from its own .c file.
 */
#pragma once

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t bench_now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}
static inline double bench_now_s(void) {
        return (double) bench_now_ns() / 1e9;
}
static inline double bench_now_ms(void) {
        return (double) bench_now_ns() / 1e6;
}
static inline double bench_now_us(void) {
        return (double) bench_now_ns() / 1e3;
}

static inline int bench_cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}
/* Sort N samples ascending. */
static inline void bench_sort(double *v, size_t n) {
        qsort(v, n, sizeof(*v), bench_cmp_double);
}
/* The P-quantile (0..1) of N samples, nearest rank below (sample (N-1)*P): sorts them. */
static inline double bench_pct(double *v, size_t n, double p) {
        bench_sort(v, n);
        return v[(size_t) ((double) (n - 1) * p)];
}
/* The median of N samples (the mean of the middle two when N is even): sorts them. */
static inline double bench_median(double *v, size_t n) {
        bench_sort(v, n);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Run a shell command (printf format); its status, and a message naming the bench when it is not 0. */
__attribute__((format(printf, 1, 2))) static inline int bench_run(const char *fmt, ...) {
        char cmd[4096];
        va_list ap;
        int r;

        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        r = system(cmd);
        if (r != 0)
                fprintf(stderr, "%s: failed (%d): %s\n", program_invocation_short_name, r, cmd);
        return r;
}

/* Write TEXT to PATH, or exit naming the file. */
static inline void bench_write_file(const char *path, const char *text) {
        FILE *f = fopen(path, "w");
        if (!f) {
                perror(path);
                exit(1);
        }
        fputs(text, f);
        fclose(f);
}

/* The directory of this bench's executable (BUILD/bench) into OUT: 0, or -1. */
static inline int bench_self_dir(char *out, size_t cap) {
        ssize_t n = readlink("/proc/self/exe", out, cap - 1);
        char *slash;

        if (n <= 0)
                return -1;
        out[n] = 0;
        slash = strrchr(out, '/');
        if (!slash)
                return -1;
        *slash = 0;
        return 0;
}
