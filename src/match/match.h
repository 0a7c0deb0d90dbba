/* SPDX-License-Identifier: MIT */
/*
 * The matching engine: IOKit's passive matching of personalities against a
 * provider, ranking by score within match categories, and the explanation
 * of every rejection.
 *
 * A provider is described by rk_match_provider, which the registry (or the
 * offline `ringctl match` tool, from a plist file) fills in.  Nothing here
 * probes or starts drivers: the result is the ordered candidate list per
 * category that the daemon then probes and starts, first success winning.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "match/personality.h"
#include "shared/diag.h"
#include "value/value.h"

typedef struct rk_match_provider rk_match_provider;

struct rk_match_provider {
        const rk_value *properties;       /* the property table (a dictionary) */
        const char *const *classes;       /* class chain, most derived first */
        size_t n_classes;
        const char *name;                 /* IOName, may be NULL */
        const rk_value *compatible;       /* array of strings (IOCompatibleNames) or NULL */
        const char *modalias;             /* RKModalias, may be NULL */
        uint64_t registry_id;             /* 0 when unknown */
        const rk_match_provider *parent;  /* the provider's provider, NULL at the root */
};

bool rk_match_provider_has_class(const rk_match_provider *p, const char *cls);

/*
 * An owned provider built from a plist dictionary in `ringctl match --device`
 * form: its properties plus IOClassChain (array of class names, most
 * derived first, required), optionally IOName, IOCompatibleNames,
 * IORegistryEntryID, RKModalias, and IOParent (the parent, same form).
 * Errors: -EBADMSG with the problem in diag, -ENOMEM.
 */
typedef struct rk_match_provider_owned rk_match_provider_owned;
int rk_match_provider_new_from_dict(const rk_value *dict, const char *file, rk_match_provider_owned **ret,
                                    rk_diag *diag);
const rk_match_provider *rk_match_provider_get(const rk_match_provider_owned *o);
rk_match_provider_owned *rk_match_provider_free(rk_match_provider_owned *o);
static inline void rk_match_provider_freep(rk_match_provider_owned **o) {
        if (*o)
                rk_match_provider_free(*o);
}

/*
 * Evaluate one personality against one provider.  `resources` is the
 * dictionary of published resources (IOResources' properties), may be NULL.
 * Returns true and the total score (IOProbeScore plus the family's score),
 * or false with the key path that rejected it written to `why` (e.g.
 * "IOProviderClass", "IOPropertyMatch", "idProduct",
 * "IOParentMatch.IONameMatch"); `why` may be NULL.
 */
#define RK_MATCH_WHY_MAX 128
bool rk_match_personality(const rk_personality *p, const rk_match_provider *prov, const rk_value *resources,
                          int64_t *score, char *why, size_t why_size);

typedef struct rk_match_candidate {
        rk_personality *personality; /* a reference */
        int64_t score;
} rk_match_candidate;

typedef struct rk_match_category {
        const char *name; /* borrowed from the first candidate's personality */
        rk_match_candidate *candidates; /* best first */
        size_t n, cap;
} rk_match_category;

typedef struct rk_match_rejection {
        rk_personality *personality; /* a reference */
        char *key;
} rk_match_rejection;

typedef struct rk_match_result {
        rk_match_category *categories; /* ordered by their best candidate's score */
        size_t n_categories;
        rk_match_rejection *rejected;  /* only with RK_MATCH_EXPLAIN */
        size_t n_rejected;
        size_t n_evaluated;            /* personalities the index handed to the engine */
} rk_match_result;

void rk_match_result_done(rk_match_result *r);

/* Ranking order: score descending, then bundle, then personality name. */
int rk_match_candidate_compare(const rk_match_candidate *a, const rk_match_candidate *b);
