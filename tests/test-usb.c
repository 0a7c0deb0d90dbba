/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for USB family matching (src/match/usb.c): every key, the
 * precedence levels and their scores, masks, product arrays, bcdDevice
 * ranges, wildcards, data-vs-integer nub properties, the failed key of each
 * kind of rejection, validation, and a few real-world personalities.
 */
#include <stdarg.h>

#include "match/family.h"
#include "shared/diag.h"
#include "shared/macro.h"
#include "test.h"
#include "value/value.h"

/* ---- building values ---- */

static rk_value *I(uint64_t u) {
        rk_value *v = NULL;
        rk_value_new_integer(u, false, &v);
        return v;
}

static rk_value *NEG(int64_t s) {
        rk_value *v = NULL;
        rk_value_new_integer((uint64_t) s, true, &v);
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

/* little-endian data of n bytes, as a registry might publish a number */
static rk_value *LE(uint64_t u, size_t n) {
        uint8_t b[8];
        rk_value *v = NULL;
        for (size_t i = 0; i < n; i++)
                b[i] = (uint8_t) (u >> (8 * i));
        rk_value_new_data(b, n, &v);
        return v;
}

/* an array of integers; the list ends with -1 */
static rk_value *ARR(int first, ...) {
        rk_value *a = NULL;
        va_list ap;
        rk_value_new_array(&a);
        va_start(ap, first);
        for (int x = first; x >= 0; x = va_arg(ap, int)) {
                rk_value *e = I((uint64_t) x);
                rk_array_append(a, e);
                rk_value_unref(e);
        }
        va_end(ap);
        return a;
}

/* key, value, key, value, ..., NULL; takes the values' references */
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

static rk_value *device(unsigned vid, unsigned pid, unsigned bcd, unsigned cls, unsigned sub, unsigned proto) {
        return DICT("idVendor", I(vid), "idProduct", I(pid), "bcdDevice", I(bcd), "bDeviceClass", I(cls),
                    "bDeviceSubClass", I(sub), "bDeviceProtocol", I(proto), NULL);
}

static rk_value *interface(unsigned vid, unsigned pid, unsigned bcd, unsigned cfg, unsigned num, unsigned cls,
                           unsigned sub, unsigned proto) {
        return DICT("idVendor", I(vid), "idProduct", I(pid), "bcdDevice", I(bcd), "bConfigurationValue", I(cfg),
                    "bInterfaceNumber", I(num), "bInterfaceClass", I(cls), "bInterfaceSubClass", I(sub),
                    "bInterfaceProtocol", I(proto), "bAlternateSetting", I(0), NULL);
}

/* ---- running a match ---- */

typedef struct result {
        bool ok;
        int64_t score; /* the family's score */
        int64_t total; /* what the engine ranks by: IOProbeScore + family score */
        const char *failed;
} result;

static result run(const rk_value *personality, const rk_value *provider, rk_usb_nub nub) {
        result r = { .score = -1, .failed = "unset" };
        int64_t probe = 0;

        r.ok = rk_usb_match(personality, provider, nub, &r.score, &r.failed);
        rk_integer_s64(rk_dict_get(personality, "IOProbeScore"), &probe);
        r.total = probe + r.score;
        return r;
}

#define CHECK_MATCH(r, expected_score)                  \
        do {                                            \
                result _r = (r);                        \
                CHECK(_r.ok);                           \
                CHECK_INTEQ(_r.score, expected_score);  \
                CHECK(_r.failed == NULL);               \
        } while (0)

#define CHECK_REJECT(r, key)                     \
        do {                                     \
                result _r = (r);                 \
                CHECK(!_r.ok);                   \
                CHECK_INTEQ(_r.score, 0);        \
                CHECK_STREQ(_r.failed, key);     \
        } while (0)

/* ---- keys ---- */

TEST(usb_is_key) {
        static const char *const keys[] = {
                "idVendor",        "idProduct",       "idProductArray",  "idProductMask",      "bcdDevice",
                "bcdDeviceLow",    "bcdDeviceHigh",   "bDeviceClass",    "bDeviceSubClass",    "bDeviceProtocol",
                "bInterfaceClass", "bInterfaceSubClass", "bInterfaceProtocol", "bConfigurationValue",
                "bInterfaceNumber",
        };
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                CHECK(rk_usb_is_key(keys[i]));
        CHECK(!rk_usb_is_key("IOProbeScore"));
        CHECK(!rk_usb_is_key("IOPCIMatch"));
        CHECK(!rk_usb_is_key("idvendor"));
        CHECK(!rk_usb_is_key("bAlternateSetting"));
        CHECK(!rk_usb_is_key(""));
        CHECK(!rk_usb_is_key(NULL));
}

TEST(usb_no_keys_imposes_nothing) {
        _cleanup_(rk_value_unrefp) rk_value *p = DICT("IOProviderClass", S("IOUSBHostDevice"), "IOClass",
                                                       S("Driver"), "IOProbeScore", I(5000), NULL);
        _cleanup_(rk_value_unrefp) rk_value *dev = device(0x05ac, 0x1234, 0x0100, 0, 0, 0);
        CHECK_MATCH(run(p, dev, RK_USB_DEVICE), 0);
        CHECK_MATCH(run(p, dev, RK_USB_INTERFACE), 0);
}

TEST(usb_bad_arguments) {
        _cleanup_(rk_value_unrefp) rk_value *p = DICT("idVendor", I(1), "idProduct", I(2), NULL);
        _cleanup_(rk_value_unrefp) rk_value *dev = device(1, 2, 0, 0, 0, 0);
        const char *failed = "unset";
        int64_t score = 7;
        CHECK(!rk_usb_match(NULL, dev, RK_USB_DEVICE, &score, &failed));
        CHECK(failed == NULL && score == 0);
        CHECK(!rk_usb_match(p, NULL, RK_USB_DEVICE, &score, &failed));
        CHECK(!rk_usb_match(dev, p, (rk_usb_nub) 7, &score, &failed));
        CHECK(rk_usb_match(p, dev, RK_USB_DEVICE, NULL, NULL)); /* out parameters are optional */
}

/* ---- device levels ---- */

TEST(usb_device_vendor_product) {
        _cleanup_(rk_value_unrefp) rk_value *p = DICT("idVendor", I(0x05ac), "idProduct", I(0x1234), NULL);
        _cleanup_(rk_value_unrefp) rk_value *dev = device(0x05ac, 0x1234, 0x0100, 0, 0, 0);
        _cleanup_(rk_value_unrefp) rk_value *other_product = device(0x05ac, 0x1235, 0x0100, 0, 0, 0);
        _cleanup_(rk_value_unrefp) rk_value *other_vendor = device(0x05ad, 0x1234, 0x0100, 0, 0, 0);
        CHECK_MATCH(run(p, dev, RK_USB_DEVICE), RK_USB_SCORE_PRODUCT);
        CHECK_REJECT(run(p, other_product, RK_USB_DEVICE), "idProduct");
        CHECK_REJECT(run(p, other_vendor, RK_USB_DEVICE), "idVendor");
}

TEST(usb_device_vendor_product_release) {
        _cleanup_(rk_value_unrefp) rk_value *p =
                DICT("idVendor", I(0x05ac), "idProduct", I(0x1234), "bcdDevice", I(0x0210), NULL);
        _cleanup_(rk_value_unrefp) rk_value *dev = device(0x05ac, 0x1234, 0x0210, 0, 0, 0);
        _cleanup_(rk_value_unrefp) rk_value *older = device(0x05ac, 0x1234, 0x0200, 0, 0, 0);
        CHECK_MATCH(run(p, dev, RK_USB_DEVICE), RK_USB_SCORE_PRODUCT_RELEASE);
        /* a bcdDevice that is present must match even though 90000 does not need it */
        CHECK_REJECT(run(p, older, RK_USB_DEVICE), "bcdDevice");
}

TEST(usb_device_product_level_checks_optional_class_keys) {
        _cleanup_(rk_value_unrefp) rk_value *p =
                DICT("idVendor", I(0x05ac), "idProduct", I(0x1234), "bDeviceClass", I(9), NULL);
        _cleanup_(rk_value_unrefp) rk_value *hub = device(0x05ac, 0x1234, 0x0100, 9, 0, 1);
        _cleanup_(rk_value_unrefp) rk_value *composite = device(0x05ac, 0x1234, 0x0100, 0, 0, 0);
        CHECK_MATCH(run(p, hub, RK_USB_DEVICE), RK_USB_SCORE_PRODUCT);
        CHECK_REJECT(run(p, composite, RK_USB_DEVICE), "bDeviceClass");
}

TEST(usb_device_vendor_specific_levels) {
        _cleanup_(rk_value_unrefp) rk_value *vsp =
                DICT("idVendor", I(0x0bda), "bDeviceSubClass", I(0xff), "bDeviceProtocol", I(0xff), NULL);
        _cleanup_(rk_value_unrefp) rk_value *vs = DICT("idVendor", I(0x0bda), "bDeviceSubClass", I(0xff), NULL);
        _cleanup_(rk_value_unrefp) rk_value *vendor_dev = device(0x0bda, 0x8153, 0x3000, 0xff, 0xff, 0xff);
        _cleanup_(rk_value_unrefp) rk_value *class_dev = device(0x0bda, 0x8153, 0x3000, 0x02, 0xff, 0xff);
        _cleanup_(rk_value_unrefp) rk_value *other_vendor = device(0x0bdb, 0x8153, 0x3000, 0xff, 0xff, 0xff);
        _cleanup_(rk_value_unrefp) rk_value *other_proto = device(0x0bda, 0x8153, 0x3000, 0xff, 0xff, 0x01);
        CHECK_MATCH(run(vsp, vendor_dev, RK_USB_DEVICE), RK_USB_SCORE_VENDOR_SUBCLASS_PROTOCOL);
        CHECK_MATCH(run(vs, vendor_dev, RK_USB_DEVICE), RK_USB_SCORE_VENDOR_SUBCLASS);
        /* only a vendor-specific device (class 0xff) matches by vendor and subclass */
        CHECK_REJECT(run(vsp, class_dev, RK_USB_DEVICE), "bDeviceClass");
        CHECK_REJECT(run(vs, class_dev, RK_USB_DEVICE), "bDeviceClass");
        CHECK_REJECT(run(vsp, other_vendor, RK_USB_DEVICE), "idVendor");
        CHECK_REJECT(run(vsp, other_proto, RK_USB_DEVICE), "bDeviceProtocol");
}

TEST(usb_device_vendor_level_accepts_class_key) {
        _cleanup_(rk_value_unrefp) rk_value *p = DICT("idVendor", I(0x0bda), "bDeviceClass", I(0xff),
                                                       "bDeviceSubClass", I(0x01), NULL);
        _cleanup_(rk_value_unrefp) rk_value *wrong_class = DICT("idVendor", I(0x0bda), "bDeviceClass", I(0x03),
                                                                 "bDeviceSubClass", I(0x01), NULL);
        _cleanup_(rk_value_unrefp) rk_value *dev = device(0x0bda, 1, 1, 0xff, 0x01, 0x00);
        CHECK_MATCH(run(p, dev, RK_USB_DEVICE), RK_USB_SCORE_VENDOR_SUBCLASS);
        CHECK_REJECT(run(wrong_class, dev, RK_USB_DEVICE), "bDeviceClass");
}

TEST(usb_device_class_levels) {
        _cleanup_(rk_value_unrefp) rk_value *csp =
                DICT("bDeviceClass", I(9), "bDeviceSubClass", I(0), "bDeviceProtocol", I(2), NULL);
        _cleanup_(rk_value_unrefp) rk_value *cs = DICT("bDeviceClass", I(9), "bDeviceSubClass", I(0), NULL);
        _cleanup_(rk_value_unrefp) rk_value *hub = device(0x05e3, 0x0610, 0x0100, 9, 0, 2);
        _cleanup_(rk_value_unrefp) rk_value *fs_hub = device(0x05e3, 0x0610, 0x0100, 9, 0, 0);
        _cleanup_(rk_value_unrefp) rk_value *disk = device(0x0781, 0x5581, 0x0100, 8, 6, 0x50);
        CHECK_MATCH(run(csp, hub, RK_USB_DEVICE), RK_USB_SCORE_CLASS_SUBCLASS_PROTOCOL);
        CHECK_MATCH(run(cs, hub, RK_USB_DEVICE), RK_USB_SCORE_CLASS_SUBCLASS);
        CHECK_REJECT(run(csp, fs_hub, RK_USB_DEVICE), "bDeviceProtocol");
        CHECK_MATCH(run(cs, fs_hub, RK_USB_DEVICE), RK_USB_SCORE_CLASS_SUBCLASS);
        CHECK_REJECT(run(cs, disk, RK_USB_DEVICE), "bDeviceClass");
}

TEST(usb_vendor_specific_class_needs_vendor) {
        _cleanup_(rk_value_unrefp) rk_value *p =
                DICT("bDeviceClass", I(0xff), "bDeviceSubClass", I(0xff), "bDeviceProtocol", I(0xff), NULL);
        _cleanup_(rk_value_unrefp) rk_value *dev = device(0x0bda, 0x8153, 0x3000, 0xff, 0xff, 0xff);
        CHECK_REJECT(run(p, dev, RK_USB_DEVICE), "idVendor");
}

/* ---- precedence ---- */

TEST(usb_precedence_levels_beat_probe_score) {
        /* the same device, one personality per level; the lower levels get the most IOProbeScore */
        _cleanup_(rk_value_unrefp) rk_value *dev = device(0x0bda, 0x8153, 0x3000, 0xff, 0x02, 0x03);
        _cleanup_(rk_value_unrefp) rk_value *dev_std = device(0x0bda, 0x8153, 0x3000, 0x02, 0x06, 0x00);
        rk_value *ps[6] = {
                DICT("idVendor", I(0x0bda), "idProduct", I(0x8153), "bcdDevice", I(0x3000), "IOProbeScore", I(0), NULL),
                DICT("idVendor", I(0x0bda), "idProduct", I(0x8153), "IOProbeScore", I(9999), NULL),
                DICT("idVendor", I(0x0bda), "bDeviceSubClass", I(2), "bDeviceProtocol", I(3), "IOProbeScore",
                     I(9999), NULL),
                DICT("idVendor", I(0x0bda), "bDeviceSubClass", I(2), "IOProbeScore", I(9999), NULL),
                DICT("bDeviceClass", I(2), "bDeviceSubClass", I(6), "bDeviceProtocol", I(0), "IOProbeScore",
                     I(9999), NULL),
                DICT("bDeviceClass", I(2), "bDeviceSubClass", I(6), "IOProbeScore", I(9999), NULL),
        };
        result r[6];
        for (size_t i = 0; i < 6; i++)
                r[i] = run(ps[i], i < 4 ? dev : dev_std, RK_USB_DEVICE);
        for (size_t i = 0; i < 6; i++)
                CHECK(r[i].ok);
        CHECK_INTEQ(r[0].total, 100000);
        CHECK_INTEQ(r[1].total, 90000 + 9999); /* below 10000: not clamped, still under the next level */
        CHECK_INTEQ(r[2].total, 80000 + 9999);
        for (size_t i = 0; i + 1 < 6; i++)
                CHECK(r[i].total > r[i + 1].total);
        /* class levels on the standard-class device: 60000 over 50000 */
        CHECK_INTEQ(r[4].total, 69999);
        CHECK_INTEQ(r[5].total, 59999);
        for (size_t i = 0; i < 6; i++)
                rk_value_unref(ps[i]);
}

TEST(usb_probe_score_orders_within_a_level) {
        _cleanup_(rk_value_unrefp) rk_value *low =
                DICT("idVendor", I(0x05ac), "idProduct", I(0x1234), "IOProbeScore", I(1000), NULL);
        _cleanup_(rk_value_unrefp) rk_value *high =
                DICT("idVendor", I(0x05ac), "idProduct", I(0x1234), "IOProbeScore", I(5000), NULL);
        _cleanup_(rk_value_unrefp) rk_value *dev = device(0x05ac, 0x1234, 0x0100, 0, 0, 0);
        result a = run(low, dev, RK_USB_DEVICE), b = run(high, dev, RK_USB_DEVICE);
        CHECK(a.ok && b.ok);
        CHECK_INTEQ(a.total, 91000);
        CHECK_INTEQ(b.total, 95000);
        /* below the clamp the family score is the level alone */
        CHECK_INTEQ(a.score, RK_USB_SCORE_PRODUCT);
        CHECK_INTEQ(b.score, RK_USB_SCORE_PRODUCT);
}

TEST(usb_probe_score_clamp) {
        _cleanup_(rk_value_unrefp) rk_value *huge = DICT("idVendor", I(0x05ac), "idProduct", I(0x1234),
                                                          "IOProbeScore", I(60000), NULL);
        _cleanup_(rk_value_unrefp) rk_value *exact = DICT("idVendor", I(0x05ac), "idProduct", I(0x1234),
                                                           "bcdDevice", I(0x100), NULL);
        _cleanup_(rk_value_unrefp) rk_value *neg = DICT("idVendor", I(0x05ac), "idProduct", I(0x1234),
                                                         "IOProbeScore", NEG(-500), NULL);
        _cleanup_(rk_value_unrefp) rk_value *dev = device(0x05ac, 0x1234, 0x0100, 0, 0, 0);
        result h = run(huge, dev, RK_USB_DEVICE), e = run(exact, dev, RK_USB_DEVICE), n = run(neg, dev, RK_USB_DEVICE);
        CHECK(h.ok && e.ok && n.ok);
        CHECK_INTEQ(h.total, 99000);
        CHECK_INTEQ(h.score, 99000 - 60000);
        CHECK(e.total > h.total);
        CHECK_INTEQ(n.total, 89500); /* negative scores are not clamped */
        rk_dict_set_integer(huge, "IOProbeScore", 10000, false);
        CHECK_INTEQ(run(huge, dev, RK_USB_DEVICE).total, 99000); /* the clamp starts at 10000 */
        rk_dict_set_integer(huge, "IOProbeScore", 9999, false);
        CHECK_INTEQ(run(huge, dev, RK_USB_DEVICE).total, 99999);
}

/* ---- products ---- */

TEST(usb_product_array) {
        _cleanup_(rk_value_unrefp) rk_value *p =
                DICT("idVendor", I(0x0403), "idProductArray", ARR(0x6001, 0x6010, 0x6014, -1), NULL);
        _cleanup_(rk_value_unrefp) rk_value *both = DICT("idVendor", I(0x0403), "idProduct", I(0x9999),
                                                          "idProductArray", ARR(0x6010, -1), NULL);
        _cleanup_(rk_value_unrefp) rk_value *d6010 = device(0x0403, 0x6010, 0x0700, 0, 0, 0);
        _cleanup_(rk_value_unrefp) rk_value *d6015 = device(0x0403, 0x6015, 0x1000, 0, 0, 0);
        CHECK_MATCH(run(p, d6010, RK_USB_DEVICE), RK_USB_SCORE_PRODUCT);
        CHECK_REJECT(run(p, d6015, RK_USB_DEVICE), "idProductArray");
        /* with an array, idProduct is ignored */
        CHECK_MATCH(run(both, d6010, RK_USB_DEVICE), RK_USB_SCORE_PRODUCT);
}

TEST(usb_product_mask) {
        _cleanup_(rk_value_unrefp) rk_value *p =
                DICT("idVendor", I(0x046d), "idProduct", I(0xc500), "idProductMask", I(0xff00), NULL);
        _cleanup_(rk_value_unrefp) rk_value *exact = device(0x046d, 0xc500, 0x0100, 0, 0, 0);
        _cleanup_(rk_value_unrefp) rk_value *masked = device(0x046d, 0xc52b, 0x1200, 0, 0, 0);
        _cleanup_(rk_value_unrefp) rk_value *outside = device(0x046d, 0xc62b, 0x1200, 0, 0, 0);
        CHECK_MATCH(run(p, exact, RK_USB_DEVICE), RK_USB_SCORE_PRODUCT);
        CHECK_MATCH(run(p, masked, RK_USB_DEVICE), RK_USB_SCORE_PRODUCT - RK_USB_INEXACT_PENALTY);
        CHECK_REJECT(run(p, outside, RK_USB_DEVICE), "idProduct");
}

TEST(usb_product_array_with_mask) {
        _cleanup_(rk_value_unrefp) rk_value *p = DICT("idVendor", I(0x046d), "idProductArray",
                                                       ARR(0xc500, 0xc700, -1), "idProductMask", I(0xff00), NULL);
        _cleanup_(rk_value_unrefp) rk_value *masked = device(0x046d, 0xc712, 0x1200, 0, 0, 0);
        _cleanup_(rk_value_unrefp) rk_value *outside = device(0x046d, 0xc612, 0x1200, 0, 0, 0);
        CHECK_MATCH(run(p, masked, RK_USB_DEVICE), RK_USB_SCORE_PRODUCT - RK_USB_INEXACT_PENALTY);
        CHECK_REJECT(run(p, outside, RK_USB_DEVICE), "idProductArray");
}

TEST(usb_stray_mask_is_ignored) {
        /* Apple's nubs ignore a mask with nothing to mask; alone it matches nothing */
        _cleanup_(rk_value_unrefp) rk_value *p = DICT("idVendor", I(0x0bda), "bDeviceSubClass", I(0xff),
                                                       "idProductMask", I(0xff00), NULL);
        _cleanup_(rk_value_unrefp) rk_value *alone = DICT("idProductMask", I(0xff00), NULL);
        _cleanup_(rk_value_unrefp) rk_value *dev = device(0x0bda, 0x8153, 0x3000, 0xff, 0xff, 0xff);
        CHECK_MATCH(run(p, dev, RK_USB_DEVICE), RK_USB_SCORE_VENDOR_SUBCLASS);
        CHECK_REJECT(run(alone, dev, RK_USB_DEVICE), "idProductMask");
}

/* ---- bcdDevice ranges ---- */

TEST(usb_release_range) {
        _cleanup_(rk_value_unrefp) rk_value *p = DICT("idVendor", I(0x0403), "idProduct", I(0x6001),
                                                       "bcdDeviceLow", I(0x0400), "bcdDeviceHigh", I(0x0600), NULL);
        _cleanup_(rk_value_unrefp) rk_value *low_only =
                DICT("idVendor", I(0x0403), "idProduct", I(0x6001), "bcdDeviceLow", I(0x0600), NULL);
        _cleanup_(rk_value_unrefp) rk_value *high_only =
                DICT("idVendor", I(0x0403), "idProduct", I(0x6001), "bcdDeviceHigh", I(0x0400), NULL);
        _cleanup_(rk_value_unrefp) rk_value *range_and_exact =
                DICT("idVendor", I(0x0403), "idProduct", I(0x6001), "bcdDevice", I(0x0500), "bcdDeviceLow",
                     I(0x0400), "bcdDeviceHigh", I(0x0600), NULL);
        _cleanup_(rk_value_unrefp) rk_value *d0300 = device(0x0403, 0x6001, 0x0300, 0, 0, 0);
        _cleanup_(rk_value_unrefp) rk_value *d0400 = device(0x0403, 0x6001, 0x0400, 0, 0, 0);
        _cleanup_(rk_value_unrefp) rk_value *d0500 = device(0x0403, 0x6001, 0x0500, 0, 0, 0);
        _cleanup_(rk_value_unrefp) rk_value *d0600 = device(0x0403, 0x6001, 0x0600, 0, 0, 0);
        _cleanup_(rk_value_unrefp) rk_value *d0700 = device(0x0403, 0x6001, 0x0700, 0, 0, 0);
        const int64_t ranged = RK_USB_SCORE_PRODUCT_RELEASE - RK_USB_INEXACT_PENALTY;

        CHECK_REJECT(run(p, d0300, RK_USB_DEVICE), "bcdDeviceLow");
        CHECK_MATCH(run(p, d0400, RK_USB_DEVICE), ranged); /* inclusive */
        CHECK_MATCH(run(p, d0500, RK_USB_DEVICE), ranged);
        CHECK_MATCH(run(p, d0600, RK_USB_DEVICE), ranged);
        CHECK_REJECT(run(p, d0700, RK_USB_DEVICE), "bcdDeviceHigh");
        CHECK_MATCH(run(low_only, d0700, RK_USB_DEVICE), ranged);
        CHECK_REJECT(run(low_only, d0500, RK_USB_DEVICE), "bcdDeviceLow");
        CHECK_MATCH(run(high_only, d0300, RK_USB_DEVICE), ranged);
        CHECK_REJECT(run(high_only, d0500, RK_USB_DEVICE), "bcdDeviceHigh");
        /* an exact bcdDevice makes the range redundant: no penalty, both enforced */
        CHECK_MATCH(run(range_and_exact, d0500, RK_USB_DEVICE), RK_USB_SCORE_PRODUCT_RELEASE);
        CHECK_REJECT(run(range_and_exact, d0400, RK_USB_DEVICE), "bcdDevice");
}

TEST(usb_range_ranks_between_exact_release_and_product) {
        _cleanup_(rk_value_unrefp) rk_value *exact =
                DICT("idVendor", I(1), "idProduct", I(2), "bcdDevice", I(0x0105), NULL);
        _cleanup_(rk_value_unrefp) rk_value *range = DICT("idVendor", I(1), "idProduct", I(2), "bcdDeviceLow",
                                                           I(0x0100), "bcdDeviceHigh", I(0x01ff), NULL);
        _cleanup_(rk_value_unrefp) rk_value *product = DICT("idVendor", I(1), "idProduct", I(2), NULL);
        _cleanup_(rk_value_unrefp) rk_value *dev = device(1, 2, 0x0105, 0, 0, 0);
        result e = run(exact, dev, RK_USB_DEVICE), r = run(range, dev, RK_USB_DEVICE),
               p = run(product, dev, RK_USB_DEVICE);
        CHECK(e.ok && r.ok && p.ok);
        CHECK(e.total > r.total && r.total > p.total);
}

TEST(usb_release_missing_on_nub) {
        _cleanup_(rk_value_unrefp) rk_value *p =
                DICT("idVendor", I(1), "idProduct", I(2), "bcdDeviceLow", I(0x0100), NULL);
        _cleanup_(rk_value_unrefp) rk_value *exact = DICT("idVendor", I(1), "idProduct", I(2), "bcdDevice",
                                                           I(0x0100), NULL);
        _cleanup_(rk_value_unrefp) rk_value *dev = DICT("idVendor", I(1), "idProduct", I(2), NULL);
        CHECK_REJECT(run(p, dev, RK_USB_DEVICE), "bcdDeviceLow");
        CHECK_REJECT(run(exact, dev, RK_USB_DEVICE), "bcdDevice");
}

/* ---- wildcards, property forms ---- */

TEST(usb_wildcards) {
        _cleanup_(rk_value_unrefp) rk_value *any_product = DICT("idVendor", I(0x05ac), "idProduct", S("*"), NULL);
        _cleanup_(rk_value_unrefp) rk_value *any_release = DICT("idVendor", I(0x05ac), "idProduct", S("*"),
                                                                 "bcdDevice", S("*"), NULL);
        _cleanup_(rk_value_unrefp) rk_value *any_proto = DICT("bDeviceClass", I(9), "bDeviceSubClass", I(0),
                                                               "bDeviceProtocol", S("*"), NULL);
        _cleanup_(rk_value_unrefp) rk_value *any_class_proto = DICT("idVendor", I(0x05ac), "idProduct", I(0x1234),
                                                                     "bDeviceClass", S("*"), NULL);
        _cleanup_(rk_value_unrefp) rk_value *dev = device(0x05ac, 0x1234, 0x0100, 9, 0, 1);
        _cleanup_(rk_value_unrefp) rk_value *bare = DICT("idVendor", I(0x05ac), NULL);
        CHECK_MATCH(run(any_product, dev, RK_USB_DEVICE), RK_USB_SCORE_PRODUCT - RK_USB_WILDCARD_PENALTY);
        CHECK_MATCH(run(any_release, dev, RK_USB_DEVICE),
                    RK_USB_SCORE_PRODUCT_RELEASE - 2 * RK_USB_WILDCARD_PENALTY);
        CHECK_MATCH(run(any_proto, dev, RK_USB_DEVICE),
                    RK_USB_SCORE_CLASS_SUBCLASS_PROTOCOL - RK_USB_WILDCARD_PENALTY);
        /* optional keys of a level cost nothing when wild, as in IOUSBFamily */
        CHECK_MATCH(run(any_class_proto, dev, RK_USB_DEVICE), RK_USB_SCORE_PRODUCT);
        /* "*" matches even a property the nub lacks */
        CHECK_MATCH(run(any_product, bare, RK_USB_DEVICE), RK_USB_SCORE_PRODUCT - RK_USB_WILDCARD_PENALTY);
}

TEST(usb_data_and_integer_properties) {
        _cleanup_(rk_value_unrefp) rk_value *p =
                DICT("idVendor", I(0x05ac), "idProduct", I(0x8242), "bcdDevice", I(0x0016), NULL);
        _cleanup_(rk_value_unrefp) rk_value *as_data = DICT("idVendor", LE(0x05ac, 2), "idProduct", LE(0x8242, 4),
                                                             "bcdDevice", LE(0x0016, 8), NULL);
        _cleanup_(rk_value_unrefp) rk_value *bad_data = DICT("idVendor", LE(0x05ac, 2), "idProduct", LE(0x8242, 2),
                                                              "bcdDevice", S("0x0016"), NULL);
        _cleanup_(rk_value_unrefp) rk_value *empty_data = DICT("idVendor", LE(0, 0), "idProduct", I(0x8242),
                                                                "bcdDevice", I(0x0016), NULL);
        CHECK_MATCH(run(p, as_data, RK_USB_DEVICE), RK_USB_SCORE_PRODUCT_RELEASE);
        /* a nub property that is no number fails its key */
        CHECK_REJECT(run(p, bad_data, RK_USB_DEVICE), "bcdDevice");
        CHECK_REJECT(run(p, empty_data, RK_USB_DEVICE), "idVendor");
}

TEST(usb_personality_values_must_be_numbers) {
        /* a string (other than "*") or data never equals the nub's number, as in IOKit */
        _cleanup_(rk_value_unrefp) rk_value *str = DICT("idVendor", S("0x05ac"), "idProduct", I(0x1234), NULL);
        _cleanup_(rk_value_unrefp) rk_value *data = DICT("idVendor", I(0x05ac), "idProduct", LE(0x1234, 2), NULL);
        _cleanup_(rk_value_unrefp) rk_value *dev = device(0x05ac, 0x1234, 0x0100, 0, 0, 0);
        CHECK_REJECT(run(str, dev, RK_USB_DEVICE), "idVendor");
        CHECK_REJECT(run(data, dev, RK_USB_DEVICE), "idProduct");
}

TEST(usb_missing_nub_property_fails_its_key) {
        _cleanup_(rk_value_unrefp) rk_value *p = DICT("idVendor", I(1), "idProduct", I(2), NULL);
        _cleanup_(rk_value_unrefp) rk_value *no_product = DICT("idVendor", I(1), NULL);
        _cleanup_(rk_value_unrefp) rk_value *cls = DICT("bDeviceClass", I(9), "bDeviceSubClass", I(0), NULL);
        _cleanup_(rk_value_unrefp) rk_value *no_class = DICT("idVendor", I(1), "bDeviceSubClass", I(0), NULL);
        CHECK_REJECT(run(p, no_product, RK_USB_DEVICE), "idProduct");
        CHECK_REJECT(run(cls, no_class, RK_USB_DEVICE), "bDeviceClass");
}

/* ---- combinations that never match ---- */

TEST(usb_invalid_combinations_device) {
        _cleanup_(rk_value_unrefp) rk_value *dev = device(0x05ac, 0x1234, 0x0100, 9, 0, 1);
        rk_value *cases[] = {
                DICT("idVendor", I(0x05ac), NULL),
                DICT("idProduct", I(0x1234), NULL),
                DICT("idVendor", I(0x05ac), "bcdDevice", I(0x0100), NULL),
                DICT("bcdDevice", I(0x0100), NULL),
                DICT("bDeviceClass", I(9), NULL),
                DICT("bDeviceSubClass", I(0), "bDeviceProtocol", I(1), NULL),
                DICT("idVendor", I(0x05ac), "bDeviceProtocol", I(1), NULL),
                DICT("bInterfaceClass", I(3), "bInterfaceSubClass", I(1), NULL),
                DICT("bConfigurationValue", I(1), NULL),
        };
        static const char *const expected[] = {
                "idProduct",       "idVendor",        "idProduct",       "idVendor",        "bDeviceSubClass",
                "bDeviceClass",    "bDeviceSubClass", "bInterfaceClass", "bConfigurationValue",
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                CHECK_REJECT(run(cases[i], dev, RK_USB_DEVICE), expected[i]);
                rk_value_unref(cases[i]);
        }
}

TEST(usb_invalid_combinations_interface) {
        _cleanup_(rk_value_unrefp) rk_value *intf = interface(0x05ac, 0x1234, 0x0100, 1, 0, 3, 1, 1);
        rk_value *cases[] = {
                DICT("idVendor", I(0x05ac), "idProduct", I(0x1234), NULL),
                DICT("idVendor", I(0x05ac), "idProduct", I(0x1234), "bConfigurationValue", I(1), NULL),
                DICT("idVendor", I(0x05ac), "idProduct", I(0x1234), "bInterfaceNumber", I(0), NULL),
                DICT("idVendor", I(0x05ac), "idProduct", I(0x1234), "bInterfaceClass", I(3),
                     "bInterfaceSubClass", I(1), "bInterfaceProtocol", I(1), NULL),
                DICT("idVendor", I(0x05ac), NULL),
                DICT("bInterfaceClass", I(3), "bInterfaceSubClass", I(1), "bInterfaceNumber", I(0), NULL),
                DICT("bInterfaceClass", I(3), "bInterfaceSubClass", I(1), "bConfigurationValue", I(1), NULL),
                DICT("bInterfaceNumber", I(0), "bConfigurationValue", I(1), NULL),
                DICT("bDeviceClass", I(0), "bDeviceSubClass", I(0), NULL),
                DICT("idVendor", I(0x05ac), "bInterfaceNumber", I(0), NULL),
        };
        static const char *const expected[] = {
                "bConfigurationValue", "bInterfaceNumber", "bConfigurationValue", "bConfigurationValue",
                "idProduct",           "bInterfaceNumber", "bConfigurationValue", "bConfigurationValue",
                "bDeviceClass",        "idProduct",
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                CHECK_REJECT(run(cases[i], intf, RK_USB_INTERFACE), expected[i]);
                rk_value_unref(cases[i]);
        }
}

TEST(usb_other_nub_keys_are_ignored) {
        /* bInterface* keys mean nothing to a device nub, bDevice* nothing to an interface */
        _cleanup_(rk_value_unrefp) rk_value *p = DICT("idVendor", I(0x05ac), "idProduct", I(0x1234),
                                                       "bInterfaceClass", I(0x42), NULL);
        _cleanup_(rk_value_unrefp) rk_value *q = DICT("bInterfaceClass", I(3), "bInterfaceSubClass", I(1),
                                                       "bDeviceClass", I(0x42), NULL);
        _cleanup_(rk_value_unrefp) rk_value *dev = device(0x05ac, 0x1234, 0x0100, 0, 0, 0);
        _cleanup_(rk_value_unrefp) rk_value *intf = interface(0x05ac, 0x1234, 0x0100, 1, 0, 3, 1, 1);
        CHECK_MATCH(run(p, dev, RK_USB_DEVICE), RK_USB_SCORE_PRODUCT);
        CHECK_MATCH(run(q, intf, RK_USB_INTERFACE), RK_USB_SCORE_CLASS_SUBCLASS);
}

/* ---- interfaces ---- */

TEST(usb_interface_product_levels) {
        _cleanup_(rk_value_unrefp) rk_value *p = DICT("idVendor", I(0x05ac), "idProduct", I(0x0250),
                                                       "bConfigurationValue", I(1), "bInterfaceNumber", I(2), NULL);
        _cleanup_(rk_value_unrefp) rk_value *rel = DICT("idVendor", I(0x05ac), "idProduct", I(0x0250), "bcdDevice",
                                                         I(0x0110), "bConfigurationValue", I(1), "bInterfaceNumber",
                                                         I(2), NULL);
        _cleanup_(rk_value_unrefp) rk_value *if2 = interface(0x05ac, 0x0250, 0x0110, 1, 2, 3, 0, 0);
        _cleanup_(rk_value_unrefp) rk_value *if0 = interface(0x05ac, 0x0250, 0x0110, 1, 0, 3, 1, 1);
        _cleanup_(rk_value_unrefp) rk_value *cfg2 = interface(0x05ac, 0x0250, 0x0110, 2, 2, 3, 0, 0);
        CHECK_MATCH(run(p, if2, RK_USB_INTERFACE), RK_USB_SCORE_PRODUCT);
        CHECK_MATCH(run(rel, if2, RK_USB_INTERFACE), RK_USB_SCORE_PRODUCT_RELEASE);
        CHECK_REJECT(run(p, if0, RK_USB_INTERFACE), "bInterfaceNumber");
        CHECK_REJECT(run(p, cfg2, RK_USB_INTERFACE), "bConfigurationValue");
}

TEST(usb_interface_vendor_specific) {
        _cleanup_(rk_value_unrefp) rk_value *p = DICT("idVendor", I(0x0b05), "bInterfaceSubClass", I(0x5d),
                                                       "bInterfaceProtocol", I(0x01), NULL);
        _cleanup_(rk_value_unrefp) rk_value *vendor_if = interface(0x0b05, 0x1234, 0x0100, 1, 0, 0xff, 0x5d, 0x01);
        _cleanup_(rk_value_unrefp) rk_value *hid_if = interface(0x0b05, 0x1234, 0x0100, 1, 1, 0x03, 0x5d, 0x01);
        CHECK_MATCH(run(p, vendor_if, RK_USB_INTERFACE), RK_USB_SCORE_VENDOR_SUBCLASS_PROTOCOL);
        CHECK_REJECT(run(p, hid_if, RK_USB_INTERFACE), "bInterfaceClass");
}

TEST(usb_interface_ignores_device_class_of_nub) {
        /* an interface's vendor-specific test looks at bInterfaceClass only */
        _cleanup_(rk_value_unrefp) rk_value *p = DICT("idVendor", I(0x0b05), "bInterfaceSubClass", I(0x5d), NULL);
        _cleanup_(rk_value_unrefp) rk_value *intf =
                DICT("idVendor", I(0x0b05), "bDeviceClass", I(0xff), "bInterfaceClass", I(3),
                     "bInterfaceSubClass", I(0x5d), NULL);
        CHECK_REJECT(run(p, intf, RK_USB_INTERFACE), "bInterfaceClass");
}

/* ---- real-world personalities ---- */

TEST(usb_real_hid_keyboard_interface) {
        /* the boot keyboard interface, as a generic HID driver matches it, and a vendor override */
        _cleanup_(rk_value_unrefp) rk_value *generic =
                DICT("CFBundleIdentifier", S("com.apple.driver.AppleUserHIDDrivers"), "IOClass",
                     S("AppleUserUSBHostHIDDevice"), "IOProviderClass", S("IOUSBHostInterface"),
                     "bInterfaceClass", I(3), "bInterfaceSubClass", I(1), "bInterfaceProtocol", I(1),
                     "IOProbeScore", I(9000), NULL);
        _cleanup_(rk_value_unrefp) rk_value *vendor =
                DICT("IOClass", S("VendorKeyboard"), "IOProviderClass", S("IOUSBHostInterface"), "idVendor",
                     I(0x05ac), "idProduct", I(0x0250), "bConfigurationValue", I(1), "bInterfaceNumber", I(0),
                     NULL);
        _cleanup_(rk_value_unrefp) rk_value *keyboard = interface(0x05ac, 0x0250, 0x0110, 1, 0, 3, 1, 1);
        _cleanup_(rk_value_unrefp) rk_value *mouse = interface(0x046d, 0xc077, 0x7200, 1, 0, 3, 1, 2);
        result g = run(generic, keyboard, RK_USB_INTERFACE), v = run(vendor, keyboard, RK_USB_INTERFACE);
        CHECK(g.ok && v.ok);
        CHECK_INTEQ(g.total, 69000);
        CHECK_INTEQ(v.total, 90000);
        CHECK(v.total > g.total);
        CHECK_REJECT(run(generic, mouse, RK_USB_INTERFACE), "bInterfaceProtocol");
        CHECK_REJECT(run(vendor, mouse, RK_USB_INTERFACE), "idVendor");
}

TEST(usb_real_ftdi_serial) {
        /* FTDI's driver matches the FT232R's interface 0 with its chip revision */
        _cleanup_(rk_value_unrefp) rk_value *ft232r =
                DICT("CFBundleIdentifier", S("com.FTDI.driver.FTDIUSBSerialDriver"), "IOClass",
                     S("FTDIUSBSerialDriver"), "IOProviderClass", S("IOUSBInterface"), "idVendor", I(1027),
                     "idProduct", I(24577), "bcdDevice", I(1536), "bConfigurationValue", I(1),
                     "bInterfaceNumber", I(0), NULL);
        _cleanup_(rk_value_unrefp) rk_value *dext =
                DICT("IOClass", S("IOUserSerial"), "IOProviderClass", S("IOUSBHostInterface"), "idVendor",
                     I(0x0403), "idProductArray", ARR(0x6001, 0x6010, 0x6011, 0x6014, 0x6015, -1),
                     "bConfigurationValue", I(1), "bInterfaceNumber", I(0), "IOProbeScore", I(2000), NULL);
        _cleanup_(rk_value_unrefp) rk_value *chip = interface(0x0403, 0x6001, 0x0600, 1, 0, 0xff, 0xff, 0xff);
        _cleanup_(rk_value_unrefp) rk_value *ft232bm = interface(0x0403, 0x6001, 0x0400, 1, 0, 0xff, 0xff, 0xff);
        result a = run(ft232r, chip, RK_USB_INTERFACE), b = run(dext, chip, RK_USB_INTERFACE);
        CHECK(a.ok && b.ok);
        CHECK_INTEQ(a.total, 100000);
        CHECK_INTEQ(b.total, 92000);
        CHECK(a.total > b.total);
        CHECK_REJECT(run(ft232r, ft232bm, RK_USB_INTERFACE), "bcdDevice");
        CHECK_MATCH(run(dext, ft232bm, RK_USB_INTERFACE), RK_USB_SCORE_PRODUCT);
}

TEST(usb_real_mass_storage_and_hub_devices) {
        _cleanup_(rk_value_unrefp) rk_value *hub = DICT("IOProviderClass", S("IOUSBHostDevice"), "bDeviceClass",
                                                         I(9), "bDeviceSubClass", I(0), NULL);
        _cleanup_(rk_value_unrefp) rk_value *msc = DICT("IOProviderClass", S("IOUSBHostInterface"),
                                                         "bInterfaceClass", I(8), "bInterfaceSubClass", I(6),
                                                         "bInterfaceProtocol", I(0x50), NULL);
        _cleanup_(rk_value_unrefp) rk_value *hub_dev = device(0x05e3, 0x0610, 0x9304, 9, 0, 2);
        _cleanup_(rk_value_unrefp) rk_value *stick = interface(0x0781, 0x5581, 0x0100, 1, 0, 8, 6, 0x50);
        _cleanup_(rk_value_unrefp) rk_value *uas = interface(0x0781, 0x5581, 0x0100, 1, 0, 8, 6, 0x62);
        CHECK_MATCH(run(hub, hub_dev, RK_USB_DEVICE), RK_USB_SCORE_CLASS_SUBCLASS);
        CHECK_MATCH(run(msc, stick, RK_USB_INTERFACE), RK_USB_SCORE_CLASS_SUBCLASS_PROTOCOL);
        CHECK_REJECT(run(msc, uas, RK_USB_INTERFACE), "bInterfaceProtocol");
}

/* ---- validation ---- */

static const rk_where here = { .file = "Info.plist", .bundle = "com.example.drv", .personality = "P" };

static unsigned validate(const rk_value *p, rk_diag *d) {
        rk_diag_init(d);
        return rk_usb_validate(p, &here, d);
}

/* exactly one diagnostic of `level`, about `key` */
static void check_one(const rk_diag *d, rk_diag_level level, const char *key) {
        CHECK_INTEQ(rk_diag_count(d, level), 1);
        for (size_t i = 0; i < d->n; i++)
                if (d->items[i].level == level) {
                        CHECK_STREQ(d->items[i].key, key);
                        CHECK_STREQ(d->items[i].bundle, "com.example.drv");
                        CHECK_STREQ(d->items[i].personality, "P");
                        CHECK_STREQ(d->items[i].file, "Info.plist");
                        CHECK(d->items[i].message && d->items[i].message[0]);
                }
}

TEST(usb_validate_good_personalities) {
        rk_value *ps[] = {
                DICT("IOProviderClass", S("IOUSBHostDevice"), "idVendor", I(0x05ac), "idProduct", I(0x1234),
                     "bcdDevice", I(0x0100), NULL),
                DICT("IOProviderClass", S("IOUSBHostInterface"), "idVendor", I(0x0403), "idProductArray",
                     ARR(0x6001, 0x6010, -1), "idProductMask", I(0xfff0), "bConfigurationValue", I(1),
                     "bInterfaceNumber", I(0), "bcdDeviceLow", I(0x0400), "bcdDeviceHigh", I(0x0600), NULL),
                DICT("IOProviderClass", S("IOUSBHostInterface"), "bInterfaceClass", I(3), "bInterfaceSubClass",
                     I(1), "bInterfaceProtocol", S("*"), NULL),
                DICT("IOProviderClass", S("SomethingElse"), "idVendor", I(0xffff), NULL),
                DICT("IOProviderClass", S("IOUSBHostDevice"), NULL),
        };
        for (size_t i = 0; i < ELEMENTSOF(ps); i++) {
                rk_diag d;
                CHECK_INTEQ(validate(ps[i], &d), 0);
                CHECK_INTEQ(d.n, 0);
                rk_diag_done(&d);
                rk_value_unref(ps[i]);
        }
}

TEST(usb_validate_type_and_range_errors) {
        struct {
                rk_value *p;
                const char *key;
        } cases[] = {
                { DICT("idVendor", S("0x05ac"), NULL), "idVendor" },
                { DICT("idVendor", I(0x10000), NULL), "idVendor" },
                { DICT("idVendor", NEG(-1), NULL), "idVendor" },
                { DICT("idVendor", B(true), NULL), "idVendor" },
                { DICT("idVendor", LE(0x05ac, 2), NULL), "idVendor" },
                { DICT("idProduct", S(""), NULL), "idProduct" },
                { DICT("bcdDevice", I(0x12345), NULL), "bcdDevice" },
                { DICT("bcdDeviceLow", S("*"), NULL), "bcdDeviceLow" },
                { DICT("bcdDeviceHigh", I(0x10000), NULL), "bcdDeviceHigh" },
                { DICT("idProductMask", S("0xff00"), NULL), "idProductMask" },
                { DICT("idProductMask", I(0xffff0000), NULL), "idProductMask" },
                { DICT("bDeviceClass", I(0x100), NULL), "bDeviceClass" },
                { DICT("bDeviceSubClass", S("ff"), NULL), "bDeviceSubClass" },
                { DICT("bDeviceProtocol", NEG(-2), NULL), "bDeviceProtocol" },
                { DICT("bInterfaceClass", I(256), NULL), "bInterfaceClass" },
                { DICT("bInterfaceSubClass", B(false), NULL), "bInterfaceSubClass" },
                { DICT("bInterfaceProtocol", I(1000), NULL), "bInterfaceProtocol" },
                { DICT("bConfigurationValue", I(0x1ff), NULL), "bConfigurationValue" },
                { DICT("bInterfaceNumber", S("0"), NULL), "bInterfaceNumber" },
                { DICT("idProductArray", I(0x6001), NULL), "idProductArray" },
                { DICT("idProductArray", ARR(-1), NULL), "idProductArray" },
                { DICT("idProductArray", ARR(0x6001, 0x10000, -1), NULL), "idProductArray" },
                { DICT("bcdDeviceLow", I(0x0600), "bcdDeviceHigh", I(0x0400), NULL), "bcdDeviceLow" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                rk_diag d;
                CHECK_INTEQ(validate(cases[i].p, &d), 1);
                check_one(&d, RK_DIAG_ERROR, cases[i].key);
                rk_diag_done(&d);
                rk_value_unref(cases[i].p);
        }
}

TEST(usb_validate_product_array_item_types) {
        _cleanup_(rk_value_unrefp) rk_value *a = ARR(0x6001, -1);
        _cleanup_(rk_value_unrefp) rk_value *s = S("0x6010");
        _cleanup_(rk_value_unrefp) rk_value *p = NULL;
        rk_diag d;
        rk_array_append(a, s);
        p = DICT("idVendor", I(0x0403), "idProductArray", rk_value_ref(a), NULL);
        CHECK_INTEQ(validate(p, &d), 1);
        check_one(&d, RK_DIAG_ERROR, "idProductArray");
        CHECK(strstr(d.items[0].message, "item 1") != NULL);
        rk_diag_done(&d);
}

TEST(usb_validate_counts_every_error) {
        _cleanup_(rk_value_unrefp) rk_value *p =
                DICT("idVendor", S("apple"), "idProduct", I(0x10000), "bDeviceClass", B(true), NULL);
        rk_diag d;
        CHECK_INTEQ(validate(p, &d), 3);
        CHECK_INTEQ(rk_diag_count(&d, RK_DIAG_ERROR), 3);
        rk_diag_done(&d);
        CHECK_INTEQ(rk_usb_validate(p, NULL, NULL), 3); /* no where, no diag */
        CHECK_INTEQ(rk_usb_validate(NULL, NULL, NULL), 0);
}

TEST(usb_validate_warns_about_combinations) {
        struct {
                rk_value *p;
                const char *key;
        } cases[] = {
                { DICT("IOProviderClass", S("IOUSBHostDevice"), "idVendor", I(0x05ac), NULL), "idProduct" },
                { DICT("IOProviderClass", S("IOUSBHostInterface"), "idVendor", I(0x05ac), "idProduct", I(1), NULL),
                  "bConfigurationValue" },
                { DICT("IOProviderClass", S("IOUSBInterface"), "bInterfaceClass", I(3), "bInterfaceSubClass", I(1),
                       "bInterfaceNumber", I(0), NULL),
                  "bInterfaceNumber" },
                { DICT("IOProviderClass", S("IOUSBHostDevice"), "idVendor", I(1), "idProduct", I(2),
                       "bInterfaceClass", I(3), NULL),
                  "bInterfaceClass" },
                { DICT("IOProviderClass", S("IOUSBDevice"), "idVendor", I(1), "bDeviceSubClass", I(2),
                       "idProductMask", I(0xff00), NULL),
                  "idProductMask" },
                { DICT("idVendor", I(1), "idProduct", I(2), "idProductArray", ARR(2, 3, -1), NULL), "idProduct" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                rk_diag d;
                CHECK_INTEQ(validate(cases[i].p, &d), 0); /* warnings are not counted */
                check_one(&d, RK_DIAG_WARNING, cases[i].key);
                rk_diag_done(&d);
                rk_value_unref(cases[i].p);
        }
}

TEST(usb_validate_warns_when_only_ignored_keys) {
        _cleanup_(rk_value_unrefp) rk_value *p = DICT("IOProviderClass", S("IOUSBHostDevice"), "bInterfaceClass",
                                                       I(3), "bInterfaceSubClass", I(1), NULL);
        rk_diag d;
        CHECK_INTEQ(validate(p, &d), 0);
        CHECK_INTEQ(rk_diag_count(&d, RK_DIAG_WARNING), 2); /* ignored, and nothing left */
        rk_diag_done(&d);
}

/* ---- index ---- */

TEST(usb_index_vendor) {
        _cleanup_(rk_value_unrefp) rk_value *p = DICT("idVendor", I(0x05ac), "idProduct", I(1), NULL);
        _cleanup_(rk_value_unrefp) rk_value *wild = DICT("idVendor", S("*"), "idProduct", I(1), NULL);
        _cleanup_(rk_value_unrefp) rk_value *cls = DICT("bDeviceClass", I(9), "bDeviceSubClass", I(0), NULL);
        _cleanup_(rk_value_unrefp) rk_value *big = DICT("idVendor", I(0x10000), NULL);
        uint16_t v = 0;
        CHECK(rk_usb_index_vendor(p, &v));
        CHECK_INTEQ(v, 0x05ac);
        CHECK(rk_usb_index_vendor(p, NULL));
        CHECK(!rk_usb_index_vendor(wild, &v));
        CHECK(!rk_usb_index_vendor(cls, &v));
        CHECK(!rk_usb_index_vendor(big, &v));
        CHECK(!rk_usb_index_vendor(NULL, &v));
}
