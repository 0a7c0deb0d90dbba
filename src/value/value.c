/* SPDX-License-Identifier: MIT */
/*
 * The plist value model (see value.h for the ownership rules).
 *
 * Dictionaries are arrays of (key, value) pairs searched linearly: the
 * property tables we hold have tens of keys, and a linear scan of short
 * strings beats hashing at that size.  The matching engine never searches
 * personalities here on its hot path; it compiles them (match/personality.c).
 */
#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/macro.h"
#include "value/value.h"

struct rk_value {
        unsigned refs;
        rk_type type;
        union {
                struct {
                        char **keys;
                        rk_value **vals;
                        size_t n, cap;
                } dict;
                struct {
                        rk_value **items;
                        size_t n, cap;
                } array;
                struct {
                        char *s;
                        size_t len;
                } str;
                struct {
                        uint64_t bits;
                        bool is_signed;
                } integer;
                bool b;
                struct {
                        uint8_t *p;
                        size_t n;
                } data;
                double d;
        };
};

static int value_alloc(rk_type t, rk_value **ret) {
        rk_value *v = calloc(1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        v->refs = 1;
        v->type = t;
        *ret = v;
        return 0;
}

rk_value *rk_value_ref(rk_value *v) {
        if (v) {
                assert(v->refs > 0);
                v->refs++;
        }
        return v;
}

static void value_free(rk_value *v) {
        switch (v->type) {
        case RK_TYPE_DICT:
                for (size_t i = 0; i < v->dict.n; i++) {
                        free(v->dict.keys[i]);
                        rk_value_unref(v->dict.vals[i]);
                }
                free(v->dict.keys);
                free(v->dict.vals);
                break;
        case RK_TYPE_ARRAY:
                for (size_t i = 0; i < v->array.n; i++)
                        rk_value_unref(v->array.items[i]);
                free(v->array.items);
                break;
        case RK_TYPE_STRING:
                free(v->str.s);
                break;
        case RK_TYPE_DATA:
                free(v->data.p);
                break;
        default:
                break;
        }
        free(v);
}

rk_value *rk_value_unref(rk_value *v) {
        if (!v)
                return NULL;
        assert(v->refs > 0);
        if (--v->refs == 0)
                value_free(v);
        return NULL;
}

int rk_value_new_dict(rk_value **ret) {
        if (!ret)
                return -EINVAL;
        return value_alloc(RK_TYPE_DICT, ret);
}

int rk_value_new_array(rk_value **ret) {
        if (!ret)
                return -EINVAL;
        return value_alloc(RK_TYPE_ARRAY, ret);
}

int rk_value_new_stringn(const char *s, size_t n, rk_value **ret) {
        rk_value *v;
        int r;

        if (!s || !ret)
                return -EINVAL;
        r = value_alloc(RK_TYPE_STRING, &v);
        if (r < 0)
                return r;
        v->str.s = malloc(n + 1);
        if (!v->str.s) {
                free(v);
                return -ENOMEM;
        }
        memcpy(v->str.s, s, n);
        v->str.s[n] = 0;
        v->str.len = n;
        *ret = v;
        return 0;
}

int rk_value_new_string(const char *s, rk_value **ret) {
        if (!s)
                return -EINVAL;
        return rk_value_new_stringn(s, strlen(s), ret);
}

int rk_value_new_integer(uint64_t bits, bool is_signed, rk_value **ret) {
        rk_value *v;
        int r;

        if (!ret)
                return -EINVAL;
        r = value_alloc(RK_TYPE_INTEGER, &v);
        if (r < 0)
                return r;
        v->integer.bits = bits;
        v->integer.is_signed = is_signed;
        *ret = v;
        return 0;
}

int rk_value_new_bool(bool b, rk_value **ret) {
        rk_value *v;
        int r;

        if (!ret)
                return -EINVAL;
        r = value_alloc(RK_TYPE_BOOL, &v);
        if (r < 0)
                return r;
        v->b = b;
        *ret = v;
        return 0;
}

int rk_value_new_data(const void *p, size_t n, rk_value **ret) {
        rk_value *v;
        int r;

        if ((!p && n > 0) || !ret)
                return -EINVAL;
        r = value_alloc(RK_TYPE_DATA, &v);
        if (r < 0)
                return r;
        v->data.p = malloc(n ? n : 1);
        if (!v->data.p) {
                free(v);
                return -ENOMEM;
        }
        if (n)
                memcpy(v->data.p, p, n);
        v->data.n = n;
        *ret = v;
        return 0;
}

static int new_double(rk_type t, double d, rk_value **ret) {
        rk_value *v;
        int r;

        if (!ret)
                return -EINVAL;
        r = value_alloc(t, &v);
        if (r < 0)
                return r;
        v->d = d;
        *ret = v;
        return 0;
}

int rk_value_new_date(double s, rk_value **ret) {
        return new_double(RK_TYPE_DATE, s, ret);
}

int rk_value_new_real(double d, rk_value **ret) {
        return new_double(RK_TYPE_REAL, d, ret);
}

rk_type rk_value_type(const rk_value *v) {
        assert(v);
        return v->type;
}

const char *rk_type_name(rk_type t) {
        static const char *const names[_RK_TYPE_MAX] = {
                [RK_TYPE_DICT] = "dictionary", [RK_TYPE_ARRAY] = "array",
                [RK_TYPE_STRING] = "string",   [RK_TYPE_INTEGER] = "integer",
                [RK_TYPE_BOOL] = "boolean",    [RK_TYPE_DATA] = "data",
                [RK_TYPE_DATE] = "date",       [RK_TYPE_REAL] = "real",
        };
        if ((unsigned) t >= _RK_TYPE_MAX)
                return "invalid";
        return names[t];
}

/* ---- dictionaries ---- */

size_t rk_dict_size(const rk_value *d) {
        return rk_value_is(d, RK_TYPE_DICT) ? d->dict.n : 0;
}

const char *rk_dict_key_at(const rk_value *d, size_t i) {
        if (!rk_value_is(d, RK_TYPE_DICT) || i >= d->dict.n)
                return NULL;
        return d->dict.keys[i];
}

rk_value *rk_dict_value_at(const rk_value *d, size_t i) {
        if (!rk_value_is(d, RK_TYPE_DICT) || i >= d->dict.n)
                return NULL;
        return d->dict.vals[i];
}

static ssize_t dict_find(const rk_value *d, const char *key) {
        for (size_t i = 0; i < d->dict.n; i++)
                if (strcmp(d->dict.keys[i], key) == 0)
                        return (ssize_t) i;
        return -1;
}

rk_value *rk_dict_get(const rk_value *d, const char *key) {
        ssize_t i;

        if (!rk_value_is(d, RK_TYPE_DICT) || !key)
                return NULL;
        i = dict_find(d, key);
        return i < 0 ? NULL : d->dict.vals[i];
}

int rk_dict_set(rk_value *d, const char *key, rk_value *v) {
        ssize_t i;

        if (!rk_value_is(d, RK_TYPE_DICT) || !key || !v || v == d)
                return -EINVAL;
        i = dict_find(d, key);
        if (i >= 0) {
                rk_value_ref(v);
                rk_value_unref(d->dict.vals[i]);
                d->dict.vals[i] = v;
                return 0;
        }
        if (d->dict.n == d->dict.cap) {
                size_t cap = d->dict.cap ? d->dict.cap * 2 : 4;
                char **k = realloc(d->dict.keys, cap * sizeof(*k));
                if (!k)
                        return -ENOMEM;
                d->dict.keys = k;
                rk_value **vs = realloc(d->dict.vals, cap * sizeof(*vs));
                if (!vs)
                        return -ENOMEM;
                d->dict.vals = vs;
                d->dict.cap = cap;
        }
        char *k = strdup(key);
        if (!k)
                return -ENOMEM;
        d->dict.keys[d->dict.n] = k;
        d->dict.vals[d->dict.n] = rk_value_ref(v);
        d->dict.n++;
        return 0;
}

int rk_dict_set_string(rk_value *d, const char *key, const char *s) {
        _cleanup_(rk_value_unrefp) rk_value *v = NULL;
        int r = rk_value_new_string(s, &v);
        return r < 0 ? r : rk_dict_set(d, key, v);
}

int rk_dict_set_integer(rk_value *d, const char *key, uint64_t bits, bool is_signed) {
        _cleanup_(rk_value_unrefp) rk_value *v = NULL;
        int r = rk_value_new_integer(bits, is_signed, &v);
        return r < 0 ? r : rk_dict_set(d, key, v);
}

int rk_dict_set_bool(rk_value *d, const char *key, bool b) {
        _cleanup_(rk_value_unrefp) rk_value *v = NULL;
        int r = rk_value_new_bool(b, &v);
        return r < 0 ? r : rk_dict_set(d, key, v);
}

int rk_dict_remove(rk_value *d, const char *key) {
        ssize_t i;

        if (!rk_value_is(d, RK_TYPE_DICT) || !key)
                return -EINVAL;
        i = dict_find(d, key);
        if (i < 0)
                return -ENOENT;
        free(d->dict.keys[i]);
        rk_value_unref(d->dict.vals[i]);
        memmove(d->dict.keys + i, d->dict.keys + i + 1, (d->dict.n - i - 1) * sizeof(char *));
        memmove(d->dict.vals + i, d->dict.vals + i + 1, (d->dict.n - i - 1) * sizeof(rk_value *));
        d->dict.n--;
        return 0;
}

const char *rk_dict_get_string(const rk_value *d, const char *key) {
        return rk_string(rk_dict_get(d, key));
}

bool rk_dict_get_u64(const rk_value *d, const char *key, uint64_t *ret) {
        return rk_integer_u64(rk_dict_get(d, key), ret);
}

/* ---- arrays ---- */

size_t rk_array_size(const rk_value *a) {
        return rk_value_is(a, RK_TYPE_ARRAY) ? a->array.n : 0;
}

rk_value *rk_array_get(const rk_value *a, size_t i) {
        if (!rk_value_is(a, RK_TYPE_ARRAY) || i >= a->array.n)
                return NULL;
        return a->array.items[i];
}

int rk_array_append(rk_value *a, rk_value *v) {
        if (!rk_value_is(a, RK_TYPE_ARRAY) || !v || v == a)
                return -EINVAL;
        if (a->array.n == a->array.cap) {
                size_t cap = a->array.cap ? a->array.cap * 2 : 4;
                rk_value **items = realloc(a->array.items, cap * sizeof(*items));
                if (!items)
                        return -ENOMEM;
                a->array.items = items;
                a->array.cap = cap;
        }
        a->array.items[a->array.n++] = rk_value_ref(v);
        return 0;
}

/* ---- scalars ---- */

const char *rk_string(const rk_value *v) {
        return rk_value_is(v, RK_TYPE_STRING) ? v->str.s : NULL;
}

size_t rk_string_len(const rk_value *v) {
        return rk_value_is(v, RK_TYPE_STRING) ? v->str.len : 0;
}

bool rk_integer_u64(const rk_value *v, uint64_t *ret) {
        if (!rk_value_is(v, RK_TYPE_INTEGER))
                return false;
        if (ret)
                *ret = v->integer.bits;
        return true;
}

bool rk_integer_s64(const rk_value *v, int64_t *ret) {
        if (!rk_value_is(v, RK_TYPE_INTEGER))
                return false;
        if (ret)
                memcpy(ret, &v->integer.bits, sizeof(*ret));
        return true;
}

bool rk_integer_is_signed(const rk_value *v) {
        return rk_value_is(v, RK_TYPE_INTEGER) && v->integer.is_signed;
}

bool rk_bool(const rk_value *v) {
        return rk_value_is(v, RK_TYPE_BOOL) && v->b;
}

const uint8_t *rk_data(const rk_value *v, size_t *len) {
        if (!rk_value_is(v, RK_TYPE_DATA))
                return NULL;
        if (len)
                *len = v->data.n;
        return v->data.p;
}

bool rk_real(const rk_value *v, double *ret) {
        if (!rk_value_is(v, RK_TYPE_REAL))
                return false;
        if (ret)
                *ret = v->d;
        return true;
}

bool rk_date(const rk_value *v, double *ret) {
        if (!rk_value_is(v, RK_TYPE_DATE))
                return false;
        if (ret)
                *ret = v->d;
        return true;
}

bool rk_value_as_u64(const rk_value *v, uint64_t *ret) {
        if (!v)
                return false;
        if (v->type == RK_TYPE_INTEGER) {
                *ret = v->integer.bits;
                return true;
        }
        if (v->type == RK_TYPE_DATA && v->data.n >= 1 && v->data.n <= 8) {
                uint64_t u = 0;
                for (size_t i = 0; i < v->data.n; i++)
                        u |= (uint64_t) v->data.p[i] << (8 * i);
                *ret = u;
                return true;
        }
        return false;
}

/* ---- comparison, copy, hash ---- */

bool rk_value_equal(const rk_value *a, const rk_value *b) {
        if (a == b)
                return true;
        if (!a || !b || a->type != b->type)
                return false;
        switch (a->type) {
        case RK_TYPE_DICT:
                if (a->dict.n != b->dict.n)
                        return false;
                for (size_t i = 0; i < a->dict.n; i++)
                        if (!rk_value_equal(a->dict.vals[i], rk_dict_get(b, a->dict.keys[i])))
                                return false;
                return true;
        case RK_TYPE_ARRAY:
                if (a->array.n != b->array.n)
                        return false;
                for (size_t i = 0; i < a->array.n; i++)
                        if (!rk_value_equal(a->array.items[i], b->array.items[i]))
                                return false;
                return true;
        case RK_TYPE_STRING:
                return a->str.len == b->str.len && memcmp(a->str.s, b->str.s, a->str.len) == 0;
        case RK_TYPE_INTEGER:
                return a->integer.bits == b->integer.bits;
        case RK_TYPE_BOOL:
                return a->b == b->b;
        case RK_TYPE_DATA:
                return a->data.n == b->data.n && (a->data.n == 0 || memcmp(a->data.p, b->data.p, a->data.n) == 0);
        case RK_TYPE_DATE:
        case RK_TYPE_REAL:
                return a->d == b->d;
        default:
                return false;
        }
}

bool rk_dict_is_subset(const rk_value *match, const rk_value *table) {
        if (!rk_value_is(match, RK_TYPE_DICT) || !rk_value_is(table, RK_TYPE_DICT))
                return false;
        for (size_t i = 0; i < match->dict.n; i++)
                if (!rk_value_equal(match->dict.vals[i], rk_dict_get(table, match->dict.keys[i])))
                        return false;
        return true;
}

int rk_value_copy(const rk_value *v, rk_value **ret) {
        _cleanup_(rk_value_unrefp) rk_value *c = NULL;
        int r;

        if (!v || !ret)
                return -EINVAL;
        switch (v->type) {
        case RK_TYPE_DICT:
                r = rk_value_new_dict(&c);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < v->dict.n; i++) {
                        _cleanup_(rk_value_unrefp) rk_value *e = NULL;
                        r = rk_value_copy(v->dict.vals[i], &e);
                        if (r < 0)
                                return r;
                        r = rk_dict_set(c, v->dict.keys[i], e);
                        if (r < 0)
                                return r;
                }
                break;
        case RK_TYPE_ARRAY:
                r = rk_value_new_array(&c);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < v->array.n; i++) {
                        _cleanup_(rk_value_unrefp) rk_value *e = NULL;
                        r = rk_value_copy(v->array.items[i], &e);
                        if (r < 0)
                                return r;
                        r = rk_array_append(c, e);
                        if (r < 0)
                                return r;
                }
                break;
        case RK_TYPE_STRING:
                r = rk_value_new_stringn(v->str.s, v->str.len, &c);
                break;
        case RK_TYPE_INTEGER:
                r = rk_value_new_integer(v->integer.bits, v->integer.is_signed, &c);
                break;
        case RK_TYPE_BOOL:
                r = rk_value_new_bool(v->b, &c);
                break;
        case RK_TYPE_DATA:
                r = rk_value_new_data(v->data.p, v->data.n, &c);
                break;
        case RK_TYPE_DATE:
                r = rk_value_new_date(v->d, &c);
                break;
        case RK_TYPE_REAL:
                r = rk_value_new_real(v->d, &c);
                break;
        default:
                return -EINVAL;
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
        const uint8_t *b = p;
        for (size_t i = 0; i < n; i++) {
                h ^= b[i];
                h *= 1099511628211ULL;
        }
        return h;
}

uint64_t rk_value_hash(const rk_value *v) {
        uint64_t h = 14695981039346656037ULL ^ (uint64_t) v->type;

        switch (v->type) {
        case RK_TYPE_DICT:
                /* order-independent: equality ignores order */
                for (size_t i = 0; i < v->dict.n; i++)
                        h += fnv1a(rk_value_hash(v->dict.vals[i]), v->dict.keys[i], strlen(v->dict.keys[i]));
                return h;
        case RK_TYPE_ARRAY:
                for (size_t i = 0; i < v->array.n; i++) {
                        uint64_t e = rk_value_hash(v->array.items[i]);
                        h = fnv1a(h, &e, sizeof(e));
                }
                return h;
        case RK_TYPE_STRING:
                return fnv1a(h, v->str.s, v->str.len);
        case RK_TYPE_INTEGER:
                return fnv1a(h, &v->integer.bits, sizeof(v->integer.bits));
        case RK_TYPE_BOOL:
                return fnv1a(h, &v->b, sizeof(v->b));
        case RK_TYPE_DATA:
                return fnv1a(h, v->data.p, v->data.n);
        default:
                return fnv1a(h, &v->d, sizeof(v->d));
        }
}

/* ---- rendering ---- */

typedef struct buf {
        char *p;
        size_t n, cap, max;
        bool truncated;
} buf;

_printf_(2, 3) static void bprintf(buf *b, const char *fmt, ...) {
        va_list ap;
        char tmp[256];
        int n;

        if (b->truncated)
                return;
        va_start(ap, fmt);
        n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        if ((size_t) n >= sizeof(tmp))
                n = sizeof(tmp) - 1;
        if (b->n + (size_t) n > b->max) {
                b->truncated = true;
                return;
        }
        if (b->n + (size_t) n + 1 > b->cap) {
                size_t cap = (b->n + n + 1) * 2;
                char *p = realloc(b->p, cap);
                if (!p) {
                        b->truncated = true;
                        return;
                }
                b->p = p;
                b->cap = cap;
        }
        memcpy(b->p + b->n, tmp, n);
        b->n += n;
        b->p[b->n] = 0;
}

static void render(buf *b, const rk_value *v) {
        switch (v->type) {
        case RK_TYPE_DICT:
                bprintf(b, "{");
                for (size_t i = 0; i < v->dict.n && !b->truncated; i++) {
                        bprintf(b, "%s\"%s\"=", i ? "," : "", v->dict.keys[i]);
                        render(b, v->dict.vals[i]);
                }
                bprintf(b, "}");
                break;
        case RK_TYPE_ARRAY:
                bprintf(b, "(");
                for (size_t i = 0; i < v->array.n && !b->truncated; i++) {
                        if (i)
                                bprintf(b, ",");
                        render(b, v->array.items[i]);
                }
                bprintf(b, ")");
                break;
        case RK_TYPE_STRING:
                bprintf(b, "\"%.200s\"", v->str.s);
                break;
        case RK_TYPE_INTEGER:
                if (v->integer.is_signed && (int64_t) v->integer.bits < 0)
                        bprintf(b, "%" PRId64, (int64_t) v->integer.bits);
                else
                        bprintf(b, "%" PRIu64 "", v->integer.bits);
                break;
        case RK_TYPE_BOOL:
                bprintf(b, "%s", v->b ? "Yes" : "No");
                break;
        case RK_TYPE_DATA:
                bprintf(b, "<");
                for (size_t i = 0; i < v->data.n && !b->truncated; i++)
                        bprintf(b, "%02x", v->data.p[i]);
                bprintf(b, ">");
                break;
        case RK_TYPE_DATE:
                bprintf(b, "date(%g)", v->d);
                break;
        case RK_TYPE_REAL:
                bprintf(b, "%g", v->d);
                break;
        default:
                break;
        }
}

char *rk_value_to_short_string(const rk_value *v, size_t max) {
        buf b = { .max = max ? max : 256 };

        if (!v)
                return strdup("(null)");
        render(&b, v);
        if (!b.p)
                return strdup(b.truncated ? "..." : "");
        if (b.truncated) {
                char *p = realloc(b.p, b.n + 4);
                if (!p)
                        return b.p;
                memcpy(p + b.n, "...", 4);
                return p;
        }
        return b.p;
}
