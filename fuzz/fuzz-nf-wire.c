/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the network filter wire decoders (src/ipc/nf-wire.h):
 * a filter's VERDICT as ringd (src/ringd/nf.c) decodes it, a FLOW as
 * libringkit-nf (lib/ringkit-nf/nf.c) decodes it.  The input is the
 * payload (copied to a buffer of its exact size, so ASan sees any read past
 * it).  Checked: a verdict that decodes is ALLOW or DROP; a flow that
 * decodes has a known direction, NUL-terminated addresses and interface
 * names inside their arrays, and local/remote/interface pointing into the
 * decoded pair as the direction says.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/nf-wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_flow(const uint8_t *p, size_t len) {
        rk_nf_flow_decoded d;
        const rk_nf_flow *fl = &d.fl;
        int r = rk_nf_wire_flow_decode(p, len, &d);

        if (r < 0) {
                assert(r == -EBADMSG || r == -EINVAL);
                return;
        }
        assert(len == sizeof(rk_nf_wire_flow) && fl->direction <= RK_NF_DIRECTION_FORWARD);
        assert(memchr(fl->source.address, 0, sizeof(fl->source.address)));
        assert(memchr(fl->destination.address, 0, sizeof(fl->destination.address)));
        assert(fl->in_interface == d.w.in_ifname && fl->out_interface == d.w.out_ifname);
        assert(strlen(fl->in_interface) < sizeof(d.w.in_ifname) && strlen(fl->out_interface) < sizeof(d.w.out_ifname));
        if (fl->direction == RK_NF_DIRECTION_INBOUND)
                assert(fl->local == &fl->destination && fl->remote == &fl->source && fl->interface == fl->in_interface);
        else
                assert(fl->local == &fl->source && fl->remote == &fl->destination && fl->interface == fl->out_interface);
        if (fl->family != AF_INET && fl->family != AF_INET6)
                assert(!fl->source.address[0] && !fl->destination.address[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        rk_nf_wire_verdict v;
        uint8_t *p = malloc(size ? size : 1);
        int r;

        if (!p)
                return 0;
        memcpy(p, data, size);
        r = rk_nf_wire_verdict_decode(p, size, &v);
        assert(r == 0 || r == -EBADMSG || r == -EINVAL);
        if (r == 0)
                assert(size == sizeof(v) && (v.verdict == RK_NF_VERDICT_ALLOW || v.verdict == RK_NF_VERDICT_DROP));
        check_flow(p, size);
        /* a flow-sized prefix of any longer input, so the decoder's success path is reached */
        if (size > sizeof(rk_nf_wire_flow))
                check_flow(p, sizeof(rk_nf_wire_flow));
        free(p);
        return 0;
}
