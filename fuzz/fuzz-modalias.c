/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for modalias matching.  The input is read as lines:
 *   line 1   a glob pattern, line 2   a string: rk_glob_match() must give
 *            glibc's fnmatch(pattern, string, 0) answer (abort otherwise);
 *   all      the input as a modules.alias file: parsing must not crash;
 *   lines    each line without blanks becomes "alias LINE mN" in a second,
 *            valid file; the string, the pattern and every line are looked up
 *            in its index, and for a modalias without wildcard bytes the
 *            count must equal a plain scan of the aliases with libkmod's rule
 *            (literal prefix byte for byte, then fnmatch on the rest).
 * Nothing may crash, leak or trip a sanitizer.  Patterns and strings are
 * kept to MAX_GLOB bytes where globs run: matching costs up to
 * |pattern| * |string| * |set| steps, in glibc as here, and a 4 KiB input
 * could outlast libFuzzer's timeout without anything being wrong.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The units under test are compiled into this target, not taken from
 * rk-core: the fuzz build compiles rk-core without -fsanitize=fuzzer, and
 * libFuzzer would otherwise see no coverage of them.  (The static archive's
 * copies are then never pulled in.)
 */
#include "match/alias.c"
#include "match/glob.c"

#define MAX_GLOB 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        /* glibc reads '^' as a literal when POSIXLY_CORRECT is set */
        unsetenv("POSIXLY_CORRECT");
        return 0;
}

/* line n (0-based) of the input as a NUL-terminated copy, or NULL */
static char *line_at(const char *text, size_t size, unsigned n) {
        const char *s = text, *end = text + size;

        for (; n > 0 && s < end; n--) {
                const char *eol = memchr(s, '\n', (size_t) (end - s));
                if (!eol)
                        return NULL;
                s = eol + 1;
        }
        if (n > 0 || s > end)
                return NULL;
        const char *eol = memchr(s, '\n', (size_t) (end - s));
        return strndup(s, eol ? (size_t) (eol - s) : (size_t) (end - s));
}

struct alias {
        char *pattern; /* normalised; NULL when depmod would refuse it */
};

/* libkmod's rule for a wildcard-free modalias, alias by alias */
static int plain_count(const struct alias *a, size_t n, const char *modalias) {
        char key[RK_ALIAS_MAX + 1];
        int count = 0;

        if (rk_alias_normalize(modalias, key, NULL) < 0)
                return 0;
        for (size_t i = 0; i < n; i++) {
                const char *p = a[i].pattern;
                size_t lit;

                if (!p)
                        continue;
                lit = strcspn(p, "*?[");
                if (p[lit] == '\0')
                        count += strcmp(p, key) == 0;
                else
                        count += strncmp(p, key, lit) == 0 && strlen(key) >= lit && rk_glob_match(p + lit, key + lit);
        }
        return count;
}

static void check_lookup(const rk_alias_index *idx, const struct alias *a, size_t n, const char *modalias) {
        char key[RK_ALIAS_MAX + 1];
        int got = rk_alias_index_lookup(idx, modalias, NULL, NULL);

        if (got < 0)
                abort();
        if (rk_alias_normalize(modalias, key, NULL) == 0 && key[strcspn(key, "*?[")] == '\0' &&
            got != plain_count(a, n, modalias)) {
                fprintf(stderr, "lookup \"%s\": index %d, scan %d\n", modalias, got, plain_count(a, n, modalias));
                abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *text = (const char *) data;
        char *pattern = line_at(text, size, 0), *string = line_at(text, size, 1);
        rk_alias_index *idx = NULL;
        struct alias *aliases = NULL;
        size_t n = 0, cap = 0, tlen = 0;
        char *file = NULL;
        int r;

        /* 1. glob against fnmatch */
        if (pattern && string && strlen(pattern) <= MAX_GLOB && strlen(string) <= MAX_GLOB) {
                bool want = fnmatch(pattern, string, 0) == 0;
                if (rk_glob_match(pattern, string) != want) {
                        fprintf(stderr, "pattern \"%s\" string \"%s\": fnmatch %d, rk %d\n", pattern, string, want,
                                !want);
                        abort();
                }
        }

        /* 2. the raw input as a modules.alias file */
        if (rk_alias_index_new_from_buffer(text, size, &idx, NULL) == 0) {
                if (string && size <= MAX_GLOB)
                        rk_alias_index_lookup(idx, string, NULL, NULL);
                idx = rk_alias_index_free(idx);
        }

        /* 3. every blank-free line as an alias */
        /* a line of k > 0 bytes (k + 1 with its newline) takes k + 10 */
        file = malloc(size * 6 + 64);
        if (!file)
                goto out;
        for (unsigned i = 0;; i++) {
                char *l = line_at(text, size, i), norm[RK_ALIAS_MAX + 1];

                if (!l)
                        break;
                if (!*l || l[0] == '#' || l[strcspn(l, " \t\r\v\f")] != '\0' || strlen(l) > MAX_GLOB) {
                        free(l);
                        continue;
                }
                if (n == cap) {
                        cap = cap ? cap * 2 : 16;
                        struct alias *na = realloc(aliases, cap * sizeof(*na));
                        if (!na) {
                                free(l);
                                goto out;
                        }
                        aliases = na;
                }
                aliases[n++].pattern = rk_alias_normalize(l, norm, NULL) == 0 ? strdup(norm) : NULL;
                tlen += (size_t) sprintf(file + tlen, "alias %s m%u\n", l, i % 3);
                free(l);
        }
        r = rk_alias_index_new_from_buffer(file, tlen, &idx, NULL);
        if (r == -EBADMSG)
                abort(); /* every line is well-formed */
        if (r < 0)
                goto out;
        if (string && strlen(string) <= MAX_GLOB)
                check_lookup(idx, aliases, n, string);
        if (pattern && strlen(pattern) <= MAX_GLOB)
                check_lookup(idx, aliases, n, pattern);
        for (unsigned i = 2; i < 64; i++) {
                char *l = line_at(text, size, i);
                if (!l)
                        break;
                if (strlen(l) <= MAX_GLOB)
                        check_lookup(idx, aliases, n, l);
                free(l);
        }

out:
        rk_alias_index_free(idx);
        for (size_t i = 0; i < n; i++)
                free(aliases[i].pattern);
        free(aliases);
        free(file);
        free(pattern);
        free(string);
        return 0;
}
