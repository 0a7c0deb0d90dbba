/* SPDX-License-Identifier: MIT */
/*
 * bench-alias: modules.alias lookups, rk_alias_index against libkmod's
 * kmod_module_new_from_lookup(), in one run on the same queries.
 *
 *   bench-alias [MODULES.ALIAS]   (default: the newest /lib/modules/VERSION/modules.alias)
 *
 * Queries are those of tests/test-alias-kmod.c: for every alias, a modalias
 * it matches and three near misses.  libkmod works on a private copy of the
 * modules.alias.bin next to the file, with empty companion indexes and no
 * configuration, mapped with kmod_load_resources() as udev does: it then
 * answers from modules.alias only, like us (the oracle test checks that the
 * answers are equal).  Prints the time per lookup for both, per bus prefix
 * (the larger ones) and overall, and their ratio; each figure is the best
 * of REPEAT runs.  No pass/fail: figures only.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <libkmod.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "match/alias.h"

#define REPEAT 3

struct query {
        char *s;
        char bus[16];
};

struct queries {
        struct query *v;
        size_t n, cap;
};

static uint64_t rnd(uint64_t *st) {
        *st ^= *st >> 12;
        *st ^= *st << 25;
        *st ^= *st >> 27;
        return *st * 0x2545F4914F6CDD1DULL;
}

static unsigned pick(uint64_t *st, unsigned n) {
        return (unsigned) (rnd(st) % n);
}

static void add_query(struct queries *q, const char *s, const char *pattern) {
        struct query *e;

        if (q->n == q->cap) {
                q->cap = q->cap ? q->cap * 2 : 4096;
                q->v = realloc(q->v, q->cap * sizeof(*q->v));
                if (!q->v)
                        abort();
        }
        e = &q->v[q->n++];
        e->s = strdup(s);
        if (!e->s)
                abort();
        if (strchr(pattern, ':'))
                snprintf(e->bus, sizeof(e->bus), "%.*s", (int) strcspn(pattern, ":*?["), pattern);
        else
                snprintf(e->bus, sizeof(e->bus), "(name)");
}

/* a modalias the pattern matches (as in tests/test-alias-kmod.c) */
static void fill(uint64_t *st, const char *pat, char *out, size_t cap) {
        static const char *const star[] = { "",     "0",        "00",   "01", "03",  "0000",
                                            "0001", "00008086", "FFFF", "A",  "1A2B" };
        static const char cands[] = "0123456789ABCDEFabcdefxyz_-:,";
        size_t o = 0;

        for (size_t i = 0; pat[i] && o + 16 < cap; i++) {
                char c = pat[i];

                if (c == '*') {
                        o += (size_t) snprintf(out + o, cap - o, "%s", star[pick(st, sizeof(star) / sizeof(star[0]))]);
                } else if (c == '?') {
                        out[o++] = "0A1"[pick(st, 3)];
                } else if (c == '[') {
                        size_t j = i + 1;
                        char set[256], one[2] = { 0, 0 };

                        if (pat[j] == '!' || pat[j] == '^')
                                j++;
                        if (pat[j] == ']')
                                j++;
                        while (pat[j] && pat[j] != ']')
                                j++;
                        if (!pat[j] || j - i + 1 >= sizeof(set)) {
                                out[o++] = c;
                                continue;
                        }
                        memcpy(set, pat + i, j - i + 1);
                        set[j - i + 1] = '\0';
                        for (const char *k = cands; *k; k++) {
                                one[0] = *k;
                                if (fnmatch(set, one, 0) == 0)
                                        break;
                        }
                        out[o++] = one[0];
                        i = j;
                } else if (c == '\\' && pat[i + 1]) {
                        out[o++] = pat[++i];
                } else {
                        out[o++] = c;
                }
        }
        out[o] = '\0';
}

static int make_queries(const char *path, struct queries *q) {
        FILE *f = fopen(path, "re");
        char line[8192], pat[4200], mod[256], s[4200], near[4300];
        uint64_t st = 0x0dd5eed5ULL;

        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f)) {
                size_t n;

                if (sscanf(line, "alias %4199s %255s", pat, mod) != 2)
                        continue;
                fill(&st, pat, s, sizeof(s));
                n = strlen(s);
                add_query(q, s, pat);
                memcpy(near, s, n + 1);
                if (n)
                        near[pick(&st, (unsigned) n)] = "0A_z9:x"[pick(&st, 7)];
                add_query(q, near, pat);
                memcpy(near, s, n + 1);
                near[n - (n ? 1 + pick(&st, n < 3 ? (unsigned) n : 3u) : 0)] = '\0';
                add_query(q, near, pat);
                snprintf(near, sizeof(near), "%s%c", s, "0Ax_"[pick(&st, 4)]);
                add_query(q, near, pat);
        }
        fclose(f);
        return 0;
}

static int cmp_bus(const void *a, const void *b) {
        const struct query *x = a, *y = b;
        return strcmp(x->bus, y->bus);
}

/* ---- libkmod on modules.alias.bin alone --------------------------------- */

static const char *const companions[] = {
        "modules.dep.bin", "modules.symbols.bin", "modules.builtin.bin", "modules.builtin.alias.bin",
};

static bool copy_file(const char *from, const char *to) {
        int in = open(from, O_RDONLY | O_CLOEXEC), out;
        char buf[65536];
        ssize_t k;
        bool ok = true;

        if (in < 0)
                return false;
        out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (out < 0) {
                close(in);
                return false;
        }
        while ((k = read(in, buf, sizeof(buf))) > 0)
                if (write(out, buf, (size_t) k) != k)
                        ok = false;
        close(in);
        close(out);
        return ok && k == 0;
}

/* DIR/lib/modules/bench with modules.alias.bin and empty companions */
static bool make_moddir(const char *alias_file, char *root, size_t rcap, char *dir, size_t dcap) {
        static const unsigned char empty[12] = { 0xb0, 0x07, 0xf4, 0x57, 0x00, 0x02,
                                                 0x00, 0x01, 0x00, 0x00, 0x00, 0x0c };
        char path[4200], bin[4200];

        snprintf(bin, sizeof(bin), "%s.bin", alias_file);
        if (access(bin, R_OK) != 0)
                return false;
        snprintf(root, rcap, "/tmp/rk-bench-alias-XXXXXX");
        if (!mkdtemp(root))
                return false;
        snprintf(dir, dcap, "%s/lib", root);
        mkdir(dir, 0755);
        snprintf(dir, dcap, "%s/lib/modules", root);
        mkdir(dir, 0755);
        snprintf(dir, dcap, "%s/lib/modules/bench", root);
        mkdir(dir, 0755);
        snprintf(path, sizeof(path), "%s/modules.alias.bin", dir);
        if (!copy_file(bin, path))
                return false;
        for (size_t i = 0; i < sizeof(companions) / sizeof(companions[0]); i++) {
                int fd;
                snprintf(path, sizeof(path), "%s/%s", dir, companions[i]);
                fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                if (fd < 0 || write(fd, empty, sizeof(empty)) != (ssize_t) sizeof(empty)) {
                        if (fd >= 0)
                                close(fd);
                        return false;
                }
                close(fd);
        }
        return true;
}

static void remove_moddir(const char *root, const char *dir) {
        char path[4200];

        snprintf(path, sizeof(path), "%s/modules.alias.bin", dir);
        unlink(path);
        for (size_t i = 0; i < sizeof(companions) / sizeof(companions[0]); i++) {
                snprintf(path, sizeof(path), "%s/%s", dir, companions[i]);
                unlink(path);
        }
        rmdir(dir);
        snprintf(path, sizeof(path), "%s/lib/modules", root);
        rmdir(path);
        snprintf(path, sizeof(path), "%s/lib", root);
        rmdir(path);
        rmdir(root);
}

/* ---- timing ---------------------------------------------------------- */

static void count_cb(const char *module, const char *pattern, void *userdata) {
        (*(unsigned long *) userdata)++;
}

/* seconds for the queries [a, b), repeated `rounds` times */
static double time_rk(const rk_alias_index *idx, const struct queries *q, size_t a, size_t b, unsigned rounds,
                      unsigned long *matches) {
        double t0 = bench_now_s();

        for (unsigned r = 0; r < rounds; r++)
                for (size_t i = a; i < b; i++)
                        rk_alias_index_lookup(idx, q->v[i].s, count_cb, matches);
        return bench_now_s() - t0;
}

static double time_kmod(struct kmod_ctx *ctx, const struct queries *q, size_t a, size_t b, unsigned long *matches) {
        double t0 = bench_now_s();

        for (size_t i = a; i < b; i++) {
                struct kmod_list *list = NULL, *it;

                kmod_module_new_from_lookup(ctx, q->v[i].s, &list);
                kmod_list_foreach(it, list)(*matches)++;
                kmod_module_unref_list(list);
        }
        return bench_now_s() - t0;
}

static bool default_alias_file(char *out, size_t cap) {
        DIR *d = opendir("/lib/modules");
        struct dirent *de;
        char best[256] = "";

        if (!d)
                return false;
        while ((de = readdir(d))) {
                char path[4096];
                if (de->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "/lib/modules/%s/modules.alias", de->d_name);
                if (access(path, R_OK) == 0 && (!best[0] || strverscmp(de->d_name, best) > 0))
                        snprintf(best, sizeof(best), "%s", de->d_name);
        }
        closedir(d);
        if (!best[0])
                return false;
        snprintf(out, cap, "/lib/modules/%s/modules.alias", best);
        return true;
}

int main(int argc, char **argv) {
        static const char *const no_config[] = { NULL };
        char file[4096], root[64] = "", dir[4096] = "";
        struct queries q = { 0 };
        rk_alias_index *idx = NULL;
        struct kmod_ctx *ctx = NULL;
        unsigned long rk_matches = 0, kmod_matches = 0;
        double t, rk_total = 0, kmod_total = 0;
        unsigned line = 0, rounds;
        int r;

        if (argc > 1)
                snprintf(file, sizeof(file), "%s", argv[1]);
        else if (!default_alias_file(file, sizeof(file))) {
                fprintf(stderr, "bench-alias: no /lib/modules/*/modules.alias; pass a file\n");
                return 1;
        }

        t = bench_now_s();
        r = rk_alias_index_new_from_file(file, &idx, &line);
        t = bench_now_s() - t;
        if (r < 0) {
                fprintf(stderr, "bench-alias: %s: %s (line %u)\n", file, strerror(-r), line);
                return 1;
        }
        r = make_queries(file, &q);
        if (r < 0 || q.n == 0) {
                fprintf(stderr, "bench-alias: %s: no queries\n", file);
                return 1;
        }
        qsort(q.v, q.n, sizeof(*q.v), cmp_bus);
        printf("bench-alias: %s: %zu aliases, index built in %.1f ms; %zu queries\n", file,
               rk_alias_index_size(idx), t * 1e3, q.n);

        if (make_moddir(file, root, sizeof(root), dir, sizeof(dir))) {
                ctx = kmod_new(dir, no_config);
                if (ctx && kmod_load_resources(ctx) < 0) {
                        kmod_unref(ctx);
                        ctx = NULL;
                }
        }
        if (!ctx)
                printf("libkmod: no usable %s.bin, baseline left out\n", file);

        /* warm up, and choose the rounds so that one pass of ours takes
         * ~0.3 s; each bus is timed REPEAT times and the fastest kept, which
         * keeps other load on the machine out of the figures */
        t = time_rk(idx, &q, 0, q.n, 1, &rk_matches);
        rounds = t > 0 ? (unsigned) (0.3 / t) + 1 : 1;
        if (ctx)
                time_kmod(ctx, &q, 0, q.n < 2000 ? q.n : 2000, &kmod_matches);

        printf("%-10s %8s %12s %12s %7s\n", "bus", "queries", "ours us", "libkmod us", "ratio");
        rk_matches = kmod_matches = 0;
        for (size_t a = 0; a < q.n;) {
                size_t b = a;
                double tr = 0, tk = 0;

                while (b < q.n && strcmp(q.v[b].bus, q.v[a].bus) == 0)
                        b++;
                for (int rep = 0; rep < REPEAT; rep++) {
                        unsigned long m = 0;
                        double x = time_rk(idx, &q, a, b, rounds, &m) / rounds;

                        tr = rep == 0 || x < tr ? x : tr;
                        if (rep == 0)
                                rk_matches += m / rounds;
                        if (ctx) {
                                m = 0;
                                x = time_kmod(ctx, &q, a, b, &m);
                                tk = rep == 0 || x < tk ? x : tk;
                                if (rep == 0)
                                        kmod_matches += m;
                        }
                }
                rk_total += tr;
                kmod_total += tk;
                if (b - a >= 400) {
                        if (ctx)
                                printf("%-10s %8zu %12.2f %12.2f %7.3f\n", q.v[a].bus, b - a,
                                       tr / (double) (b - a) * 1e6, tk / (double) (b - a) * 1e6, tr / tk);
                        else
                                printf("%-10s %8zu %12.2f\n", q.v[a].bus, b - a, tr / (double) (b - a) * 1e6);
                }
                a = b;
        }

        double rk_us = rk_total / (double) q.n * 1e6;
        printf("match-alias: %.2f us/lookup (%.2fM/s)", rk_us, 1.0 / rk_us);
        if (ctx) {
                double kmod_us = kmod_total / (double) q.n * 1e6;
                printf("; libkmod: %.2f us/lookup (%.0fk/s); ratio %.3f (target <= 0.20)\n", kmod_us, 1e3 / kmod_us,
                       rk_us / kmod_us);
                /* libkmod lists a module once per matching pattern, as we do */
                printf("matches: ours %lu, libkmod %lu%s\n", rk_matches, kmod_matches,
                       rk_matches == kmod_matches ? "" : " (differ: run test-alias-kmod)");
        } else {
                printf("\n");
        }

        for (size_t i = 0; i < q.n; i++)
                free(q.v[i].s);
        free(q.v);
        rk_alias_index_free(idx);
        if (ctx)
                kmod_unref(ctx);
        if (root[0])
                remove_moddir(root, dir);
        return 0;
}
