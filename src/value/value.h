/* SPDX-License-Identifier: MIT */
/*
 * ringkit values: the plist data model (dictionary, array, string, integer,
 * boolean, data, date, real) as reference-counted immutable-after-build nodes.
 *
 * Every property table in ringkit (Info.plist contents, personalities,
 * registry properties, control messages) is an rk_value.  libplist is used
 * only at the edges to read and write XML and binary plists (plist.c); the
 * rest of the code works on this model so that lookups are cheap and the
 * ownership rules are ours:
 *
 *   - rk_value_new_*() return 0 or -ENOMEM/-EINVAL and the new value (one
 *     reference) through ret.
 *   - rk_dict_set() and rk_array_append() take their own reference; the
 *     caller keeps its own.
 *   - Getters return borrowed pointers valid while the container lives.
 *   - Dictionaries keep insertion order (output reads like the input file);
 *     setting an existing key replaces its value in place.
 *   - Integers are stored as 64 raw bits plus a signedness hint, like
 *     OSNumber; equality compares the bits, as IOKit's isEqualTo does.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum rk_type {
        RK_TYPE_DICT,
        RK_TYPE_ARRAY,
        RK_TYPE_STRING,
        RK_TYPE_INTEGER,
        RK_TYPE_BOOL,
        RK_TYPE_DATA,
        RK_TYPE_DATE,
        RK_TYPE_REAL,
        _RK_TYPE_MAX,
} rk_type;

typedef struct rk_value rk_value;

rk_value *rk_value_ref(rk_value *v);
rk_value *rk_value_unref(rk_value *v); /* returns NULL */
static inline void rk_value_unrefp(rk_value **v) {
        if (*v)
                rk_value_unref(*v);
}

int rk_value_new_dict(rk_value **ret);
int rk_value_new_array(rk_value **ret);
int rk_value_new_string(const char *s, rk_value **ret);
int rk_value_new_stringn(const char *s, size_t n, rk_value **ret);
int rk_value_new_integer(uint64_t bits, bool is_signed, rk_value **ret);
int rk_value_new_bool(bool b, rk_value **ret);
int rk_value_new_data(const void *p, size_t n, rk_value **ret);
int rk_value_new_date(double seconds_since_2001, rk_value **ret);
int rk_value_new_real(double d, rk_value **ret);

rk_type rk_value_type(const rk_value *v);
const char *rk_type_name(rk_type t); /* "dictionary", "array", "string", ... */
static inline bool rk_value_is(const rk_value *v, rk_type t) {
        return v && rk_value_type(v) == t;
}

/* Dictionaries. */
size_t rk_dict_size(const rk_value *d);
const char *rk_dict_key_at(const rk_value *d, size_t i);
rk_value *rk_dict_value_at(const rk_value *d, size_t i);
rk_value *rk_dict_get(const rk_value *d, const char *key); /* NULL if absent or d is no dict */
int rk_dict_set(rk_value *d, const char *key, rk_value *v);  /* -EINVAL, -ENOMEM */
int rk_dict_set_string(rk_value *d, const char *key, const char *s);
int rk_dict_set_integer(rk_value *d, const char *key, uint64_t bits, bool is_signed);
int rk_dict_set_bool(rk_value *d, const char *key, bool b);
int rk_dict_remove(rk_value *d, const char *key); /* -ENOENT if absent */

/* Typed dictionary lookups: NULL / false when absent or of another type. */
const char *rk_dict_get_string(const rk_value *d, const char *key);
bool rk_dict_get_u64(const rk_value *d, const char *key, uint64_t *ret);

/* Arrays. */
size_t rk_array_size(const rk_value *a);
rk_value *rk_array_get(const rk_value *a, size_t i);
int rk_array_append(rk_value *a, rk_value *v);

/* Scalars: NULL / false when v is of another type. */
const char *rk_string(const rk_value *v);
size_t rk_string_len(const rk_value *v);
bool rk_integer_u64(const rk_value *v, uint64_t *ret);
bool rk_integer_s64(const rk_value *v, int64_t *ret);
bool rk_integer_is_signed(const rk_value *v);
bool rk_bool(const rk_value *v); /* false unless a true boolean */
const uint8_t *rk_data(const rk_value *v, size_t *len);
bool rk_real(const rk_value *v, double *ret);
bool rk_date(const rk_value *v, double *ret);

/*
 * Numeric reading as IOKit's families do it: an integer, or data of 1..8
 * bytes read little-endian (PCI registry properties are 4-byte data).
 */
bool rk_value_as_u64(const rk_value *v, uint64_t *ret);

/* Structural equality with OSObject::isEqualTo semantics (no int/real mixing). */
bool rk_value_equal(const rk_value *a, const rk_value *b);

/*
 * IOKit's OSDictionary::isEqualTo(dict, keys) subset test: every key of
 * `match` is present in `table` with an equal value.
 */
bool rk_dict_is_subset(const rk_value *match, const rk_value *table);

int rk_value_copy(const rk_value *v, rk_value **ret); /* deep copy */

/* Stable structural hash, for indexing. */
uint64_t rk_value_hash(const rk_value *v);

/*
 * Compact one-line rendering for messages: strings quoted, data as <hex>,
 * containers abbreviated past `max` bytes.  Returns a malloc'd string or NULL.
 */
char *rk_value_to_short_string(const rk_value *v, size_t max);
