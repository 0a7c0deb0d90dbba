/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for PCI family matching (src/match/pci.c): the four match
 * keys and the registers they read, value&mask entries and default masks,
 * the string syntax, data-vs-integer nub properties, missing properties,
 * the Thunderbolt rule, scores, validation and the index hints.
 */
#include <stdarg.h>

#include "match/family.h"
#include "shared/diag.h"
#include "shared/macro.h"
#include "test.h"
#include "value/value.h"

static rk_value *I(uint64_t u) {
        rk_value *v = NULL;
        rk_value_new_integer(u, false, &v);
        return v;
}

static rk_value *S(const char *s) {
        rk_value *v = NULL;
        rk_value_new_string(s, &v);
        return v;
}

static rk_value *B(bool b) {
        rk_value *v = NULL;
        rk_value_new_bool(b, &v);
        return v;
}

/* 4-byte little-endian data, as IOPCIFamily publishes config registers */
static rk_value *D32(uint32_t u) {
        uint8_t b[4] = { (uint8_t) u, (uint8_t) (u >> 8), (uint8_t) (u >> 16), (uint8_t) (u >> 24) };
        rk_value *v = NULL;
        rk_value_new_data(b, sizeof(b), &v);
        return v;
}

/* key, value, ..., NULL; takes the values' references */
static rk_value *DICT(const char *key, ...) {
        rk_value *d = NULL;
        va_list ap;
        rk_value_new_dict(&d);
        va_start(ap, key);
        for (const char *k = key; k; k = va_arg(ap, const char *)) {
                rk_value *v = va_arg(ap, rk_value *);
                rk_dict_set(d, k, v);
                rk_value_unref(v);
        }
        va_end(ap);
        return d;
}

/* a PCI nub with its registers as 4-byte data */
static rk_value *nub(uint16_t vendor, uint16_t device, uint16_t sub_vendor, uint16_t sub_device, uint32_t class_code,
                     uint8_t revision) {
        return DICT("vendor-id", D32(vendor), "device-id", D32(device), "subsystem-vendor-id", D32(sub_vendor),
                    "subsystem-id", D32(sub_device), "class-code", D32(class_code), "revision-id", D32(revision),
                    "name", S("pci-device"), NULL);
}

typedef struct result {
        bool ok;
        int64_t score;
        const char *failed;
} result;

static result run(const rk_value *personality, const rk_value *provider) {
        result r = { .score = -1, .failed = "unset" };
        r.ok = rk_pci_match(personality, provider, &r.score, &r.failed);
        return r;
}

#define CHECK_MATCH(r, expected_score)                 \
        do {                                           \
                result _r = (r);                       \
                CHECK(_r.ok);                          \
                CHECK_INTEQ(_r.score, expected_score); \
                CHECK(_r.failed == NULL);              \
        } while (0)

#define CHECK_REJECT(r, key)                 \
        do {                                 \
                result _r = (r);             \
                CHECK(!_r.ok);               \
                CHECK_INTEQ(_r.score, 0);    \
                CHECK_STREQ(_r.failed, key); \
        } while (0)

/* one personality with a single key */
static result run1(const char *key, const char *value, const rk_value *provider) {
        _cleanup_(rk_value_unrefp) rk_value *p = DICT(key, S(value), NULL);
        return run(p, provider);
}

TEST(pci_is_key) {
        CHECK(rk_pci_is_key("IOPCIMatch"));
        CHECK(rk_pci_is_key("IOPCIPrimaryMatch"));
        CHECK(rk_pci_is_key("IOPCISecondaryMatch"));
        CHECK(rk_pci_is_key("IOPCIClassMatch"));
        CHECK(rk_pci_is_key("IOPCITunnelCompatible"));
        CHECK(!rk_pci_is_key("IOPCIMatchX"));
        CHECK(!rk_pci_is_key("idVendor"));
        CHECK(!rk_pci_is_key("vendor-id"));
        CHECK(!rk_pci_is_key(NULL));
}

TEST(pci_no_keys_imposes_nothing) {
        _cleanup_(rk_value_unrefp) rk_value *p = DICT("IOProviderClass", S("IOPCIDevice"), "IOClass", S("Drv"), NULL);
        _cleanup_(rk_value_unrefp) rk_value *n = nub(0x8086, 0x10d3, 0x8086, 0xa01f, 0x020000, 0);
        CHECK_MATCH(run(p, n), 0);
}

TEST(pci_bad_arguments) {
        _cleanup_(rk_value_unrefp) rk_value *n = nub(0x8086, 0x10d3, 0x8086, 0xa01f, 0x020000, 0);
        const char *failed = "unset";
        int64_t score = 5;
        CHECK(!rk_pci_match(NULL, n, &score, &failed));
        CHECK(failed == NULL && score == 0);
        CHECK(!rk_pci_match(n, NULL, &score, &failed));
        CHECK(rk_pci_match(n, n, NULL, NULL)); /* no PCI keys in a nub's table */
}

TEST(pci_real_intel_nic) {
        _cleanup_(rk_value_unrefp) rk_value *p =
                DICT("CFBundleIdentifier", S("com.example.IntelGbE"), "IOClass", S("IntelGbE"), "IOProviderClass",
                     S("IOPCIDevice"), "IOPCIMatch", S("0x10d38086 0x10f68086&0xffffffff"), NULL);
        _cleanup_(rk_value_unrefp) rk_value *e82574 = nub(0x8086, 0x10d3, 0x8086, 0xa01f, 0x020000, 0);
        _cleanup_(rk_value_unrefp) rk_value *e82574_oem = nub(0x8086, 0x10d3, 0x15d9, 0x0000, 0x020000, 0);
        _cleanup_(rk_value_unrefp) rk_value *e82574l = nub(0x8086, 0x10f6, 0x8086, 0x0000, 0x020000, 0);
        _cleanup_(rk_value_unrefp) rk_value *i210 = nub(0x8086, 0x1533, 0x8086, 0x0001, 0x020000, 3);
        _cleanup_(rk_value_unrefp) rk_value *realtek = nub(0x10ec, 0x8168, 0x1043, 0x8677, 0x020000, 6);
        CHECK_MATCH(run(p, e82574), RK_PCI_SCORE_PRIMARY_ID);
        CHECK_MATCH(run(p, e82574_oem), RK_PCI_SCORE_PRIMARY_ID);
        CHECK_MATCH(run(p, e82574l), RK_PCI_SCORE_PRIMARY_ID);
        CHECK_REJECT(run(p, i210), "IOPCIMatch");
        CHECK_REJECT(run(p, realtek), "IOPCIMatch");
}

TEST(pci_match_falls_back_to_subsystem) {
        /* IOPCIMatch also matches the subsystem register, without the bonus */
        _cleanup_(rk_value_unrefp) rk_value *board = nub(0x10ec, 0x8168, 0x8086, 0x10d3, 0x020000, 6);
        CHECK_MATCH(run1("IOPCIMatch", "0x10d38086", board), 0);
        CHECK_REJECT(run1("IOPCIPrimaryMatch", "0x10d38086", board), "IOPCIPrimaryMatch");
        CHECK_MATCH(run1("IOPCISecondaryMatch", "0x10d38086", board), 0);
}

TEST(pci_primary_and_secondary) {
        _cleanup_(rk_value_unrefp) rk_value *n = nub(0x14e4, 0x43a0, 0x106b, 0x0117, 0x028000, 3);
        CHECK_MATCH(run1("IOPCIPrimaryMatch", "0x43a014e4", n), 0); /* no bonus, as in IOPCIFamily */
        CHECK_REJECT(run1("IOPCIPrimaryMatch", "0x0117106b", n), "IOPCIPrimaryMatch");
        CHECK_MATCH(run1("IOPCISecondaryMatch", "0x0117106b", n), 0);
        CHECK_REJECT(run1("IOPCISecondaryMatch", "0x43a014e4", n), "IOPCISecondaryMatch");
        CHECK_MATCH(run1("IOPCISecondaryMatch", "0x0000106b&0x0000ffff", n), 0);
}

TEST(pci_masks_from_apple_docs) {
        /* vendor 0x9004, device 0xzz78 or 0x78zz */
        const char *m = "0x00789004&0x00ffffff 0x78009004&0xff00ffff";
        _cleanup_(rk_value_unrefp) rk_value *a = nub(0x9004, 0x1278, 0, 0, 0x010000, 0);
        _cleanup_(rk_value_unrefp) rk_value *b = nub(0x9004, 0x7812, 0, 0, 0x010000, 0);
        _cleanup_(rk_value_unrefp) rk_value *c = nub(0x9004, 0x1234, 0, 0, 0x010000, 0);
        _cleanup_(rk_value_unrefp) rk_value *d = nub(0x9005, 0x1278, 0, 0, 0x010000, 0);
        CHECK_MATCH(run1("IOPCIMatch", m, a), RK_PCI_SCORE_PRIMARY_ID);
        CHECK_MATCH(run1("IOPCIMatch", m, b), RK_PCI_SCORE_PRIMARY_ID);
        CHECK_REJECT(run1("IOPCIMatch", m, c), "IOPCIMatch");
        CHECK_REJECT(run1("IOPCIMatch", m, d), "IOPCIMatch");
        /* any device of a vendor */
        CHECK_MATCH(run1("IOPCIPrimaryMatch", "0x00009004&0x0000ffff", c), 0);
}

TEST(pci_class_match) {
        _cleanup_(rk_value_unrefp) rk_value *eth = nub(0x8086, 0x10d3, 0x8086, 0, 0x020000, 0);
        _cleanup_(rk_value_unrefp) rk_value *xhci = nub(0x8086, 0xa36d, 0x8086, 0, 0x0c0330, 0x10);
        _cleanup_(rk_value_unrefp) rk_value *ehci = nub(0x8086, 0xa36d, 0x8086, 0, 0x0c0320, 0x10);
        /* class code sits above the revision: 0xCCSSPP00, default mask 0xffffff00 */
        CHECK_MATCH(run1("IOPCIClassMatch", "0x02000000&0xffff0000", eth), 0);
        CHECK_MATCH(run1("IOPCIClassMatch", "0x0c033000", xhci), 0);
        CHECK_REJECT(run1("IOPCIClassMatch", "0x0c033000", ehci), "IOPCIClassMatch");
        CHECK_MATCH(run1("IOPCIClassMatch", "0x0c030000&0xffff0000", ehci), 0);
        /* the default mask ignores the revision; an explicit one may include it */
        CHECK_MATCH(run1("IOPCIClassMatch", "0x0c033010&0xffffffff", xhci), 0);
        CHECK_REJECT(run1("IOPCIClassMatch", "0x0c033011&0xffffffff", xhci), "IOPCIClassMatch");
        /* the unshifted class code is a common mistake and does not match */
        CHECK_REJECT(run1("IOPCIClassMatch", "0x0c0330", xhci), "IOPCIClassMatch");
        CHECK_MATCH(run1("IOPCIClassMatch", "0x01060100 0x0c033000", xhci), 0);
}

TEST(pci_all_keys_must_match_in_order) {
        _cleanup_(rk_value_unrefp) rk_value *n = nub(0x8086, 0x10d3, 0x8086, 0xa01f, 0x020000, 0);
        _cleanup_(rk_value_unrefp) rk_value *ok = DICT("IOPCIMatch", S("0x10d38086"), "IOPCIPrimaryMatch",
                                                        S("0x10d38086"), "IOPCISecondaryMatch", S("0xa01f8086"),
                                                        "IOPCIClassMatch", S("0x02000000"), NULL);
        _cleanup_(rk_value_unrefp) rk_value *bad_class = DICT("IOPCIMatch", S("0x10d38086"), "IOPCIClassMatch",
                                                               S("0x03000000&0xff000000"), NULL);
        _cleanup_(rk_value_unrefp) rk_value *two_bad = DICT("IOPCIClassMatch", S("0x03000000"), "IOPCIMatch",
                                                             S("0x15338086"), NULL);
        _cleanup_(rk_value_unrefp) rk_value *bad_secondary = DICT("IOPCIPrimaryMatch", S("0x10d38086"),
                                                                   "IOPCISecondaryMatch", S("0x00001043&0x0000ffff"),
                                                                   NULL);
        CHECK_MATCH(run(ok, n), RK_PCI_SCORE_PRIMARY_ID);
        CHECK_REJECT(run(bad_class, n), "IOPCIClassMatch");
        CHECK_REJECT(run(two_bad, n), "IOPCIMatch"); /* IOPCIMatch is checked first */
        CHECK_REJECT(run(bad_secondary, n), "IOPCISecondaryMatch");
}

TEST(pci_integer_properties) {
        _cleanup_(rk_value_unrefp) rk_value *n =
                DICT("vendor-id", I(0x1002), "device-id", I(0x67df), "subsystem-vendor-id", I(0x1458),
                     "subsystem-id", I(0x22fc), "class-code", I(0x030000), "revision-id", I(0xe7), NULL);
        CHECK_MATCH(run1("IOPCIMatch", "0x67df1002", n), RK_PCI_SCORE_PRIMARY_ID);
        CHECK_MATCH(run1("IOPCIClassMatch", "0x03000000&0xff000000", n), 0);
        CHECK_MATCH(run1("IOPCISecondaryMatch", "0x22fc1458", n), 0);
}

TEST(pci_missing_properties) {
        /* no subsystem, no revision */
        _cleanup_(rk_value_unrefp) rk_value *n =
                DICT("vendor-id", D32(0x1b36), "device-id", D32(0x000d), "class-code", D32(0x0c0330), NULL);
        _cleanup_(rk_value_unrefp) rk_value *no_vendor = DICT("device-id", D32(0x000d), NULL);
        CHECK_REJECT(run1("IOPCISecondaryMatch", "0x00000000", n), "IOPCISecondaryMatch");
        CHECK_MATCH(run1("IOPCISecondaryMatch", "0x00000000&0x00000000", n), 0); /* an empty mask needs nothing */
        CHECK_MATCH(run1("IOPCIMatch", "0x000d1b36", n), RK_PCI_SCORE_PRIMARY_ID);
        CHECK_MATCH(run1("IOPCIClassMatch", "0x0c033000", n), 0);
        CHECK_REJECT(run1("IOPCIClassMatch", "0x0c033000&0xffffffff", n), "IOPCIClassMatch");
        CHECK_REJECT(run1("IOPCIMatch", "0x000d1b36", no_vendor), "IOPCIMatch");
        CHECK_MATCH(run1("IOPCIMatch", "0x000d0000&0xffff0000", no_vendor), RK_PCI_SCORE_PRIMARY_ID);
}

TEST(pci_string_syntax) {
        _cleanup_(rk_value_unrefp) rk_value *n = nub(0x8086, 0x10d3, 0x8086, 0xa01f, 0x020000, 0);
        static const char *const good[] = {
                "0x10d38086",
                "0X10D38086",
                "10d38086",
                "  0x10d38086  ",
                "0x1234abcd\t0x10d38086",
                "0x1234abcd\n0x10d38086\n",
                "0x10d38086 & 0xffffffff",
                "0x10d38086&0xffffffff",
                "0x000010d38086", /* leading zeros are fine while the value fits 32 bits */
                "0x00008086&0x0000FFFF",
        };
        static const char *const bad[] = {
                "", "   ", "0x", "0xZZ", "0x10d38086,0x10f68086", "0x10d38086&", "&0xffff", "0x110d38086",
                "0x10d38086&0x0xff", "0x10d38086 junk", "-0x10d38086", "0x10d38086&&0xffffffff",
        };
        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                CHECK_MATCH(run1("IOPCIPrimaryMatch", good[i], n), 0);
        /* a malformed string never matches, even when an entry before the fault would */
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                CHECK_REJECT(run1("IOPCIPrimaryMatch", bad[i], n), "IOPCIPrimaryMatch");
}

TEST(pci_non_string_value_never_matches) {
        _cleanup_(rk_value_unrefp) rk_value *n = nub(0x8086, 0x10d3, 0x8086, 0xa01f, 0x020000, 0);
        _cleanup_(rk_value_unrefp) rk_value *p = DICT("IOPCIMatch", I(0x10d38086), NULL);
        CHECK_REJECT(run(p, n), "IOPCIMatch");
}

TEST(pci_thunderbolt_rule) {
        _cleanup_(rk_value_unrefp) rk_value *tb = nub(0x8086, 0x15eb, 0x8086, 0, 0x020000, 0);
        _cleanup_(rk_value_unrefp) rk_value *plain = DICT("IOClass", S("Drv"), "IOPCIMatch", S("0x15eb8086"), NULL);
        _cleanup_(rk_value_unrefp) rk_value *compat = DICT("IOClass", S("Drv"), "IOPCIMatch", S("0x15eb8086"),
                                                            "IOPCITunnelCompatible", B(true), NULL);
        _cleanup_(rk_value_unrefp) rk_value *refuses = DICT("IOClass", S("Drv"), "IOPCIMatch", S("0x15eb8086"),
                                                             "IOPCITunnelCompatible", B(false), NULL);
        _cleanup_(rk_value_unrefp) rk_value *bridge = DICT("IOClass", S("IOPCI2PCIBridge"), "IOPCIClassMatch",
                                                            S("0x06040000"), NULL);
        _cleanup_(rk_value_unrefp) rk_value *no_class = DICT("IOPCIMatch", S("0x15eb8086"), NULL);
        _cleanup_(rk_value_unrefp) rk_value *no_keys = DICT("IOClass", S("Drv"), NULL);
        _cleanup_(rk_value_unrefp) rk_value *tb_bridge = nub(0x8086, 0x15ea, 0, 0, 0x060400, 0);

        /* not tunnelled: no rule */
        CHECK_MATCH(run(plain, tb), RK_PCI_SCORE_PRIMARY_ID);
        rk_dict_set_bool(tb, "IOPCITunnelled", false);
        CHECK_MATCH(run(plain, tb), RK_PCI_SCORE_PRIMARY_ID);

        rk_dict_set_bool(tb, "IOPCITunnelled", true);
        rk_dict_set_bool(tb_bridge, "IOPCITunnelled", true);
        CHECK_REJECT(run(plain, tb), "IOPCITunnelCompatible");
        CHECK_REJECT(run(refuses, tb), "IOPCITunnelCompatible");
        CHECK_MATCH(run(compat, tb), RK_PCI_SCORE_PRIMARY_ID);
        CHECK_MATCH(run(bridge, tb_bridge), 0);
        CHECK_MATCH(run(no_class, tb), RK_PCI_SCORE_PRIMARY_ID); /* IOPCIFamily skips the rule without IOClass */
        CHECK_REJECT(run(no_keys, tb), "IOPCITunnelCompatible"); /* applies without PCI keys too */
}

/* ---- validation ---- */

static const rk_where here = { .file = "Info.plist", .bundle = "com.example.nic", .personality = "NIC" };

static void check_one(const rk_diag *d, rk_diag_level level, const char *key) {
        CHECK_INTEQ(rk_diag_count(d, level), 1);
        for (size_t i = 0; i < d->n; i++)
                if (d->items[i].level == level) {
                        CHECK_STREQ(d->items[i].key, key);
                        CHECK_STREQ(d->items[i].bundle, "com.example.nic");
                        CHECK_STREQ(d->items[i].personality, "NIC");
                }
}

TEST(pci_validate_good) {
        _cleanup_(rk_value_unrefp) rk_value *p =
                DICT("IOPCIMatch", S("0x10d38086 0x10f68086&0xffffffff"), "IOPCIPrimaryMatch", S("0x10d38086"),
                     "IOPCISecondaryMatch", S("0x00008086&0x0000ffff"), "IOPCIClassMatch",
                     S("0x02000000&0xffff0000"), "IOPCITunnelCompatible", B(true), "IOProbeScore", I(3), NULL);
        rk_diag d;
        rk_diag_init(&d);
        CHECK_INTEQ(rk_pci_validate(p, &here, &d), 0);
        CHECK_INTEQ(d.n, 0);
        rk_diag_done(&d);
}

TEST(pci_validate_errors) {
        struct {
                const char *key;
                rk_value *v;
        } cases[] = {
                { "IOPCIMatch", S("") },
                { "IOPCIMatch", S("  \t ") },
                { "IOPCIMatch", S("0xZZ") },
                { "IOPCIMatch", S("0x10d38086,0x10f68086") },
                { "IOPCIPrimaryMatch", S("0x110d38086") },
                { "IOPCIPrimaryMatch", S("0x10d38086&") },
                { "IOPCISecondaryMatch", S("&0xffff") },
                { "IOPCISecondaryMatch", S("0x10d38086 0x") },
                { "IOPCIClassMatch", S("0x02000000&0x0xffff0000") },
                { "IOPCIClassMatch", S("ethernet") },
                { "IOPCIMatch", I(0x10d38086) },
                { "IOPCIClassMatch", B(true) },
                { "IOPCITunnelCompatible", S("true") },
                { "IOPCITunnelCompatible", I(1) },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(rk_value_unrefp) rk_value *p = DICT(cases[i].key, cases[i].v, NULL);
                rk_diag d;
                rk_diag_init(&d);
                CHECK_INTEQ(rk_pci_validate(p, &here, &d), 1);
                check_one(&d, RK_DIAG_ERROR, cases[i].key);
                rk_diag_done(&d);
        }
}

TEST(pci_validate_names_the_bad_entry) {
        _cleanup_(rk_value_unrefp) rk_value *p = DICT("IOPCIMatch", S("0x10d38086 0x10f6808G 0x15338086"), NULL);
        rk_diag d;
        rk_diag_init(&d);
        CHECK_INTEQ(rk_pci_validate(p, &here, &d), 1);
        ASSERT(d.n == 1);
        CHECK(strstr(d.items[0].message, "entry 2") != NULL);
        CHECK(strstr(d.items[0].message, "0x10f6808G") != NULL);
        rk_diag_done(&d);
}

TEST(pci_validate_counts_every_key) {
        _cleanup_(rk_value_unrefp) rk_value *p = DICT("IOPCIMatch", S("x"), "IOPCIClassMatch", S(""),
                                                       "IOPCITunnelCompatible", I(0), NULL);
        CHECK_INTEQ(rk_pci_validate(p, NULL, NULL), 3);
        CHECK_INTEQ(rk_pci_validate(NULL, NULL, NULL), 0);
}

TEST(pci_validate_warns_about_bits_outside_mask) {
        _cleanup_(rk_value_unrefp) rk_value *p = DICT("IOPCIClassMatch", S("0x0c0330"), NULL);
        rk_diag d;
        rk_diag_init(&d);
        CHECK_INTEQ(rk_pci_validate(p, &here, &d), 0);
        check_one(&d, RK_DIAG_WARNING, "IOPCIClassMatch");
        rk_diag_done(&d);
}

/* ---- index ---- */

TEST(pci_index_vendor) {
        _cleanup_(rk_value_unrefp) rk_value *primary = DICT("IOPCIPrimaryMatch", S("0x10d38086 0x10f68086"), NULL);
        _cleanup_(rk_value_unrefp) rk_value *masked = DICT("IOPCIPrimaryMatch", S("0x00008086&0x0000ffff"), NULL);
        _cleanup_(rk_value_unrefp) rk_value *two = DICT("IOPCIPrimaryMatch", S("0x10d38086 0x816810ec"), NULL);
        _cleanup_(rk_value_unrefp) rk_value *open = DICT("IOPCIPrimaryMatch", S("0x10d38086&0xffff0000"), NULL);
        _cleanup_(rk_value_unrefp) rk_value *match = DICT("IOPCIMatch", S("0x10d38086 0x10f68086&0xffffffff"), NULL);
        _cleanup_(rk_value_unrefp) rk_value *both = DICT("IOPCIMatch", S("0x10d38086"), "IOPCIPrimaryMatch",
                                                          S("0x816810ec"), NULL);
        _cleanup_(rk_value_unrefp) rk_value *secondary = DICT("IOPCISecondaryMatch", S("0x0117106b"), NULL);
        _cleanup_(rk_value_unrefp) rk_value *cls = DICT("IOPCIClassMatch", S("0x02000000"), NULL);
        _cleanup_(rk_value_unrefp) rk_value *broken = DICT("IOPCIPrimaryMatch", S("0x10d38086 zz"), NULL);
        uint16_t v = 0;

        CHECK(rk_pci_index_vendor(primary, &v));
        CHECK_INTEQ(v, 0x8086);
        CHECK(rk_pci_index_vendor(masked, &v));
        CHECK_INTEQ(v, 0x8086);
        CHECK(!rk_pci_index_vendor(two, &v));
        CHECK(!rk_pci_index_vendor(open, &v));
        /* IOPCIMatch may match through the subsystem: no single vendor-id */
        CHECK(!rk_pci_index_vendor(match, &v));
        CHECK(rk_pci_index_vendor(both, &v));
        CHECK_INTEQ(v, 0x10ec);
        CHECK(!rk_pci_index_vendor(secondary, &v));
        CHECK(!rk_pci_index_vendor(cls, &v));
        CHECK(!rk_pci_index_vendor(broken, &v));
        CHECK(!rk_pci_index_vendor(NULL, &v));

        /* the weaker hint: vendor-id or subsystem-vendor-id */
        CHECK(rk_pci_index_any_vendor(match, &v));
        CHECK_INTEQ(v, 0x8086);
        CHECK(rk_pci_index_any_vendor(secondary, &v));
        CHECK_INTEQ(v, 0x106b);
        CHECK(rk_pci_index_any_vendor(both, &v));
        CHECK_INTEQ(v, 0x10ec);
        CHECK(!rk_pci_index_any_vendor(cls, &v));
        CHECK(!rk_pci_index_any_vendor(two, &v));
}
