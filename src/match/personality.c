/* SPDX-License-Identifier: MIT */
/*
 * Personalities: type checks for the matching keys of an IOKitPersonalities
 * entry, and the compiled form the engine and the index use.
 *
 * What is a matching key follows IOService::matchInternal() and
 * matchPassive() in XNU: IOProviderClass, IONameMatch, IOPropertyMatch,
 * IOPropertyExistsMatch, IOPathMatch, IOLocationMatch, IORegistryEntryID,
 * IOParentMatch, IOResourceMatch, IOMatchCategory and IOProbeScore, plus the
 * family keys (family.h) and ringkit's RKModaliasMatch.  Everything else is
 * the driver's configuration: it never takes part in matching.
 *
 * Invariant: a compiled rk_personality has passed validation, so the engine
 * may assume each matching key has the type documented here.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/macro.h"

#include "match/family.h"
#include "match/glob.h"
#include "match/personality.h"

static const char *const generic_keys[] = {
        "IOProviderClass", "IONameMatch",   "IOPropertyMatch", "IOPropertyExistsMatch",
        "IOPathMatch",     "IOLocationMatch", "IORegistryEntryID", "IOParentMatch",
        "IOResourceMatch", "IOMatchCategory", "IOProbeScore",    "RKModaliasMatch",
};

bool rk_is_matching_key(const char *key) {
        if (!key)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(generic_keys); i++)
                if (streq(key, generic_keys[i]))
                        return true;
        return rk_usb_is_key(key) || rk_pci_is_key(key);
}

/*
 * Key paths: a nested IOParentMatch reports "IOParentMatch.IONameMatch".
 * `prefix` is "" at the top level.
 */
typedef struct vctx {
        const rk_where *w;
        rk_diag *diag;
        const char *prefix;
        unsigned depth;
} vctx;

_printf_(3, 4) static void key_error(const vctx *c, const char *key, const char *fmt, ...) {
        rk_where kw = c->w ? *c->w : (rk_where){ 0 };
        char path[512];
        char *msg = NULL;
        va_list ap;

        snprintf(path, sizeof(path), "%s%s", c->prefix, key);
        kw.key = path;
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        rk_diag_add(c->diag, RK_DIAG_ERROR, &kw, "%s", msg ? msg : "invalid value");
        free(msg);
}

/* A string, or a non-empty array of strings. */
static unsigned check_strings(const vctx *c, const rk_value *d, const char *key) {
        const rk_value *v = rk_dict_get(d, key);

        if (!v)
                return 0;
        if (rk_value_is(v, RK_TYPE_STRING)) {
                if (rk_string_len(v) == 0) {
                        key_error(c, key, "must not be an empty string");
                        return 1;
                }
                return 0;
        }
        if (!rk_value_is(v, RK_TYPE_ARRAY)) {
                key_error(c, key, "must be a string or an array of strings, not %s", rk_type_name(rk_value_type(v)));
                return 1;
        }
        if (rk_array_size(v) == 0) {
                key_error(c, key, "must not be an empty array");
                return 1;
        }
        for (size_t i = 0; i < rk_array_size(v); i++) {
                const rk_value *e = rk_array_get(v, i);
                if (!rk_value_is(e, RK_TYPE_STRING) || rk_string_len(e) == 0) {
                        key_error(c, key, "item %zu must be a non-empty string, not %s", i,
                                  rk_value_is(e, RK_TYPE_STRING) ? "an empty string" : rk_type_name(rk_value_type(e)));
                        return 1;
                }
        }
        return 0;
}

static unsigned check_type(const vctx *c, const rk_value *d, const char *key, rk_type t) {
        const rk_value *v = rk_dict_get(d, key);

        if (!v || rk_value_type(v) == t)
                return 0;
        key_error(c, key, "must be %s %s, not %s", t == RK_TYPE_INTEGER ? "an" : "a", rk_type_name(t),
                  rk_type_name(rk_value_type(v)));
        return 1;
}

static unsigned check_property_match(const vctx *c, const rk_value *d) {
        const rk_value *v = rk_dict_get(d, "IOPropertyMatch");

        if (!v || rk_value_is(v, RK_TYPE_DICT))
                return 0;
        if (!rk_value_is(v, RK_TYPE_ARRAY)) {
                key_error(c, "IOPropertyMatch", "must be a dictionary or an array of dictionaries, not %s",
                          rk_type_name(rk_value_type(v)));
                return 1;
        }
        if (rk_array_size(v) == 0) {
                key_error(c, "IOPropertyMatch", "must not be an empty array");
                return 1;
        }
        for (size_t i = 0; i < rk_array_size(v); i++)
                if (!rk_value_is(rk_array_get(v, i), RK_TYPE_DICT)) {
                        key_error(c, "IOPropertyMatch", "item %zu must be a dictionary, not %s", i,
                                  rk_type_name(rk_value_type(rk_array_get(v, i))));
                        return 1;
                }
        return 0;
}

static bool glob_well_formed(const char *p) {
        /* a '[' must be closed; fnmatch takes an unclosed one literally,
         * which is never what an author means */
        for (; *p; p++) {
                if (*p == '\\' && p[1]) {
                        p++;
                        continue;
                }
                if (*p == '[') {
                        const char *q = p + 1;
                        if (*q == '!' || *q == '^')
                                q++;
                        if (*q == ']')
                                q++;
                        while (*q && *q != ']')
                                q++;
                        if (!*q)
                                return false;
                        p = q;
                }
        }
        return true;
}

static unsigned check_modalias(const vctx *c, const rk_value *d) {
        const rk_value *v = rk_dict_get(d, "RKModaliasMatch");
        unsigned n = check_strings(c, d, "RKModaliasMatch");
        size_t count;

        if (n || !v)
                return n;
        count = rk_value_is(v, RK_TYPE_ARRAY) ? rk_array_size(v) : 1;
        for (size_t i = 0; i < count; i++) {
                const char *s = rk_value_is(v, RK_TYPE_ARRAY) ? rk_string(rk_array_get(v, i)) : rk_string(v);
                if (!glob_well_formed(s)) {
                        key_error(c, "RKModaliasMatch", "pattern '%s' has an unclosed '['", s);
                        return 1;
                }
        }
        return 0;
}

static unsigned check_family(const vctx *c, const rk_value *d) {
        rk_where w = c->w ? *c->w : (rk_where){ 0 };
        unsigned n = 0;

        /* the families name their keys themselves; prefix only when nested */
        if (*c->prefix) {
                rk_diag sub;
                rk_diag_init(&sub);
                n = rk_usb_validate(d, &w, &sub) + rk_pci_validate(d, &w, &sub);
                for (size_t i = 0; i < sub.n; i++)
                        key_error(c, sub.items[i].key ? sub.items[i].key : "", "%s", sub.items[i].message);
                rk_diag_done(&sub);
                return n;
        }
        return rk_usb_validate(d, &w, c->diag) + rk_pci_validate(d, &w, c->diag);
}

static unsigned validate_matching(const vctx *c, const rk_value *d);

static unsigned check_parent_match(const vctx *c, const rk_value *d) {
        const rk_value *v = rk_dict_get(d, "IOParentMatch");
        char prefix[256];
        vctx sub = *c;

        if (!v)
                return 0;
        if (!rk_value_is(v, RK_TYPE_DICT)) {
                key_error(c, "IOParentMatch", "must be a dictionary, not %s", rk_type_name(rk_value_type(v)));
                return 1;
        }
        if (c->depth >= 8) {
                key_error(c, "IOParentMatch", "nested more than 8 levels deep");
                return 1;
        }
        snprintf(prefix, sizeof(prefix), "%sIOParentMatch.", c->prefix);
        sub.prefix = prefix;
        sub.depth++;
        return validate_matching(&sub, v);
}

static unsigned validate_matching(const vctx *c, const rk_value *d) {
        unsigned n = 0;

        n += check_type(c, d, "IOProviderClass", RK_TYPE_STRING);
        n += check_strings(c, d, "IONameMatch");
        n += check_property_match(c, d);
        n += check_strings(c, d, "IOPropertyExistsMatch");
        n += check_type(c, d, "IOPathMatch", RK_TYPE_STRING);
        n += check_type(c, d, "IOLocationMatch", RK_TYPE_STRING);
        n += check_type(c, d, "IORegistryEntryID", RK_TYPE_INTEGER);
        n += check_strings(c, d, "IOResourceMatch");
        n += check_modalias(c, d);
        n += check_family(c, d);
        n += check_parent_match(c, d);
        return n;
}

unsigned rk_personality_validate(const rk_value *dict, const rk_where *w, rk_diag *diag) {
        vctx c = { .w = w, .diag = diag, .prefix = "" };
        const rk_value *v;
        unsigned n = 0;

        if (!rk_value_is(dict, RK_TYPE_DICT)) {
                rk_where pw = w ? *w : (rk_where){ 0 };
                rk_diag_add(diag, RK_DIAG_ERROR, &pw, "personality must be a dictionary, not %s",
                            dict ? rk_type_name(rk_value_type(dict)) : "nothing");
                return 1;
        }
        v = rk_dict_get(dict, "IOProviderClass");
        if (!v) {
                key_error(&c, "IOProviderClass", "missing: a personality must name its provider class");
                n++;
        } else if (rk_value_is(v, RK_TYPE_STRING) && rk_string_len(v) == 0) {
                key_error(&c, "IOProviderClass", "must not be empty");
                n++;
        }
        n += check_type(&c, dict, "IOClass", RK_TYPE_STRING);
        n += check_type(&c, dict, "IOMatchCategory", RK_TYPE_STRING);
        n += check_type(&c, dict, "IOProbeScore", RK_TYPE_INTEGER);
        n += check_type(&c, dict, "CFBundleIdentifier", RK_TYPE_STRING);
        n += check_type(&c, dict, "IOUserClass", RK_TYPE_STRING);
        n += check_type(&c, dict, "IOUserServerName", RK_TYPE_STRING);
        v = rk_dict_get(dict, "IOMatchCategory");
        if (rk_value_is(v, RK_TYPE_STRING) && rk_string_len(v) == 0) {
                key_error(&c, "IOMatchCategory", "must not be empty");
                n++;
        }
        if (!rk_dict_get(dict, "IOClass")) {
                key_error(&c, "IOClass", "missing: a personality must name the class to instantiate");
                n++;
        }
        return n + validate_matching(&c, dict);
}

/* ---- compiled form ---- */

static int modalias_array(const rk_value *v, rk_value **ret) {
        _cleanup_(rk_value_unrefp) rk_value *a = NULL;
        int r;

        if (!v) {
                *ret = NULL;
                return 0;
        }
        if (rk_value_is(v, RK_TYPE_ARRAY)) {
                *ret = rk_value_ref((rk_value *) v);
                return 0;
        }
        r = rk_value_new_array(&a);
        if (r < 0)
                return r;
        r = rk_array_append(a, (rk_value *) v);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(a);
        return 0;
}

static bool chain_has_usb_keys(const rk_value *d) {
        for (size_t i = 0; i < rk_dict_size(d); i++)
                if (rk_usb_is_key(rk_dict_key_at(d, i)))
                        return true;
        return false;
}

static bool chain_has_pci_keys(const rk_value *d) {
        for (size_t i = 0; i < rk_dict_size(d); i++)
                if (rk_pci_is_key(rk_dict_key_at(d, i)))
                        return true;
        return false;
}

int rk_personality_new(const rk_value *dict, const char *bundle, const char *name, const char *file,
                       rk_personality **ret, rk_diag *diag) {
        rk_where w = { .file = file, .bundle = bundle, .personality = name };
        rk_personality *p;
        int64_t score = 0;
        int r;

        if (!dict || !bundle || !name || !ret)
                return -EINVAL;
        if (rk_personality_validate(dict, &w, diag) > 0)
                return -EBADMSG;

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->refs = 1;
        p->bundle = strdup(bundle);
        p->name = strdup(name);
        if (!p->bundle || !p->name) {
                rk_personality_unref(p);
                return -ENOMEM;
        }
        p->dict = rk_value_ref((rk_value *) dict);
        p->provider_class = rk_dict_get_string(dict, "IOProviderClass");
        p->io_class = rk_dict_get_string(dict, "IOClass");
        p->category = rk_dict_get_string(dict, "IOMatchCategory");
        if (!p->category)
                p->category = RK_DEFAULT_MATCH_CATEGORY;
        if (rk_integer_s64(rk_dict_get(dict, "IOProbeScore"), &score))
                p->probe_score = score;
        if (chain_has_usb_keys(dict))
                p->families |= RK_FAMILY_USB;
        if (chain_has_pci_keys(dict))
                p->families |= RK_FAMILY_PCI;
        r = modalias_array(rk_dict_get(dict, "RKModaliasMatch"), &p->modalias);
        if (r < 0) {
                rk_personality_unref(p);
                return r;
        }
        *ret = p;
        return 0;
}

rk_personality *rk_personality_ref(rk_personality *p) {
        if (p)
                p->refs++;
        return p;
}

rk_personality *rk_personality_unref(rk_personality *p) {
        if (!p || --p->refs > 0)
                return NULL;
        free(p->bundle);
        free(p->name);
        rk_value_unref(p->dict);
        rk_value_unref(p->modalias);
        free(p);
        return NULL;
}
