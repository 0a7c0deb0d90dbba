/* SPDX-License-Identifier: MIT */
/*
 * The oracle test: rk_alias_index_lookup() against libkmod's
 * kmod_module_new_from_lookup() on the installed kernel's modules.alias
 * (Debian's linux-image-amd64: some 26,000 aliases).  A machine without
 * /lib/modules/<version>/modules.alias fails this test: CI installs it.
 *
 * Making the comparison fair and exact.  kmod_module_new_from_lookup()
 * tries, in order, and stops at the first that finds something: aliases
 * from the modprobe configuration, a module of that name (modules.dep),
 * "symbol:" lookups (modules.symbols), install/remove commands, then
 * modules.alias.bin, then built-in modules and built-in aliases
 * (modules.builtin*.bin).  We want only the modules.alias step, so:
 *   - the context is created with an empty list of configuration paths
 *     (not NULL, which would read /etc/modprobe.d and the like);
 *   - it looks at a private directory DIR/lib/modules/VER holding a copy of
 *     modules.alias and modules.alias.bin and, for every other index
 *     libkmod maps, an index with no keys (the 12 bytes depmod writes for
 *     one: magic, version 2.1, root offset 12).  kmod_load_resources() can
 *     then map everything, as udev does, and no other step answers.
 * modules.alias.bin is what libkmod reads and modules.alias what we read;
 * depmod writes both in one run, and the test first checks, through
 * kmod_dump_index(), that they hold the same (normalised pattern, module)
 * pairs.
 *
 * Queries, for every alias of the file (so every bus prefix): a modalias
 * the pattern matches (each '*' filled with a few plausible bytes, each '?'
 * and set with a member), and three near misses of it (one byte changed,
 * cut short, one byte longer); plus, for every 16th alias, the pattern
 * itself, and for every 4th the matching modalias with one byte turned
 * into '*' or '?': these hold wildcard bytes and so exercise libkmod's
 * literal descent through wildcard edges.  For each, the lists of module names
 * from both must be equal (as multisets: a module named by two matching
 * lines comes twice from both), or the sets for a modalias with wildcard
 * bytes, where libkmod may list a line more than once.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <libkmod.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "match/alias.h"
#include "test.h"

__attribute__((constructor)) static void no_posixly_correct(void) {
        unsetenv("POSIXLY_CORRECT");
}

/* ---- small helpers --------------------------------------------------- */

struct strv {
        char **v;
        size_t n, cap;
};

static void strv_add(struct strv *s, const char *str, size_t len) {
        if (s->n == s->cap) {
                s->cap = s->cap ? s->cap * 2 : 64;
                s->v = realloc(s->v, s->cap * sizeof(*s->v));
                if (!s->v)
                        abort();
        }
        s->v[s->n] = strndup(str, len);
        if (!s->v[s->n++])
                abort();
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static void strv_sort(struct strv *s) {
        if (s->n)
                qsort(s->v, s->n, sizeof(*s->v), cmp_str);
}

/* sort and drop duplicates */
static void strv_uniq(struct strv *s) {
        size_t w = 0;

        if (s->n)
                qsort(s->v, s->n, sizeof(*s->v), cmp_str);
        for (size_t i = 0; i < s->n; i++) {
                if (w && strcmp(s->v[w - 1], s->v[i]) == 0) {
                        free(s->v[i]);
                        continue;
                }
                s->v[w++] = s->v[i];
        }
        s->n = w;
}

static void strv_clear(struct strv *s) {
        for (size_t i = 0; i < s->n; i++)
                free(s->v[i]);
        s->n = 0;
}

static void strv_free(struct strv *s) {
        strv_clear(s);
        free(s->v);
        *s = (struct strv){ 0 };
}

static bool strv_equal(const struct strv *a, const struct strv *b) {
        if (a->n != b->n)
                return false;
        for (size_t i = 0; i < a->n; i++)
                if (strcmp(a->v[i], b->v[i]) != 0)
                        return false;
        return true;
}

static char *read_file(const char *path, size_t *len) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        size_t cap = 1 << 16, n = 0;
        char *buf = malloc(cap + 1);
        ssize_t k;

        if (fd < 0 || !buf) {
                if (fd >= 0)
                        close(fd);
                free(buf);
                return NULL;
        }
        while ((k = read(fd, buf + n, cap - n)) > 0) {
                n += (size_t) k;
                if (n == cap) {
                        cap *= 2;
                        buf = realloc(buf, cap + 1);
                        if (!buf)
                                abort();
                }
        }
        close(fd);
        buf[n] = '\0';
        *len = n;
        return buf;
}

static bool write_file(const char *path, const void *data, size_t len) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        bool ok = fd >= 0 && write(fd, data, len) == (ssize_t) len;

        if (fd >= 0)
                close(fd);
        return ok;
}

/* ---- the installed kernel's modules directory ------------------------ */

/* newest /lib/modules/<version> that has modules.alias */
static bool find_modules_dir(char *version, size_t cap) {
        DIR *d = opendir("/lib/modules");
        struct dirent *de;
        bool found = false;

        if (!d)
                return false;
        while ((de = readdir(d))) {
                char path[4096];

                if (de->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "/lib/modules/%s/modules.alias", de->d_name);
                if (access(path, R_OK) != 0)
                        continue;
                if (!found || strverscmp(de->d_name, version) > 0) {
                        snprintf(version, cap, "%s", de->d_name);
                        found = true;
                }
        }
        closedir(d);
        return found;
}

static const char *const empty_indexes[] = {
        "modules.dep.bin", "modules.symbols.bin", "modules.builtin.bin", "modules.builtin.alias.bin",
};

struct moddir {
        char root[64];      /* DIR */
        char dir[4096];     /* DIR/lib/modules/VER */
        char version[256];
};

static void moddir_remove(struct moddir *m) {
        static const char *const files[] = {
                "modules.alias",       "modules.alias.bin", "modules.dep.bin", "modules.symbols.bin",
                "modules.builtin.bin", "modules.builtin.alias.bin", "alias-dump",
        };
        char path[4200];

        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
                snprintf(path, sizeof(path), "%s/%s", m->dir, files[i]);
                unlink(path);
        }
        rmdir(m->dir);
        snprintf(path, sizeof(path), "%s/lib/modules", m->root);
        rmdir(path);
        snprintf(path, sizeof(path), "%s/lib", m->root);
        rmdir(path);
        rmdir(m->root);
}

static bool moddir_create(struct moddir *m, const char *version) {
        /* an index with no keys: magic 0xB007F457, version 2.1, root at 12 */
        static const unsigned char empty[12] = { 0xb0, 0x07, 0xf4, 0x57, 0x00, 0x02,
                                                 0x00, 0x01, 0x00, 0x00, 0x00, 0x0c };
        static const char *const copied[] = { "modules.alias", "modules.alias.bin" };
        char path[4200];

        snprintf(m->version, sizeof(m->version), "%s", version);
        snprintf(m->root, sizeof(m->root), "/tmp/rk-kmod-oracle-XXXXXX");
        if (!mkdtemp(m->root))
                return false;
        snprintf(m->dir, sizeof(m->dir), "%s/lib", m->root);
        mkdir(m->dir, 0755);
        snprintf(m->dir, sizeof(m->dir), "%s/lib/modules", m->root);
        mkdir(m->dir, 0755);
        snprintf(m->dir, sizeof(m->dir), "%s/lib/modules/%s", m->root, version);
        if (mkdir(m->dir, 0755) < 0)
                return false;
        for (size_t i = 0; i < sizeof(copied) / sizeof(copied[0]); i++) {
                size_t len;
                char *data;
                bool ok;

                snprintf(path, sizeof(path), "/lib/modules/%s/%s", version, copied[i]);
                data = read_file(path, &len);
                if (!data) {
                        fprintf(stderr, "cannot read %s: %m\n", path);
                        return false;
                }
                snprintf(path, sizeof(path), "%s/%s", m->dir, copied[i]);
                ok = write_file(path, data, len);
                free(data);
                if (!ok)
                        return false;
        }
        for (size_t i = 0; i < sizeof(empty_indexes) / sizeof(empty_indexes[0]); i++) {
                snprintf(path, sizeof(path), "%s/%s", m->dir, empty_indexes[i]);
                if (!write_file(path, empty, sizeof(empty)))
                        return false;
        }
        return true;
}

/* ---- both sides ------------------------------------------------------ */

static void collect(const char *module, const char *pattern, void *userdata) {
        strv_add(userdata, module, strlen(module));
}

static int kmod_modules(struct kmod_ctx *ctx, const char *modalias, struct strv *out) {
        struct kmod_list *list = NULL, *it;
        int r = kmod_module_new_from_lookup(ctx, modalias, &list);

        kmod_list_foreach(it, list) {
                struct kmod_module *mod = kmod_module_get_module(it);
                const char *name = kmod_module_get_name(mod);
                strv_add(out, name, strlen(name));
                kmod_module_unref(mod);
        }
        kmod_module_unref_list(list);
        return r;
}

/* the (normalised pattern, module) pairs of modules.alias.bin, by libkmod */
static bool dump_pairs(struct kmod_ctx *ctx, const struct moddir *m, struct strv *out) {
        char path[4200];
        size_t len;
        char *text;
        int fd;

        snprintf(path, sizeof(path), "%s/alias-dump", m->dir);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return false;
        if (kmod_dump_index(ctx, KMOD_INDEX_MODULES_ALIAS, fd) < 0) {
                close(fd);
                return false;
        }
        close(fd);
        text = read_file(path, &len);
        if (!text)
                return false;
        for (char *line = text, *eol; *line; line = eol + 1) {
                eol = strchr(line, '\n');
                if (!eol)
                        eol = line + strlen(line);
                if (strncmp(line, "alias ", 6) == 0)
                        strv_add(out, line + 6, (size_t) (eol - line - 6));
                if (!*eol)
                        break;
        }
        free(text);
        strv_sort(out);
        return true;
}

/* the same pairs from the text file, normalised as depmod does */
static void text_pairs(const char *text, struct strv *pats, struct strv *mods, struct strv *pairs) {
        for (const char *line = text; *line;) {
                const char *eol = strchr(line, '\n');
                char pat[4200], mod[256], norm[RK_ALIAS_MAX + 1], pair[4500];

                if (!eol)
                        eol = line + strlen(line);
                if (sscanf(line, "alias %4199s %255s", pat, mod) == 2) {
                        strv_add(pats, pat, strlen(pat));
                        strv_add(mods, mod, strlen(mod));
                        if (rk_alias_normalize(pat, norm, NULL) == 0) {
                                snprintf(pair, sizeof(pair), "%s %s", norm, mod);
                                strv_add(pairs, pair, strlen(pair));
                        }
                }
                line = *eol ? eol + 1 : eol;
        }
        strv_sort(pairs);
}

/* ---- queries --------------------------------------------------------- */

static uint64_t rnd(uint64_t *st) {
        *st ^= *st >> 12;
        *st ^= *st << 25;
        *st ^= *st >> 27;
        return *st * 0x2545F4914F6CDD1DULL;
}

static unsigned pick(uint64_t *st, unsigned n) {
        return (unsigned) (rnd(st) % n);
}

/* a modalias the pattern matches: wildcards replaced by plausible bytes */
static void fill(uint64_t *st, const char *pat, char *out, size_t cap) {
        static const char *const star[] = { "",     "0",        "00",   "01", "03",  "0000",
                                            "0001", "00008086", "FFFF", "A",  "1A2B" };
        static const char cands[] = "0123456789ABCDEFabcdefxyz_-:,";
        size_t o = 0;

        for (size_t i = 0; pat[i] && o + 16 < cap; i++) {
                char c = pat[i];

                if (c == '*') {
                        const char *s = star[pick(st, sizeof(star) / sizeof(star[0]))];
                        o += (size_t) snprintf(out + o, cap - o, "%s", s);
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

struct stats {
        unsigned long compared, with_matches, with_wildcards, disagreements, kmod_errors;
};

/* Module lists must be equal, a module named by two matching lines twice
 * on both sides; for a modalias with wildcard bytes libkmod may list a line
 * more than once (alias.h), so there the sets must be equal. */
static void compare(struct kmod_ctx *ctx, rk_alias_index *idx, const char *q, struct stats *s) {
        struct strv want = { 0 }, got = { 0 };
        int r = kmod_modules(ctx, q, &want);
        int n = rk_alias_index_lookup(idx, q, collect, &got);
        bool wild = q[strcspn(q, "*?[")] != '\0';

        if (wild) {
                strv_uniq(&want);
                strv_uniq(&got);
        } else {
                strv_sort(&want);
                strv_sort(&got);
                if (n != (int) got.n)
                        n = -1;
        }
        if (r < 0 && r != -EINVAL) /* -EINVAL: a modalias libkmod refuses */
                s->kmod_errors++;
        if (n < 0 || !strv_equal(&want, &got)) {
                if (s->disagreements++ < 20) {
                        fprintf(stderr, "disagree on \"%s\" (rk %d):\n  libkmod:", q, n);
                        for (size_t i = 0; i < want.n; i++)
                                fprintf(stderr, " %s", want.v[i]);
                        fprintf(stderr, "\n  rk:     ");
                        for (size_t i = 0; i < got.n; i++)
                                fprintf(stderr, " %s", got.v[i]);
                        fprintf(stderr, "\n");
                }
        }
        s->compared++;
        s->with_matches += want.n > 0;
        s->with_wildcards += wild;
        strv_free(&want);
        strv_free(&got);
}

/* "usb" for "usb:v...", "acpi" for "acpi*:PNP0C0A:*"; plain names
 * ("crypto-twofish", "net-pf-40") count as one "(name)" prefix */
static void add_bus(struct strv *buses, const char *pat) {
        if (!strchr(pat, ':'))
                strv_add(buses, "(name)", 6);
        else
                strv_add(buses, pat, strcspn(pat, ":*?["));
}

TEST(kmod_oracle) {
        static const char *const no_config[] = { NULL };
        struct moddir m = { 0 };
        struct kmod_ctx *ctx = NULL;
        rk_alias_index *idx = NULL;
        struct strv pats = { 0 }, mods = { 0 }, pairs = { 0 }, dumped = { 0 }, buses = { 0 };
        struct stats s = { 0 };
        char version[256], path[4200], q[4200], near[4300];
        char *text = NULL;
        size_t len;
        unsigned line = 0;
        uint64_t st = 0x0dd5eed5ULL;
        int r;

        if (!find_modules_dir(version, sizeof(version))) {
                fprintf(stderr, "no /lib/modules/<version>/modules.alias on this machine: install a kernel "
                                "package (Debian: linux-image-amd64) to run the libkmod oracle test\n");
                ASSERT(!"modules.alias found");
        }
        snprintf(path, sizeof(path), "/lib/modules/%s/modules.alias.bin", version);
        if (access(path, R_OK) != 0) {
                fprintf(stderr, "%s: %m (run depmod %s)\n", path, version);
                ASSERT(!"modules.alias.bin found");
        }
        printf("# kernel modules: /lib/modules/%s\n", version);
        if (!moddir_create(&m, version)) {
                fprintf(stderr, "cannot set up a private module directory in /tmp: %m\n");
                rk_test_failed_flag = true;
                goto out;
        }

        ctx = kmod_new(m.dir, no_config);
        if (!ctx || (r = kmod_load_resources(ctx)) < 0) {
                fprintf(stderr, "libkmod cannot load the indexes in %s\n", m.dir);
                rk_test_failed_flag = true;
                goto out;
        }

        snprintf(path, sizeof(path), "%s/modules.alias", m.dir);
        r = rk_alias_index_new_from_file(path, &idx, &line);
        if (r < 0) {
                fprintf(stderr, "%s: error %d at line %u\n", path, r, line);
                rk_test_failed_flag = true;
                goto out;
        }
        text = read_file(path, &len);
        if (!text) {
                rk_test_failed_flag = true;
                goto out;
        }

        /* fairness: the text and the binary index hold the same aliases */
        text_pairs(text, &pats, &mods, &pairs);
        if (!dump_pairs(ctx, &m, &dumped)) {
                fprintf(stderr, "kmod_dump_index failed\n");
                rk_test_failed_flag = true;
                goto out;
        }
        if (!strv_equal(&pairs, &dumped)) {
                fprintf(stderr, "modules.alias (%zu aliases) and modules.alias.bin (%zu) differ: run depmod %s\n",
                        pairs.n, dumped.n, version);
                rk_test_failed_flag = true;
                goto out;
        }
        CHECK_INTEQ(rk_alias_index_size(idx), pairs.n);
        printf("# modules.alias and modules.alias.bin hold the same %zu aliases\n", pairs.n);
        CHECK(pairs.n > 1000);

        for (size_t i = 0; i < pats.n; i++) {
                size_t ql;

                add_bus(&buses, pats.v[i]);
                fill(&st, pats.v[i], q, sizeof(q));
                ql = strlen(q);
                compare(ctx, idx, q, &s);

                memcpy(near, q, ql + 1);
                if (ql > 0) {
                        size_t p = pick(&st, (unsigned) ql);
                        char c = "0A_z9:x"[pick(&st, 7)];
                        near[p] = c == near[p] ? '1' : c;
                }
                compare(ctx, idx, near, &s);

                memcpy(near, q, ql + 1);
                near[ql - (ql ? 1 + pick(&st, ql < 3 ? (unsigned) ql : 3u) : 0)] = '\0';
                compare(ctx, idx, near, &s);

                snprintf(near, sizeof(near), "%s%c", q, "0Ax_"[pick(&st, 4)]);
                compare(ctx, idx, near, &s);

                if (i % 16 == 0)
                        compare(ctx, idx, pats.v[i], &s);
                if (i % 4 == 1 && ql > 0) {
                        /* a wildcard byte in a modalias that matched */
                        memcpy(near, q, ql + 1);
                        near[pick(&st, (unsigned) ql)] = "*?*"[pick(&st, 3)];
                        compare(ctx, idx, near, &s);
                }
        }
        strv_uniq(&buses);
        printf("# bus prefixes:");
        for (size_t i = 0; i < buses.n; i++)
                printf(" %s", buses.v[i]);
        printf("\n");
        printf("# %lu queries compared with libkmod over %zu bus prefixes: %lu with matches, %lu with wildcard "
               "bytes, %lu disagreements\n",
               s.compared, buses.n, s.with_matches, s.with_wildcards, s.disagreements);
        CHECK_INTEQ(s.disagreements, 0);
        CHECK_INTEQ(s.kmod_errors, 0);
        CHECK(s.with_matches > s.compared / 4);

out:
        free(text);
        strv_free(&pats);
        strv_free(&mods);
        strv_free(&pairs);
        strv_free(&dumped);
        strv_free(&buses);
        rk_alias_index_free(idx);
        if (ctx)
                kmod_unref(ctx);
        moddir_remove(&m);
}
