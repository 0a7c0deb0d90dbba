/* SPDX-License-Identifier: MIT */
/*
 * ringkit's binary plist codec (src/value/bplist.c): round trips of every
 * type and its edges, the exact bytes of a few small documents, agreement
 * with libplist 2.2 in both directions over random values, a real file
 * written by plistutil, and hostile input: every prefix of a valid
 * document, broken trailers and offset tables, cycles, bad sizes, bad text,
 * deep nesting and sharing bombs, each refused with -EBADMSG and one
 * message, never a crash.
 */
#include <errno.h>
#include <plist/plist.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/macro.h"
#include "test.h"
#include "value/bplist.h"
#include "value/plist.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(plist_t, plist_free);

/* ---- building values ----------------------------------------------------------- */

static rk_value *integer(uint64_t bits, bool is_signed) {
        rk_value *v = NULL;
        return rk_value_new_integer(bits, is_signed, &v) < 0 ? NULL : v;
}

static rk_value *real(double d) {
        rk_value *v = NULL;
        return rk_value_new_real(d, &v) < 0 ? NULL : v;
}

static rk_value *string(const char *s) {
        rk_value *v = NULL;
        return rk_value_new_string(s, &v) < 0 ? NULL : v;
}

/* Encodes v, decodes the result, and checks it is equal (reals and dates bit for bit). */
static bool same_bits(const rk_value *a, const rk_value *b);

static bool round_trips(const rk_value *v) {
        _cleanup_(freep) char *buf = NULL;
        _cleanup_(rk_value_unrefp) rk_value *back = NULL;
        size_t n = 0;
        rk_diag d;
        bool ok;

        rk_diag_init(&d);
        ok = rk_bplist_encode(v, &buf, &n) == 0 && rk_bplist_decode(buf, n, &back, &d) == 0 &&
             same_bits(v, back);
        if (!ok)
                rk_diag_print(&d, stderr);
        rk_diag_done(&d);
        return ok;
}

static bool same_bits(const rk_value *a, const rk_value *b) {
        double x, y;
        if (!a || !b || rk_value_type(a) != rk_value_type(b))
                return false;
        switch (rk_value_type(a)) {
        case RK_TYPE_REAL:
        case RK_TYPE_DATE:
                if (!rk_real(a, &x))
                        rk_date(a, &x);
                if (!rk_real(b, &y))
                        rk_date(b, &y);
                return memcmp(&x, &y, sizeof(x)) == 0;
        case RK_TYPE_DICT:
                if (rk_dict_size(a) != rk_dict_size(b))
                        return false;
                for (size_t i = 0; i < rk_dict_size(a); i++)
                        if (!same_bits(rk_dict_value_at(a, i), rk_dict_get(b, rk_dict_key_at(a, i))))
                                return false;
                return true;
        case RK_TYPE_ARRAY:
                if (rk_array_size(a) != rk_array_size(b))
                        return false;
                for (size_t i = 0; i < rk_array_size(a); i++)
                        if (!same_bits(rk_array_get(a, i), rk_array_get(b, i)))
                                return false;
                return true;
        case RK_TYPE_INTEGER: /* the signedness hint survives where the format can carry it */
                return rk_value_equal(a, b);
        default:
                return rk_value_equal(a, b);
        }
}

/* ---- round trips ----------------------------------------------------------------- */

TEST(integers) {
        static const struct {
                uint64_t bits;
                bool is_signed;
                uint8_t marker; /* of the encoded object, after the 8-byte header */
        } cases[] = {
                { 0, false, 0x10 },
                { 0, true, 0x10 },
                { 255, false, 0x10 },
                { 256, false, 0x11 },
                { 65535, false, 0x11 },
                { 65536, false, 0x12 },
                { UINT32_MAX, false, 0x12 },
                { (uint64_t) UINT32_MAX + 1, false, 0x13 },
                { (uint64_t) -1, true, 0x13 },             /* -1 */
                { (uint64_t) INT64_MIN, true, 0x13 },      /* INT64_MIN */
                { (uint64_t) INT64_MAX, false, 0x13 },
                { (uint64_t) INT64_MAX, true, 0x13 },
                { (uint64_t) INT64_MAX + 1, false, 0x14 }, /* 2^63: Apple's 16-byte form */
                { UINT64_MAX, false, 0x14 },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(rk_value_unrefp) rk_value *v = integer(cases[i].bits, cases[i].is_signed), *back = NULL;
                _cleanup_(freep) char *buf = NULL;
                size_t n = 0;
                uint64_t u = 0;
                ASSERT(v);
                ASSERT(rk_bplist_encode(v, &buf, &n) == 0);
                CHECK_INTEQ((uint8_t) buf[8], cases[i].marker);
                ASSERT(rk_bplist_decode(buf, n, &back, NULL) == 0);
                CHECK(rk_integer_u64(back, &u) && u == cases[i].bits);
                /* negative numbers come back signed; the 16-byte form unsigned */
                CHECK(rk_integer_is_signed(back) == (cases[i].is_signed && (int64_t) cases[i].bits < 0));
        }
}

TEST(reals_and_dates) {
        static const double reals[] = { 0.0, -0.0, 1.0, -1.5, 1e308, -1e308, 4.9e-324, 2.2250738585072014e-308,
                                        3.141592653589793, 1e-300 };
        for (size_t i = 0; i < ELEMENTSOF(reals); i++) {
                _cleanup_(rk_value_unrefp) rk_value *v = real(reals[i]), *dt = NULL;
                ASSERT(v);
                CHECK(round_trips(v));
                ASSERT(rk_value_new_date(reals[i], &dt) == 0);
                CHECK(round_trips(dt));
        }
        /* NaN and the infinities, compared bit for bit (NaN != NaN for rk_value_equal) */
        uint64_t specials[] = { 0x7ff8000000000000ULL, 0xfff8000000000001ULL, 0x7ff0000000000000ULL,
                                0xfff0000000000000ULL };
        for (size_t i = 0; i < ELEMENTSOF(specials); i++) {
                double d;
                memcpy(&d, &specials[i], sizeof(d));
                _cleanup_(rk_value_unrefp) rk_value *v = real(d);
                ASSERT(v);
                CHECK(round_trips(v));
        }
}

TEST(float32_reals_decode) {
        /* 0x22: a 4-byte real, as Apple writes some; 1.5f */
        static const uint8_t doc[] = "bplist00\x22\x3f\xc0\x00\x00\x08"
                                     "\0\0\0\0\0\0\x01\x01"
                                     "\0\0\0\0\0\0\0\x01\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x0d";
        _cleanup_(rk_value_unrefp) rk_value *v = NULL;
        double d = 0;
        ASSERT(rk_bplist_decode(doc, sizeof(doc) - 1, &v, NULL) == 0);
        CHECK(rk_real(v, &d) && d == 1.5);
}

TEST(booleans_and_empty_containers) {
        _cleanup_(rk_value_unrefp) rk_value *t = NULL, *f = NULL, *d = NULL, *a = NULL, *s = string(""), *data = NULL;
        ASSERT(rk_value_new_bool(true, &t) == 0 && rk_value_new_bool(false, &f) == 0);
        ASSERT(rk_value_new_dict(&d) == 0 && rk_value_new_array(&a) == 0);
        ASSERT(rk_value_new_data(NULL, 0, &data) == 0 && s);
        CHECK(round_trips(t));
        CHECK(round_trips(f));
        CHECK(round_trips(d));
        CHECK(round_trips(a));
        CHECK(round_trips(s));
        CHECK(round_trips(data));
}

/* An exact document, laid out as CoreFoundation does, for {"a": 1, "b": ["a", true]}. */
TEST(exact_bytes) {
        _cleanup_(rk_value_unrefp) rk_value *d = NULL, *a = NULL, *t = NULL;
        _cleanup_(freep) char *buf = NULL;
        size_t n = 0;
        static const uint8_t want[] = "bplist00"
                                      "\xd2\x01\x02\x03\x04" /* 0: dict, keys 1 2, values 3 4 */
                                      "\x51" "a"             /* 1: "a" */
                                      "\x51" "b"             /* 2: "b" */
                                      "\x10\x01"             /* 3: 1 */
                                      "\xa2\x01\x05"         /* 4: ["a" (shared), true] */
                                      "\x09"                 /* 5: true */
                                      "\x08\x0d\x0f\x11\x13\x16" /* offset table */
                                      "\0\0\0\0\0\0\x01\x01"
                                      "\0\0\0\0\0\0\0\x06"
                                      "\0\0\0\0\0\0\0\0"
                                      "\0\0\0\0\0\0\0\x17";
        ASSERT(rk_value_new_dict(&d) == 0 && rk_value_new_array(&a) == 0 && rk_value_new_bool(true, &t) == 0);
        ASSERT(rk_dict_set_integer(d, "a", 1, false) == 0);
        _cleanup_(rk_value_unrefp) rk_value *s = string("a");
        ASSERT(rk_array_append(a, s) == 0 && rk_array_append(a, t) == 0 && rk_dict_set(d, "b", a) == 0);
        ASSERT(rk_bplist_encode(d, &buf, &n) == 0);
        CHECK_INTEQ(n, sizeof(want) - 1);
        CHECK(n == sizeof(want) - 1 && memcmp(buf, want, n) == 0);
        CHECK_INTEQ(buf[n], 0); /* NUL after the end, not counted */
}

static char *repeat(const char *unit, size_t times) {
        size_t u = strlen(unit);
        char *s = malloc(u * times + 1);
        if (!s)
                return NULL;
        for (size_t i = 0; i < times; i++)
                memcpy(s + i * u, unit, u);
        s[u * times] = 0;
        return s;
}

TEST(strings_short_long_and_unicode) {
        static const struct {
                const char *unit;
                size_t times;
                uint8_t marker;
        } cases[] = {
                { "a", 14, 0x5e },
                { "a", 15, 0x5f },          /* the first length that needs an integer after the marker */
                { "a", 255, 0x5f },
                { "a", 256, 0x5f },
                { "a", 70000, 0x5f },       /* 4-byte length */
                { "\xc3\xa9", 3, 0x63 },    /* é: UTF-16 */
                { "\xe9\x92\x9f", 20, 0x6f },
                { "\xf0\x9f\x98\x80", 7, 0x6e }, /* U+1F600: surrogate pairs, 14 units */
                { "x\xf0\x9f\x98\x80", 40000, 0x6f }, /* 120000 units, more than 2^16 */
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(freep) char *s = repeat(cases[i].unit, cases[i].times), *buf = NULL;
                _cleanup_(rk_value_unrefp) rk_value *v = NULL, *back = NULL;
                size_t n = 0;
                ASSERT(s && rk_value_new_string(s, &v) == 0);
                ASSERT(rk_bplist_encode(v, &buf, &n) == 0);
                CHECK_INTEQ((uint8_t) buf[8], cases[i].marker);
                ASSERT(rk_bplist_decode(buf, n, &back, NULL) == 0);
                CHECK_STREQ(rk_string(back), s);
                CHECK_INTEQ(rk_string_len(back), strlen(s));
        }
}

TEST(encoder_refuses_bad_text) {
        _cleanup_(rk_value_unrefp) rk_value *bad = string("ab\xc3("), *nul = NULL, *d = NULL;
        char *buf = NULL;
        size_t n = 0;
        ASSERT(bad && rk_value_new_stringn("a\0b", 3, &nul) == 0 && rk_value_new_dict(&d) == 0);
        CHECK_INTEQ(rk_bplist_encode(bad, &buf, &n), -EILSEQ);
        CHECK_INTEQ(rk_bplist_encode(nul, &buf, &n), -EILSEQ);
        ASSERT(rk_dict_set_bool(d, "\xed\xa0\x80", true) == 0); /* a surrogate in UTF-8: invalid */
        CHECK_INTEQ(rk_bplist_encode(d, &buf, &n), -EILSEQ);
        CHECK(buf == NULL);
        CHECK_INTEQ(rk_bplist_encode(NULL, &buf, &n), -EINVAL);
        CHECK_INTEQ(rk_bplist_encode(d, NULL, &n), -EINVAL);
}

TEST(data_blobs) {
        static const size_t sizes[] = { 1, 14, 15, 255, 256, 70000 };
        for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
                _cleanup_(freep) uint8_t *p = malloc(sizes[i]);
                _cleanup_(rk_value_unrefp) rk_value *v = NULL;
                ASSERT(p);
                for (size_t k = 0; k < sizes[i]; k++)
                        p[k] = (uint8_t) (k * 7 + 3);
                ASSERT(rk_value_new_data(p, sizes[i], &v) == 0);
                CHECK(round_trips(v));
        }
}

/* n nested one-element arrays around `true`: the leaf is n deep. */
static rk_value *nest(unsigned n) {
        rk_value *v = NULL;
        if (rk_value_new_bool(true, &v) < 0)
                return NULL;
        for (unsigned i = 0; i < n; i++) {
                rk_value *a = NULL;
                if (rk_value_new_array(&a) < 0 || rk_array_append(a, v) < 0) {
                        rk_value_unref(a);
                        rk_value_unref(v);
                        return NULL;
                }
                rk_value_unref(v);
                v = a;
        }
        return v;
}

TEST(nesting_at_and_past_the_limit) {
        _cleanup_(rk_value_unrefp) rk_value *ok = nest(RK_PLIST_MAX_DEPTH), *deep = nest(RK_PLIST_MAX_DEPTH + 1);
        char *buf = NULL;
        size_t n = 0;
        ASSERT(ok && deep);
        CHECK(round_trips(ok));
        CHECK_INTEQ(rk_bplist_encode(deep, &buf, &n), -ELOOP);
        CHECK(buf == NULL);
}

TEST(mixed_document_shares_strings) {
        _cleanup_(rk_value_unrefp) rk_value *root = NULL;
        _cleanup_(freep) char *buf = NULL;
        size_t n = 0;
        ASSERT(rk_value_new_array(&root) == 0);
        for (int i = 0; i < 50; i++) {
                _cleanup_(rk_value_unrefp) rk_value *d = NULL;
                ASSERT(rk_value_new_dict(&d) == 0);
                ASSERT(rk_dict_set_string(d, "IOProviderClass", "IOUSBHostDevice") == 0);
                ASSERT(rk_dict_set_integer(d, "idVendor", (uint64_t) i, false) == 0);
                ASSERT(rk_array_append(root, d) == 0);
        }
        ASSERT(rk_bplist_encode(root, &buf, &n) == 0);
        /* each key and the repeated string once: far less than 50 copies */
        CHECK(n < 50 * (sizeof("IOProviderClass") + sizeof("IOUSBHostDevice")));
        CHECK(round_trips(root));
}

/* ---- libplist, both ways ----------------------------------------------------------- */

/* libplist 2.2's model back to ours, as the libplist edge of plist.c did it. */
static rk_value *from_libplist(plist_t p) {
        rk_value *v = NULL;
        int r = -EINVAL;

        switch (plist_get_node_type(p)) {
        case PLIST_DICT: {
                plist_dict_iter it = NULL;
                r = rk_value_new_dict(&v);
                plist_dict_new_iter(p, &it);
                for (;;) {
                        char *key = NULL;
                        plist_t item = NULL;
                        plist_dict_next_item(p, it, &key, &item);
                        if (!item) {
                                free(key);
                                break;
                        }
                        rk_value *e = from_libplist(item);
                        if (!e || rk_dict_set(v, key, e) < 0)
                                r = -EINVAL;
                        rk_value_unref(e);
                        free(key);
                }
                free(it);
                break;
        }
        case PLIST_ARRAY:
                r = rk_value_new_array(&v);
                for (uint32_t i = 0; i < plist_array_get_size(p); i++) {
                        rk_value *e = from_libplist(plist_array_get_item(p, i));
                        if (!e || rk_array_append(v, e) < 0)
                                r = -EINVAL;
                        rk_value_unref(e);
                }
                break;
        case PLIST_STRING: {
                char *s = NULL;
                plist_get_string_val(p, &s);
                r = rk_value_new_string(s ? s : "", &v);
                free(s);
                break;
        }
        case PLIST_UINT: {
                uint64_t u = 0;
                plist_get_uint_val(p, &u);
                r = rk_value_new_integer(u, (int64_t) u < 0, &v);
                break;
        }
        case PLIST_BOOLEAN: {
                uint8_t b = 0;
                plist_get_bool_val(p, &b);
                r = rk_value_new_bool(b, &v);
                break;
        }
        case PLIST_REAL: {
                double d = 0;
                plist_get_real_val(p, &d);
                r = rk_value_new_real(d, &v);
                break;
        }
        case PLIST_DATE: {
                int32_t sec = 0, usec = 0;
                plist_get_date_val(p, &sec, &usec);
                r = rk_value_new_date((double) sec + usec / 1e6, &v);
                break;
        }
        case PLIST_DATA: {
                char *b = NULL;
                uint64_t n = 0;
                plist_get_data_val(p, &b, &n);
                r = rk_value_new_data(b, b ? n : 0, &v);
                free(b);
                break;
        }
        default:
                break;
        }
        if (r < 0)
                return rk_value_unref(v);
        return v;
}

static plist_t to_libplist(const rk_value *v) {
        plist_t p = NULL;
        switch (rk_value_type(v)) {
        case RK_TYPE_DICT:
                p = plist_new_dict();
                for (size_t i = 0; i < rk_dict_size(v); i++)
                        plist_dict_set_item(p, rk_dict_key_at(v, i), to_libplist(rk_dict_value_at(v, i)));
                return p;
        case RK_TYPE_ARRAY:
                p = plist_new_array();
                for (size_t i = 0; i < rk_array_size(v); i++)
                        plist_array_append_item(p, to_libplist(rk_array_get(v, i)));
                return p;
        case RK_TYPE_STRING:
                return plist_new_string(rk_string(v));
        case RK_TYPE_INTEGER: {
                uint64_t u = 0;
                rk_integer_u64(v, &u);
                return plist_new_uint(u);
        }
        case RK_TYPE_BOOL:
                return plist_new_bool(rk_bool(v));
        case RK_TYPE_DATA: {
                size_t n = 0;
                const uint8_t *b = rk_data(v, &n);
                return plist_new_data((const char *) b, n);
        }
        case RK_TYPE_DATE: {
                double d = 0;
                rk_date(v, &d);
                return plist_new_date((int32_t) d, 0); /* whole seconds here */
        }
        case RK_TYPE_REAL: {
                double d = 0;
                rk_real(v, &d);
                return plist_new_real(d);
        }
        default:
                return NULL;
        }
}

/* xorshift64*: the same values on every run */
static uint64_t rnd_state = 0x2545f4914f6cdd1dULL;
static uint64_t rnd(void) {
        rnd_state ^= rnd_state >> 12;
        rnd_state ^= rnd_state << 25;
        rnd_state ^= rnd_state >> 27;
        return rnd_state * 2685821657736338717ULL;
}

static void random_text(char *s, size_t max) {
        static const char *const pieces[] = { "a", "Z", "0", " ", "IO", "Match", "\xc3\xa9", "\xe9\x92\x9f",
                                              "\xf0\x9f\x98\x80", "-", "_", "\xe2\x82\xac" };
        size_t n = 0, k = rnd() % 24;
        for (size_t i = 0; i < k; i++) {
                const char *p = pieces[rnd() % ELEMENTSOF(pieces)];
                if (n + strlen(p) + 1 > max)
                        break;
                memcpy(s + n, p, strlen(p));
                n += strlen(p);
        }
        s[n] = 0;
}

/* A random value that libplist 2.2 represents exactly: dates in whole seconds within int32. */
static rk_value *random_value(unsigned depth) {
        rk_value *v = NULL;
        char text[128];
        unsigned kind = (unsigned) (rnd() % (depth < 5 ? 9 : 7));
        int r = 0;

        switch (kind) {
        case 0: {
                static const uint64_t edges[] = { 0, 1, 14, 15, 255, 256, 65535, 65536, UINT32_MAX,
                                                  (uint64_t) INT64_MAX, (uint64_t) INT64_MAX + 1, UINT64_MAX,
                                                  (uint64_t) -1, (uint64_t) INT64_MIN };
                uint64_t u = rnd() % 2 ? edges[rnd() % ELEMENTSOF(edges)] : rnd() >> (rnd() % 64);
                r = rk_value_new_integer(u, rnd() % 2, &v);
                break;
        }
        case 1:
                random_text(text, sizeof(text));
                r = rk_value_new_string(text, &v);
                break;
        case 2:
                r = rk_value_new_bool(rnd() % 2, &v);
                break;
        case 3: {
                double d = (double) (int64_t) rnd() / (double) (1 + rnd() % 1000000);
                r = rk_value_new_real(d, &v);
                break;
        }
        case 4:
                r = rk_value_new_date((double) (int32_t) rnd(), &v);
                break;
        case 5: {
                uint8_t b[40];
                size_t n = rnd() % sizeof(b);
                for (size_t i = 0; i < n; i++)
                        b[i] = (uint8_t) rnd();
                r = rk_value_new_data(b, n, &v);
                break;
        }
        case 6:
                random_text(text, sizeof(text));
                r = rk_value_new_string(text, &v);
                break;
        case 7:
        case 8: {
                size_t n = rnd() % 18;
                r = kind == 7 ? rk_value_new_array(&v) : rk_value_new_dict(&v);
                for (size_t i = 0; r >= 0 && i < n; i++) {
                        _cleanup_(rk_value_unrefp) rk_value *e = random_value(depth + 1);
                        if (!e)
                                r = -ENOMEM;
                        else if (kind == 7)
                                r = rk_array_append(v, e);
                        else {
                                random_text(text, sizeof(text));
                                r = rk_dict_set(v, text, e);
                        }
                }
                break;
        }
        }
        if (r < 0)
                return rk_value_unref(v);
        return v;
}

TEST(libplist_agrees_both_ways) {
        unsigned ours_ok = 0, theirs_ok = 0;
        for (int i = 0; i < 400; i++) {
                _cleanup_(rk_value_unrefp) rk_value *v = random_value(0);
                ASSERT(v);

                /* ours -> libplist */
                _cleanup_(freep) char *buf = NULL;
                _cleanup_(plist_freep) plist_t p = NULL;
                size_t n = 0;
                ASSERT(rk_bplist_encode(v, &buf, &n) == 0);
                plist_from_bin(buf, (uint32_t) n, &p);
                _cleanup_(rk_value_unrefp) rk_value *theirs = p ? from_libplist(p) : NULL;
                if (rk_value_equal(v, theirs))
                        ours_ok++;
                else {
                        _cleanup_(freep) char *s = rk_value_to_short_string(v, 300);
                        fprintf(stderr, "libplist reads ours differently: %s\n", s);
                }

                /* libplist -> ours */
                _cleanup_(plist_freep) plist_t q = to_libplist(v);
                char *bin = NULL;
                uint32_t bn = 0;
                ASSERT(q);
                plist_to_bin(q, &bin, &bn);
                ASSERT(bin);
                _cleanup_(rk_value_unrefp) rk_value *back = NULL;
                rk_diag d;
                rk_diag_init(&d);
                if (rk_bplist_decode(bin, bn, &back, &d) == 0 && rk_value_equal(v, back))
                        theirs_ok++;
                else {
                        _cleanup_(freep) char *s = rk_value_to_short_string(v, 300);
                        fprintf(stderr, "we read libplist's differently: %s\n", s);
                        rk_diag_print(&d, stderr);
                }
                rk_diag_done(&d);
                plist_to_bin_free(bin);
        }
        CHECK_INTEQ(ours_ok, 400);
        CHECK_INTEQ(theirs_ok, 400);
}

TEST(plistutil_file) {
        /* written by plistutil (libplist 2.2) from the XML next to it */
        _cleanup_(rk_value_unrefp) rk_value *x = NULL, *b = NULL;
        _cleanup_(freep) char *buf = NULL;
        size_t n = 0;
        FILE *f = fopen(rk_test_path("tests/data/macos/IntelMausi.kext-Info.binary.plist"), "rbe");
        ASSERT(f);
        buf = malloc(1 << 16);
        if (buf)
                n = fread(buf, 1, 1 << 16, f);
        fclose(f);
        ASSERT(buf && n > 0);
        ASSERT(rk_plist_load(rk_test_path("tests/data/macos/IntelMausi.kext-Info.plist"), &x, NULL) == 0);
        ASSERT(rk_bplist_decode(buf, n, &b, NULL) == 0);
        CHECK(rk_value_equal(x, b));
        CHECK(round_trips(b));
}

/* ---- hostile input -------------------------------------------------------------------- */

/* Expects -EBADMSG, no value, and exactly one message holding `what`. */
static bool refused(const void *buf, size_t len, const char *what) {
        rk_value *v = NULL;
        rk_diag d;
        bool ok;

        rk_diag_init(&d);
        ok = rk_bplist_decode_named(buf, len, "hostile", &v, &d) == -EBADMSG && !v && d.n == 1 &&
             strstr(d.items[0].message, what) && d.items[0].file && streq(d.items[0].file, "hostile");
        if (!ok) {
                fprintf(stderr, "wanted -EBADMSG and '%s', got:\n", what);
                rk_diag_print(&d, stderr);
        }
        rk_value_unref(v);
        rk_diag_done(&d);
        return ok;
}

/*
 * "bplist00" + objects + offset table (2-byte offsets) + trailer, with the
 * given reference size, object count and top object.
 */
static size_t make(uint8_t *out, const char *const *objs, const size_t *lens, size_t n, unsigned ref_size,
                   uint64_t count, uint64_t top) {
        size_t p = 8, offs[300];
        memcpy(out, "bplist00", 8);
        for (size_t i = 0; i < n; i++) {
                offs[i] = p;
                memcpy(out + p, objs[i], lens[i]);
                p += lens[i];
        }
        size_t table = p;
        for (size_t i = 0; i < n; i++) {
                out[p++] = (uint8_t) (offs[i] >> 8);
                out[p++] = (uint8_t) offs[i];
        }
        memset(out + p, 0, 32);
        out[p + 6] = 2;
        out[p + 7] = (uint8_t) ref_size;
        for (int k = 0; k < 8; k++) {
                out[p + 8 + k] = (uint8_t) (count >> (56 - 8 * k));
                out[p + 16 + k] = (uint8_t) (top >> (56 - 8 * k));
                out[p + 24 + k] = (uint8_t) ((uint64_t) table >> (56 - 8 * k));
        }
        return p + 32;
}

#define MAKE1(buf, obj) make((buf), (const char *const[]){ obj }, (const size_t[]){ sizeof(obj) - 1 }, 1, 1, 1, 0)
#define MAKE2(buf, a, b)                                                                                   \
        make((buf), (const char *const[]){ a, b }, (const size_t[]){ sizeof(a) - 1, sizeof(b) - 1 }, 2, 1, 2, 0)

TEST(hand_made_valid) {
        uint8_t buf[128];
        _cleanup_(rk_value_unrefp) rk_value *v = NULL;
        uint64_t u = 0;
        size_t n = make(buf, (const char *const[]){ "\xd1\x01\x02", "\x51k", "\x10\x2a" }, (const size_t[]){ 3, 2, 2 },
                        3, 1, 3, 0);
        ASSERT(rk_bplist_decode(buf, n, &v, NULL) == 0);
        CHECK(rk_dict_get_u64(v, "k", &u) && u == 42);
        /* a UID reads as an unsigned integer, as libplist maps it */
        _cleanup_(rk_value_unrefp) rk_value *uid = NULL;
        ASSERT(rk_bplist_decode(buf, MAKE1(buf, "\x81\x01\x02"), &uid, NULL) == 0);
        CHECK(rk_integer_u64(uid, &u) && u == 258 && !rk_integer_is_signed(uid));
        /* a 16-byte integer sign-extending a negative one */
        _cleanup_(rk_value_unrefp) rk_value *neg = NULL;
        ASSERT(rk_bplist_decode(buf,
                                MAKE1(buf, "\x14\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xfe"),
                                &neg, NULL) == 0);
        CHECK(rk_integer_u64(neg, &u) && u == (uint64_t) -2 && rk_integer_is_signed(neg));
        /* UTF-8 in a 0x5 string (not what Apple writes, but what some writers do) */
        _cleanup_(rk_value_unrefp) rk_value *s = NULL;
        ASSERT(rk_bplist_decode(buf, MAKE1(buf, "\x52\xc3\xa9"), &s, NULL) == 0);
        CHECK_STREQ(rk_string(s), "\xc3\xa9");
}

TEST(every_prefix_is_refused) {
        _cleanup_(rk_value_unrefp) rk_value *d = NULL;
        _cleanup_(freep) char *buf = NULL;
        size_t n = 0;
        ASSERT(rk_value_new_dict(&d) == 0);
        ASSERT(rk_dict_set_string(d, "CFBundleIdentifier", "com.example.driver") == 0);
        ASSERT(rk_dict_set_integer(d, "IOProbeScore", 1000, false) == 0);
        ASSERT(rk_dict_set_string(d, "Copyright", "\xc2\xa9 2026") == 0);
        ASSERT(rk_bplist_encode(d, &buf, &n) == 0);
        unsigned refused_ok = 0;
        for (size_t len = 0; len < n; len++) {
                _cleanup_(freep) char *copy = malloc(len ? len : 1); /* exact size: ASan sees overreads */
                ASSERT(copy);
                memcpy(copy, buf, len);
                if (refused(copy, len, len < 8 ? "header" : "binary property list"))
                        refused_ok++;
                else
                        fprintf(stderr, "prefix of %zu bytes\n", len);
        }
        CHECK_INTEQ(refused_ok, n);
}

TEST(every_byte_flipped) {
        /* never a crash; what still decodes must survive its own round trip */
        _cleanup_(rk_value_unrefp) rk_value *v = NULL;
        _cleanup_(freep) char *buf = NULL;
        size_t n = 0;
        unsigned decoded = 0, refused_n = 0;
        rnd_state = 42;
        while (rk_dict_size(v) < 4 || rk_dict_size(v) > 8) { /* a dictionary of a few values */
                rk_value_unref(v);
                v = random_value(3);
                ASSERT(v);
        }
        ASSERT(rk_bplist_encode(v, &buf, &n) == 0);
        for (size_t i = 0; i < n; i++)
                for (int bit = 0; bit < 8; bit++) {
                        _cleanup_(rk_value_unrefp) rk_value *w = NULL;
                        rk_diag d;
                        rk_diag_init(&d);
                        buf[i] ^= (char) (1 << bit);
                        int r = rk_bplist_decode(buf, n, &w, &d);
                        buf[i] ^= (char) (1 << bit);
                        if (r == 0) {
                                decoded++;
                                CHECK(round_trips(w));
                        } else {
                                refused_n++;
                                CHECK_INTEQ(r, -EBADMSG);
                                CHECK_INTEQ(d.n, 1);
                        }
                        rk_diag_done(&d);
                }
        CHECK(decoded + refused_n == 8 * n);
        CHECK(refused_n > 0);
}

TEST(trailer_and_offset_table) {
        uint8_t buf[256];
        size_t n;

        CHECK(refused("bplist00\x08", 9, "too short"));
        CHECK(refused("bplist01\x08", 9, "no \"bplist00\" header"));
        CHECK(refused("", 0, "no \"bplist00\" header"));

        n = MAKE1(buf, "\x09");
        buf[n - 32 + 6] = 0; /* offset size */
        CHECK(refused(buf, n, "bad offset or reference size in the trailer"));
        n = MAKE1(buf, "\x09");
        buf[n - 32 + 7] = 9; /* reference size */
        CHECK(refused(buf, n, "bad offset or reference size in the trailer"));

        /* object count: 0, huge, more than the table holds */
        n = make(buf, (const char *const[]){ "\x09" }, (const size_t[]){ 1 }, 1, 1, 0, 0);
        CHECK(refused(buf, n, "bad object count 0"));
        n = make(buf, (const char *const[]){ "\x09" }, (const size_t[]){ 1 }, 1, 1, UINT64_MAX, 0);
        CHECK(refused(buf, n, "bad object count 18446744073709551615"));
        n = make(buf, (const char *const[]){ "\x09" }, (const size_t[]){ 1 }, 1, 1, RK_BPLIST_MAX_OBJECTS, 0);
        CHECK(refused(buf, n, "offset table out of range"));

        n = make(buf, (const char *const[]){ "\x09" }, (const size_t[]){ 1 }, 1, 1, RK_BPLIST_MAX_OBJECTS + 1, 0);
        CHECK(refused(buf, n, "bad object count 1048577"));

        n = make(buf, (const char *const[]){ "\x09" }, (const size_t[]){ 1 }, 1, 1, 1, 5);
        CHECK(refused(buf, n, "top object 5 out of range"));
        n = make(buf, (const char *const[]){ "\x09" }, (const size_t[]){ 1 }, 1, 1, 1, 1);
        CHECK(refused(buf, n, "top object 1 out of range (1 objects)"));

        /* the table's offset: inside the header, past the trailer, wrapping around */
        static const uint64_t bad_tables[] = { 0, 8, 200, UINT64_MAX };
        for (size_t i = 0; i < ELEMENTSOF(bad_tables); i++) {
                n = MAKE1(buf, "\x09");
                for (int k = 0; k < 8; k++)
                        buf[n - 8 + k] = (uint8_t) (bad_tables[i] >> (56 - 8 * k));
                CHECK(refused(buf, n, "offset table out of range"));
        }

        /* an offset pointing into the table, the header, past the end */
        static const uint8_t bad_offsets[] = { 0, 7, 11, 12, 0xf0 };
        for (size_t i = 0; i < ELEMENTSOF(bad_offsets); i++) {
                n = MAKE2(buf, "\xa1\x01", "\x09");
                buf[n - 32 - 1] = bad_offsets[i];
                CHECK(refused(buf, n, "object 1 at offset"));
                CHECK(refused(buf, n, "outside the object area"));
        }

        /* trailer garbage: random bytes in the 26 bytes that matter never get through */
        unsigned garbage_refused = 0;
        rnd_state = 7;
        for (int i = 0; i < 2000; i++) {
                n = MAKE2(buf, "\xa1\x01", "\x09");
                for (size_t k = n - 26; k < n; k++)
                        if (rnd() % 3 == 0)
                                buf[k] = (uint8_t) rnd();
                _cleanup_(rk_value_unrefp) rk_value *v = NULL;
                int r = rk_bplist_decode(buf, n, &v, NULL);
                if (r == -EBADMSG || (r == 0 && v))
                        garbage_refused++;
        }
        CHECK_INTEQ(garbage_refused, 2000);
}

TEST(references_and_cycles) {
        uint8_t buf[256];

        CHECK(refused(buf, MAKE1(buf, "\xa1\x00"), "object 0 at offset 8: contains itself"));
        /* through another object */
        CHECK(refused(buf, MAKE2(buf, "\xa1\x01", "\xa1\x00"), "object 0 at offset 8: contains itself"));
        /* a dictionary whose value is itself */
        CHECK(refused(buf, MAKE2(buf, "\xd1\x01\x00", "\x51k"), "contains itself"));
        CHECK(refused(buf, MAKE2(buf, "\xa1\x07", "\x09"), "reference to object 7, which does not exist"));
        /* 2-byte references past the object count */
        size_t n = make(buf, (const char *const[]){ "\xa1\x01\x00", "\x09" }, (const size_t[]){ 3, 1 }, 2, 2, 2, 0);
        CHECK(refused(buf, n, "reference to object 256, which does not exist"));
        /* the references run into the offset table */
        CHECK(refused(buf, MAKE1(buf, "\xa5\x00"), "5 references runs past the objects"));
}

TEST(sizes_and_types) {
        uint8_t buf[256];

        CHECK(refused(buf, MAKE1(buf, "\x15\x00"), "bad integer size 0x15"));
        CHECK(refused(buf, MAKE1(buf, "\x13\x00\x01\x02"), "8-byte value runs past the objects"));
        CHECK(refused(buf, MAKE1(buf, "\x24\x00\x00"), "bad real size 0x24"));
        CHECK(refused(buf, MAKE1(buf, "\x21\x00\x00"), "bad real size 0x21"));
        CHECK(refused(buf, MAKE1(buf, "\x32\x00\x00\x00\x00"), "bad date object 0x32"));
        CHECK(refused(buf, MAKE1(buf, "\x88\x00"), "bad UID size 0x88"));
        CHECK(refused(buf, MAKE1(buf, "\x14\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00"),
                      "16-byte integer does not fit in 64 bits"));
        CHECK(refused(buf, MAKE1(buf, "\x14\xff\xff\xff\xff\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x01"),
                      "16-byte integer does not fit in 64 bits"));
        /* length markers: not an integer, 16 bytes, running out */
        CHECK(refused(buf, MAKE1(buf, "\x4f\x20\x01"), "bad length marker 0x20"));
        CHECK(refused(buf, MAKE1(buf, "\x4f\x14\x00"), "bad length marker 0x14"));
        CHECK(refused(buf, MAKE1(buf, "\x4f"), "length runs past the objects"));
        CHECK(refused(buf, MAKE1(buf, "\x4f\x13\x00"), "length runs past the objects"));
        CHECK(refused(buf, MAKE1(buf, "\x4f\x13\xff\xff\xff\xff\xff\xff\xff\xff"), "bytes runs past the objects"));
        CHECK(refused(buf, MAKE1(buf, "\x6f\x13\x80\x00\x00\x00\x00\x00\x00\x00"),
                      "UTF-16 units runs past the objects"));
        CHECK(refused(buf, MAKE1(buf, "\x45\x00"), "5 bytes runs past the objects"));
        CHECK(refused(buf, MAKE1(buf, "\x42\x00"), "2 bytes runs past the objects")); /* one byte short */
        CHECK(refused(buf, MAKE1(buf, "\x4f\x10\x02\x00"), "2 bytes runs past the objects"));
        CHECK(refused(buf, MAKE1(buf, "\x62\x00\x61\x00"), "2 UTF-16 units runs past the objects"));
        /* types without a value */
        CHECK(refused(buf, MAKE1(buf, "\x00"), "object 0x00 (null, fill or URL)"));
        CHECK(refused(buf, MAKE1(buf, "\x0f"), "object 0x0f (null, fill or URL)"));
        CHECK(refused(buf, MAKE1(buf, "\x71\x61"), "object type 0x7 (UTF-8 string)"));
        CHECK(refused(buf, MAKE1(buf, "\xc0"), "object type 0xc (set)"));
        CHECK(refused(buf, MAKE1(buf, "\xf0"), "object type 0xf (unknown)"));
}

TEST(text) {
        uint8_t buf[256];

        CHECK(refused(buf, MAKE1(buf, "\x53" "a\x00" "b"), "string holds a NUL character (byte 1)"));
        CHECK(refused(buf, MAKE1(buf, "\x53" "a\xc3("), "string is not valid UTF-8 (byte 1)"));
        CHECK(refused(buf, MAKE1(buf, "\x52\xc0\xaf"), "not valid UTF-8")); /* overlong */
        CHECK(refused(buf, MAKE1(buf, "\x53\xe0\x80\xaf"), "not valid UTF-8"));
        CHECK(refused(buf, MAKE1(buf, "\x54\xf0\x80\x80\xaf"), "not valid UTF-8"));
        CHECK(refused(buf, MAKE1(buf, "\x54\xf4\x90\x80\x80"), "not valid UTF-8")); /* past U+10FFFF */
        CHECK(refused(buf, MAKE1(buf, "\x52\xe2\x82"), "not valid UTF-8 (byte 0)")); /* cut short */
        CHECK(refused(buf, MAKE1(buf, "\x53\xed\xa0\x80"), "not valid UTF-8")); /* a surrogate */
        CHECK(refused(buf, MAKE1(buf, "\x61\x00\x00"), "string holds a NUL character (UTF-16 unit 0)"));
        CHECK(refused(buf, MAKE1(buf, "\x62\x00\x61\xd8\x00"), "unpaired surrogate at unit 1"));
        CHECK(refused(buf, MAKE1(buf, "\x62\xd8\x00\x00\x61"), "unpaired surrogate at unit 0"));
        CHECK(refused(buf, MAKE1(buf, "\x61\xdc\x00"), "unpaired surrogate at unit 0"));
        /* a valid pair */
        _cleanup_(rk_value_unrefp) rk_value *v = NULL;
        ASSERT(rk_bplist_decode(buf, MAKE1(buf, "\x62\xd8\x3d\xde\x00"), &v, NULL) == 0);
        CHECK_STREQ(rk_string(v), "\xf0\x9f\x98\x80");
}

TEST(dictionary_keys) {
        uint8_t buf[256];
        size_t n;

        n = make(buf, (const char *const[]){ "\xd1\x01\x02", "\x10\x01", "\x09" }, (const size_t[]){ 3, 2, 1 }, 3, 1, 3,
                 0);
        CHECK(refused(buf, n, "dictionary key 0 (object 1) is a integer, not a string"));
        n = make(buf, (const char *const[]){ "\xd1\x01\x02", "\xa0", "\x09" }, (const size_t[]){ 3, 1, 1 }, 3, 1, 3, 0);
        CHECK(refused(buf, n, "is a container, not a string"));
        /* the same key twice: as one shared object, and as ASCII and UTF-16 */
        n = make(buf, (const char *const[]){ "\xd2\x01\x01\x02\x02", "\x51k", "\x09" }, (const size_t[]){ 5, 2, 1 }, 3,
                 1, 3, 0);
        CHECK(refused(buf, n, "dictionary holds the key \"k\" twice"));
        n = make(buf, (const char *const[]){ "\xd2\x01\x03\x02\x02", "\x51k", "\x09", "\x61\x00k" },
                 (const size_t[]){ 5, 2, 1, 3 }, 4, 1, 4, 0);
        CHECK(refused(buf, n, "object 0 at offset 8: dictionary holds the key \"k\" twice"));
}

/* A chain of n - 1 one-element arrays ending in `false`: the leaf is n - 1 deep. */
static size_t chain(uint8_t *buf, size_t n) {
        static char objs_buf[300][2];
        const char *objs[300];
        size_t lens[300];
        for (size_t i = 0; i + 1 < n; i++) {
                objs_buf[i][0] = (char) 0xa1;
                objs_buf[i][1] = (char) (i + 1);
                objs[i] = objs_buf[i];
                lens[i] = 2;
        }
        objs_buf[n - 1][0] = 0x08;
        objs[n - 1] = objs_buf[n - 1];
        lens[n - 1] = 1;
        return make(buf, objs, lens, n, 1, n, 0);
}

TEST(depth_and_sharing) {
        static uint8_t buf[2048];
        _cleanup_(rk_value_unrefp) rk_value *v = NULL;
        CHECK_INTEQ(rk_bplist_decode(buf, chain(buf, RK_PLIST_MAX_DEPTH + 1), &v, NULL), 0);
        CHECK(refused(buf, chain(buf, RK_PLIST_MAX_DEPTH + 2), "nested deeper than 128 levels"));
        CHECK(refused(buf, chain(buf, 250), "object 129 at offset"));

        /*
         * A subtree met again deeper down: the root holds a chain 120 deep
         * (objects 1..121) and a chain of 20 arrays (122..141) whose last
         * one holds the first chain again, 21 + 120 levels down.
         */
        static char deep_buf[142][3];
        const char *deep[142];
        size_t deep_lens[142];
        for (int i = 0; i < 142; i++) {
                deep_buf[i][0] = (char) 0xa1;
                deep_buf[i][1] = (char) (i + 1);
                deep[i] = deep_buf[i];
                deep_lens[i] = 2;
        }
        deep_buf[0][0] = (char) 0xa2;
        deep_buf[0][2] = (char) 122;
        deep_lens[0] = 3;
        deep_buf[121][0] = 0x08;
        deep_lens[121] = 1;
        deep_buf[141][1] = 1;
        CHECK(refused(buf, make(buf, deep, deep_lens, 142, 1, 142, 0),
                      "object 1 at offset 11: nested deeper than 128"));
        deep_buf[0][2] = (char) 132; /* the second chain is 10 long: 11 + 120 levels, still too deep */
        CHECK(refused(buf, make(buf, deep, deep_lens, 142, 1, 142, 0), "nested deeper than 128"));
        deep_buf[0][2] = (char) 141; /* 2 + 120 levels: fine */
        _cleanup_(rk_value_unrefp) rk_value *ok = NULL;
        CHECK_INTEQ(rk_bplist_decode(buf, make(buf, deep, deep_lens, 142, 1, 142, 0), &ok, NULL), 0);

        /* 30 arrays, each holding the next twice: 2^30 values once expanded */
        static char objs_buf[31][3];
        const char *objs[31];
        size_t lens[31];
        for (int i = 0; i < 30; i++) {
                objs_buf[i][0] = (char) 0xa2;
                objs_buf[i][1] = objs_buf[i][2] = (char) (i + 1);
                objs[i] = objs_buf[i];
                lens[i] = 3;
        }
        objs_buf[30][0] = 0x09;
        objs[30] = objs_buf[30];
        lens[30] = 1;
        CHECK(refused(buf, make(buf, objs, lens, 31, 1, 31, 0), "expands to more than 1048576 values"));

        /* sharing within the limit is fine; the shared containers come back distinct */
        _cleanup_(rk_value_unrefp) rk_value *s = NULL;
        static const char leaf[] = { 0x09 };
        objs[5] = leaf;
        lens[5] = 1;
        ASSERT(rk_bplist_decode(buf, make(buf, objs, lens, 6, 1, 6, 0), &s, NULL) == 0);
        CHECK(rk_array_get(s, 0) != rk_array_get(s, 1));
        CHECK(rk_value_equal(rk_array_get(s, 0), rk_array_get(s, 1)));
}

TEST(arguments) {
        rk_value *v = NULL;
        CHECK_INTEQ(rk_bplist_decode(NULL, 3, &v, NULL), -EINVAL);
        CHECK_INTEQ(rk_bplist_decode("bplist00", 8, NULL, NULL), -EINVAL);
        CHECK_INTEQ(rk_bplist_decode("bplist00", 8, &v, NULL), -EBADMSG); /* no diag: fine */
        CHECK_INTEQ(rk_bplist_decode("bplist00", (size_t) RK_PLIST_MAX_SIZE + 1, &v, NULL), -EFBIG);
        CHECK(v == NULL);
}
