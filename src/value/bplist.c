/* SPDX-License-Identifier: MIT */
/*
 * Binary plists without libplist (see bplist.h for the mapping to rk_value
 * and the list of what the decoder refuses).
 *
 * The format, "bplist00" as CoreFoundation writes it, all big-endian:
 *
 *   "bplist00" | objects | offset table | trailer (32 bytes):
 *     5 unused bytes, sort version (both ignored), offset size (1..8),
 *     reference size (1..8), object count, top object, offset-table
 *     offset (three 64-bit integers)
 *
 * The offset table holds each object's byte offset in offset-size bytes;
 * containers name their members by object number in reference-size bytes
 * (a dictionary: all keys, then all values).  An object starts with a
 * marker byte, type in the high nibble; for data, strings and containers
 * the low nibble is the count, or 0xF and an integer object holding it.
 *
 * Map: byte order and UTF-8/UTF-16; the encoder (plan() numbers the
 * objects breadth-first, emit() writes them in that order); the decoder
 * (read_trailer(); check_object() walks the object graph once per object and
 * turns scalars into values; build() assembles the containers).
 *
 * Invariants of the decoder:
 *   1. No byte is read outside the input: the trailer is checked first,
 *      every object's offset lies in [8, table_off), and every object is
 *      checked to end at or before table_off before its body is read.
 *   2. check_object(i) returns 0 only with objs[i].state == DONE and
 *      every object reachable from it DONE too: references in range,
 *      acyclic (an object met again while ON_PATH contains itself), depth
 *      + height within RK_PLIST_MAX_DEPTH, keys are strings, scalars
 *      decoded into objs[].scalar.  Recursion is as deep as the document,
 *      so at most RK_PLIST_MAX_DEPTH + 1 frames.
 *   3. objs[i].values counts what object i expands to (each reference
 *      counted every time it is used), so the tree build() makes, and any
 *      walk over it later, stays within RK_BPLIST_MAX_VALUES nodes however
 *      much the document shares.
 *   4. build() runs only after check_object() of the top object succeeded, so it
 *      fails only for -ENOMEM and a dictionary holding a key twice (keys
 *      are compared as decoded text, which check_object() does not do).
 */
#include <assert.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/macro.h"
#include "value/bplist.h"

#define MAGIC "bplist00"
#define HEADER_SIZE 8
#define TRAILER_SIZE 32

/* ---- byte order, UTF-8, UTF-16 ------------------------------------------------ */

static uint64_t get_be(const uint8_t *p, unsigned n) {
        uint64_t v = 0;
        for (unsigned i = 0; i < n; i++)
                v = v << 8 | p[i];
        return v;
}

static void put_be(uint8_t *p, uint64_t v, unsigned n) {
        for (unsigned i = n; i > 0; i--) {
                p[i - 1] = (uint8_t) v;
                v >>= 8;
        }
}

/* Bytes for an unsigned value in the format's integer sizes: 1, 2, 4 or 8. */
static unsigned int_size(uint64_t v) {
        return v <= UINT8_MAX ? 1 : v <= UINT16_MAX ? 2 : v <= UINT32_MAX ? 4 : 8;
}

static unsigned log2_size(unsigned size) {
        return size == 1 ? 0 : size == 2 ? 1 : size == 4 ? 2 : size == 8 ? 3 : 4;
}

/*
 * The code point of the UTF-8 sequence at s (n > 0 bytes available), its
 * length in *len; -1 when it is not valid UTF-8: overlong, a surrogate,
 * past U+10FFFF, or cut short.
 */
static int32_t utf8_decode(const uint8_t *s, size_t n, size_t *len) {
        uint32_t c = s[0], min;
        size_t k;

        if (c < 0x80) {
                *len = 1;
                return (int32_t) c;
        }
        if (c >= 0xc2 && c <= 0xdf)
                k = 2, c &= 0x1f, min = 0x80;
        else if (c >= 0xe0 && c <= 0xef)
                k = 3, c &= 0x0f, min = 0x800;
        else if (c >= 0xf0 && c <= 0xf4)
                k = 4, c &= 0x07, min = 0x10000;
        else
                return -1;
        if (n < k)
                return -1;
        for (size_t i = 1; i < k; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return -1;
                c = c << 6 | (s[i] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
                return -1;
        *len = k;
        return (int32_t) c;
}

static size_t utf8_put(char *out, uint32_t c) {
        if (c < 0x80) {
                out[0] = (char) c;
                return 1;
        }
        if (c < 0x800) {
                out[0] = (char) (0xc0 | c >> 6);
                out[1] = (char) (0x80 | (c & 0x3f));
                return 2;
        }
        if (c < 0x10000) {
                out[0] = (char) (0xe0 | c >> 12);
                out[1] = (char) (0x80 | (c >> 6 & 0x3f));
                out[2] = (char) (0x80 | (c & 0x3f));
                return 3;
        }
        out[0] = (char) (0xf0 | c >> 18);
        out[1] = (char) (0x80 | (c >> 12 & 0x3f));
        out[2] = (char) (0x80 | (c >> 6 & 0x3f));
        out[3] = (char) (0x80 | (c & 0x3f));
        return 4;
}

/*
 * Converts n UTF-16BE units at p to UTF-8 into out (NULL: only measure).
 * Returns the UTF-8 length, or -1 with *bad set to the index of the unit
 * at fault: an unpaired surrogate (*nul false) or U+0000 (*nul true).
 */
static int64_t utf16_to_utf8(const uint8_t *p, uint64_t n, char *out, uint64_t *bad, bool *nul) {
        int64_t len = 0;
        char tmp[4];

        for (uint64_t i = 0; i < n; i++) {
                uint32_t c = (uint32_t) p[2 * i] << 8 | p[2 * i + 1];
                *bad = i;
                *nul = c == 0;
                if (c == 0)
                        return -1;
                if (c >= 0xdc00 && c <= 0xdfff)
                        return -1; /* a low surrogate first */
                if (c >= 0xd800 && c <= 0xdbff) {
                        uint32_t lo = i + 1 < n ? (uint32_t) p[2 * i + 2] << 8 | p[2 * i + 3] : 0;
                        if (lo < 0xdc00 || lo > 0xdfff)
                                return -1;
                        c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
                        i++;
                }
                len += (int64_t) utf8_put(out ? out + len : tmp, c);
        }
        return len;
}

/* ---- the encoder ------------------------------------------------------------ */

typedef struct wobj {
        const rk_value *v; /* NULL for a dictionary key */
        const char *s;     /* a key or a string value: its bytes */
        size_t len;
        size_t first_ref;  /* containers: their members' numbers start at refs[first_ref] */
        unsigned depth;
} wobj;

typedef struct writer {
        wobj *objs;
        size_t n_objs, cap_objs;
        uint32_t *refs;
        size_t n_refs, cap_refs;
        uint32_t *strings; /* open addressing on the string bytes: object number + 1, 0 when free */
        size_t cap_strings, n_strings;
        size_t n_values;   /* references as the decoder counts them */
        uint8_t *buf;
        size_t len, cap;
} writer;

static void writer_done(writer *w) {
        free(w->objs);
        free(w->refs);
        free(w->strings);
        free(w->buf);
}

static uint64_t hash_bytes(const char *s, size_t n) {
        uint64_t h = 14695981039346656037ULL;
        for (size_t i = 0; i < n; i++) {
                h ^= (uint8_t) s[i];
                h *= 1099511628211ULL;
        }
        return h;
}

/* Room for need elements of size bytes: the (moved) array, or NULL with p left as it was. */
static void *grow(void *p, size_t *cap, size_t need, size_t size) {
        size_t c = *cap ? *cap : 16;

        if (p && need <= *cap)
                return p;
        while (c < need)
                c *= 2;
        p = reallocarray(p, c, size);
        if (p)
                *cap = c;
        return p;
}

#define GROW(arr, cap, need)                                                   \
        ({                                                                     \
                __typeof__(arr) _g_ = grow((arr), &(cap), (need), sizeof(*(arr))); \
                if (_g_)                                                       \
                        (arr) = _g_;                                           \
                _g_ ? 0 : -ENOMEM;                                             \
        })

/* The slot of string s in the table: where it is, or the free slot where it goes. */
static uint32_t *string_slot(writer *w, const char *s, size_t len) {
        size_t mask = w->cap_strings - 1;
        for (size_t i = hash_bytes(s, len) & mask;; i = (i + 1) & mask) {
                uint32_t *slot = &w->strings[i];
                if (*slot == 0)
                        return slot;
                const wobj *o = &w->objs[*slot - 1];
                if (o->len == len && memcmp(o->s, s, len) == 0)
                        return slot;
        }
}

static int strings_grow(writer *w) {
        size_t cap = w->cap_strings ? w->cap_strings * 2 : 64;
        uint32_t *old = w->strings;
        size_t old_cap = w->cap_strings;

        w->strings = calloc(cap, sizeof(*w->strings));
        if (!w->strings) {
                w->strings = old;
                return -ENOMEM;
        }
        w->cap_strings = cap;
        for (size_t i = 0; i < old_cap; i++)
                if (old[i]) {
                        const wobj *o = &w->objs[old[i] - 1];
                        *string_slot(w, o->s, o->len) = old[i];
                }
        free(old);
        return 0;
}

/*
 * Gives v (or, with v NULL, the key s) an object number, appending it to
 * the plan unless it is a string already planned.
 */
static int plan_add(writer *w, const rk_value *v, const char *s, unsigned depth, uint32_t *ret) {
        uint32_t *slot = NULL;
        size_t len = 0;
        int r;

        if (++w->n_values > RK_BPLIST_MAX_VALUES)
                return -E2BIG;
        if (depth > RK_PLIST_MAX_DEPTH)
                return -ELOOP;
        if (!v || rk_value_type(v) == RK_TYPE_STRING) {
                if (v) {
                        s = rk_string(v);
                        len = rk_string_len(v);
                } else
                        len = strlen(s);
                if (2 * (w->n_strings + 1) > w->cap_strings) {
                        r = strings_grow(w);
                        if (r < 0)
                                return r;
                }
                slot = string_slot(w, s, len);
                if (*slot) {
                        *ret = *slot - 1;
                        return 0;
                }
        }
        r = GROW(w->objs, w->cap_objs, w->n_objs + 1);
        if (r < 0)
                return r;
        w->objs[w->n_objs] = (wobj) { .v = v, .s = s, .len = len, .depth = depth };
        if (slot) {
                *slot = (uint32_t) w->n_objs + 1;
                w->n_strings++;
        }
        *ret = (uint32_t) w->n_objs++;
        return 0;
}

/* Numbers every object breadth-first: objects are written in plan order. */
static int plan(writer *w, const rk_value *root) {
        uint32_t top;
        int r;

        r = plan_add(w, root, NULL, 0, &top);
        if (r < 0)
                return r;
        for (size_t i = 0; i < w->n_objs; i++) {
                const rk_value *v = w->objs[i].v;
                unsigned depth = w->objs[i].depth + 1;
                size_t n;

                if (!v || (rk_value_type(v) != RK_TYPE_DICT && rk_value_type(v) != RK_TYPE_ARRAY))
                        continue;
                bool dict = rk_value_type(v) == RK_TYPE_DICT;
                n = dict ? rk_dict_size(v) : rk_array_size(v);
                r = GROW(w->refs, w->cap_refs, w->n_refs + (dict ? 2 * n : n));
                if (r < 0)
                        return r;
                w->objs[i].first_ref = w->n_refs;
                w->n_refs += dict ? 2 * n : n;
                uint32_t *refs = w->refs + w->objs[i].first_ref;
                for (size_t k = 0; k < n && dict; k++) {
                        r = plan_add(w, NULL, rk_dict_key_at(v, k), depth, &refs[k]);
                        if (r < 0)
                                return r;
                }
                for (size_t k = 0; k < n; k++) {
                        r = plan_add(w, dict ? rk_dict_value_at(v, k) : rk_array_get(v, k), NULL, depth,
                                     &refs[dict ? n + k : k]);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int put(writer *w, const void *p, size_t n) {
        int r = GROW(w->buf, w->cap, w->len + n + 1);
        if (r < 0)
                return r;
        memcpy(w->buf + w->len, p, n);
        w->len += n;
        return 0;
}

static int put_uint(writer *w, uint8_t marker, uint64_t v, unsigned size) {
        uint8_t b[9];
        b[0] = marker;
        put_be(b + 1, v, size);
        return put(w, b, 1 + size);
}

/* A marker with a count: in the low nibble below 15, else an integer object after 0xXF. */
static int put_marker(writer *w, uint8_t type, uint64_t count) {
        uint8_t m = (uint8_t) (type << 4 | (count < 15 ? count : 0xf));
        int r = put(w, &m, 1);
        if (r < 0 || count < 15)
                return r;
        unsigned size = int_size(count);
        return put_uint(w, (uint8_t) (0x10 | log2_size(size)), count, size);
}

static int put_string(writer *w, const char *s, size_t len) {
        const uint8_t *u = (const uint8_t *) s;
        size_t units = 0, k;
        bool ascii = true;
        int r;

        for (size_t i = 0; i < len; i += k) {
                if (u[i] > 0 && u[i] < 0x80) { /* the common case, without a call */
                        k = 1;
                        units++;
                        continue;
                }
                int32_t c = utf8_decode(u + i, len - i, &k);
                if (c <= 0) /* invalid, or a NUL */
                        return -EILSEQ;
                ascii = ascii && c < 0x80;
                units += c >= 0x10000 ? 2 : 1;
        }
        if (ascii) {
                r = put_marker(w, 0x5, len);
                return r < 0 ? r : put(w, s, len);
        }
        r = put_marker(w, 0x6, units);
        if (r < 0)
                return r;
        r = GROW(w->buf, w->cap, w->len + 2 * units + 1);
        if (r < 0)
                return r;
        for (size_t i = 0; i < len; i += k) {
                uint32_t c = (uint32_t) utf8_decode(u + i, len - i, &k);
                if (c >= 0x10000) {
                        c -= 0x10000;
                        put_be(w->buf + w->len, 0xd800 | c >> 10, 2);
                        put_be(w->buf + w->len + 2, 0xdc00 | (c & 0x3ff), 2);
                        w->len += 4;
                } else {
                        put_be(w->buf + w->len, c, 2);
                        w->len += 2;
                }
        }
        return 0;
}

static int put_integer(writer *w, const rk_value *v) {
        uint64_t u = 0;
        uint8_t b[17] = { 0x14 };

        rk_integer_u64(v, &u);
        if (rk_integer_is_signed(v) && (int64_t) u < 0)
                return put_uint(w, 0x13, u, 8); /* negative: 8 bytes, two's complement */
        if (u > INT64_MAX) {
                put_be(b + 9, u, 8); /* Apple's 16-byte form; the high half stays 0 */
                return put(w, b, sizeof(b));
        }
        unsigned size = int_size(u);
        return put_uint(w, (uint8_t) (0x10 | log2_size(size)), u, size);
}

static int put_object(writer *w, const wobj *o, unsigned ref_size) {
        const rk_value *v = o->v;
        uint64_t bits;
        double d = 0;
        int r;

        if (!v)
                return put_string(w, o->s, o->len);
        switch (rk_value_type(v)) {
        case RK_TYPE_STRING:
                return put_string(w, o->s, o->len);
        case RK_TYPE_BOOL:
                return put(w, rk_bool(v) ? "\x09" : "\x08", 1);
        case RK_TYPE_INTEGER:
                return put_integer(w, v);
        case RK_TYPE_REAL:
        case RK_TYPE_DATE:
                if (!rk_real(v, &d))
                        rk_date(v, &d);
                memcpy(&bits, &d, sizeof(bits));
                return put_uint(w, rk_value_type(v) == RK_TYPE_REAL ? 0x23 : 0x33, bits, 8);
        case RK_TYPE_DATA: {
                size_t n = 0;
                const uint8_t *p = rk_data(v, &n);
                r = put_marker(w, 0x4, n);
                return r < 0 || n == 0 ? r : put(w, p, n);
        }
        case RK_TYPE_ARRAY:
        case RK_TYPE_DICT: {
                bool dict = rk_value_type(v) == RK_TYPE_DICT;
                size_t n = dict ? rk_dict_size(v) : rk_array_size(v), n_refs = dict ? 2 * n : n;
                r = put_marker(w, dict ? 0xd : 0xa, n);
                if (r < 0)
                        return r;
                r = GROW(w->buf, w->cap, w->len + n_refs * ref_size + 1);
                if (r < 0)
                        return r;
                for (size_t k = 0; k < n_refs; k++, w->len += ref_size)
                        put_be(w->buf + w->len, w->refs[o->first_ref + k], ref_size);
                return 0;
        }
        default:
                return -EINVAL;
        }
}

static int emit(writer *w) {
        _cleanup_(freep) uint64_t *offsets = NULL;
        unsigned ref_size = int_size(w->n_objs - 1), off_size;
        uint8_t trailer[TRAILER_SIZE] = { 0 };
        uint64_t table_off;
        int r;

        offsets = malloc(w->n_objs * sizeof(*offsets));
        if (!offsets)
                return -ENOMEM;
        r = GROW(w->buf, w->cap, HEADER_SIZE + 16 * w->n_objs + TRAILER_SIZE); /* a guess: fewer reallocs */
        if (r >= 0)
                r = put(w, MAGIC, HEADER_SIZE);
        for (size_t i = 0; r >= 0 && i < w->n_objs; i++) {
                offsets[i] = w->len;
                r = put_object(w, &w->objs[i], ref_size);
        }
        if (r < 0)
                return r;
        table_off = w->len;
        off_size = int_size(offsets[w->n_objs - 1]);
        r = GROW(w->buf, w->cap, w->len + w->n_objs * off_size + TRAILER_SIZE + 1);
        if (r < 0)
                return r;
        for (size_t i = 0; i < w->n_objs; i++, w->len += off_size)
                put_be(w->buf + w->len, offsets[i], off_size);
        trailer[6] = (uint8_t) off_size;
        trailer[7] = (uint8_t) ref_size;
        put_be(trailer + 8, w->n_objs, 8);
        put_be(trailer + 16, 0, 8); /* the top object is the first one planned */
        put_be(trailer + 24, table_off, 8);
        return put(w, trailer, TRAILER_SIZE);
}

int rk_bplist_encode(const rk_value *v, char **ret, size_t *ret_len) {
        writer w = { 0 };
        int r;

        if (!v || !ret)
                return -EINVAL;
        r = plan(&w, v);
        if (r >= 0)
                r = emit(&w);
        if (r < 0) {
                writer_done(&w);
                return r;
        }
        w.buf[w.len] = 0; /* put() keeps a byte free */
        if (ret_len)
                *ret_len = w.len;
        *ret = (char *) TAKE_PTR(w.buf);
        writer_done(&w);
        return 0;
}

/* ---- the decoder ------------------------------------------------------------ */

enum { UNSEEN, ON_PATH, DONE };

typedef struct robj {
        rk_value *scalar; /* DONE scalars: the value, shared by every reference */
        uint32_t values;  /* DONE: values it expands to, itself included */
        uint8_t state;
        uint8_t height;   /* DONE: levels of containment below it */
} robj;

typedef struct reader {
        const uint8_t *b;
        size_t len;
        uint64_t n_objects, top, table_off;
        unsigned off_size, ref_size;
        robj *objs;
        const char *name;
        rk_diag *diag;
} reader;

#define NO_OBJECT UINT64_MAX

/* Records the problem (about object i at offset off, when known) and returns -EBADMSG. */
_printf_(4, 5) static int fail(reader *rd, uint64_t i, uint64_t off, const char *fmt, ...) {
        _cleanup_(freep) char *msg = NULL;
        rk_where w = { .file = rd->name };
        va_list ap;

        if (!rd->diag)
                return -EBADMSG;
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        if (i == NO_OBJECT)
                rk_diag_add(rd->diag, RK_DIAG_ERROR, &w, "binary property list: %s", msg ? msg : fmt);
        else
                rk_diag_add(rd->diag, RK_DIAG_ERROR, &w, "binary property list: object %llu at offset %llu: %s",
                            (unsigned long long) i, (unsigned long long) off, msg ? msg : fmt);
        return -EBADMSG;
}

static int read_trailer(reader *rd) {
        const uint8_t *t;

        if (rd->len < HEADER_SIZE + 2 + TRAILER_SIZE)
                return fail(rd, NO_OBJECT, 0, "too short (%zu bytes)", rd->len);
        t = rd->b + rd->len - TRAILER_SIZE;
        rd->off_size = t[6];
        rd->ref_size = t[7];
        rd->n_objects = get_be(t + 8, 8);
        rd->top = get_be(t + 16, 8);
        rd->table_off = get_be(t + 24, 8);
        if (rd->off_size < 1 || rd->off_size > 8 || rd->ref_size < 1 || rd->ref_size > 8)
                return fail(rd, NO_OBJECT, 0, "bad offset or reference size in the trailer (%u, %u)", rd->off_size,
                            rd->ref_size);
        if (rd->n_objects == 0 || rd->n_objects > RK_BPLIST_MAX_OBJECTS)
                return fail(rd, NO_OBJECT, 0, "bad object count %llu in the trailer (limit %u)",
                            (unsigned long long) rd->n_objects, RK_BPLIST_MAX_OBJECTS);
        if (rd->top >= rd->n_objects)
                return fail(rd, NO_OBJECT, 0, "top object %llu out of range (%llu objects)",
                            (unsigned long long) rd->top, (unsigned long long) rd->n_objects);
        if (rd->table_off < HEADER_SIZE + 1 || rd->table_off > rd->len - TRAILER_SIZE ||
            (rd->len - TRAILER_SIZE - rd->table_off) / rd->off_size < rd->n_objects)
                return fail(rd, NO_OBJECT, 0,
                            "offset table out of range (%llu entries of %u bytes at offset %llu, trailer at %zu)",
                            (unsigned long long) rd->n_objects, rd->off_size, (unsigned long long) rd->table_off,
                            rd->len - TRAILER_SIZE);
        return 0;
}

static uint64_t offset_of(const reader *rd, uint64_t i) {
        return get_be(rd->b + rd->table_off + i * rd->off_size, rd->off_size);
}

/*
 * The count of a data, string or container object at off: the marker's low
 * nibble, or the integer object after it.  *hdr is set to the bytes before
 * the body.  Checks that the header and count * unit bytes of body end at or
 * before the offset table.
 */
static int read_count(reader *rd, uint64_t i, uint64_t off, unsigned unit, uint64_t *count, uint64_t *hdr) {
        uint64_t room = rd->table_off - off, n;
        uint8_t low = rd->b[off] & 0x0f, ext;

        if (low != 0x0f) {
                n = low;
                *hdr = 1;
        } else {
                if (room < 2)
                        return fail(rd, i, off, "length runs past the objects");
                ext = rd->b[off + 1];
                if ((ext & 0xf0) != 0x10 || (ext & 0x0f) > 3)
                        return fail(rd, i, off, "bad length marker 0x%02x (wanted an integer of 1 to 8 bytes)",
                                    ext);
                unsigned size = 1u << (ext & 0x0f);
                if (room < 2 + size)
                        return fail(rd, i, off, "length runs past the objects");
                n = get_be(rd->b + off + 2, size);
                *hdr = 2 + size;
        }
        if (n > (room - *hdr) / unit) { /* also keeps n * unit from overflowing */
                uint8_t t = rd->b[off] >> 4;
                const char *what = t == 0xd ? "dictionary entries" :
                                   t == 0xa ? "references" :
                                   t == 0x6 ? "UTF-16 units" : "bytes";
                return fail(rd, i, off, "%llu %s runs past the objects", (unsigned long long) n, what);
        }
        *count = n;
        return 0;
}

static int check_string(reader *rd, uint64_t i, uint64_t off, rk_value **ret) {
        uint64_t n = 0, hdr = 0;
        bool utf16 = (rd->b[off] >> 4) == 0x6;
        int r;

        r = read_count(rd, i, off, utf16 ? 2 : 1, &n, &hdr);
        if (r < 0)
                return r;
        const uint8_t *p = rd->b + off + hdr;
        if (!utf16) {
                size_t k;
                for (uint64_t at = 0; at < n; at += k) {
                        if (p[at] > 0 && p[at] < 0x80) {
                                k = 1;
                                continue;
                        }
                        int32_t c = utf8_decode(p + at, n - at, &k);
                        if (c == 0)
                                return fail(rd, i, off, "string holds a NUL character (byte %llu)",
                                            (unsigned long long) at);
                        if (c < 0)
                                return fail(rd, i, off, "string is not valid UTF-8 (byte %llu)",
                                            (unsigned long long) at);
                }
                return rk_value_new_stringn((const char *) p, n, ret);
        }

        uint64_t bad = 0;
        bool nul = false;
        int64_t len = utf16_to_utf8(p, n, NULL, &bad, &nul);
        if (len < 0 && nul)
                return fail(rd, i, off, "string holds a NUL character (UTF-16 unit %llu)", (unsigned long long) bad);
        if (len < 0)
                return fail(rd, i, off, "string is not valid UTF-16: unpaired surrogate at unit %llu",
                            (unsigned long long) bad);
        char stack[256];
        _cleanup_(freep) char *heap = NULL;
        char *s = stack;
        if ((size_t) len > sizeof(stack)) {
                s = heap = malloc((size_t) len);
                if (!heap)
                        return -ENOMEM;
        }
        (void) utf16_to_utf8(p, n, s, &bad, &nul);
        return rk_value_new_stringn(s, (size_t) len, ret);
}

/* Booleans, numbers and dates: their size is in the marker. */
static int check_fixed(reader *rd, uint64_t i, uint64_t off, rk_value **ret) {
        uint8_t m = rd->b[off], t = m >> 4, low = m & 0x0f;
        uint64_t room = rd->table_off - off - 1, size;
        const uint8_t *p = rd->b + off + 1;

        switch (t) {
        case 0x0:
                if (m != 0x08 && m != 0x09)
                        return fail(rd, i, off, "object 0x%02x (null, fill or URL) has no value type", m);
                return rk_value_new_bool(m == 0x09, ret);
        case 0x1:
                if (low > 4)
                        return fail(rd, i, off, "bad integer size 0x%02x (wanted 1, 2, 4, 8 or 16 bytes)", m);
                size = 1u << low;
                break;
        case 0x2:
                if (low != 2 && low != 3)
                        return fail(rd, i, off, "bad real size 0x%02x (wanted 4 or 8 bytes)", m);
                size = 1u << low;
                break;
        case 0x3:
                if (m != 0x33)
                        return fail(rd, i, off, "bad date object 0x%02x (wanted 0x33)", m);
                size = 8;
                break;
        case 0x8:
                if (low > 7)
                        return fail(rd, i, off, "bad UID size 0x%02x (wanted 1 to 8 bytes)", m);
                size = low + 1u;
                break;
        default:
                assert(false);
                return -EINVAL;
        }
        if (size > room)
                return fail(rd, i, off, "%llu-byte value runs past the objects", (unsigned long long) size);

        if (t == 0x1 && size == 16) {
                uint64_t hi = get_be(p, 8), lo = get_be(p + 8, 8);
                if (hi == 0)
                        return rk_value_new_integer(lo, false, ret);
                if (hi == UINT64_MAX && (int64_t) lo < 0)
                        return rk_value_new_integer(lo, true, ret);
                return fail(rd, i, off, "16-byte integer does not fit in 64 bits");
        }
        if (t == 0x1 || t == 0x8) {
                uint64_t u = get_be(p, (unsigned) size);
                return rk_value_new_integer(u, t == 0x1 && size == 8 && (int64_t) u < 0, ret);
        }
        if (size == 4) {
                uint32_t bits = (uint32_t) get_be(p, 4);
                float f;
                memcpy(&f, &bits, sizeof(f));
                return rk_value_new_real(f, ret);
        }
        uint64_t bits = get_be(p, 8);
        double d;
        memcpy(&d, &bits, sizeof(d));
        return t == 0x3 ? rk_value_new_date(d, ret) : rk_value_new_real(d, ret);
}

static int check_object(reader *rd, uint64_t i, unsigned depth);

/* The members of an array or dictionary (n references after hdr). */
static int check_members(reader *rd, uint64_t i, uint64_t off, uint64_t hdr, uint64_t n, bool dict, unsigned depth) {
        robj *o = &rd->objs[i];
        uint64_t n_refs = dict ? 2 * n : n;

        for (uint64_t k = 0; k < n_refs; k++) {
                uint64_t ref = get_be(rd->b + off + hdr + k * rd->ref_size, rd->ref_size);
                int r;

                if (ref >= rd->n_objects)
                        return fail(rd, i, off, "reference to object %llu, which does not exist (%llu objects)",
                                    (unsigned long long) ref, (unsigned long long) rd->n_objects);
                r = check_object(rd, ref, depth + 1);
                if (r < 0)
                        return r;
                const robj *c = &rd->objs[ref];
                if (dict && k < n && !rk_value_is(c->scalar, RK_TYPE_STRING))
                        return fail(rd, i, off, "dictionary key %llu (object %llu) is a %s, not a string",
                                    (unsigned long long) k, (unsigned long long) ref,
                                    c->scalar ? rk_type_name(rk_value_type(c->scalar)) : "container");
                if (c->height + 1u > o->height)
                        o->height = (uint8_t) (c->height + 1);
                o->values += c->values; /* both <= RK_BPLIST_MAX_VALUES: no overflow */
                if (o->values > RK_BPLIST_MAX_VALUES)
                        return fail(rd, i, off, "expands to more than %u values", RK_BPLIST_MAX_VALUES);
        }
        return 0;
}

static int check_object(reader *rd, uint64_t i, unsigned depth) {
        robj *o = &rd->objs[i];
        uint64_t off = offset_of(rd, i), n = 0, hdr = 0;
        uint8_t t;
        int r;

        if (o->state == DONE) {
                if (depth + o->height > RK_PLIST_MAX_DEPTH)
                        return fail(rd, i, off, "nested deeper than %d levels", RK_PLIST_MAX_DEPTH);
                return 0;
        }
        if (o->state == ON_PATH)
                return fail(rd, i, off, "contains itself");
        if (depth > RK_PLIST_MAX_DEPTH)
                return fail(rd, i, off, "nested deeper than %d levels", RK_PLIST_MAX_DEPTH);
        if (off < HEADER_SIZE || off >= rd->table_off)
                return fail(rd, i, off, "offset outside the object area (%u..%llu)", HEADER_SIZE,
                            (unsigned long long) rd->table_off - 1);

        o->height = 0;
        o->values = 1;
        t = rd->b[off] >> 4;
        switch (t) {
        case 0x0:
        case 0x1:
        case 0x2:
        case 0x3:
        case 0x8:
                r = check_fixed(rd, i, off, &o->scalar);
                break;
        case 0x4:
                r = read_count(rd, i, off, 1, &n, &hdr);
                if (r >= 0)
                        r = rk_value_new_data(rd->b + off + hdr, n, &o->scalar);
                break;
        case 0x5:
        case 0x6:
                r = check_string(rd, i, off, &o->scalar);
                break;
        case 0xa:
        case 0xd:
                r = read_count(rd, i, off, t == 0xd ? 2 * rd->ref_size : rd->ref_size, &n, &hdr);
                if (r < 0)
                        return r;
                o->state = ON_PATH;
                r = check_members(rd, i, off, hdr, n, t == 0xd, depth);
                break;
        default:
                return fail(rd, i, off, "object type 0x%x (%s) has no value type", t,
                            t == 0x7 ? "UTF-8 string" : t == 0xb ? "ordered set" : t == 0xc ? "set" : "unknown");
        }
        if (r < 0)
                return r;
        o->state = DONE;
        return 0;
}

static int build(reader *rd, uint64_t i, rk_value **ret) {
        _cleanup_(rk_value_unrefp) rk_value *c = NULL;
        const robj *o = &rd->objs[i];
        uint64_t off, n = 0, hdr = 0;
        bool dict;
        int r;

        if (o->scalar) {
                *ret = rk_value_ref(o->scalar);
                return 0;
        }
        off = offset_of(rd, i);
        dict = (rd->b[off] >> 4) == 0xd;
        r = read_count(rd, i, off, dict ? 2 * rd->ref_size : rd->ref_size, &n, &hdr);
        assert(r == 0); /* check_object() read it */
        r = dict ? rk_value_new_dict(&c) : rk_value_new_array(&c);
        if (r < 0)
                return r;
        const uint8_t *refs = rd->b + off + hdr;
        for (uint64_t k = 0; k < n; k++) {
                _cleanup_(rk_value_unrefp) rk_value *e = NULL;
                uint64_t ref = get_be(refs + (dict ? n + k : k) * rd->ref_size, rd->ref_size);

                r = build(rd, ref, &e);
                if (r < 0)
                        return r;
                if (!dict) {
                        r = rk_array_append(c, e);
                        if (r < 0)
                                return r;
                        continue;
                }
                const char *key = rk_string(rd->objs[get_be(refs + k * rd->ref_size, rd->ref_size)].scalar);
                size_t before = rk_dict_size(c);
                r = rk_dict_set(c, key, e);
                if (r < 0)
                        return r;
                if (rk_dict_size(c) == before)
                        return fail(rd, i, off, "dictionary holds the key \"%.64s\" twice", key);
        }
        *ret = TAKE_PTR(c);
        return 0;
}

int rk_bplist_decode_named(const void *data, size_t len, const char *name, rk_value **ret, rk_diag *diag) {
        reader rd = { .b = data, .len = len, .name = name, .diag = diag };
        rk_value *v = NULL;
        int r;

        if ((!data && len > 0) || !ret)
                return -EINVAL;
        if (len > RK_PLIST_MAX_SIZE) {
                rk_diag_add(diag, RK_DIAG_ERROR, &(rk_where){ .file = name },
                            "binary property list too large (%zu bytes, limit %u)", len, RK_PLIST_MAX_SIZE);
                return -EFBIG;
        }
        if (len < HEADER_SIZE || memcmp(data, MAGIC, HEADER_SIZE) != 0)
                return fail(&rd, NO_OBJECT, 0, "no \"" MAGIC "\" header");
        r = read_trailer(&rd);
        if (r < 0)
                return r;
        rd.objs = calloc(rd.n_objects, sizeof(*rd.objs));
        if (!rd.objs)
                return -ENOMEM;
        r = check_object(&rd, rd.top, 0);
        if (r >= 0)
                r = build(&rd, rd.top, &v);
        for (uint64_t i = 0; i < rd.n_objects; i++)
                rk_value_unref(rd.objs[i].scalar);
        free(rd.objs);
        if (r < 0)
                return r;
        *ret = v;
        return 0;
}

int rk_bplist_decode(const void *data, size_t len, rk_value **ret, rk_diag *diag) {
        return rk_bplist_decode_named(data, len, NULL, ret, diag);
}
