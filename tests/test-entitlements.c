/* SPDX-License-Identifier: MIT */
/*
 * Entitlements: shapes accepted and refused by validation, restricted
 * entitlements against a certificate's grants, vendor scoping of USB and PCI
 * providers, virtual devices and developer mode, user-client access.
 */
#include <errno.h>
#include <string.h>

#include "shared/macro.h"
#include "test.h"
#include "trust/entitlements.h"
#include "value/plist.h"

static rk_value *parse(const char *xml) {
        rk_value *v = NULL;
        char buf[4096];
        snprintf(buf, sizeof buf, "<?xml version=\"1.0\"?><plist version=\"1.0\">%s</plist>", xml);
        if (rk_plist_parse(buf, strlen(buf), "test", &v, NULL) < 0)
                rk_test_failed_flag = true;
        return v;
}

#define USB_05AC                                                                                      \
        "<dict><key>com.apple.developer.driverkit</key><true/>"                                       \
        "<key>com.apple.developer.driverkit.transport.usb</key><array><dict><key>idVendor</key>"     \
        "<integer>1452</integer></dict></array></dict>"

TEST(validate_shapes) {
        _cleanup_(rk_value_unrefp) rk_value *good = parse(
                "<dict><key>com.apple.developer.driverkit</key><true/>"
                "<key>com.apple.developer.driverkit.transport.pci</key><array>"
                "<dict><key>vendor-id</key><integer>32902</integer></dict>"
                "<dict><key>IOPCIPrimaryMatch</key><string>0x10d38086</string></dict></array>"
                "<key>com.apple.developer.driverkit.userclient-access</key><array><string>com.a.b</string></array>"
                "<key>com.apple.developer.networking.networkextension</key><array><string>content-filter-provider</string></array>"
                "<key>com.example.custom</key><true/></dict>");
        ASSERT(good);
        rk_diag d;
        rk_diag_init(&d);
        CHECK_INTEQ(rk_entitlements_validate(good, "e.plist", &d), 0);
        CHECK_INTEQ(rk_diag_count(&d, RK_DIAG_ERROR), 0);
        CHECK_INTEQ(rk_diag_count(&d, RK_DIAG_WARNING), 1); /* the unknown key */
        rk_diag_done(&d);

        static const char *const bad[] = {
                "<dict><key>com.apple.developer.driverkit</key><string>yes</string></dict>",
                "<dict><key>com.apple.developer.driverkit.transport.usb</key><true/></dict>",
                "<dict><key>com.apple.developer.driverkit.transport.usb</key><array><dict><key>idProduct</key><integer>1</integer></dict></array></dict>",
                "<dict><key>com.apple.developer.driverkit.transport.usb</key><array><dict><key>idVendor</key><integer>70000</integer></dict></array></dict>",
                "<dict><key>com.apple.developer.driverkit.transport.usb</key><array><dict><key>idVendor</key><string>05ac</string></dict></array></dict>",
                "<dict><key>com.apple.developer.driverkit.family.hid.device</key><integer>1</integer></dict>",
                "<dict><key>com.apple.developer.driverkit.transport.pci</key><array><string>8086</string></array></dict>",
                "<dict><key>com.apple.developer.driverkit.userclient-access</key><array><integer>1</integer></array></dict>",
                "<dict><key>com.apple.developer.networking.networkextension</key><true/></dict>",
                "<array/>",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_(rk_value_unrefp) rk_value *v = parse(bad[i]);
                rk_diag_init(&d);
                int r = rk_entitlements_validate(v, "e.plist", &d);
                if (r != -EBADMSG || rk_diag_count(&d, RK_DIAG_ERROR) != 1) {
                        fprintf(stderr, "bad[%zu] = %d\n", i, r);
                        rk_test_failed_flag = true;
                }
                rk_diag_done(&d);
        }
        CHECK_INTEQ(rk_entitlements_validate(NULL, NULL, NULL), -EINVAL);
}

TEST(restricted_needs_grant) {
        _cleanup_(rk_value_unrefp) rk_value *ents = parse(USB_05AC);
        _cleanup_(rk_value_unrefp) rk_value *none = parse("<array/>");
        _cleanup_(rk_value_unrefp) rk_value *exact = parse("<array><string>com.apple.developer.driverkit.transport.usb</string></array>");
        _cleanup_(rk_value_unrefp) rk_value *wild = parse("<array><string>com.apple.developer.driverkit.*</string></array>");
        _cleanup_(rk_value_unrefp) rk_value *other = parse("<array><string>com.apple.developer.driverkit.transport.pci</string>"
                                                           "<string>com.apple.developer.driverkit.transport.usbx</string></array>");
        ASSERT(ents && none && exact && wild && other);
        CHECK(rk_entitlement_is_restricted(RK_ENT_USB));
        CHECK(!rk_entitlement_is_restricted(RK_ENT_DRIVERKIT));
        rk_diag d;
        rk_diag_init(&d);
        CHECK_INTEQ(rk_entitlements_check_restricted(ents, none, "CN = Dev", &d), -EPERM);
        CHECK_INTEQ(d.n, 1);
        CHECK(d.n == 1 && streq(d.items[0].message, "entitlement escalation: com.apple.developer.driverkit.transport.usb "
                                                    "is not granted by certificate CN = Dev"));
        CHECK_INTEQ(rk_entitlements_check_restricted(ents, NULL, "CN = Dev", NULL), -EPERM);
        CHECK_INTEQ(rk_entitlements_check_restricted(ents, other, "CN = Dev", NULL), -EPERM);
        CHECK_INTEQ(rk_entitlements_check_restricted(ents, exact, "CN = Dev", NULL), 0);
        CHECK_INTEQ(rk_entitlements_check_restricted(ents, wild, "CN = Dev", NULL), 0);
        rk_diag_done(&d);
        /* a restricted boolean set to false claims nothing */
        _cleanup_(rk_value_unrefp) rk_value *off = parse("<dict><key>com.apple.developer.endpoint-security.client</key><false/></dict>");
        CHECK_INTEQ(rk_entitlements_check_restricted(off, NULL, "x", NULL), 0);
}

static bool allow(const rk_value *ents, const char *const *classes, size_t n, const char *props, unsigned flags,
                  const char **why) {
        _cleanup_(rk_value_unrefp) rk_value *p = parse(props);
        rk_match_provider prov = { .properties = p, .classes = classes, .n_classes = n };
        return rk_entitlements_allow_provider(ents, &prov, flags, why);
}

TEST(usb_vendor_scoping) {
        static const char *const usbdev[] = { "IOUSBHostDevice", "IOService" };
        _cleanup_(rk_value_unrefp) rk_value *ents = parse(USB_05AC);
        const char *why = NULL;
        CHECK(allow(ents, usbdev, 2, "<dict><key>idVendor</key><integer>1452</integer></dict>", 0, &why));
        CHECK(!why);
        CHECK(!allow(ents, usbdev, 2, "<dict><key>idVendor</key><integer>1133</integer></dict>", 0, &why));
        CHECK_STREQ(why, "idVendor not in com.apple.developer.driverkit.transport.usb");
        CHECK(!allow(ents, usbdev, 2, "<dict/>", 0, &why));
        CHECK_STREQ(why, "USB provider has no idVendor");

        /* an interface inherits its device's idVendor */
        static const char *const intf[] = { "IOUSBHostInterface", "IOService" };
        _cleanup_(rk_value_unrefp) rk_value *dp = parse("<dict><key>idVendor</key><integer>1133</integer></dict>");
        _cleanup_(rk_value_unrefp) rk_value *ip = parse("<dict/>");
        rk_match_provider dev = { .properties = dp, .classes = usbdev, .n_classes = 2 };
        rk_match_provider in = { .properties = ip, .classes = intf, .n_classes = 2, .parent = &dev };
        CHECK(!rk_entitlements_allow_provider(ents, &in, 0, &why));

        _cleanup_(rk_value_unrefp) rk_value *nodk = parse("<dict><key>com.apple.developer.driverkit.transport.usb</key>"
                                                          "<array><dict><key>idVendor</key><integer>1452</integer></dict></array></dict>");
        CHECK(!allow(nodk, usbdev, 2, "<dict><key>idVendor</key><integer>1452</integer></dict>", 0, &why));
        CHECK_STREQ(why, "missing com.apple.developer.driverkit");

        /* the development variant: any vendor, in developer mode only */
        _cleanup_(rk_value_unrefp) rk_value *star = parse("<dict><key>com.apple.developer.driverkit</key><true/>"
                                                          "<key>com.apple.developer.driverkit.transport.usb</key>"
                                                          "<array><dict><key>idVendor</key><string>*</string></dict></array></dict>");
        CHECK_INTEQ(rk_entitlements_validate(star, "e", NULL), 0);
        CHECK(!allow(star, usbdev, 2, "<dict><key>idVendor</key><integer>1133</integer></dict>", 0, &why));
        CHECK(allow(star, usbdev, 2, "<dict><key>idVendor</key><integer>1133</integer></dict>", RK_ENT_DEVELOPER_MODE, &why));
}

TEST(pci_and_families) {
        static const char *const pci[] = { "IOPCIDevice", "IOService" };
        _cleanup_(rk_value_unrefp) rk_value *ents = parse(
                "<dict><key>com.apple.developer.driverkit</key><true/>"
                "<key>com.apple.developer.driverkit.transport.pci</key><array>"
                "<dict><key>IOPCIPrimaryMatch</key><string>0x10d38086&amp;0xffffffff 0x15338086</string></dict></array></dict>");
        const char *why = NULL;
        CHECK(allow(ents, pci, 2, "<dict><key>vendor-id</key><data>hoAAAA==</data><key>device-id</key><data>0xAAAA==</data></dict>", 0, &why));
        CHECK(allow(ents, pci, 2, "<dict><key>vendor-id</key><integer>32902</integer><key>device-id</key><integer>5427</integer></dict>", 0, &why));
        CHECK(!allow(ents, pci, 2, "<dict><key>vendor-id</key><integer>32902</integer><key>device-id</key><integer>1</integer></dict>", 0, &why));
        CHECK(!allow(ents, pci, 2, "<dict><key>vendor-id</key><integer>4318</integer></dict>", 0, &why));
        CHECK_STREQ(why, "vendor-id not in com.apple.developer.driverkit.transport.pci");

        static const char *const serial[] = { "IOUserSerial", "IOService" };
        CHECK(!allow(ents, serial, 2, "<dict/>", 0, &why));
        CHECK_STREQ(why, "missing com.apple.developer.driverkit.family.serial");

        static const char *const virt[] = { "RKVirtualDevice", "IOService" };
        CHECK(!allow(ents, virt, 2, "<dict/>", 0, &why));
        CHECK_STREQ(why, "virtual device needs org.ringkit.developer.virtual-devices or developer mode");
        CHECK(allow(ents, virt, 2, "<dict/>", RK_ENT_DEVELOPER_MODE, &why));
        _cleanup_(rk_value_unrefp) rk_value *v = parse("<dict><key>com.apple.developer.driverkit</key><true/>"
                                                       "<key>org.ringkit.developer.virtual-devices</key><true/></dict>");
        CHECK(allow(v, virt, 2, "<dict/>", 0, &why));
}

TEST(userclient_access) {
        _cleanup_(rk_value_unrefp) rk_value *list = parse("<dict><key>com.apple.developer.driverkit.userclient-access</key>"
                                                          "<array><string>com.acme.driver.keyboard</string></array></dict>");
        _cleanup_(rk_value_unrefp) rk_value *any = parse("<dict><key>com.apple.developer.driverkit.userclient-access</key><true/></dict>");
        _cleanup_(rk_value_unrefp) rk_value *none = parse("<dict/>");
        CHECK(rk_entitlements_allow_userclient(list, "com.acme.driver.keyboard"));
        CHECK(!rk_entitlements_allow_userclient(list, "com.acme.driver.mouse"));
        CHECK(rk_entitlements_allow_userclient(any, "com.acme.driver.mouse"));
        CHECK(!rk_entitlements_allow_userclient(none, "com.acme.driver.keyboard"));
        CHECK(!rk_entitlements_allow_userclient(NULL, "com.acme.driver.keyboard"));
}
