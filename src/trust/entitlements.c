/* SPDX-License-Identifier: MIT */
/*
 * Entitlement rules (see entitlements.h and docs/entitlements.md).  The
 * table below is the single list of known keys: their shape and whether a
 * certificate must grant them.  Adding an entitlement means adding a row.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "shared/macro.h"
#include "trust/entitlements.h"

typedef enum shape {
        SHAPE_BOOL,            /* true / false */
        SHAPE_USB,             /* array of { idVendor: int } */
        SHAPE_PCI,             /* array of { vendor-id: int } or { IOPCIPrimaryMatch: string } */
        SHAPE_STRINGS_OR_TRUE, /* true, or array of strings */
        SHAPE_STRINGS,         /* array of strings */
} shape;

static const struct known {
        const char *key;
        shape shape;
        bool restricted;
} known[] = {
        { RK_ENT_DRIVERKIT, SHAPE_BOOL, false },
        { RK_ENT_USB, SHAPE_USB, true },
        { RK_ENT_PCI, SHAPE_PCI, true },
        { RK_ENT_HID, SHAPE_BOOL, true },
        { RK_ENT_SERIAL, SHAPE_BOOL, true },
        { RK_ENT_NETWORKING, SHAPE_BOOL, true },
        { RK_ENT_USERCLIENT, SHAPE_STRINGS_OR_TRUE, true },
        { RK_ENT_ANY_USERCLIENT, SHAPE_BOOL, true },
        { RK_ENT_THIRD_PARTY_USERCLIENTS, SHAPE_BOOL, true },
        { RK_ENT_HID_DEVICE, SHAPE_BOOL, true },
        { RK_ENT_HID_EVENTSERVICE, SHAPE_BOOL, true },
        { RK_ENT_ENDPOINT_SECURITY, SHAPE_BOOL, true },
        { RK_ENT_NETWORK_EXTENSION, SHAPE_STRINGS, true },
        { RK_ENT_SYSEXT_INSTALL, SHAPE_BOOL, false },
        { RK_ENT_VIRTUAL_DEVICES, SHAPE_BOOL, false },
};

static const struct known *lookup(const char *key) {
        for (size_t i = 0; i < ELEMENTSOF(known); i++)
                if (streq(known[i].key, key))
                        return &known[i];
        return NULL;
}

bool rk_entitlement_is_restricted(const char *key) {
        const struct known *k = key ? lookup(key) : NULL;
        return k && k->restricted;
}

static bool all_strings(const rk_value *a) {
        for (size_t i = 0; i < rk_array_size(a); i++)
                if (!rk_value_is(rk_array_get(a, i), RK_TYPE_STRING))
                        return false;
        return true;
}

static bool device_dict_ok(const rk_value *d, bool pci) {
        uint64_t u;
        if (!rk_value_is(d, RK_TYPE_DICT))
                return false;
        if (rk_dict_get_u64(d, pci ? "vendor-id" : "idVendor", &u))
                return u <= 0xffff;
        if (!pci && streq_ptr(rk_dict_get_string(d, "idVendor"), "*"))
                return true;
        return pci && rk_dict_get_string(d, "IOPCIPrimaryMatch");
}

static const char *shape_problem(const rk_value *v, shape s) {
        switch (s) {
        case SHAPE_BOOL:
                return rk_value_is(v, RK_TYPE_BOOL) ? NULL : "must be a boolean";
        case SHAPE_USB:
        case SHAPE_PCI:
                if (!rk_value_is(v, RK_TYPE_ARRAY))
                        return "must be an array of dictionaries";
                for (size_t i = 0; i < rk_array_size(v); i++)
                        if (!device_dict_ok(rk_array_get(v, i), s == SHAPE_PCI))
                                return s == SHAPE_PCI ? "each item needs vendor-id (0..0xffff) or IOPCIPrimaryMatch"
                                                      : "each item needs idVendor (0..0xffff, or \"*\" for development)";
                return NULL;
        case SHAPE_STRINGS_OR_TRUE:
                if (rk_value_is(v, RK_TYPE_BOOL))
                        return NULL;
                if (!rk_value_is(v, RK_TYPE_ARRAY) || !all_strings(v))
                        return "must be true or an array of strings";
                return NULL;
        case SHAPE_STRINGS:
                if (!rk_value_is(v, RK_TYPE_ARRAY) || !all_strings(v))
                        return "must be an array of strings";
                return NULL;
        }
        return "unknown shape";
}

int rk_entitlements_validate(const rk_value *ents, const char *name, rk_diag *diag) {
        if (!ents)
                return -EINVAL;
        if (!rk_value_is(ents, RK_TYPE_DICT)) {
                rk_diag_add(diag, RK_DIAG_ERROR, &(rk_where){ .file = name }, "entitlements must be a dictionary");
                return -EBADMSG;
        }
        int r = 0;
        for (size_t i = 0; i < rk_dict_size(ents); i++) {
                const char *key = rk_dict_key_at(ents, i);
                const struct known *k = lookup(key);
                const rk_where w = { .file = name, .key = key };
                if (!k) {
                        rk_diag_add(diag, RK_DIAG_WARNING, &w, "unknown entitlement");
                        continue;
                }
                const char *p = shape_problem(rk_dict_value_at(ents, i), k->shape);
                if (p) {
                        rk_diag_add(diag, RK_DIAG_ERROR, &w, "entitlement %s %s", key, p);
                        r = -EBADMSG;
                }
        }
        return r;
}

static bool granted_by(const rk_value *granted, const char *key) {
        for (size_t i = 0; i < rk_array_size(granted); i++) {
                const char *g = rk_string(rk_array_get(granted, i));
                if (!g)
                        continue;
                size_t n = strlen(g);
                if (streq(g, key) || (n >= 2 && streq(g + n - 2, ".*") && strncmp(g, key, n - 1) == 0))
                        return true;
        }
        return false;
}

int rk_entitlements_check_restricted(const rk_value *ents, const rk_value *granted, const char *signer,
                                     rk_diag *diag) {
        if (!ents)
                return -EINVAL;
        int r = 0;
        for (size_t i = 0; i < rk_dict_size(ents); i++) {
                const char *key = rk_dict_key_at(ents, i);
                const rk_value *v = rk_dict_value_at(ents, i);
                if (!rk_entitlement_is_restricted(key) || (rk_value_is(v, RK_TYPE_BOOL) && !rk_bool(v)))
                        continue;
                if (granted_by(granted, key))
                        continue;
                rk_diag_add(diag, RK_DIAG_ERROR, &(rk_where){ .key = key },
                            "entitlement escalation: %s is not granted by certificate %s", key,
                            signer ?: "(unknown)");
                r = -EPERM;
        }
        return r;
}

/* A provider property, looked up on the provider and then its parents (an interface's device). */
static bool provider_u64(const rk_match_provider *p, const char *key, uint64_t *ret) {
        for (; p; p = p->parent)
                if (rk_value_as_u64(rk_dict_get(p->properties, key), ret))
                        return true;
        return false;
}

/* idVendor "*" is the development variant (any vendor): honoured in developer mode only. */
static bool usb_allowed(const rk_value *list, uint64_t vendor, unsigned flags) {
        for (size_t i = 0; i < rk_array_size(list); i++) {
                const rk_value *d = rk_array_get(list, i);
                uint64_t v;
                if (rk_dict_get_u64(d, "idVendor", &v) && v == vendor)
                        return true;
                if ((flags & RK_ENT_DEVELOPER_MODE) && streq_ptr(rk_dict_get_string(d, "idVendor"), "*"))
                        return true;
        }
        return false;
}

/* IOPCIPrimaryMatch: space-separated "0xDDDDVVVV" or "0xDDDDVVVV&0xMMMMMMMM" words. */
static bool pci_primary_match(const char *s, uint32_t id) {
        while (s && *s) {
                char *end = NULL;
                unsigned long val = strtoul(s, &end, 16), mask = 0xffffffffUL;
                if (end == s)
                        return false;
                if (*end == '&') {
                        const char *m = end + 1;
                        mask = strtoul(m, &end, 16);
                        if (end == m)
                                return false;
                }
                if (((uint32_t) val & (uint32_t) mask) == (id & (uint32_t) mask))
                        return true;
                s = end + strspn(end, " ");
        }
        return false;
}

static bool pci_allowed(const rk_value *list, uint64_t vendor, uint64_t device) {
        uint32_t id = (uint32_t) ((device & 0xffff) << 16 | (vendor & 0xffff));
        for (size_t i = 0; i < rk_array_size(list); i++) {
                const rk_value *d = rk_array_get(list, i);
                uint64_t v;
                if (rk_dict_get_u64(d, "vendor-id", &v) && v == vendor)
                        return true;
                if (pci_primary_match(rk_dict_get_string(d, "IOPCIPrimaryMatch"), id))
                        return true;
        }
        return false;
}

static bool has_any(const rk_match_provider *p, const char *const *classes) {
        for (; *classes; classes++)
                if (rk_match_provider_has_class(p, *classes))
                        return true;
        return false;
}

static bool ent_true(const rk_value *ents, const char *key) {
        return rk_bool(rk_dict_get(ents, key));
}

static bool deny(const char **why, const char *reason) {
        if (why)
                *why = reason;
        return false;
}

bool rk_entitlements_allow_provider(const rk_value *ents, const rk_match_provider *prov, unsigned flags,
                                    const char **why) {
        static const char *const usb[] = { "IOUSBHostDevice", "IOUSBHostInterface", NULL };
        static const char *const pci[] = { "IOPCIDevice", NULL };
        static const char *const hid[] = { "IOHIDInterface", "IOHIDDevice", NULL };
        static const char *const serial[] = { "IOSerialStreamSync", "IOUserSerial", NULL };
        uint64_t vendor = 0, device = 0;

        if (why)
                *why = NULL;
        if (!prov)
                return deny(why, "no provider");
        if (!ent_true(ents, RK_ENT_DRIVERKIT))
                return deny(why, "missing " RK_ENT_DRIVERKIT);
        if (rk_match_provider_has_class(prov, "RKVirtualDevice") && !(flags & RK_ENT_DEVELOPER_MODE) &&
            !ent_true(ents, RK_ENT_VIRTUAL_DEVICES))
                return deny(why, "virtual device needs " RK_ENT_VIRTUAL_DEVICES " or developer mode");
        if (has_any(prov, usb)) {
                if (!provider_u64(prov, "idVendor", &vendor))
                        return deny(why, "USB provider has no idVendor");
                if (!usb_allowed(rk_dict_get(ents, RK_ENT_USB), vendor, flags))
                        return deny(why, "idVendor not in " RK_ENT_USB);
                return true;
        }
        if (has_any(prov, pci)) {
                if (!provider_u64(prov, "vendor-id", &vendor))
                        return deny(why, "PCI provider has no vendor-id");
                (void) provider_u64(prov, "device-id", &device);
                if (!pci_allowed(rk_dict_get(ents, RK_ENT_PCI), vendor, device))
                        return deny(why, "vendor-id not in " RK_ENT_PCI);
                return true;
        }
        if (has_any(prov, hid) && !ent_true(ents, RK_ENT_HID))
                return deny(why, "missing " RK_ENT_HID);
        if (has_any(prov, serial) && !ent_true(ents, RK_ENT_SERIAL))
                return deny(why, "missing " RK_ENT_SERIAL);
        return true;
}

bool rk_entitlements_allow_userclient(const rk_value *client_ents, const char *target_bundle_id) {
        const rk_value *v = rk_dict_get(client_ents, RK_ENT_USERCLIENT);
        if (!v || !target_bundle_id)
                return false;
        if (rk_value_is(v, RK_TYPE_BOOL))
                return rk_bool(v);
        for (size_t i = 0; i < rk_array_size(v); i++)
                if (streq_ptr(rk_string(rk_array_get(v, i)), target_bundle_id))
                        return true;
        return false;
}
