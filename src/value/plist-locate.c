/* SPDX-License-Identifier: MIT */
/*
 * Checks that run before libplist 2.2 sees a plist (plist.c calls them):
 *
 *   1. rk_plist_xml_locate_error(): the XML scanner below;
 *   2. rk_plist_binary_check(): the binary format walk at the end of the
 *      file (its own comment says what it refuses);
 *   3. rk_plist_utf8_check(): strict UTF-8, used by both and by plist.c.
 *
 * (2) and (3) are declared where they are used until plist.h carries them.
 *
 * A small XML scanner for plists that finds the first problem in a document
 * and names it: 1-based line and column, the key path of the value at fault
 * ("IOKitPersonalities.MyDriver.IOProbeScore", "Items[3]", "" for the root)
 * and a message.  plist.c runs it before libplist, because libplist 2.2 says
 * nothing about what it refused and accepts some things it should not
 * ("<integer>abc</integer>" reads as 0, "<data>AAE</data>" as empty data).
 *
 * It is not a general XML parser.  It accepts what real plists hold: an XML
 * declaration, a DOCTYPE, comments and processing instructions between
 * elements, a UTF-8 byte-order mark, a <plist> root (or a bare root value),
 * the plist elements with their text, entity and character references,
 * CDATA sections and comments inside text.  Everything else is a problem.
 *
 * Invariants while scanning:
 *   - s->stack[0] is the document; each further frame is an open <plist>,
 *     <dict> or <array> element.  At most RK_PLIST_MAX_DEPTH + 1 containers
 *     are open, the depth libplist's result may have (plist.c's limit).
 *   - s->path holds the key path of the innermost open container; a value
 *     appends its own component while it is read and truncates back after.
 *   - A dict frame with have_key set has read a <key> (text in s->key) and
 *     waits for its value.
 *   - The first problem found is kept (err_off, msg, err_path); scanning
 *     stops there.  Offsets are turned into line and column only at the end.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/macro.h"
#include "value/plist.h"

typedef enum elem {
        E_DOC,
        E_PLIST,
        E_DICT,
        E_ARRAY,
        E_KEY,
        E_STRING,
        E_INTEGER,
        E_REAL,
        E_DATE,
        E_DATA,
        E_TRUE,
        E_FALSE,
        E_UNKNOWN,
} elem;

static const char *const elem_names[] = {
        [E_DOC] = "document", [E_PLIST] = "plist",     [E_DICT] = "dict",       [E_ARRAY] = "array",
        [E_KEY] = "key",      [E_STRING] = "string",   [E_INTEGER] = "integer", [E_REAL] = "real",
        [E_DATE] = "date",    [E_DATA] = "data",       [E_TRUE] = "true",       [E_FALSE] = "false",
};

typedef struct buf {
        char *p;
        size_t n, cap;
} buf;

typedef struct frame {
        elem kind;
        size_t open_off;  /* offset of the start tag */
        size_t path_len;  /* s->path length to restore when the frame closes */
        size_t index;     /* array: index of the next element */
        size_t key_off;   /* dict: offset of the pending key */
        bool have_key;    /* dict: a key waits for its value */
        bool has_value;   /* document, plist: the root value was read */
} frame;

typedef struct scan {
        const char *b;
        size_t len, pos;
        frame stack[RK_PLIST_MAX_DEPTH + 3];
        unsigned depth;      /* index of the top frame */
        unsigned containers; /* open dict/array frames */
        buf path, key, text;
        bool oom;
        bool failed;
        size_t err_off;
        char *msg, *err_path;
} scan;

/* ---- buffers ---------------------------------------------------------- */

static bool buf_add(scan *s, buf *b, const char *p, size_t n) {
        if (b->n + n + 1 > b->cap) {
                size_t cap = b->cap ? b->cap : 64;
                while (cap < b->n + n + 1)
                        cap *= 2;
                char *q = realloc(b->p, cap);
                if (!q) {
                        s->oom = true;
                        return false;
                }
                b->p = q;
                b->cap = cap;
        }
        memcpy(b->p + b->n, p, n);
        b->n += n;
        b->p[b->n] = 0;
        return true;
}

static void buf_truncate(buf *b, size_t n) {
        b->n = n;
        if (b->p)
                b->p[n] = 0;
}

/* ---- errors ----------------------------------------------------------- */

/* Record the first problem; always returns false so callers can "return fail(...)". */
_printf_(3, 4) static bool fail(scan *s, size_t off, const char *fmt, ...) {
        va_list ap;

        if (s->failed || s->oom)
                return false;
        s->failed = true;
        s->err_off = off;
        s->err_path = strdup(s->path.p ? s->path.p : "");
        va_start(ap, fmt);
        if (vasprintf(&s->msg, fmt, ap) < 0)
                s->msg = NULL;
        va_end(ap);
        if (!s->err_path || !s->msg)
                s->oom = true;
        return false;
}

/* A short, printable excerpt of text for messages (static size, truncated). */
static void excerpt(const char *p, size_t n, char out[static 40]) {
        size_t o = 0;
        for (size_t i = 0; i < n && o < 32; i++)
                out[o++] = (unsigned char) p[i] < 0x20 || p[i] == 0x7f ? '?' : p[i];
        if (o == 32 && n > 32) {
                memcpy(out + o, "...", 3);
                o += 3;
        }
        out[o] = 0;
}

/*
 * Strict UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF).  Returns n when p[0..n) is valid, else the offset of the first
 * bad byte.  Shared with plist.c, which checks the strings libplist hands
 * back from binary plists.
 */
size_t rk_plist_utf8_check(const char *p, size_t n);
size_t rk_plist_utf8_check(const char *p, size_t n) {
        const unsigned char *u = (const unsigned char *) p;
        size_t i = 0;

        while (i < n) {
                unsigned c = u[i], k, cp;
                if (c < 0x80) {
                        i++;
                        continue;
                }
                if (c >= 0xc2 && c <= 0xdf)
                        k = 1, cp = c & 0x1f;
                else if (c >= 0xe0 && c <= 0xef)
                        k = 2, cp = c & 0x0f;
                else if (c >= 0xf0 && c <= 0xf4)
                        k = 3, cp = c & 0x07;
                else
                        return i;
                if (n - i <= k)
                        return i;
                for (unsigned j = 1; j <= k; j++) {
                        if ((u[i + j] & 0xc0) != 0x80)
                                return i;
                        cp = cp << 6 | (u[i + j] & 0x3f);
                }
                if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10ffff ||
                    (cp >= 0xd800 && cp <= 0xdfff))
                        return i;
                i += k + 1;
        }
        return n;
}

static void line_col(const scan *s, size_t off, int *line, int *col) {
        int l = 1, c = 1;
        for (size_t i = 0; i < off && i < s->len; i++) {
                unsigned char ch = (unsigned char) s->b[i];
                if (ch == '\n') {
                        l++;
                        c = 1;
                } else if ((ch & 0xc0) != 0x80) /* count characters, not UTF-8 bytes */
                        c++;
        }
        *line = l;
        *col = c;
}

static int line_of(const scan *s, size_t off) {
        int l, c;
        line_col(s, off, &l, &c);
        return l;
}

/* ---- lexing helpers --------------------------------------------------- */

static bool at(const scan *s, const char *lit) {
        size_t n = strlen(lit);
        return s->len - s->pos >= n && memcmp(s->b + s->pos, lit, n) == 0;
}

static size_t size_min(size_t a, size_t b) {
        return a < b ? a : b;
}

static bool is_space(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_name_start(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}

static bool is_name_char(char c) {
        return is_name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

/* Length of the plain character data at p: up to '<', '&' or NUL. */
static size_t strcspn_len(const char *p, size_t n) {
        size_t i = 0;
        while (i < n && p[i] != '<' && p[i] != '&' && p[i] != 0)
                i++;
        return i;
}

static void skip_space(scan *s) {
        while (s->pos < s->len && is_space(s->b[s->pos]))
                s->pos++;
}

/* Find `end` from the current position; leave pos after it.  False at EOF. */
static bool skip_past(scan *s, const char *end) {
        size_t n = strlen(end);
        for (size_t i = s->pos; i + n <= s->len; i++)
                if (memcmp(s->b + i, end, n) == 0) {
                        s->pos = i + n;
                        return true;
                }
        return false;
}

static elem elem_lookup(const char *p, size_t n) {
        for (elem e = E_PLIST; e < E_UNKNOWN; e++)
                if (strlen(elem_names[e]) == n && memcmp(elem_names[e], p, n) == 0)
                        return e;
        return E_UNKNOWN;
}

static bool is_container(elem e) {
        return e == E_DICT || e == E_ARRAY;
}

/* ---- markup that is not an element ------------------------------------ */

static bool skip_comment(scan *s) {
        size_t start = s->pos;
        s->pos += 4; /* "<!--" */
        if (!skip_past(s, "-->"))
                return fail(s, start, "unterminated comment");
        return true;
}

static bool skip_pi(scan *s) {
        size_t start = s->pos;
        char quote = 0;

        if (s->pos + 2 >= s->len || !is_name_start(s->b[s->pos + 2]))
                return fail(s, start, "processing instruction without a target name");
        /* libplist 2.2 honours double quotes in here: "?>" inside them does not end it */
        for (s->pos += 2; s->pos < s->len; s->pos++) {
                char c = s->b[s->pos];
                if (quote) {
                        if (c == quote)
                                quote = 0;
                } else if (c == '"') /* libplist 2.2 ignores single quotes here */
                        quote = c;
                else if (c == '?' && s->pos + 1 < s->len && s->b[s->pos + 1] == '>')
                        break;
        }
        if (s->pos >= s->len)
                return fail(s, start, "unterminated processing instruction%s", quote ? " (open quote)" : "");
        s->pos += 2;
        /* libplist 2.2 refuses control characters in the XML declaration */
        for (size_t i = start; i < s->pos; i++)
                if ((unsigned char) s->b[i] < 0x20 && !is_space(s->b[i]))
                        return fail(s, i, "control character 0x%02x in processing instruction",
                                    (unsigned) s->b[i]);
        return true;
}

/*
 * <!DOCTYPE ...>, read the way libplist 2.2 reads it: up to the first '>'
 * or '[' outside double quotes; after a '[' (an internal subset), up to the
 * first "]>" outside double quotes.
 */
static bool skip_doctype(scan *s) {
        size_t start = s->pos;
        bool subset = false;

        for (s->pos += 9; s->pos < s->len; s->pos++) {
                char c = s->b[s->pos];
                if (c == '"') {
                        const char *q = memchr(s->b + s->pos + 1, '"', s->len - s->pos - 1);
                        if (!q)
                                break;
                        s->pos = (size_t) (q - s->b);
                } else if (c == '>') {
                        s->pos++;
                        return true;
                } else if (c == '[') {
                        subset = true;
                        break;
                }
        }
        for (; subset && s->pos + 1 < s->len; s->pos++) {
                if (s->b[s->pos] == '"') {
                        const char *q = memchr(s->b + s->pos + 1, '"', s->len - s->pos - 1);
                        if (!q)
                                break;
                        s->pos = (size_t) (q - s->b);
                } else if (s->b[s->pos] == ']' && s->b[s->pos + 1] == '>') {
                        s->pos += 2;
                        return true;
                }
        }
        return fail(s, start, "unterminated <!DOCTYPE>");
}

/* ---- tags ------------------------------------------------------------- */

typedef struct tag {
        size_t off;       /* offset of '<' */
        bool end;         /* </name> */
        bool empty;       /* <name/> */
        elem e;
        const char *name; /* into the buffer */
        size_t name_len;
} tag;

static bool skip_attributes(scan *s, const tag *t) {
        for (;;) {
                skip_space(s);
                if (s->pos >= s->len)
                        break;
                if (s->b[s->pos] == '>' || s->b[s->pos] == '/')
                        return true;
                if (!is_name_start(s->b[s->pos]))
                        return fail(s, s->pos, "malformed attribute in <%.*s>", (int) t->name_len, t->name);
                while (s->pos < s->len && is_name_char(s->b[s->pos]))
                        s->pos++;
                skip_space(s);
                if (s->pos >= s->len)
                        break;
                if (s->b[s->pos] != '=')
                        return fail(s, s->pos, "malformed attribute in <%.*s>", (int) t->name_len, t->name);
                s->pos++;
                skip_space(s);
                if (s->pos >= s->len)
                        break;
                char q = s->b[s->pos];
                if (q != '"' && q != '\'')
                        return fail(s, s->pos, "attribute value in <%.*s> is not quoted", (int) t->name_len,
                                    t->name);
                const char *e = memchr(s->b + s->pos + 1, q, s->len - s->pos - 1);
                if (!e)
                        break;
                s->pos = (size_t) (e - s->b) + 1;
        }
        return fail(s, t->off, "unterminated <%.*s> tag", (int) t->name_len, t->name);
}

/* Read a start or end tag at '<' (not "<!" or "<?"). */
static bool read_tag(scan *s, tag *t) {
        *t = (tag){ .off = s->pos };
        s->pos++;
        if (s->pos < s->len && s->b[s->pos] == '/') {
                t->end = true;
                s->pos++;
        }
        t->name = s->b + s->pos;
        if (s->pos >= s->len || !is_name_start(s->b[s->pos]))
                return fail(s, t->off, "malformed tag");
        while (s->pos < s->len && is_name_char(s->b[s->pos]))
                s->pos++;
        t->name_len = (size_t) (s->b + s->pos - t->name);
        t->e = elem_lookup(t->name, t->name_len);
        if (t->end)
                skip_space(s);
        else if (!skip_attributes(s, t))
                return false;
        if (s->pos < s->len && !t->end && s->b[s->pos] == '/') {
                t->empty = true;
                s->pos++;
        }
        if (s->pos >= s->len)
                return fail(s, t->off, "unterminated <%s%.*s> tag", t->end ? "/" : "", (int) t->name_len,
                            t->name);
        if (s->b[s->pos] != '>')
                return fail(s, s->pos, "malformed <%s%.*s> tag", t->end ? "/" : "", (int) t->name_len,
                            t->name);
        s->pos++;
        if (t->e == E_UNKNOWN)
                return fail(s, t->off, "unknown element <%s%.*s>", t->end ? "/" : "", (int) t->name_len,
                            t->name);
        return true;
}

/* ---- text ------------------------------------------------------------- */

static bool put_utf8(scan *s, buf *b, unsigned long cp) {
        char u[4];
        size_t n;

        if (cp < 0x80) {
                u[0] = (char) cp;
                n = 1;
        } else if (cp < 0x800) {
                u[0] = (char) (0xc0 | (cp >> 6));
                u[1] = (char) (0x80 | (cp & 0x3f));
                n = 2;
        } else if (cp < 0x10000) {
                u[0] = (char) (0xe0 | (cp >> 12));
                u[1] = (char) (0x80 | ((cp >> 6) & 0x3f));
                u[2] = (char) (0x80 | (cp & 0x3f));
                n = 3;
        } else {
                u[0] = (char) (0xf0 | (cp >> 18));
                u[1] = (char) (0x80 | ((cp >> 12) & 0x3f));
                u[2] = (char) (0x80 | ((cp >> 6) & 0x3f));
                u[3] = (char) (0x80 | (cp & 0x3f));
                n = 4;
        }
        return buf_add(s, b, u, n);
}

static bool char_ref(const char *p, size_t n, unsigned long *cp) {
        bool hex = n > 0 && (p[0] == 'x');
        unsigned long v = 0;
        size_t i = hex ? 1 : 0;

        if (i >= n || n - i > 8)
                return false;
        for (; i < n; i++) {
                char c = p[i];
                unsigned d;
                if (c >= '0' && c <= '9')
                        d = (unsigned) (c - '0');
                else if (hex && c >= 'a' && c <= 'f')
                        d = (unsigned) (c - 'a' + 10);
                else if (hex && c >= 'A' && c <= 'F')
                        d = (unsigned) (c - 'A' + 10);
                else
                        return false;
                v = v * (hex ? 16 : 10) + d;
        }
        if (v == 0 || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
                return false;
        *cp = v;
        return true;
}

/* An entity or character reference at '&', decoded into b. */
static bool read_entity(scan *s, buf *b) {
        static const struct {
                const char *name, *text;
        } named[] = { { "amp", "&" }, { "lt", "<" }, { "gt", ">" }, { "quot", "\"" }, { "apos", "'" } };
        size_t start = s->pos, n;
        const char *p = s->b + s->pos + 1;
        const char *semi = memchr(p, ';', size_min(s->len - s->pos - 1, 12));
        char ex[40];

        if (!semi) {
                excerpt(s->b + start, size_min(s->len - start, 8), ex);
                return fail(s, start, "invalid entity reference '%s' (no ';')", ex);
        }
        n = (size_t) (semi - p);
        s->pos = (size_t) (semi - s->b) + 1;
        for (size_t i = 0; i < ELEMENTSOF(named); i++)
                if (strlen(named[i].name) == n && memcmp(named[i].name, p, n) == 0)
                        return buf_add(s, b, named[i].text, 1);
        unsigned long cp;
        if (n > 1 && p[0] == '#' && char_ref(p + 1, n - 1, &cp))
                return put_utf8(s, b, cp);
        excerpt(s->b + start, n + 2, ex);
        return fail(s, start, "invalid entity reference '%s'", ex);
}

/*
 * The text of a scalar element, up to its end tag, decoded into b:
 * character data, references, CDATA sections; comments are dropped.
 */
static bool read_text(scan *s, const tag *open, buf *b) {
        const char *name = elem_names[open->e];

        buf_truncate(b, 0);
        if (!buf_add(s, b, "", 0))
                return false;
        while (s->pos < s->len) {
                const char *p = s->b + s->pos;
                size_t n = strcspn_len(p, s->len - s->pos);
                if (n > 0) {
                        size_t bad = rk_plist_utf8_check(p, n);
                        if (bad < n)
                                return fail(s, s->pos + bad, "invalid UTF-8 in <%s>", name);
                        if (!buf_add(s, b, p, n))
                                return false;
                        s->pos += n;
                        continue;
                }
                if (*p == 0)
                        return fail(s, s->pos, "NUL byte in <%s>", name);
                if (*p == '&') {
                        if (!read_entity(s, b))
                                return false;
                } else if (at(s, "<![CDATA[")) {
                        size_t start = s->pos;
                        s->pos += 9;
                        if (!skip_past(s, "]]>"))
                                return fail(s, start, "unterminated CDATA section");
                        const char *nul = memchr(s->b + start + 9, 0, s->pos - start - 12);
                        if (nul) /* libplist 2.2 asserts on a string with a NUL inside */
                                return fail(s, (size_t) (nul - s->b), "NUL byte in <%s>", name);
                        size_t bad = rk_plist_utf8_check(s->b + start + 9, s->pos - start - 12);
                        if (bad < s->pos - start - 12)
                                return fail(s, start + 9 + bad, "invalid UTF-8 in <%s>", name);
                        if (!buf_add(s, b, s->b + start + 9, s->pos - start - 12))
                                return false;
                } else if (at(s, "<!--")) {
                        if (!skip_comment(s))
                                return false;
                } else {
                        tag t;
                        if (at(s, "<?") || at(s, "<!"))
                                return fail(s, s->pos, "unexpected markup inside <%s>", name);
                        if (!read_tag(s, &t))
                                return false;
                        if (!t.end)
                                return fail(s, t.off, "unexpected <%s> inside <%s>", elem_names[t.e], name);
                        if (t.e != open->e)
                                return fail(s, t.off, "</%s> closes <%s> opened at line %d", elem_names[t.e],
                                            name, line_of(s, open->off));
                        return true;
                }
        }
        return fail(s, open->off, "unterminated <%s> opened at line %d", name, line_of(s, open->off));
}

/* ---- scalar values ---------------------------------------------------- */

static void trim(const buf *b, const char **p, size_t *n) {
        const char *q = b->p;
        size_t m = b->n;
        while (m > 0 && is_space(q[0])) {
                q++;
                m--;
        }
        while (m > 0 && is_space(q[m - 1]))
                m--;
        *p = q;
        *n = m;
}

/* Decimal or 0x hex, optional sign, within 64 bits (negative: within int64). */
static const char *integer_problem(const char *p, size_t n) {
        bool neg = false, hex;
        uint64_t v = 0, limit;
        size_t i = 0;

        if (i < n && (p[i] == '-' || p[i] == '+'))
                neg = p[i++] == '-';
        hex = n - i > 2 && p[i] == '0' && (p[i + 1] == 'x' || p[i + 1] == 'X');
        if (hex)
                i += 2;
        if (i >= n)
                return "invalid integer";
        if (!hex && p[i] == '0' && n - i > 1)
                return "integer with a leading zero (octal or decimal?)";
        limit = neg ? (uint64_t) INT64_MAX + 1 : UINT64_MAX;
        for (; i < n; i++) {
                int d = hex ? unhexchar(p[i]) : (p[i] >= '0' && p[i] <= '9' ? p[i] - '0' : -1);
                unsigned base = hex ? 16 : 10;
                if (d < 0)
                        return "invalid integer";
                if (v > (limit - (uint64_t) d) / base)
                        return "integer out of range";
                v = v * base + (uint64_t) d;
        }
        return NULL;
}

static bool real_ok(const char *p, size_t n) {
        char tmp[64], *end = NULL;

        if (n == 0 || n >= sizeof(tmp))
                return false;
        memcpy(tmp, p, n);
        tmp[n] = 0;
        (void) strtod(tmp, &end);
        return end == tmp + n;
}

static bool digits(const char *p, size_t n, unsigned *v) {
        *v = 0;
        for (size_t i = 0; i < n; i++) {
                if (p[i] < '0' || p[i] > '9')
                        return false;
                *v = *v * 10 + (unsigned) (p[i] - '0');
        }
        return true;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
        y -= m <= 2;
        int64_t era = (y >= 0 ? y : y - 399) / 400;
        unsigned yoe = (unsigned) (y - era * 400);
        unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + (int64_t) doe - 719468;
}

/*
 * libplist 2.2 hands dates out as int32 seconds since 2001-01-01: outside
 * 1932-12-13T20:45:52Z .. 2069-01-19T03:14:07Z they come back wrong.
 */
static bool date_in_range(const char *p) {
        unsigned y, mo, d, h, mi, se;
        digits(p, 4, &y);
        digits(p + 5, 2, &mo);
        digits(p + 8, 2, &d);
        digits(p + 11, 2, &h);
        digits(p + 14, 2, &mi);
        digits(p + 17, 2, &se);
        int64_t t = (days_from_civil(y, mo, d) - days_from_civil(2001, 1, 1)) * 86400 + h * 3600 + mi * 60 + se;
        return t >= INT32_MIN && t <= INT32_MAX;
}

/* ISO 8601 as plists write it: YYYY-MM-DDTHH:MM:SSZ. */
static bool date_ok(const char *p, size_t n) {
        static const unsigned mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        unsigned y, mo, d, h, mi, se;

        if (n != 20 || p[4] != '-' || p[7] != '-' || p[10] != 'T' || p[13] != ':' || p[16] != ':' ||
            p[19] != 'Z')
                return false;
        if (!digits(p, 4, &y) || !digits(p + 5, 2, &mo) || !digits(p + 8, 2, &d) ||
            !digits(p + 11, 2, &h) || !digits(p + 14, 2, &mi) || !digits(p + 17, 2, &se))
                return false;
        if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || se > 59)
                return false;
        if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
                return false;
        return true;
}

static bool is_b64(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
               c == '/';
}

/* Base64 with whitespace anywhere, padded to a multiple of four. */
static bool data_ok(const char *p, size_t n) {
        size_t count = 0, pad = 0;

        for (size_t i = 0; i < n; i++) {
                if (is_space(p[i]))
                        continue;
                if (p[i] == '=')
                        pad++;
                else if (!is_b64(p[i]) || pad > 0)
                        return false;
                count++;
        }
        return pad <= 2 && count % 4 == 0;
}

static bool check_scalar(scan *s, const tag *t) {
        const char *p;
        size_t n;
        char ex[40];

        trim(&s->text, &p, &n);
        excerpt(p, n, ex);
        switch (t->e) {
        case E_INTEGER: {
                const char *why = integer_problem(p, n);
                if (why)
                        return fail(s, t->off, "%s '%s'", why, ex);
                return true;
        }
        case E_REAL:
                return real_ok(p, n) || fail(s, t->off, "invalid real '%s'", ex);
        case E_DATE:
                if (!date_ok(p, n))
                        return fail(s, t->off, "invalid date '%s' (expected YYYY-MM-DDTHH:MM:SSZ)", ex);
                return date_in_range(p) ||
                       fail(s, t->off, "date '%s' outside 1932-12-13T20:45:52Z..2069-01-19T03:14:07Z", ex);
        case E_DATA:
                return data_ok(s->text.p, s->text.n) || fail(s, t->off, "invalid base64 in <data>");
        case E_TRUE:
        case E_FALSE:
                return n == 0 || fail(s, t->off, "<%s> must be empty, found '%s'", elem_names[t->e], ex);
        default:
                return true;
        }
}

/* ---- structure -------------------------------------------------------- */

static frame *top(scan *s) {
        return &s->stack[s->depth];
}

static bool path_append_key(scan *s) {
        if (s->path.n > 0 && !buf_add(s, &s->path, ".", 1))
                return false;
        return buf_add(s, &s->path, s->key.p ? s->key.p : "", s->key.n);
}

/* A problem about the pending key of a dict: the path names that key. */
static bool fail_key(scan *s, size_t off, const char *what) {
        char ex[40];
        excerpt(s->key.p ? s->key.p : "", s->key.n, ex);
        if (!path_append_key(s))
                return false;
        return fail(s, off, "key '%s' %s", ex, what);
}

/* Make room for a value in the top frame and extend the path to name it. */
static bool begin_value(scan *s, const tag *t) {
        frame *f = top(s);
        const char *name = elem_names[t->e];
        char idx[32];

        if (s->containers > RK_PLIST_MAX_DEPTH)
                return fail(s, t->off, "nested deeper than %d levels", RK_PLIST_MAX_DEPTH);
        switch (f->kind) {
        case E_DOC:
        case E_PLIST:
                if (f->has_value)
                        return fail(s, t->off, "more than one root value (found <%s>)", name);
                f->has_value = true;
                return true;
        case E_DICT:
                if (!f->have_key)
                        return fail(s, t->off, "expected <key> in <dict>, found <%s>", name);
                f->have_key = false;
                return path_append_key(s);
        default:
                snprintf(idx, sizeof(idx), "[%zu]", f->index++);
                return buf_add(s, &s->path, idx, strlen(idx));
        }
}

static bool push(scan *s, elem kind, size_t off, size_t path_len) {
        assert(s->depth + 1 < ELEMENTSOF(s->stack));
        s->stack[++s->depth] = (frame){ .kind = kind, .open_off = off, .path_len = path_len };
        if (is_container(kind))
                s->containers++;
        return true;
}

static bool start_key(scan *s, const tag *t) {
        frame *f = top(s);

        if (f->kind != E_DICT)
                return fail(s, t->off, "<key> outside a <dict> (in <%s>)", elem_names[f->kind]);
        if (f->have_key)
                return fail_key(s, t->off, "has no value (found <key>)");
        if (t->empty) /* libplist 2.2 refuses it, though <key></key> is fine */
                return fail(s, t->off, "empty key written as <key/>: write <key></key>");
        if (!read_text(s, t, &s->key))
                return false;
        f->have_key = true;
        f->key_off = t->off;
        return true;
}

static bool start_element(scan *s, const tag *t) {
        size_t saved = s->path.n;

        if (t->e == E_KEY)
                return start_key(s, t);
        if (t->e == E_PLIST) {
                if (s->depth != 0)
                        return fail(s, t->off, "unexpected <plist> inside <%s>", elem_names[top(s)->kind]);
                if (s->stack[0].has_value)
                        return fail(s, t->off, "more than one root value (found <plist>)");
                s->stack[0].has_value = true;
                if (t->empty)
                        return fail(s, t->off, "missing root value in <plist>");
                return push(s, E_PLIST, t->off, saved);
        }
        if (!begin_value(s, t))
                return false;
        if (is_container(t->e)) {
                if (!t->empty)
                        return push(s, t->e, t->off, saved);
        } else {
                buf_truncate(&s->text, 0);
                if (!buf_add(s, &s->text, "", 0))
                        return false;
                if (!t->empty && !read_text(s, t, &s->text))
                        return false;
                if (!check_scalar(s, t))
                        return false;
        }
        buf_truncate(&s->path, saved);
        return true;
}

static bool end_element(scan *s, const tag *t) {
        frame *f = top(s);

        if (f->kind == E_DOC)
                return fail(s, t->off, "unexpected </%s>, no element is open", elem_names[t->e]);
        if (t->e != f->kind)
                return fail(s, t->off, "</%s> closes <%s> opened at line %d", elem_names[t->e],
                            elem_names[f->kind], line_of(s, f->open_off));
        if (f->kind == E_DICT && f->have_key)
                return fail_key(s, f->key_off, "has no value");
        if (f->kind == E_PLIST && !f->has_value)
                return fail(s, f->open_off, "missing root value in <plist>");
        buf_truncate(&s->path, f->path_len);
        if (is_container(f->kind))
                s->containers--;
        s->depth--;
        return true;
}

/* Character data where only elements may be: anything but whitespace is wrong. */
static bool stray_text(scan *s) {
        size_t start = s->pos;
        char ex[40];

        if (s->b[s->pos] == 0)
                return fail(s, start, "NUL byte in document");
        while (s->pos < s->len && s->b[s->pos] != '<')
                s->pos++;
        excerpt(s->b + start, s->pos - start, ex);
        if (s->depth == 0)
                return fail(s, start, "text outside the root element: '%s'", ex);
        return fail(s, start, "text outside elements in <%s>: '%s'", elem_names[top(s)->kind], ex);
}

static bool markup(scan *s) {
        tag t;

        if (at(s, "<!--"))
                return skip_comment(s);
        if (at(s, "<?"))
                return skip_pi(s);
        if (at(s, "<!DOCTYPE")) {
                if (s->depth != 0 || s->stack[0].has_value)
                        return fail(s, s->pos, "<!DOCTYPE> after the root element started");
                return skip_doctype(s);
        }
        if (at(s, "<![CDATA["))
                return fail(s, s->pos, "CDATA section outside a string (in <%s>)", elem_names[top(s)->kind]);
        if (at(s, "<!"))
                return fail(s, s->pos, "unexpected markup");
        if (!read_tag(s, &t))
                return false;
        return t.end ? end_element(s, &t) : start_element(s, &t);
}

static void scan_document(scan *s) {
        if (s->len >= 2 && ((unsigned char) s->b[0] == 0xfe || (unsigned char) s->b[0] == 0xff) &&
            ((unsigned char) s->b[1] == 0xfe || (unsigned char) s->b[1] == 0xff)) {
                fail(s, 0, "UTF-16 property lists are not supported (convert to UTF-8)");
                return;
        }
        if (s->len >= 3 && memcmp(s->b, "\xef\xbb\xbf", 3) == 0)
                s->pos = 3;
        while (s->pos < s->len && !s->failed && !s->oom) {
                if (is_space(s->b[s->pos]))
                        s->pos++;
                else if (s->b[s->pos] != '<')
                        stray_text(s);
                else
                        markup(s);
        }
        if (s->failed || s->oom)
                return;
        if (s->depth > 0) {
                frame *f = top(s);
                fail(s, f->open_off, "unterminated <%s> opened at line %d", elem_names[f->kind],
                     line_of(s, f->open_off));
        } else if (!s->stack[0].has_value)
                fail(s, s->len, "no root value: the document holds no property list");
}

int rk_plist_xml_locate_error(const char *b, size_t len, int *line, int *column, char **keypath,
                              char **message) {
        scan s = { .b = b, .len = len };
        int r = 0;

        if (!b && len > 0)
                return -EINVAL;
        s.stack[0].kind = E_DOC;
        if (!buf_add(&s, &s.path, "", 0))
                return -ENOMEM;
        scan_document(&s);
        if (s.oom)
                r = -ENOMEM;
        else if (s.failed) {
                int l, c;
                line_col(&s, s.err_off, &l, &c);
                if (line)
                        *line = l;
                if (column)
                        *column = c;
                if (keypath)
                        *keypath = TAKE_PTR(s.err_path);
                if (message)
                        *message = TAKE_PTR(s.msg);
                r = 1;
        }
        free(s.err_path);
        free(s.msg);
        free(s.path.p);
        free(s.key.p);
        free(s.text.p);
        return r;
}

/* ---- binary plists ---------------------------------------------------- */

/*
 * libplist 2.2's binary reader trusts the file: offsets, counts and object
 * references are used as they come, and an object graph that shares nodes
 * is expanded into a tree (a few hundred bytes can ask for billions of
 * nodes).  rk_plist_binary_check() walks the format first and refuses
 * anything libplist should not see:
 *
 *   "bplist00" | objects | offset table | 32-byte trailer:
 *     6 unused bytes, offset size (1..8), reference size (1..8),
 *     object count, top object, offset-table offset (64-bit big-endian)
 *
 * Every offset must point into the object area, every object must end
 * before the offset table, every reference must name an object, the graph
 * must be acyclic, no deeper than RK_PLIST_MAX_DEPTH, and expand to at most
 * RK_PLIST_MAX_VALUES values.  Only the object types plist.c can represent
 * are accepted (no null, set or UTF-8 string objects).
 */
#define RK_PLIST_MAX_VALUES (1u << 20)
#define RK_PLIST_MAX_OBJECTS (1u << 22)

typedef struct bscan {
        const uint8_t *b;
        size_t len;
        uint64_t n_objects, table_off;
        unsigned off_size, ref_size;
        uint8_t *state;    /* per object: 0 unseen, 1 on the path, 2 checked */
        uint8_t *height_of; /* per object, once checked: levels below it */
        uint32_t *values;  /* per object, once checked: values it expands to (saturated) */
        char *msg;
} bscan;

static uint64_t be(const uint8_t *p, unsigned n) {
        uint64_t v = 0;
        for (unsigned i = 0; i < n; i++)
                v = v << 8 | p[i];
        return v;
}

_printf_(2, 3) static int bfail(bscan *s, const char *fmt, ...) {
        va_list ap;
        if (s->msg)
                return 1;
        va_start(ap, fmt);
        if (vasprintf(&s->msg, fmt, ap) < 0)
                s->msg = NULL;
        va_end(ap);
        return s->msg ? 1 : -ENOMEM;
}

static int check_trailer(bscan *s) {
        const uint8_t *t;
        uint64_t top;

        if (s->len < 8 + 1 + 32)
                return bfail(s, "binary property list too short");
        t = s->b + s->len - 32;
        s->off_size = t[6];
        s->ref_size = t[7];
        s->n_objects = be(t + 8, 8);
        top = be(t + 16, 8);
        s->table_off = be(t + 24, 8);
        if (s->off_size < 1 || s->off_size > 8 || s->ref_size < 1 || s->ref_size > 8)
                return bfail(s, "binary property list: bad offset or reference size in the trailer");
        if (s->n_objects == 0 || s->n_objects > RK_PLIST_MAX_OBJECTS)
                return bfail(s, "binary property list: bad object count %llu", (unsigned long long) s->n_objects);
        if (top >= s->n_objects)
                return bfail(s, "binary property list: top object %llu out of range", (unsigned long long) top);
        if (s->table_off < 9 || s->table_off > s->len - 32 ||
            (s->len - 32 - s->table_off) / s->off_size < s->n_objects)
                return bfail(s, "binary property list: offset table out of range");
        return 0;
}

/* The offset of object i, checked to lie in the object area. */
static int object_offset(bscan *s, uint64_t i, uint64_t *ret) {
        uint64_t off = be(s->b + s->table_off + i * s->off_size, s->off_size);
        if (off < 8 || off >= s->table_off)
                return bfail(s, "binary property list: object %llu has offset %llu outside the object area",
                             (unsigned long long) i, (unsigned long long) off);
        *ret = off;
        return 0;
}

/* Length of a data/string/array/dict object: the low nibble, or an integer object after it. */
static int object_length(bscan *s, uint64_t off, uint64_t *len, uint64_t *hdr) {
        uint8_t m = s->b[off] & 0x0f, ext;
        unsigned n;

        if (m != 0x0f) {
                *len = m;
                *hdr = 1;
                return 0;
        }
        if (off + 2 > s->table_off || ((ext = s->b[off + 1]) & 0xf0) != 0x10 || (ext & 0x0f) > 3)
                return bfail(s, "binary property list: bad length at offset %llu", (unsigned long long) off);
        n = 1u << (ext & 0x0f);
        if (off + 2 + n > s->table_off)
                return bfail(s, "binary property list: length at offset %llu runs past the objects",
                             (unsigned long long) off);
        *len = be(s->b + off + 2, n);
        *hdr = 2 + n;
        return 0;
}

static int check_object(bscan *s, uint64_t i, unsigned depth, uint8_t *height, uint32_t *values);

/* The references of an array or dict at off (header hdr, n references). */
static int check_refs(bscan *s, uint64_t off, uint64_t hdr, uint64_t n, bool dict, unsigned depth, uint8_t *height,
                      uint32_t *values) {
        for (uint64_t k = 0; k < n; k++) {
                uint64_t ref = be(s->b + off + hdr + k * s->ref_size, s->ref_size), koff = 0;
                uint8_t h = 0;
                uint32_t v = 0;
                int r;

                if (ref >= s->n_objects)
                        return bfail(s, "binary property list: reference to object %llu, which does not exist",
                                     (unsigned long long) ref);
                if (dict && k < n / 2) { /* keys come first and must be strings */
                        r = object_offset(s, ref, &koff);
                        if (r)
                                return r;
                        if ((s->b[koff] >> 4) != 0x5 && (s->b[koff] >> 4) != 0x6)
                                return bfail(s, "binary property list: dictionary key is not a string");
                }
                r = check_object(s, ref, depth + 1, &h, &v);
                if (r)
                        return r;
                if (h + 1 > *height)
                        *height = (uint8_t) (h + 1);
                *values = *values + v > RK_PLIST_MAX_VALUES ? RK_PLIST_MAX_VALUES + 1 : *values + v;
                if (*values > RK_PLIST_MAX_VALUES)
                        return bfail(s, "binary property list expands to more than %u values", RK_PLIST_MAX_VALUES);
        }
        return 0;
}

static bool has_nul(const uint8_t *p, uint64_t len, unsigned unit) {
        for (uint64_t i = 0; i < len; i++)
                if (p[i * unit] == 0 && (unit == 1 || p[i * unit + 1] == 0))
                        return true;
        return false;
}

/* Size of the object at off without its references; *n_refs set for containers. */
static int object_size(bscan *s, uint64_t off, uint64_t *size, uint64_t *hdr, uint64_t *n_refs) {
        uint8_t m = s->b[off], t = m >> 4, low = m & 0x0f;
        uint64_t len = 0, room = s->table_off - off;
        int r;

        *n_refs = 0;
        *hdr = 1;
        switch (t) {
        case 0x0:
                if (m != 0x08 && m != 0x09)
                        return bfail(s, "binary property list: unsupported object 0x%02x (null or fill)", m);
                *size = 1;
                return 0;
        case 0x1:
        case 0x2:
                if ((t == 0x1 && low > 4) || (t == 0x2 && low != 2 && low != 3))
                        return bfail(s, "binary property list: bad %s size", t == 0x1 ? "integer" : "real");
                *size = 1 + (1u << low);
                return 0;
        case 0x3:
                if (m != 0x33)
                        return bfail(s, "binary property list: bad date object 0x%02x", m);
                *size = 9;
                return 0;
        case 0x8:
                *size = 2 + low;
                return 0;
        case 0x4:
        case 0x5:
        case 0x6:
        case 0xa:
        case 0xd:
                r = object_length(s, off, &len, hdr);
                if (r)
                        return r;
                unsigned unit = t == 0x6 ? 2 : t == 0xa ? s->ref_size : t == 0xd ? 2 * s->ref_size : 1;
                if (len > (room - *hdr) / unit) /* also keeps len * unit from overflowing */
                        return bfail(s, "binary property list: object at offset %llu runs past the objects",
                                     (unsigned long long) off);
                *size = *hdr + len * unit;
                /* libplist 2.2 asserts (aborts) on a string with a NUL inside */
                if ((t == 0x5 || t == 0x6) && has_nul(s->b + off + *hdr, len, unit))
                        return bfail(s, "binary property list: string at offset %llu holds a NUL character",
                                     (unsigned long long) off);
                if (t == 0xa || t == 0xd)
                        *n_refs = t == 0xd ? 2 * len : len;
                return 0;
        default:
                return bfail(s, "binary property list: unsupported object type 0x%x", t);
        }
}

static int check_object(bscan *s, uint64_t i, unsigned depth, uint8_t *height, uint32_t *values) {
        uint64_t off = 0, size = 0, hdr = 0, n_refs = 0;
        int r;

        if (s->state[i] == 1)
                return bfail(s, "binary property list: object %llu contains itself", (unsigned long long) i);
        if (s->state[i] == 2) {
                if (depth + s->height_of[i] > RK_PLIST_MAX_DEPTH)
                        return bfail(s, "binary property list nested deeper than %d levels", RK_PLIST_MAX_DEPTH);
                *height = s->height_of[i];
                *values = s->values[i];
                return 0;
        }
        if (depth > RK_PLIST_MAX_DEPTH)
                return bfail(s, "binary property list nested deeper than %d levels", RK_PLIST_MAX_DEPTH);
        r = object_offset(s, i, &off);
        if (r == 0)
                r = object_size(s, off, &size, &hdr, &n_refs);
        if (r)
                return r;
        if (size > s->table_off - off)
                return bfail(s, "binary property list: object at offset %llu runs past the objects",
                             (unsigned long long) off);
        if (s->b[off] == 0x33) {
                uint64_t bits = be(s->b + off + 1, 8);
                double d;
                memcpy(&d, &bits, sizeof(d));
                if (!(d >= -2147483648.0 && d < 2147483648.0)) /* also NaN; see date_in_range() */
                        return bfail(s, "binary property list: date outside 1933..2069");
        }
        *height = 0;
        *values = 1;
        s->state[i] = 1;
        r = check_refs(s, off, hdr, n_refs, (s->b[off] >> 4) == 0xd, depth, height, values);
        if (r)
                return r;
        s->state[i] = 2;
        s->height_of[i] = *height;
        s->values[i] = *values;
        return 0;
}

/*
 * Returns 0 when a binary plist is safe to hand to libplist, 1 with a
 * malloc'd message when not, -ENOMEM.
 */
int rk_plist_binary_check(const void *data, size_t len, char **message);
int rk_plist_binary_check(const void *data, size_t len, char **message) {
        bscan s = { .b = data, .len = len };
        uint8_t height = 0;
        uint32_t values = 0;
        int r;

        if (!data || len < 8 || memcmp(data, "bplist00", 8) != 0)
                return -EINVAL;
        r = check_trailer(&s);
        if (r == 0) {
                s.state = calloc(s.n_objects, 1);
                s.height_of = calloc(s.n_objects, 1);
                s.values = calloc(s.n_objects, sizeof(*s.values));
                if (!s.state || !s.height_of || !s.values)
                        r = -ENOMEM;
                else
                        r = check_object(&s, be(s.b + s.len - 16, 8), 0, &height, &values);
        }
        free(s.state);
        free(s.height_of);
        free(s.values);
        if (r == 1 && message)
                *message = TAKE_PTR(s.msg);
        free(s.msg);
        return r;
}
