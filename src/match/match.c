/* SPDX-License-Identifier: MIT */
/*
 * Passive matching with IOKit's rules (XNU IOService::matchInternal and
 * matchPassive), evaluated in the order IOKit uses so that the key named
 * for a rejection is the first one that failed:
 *
 *   1. IOProviderClass      the provider's class chain holds it
 *   2. IONameMatch          string or array; any equals IOName or one of
 *                           the compatible names
 *   3. IOPropertyMatch      a dictionary, or an array of which one must be,
 *                           a subset of the provider's properties
 *                           (OSDictionary::isEqualTo with the match's keys)
 *   4. IOPropertyExistsMatch  string or array; any key present
 *   5. IOPathMatch, IOLocationMatch, IORegistryEntryID
 *   6. IOResourceMatch      every named resource is published
 *   7. RKModaliasMatch      any glob matches the provider's modalias
 *   8. family keys          when the chain holds the family's nub class
 *                           (family.h); the family adds its score
 *   9. IOParentMatch        some ancestor matches the nested dictionary
 *
 * The score of a match is IOProbeScore plus the family score.  Ranking and
 * categories are applied by rk_match_index_run() (index.c).
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "match/family.h"
#include "match/glob.h"
#include "match/match.h"
#include "shared/macro.h"

bool rk_match_provider_has_class(const rk_match_provider *p, const char *cls) {
        for (size_t i = 0; i < p->n_classes; i++)
                if (streq(p->classes[i], cls))
                        return true;
        return false;
}

/* ---- one string or an array of strings ---- */

typedef bool (*string_pred)(const char *s, const void *ctx);

static bool any_string(const rk_value *v, string_pred pred, const void *ctx) {
        if (rk_value_is(v, RK_TYPE_STRING))
                return pred(rk_string(v), ctx);
        for (size_t i = 0; i < rk_array_size(v); i++) {
                const char *s = rk_string(rk_array_get(v, i));
                if (s && pred(s, ctx))
                        return true;
        }
        return false;
}

static bool all_strings(const rk_value *v, string_pred pred, const void *ctx) {
        if (rk_value_is(v, RK_TYPE_STRING))
                return pred(rk_string(v), ctx);
        for (size_t i = 0; i < rk_array_size(v); i++) {
                const char *s = rk_string(rk_array_get(v, i));
                if (!s || !pred(s, ctx))
                        return false;
        }
        return true;
}

static bool name_matches(const char *want, const void *ctx) {
        const rk_match_provider *p = ctx;

        if (p->name && streq(p->name, want))
                return true;
        for (size_t i = 0; i < rk_array_size(p->compatible); i++) {
                const char *c = rk_string(rk_array_get(p->compatible, i));
                if (c && streq(c, want))
                        return true;
        }
        return false;
}

static bool property_exists(const char *key, const void *ctx) {
        return rk_dict_get((const rk_value *) ctx, key) != NULL;
}

static bool resource_published(const char *name, const void *ctx) {
        return ctx && rk_dict_get((const rk_value *) ctx, name) != NULL;
}

static bool modalias_matches(const char *pattern, const void *ctx) {
        return rk_glob_match(pattern, (const char *) ctx);
}

static bool property_match(const rk_value *m, const rk_value *props) {
        if (rk_value_is(m, RK_TYPE_DICT))
                return rk_dict_is_subset(m, props);
        for (size_t i = 0; i < rk_array_size(m); i++)
                if (rk_dict_is_subset(rk_array_get(m, i), props))
                        return true;
        return false;
}

/* ---- the rules ---- */

static bool match_family(const rk_value *d, const rk_match_provider *prov, int64_t *score, const char **failed) {
        int64_t s = 0;

        if (rk_match_provider_has_class(prov, "IOUSBHostInterface") ||
            rk_match_provider_has_class(prov, "IOUSBInterface")) {
                if (!rk_usb_match(d, prov->properties, RK_USB_INTERFACE, &s, failed))
                        return false;
                *score += s;
        } else if (rk_match_provider_has_class(prov, "IOUSBHostDevice") ||
                   rk_match_provider_has_class(prov, "IOUSBDevice")) {
                if (!rk_usb_match(d, prov->properties, RK_USB_DEVICE, &s, failed))
                        return false;
                *score += s;
        }
        if (rk_match_provider_has_class(prov, "IOPCIDevice")) {
                s = 0;
                if (!rk_pci_match(d, prov->properties, &s, failed))
                        return false;
                *score += s;
        }
        return true;
}

static bool match_dict(const rk_value *d, const rk_match_provider *prov, const rk_value *resources,
                       unsigned depth, int64_t *score, const char **failed);

static bool match_parent(const rk_value *pm, const rk_match_provider *prov, const rk_value *resources,
                         unsigned depth, const char **failed) {
        const char *inner = NULL;

        for (const rk_match_provider *a = prov->parent; a; a = a->parent) {
                int64_t s = 0;
                if (match_dict(pm, a, resources, depth + 1, &s, &inner))
                        return true;
        }
        /* name the nested key that failed against the nearest parent;
         * `failed` is then "IOParentMatch" and the caller appends it */
        *failed = "IOParentMatch";
        return false;
}

#define FAIL(k)                  \
        do {                     \
                *failed = (k);   \
                return false;    \
        } while (0)

static bool match_dict(const rk_value *d, const rk_match_provider *prov, const rk_value *resources,
                       unsigned depth, int64_t *score, const char **failed) {
        const rk_value *v;
        const char *s;
        uint64_t u;

        s = rk_dict_get_string(d, "IOProviderClass");
        if (s && !rk_match_provider_has_class(prov, s))
                FAIL("IOProviderClass");
        v = rk_dict_get(d, "IONameMatch");
        if (v && !any_string(v, name_matches, prov))
                FAIL("IONameMatch");
        v = rk_dict_get(d, "IOPropertyMatch");
        if (v && !property_match(v, prov->properties))
                FAIL("IOPropertyMatch");
        v = rk_dict_get(d, "IOPropertyExistsMatch");
        if (v && !any_string(v, property_exists, prov->properties))
                FAIL("IOPropertyExistsMatch");
        s = rk_dict_get_string(d, "IOPathMatch");
        if (s && !streq_ptr(s, rk_dict_get_string(prov->properties, "IOPath")))
                FAIL("IOPathMatch");
        s = rk_dict_get_string(d, "IOLocationMatch");
        if (s && !streq_ptr(s, rk_dict_get_string(prov->properties, "IOLocation")))
                FAIL("IOLocationMatch");
        if (rk_dict_get_u64(d, "IORegistryEntryID", &u) && u != prov->registry_id)
                FAIL("IORegistryEntryID");
        v = rk_dict_get(d, "IOResourceMatch");
        if (v && !all_strings(v, resource_published, resources))
                FAIL("IOResourceMatch");
        v = rk_dict_get(d, "RKModaliasMatch");
        if (v && (!prov->modalias || !any_string(v, modalias_matches, prov->modalias)))
                FAIL("RKModaliasMatch");
        if (!match_family(d, prov, score, failed))
                return false;
        v = rk_dict_get(d, "IOParentMatch");
        if (v) {
                if (depth >= 8)
                        FAIL("IOParentMatch");
                if (!match_parent(v, prov, resources, depth, failed))
                        return false;
        }
        return true;
}

/*
 * Explain an IOParentMatch failure: the nested key that failed against the
 * nearest parent, as "IOParentMatch.KEY" (recursively).
 */
static void explain_parent(const rk_value *d, const rk_match_provider *prov, const rk_value *resources,
                           char *why, size_t size) {
        const rk_value *pm = rk_dict_get(d, "IOParentMatch");
        const char *inner = NULL;
        int64_t s = 0;
        size_t n;

        n = (size_t) snprintf(why, size, "IOParentMatch");
        if (!prov->parent || n >= size)
                return;
        if (match_dict(pm, prov->parent, resources, 1, &s, &inner) || !inner)
                return;
        if (streq(inner, "IOParentMatch")) {
                if (n + 1 < size) {
                        why[n] = '.';
                        explain_parent(pm, prov->parent, resources, why + n + 1, size - n - 1);
                }
                return;
        }
        snprintf(why + n, size - n, ".%s", inner);
}

bool rk_match_personality(const rk_personality *p, const rk_match_provider *prov, const rk_value *resources,
                          int64_t *score, char *why, size_t why_size) {
        const char *failed = NULL;
        int64_t s = p->probe_score;

        assert(p && prov && score);
        if (!match_dict(p->dict, prov, resources, 0, &s, &failed)) {
                if (why && why_size) {
                        if (failed && streq(failed, "IOParentMatch"))
                                explain_parent(p->dict, prov, resources, why, why_size);
                        else
                                snprintf(why, why_size, "%s", failed ? failed : "?");
                }
                return false;
        }
        *score = s;
        return true;
}

/* ---- providers from plist dictionaries ---- */

struct rk_match_provider_owned {
        rk_match_provider pub;
        rk_value *props;
        char **classes;
        rk_match_provider_owned *parent;
};

rk_match_provider_owned *rk_match_provider_free(rk_match_provider_owned *o) {
        while (o) {
                rk_match_provider_owned *parent = o->parent;
                rk_value_unref(o->props);
                free(o->classes);
                free(o);
                o = parent;
        }
        return NULL;
}

const rk_match_provider *rk_match_provider_get(const rk_match_provider_owned *o) {
        return o ? &o->pub : NULL;
}

static int provider_from_dict(const rk_value *dict, const char *file, const char *path, unsigned depth,
                              rk_match_provider_owned **ret, rk_diag *diag) {
        _cleanup_(rk_match_provider_freep) rk_match_provider_owned *o = NULL;
        char key[256];
        rk_where w = { .file = file, .key = key };
        const rk_value *chain, *v;
        int r;

        if (!rk_value_is(dict, RK_TYPE_DICT)) {
                snprintf(key, sizeof(key), "%s", *path ? path : "(root)");
                rk_diag_add(diag, RK_DIAG_ERROR, &w, "a provider description must be a dictionary");
                return -EBADMSG;
        }
        if (depth > 32) {
                snprintf(key, sizeof(key), "%s", path);
                rk_diag_add(diag, RK_DIAG_ERROR, &w, "IOParent nested more than 32 levels deep");
                return -EBADMSG;
        }
        o = calloc(1, sizeof(*o));
        if (!o)
                return -ENOMEM;

        snprintf(key, sizeof(key), "%sIOClassChain", path);
        chain = rk_dict_get(dict, "IOClassChain");
        if (!rk_value_is(chain, RK_TYPE_ARRAY) || rk_array_size(chain) == 0) {
                rk_diag_add(diag, RK_DIAG_ERROR, &w, chain ? "must be a non-empty array of class names"
                                                           : "missing: the provider's class chain, most derived first");
                return -EBADMSG;
        }
        o->classes = calloc(rk_array_size(chain), sizeof(char *));
        if (!o->classes)
                return -ENOMEM;
        for (size_t i = 0; i < rk_array_size(chain); i++) {
                const char *c = rk_string(rk_array_get(chain, i));
                if (!c || !*c) {
                        rk_diag_add(diag, RK_DIAG_ERROR, &w, "item %zu must be a non-empty string", i);
                        return -EBADMSG;
                }
                o->classes[i] = (char *) c;
        }
        r = rk_value_copy(dict, &o->props);
        if (r < 0)
                return r;
        /* the description's own structure keys are not properties */
        (void) rk_dict_remove(o->props, "IOClassChain");
        (void) rk_dict_remove(o->props, "IOParent");
        /* keep the class name strings alive: they are borrowed from dict, which
         * the caller keeps; re-point them into our copy would need the chain
         * in props, so hold a reference to dict's chain via props instead */
        r = rk_dict_set(o->props, "IOClassChain", (rk_value *) chain);
        if (r < 0)
                return r;

        o->pub.properties = o->props;
        o->pub.classes = (const char *const *) o->classes;
        o->pub.n_classes = rk_array_size(chain);
        o->pub.name = rk_dict_get_string(o->props, "IOName");
        v = rk_dict_get(o->props, "IOCompatibleNames");
        if (v && !rk_value_is(v, RK_TYPE_ARRAY)) {
                snprintf(key, sizeof(key), "%sIOCompatibleNames", path);
                rk_diag_add(diag, RK_DIAG_ERROR, &w, "must be an array of strings");
                return -EBADMSG;
        }
        o->pub.compatible = v;
        o->pub.modalias = rk_dict_get_string(o->props, "RKModalias");
        (void) rk_dict_get_u64(o->props, "IORegistryEntryID", &o->pub.registry_id);

        v = rk_dict_get(dict, "IOParent");
        if (v) {
                char sub[256];
                snprintf(sub, sizeof(sub), "%sIOParent.", path);
                r = provider_from_dict(v, file, sub, depth + 1, &o->parent, diag);
                if (r < 0)
                        return r;
                o->pub.parent = &o->parent->pub;
        }
        *ret = TAKE_PTR(o);
        return 0;
}

int rk_match_provider_new_from_dict(const rk_value *dict, const char *file, rk_match_provider_owned **ret,
                                    rk_diag *diag) {
        if (!dict || !ret)
                return -EINVAL;
        return provider_from_dict(dict, file, "", 0, ret, diag);
}

/* ---- results ---- */

int rk_match_candidate_compare(const rk_match_candidate *a, const rk_match_candidate *b) {
        int c;

        if (a->score != b->score)
                return a->score > b->score ? -1 : 1;
        c = strcmp(a->personality->bundle, b->personality->bundle);
        if (c)
                return c;
        return strcmp(a->personality->name, b->personality->name);
}

void rk_match_result_done(rk_match_result *r) {
        if (!r)
                return;
        for (size_t i = 0; i < r->n_categories; i++) {
                for (size_t j = 0; j < r->categories[i].n; j++)
                        rk_personality_unref(r->categories[i].candidates[j].personality);
                free(r->categories[i].candidates);
        }
        free(r->categories);
        for (size_t i = 0; i < r->n_rejected; i++) {
                rk_personality_unref(r->rejected[i].personality);
                free(r->rejected[i].key);
        }
        free(r->rejected);
        memset(r, 0, sizeof(*r));
}
