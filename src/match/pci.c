/* SPDX-License-Identifier: MIT */
/*
 * PCI family matching: what IOPCIDevice does in matchPropertyTable()
 * (IOPCIBridge::matchNubWithPropertyTable(), pciMatchNub() and matchKeys()
 * in Apple's IOPCIFamily/IOPCIBridge.cpp, and the key descriptions in
 * IOPCIDevice.h).  Written from those descriptions; no code is taken.
 *
 * Keys and the 32-bit config-space register each one compares:
 *
 *   IOPCIMatch           0x00 (device << 16 | vendor), else 0x2c
 *                        (subsystem << 16 | subsystem vendor)
 *   IOPCIPrimaryMatch    0x00 only
 *   IOPCISecondaryMatch  0x2c only
 *   IOPCIClassMatch      0x08 (class code << 8 | revision); default mask
 *                        0xffffff00, so "0x02000000&0xffff0000" is any
 *                        Ethernet controller (class 0x02, subclass 0x00)
 *
 * Each value is a string of entries separated by white space; an entry is
 * a hex number ("0x" optional) with an optional "&mask" (white space may
 * surround the '&').  An entry matches when (value & mask) == (reg & mask);
 * any entry of a key suffices, and every key present must match, checked in
 * the order above (the first that fails is the failed key).  The default
 * mask is all ones except for IOPCIClassMatch.  matchKeys() parses with
 * strtoul() and silently stops at the first token it cannot read; here such
 * a string is an error (validate) and never matches (match).
 *
 * The nub's registers come from its properties vendor-id, device-id,
 * subsystem-vendor-id, subsystem-id, class-code (24 bits) and revision-id:
 * 4-byte little-endian data as IOPCIFamily publishes them, or integers.  A
 * missing property leaves its bits unknown, and an entry whose mask covers
 * unknown bits does not match.
 *
 * Score: IOPCIFamily on Apple silicon adds 1000 when IOPCIMatch matched the
 * vendor/device register (not the subsystem one, and not for the other
 * keys); on Intel (ACPI builds) it adds nothing.  We follow Apple silicon.
 *
 * Thunderbolt: on a nub with the IOPCITunnelled property, a personality
 * whose IOClass is a string other than IOPCI2PCIBridge matches only with
 * IOPCITunnelCompatible = true (IOPCIFamily's default kIOPCIConfigurator-
 * CheckTunnel policy).  This applies whatever other keys it has.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "match/family.h"
#include "shared/macro.h"

typedef enum pci_reg {
        REG_ID,       /* 0x00 */
        REG_CLASS,    /* 0x08 */
        REG_SUBSYS,   /* 0x2c */
} pci_reg;

typedef struct pci_key {
        const char *name;
        pci_reg regs[2];
        size_t n_regs;
        uint32_t default_mask;
} pci_key;

static const pci_key pci_keys[] = {
        { "IOPCIMatch", { REG_ID, REG_SUBSYS }, 2, 0xffffffff },
        { "IOPCIPrimaryMatch", { REG_ID }, 1, 0xffffffff },
        { "IOPCISecondaryMatch", { REG_SUBSYS }, 1, 0xffffffff },
        { "IOPCIClassMatch", { REG_CLASS }, 1, 0xffffff00 },
};

#define TUNNEL_KEY "IOPCITunnelCompatible"

bool rk_pci_is_key(const char *key) {
        if (!key)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(pci_keys); i++)
                if (streq(key, pci_keys[i].name))
                        return true;
        return streq(key, TUNNEL_KEY);
}

/* ---- the match string ---- */

typedef struct pci_entry {
        uint32_t value, mask;
        const char *start; /* for messages */
        size_t len;
} pci_entry;

static bool is_space(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* A 32-bit hex number, "0x" optional.  Returns false on no digits or overflow. */
static bool parse_hex(const char **p, uint32_t *ret) {
        const char *s = *p;
        uint64_t v = 0;
        int d;

        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && unhexchar(s[2]) >= 0)
                s += 2;
        if (unhexchar(*s) < 0)
                return false;
        for (; (d = unhexchar(*s)) >= 0; s++) {
                v = (v << 4) | (uint64_t) d;
                if (v > 0xffffffff)
                        return false;
        }
        *ret = (uint32_t) v;
        *p = s;
        return true;
}

/*
 * The next entry of *p.  Returns 1 and the entry, 0 at the end of the
 * string, -EINVAL at a malformed entry (e->start/len then cover it).
 */
static int next_entry(const char **p, uint32_t default_mask, pci_entry *e) {
        const char *s = *p, *after;

        while (is_space(*s))
                s++;
        if (!*s)
                return 0;
        e->start = s;
        e->mask = default_mask;
        if (!parse_hex(&s, &e->value))
                goto malformed;
        after = s;
        while (is_space(*s))
                s++;
        if (*s == '&') {
                s++;
                while (is_space(*s))
                        s++;
                if (!parse_hex(&s, &e->mask))
                        goto malformed;
        } else
                s = after; /* no mask: the white space separates entries */
        if (*s && !is_space(*s))
                goto malformed;
        e->len = (size_t) (s - e->start);
        *p = s;
        return 1;

malformed:
        while (*s && !is_space(*s))
                s++;
        e->len = (size_t) (s - e->start);
        return -EINVAL;
}

/* ---- matching ---- */

typedef struct pci_regs {
        uint32_t value[3], known[3]; /* known: the bits the nub's properties supply */
} pci_regs;

static void put(const rk_value *provider, const char *key, uint32_t width_mask, unsigned shift, pci_regs *r,
                pci_reg reg) {
        uint64_t v;

        if (!rk_value_as_u64(rk_dict_get(provider, key), &v))
                return;
        r->value[reg] |= (uint32_t) (v & width_mask) << shift;
        r->known[reg] |= width_mask << shift;
}

static void read_regs(const rk_value *provider, pci_regs *r) {
        memset(r, 0, sizeof(*r));
        put(provider, "vendor-id", 0xffff, 0, r, REG_ID);
        put(provider, "device-id", 0xffff, 16, r, REG_ID);
        put(provider, "revision-id", 0xff, 0, r, REG_CLASS);
        put(provider, "class-code", 0xffffff, 8, r, REG_CLASS);
        put(provider, "subsystem-vendor-id", 0xffff, 0, r, REG_SUBSYS);
        put(provider, "subsystem-id", 0xffff, 16, r, REG_SUBSYS);
}

/* Does any entry of s match register `reg`?  A malformed string never matches. */
static bool entries_match(const char *s, uint32_t default_mask, const pci_regs *r, pci_reg reg) {
        pci_entry e;
        bool found = false;
        int k;

        while ((k = next_entry(&s, default_mask, &e)) > 0)
                if ((e.mask & ~r->known[reg]) == 0 && (e.value & e.mask) == (r->value[reg] & e.mask))
                        found = true;
        return k == 0 && found;
}

static bool tunnel_allows(const rk_value *personality, const rk_value *provider) {
        const rk_value *tunnelled = rk_dict_get(provider, "IOPCITunnelled");
        const char *io_class = rk_dict_get_string(personality, "IOClass");

        if (!tunnelled || (rk_value_is(tunnelled, RK_TYPE_BOOL) && !rk_bool(tunnelled)))
                return true;
        if (!io_class || streq(io_class, "IOPCI2PCIBridge"))
                return true;
        return rk_bool(rk_dict_get(personality, TUNNEL_KEY));
}

bool rk_pci_match(const rk_value *personality, const rk_value *provider, int64_t *score, const char **failed_key) {
        const char *bad = NULL;
        int64_t local = 0;
        pci_regs r;

        if (!rk_value_is(personality, RK_TYPE_DICT) || !rk_value_is(provider, RK_TYPE_DICT))
                goto reject;
        read_regs(provider, &r);
        for (size_t i = 0; i < ELEMENTSOF(pci_keys) && !bad; i++) {
                const pci_key *k = &pci_keys[i];
                const rk_value *v = rk_dict_get(personality, k->name);
                bool ok = false;

                if (!v)
                        continue;
                for (size_t j = 0; j < k->n_regs && !ok && rk_value_is(v, RK_TYPE_STRING); j++) {
                        ok = entries_match(rk_string(v), k->default_mask, &r, k->regs[j]);
                        /* IOPCIFamily's bonus: IOPCIMatch on the vendor/device register */
                        if (ok && k->n_regs > 1 && k->regs[j] == REG_ID)
                                local = RK_PCI_SCORE_PRIMARY_ID;
                }
                if (!ok)
                        bad = k->name;
        }
        if (!bad && !tunnel_allows(personality, provider))
                bad = TUNNEL_KEY;
        if (bad)
                goto reject;
        if (score)
                *score = local;
        if (failed_key)
                *failed_key = NULL;
        return true;

reject:
        if (score)
                *score = 0;
        if (failed_key)
                *failed_key = bad;
        return false;
}

/* ---- validation ---- */

static unsigned check_match_string(const rk_value *p, const pci_key *k, const rk_where *where, rk_diag *diag) {
        const rk_value *v = rk_dict_get(p, k->name);
        rk_where w = where ? *where : (rk_where){ 0 };
        const char *s;
        pci_entry e;
        unsigned n = 0;
        int r;

        if (!v)
                return 0;
        w.key = k->name;
        if (!rk_value_is(v, RK_TYPE_STRING)) {
                rk_diag_add(diag, RK_DIAG_ERROR, &w,
                            "must be a string of hex entries such as \"0x10d38086&0xffffffff\", not %s",
                            rk_type_name(rk_value_type(v)));
                return 1;
        }
        s = rk_string(v);
        while ((r = next_entry(&s, k->default_mask, &e)) > 0) {
                n++;
                if (e.value & ~e.mask)
                        rk_diag_add(diag, RK_DIAG_WARNING, &w,
                                    "entry '%.*s' has value bits outside its mask 0x%08" PRIx32 "; they are ignored",
                                    (int) e.len, e.start, e.mask);
        }
        if (r < 0) {
                rk_diag_add(diag, RK_DIAG_ERROR, &w,
                            "entry %u '%.*s' is malformed: expected a 32-bit hex number, optionally followed by "
                            "'&' and a hex mask",
                            n + 1, (int) e.len, e.start);
                return 1;
        }
        if (n == 0) {
                rk_diag_add(diag, RK_DIAG_ERROR, &w, "must list at least one entry");
                return 1;
        }
        return 0;
}

unsigned rk_pci_validate(const rk_value *personality, const rk_where *where, rk_diag *diag) {
        const rk_value *t;
        unsigned n = 0;

        if (!rk_value_is(personality, RK_TYPE_DICT))
                return 0;
        for (size_t i = 0; i < ELEMENTSOF(pci_keys); i++)
                n += check_match_string(personality, &pci_keys[i], where, diag);
        t = rk_dict_get(personality, TUNNEL_KEY);
        if (t && !rk_value_is(t, RK_TYPE_BOOL)) {
                rk_where w = where ? *where : (rk_where){ 0 };
                w.key = TUNNEL_KEY;
                rk_diag_add(diag, RK_DIAG_ERROR, &w, "must be a boolean, not %s", rk_type_name(rk_value_type(t)));
                n++;
        }
        return n;
}

/* ---- index hints ---- */

/*
 * The vendor every entry of `key` pins in the low 16 bits of its register,
 * or false when an entry leaves vendor bits open or entries disagree.
 */
static bool key_pins_vendor(const rk_value *p, const char *key, uint16_t *vendor) {
        const char *s = rk_dict_get_string(p, key);
        pci_entry e;
        bool any = false;
        int r;

        if (!s)
                return false;
        while ((r = next_entry(&s, 0xffffffff, &e)) > 0) {
                if ((e.mask & 0xffff) != 0xffff || (any && (e.value & 0xffff) != *vendor))
                        return false;
                *vendor = (uint16_t) (e.value & 0xffff);
                any = true;
        }
        return r == 0 && any;
}

bool rk_pci_index_vendor(const rk_value *personality, uint16_t *vendor) {
        uint16_t v;

        if (!key_pins_vendor(personality, "IOPCIPrimaryMatch", &v))
                return false;
        if (vendor)
                *vendor = v;
        return true;
}

bool rk_pci_index_any_vendor(const rk_value *personality, uint16_t *vendor) {
        uint16_t v;

        if (!key_pins_vendor(personality, "IOPCIPrimaryMatch", &v) &&
            !key_pins_vendor(personality, "IOPCIMatch", &v) &&
            !key_pins_vendor(personality, "IOPCISecondaryMatch", &v))
                return false;
        if (vendor)
                *vendor = v;
        return true;
}
