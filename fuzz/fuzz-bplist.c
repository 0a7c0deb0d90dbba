/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for ringkit's binary plist codec (value/bplist.c), the
 * decoder of every control message: decode the input; when it decodes,
 * encode the value, decode that again and require the same value, and the
 * same bytes from a second encoding.  A refusal must be -EBADMSG with
 * exactly one message.  The input must never crash, leak or trip a
 * sanitizer.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shared/macro.h"
#include "value/bplist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* NaN never equals itself, so compare reals and dates bit for bit. */
static bool same(const rk_value *a, const rk_value *b) {
        double x = 0, y = 0;

        if (rk_value_type(a) != rk_value_type(b))
                return false;
        switch (rk_value_type(a)) {
        case RK_TYPE_REAL:
        case RK_TYPE_DATE:
                if (!rk_real(a, &x))
                        rk_date(a, &x);
                if (!rk_real(b, &y))
                        rk_date(b, &y);
                return memcmp(&x, &y, sizeof(x)) == 0;
        case RK_TYPE_DICT:
                if (rk_dict_size(a) != rk_dict_size(b))
                        return false;
                for (size_t i = 0; i < rk_dict_size(a); i++) {
                        const rk_value *e = rk_dict_get(b, rk_dict_key_at(a, i));
                        if (!e || !same(rk_dict_value_at(a, i), e))
                                return false;
                }
                return true;
        case RK_TYPE_ARRAY:
                if (rk_array_size(a) != rk_array_size(b))
                        return false;
                for (size_t i = 0; i < rk_array_size(a); i++)
                        if (!same(rk_array_get(a, i), rk_array_get(b, i)))
                                return false;
                return true;
        default:
                return rk_value_equal(a, b);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(rk_value_unrefp) rk_value *v = NULL, *again = NULL;
        _cleanup_(freep) char *out = NULL, *out2 = NULL;
        size_t n = 0, n2 = 0;
        rk_diag diag;
        int r;

        rk_diag_init(&diag);
        r = rk_bplist_decode(data, size, &v, &diag);
        if (r == -ENOMEM) {
                rk_diag_done(&diag);
                return 0;
        }
        assert(r == 0 ? diag.n == 0 && v : r == -EBADMSG && diag.n == 1 && !v);
        rk_diag_done(&diag);
        if (r < 0)
                return 0;

        r = rk_bplist_encode(v, &out, &n);
        if (r == -ENOMEM)
                return 0;
        assert(r == 0);
        r = rk_bplist_decode(out, n, &again, NULL);
        if (r == -ENOMEM)
                return 0;
        assert(r == 0);
        assert(same(v, again));
        /* what we wrote, written again, is byte for byte the same */
        r = rk_bplist_encode(again, &out2, &n2);
        if (r == -ENOMEM)
                return 0;
        assert(r == 0 && n2 == n && memcmp(out, out2, n) == 0);
        return 0;
}
