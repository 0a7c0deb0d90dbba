/* SPDX-License-Identifier: MIT */
/*
 * The catalogue's personality index.
 *
 * Personalities are bucketed by provider class and, inside a class, by the
 * most selective necessary condition they carry: the USB or PCI vendor
 * (when the provider class is the family's nub class, so the family keys
 * are sure to apply), an IONameMatch name, one IOPropertyMatch key/value,
 * or the literal prefix of each RKModaliasMatch pattern.  Looking up a
 * provider visits only the buckets its own class chain, vendor, names,
 * properties and modalias prefixes select, so the cost of matching one
 * provider does not grow with the personalities that cannot match it.
 *
 * Invariant: the candidates a lookup returns are a superset of the
 * personalities that match; the engine (match.c) decides.
 */
#pragma once

#include <stddef.h>

#include "match/match.h"

typedef struct rk_match_index rk_match_index;

int rk_match_index_new(rk_match_index **ret);
rk_match_index *rk_match_index_free(rk_match_index *idx);
static inline void rk_match_index_freep(rk_match_index **i) {
        if (*i)
                rk_match_index_free(*i);
}

/* Takes a reference.  -ENOMEM, -EINVAL. */
int rk_match_index_add(rk_match_index *idx, rk_personality *p);
/*
 * Compile and add every entry of an IOKitPersonalities dictionary.  Entries
 * with errors are reported to diag (naming file, bundle, personality and
 * key) and left out: *refused counts them.  Returns the number added, or
 * -ENOMEM / -EINVAL.
 */
int rk_match_index_add_personalities(rk_match_index *idx, const rk_value *personalities, const char *bundle,
                                     const char *file, rk_diag *diag, unsigned *refused);

/* Removes every personality of the bundle; returns how many. */
size_t rk_match_index_remove_bundle(rk_match_index *idx, const char *bundle);
size_t rk_match_index_size(const rk_match_index *idx);

typedef void (*rk_match_index_cb)(rk_personality *p, void *userdata);
/* Each candidate for prov once; returns the count. */
size_t rk_match_index_candidates(rk_match_index *idx, const rk_match_provider *prov, rk_match_index_cb cb,
                                 void *userdata);
/* Every personality, in insertion order. */
void rk_match_index_foreach(const rk_match_index *idx, rk_match_index_cb cb, void *userdata);

#define RK_MATCH_EXPLAIN (1u << 0) /* also list every rejected personality with its key */

/* Match prov against the index.  Returns 0 or -ENOMEM; *ret is filled either way. */
int rk_match_index_run(rk_match_index *idx, const rk_match_provider *prov, const rk_value *resources,
                       unsigned flags, rk_match_result *ret);
