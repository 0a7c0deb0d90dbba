/* SPDX-License-Identifier: MIT */
/*
 * rk_glob_match() against glibc's fnmatch(pattern, s, 0): hand-picked cases,
 * then millions of generated pattern/string pairs from a fixed seed (the
 * run is the same every time).  Generated patterns lean on the characters
 * that matter ('*', '?', '[', ']', '!', '^', '-', '\\', ':', '=', '.') and
 * on strings derived from the pattern, so that matches are frequent.
 * Also checks that star-heavy patterns take polynomial time.
 */
#include <fnmatch.h>
#include <stdint.h>
#include <time.h>

#include "match/glob.h"
#include "test.h"

/* xorshift64*: deterministic, no global state */
static uint64_t rnd(uint64_t *st) {
        *st ^= *st >> 12;
        *st ^= *st << 25;
        *st ^= *st >> 27;
        return *st * 0x2545F4914F6CDD1DULL;
}

static unsigned pick(uint64_t *st, unsigned n) {
        return (unsigned) (rnd(st) % n);
}

static unsigned long n_disagree;

/* glibc reads '^' as a literal when POSIXLY_CORRECT is set; we never do */
__attribute__((constructor)) static void no_posixly_correct(void) {
        unsetenv("POSIXLY_CORRECT");
}

static void compare(const char *p, const char *s) {
        bool want = fnmatch(p, s, 0) == 0;
        bool got = rk_glob_match(p, s);

        if (want != got) {
                if (n_disagree++ < 20)
                        fprintf(stderr, "disagree: pattern \"%s\" string \"%s\": fnmatch %d, rk %d\n", p, s,
                                want, got);
                rk_test_failed_flag = true;
        }
}

TEST(fixed_cases) {
        static const struct {
                const char *p, *s;
                bool m;
        } cases[] = {
                { "", "", true },
                { "", "a", false },
                { "*", "", true },
                { "*", "anything/at.all", true },
                { "?", "", false },
                { "?", "x", true },
                { "a*b", "ab", true },
                { "a*b", "axxb", true },
                { "a*b", "axxbc", false },
                { "*?", "", false },
                { "*??", "ab", true },
                { "[abc]", "b", true },
                { "[a-c]x", "bx", true },
                { "[!a-c]", "d", true },
                { "[!a-c]", "b", false },
                { "[^a-c]", "d", true },
                { "[]]", "]", true },
                { "[]a]", "a", true },
                { "[!]]", "]", false },
                { "[!]]", "x", true },
                { "[a-]", "-", true },
                { "[\\]]", "]", true },
                { "\\*", "*", true },
                { "\\*", "a", false },
                { "a\\", "a\\", false }, /* trailing backslash never matches */
                { "[", "[", true },      /* unterminated set: an ordinary '[' */
                { "[ab", "[ab", true },
                { "[ab", "a", false },
                { "[[", "[[", true },
                { "[a-", "a", false },
                { "[[:digit:]]", "7", true },
                { "[[:digit:]]", "x", false },
                { "[[:foo:]]", "f", false },
                { "[[.a.]]", "a", true },
                { "[[=a=]]", "a", true },
                { "usb:v046Dp*d*dc*dsc*dp*ic03isc01ip01in*", "usb:v046DpC52Bd1200dc00dsc00dp00ic03isc01ip01in00",
                  true },
                { "usb:v13FDp3940d0[0-2]*dc*", "usb:v13FDp3940d0210dc00", true },
                { "usb:v13FDp3940d0[0-2]*dc*", "usb:v13FDp3940d0310dc00", false },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                if (rk_glob_match(cases[i].p, cases[i].s) != cases[i].m) {
                        fprintf(stderr, "case %zu: \"%s\" vs \"%s\": expected %d\n", i, cases[i].p, cases[i].s,
                                cases[i].m);
                        rk_test_failed_flag = true;
                }
                compare(cases[i].p, cases[i].s);
        }
        CHECK(!rk_glob_match(NULL, "a"));
        CHECK(!rk_glob_match("a", NULL));
}

TEST(literal_prefix) {
        CHECK(rk_glob_is_literal("pci:v00008086"));
        CHECK(rk_glob_is_literal(""));
        CHECK(rk_glob_is_literal("a]b"));
        CHECK(!rk_glob_is_literal("pci:v*"));
        CHECK(!rk_glob_is_literal("a?"));
        CHECK(!rk_glob_is_literal("a[b]"));
        CHECK(!rk_glob_is_literal("a\\b"));
        CHECK(!rk_glob_is_literal(NULL));
        CHECK_INTEQ(rk_glob_literal_prefix("usb:v046Dp*d*"), 10);
        CHECK_INTEQ(rk_glob_literal_prefix("abc"), 3);
        CHECK_INTEQ(rk_glob_literal_prefix("*"), 0);
        CHECK_INTEQ(rk_glob_literal_prefix("ab\\*"), 2);
        CHECK_INTEQ(rk_glob_literal_prefix("a[b]"), 1);
        CHECK_INTEQ(rk_glob_literal_prefix(NULL), 0);
}

static const char pattern_alphabet[] = "**??[[[]]]!^-\\:=.abcxyz09";
static const char string_alphabet[] = "abcxyz09[]!^-\\:=.*?/";

static void random_pattern(uint64_t *st, char *buf, size_t max) {
        size_t len = pick(st, (unsigned) max);
        size_t i = 0;

        while (i < len) {
                unsigned k = pick(st, 16);
                const char *chunk = NULL;

                if (k == 0)
                        chunk = "[[:alpha:]]";
                else if (k == 1)
                        chunk = "[a-c]";
                else if (k == 2)
                        chunk = "[!x-z]";
                else if (k == 3)
                        chunk = "[[.a.]-[.c.]]";
                else if (k == 4)
                        chunk = "[[=b=]]";
                if (chunk && i + strlen(chunk) < len) {
                        memcpy(buf + i, chunk, strlen(chunk));
                        i += strlen(chunk);
                        continue;
                }
                buf[i++] = pattern_alphabet[pick(st, sizeof(pattern_alphabet) - 1)];
        }
        buf[i] = '\0';
}

static void random_string(uint64_t *st, char *buf, size_t max) {
        size_t len = pick(st, (unsigned) max);

        for (size_t i = 0; i < len; i++)
                buf[i] = string_alphabet[pick(st, sizeof(string_alphabet) - 1)];
        buf[len] = '\0';
}

/* a string shaped after the pattern: literal bytes kept, wildcards filled,
 * with an occasional random edit */
static void derived_string(uint64_t *st, const char *p, char *buf, size_t max) {
        size_t o = 0;

        for (size_t i = 0; p[i] && o + 4 < max; i++) {
                char c = p[i];

                if (c == '*') {
                        unsigned n = pick(st, 4);
                        while (n-- && o + 4 < max)
                                buf[o++] = string_alphabet[pick(st, sizeof(string_alphabet) - 1)];
                } else if (c == '?' || c == '[') {
                        buf[o++] = pick(st, 3) ? "abcxyz09"[pick(st, 8)] : c;
                } else if (c == '\\' && p[i + 1] && pick(st, 2)) {
                        buf[o++] = p[++i];
                } else if (c != ']' || pick(st, 2)) {
                        buf[o++] = c;
                }
                if (pick(st, 12) == 0 && o > 0)
                        buf[o - 1] = string_alphabet[pick(st, sizeof(string_alphabet) - 1)];
        }
        buf[o] = '\0';
}

TEST(random_against_fnmatch) {
        uint64_t st = 0x5eed0f6c0ffee123ULL;
        char p[64], s[64];
        unsigned long pairs = 0;

        n_disagree = 0;
        for (unsigned i = 0; i < 400000; i++) {
                random_pattern(&st, p, 24);
                for (unsigned j = 0; j < 3; j++) {
                        random_string(&st, s, 16);
                        compare(p, s);
                        derived_string(&st, p, s, sizeof(s));
                        compare(p, s);
                        pairs += 2;
                }
        }
        printf("# %lu random pattern/string pairs compared with fnmatch, %lu disagreements\n", pairs, n_disagree);
        CHECK_INTEQ(n_disagree, 0);
}

/* every pattern of up to 4 bytes over a small alphabet, against every string
 * of up to 3 bytes: catches the corner cases random sampling may miss */
TEST(exhaustive_short) {
        static const char alpha[] = "*?[]!-\\a:";
        const unsigned na = sizeof(alpha) - 1;
        static const char salpha[] = "a]-[\\";
        const unsigned ns = sizeof(salpha) - 1;
        char p[8], s[8];
        unsigned long pairs = 0;

        n_disagree = 0;
        for (unsigned pl = 0; pl <= 4; pl++) {
                unsigned long pn = 1;
                for (unsigned k = 0; k < pl; k++)
                        pn *= na;
                for (unsigned long pi = 0; pi < pn; pi++) {
                        unsigned long v = pi;
                        for (unsigned k = 0; k < pl; k++, v /= na)
                                p[k] = alpha[v % na];
                        p[pl] = '\0';
                        for (unsigned sl = 0; sl <= 3; sl++) {
                                unsigned long sn = 1;
                                for (unsigned k = 0; k < sl; k++)
                                        sn *= ns;
                                for (unsigned long si = 0; si < sn; si++) {
                                        unsigned long w = si;
                                        for (unsigned k = 0; k < sl; k++, w /= ns)
                                                s[k] = salpha[w % ns];
                                        s[sl] = '\0';
                                        compare(p, s);
                                        pairs++;
                                }
                        }
                }
        }
        printf("# %lu exhaustive short pairs compared with fnmatch\n", pairs);
        CHECK_INTEQ(n_disagree, 0);
}

/* all 255 byte values (bytes >= 0x80 included) in sets, ranges and classes */
TEST(all_bytes) {
        static const char *const sets[] = {
                "[[:alnum:]]", "[[:alpha:]]", "[[:blank:]]", "[[:cntrl:]]", "[[:digit:]]", "[[:graph:]]",
                "[[:lower:]]", "[[:print:]]", "[[:punct:]]", "[[:space:]]", "[[:upper:]]", "[[:xdigit:]]",
                "[!a-z]",      "[\x80-\xff]", "[\x01-\x7f]", "[^[:alpha:]]", "?",            "[z-a]",
                "[[.-.]]",     "[[.a.]-z]",   "[a-[.z.]]",   "[--0]",         "[\\--z]",      "[[:xdigit:]x]",
        };
        char s[2] = { 0, 0 };

        n_disagree = 0;
        for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++)
                for (unsigned c = 1; c < 256; c++) {
                        s[0] = (char) c;
                        compare(sets[i], s);
                }
        CHECK_INTEQ(n_disagree, 0);
}

/* long class names: glibc gives up at 2048 bytes */
TEST(long_class_names) {
        static char p[5000];
        unsigned lens[] = { 5, 2046, 2047, 2048, 2049, 3000 };

        n_disagree = 0;
        for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
                for (int variant = 0; variant < 3; variant++) {
                        size_t o = 0;
                        o += (size_t) sprintf(p + o, variant == 2 ? "[x" : "[");
                        o += (size_t) sprintf(p + o, "[:");
                        memset(p + o, 'a', lens[i]);
                        o += lens[i];
                        o += (size_t) sprintf(p + o, variant == 1 ? "0]]" : ":]]");
                        compare(p, "a");
                        compare(p, "x");
                        compare(p, "[");
                }
        }
        CHECK_INTEQ(n_disagree, 0);
}

/* The classic exponential case for naive backtracking: with one retained
 * star this is quadratic.  No timing assertion: an exponential matcher would
 * not finish within the test timeout. */
TEST(star_heavy_is_fast) {
        static char p[4096], s[8192];
        size_t o = 0;
        struct timespec t0, t1;

        for (int i = 0; i < 400; i++) {
                p[o++] = 'a';
                p[o++] = '*';
        }
        p[o++] = 'b';
        p[o] = '\0';
        memset(s, 'a', sizeof(s) - 1);
        s[sizeof(s) - 1] = '\0';

        clock_gettime(CLOCK_MONOTONIC, &t0);
        CHECK(!rk_glob_match(p, s));
        s[sizeof(s) - 2] = 'b';
        CHECK(rk_glob_match(p, s));
        CHECK(!rk_glob_match("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*c", s));
        clock_gettime(CLOCK_MONOTONIC, &t1);
        printf("# star-heavy patterns on %zu-byte strings: %.3f ms\n", sizeof(s) - 1,
               (double) (t1.tv_sec - t0.tv_sec) * 1e3 + (double) (t1.tv_nsec - t0.tv_nsec) / 1e6);
}
