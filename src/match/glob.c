/* SPDX-License-Identifier: MIT */
/*
 * fnmatch(3)-compatible glob matching: flags 0, C locale, one byte is one
 * character.  The answer is glibc's for every pattern, well-formed or not;
 * tests/test-glob.c and fuzz/fuzz-modalias.c compare the two.
 *
 * Tokens, left to right:
 *   '*'        any run of bytes, '/' and a leading '.' included
 *   '?'        any one byte
 *   '\\' X     X itself; a trailing backslash never matches
 *   '[' ... ']' a set: '!' or '^' first negates, a ']' first (after the
 *              negation) is a member, "a-z" ranges by byte value, "[:alpha:]"
 *              classes (ASCII), "[=a=]" and "[.a.]" name the byte itself,
 *              '\\' escapes inside the set
 *   other      itself
 *
 * glibc's quirks that this file reproduces on purpose (bracket()):
 *   - a '[' whose set never closes is an ordinary '[' (the rest of the
 *     pattern, '!' included, is read again as pattern text);
 *   - a set that turns out malformed while being read ("[a-", "[[:foo:]]",
 *     "[[.ab.]]", a class name of 2048 bytes or more) fails the match, but
 *     only when reading gets that far: a member listed before the defect
 *     still matches;
 *   - the name of a class is read with letters 'a'..'y' only (so "[[:z"
 *     starts an ordinary set).
 *
 * Time bound.  A star does what glibc's does: it tries each start for the
 * piece of pattern up to the next star and commits to the first start where
 * that piece matches; it never comes back to an earlier star.  Leftmost is
 * always a right choice because every token of a piece consumes exactly one
 * byte, so each star costs at most O(|s| * |piece|) and the whole match
 * O(|s| * |pattern|) (times the length of a set, for sets).
 */
#include "match/glob.h"

#include <string.h>

/* longest name glibc reads inside "[:" ":]" (CHARCLASS_NAME_MAX) */
#define CLASS_NAME_MAX 2048

typedef unsigned char uchar;

static bool is_class_member(const uchar *name, size_t len, uchar x, bool *valid) {
        static const char *const names[] = {
                "alnum", "alpha", "blank", "cntrl", "digit", "graph",
                "lower", "print", "punct", "space", "upper", "xdigit",
        };
        bool digit = x >= '0' && x <= '9', upper = x >= 'A' && x <= 'Z', lower = x >= 'a' && x <= 'z';
        bool graph = x >= 0x21 && x <= 0x7e;
        size_t i;

        for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0)
                        break;
        *valid = i < sizeof(names) / sizeof(names[0]);
        switch (i) {
        case 0: return digit || upper || lower;
        case 1: return upper || lower;
        case 2: return x == ' ' || x == '\t';
        case 3: return x < 0x20 || x == 0x7f;
        case 4: return digit;
        case 5: return graph;
        case 6: return lower;
        case 7: return graph || x == ' ';
        case 8: return graph && !digit && !upper && !lower;
        case 9: return x == ' ' || (x >= '\t' && x <= '\r');
        case 10: return upper;
        case 11: return digit || (x >= 'a' && x <= 'f') || (x >= 'A' && x <= 'F');
        default: return false;
        }
}

/* Reads "[.c.]" starting at pat[*p] == '.'; returns the byte it names, or -1
 * when glibc rejects it (unterminated, or not exactly one byte). */
static int collating_symbol(const uchar *pat, size_t *p) {
        size_t start = *p, q = *p, n = 0;

        for (;;) {
                uchar c = pat[++q];
                if (c == '.' && pat[q + 1] == ']')
                        break;
                if (c == '\0')
                        return -1;
                n++;
        }
        *p = q + 2;
        return n == 1 ? pat[start + 1] : -1;
}

/* After a member matched: find the end of the set the way glibc skips it.
 * Returns 1 with *p after the ']', 0 when the set fails, -1 when it never
 * closes (the '[' is then an ordinary byte). */
static int skip_rest_of_set(const uchar *pat, size_t *p) {
        size_t q = *p;

        for (;;) {
                uchar c = pat[q++];

                if (c == ']')
                        break;
                if (c == '\0')
                        return -1;
                if (c == '\\') {
                        if (pat[q] == '\0')
                                return 0;
                        q++;
                } else if (c == '[' && pat[q] == ':') {
                        size_t start = q, n = 0;
                        bool name = true;

                        for (;;) {
                                c = pat[++q];
                                if (++n == CLASS_NAME_MAX)
                                        return 0;
                                if (c == ':' && pat[q + 1] == ']')
                                        break;
                                if (c < 'a' || c >= 'z') {
                                        name = false;
                                        break;
                                }
                        }
                        q = name ? q + 2 : start;
                } else if (c == '[' && pat[q] == '=') {
                        if (pat[q + 1] == '\0')
                                return 0;
                        if (pat[q + 2] != '=' || pat[q + 3] != ']')
                                return 0;
                        q += 4;
                } else if (c == '[' && pat[q] == '.') {
                        for (;;) {
                                c = pat[++q];
                                if (c == '\0')
                                        return 0;
                                if (c == '.' && pat[q + 1] == ']')
                                        break;
                        }
                        q += 2;
                }
        }
        *p = q;
        return 1;
}

/*
 * The set that opens at pat[open] == '[' against byte x.  Returns true and
 * the offset after the set in *next when x is accepted.  Follows glibc's
 * reading order exactly, since a defect in the set only counts once
 * reading reaches it.
 */
static bool bracket(const uchar *pat, size_t open, uchar x, size_t *next) {
        size_t p = open + 1;
        bool negate = pat[p] == '!' || pat[p] == '^';
        unsigned c, cold, cend;
        bool is_range;
        int r;

        if (negate)
                p++;
        c = pat[p++];
        for (;;) {
                if (c == '\\') {
                        if (pat[p] == '\0')
                                return false;
                        c = pat[p++];
                        goto normal;
                } else if (c == '[' && pat[p] == ':') {
                        size_t q = p, n = 0;
                        bool valid, member;

                        for (;;) {
                                if (n == CLASS_NAME_MAX)
                                        return false;
                                c = pat[++q];
                                if (c == ':' && pat[q + 1] == ']')
                                        break;
                                if (c < 'a' || c >= 'z') {
                                        c = '[';
                                        goto normal; /* p still at the ':' */
                                }
                                n++;
                        }
                        member = is_class_member(pat + p + 1, n, x, &valid);
                        if (!valid)
                                return false;
                        p = q + 2;
                        if (member)
                                goto matched;
                        c = pat[p++];
                } else if (c == '[' && pat[p] == '=') {
                        uchar eq = pat[p + 1];

                        if (eq == '\0' || pat[p + 2] != '=' || pat[p + 3] != ']') {
                                c = '[';
                                goto normal;
                        }
                        p += 4;
                        if (x == eq)
                                goto matched;
                        c = pat[p++];
                } else if (c == '\0') {
                        goto ordinary;
                } else {
                        if (c == '[' && pat[p] == '.') {
                                r = collating_symbol(pat, &p);
                                if (r < 0)
                                        return false;
                                is_range = pat[p] == '-' && pat[p + 1] != '\0';
                                if (!is_range && x == r)
                                        goto matched;
                                cold = (unsigned) r;
                                c = pat[p++];
                        } else {
                        normal:
                                is_range = pat[p] == '-' && pat[p + 1] != '\0' && pat[p + 1] != ']';
                                if (!is_range && c == x)
                                        goto matched;
                                cold = c;
                                c = pat[p++];
                        }
                        if (c == '-' && pat[p] != ']') {
                                cend = pat[p++];
                                if (cend == '[' && pat[p] == '.') {
                                        r = collating_symbol(pat, &p);
                                        if (r < 0)
                                                return false;
                                        cend = (unsigned) r;
                                } else {
                                        if (cend == '\\')
                                                cend = pat[p++];
                                        if (cend == '\0')
                                                return false;
                                }
                                if (cold <= x && x <= cend)
                                        goto matched;
                                c = pat[p++];
                        }
                }
                if (c == ']')
                        break;
        }
        if (!negate)
                return false;
        *next = p;
        return true;

matched:
        r = skip_rest_of_set(pat, &p);
        if (r < 0)
                goto ordinary;
        if (r == 0 || negate)
                return false;
        *next = p;
        return true;

ordinary:
        if (x != '[')
                return false;
        *next = open + 1;
        return true;
}

enum piece { PIECE_FAIL, PIECE_END, PIECE_STAR };

/* Matches tokens from pat[*p] against s[*n...] until the pattern ends or a
 * star comes; on PIECE_STAR, *p is at the star and *n where it starts. */
static enum piece match_piece(const uchar *pat, size_t *p, const uchar *s, size_t len, size_t *n) {
        size_t pi = *p, ni = *n, next;

        for (;;) {
                uchar c = pat[pi];

                switch (c) {
                case '\0':
                        return ni == len ? PIECE_END : PIECE_FAIL;
                case '*':
                        *p = pi;
                        *n = ni;
                        return PIECE_STAR;
                case '?':
                        if (ni == len)
                                return PIECE_FAIL;
                        pi++;
                        break;
                case '\\':
                        if (pat[pi + 1] == '\0' || ni == len || s[ni] != pat[pi + 1])
                                return PIECE_FAIL;
                        pi += 2;
                        break;
                case '[':
                        if (ni == len || !bracket(pat, pi, s[ni], &next))
                                return PIECE_FAIL;
                        pi = next;
                        break;
                default:
                        if (ni == len || s[ni] != c)
                                return PIECE_FAIL;
                        pi++;
                        break;
                }
                ni++;
        }
}

bool rk_glob_match(const char *pattern, const char *string) {
        const uchar *pat = (const uchar *) pattern, *s = (const uchar *) string;
        size_t p = 0, n = 0, len;
        enum piece r;

        if (!pattern || !string)
                return false;
        len = strlen(string);
        r = match_piece(pat, &p, s, len, &n);
        while (r == PIECE_STAR) {
                int first = -1; /* the byte the next piece must start with, if known */

                /* the star and any '*' or '?' right after it */
                for (p++;; p++) {
                        if (pat[p] == '?') {
                                if (n == len)
                                        return false;
                                n++;
                        } else if (pat[p] != '*') {
                                break;
                        }
                }
                if (pat[p] == '\0')
                        return true;
                if (pat[p] == '\\')
                        first = pat[p + 1];
                else if (pat[p] != '[')
                        first = pat[p];

                r = PIECE_FAIL;
                while (n < len) {
                        size_t p2 = p, n2 = n;
                        enum piece t;

                        if (first >= 0) {
                                const uchar *hit = memchr(s + n, first, len - n);
                                if (!hit || first == 0)
                                        return false;
                                n = (size_t) (hit - s);
                                n2 = n;
                        }
                        t = match_piece(pat, &p2, s, len, &n2);
                        if (t == PIECE_END)
                                return true;
                        if (t == PIECE_STAR) {
                                /* commit to the leftmost start, as glibc does */
                                p = p2;
                                n = n2;
                                r = PIECE_STAR;
                                break;
                        }
                        n++;
                }
                if (r != PIECE_STAR)
                        return false;
        }
        return r == PIECE_END;
}

bool rk_glob_is_literal(const char *pattern) {
        return pattern && pattern[strcspn(pattern, "*?[\\")] == '\0';
}

size_t rk_glob_literal_prefix(const char *pattern) {
        return pattern ? strcspn(pattern, "*?[\\") : 0;
}
