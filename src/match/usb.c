/* SPDX-License-Identifier: MIT */
/*
 * USB family matching: what IOUSBHostDevice and IOUSBHostInterface (and the
 * older IOUSBDevice / IOUSBInterface) do in matchPropertyTable().
 *
 * The rules come from Apple's IOUSBFamily sources (IOUSBDevice.cpp,
 * IOUSBInterface.cpp and IOUSBNub.cpp, matchPropertyTable() and the
 * USBCompareProperty*() helpers), Technical Q&A 1076 and the key table of
 * IOUSBHostFamilyDefinitions.h.  Written from those descriptions; no code
 * is taken from them.
 *
 * A personality must use one of these key combinations (the USB common
 * class specification's order; "class" means bDeviceClass/SubClass/Protocol
 * on a device, bInterfaceClass/SubClass/Protocol on an interface):
 *
 *   level   device                        interface
 *   100000  idVendor idProduct bcdDevice  idVendor idProduct bcdDevice
 *                                           bConfigurationValue bInterfaceNumber
 *    90000  idVendor idProduct            idVendor idProduct
 *                                           bConfigurationValue bInterfaceNumber
 *    80000  idVendor subclass protocol    (same)   only when the nub's class is 0xff
 *    70000  idVendor subclass             (same)   only when the nub's class is 0xff
 *    60000  class subclass protocol       (same)   only when the nub's class is not 0xff
 *    50000  class subclass                (same)   only when the nub's class is not 0xff
 *
 * The two product levels accept the class keys too (each must match when
 * present), and bcdDevice when it is present must match even at 90000.  The
 * vendor levels accept the class key (it must match); they and the class
 * levels take no other key: a key outside the combination rejects the
 * personality rather than being ignored.  A vendor-specific nub (class 0xff)
 * is never matched by class alone: that needs idVendor.
 *
 * Values are integers compared with the nub's property (an integer, or 1..8
 * bytes of little-endian data); a property the nub lacks fails its key.  A
 * string "*" matches any value and costs 1000.  idProductArray lists product
 * IDs (any one matches; idProduct is then ignored).  idProductMask, when the
 * exact product comparison fails, compares (nub & mask) == (value & mask)
 * and costs 500.  bcdDeviceLow / bcdDeviceHigh are ringkit's inclusive
 * range bounds on bcdDevice (Apple's newer SDKs have a range key whose
 * format we could not confirm); a range counts as the bcdDevice key and
 * costs 500 unless an exact bcdDevice is given too.  family.h shows how the
 * level, the clamped IOProbeScore and these costs combine into *score.
 *
 * Keys of the other nub kind (bInterface*, bConfigurationValue on a device,
 * bDevice* on an interface) and an idProductMask with no product to mask
 * are ignored, as Apple's nubs ignore them; a personality with nothing else
 * does not match.
 *
 * failed_key: when the keys form no combination, the key to add (the first
 * missing one of the combination the personality is closest to) or the key
 * to remove; otherwise the first key, in the level's order, whose value
 * differs or that the nub lacks.  For the vendor and class levels a nub
 * class on the wrong side of 0xff names the class key (vendor levels) or
 * idVendor (class levels).
 */
#include <inttypes.h>
#include <string.h>

#include "match/family.h"
#include "shared/macro.h"

/* Criteria, in the order they are checked and reported. */
typedef enum slot {
        S_VENDOR,
        S_PRODUCT,  /* idProduct or idProductArray, with idProductMask */
        S_CONFIG,   /* interface only */
        S_IFNUM,    /* interface only */
        S_RELEASE,  /* bcdDevice, bcdDeviceLow, bcdDeviceHigh */
        S_CLASS,
        S_SUBCLASS,
        S_PROTOCOL,
        _S_MAX,
} slot;

typedef enum status {
        ST_ABSENT, /* the personality does not use the criterion */
        ST_OK,
        ST_WILD, /* "*" */
        ST_FAIL,
} status;

typedef enum shape {
        SHAPE_PRODUCT,
        SHAPE_VENDOR,
        SHAPE_CLASS,
} shape;

enum { KEY_WILD = 1 << 0, KEY_DEVICE = 1 << 1, KEY_INTERFACE = 1 << 2, KEY_BOTH = KEY_DEVICE | KEY_INTERFACE };

typedef struct usb_key {
        const char *name;
        uint64_t max;
        unsigned flags;
} usb_key;

static const usb_key usb_keys[] = {
        { "idVendor", 0xffff, KEY_WILD | KEY_BOTH },
        { "idProduct", 0xffff, KEY_WILD | KEY_BOTH },
        { "idProductArray", 0xffff, KEY_BOTH },
        { "idProductMask", 0xffff, KEY_BOTH },
        { "bcdDevice", 0xffff, KEY_WILD | KEY_BOTH },
        { "bcdDeviceLow", 0xffff, KEY_BOTH },
        { "bcdDeviceHigh", 0xffff, KEY_BOTH },
        { "bDeviceClass", 0xff, KEY_WILD | KEY_DEVICE },
        { "bDeviceSubClass", 0xff, KEY_WILD | KEY_DEVICE },
        { "bDeviceProtocol", 0xff, KEY_WILD | KEY_DEVICE },
        { "bConfigurationValue", 0xff, KEY_WILD | KEY_INTERFACE },
        { "bInterfaceNumber", 0xff, KEY_WILD | KEY_INTERFACE },
        { "bInterfaceClass", 0xff, KEY_WILD | KEY_INTERFACE },
        { "bInterfaceSubClass", 0xff, KEY_WILD | KEY_INTERFACE },
        { "bInterfaceProtocol", 0xff, KEY_WILD | KEY_INTERFACE },
};

static const char *const class_keys[2][3] = {
        [RK_USB_DEVICE] = { "bDeviceClass", "bDeviceSubClass", "bDeviceProtocol" },
        [RK_USB_INTERFACE] = { "bInterfaceClass", "bInterfaceSubClass", "bInterfaceProtocol" },
};

/* The key a slot is named by when nothing more precise is known. */
static const char *slot_key(slot s, rk_usb_nub nub) {
        switch (s) {
        case S_VENDOR:
                return "idVendor";
        case S_PRODUCT:
                return "idProduct";
        case S_CONFIG:
                return "bConfigurationValue";
        case S_IFNUM:
                return "bInterfaceNumber";
        case S_RELEASE:
                return "bcdDevice";
        case S_CLASS:
        case S_SUBCLASS:
        case S_PROTOCOL:
                return class_keys[nub][s - S_CLASS];
        default:
                return NULL;
        }
}

bool rk_usb_is_key(const char *key) {
        if (!key)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(usb_keys); i++)
                if (streq(key, usb_keys[i].name))
                        return true;
        return false;
}

static bool is_wildcard(const rk_value *v) {
        return rk_value_is(v, RK_TYPE_STRING) && streq(rk_string(v), "*");
}

/* ---- presence: which criteria a personality uses (no provider needed) ---- */

typedef struct usb_keys_used {
        bool present[_S_MAX];
        const char *ignored; /* first key of the other nub kind */
        const char *stray;   /* idProductMask without a product to mask */
} usb_keys_used;

static void keys_used(const rk_value *p, rk_usb_nub nub, usb_keys_used *u) {
        rk_usb_nub other = nub == RK_USB_DEVICE ? RK_USB_INTERFACE : RK_USB_DEVICE;

        memset(u, 0, sizeof(*u));
        u->present[S_VENDOR] = rk_dict_get(p, "idVendor");
        u->present[S_PRODUCT] = rk_dict_get(p, "idProduct") || rk_dict_get(p, "idProductArray");
        u->present[S_RELEASE] = rk_dict_get(p, "bcdDevice") || rk_dict_get(p, "bcdDeviceLow") ||
                                rk_dict_get(p, "bcdDeviceHigh");
        for (slot s = S_CLASS; s <= S_PROTOCOL; s++) {
                u->present[s] = rk_dict_get(p, class_keys[nub][s - S_CLASS]);
                if (!u->ignored && rk_dict_get(p, class_keys[other][s - S_CLASS]))
                        u->ignored = class_keys[other][s - S_CLASS];
        }
        if (nub == RK_USB_INTERFACE) {
                u->present[S_CONFIG] = rk_dict_get(p, "bConfigurationValue");
                u->present[S_IFNUM] = rk_dict_get(p, "bInterfaceNumber");
        } else if (!u->ignored) {
                if (rk_dict_get(p, "bConfigurationValue"))
                        u->ignored = "bConfigurationValue";
                else if (rk_dict_get(p, "bInterfaceNumber"))
                        u->ignored = "bInterfaceNumber";
        }
        if (rk_dict_get(p, "idProductMask") && !u->present[S_PRODUCT])
                u->stray = "idProductMask";
}

static bool any_present(const usb_keys_used *u) {
        for (slot s = 0; s < _S_MAX; s++)
                if (u->present[s])
                        return true;
        return false;
}

/*
 * The combination a personality aims at, from its keys alone: the product
 * levels when it has idProduct(Array) or a bcdDevice key, or idVendor with
 * no class key or with an interface number or configuration; the vendor
 * levels for idVendor with class keys; the class levels otherwise.  No
 * personality can match at the levels of another shape, so the shape
 * decides which key explains a rejection.  Returns NULL when the keys fit
 * the shape, else the key to add (or, for the class levels, to remove).
 */
static const char *shape_of(const usb_keys_used *u, rk_usb_nub nub, shape *ret) {
        const bool *k = u->present;
        static const slot product[] = { S_VENDOR, S_PRODUCT, S_CONFIG, S_IFNUM };
        bool class_keys_used = k[S_CLASS] || k[S_SUBCLASS] || k[S_PROTOCOL];

        if (k[S_PRODUCT] || k[S_RELEASE] || (k[S_VENDOR] && (k[S_CONFIG] || k[S_IFNUM] || !class_keys_used))) {
        *ret = SHAPE_PRODUCT;
                for (size_t i = 0; i < ELEMENTSOF(product); i++) {
                        if (nub == RK_USB_DEVICE && (product[i] == S_CONFIG || product[i] == S_IFNUM))
                                continue;
                        if (!k[product[i]])
                                return slot_key(product[i], nub);
                }
                return NULL;
        }
        if (k[S_VENDOR]) {
                *ret = SHAPE_VENDOR;
                return k[S_SUBCLASS] ? NULL : slot_key(S_SUBCLASS, nub);
        }
        *ret = SHAPE_CLASS; /* no vendor, product or release here */
        if (k[S_CONFIG])
                return slot_key(S_CONFIG, nub);
        if (k[S_IFNUM])
                return slot_key(S_IFNUM, nub);
        if (!k[S_CLASS])
                return slot_key(S_CLASS, nub);
        if (!k[S_SUBCLASS])
                return slot_key(S_SUBCLASS, nub);
        return NULL;
}

/* ---- evaluation against a provider ---- */

typedef struct usb_eval {
        status st[_S_MAX];
        const char *failed[_S_MAX]; /* the key to name when st is ST_FAIL */
        bool inexact;               /* a mask or a range was needed */
} usb_eval;

static status compare_number(const rk_value *want, const rk_value *provider, const char *key) {
        uint64_t w, have;

        if (!want)
                return ST_ABSENT;
        if (is_wildcard(want))
                return ST_WILD;
        if (!rk_integer_u64(want, &w) || !rk_value_as_u64(rk_dict_get(provider, key), &have))
                return ST_FAIL;
        return w == have ? ST_OK : ST_FAIL;
}

static bool array_has(const rk_value *a, uint64_t have, uint64_t mask) {
        for (size_t i = 0; i < rk_array_size(a); i++) {
                uint64_t w;
                if (rk_integer_u64(rk_array_get(a, i), &w) && (w & mask) == (have & mask))
                        return true;
        }
        return false;
}

/* idProductArray wins over idProduct; idProductMask is tried only when the exact comparison fails. */
static void eval_product(const rk_value *p, const rk_value *provider, usb_eval *e) {
        const rk_value *array = rk_dict_get(p, "idProductArray"), *single = rk_dict_get(p, "idProduct");
        uint64_t have, mask, w;
        bool has_mask = rk_integer_u64(rk_dict_get(p, "idProductMask"), &mask);
        bool known = rk_value_as_u64(rk_dict_get(provider, "idProduct"), &have);

        e->failed[S_PRODUCT] = array ? "idProductArray" : "idProduct";
        if (!array && !single)
                return;
        if (!array && is_wildcard(single)) {
                e->st[S_PRODUCT] = ST_WILD;
                return;
        }
        e->st[S_PRODUCT] = ST_FAIL;
        if (!known)
                return;
        if (array ? array_has(array, have, UINT64_MAX) : (rk_integer_u64(single, &w) && w == have)) {
                e->st[S_PRODUCT] = ST_OK;
                return;
        }
        if (has_mask && (array ? array_has(array, have, mask & 0xffffffff)
                               : (rk_integer_u64(single, &w) && ((w ^ have) & mask & 0xffffffff) == 0))) {
                e->st[S_PRODUCT] = ST_OK;
                e->inexact = true;
        }
}

/* bcdDevice exactly, and/or within [bcdDeviceLow, bcdDeviceHigh]. */
static void eval_release(const rk_value *p, const rk_value *provider, usb_eval *e) {
        const rk_value *lo = rk_dict_get(p, "bcdDeviceLow"), *hi = rk_dict_get(p, "bcdDeviceHigh");
        status st = compare_number(rk_dict_get(p, "bcdDevice"), provider, "bcdDevice");
        uint64_t have, bound;
        bool known = rk_value_as_u64(rk_dict_get(provider, "bcdDevice"), &have);

        e->failed[S_RELEASE] = "bcdDevice";
        if (st == ST_FAIL || (!lo && !hi)) {
                e->st[S_RELEASE] = st;
                return;
        }
        if (lo && (!known || !rk_integer_u64(lo, &bound) || have < bound)) {
                e->st[S_RELEASE] = ST_FAIL;
                e->failed[S_RELEASE] = "bcdDeviceLow";
                return;
        }
        if (hi && (!known || !rk_integer_u64(hi, &bound) || have > bound)) {
                e->st[S_RELEASE] = ST_FAIL;
                e->failed[S_RELEASE] = "bcdDeviceHigh";
                return;
        }
        /* an exact bcdDevice makes the range redundant; a range alone is inexact */
        e->st[S_RELEASE] = st == ST_ABSENT ? ST_OK : st;
        if (st == ST_ABSENT)
                e->inexact = true;
}

static void evaluate(const rk_value *p, const rk_value *provider, rk_usb_nub nub, usb_eval *e) {
        memset(e, 0, sizeof(*e));
        for (slot s = 0; s < _S_MAX; s++)
                e->failed[s] = slot_key(s, nub);
        e->st[S_VENDOR] = compare_number(rk_dict_get(p, "idVendor"), provider, "idVendor");
        eval_product(p, provider, e);
        eval_release(p, provider, e);
        if (nub == RK_USB_INTERFACE) {
                e->st[S_CONFIG] = compare_number(rk_dict_get(p, "bConfigurationValue"), provider,
                                                 "bConfigurationValue");
                e->st[S_IFNUM] = compare_number(rk_dict_get(p, "bInterfaceNumber"), provider, "bInterfaceNumber");
        }
        for (slot s = S_CLASS; s <= S_PROTOCOL; s++) {
                const char *key = class_keys[nub][s - S_CLASS];
                e->st[s] = compare_number(rk_dict_get(p, key), provider, key);
        }
}

static bool passes(status st) {
        return st == ST_OK || st == ST_WILD || st == ST_ABSENT;
}

/* The first failing slot of `order`, or NULL; counts the wildcards among `counted`. */
static const char *first_failure(const usb_eval *e, const slot *order, size_t n, unsigned *wild,
                                 const slot *counted, size_t n_counted) {
        for (size_t i = 0; i < n; i++)
                if (!passes(e->st[order[i]]))
                        return e->failed[order[i]];
        for (size_t i = 0; i < n_counted; i++)
                *wild += e->st[counted[i]] == ST_WILD;
        return NULL;
}

static const char *level_product(const usb_eval *e, rk_usb_nub nub, int64_t *level, unsigned *wild) {
        static const slot order[] = { S_VENDOR, S_PRODUCT, S_CONFIG, S_IFNUM, S_RELEASE,
                                      S_CLASS,  S_SUBCLASS, S_PROTOCOL };
        static const slot counted_dev[] = { S_VENDOR, S_PRODUCT, S_RELEASE };
        static const slot counted_if[] = { S_VENDOR, S_PRODUCT, S_CONFIG, S_IFNUM, S_RELEASE };
        bool release = e->st[S_RELEASE] != ST_ABSENT;
        const slot *counted = nub == RK_USB_INTERFACE ? counted_if : counted_dev;
        size_t n = nub == RK_USB_INTERFACE ? ELEMENTSOF(counted_if) : ELEMENTSOF(counted_dev);

        *level = release ? RK_USB_SCORE_PRODUCT_RELEASE : RK_USB_SCORE_PRODUCT;
        return first_failure(e, order, ELEMENTSOF(order), wild, counted, n);
}

static const char *level_vendor(const usb_eval *e, rk_usb_nub nub, bool vendor_class, int64_t *level,
                                unsigned *wild) {
        static const slot order[] = { S_SUBCLASS, S_PROTOCOL };
        static const slot counted[] = { S_VENDOR, S_SUBCLASS, S_PROTOCOL };

        if (!passes(e->st[S_VENDOR]))
                return e->failed[S_VENDOR];
        if (!passes(e->st[S_CLASS]) || !vendor_class)
                return e->failed[S_CLASS];
        *level = e->st[S_PROTOCOL] != ST_ABSENT ? RK_USB_SCORE_VENDOR_SUBCLASS_PROTOCOL
                                                : RK_USB_SCORE_VENDOR_SUBCLASS;
        return first_failure(e, order, ELEMENTSOF(order), wild, counted, ELEMENTSOF(counted));
}

static const char *level_class(const usb_eval *e, rk_usb_nub nub, bool vendor_class, int64_t *level,
                               unsigned *wild) {
        static const slot order[] = { S_SUBCLASS, S_PROTOCOL };
        static const slot counted[] = { S_CLASS, S_SUBCLASS, S_PROTOCOL };

        if (!passes(e->st[S_CLASS]))
                return e->failed[S_CLASS];
        if (vendor_class) /* a vendor-specific class is only matched with the vendor */
                return "idVendor";
        *level = e->st[S_PROTOCOL] != ST_ABSENT ? RK_USB_SCORE_CLASS_SUBCLASS_PROTOCOL
                                                : RK_USB_SCORE_CLASS_SUBCLASS;
        return first_failure(e, order, ELEMENTSOF(order), wild, counted, ELEMENTSOF(counted));
}

/* IOProbeScore as IOKit hands it to matchPropertyTable(): a 32-bit value. */
static int64_t probe_score(const rk_value *p) {
        int64_t s = 0;

        if (!rk_integer_s64(rk_dict_get(p, "IOProbeScore"), &s))
                return 0;
        return s;
}

static int64_t family_score(const rk_value *p, int64_t level, unsigned wild, bool inexact) {
        int64_t probe = probe_score(p);
        int64_t clamped = probe >= 10000 ? RK_USB_PROBE_SCORE_CLAMP : probe;
        int64_t total = level + clamped - (int64_t) wild * RK_USB_WILDCARD_PENALTY -
                        (inexact ? RK_USB_INEXACT_PENALTY : 0);

        return total - probe;
}

static bool nub_is_vendor_class(const rk_value *provider, rk_usb_nub nub) {
        uint64_t c;
        return rk_value_as_u64(rk_dict_get(provider, class_keys[nub][0]), &c) && c == 0xff;
}

static bool reject(const char *key, int64_t *score, const char **failed_key) {
        if (score)
                *score = 0;
        if (failed_key)
                *failed_key = key;
        return false;
}

bool rk_usb_match(const rk_value *personality, const rk_value *provider, rk_usb_nub nub, int64_t *score,
                  const char **failed_key) {
        usb_keys_used used;
        usb_eval e;
        shape sh;
        const char *bad;
        int64_t level = 0;
        unsigned wild = 0;
        bool vendor_class;

        if (!rk_value_is(personality, RK_TYPE_DICT) || !rk_value_is(provider, RK_TYPE_DICT) ||
            (nub != RK_USB_DEVICE && nub != RK_USB_INTERFACE))
                return reject(NULL, score, failed_key);
        keys_used(personality, nub, &used);
        if (!any_present(&used)) {
                /* only keys this nub ignores: no combination, as in Apple's nubs */
                if (used.stray || used.ignored)
                        return reject(used.stray ? used.stray : used.ignored, score, failed_key);
                if (score)
                        *score = 0;
                if (failed_key)
                        *failed_key = NULL;
                return true; /* no USB keys: the family imposes nothing */
        }
        bad = shape_of(&used, nub, &sh);
        if (bad)
                return reject(bad, score, failed_key);

        evaluate(personality, provider, nub, &e);
        vendor_class = nub_is_vendor_class(provider, nub);
        if (sh == SHAPE_PRODUCT)
                bad = level_product(&e, nub, &level, &wild);
        else if (sh == SHAPE_VENDOR)
                bad = level_vendor(&e, nub, vendor_class, &level, &wild);
        else
                bad = level_class(&e, nub, vendor_class, &level, &wild);
        if (bad)
                return reject(bad, score, failed_key);
        if (score)
                *score = family_score(personality, level, wild, e.inexact);
        if (failed_key)
                *failed_key = NULL;
        return true;
}

/* ---- validation ---- */

static unsigned key_error(rk_diag *diag, const rk_where *where, const char *key, rk_diag_level level,
                          const char *msg, const char *detail) {
        rk_where w = where ? *where : (rk_where){ 0 };

        w.key = key;
        rk_diag_add(diag, level, &w, "%s%s", msg, detail ? detail : "");
        return level == RK_DIAG_ERROR;
}

/* An integer in 0..max.  Returns the number of errors (0 or 1). */
static unsigned check_integer(const rk_value *v, const char *key, const char *what, uint64_t max,
                              const rk_where *where, rk_diag *diag) {
        rk_where w = where ? *where : (rk_where){ 0 };
        uint64_t u;
        int64_t s;

        w.key = key;
        if (!rk_integer_u64(v, &u)) {
                rk_diag_add(diag, RK_DIAG_ERROR, &w, "%s must be an integer, not %s", what,
                            rk_type_name(rk_value_type(v)));
                return 1;
        }
        if (rk_integer_is_signed(v) && rk_integer_s64(v, &s) && s < 0) {
                rk_diag_add(diag, RK_DIAG_ERROR, &w, "%s %" PRId64 " is negative (range 0..0x%" PRIx64 ")", what, s,
                            max);
                return 1;
        }
        if (u > max) {
                rk_diag_add(diag, RK_DIAG_ERROR, &w, "%s 0x%" PRIx64 " is out of range 0..0x%" PRIx64, what, u, max);
                return 1;
        }
        return 0;
}

static unsigned check_scalar_key(const rk_value *p, const usb_key *k, const rk_where *where, rk_diag *diag) {
        const rk_value *v = rk_dict_get(p, k->name);
        rk_where w = where ? *where : (rk_where){ 0 };

        if (!v)
                return 0;
        w.key = k->name;
        if (rk_value_is(v, RK_TYPE_STRING)) {
                if ((k->flags & KEY_WILD) && streq(rk_string(v), "*"))
                        return 0;
                /* IOKit compares the OSNumber on the nub with isEqualTo(): a string never matches */
                rk_diag_add(diag, RK_DIAG_ERROR, &w,
                            "must be an integer%s, not the string \"%s\" (a string never equals the "
                            "number on the nub)",
                            (k->flags & KEY_WILD) ? " or \"*\"" : "", rk_string(v));
                return 1;
        }
        return check_integer(v, k->name, "value", k->max, where, diag);
}

static unsigned check_product_array(const rk_value *p, const rk_where *where, rk_diag *diag) {
        const rk_value *a = rk_dict_get(p, "idProductArray");
        char what[64];

        if (!a)
                return 0;
        if (!rk_value_is(a, RK_TYPE_ARRAY))
                return key_error(diag, where, "idProductArray", RK_DIAG_ERROR,
                                 "must be an array of integers, not ", rk_type_name(rk_value_type(a)));
        if (rk_array_size(a) == 0)
                return key_error(diag, where, "idProductArray", RK_DIAG_ERROR, "must not be an empty array",
                                 NULL);
        for (size_t i = 0; i < rk_array_size(a); i++) {
                snprintf(what, sizeof(what), "item %zu", i);
                if (check_integer(rk_array_get(a, i), "idProductArray", what, 0xffff, where, diag))
                        return 1;
        }
        return 0;
}

static unsigned check_range(const rk_value *p, const rk_where *where, rk_diag *diag) {
        uint64_t lo, hi;

        if (!rk_integer_u64(rk_dict_get(p, "bcdDeviceLow"), &lo) ||
            !rk_integer_u64(rk_dict_get(p, "bcdDeviceHigh"), &hi) || lo <= hi)
                return 0;
        return key_error(diag, where, "bcdDeviceLow", RK_DIAG_ERROR,
                         "is above bcdDeviceHigh: the range is empty", NULL);
}

/* The nub kind IOProviderClass names, when it names one we know. */
static bool provider_nub(const rk_value *p, rk_usb_nub *nub) {
        const char *c = rk_dict_get_string(p, "IOProviderClass");

        if (streq_ptr(c, "IOUSBHostDevice") || streq_ptr(c, "IOUSBDevice"))
                *nub = RK_USB_DEVICE;
        else if (streq_ptr(c, "IOUSBHostInterface") || streq_ptr(c, "IOUSBInterface"))
                *nub = RK_USB_INTERFACE;
        else
                return false;
        return true;
}

/* Warnings only: keys that are well formed but cannot match together. */
static void check_combination(const rk_value *p, const rk_where *where, rk_diag *diag) {
        static const char *const nub_name[] = { "a device", "an interface" };
        usb_keys_used used;
        rk_usb_nub nub;
        const char *bad;
        rk_where w = where ? *where : (rk_where){ 0 };
        shape sh;

        if (rk_dict_get(p, "idProduct") && rk_dict_get(p, "idProductArray"))
                key_error(diag, where, "idProduct", RK_DIAG_WARNING,
                          "is ignored: idProductArray is present and takes its place", NULL);
        if (!provider_nub(p, &nub))
                return;
        keys_used(p, nub, &used);
        if (used.ignored) {
                w.key = used.ignored;
                rk_diag_add(diag, RK_DIAG_WARNING, &w, "is ignored when matching %s (IOProviderClass %s)",
                            nub_name[nub], rk_dict_get_string(p, "IOProviderClass"));
        }
        if (used.stray)
                key_error(diag, where, used.stray, RK_DIAG_WARNING,
                          "is ignored: there is no idProduct or idProductArray to mask", NULL);
        if (!any_present(&used) && (used.stray || used.ignored))
                key_error(diag, where, used.stray ? used.stray : used.ignored, RK_DIAG_WARNING,
                          "no USB key this nub matches on is left: this personality never matches", NULL);
        else if (any_present(&used) && (bad = shape_of(&used, nub, &sh))) {
                w.key = bad;
                rk_diag_add(diag, RK_DIAG_WARNING, &w,
                            "the USB keys form no combination %s accepts (%s %s): this personality never "
                            "matches",
                            nub_name[nub], rk_dict_get(p, bad) ? "remove" : "add", bad);
        }
}

unsigned rk_usb_validate(const rk_value *personality, const rk_where *where, rk_diag *diag) {
        unsigned n = 0;

        if (!rk_value_is(personality, RK_TYPE_DICT))
                return 0;
        for (size_t i = 0; i < ELEMENTSOF(usb_keys); i++)
                if (!streq(usb_keys[i].name, "idProductArray"))
                        n += check_scalar_key(personality, &usb_keys[i], where, diag);
        n += check_product_array(personality, where, diag);
        if (n == 0)
                n += check_range(personality, where, diag);
        if (n == 0)
                check_combination(personality, where, diag);
        return n;
}

bool rk_usb_index_vendor(const rk_value *personality, uint16_t *vendor) {
        uint64_t v;

        /* every level that admits idVendor requires it to match; "*" and bad values pin nothing */
        if (!rk_integer_u64(rk_dict_get(personality, "idVendor"), &v) || v > 0xffff)
                return false;
        if (vendor)
                *vendor = (uint16_t) v;
        return true;
}
