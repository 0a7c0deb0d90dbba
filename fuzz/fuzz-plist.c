/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the plist reader: parse the input (XML through our
 * locator and libplist, or binary), and when it parses, write it back as
 * XML and as binary, parse both again and require the same value.  The
 * input must never crash, leak or trip a sanitizer, and a value we produce
 * must survive our own writers.
 */
#include <assert.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "shared/macro.h"
#include "value/plist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Values a round trip cannot reproduce exactly: NaN never equals itself; XML
 * dates have whole seconds (the format's limit, Apple's too); and libplist
 * 2.2 hands dates out as int32 seconds plus truncated microseconds, so a
 * fractional date may move by a microsecond through its writers.
 */
static bool inexact(const rk_value *v, bool xml) {
        double d;
        switch (rk_value_type(v)) {
        case RK_TYPE_REAL:
                return rk_real(v, &d) && isnan(d);
        case RK_TYPE_DATE:
                return rk_date(v, &d) && d != (double) (int64_t) d; /* |d| < 2^31 */
        case RK_TYPE_DICT:
                for (size_t i = 0; i < rk_dict_size(v); i++)
                        if (inexact(rk_dict_value_at(v, i), xml))
                                return true;
                return false;
        case RK_TYPE_ARRAY:
                for (size_t i = 0; i < rk_array_size(v); i++)
                        if (inexact(rk_array_get(v, i), xml))
                                return true;
                return false;
        default:
                return false;
        }
}

static void round_trip(const rk_value *v, bool xml) {
        _cleanup_(freep) char *out = NULL;
        _cleanup_(rk_value_unrefp) rk_value *again = NULL;
        size_t n = 0;
        int r;

        r = xml ? rk_plist_to_xml(v, &out, &n) : rk_plist_to_binary(v, &out, &n);
        if (r == -ENOMEM)
                return;
        assert(r == 0);
        r = rk_plist_parse(out, n, xml ? "xml" : "binary", &again, NULL);
        assert(r == 0);
        assert(inexact(v, xml) || rk_value_equal(v, again));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(rk_value_unrefp) rk_value *v = NULL;
        rk_diag diag;

        rk_diag_init(&diag);
        if (rk_plist_parse(data, size, "fuzz", &v, &diag) == 0) {
                round_trip(v, true);
                round_trip(v, false);
        }
        rk_diag_done(&diag);
        return 0;
}
