/* SPDX-License-Identifier: MIT */
/*
 * Personalities: one IOKitPersonalities entry, checked and compiled for the
 * matching engine.
 *
 * Matching keys (IOProviderClass, IONameMatch, IOPropertyMatch,
 * IOPropertyExistsMatch, IOResourceMatch, IOParentMatch, IOMatchCategory,
 * IOProbeScore, RKModaliasMatch and the family keys) are checked for type
 * here; every other key is the driver's own configuration and never affects
 * matching.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "shared/diag.h"
#include "value/value.h"

#define RK_DEFAULT_MATCH_CATEGORY "IODefaultMatchCategory"

typedef enum rk_family {
        RK_FAMILY_NONE = 0,
        RK_FAMILY_USB = 1 << 0,
        RK_FAMILY_PCI = 1 << 1,
} rk_family;

typedef struct rk_personality {
        unsigned refs;
        char *bundle;      /* CFBundleIdentifier of the owning bundle */
        char *name;        /* key in IOKitPersonalities */
        rk_value *dict;    /* the personality as written */
        const char *provider_class; /* borrowed from dict */
        const char *io_class;       /* IOClass, may be NULL */
        const char *category;       /* IOMatchCategory or the default */
        int64_t probe_score;        /* IOProbeScore, 0 when absent */
        unsigned families;          /* rk_family bits: which family keys it carries */
        rk_value *modalias;         /* RKModaliasMatch as an array of strings, or NULL */
        uint64_t seq;               /* catalogue insertion order, for stable ties */
        uint32_t seen;              /* index scratch: last lookup that visited it */
} rk_personality;

/*
 * Validate a personality; returns the number of errors added to diag.
 * `w` names file/bundle/personality; the key is filled in per problem.
 */
unsigned rk_personality_validate(const rk_value *dict, const rk_where *w, rk_diag *diag);

/* Returns 0, -EBADMSG (problems reported to diag), -EINVAL, -ENOMEM. */
int rk_personality_new(const rk_value *dict, const char *bundle, const char *name, const char *file,
                       rk_personality **ret, rk_diag *diag);
rk_personality *rk_personality_ref(rk_personality *p);
rk_personality *rk_personality_unref(rk_personality *p);
static inline void rk_personality_unrefp(rk_personality **p) {
        if (*p)
                rk_personality_unref(*p);
}

/* True for keys that take part in matching (including the family keys). */
bool rk_is_matching_key(const char *key);
