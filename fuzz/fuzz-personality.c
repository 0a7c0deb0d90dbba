/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the personality compiler and the matching engine: the input is a
 * plist; it is compiled as a personality and as a provider description,
 * and each compiled one is matched against fixed counterparts and itself,
 * through the index and through a full scan (which must agree).
 */
#include <stdlib.h>
#include <string.h>

#include "match/index.h"
#include "value/plist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fixed_provider[] =
        "<plist><dict><key>IOClassChain</key><array><string>IOUSBHostInterface</string>"
        "<string>IOService</string></array><key>idVendor</key><integer>1452</integer>"
        "<key>idProduct</key><integer>545</integer><key>bcdDevice</key><integer>256</integer>"
        "<key>bConfigurationValue</key><integer>1</integer><key>bInterfaceNumber</key><integer>0</integer>"
        "<key>bInterfaceClass</key><integer>3</integer><key>bInterfaceSubClass</key><integer>1</integer>"
        "<key>bInterfaceProtocol</key><integer>1</integer><key>IOName</key><string>kbd</string>"
        "<key>RKModalias</key><string>usb:v05ACp0221d0100dc00dsc00dp00ic03isc01ip01in00</string>"
        "<key>IOParent</key><dict><key>IOClassChain</key><array><string>IOUSBHostDevice</string></array>"
        "<key>idVendor</key><integer>1452</integer></dict></dict></plist>";

static const char fixed_personality[] =
        "<plist><dict><key>IOClass</key><string>D</string><key>IOProviderClass</key><string>IOService</string>"
        "<key>IOPropertyMatch</key><dict><key>Color</key><string>blue</string></dict></dict></plist>";

static void run(rk_match_index *idx, const rk_match_provider *prov) {
        rk_match_result a, b;

        if (rk_match_index_run(idx, prov, NULL, RK_MATCH_EXPLAIN, &a) < 0)
                return;
        if (rk_match_index_run(idx, prov, NULL, 0, &b) < 0) {
                rk_match_result_done(&a);
                return;
        }
        if (a.n_categories != b.n_categories)
                abort(); /* the index lost a candidate */
        rk_match_result_done(&a);
        rk_match_result_done(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(rk_value_unrefp) rk_value *v = NULL, *fp = NULL, *fd = NULL;
        _cleanup_(rk_personality_unrefp) rk_personality *p = NULL, *q = NULL;
        _cleanup_(rk_match_provider_freep) rk_match_provider_owned *prov = NULL, *fixed = NULL;
        _cleanup_(rk_match_index_freep) rk_match_index *idx = NULL;
        rk_diag diag;

        rk_diag_init(&diag);
        if (rk_plist_parse(data, size, "fuzz", &v, &diag) < 0 || !rk_value_is(v, RK_TYPE_DICT))
                goto out;
        if (rk_plist_parse(fixed_provider, strlen(fixed_provider), "fixed", &fd, NULL) < 0 ||
            rk_plist_parse(fixed_personality, strlen(fixed_personality), "fixed", &fp, NULL) < 0 ||
            rk_match_provider_new_from_dict(fd, "fixed", &fixed, NULL) < 0 ||
            rk_personality_new(fp, "fixed", "F", NULL, &q, NULL) < 0)
                abort();
        if (rk_match_index_new(&idx) < 0 || rk_match_index_add(idx, q) < 0)
                goto out;

        (void) rk_personality_new(v, "fuzz", "P", "fuzz", &p, &diag);
        if (p && rk_match_index_add(idx, p) < 0)
                goto out;
        run(idx, rk_match_provider_get(fixed));
        if (rk_match_provider_new_from_dict(v, "fuzz", &prov, &diag) == 0)
                run(idx, rk_match_provider_get(prov));
out:
        rk_diag_done(&diag);
        return 0;
}
