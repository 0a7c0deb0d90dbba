/* SPDX-License-Identifier: MIT */
/*
 * Decoders of the network filter wire (ipc/nf-proto.h): bytes in, a
 * decoded struct or a negative errno out, no state, no allocation.  ringd
 * (src/ringd/nf.c) decodes a filter's verdicts with rk_nf_wire_verdict_decode(),
 * libringkit-nf (lib/ringkit-nf/nf.c) decodes flows with
 * rk_nf_wire_flow_decode(); fuzz/fuzz-nf-wire.c drives both.
 *
 * What stays true: nothing is read outside [data, data + len); a decoded
 * flow's strings (addresses, interface names) are NUL-terminated inside
 * their arrays and its pointers point into the decoded pair.
 */
#pragma once

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "ipc/nf-proto.h"
#include "ringkit/nf.h"

/* A VERDICT payload: 0, -EBADMSG (wrong size), -EINVAL (neither ALLOW nor DROP). */
static inline int rk_nf_wire_verdict_decode(const uint8_t *data, size_t len, rk_nf_wire_verdict *v) {
        if (len != sizeof(*v))
                return -EBADMSG;
        memcpy(v, data, sizeof(*v));
        return v->verdict == RK_NF_VERDICT_ALLOW || v->verdict == RK_NF_VERDICT_DROP ? 0 : -EINVAL;
}

/* A flow as the handler sees it, with the wire copy its names point into. */
typedef struct rk_nf_flow_decoded {
        rk_nf_wire_flow w;
        rk_nf_flow fl;
} rk_nf_flow_decoded;

static inline void rk_nf_wire_endpoint(rk_nf_endpoint *e, int family, const uint8_t *addr, uint16_t port) {
        if (!inet_ntop(family, addr, e->address, sizeof(e->address)))
                e->address[0] = 0;
        e->port = port;
}

/*
 * A FLOW payload: 0, -EBADMSG (wrong size), -EINVAL (an unknown
 * direction).  A family other than AF_INET/AF_INET6 (ringd queues what
 * NFQUEUE gives it, IP or not) leaves the addresses empty.  `out` must
 * not move afterwards (fl's pointers point into it).
 */
static inline int rk_nf_wire_flow_decode(const uint8_t *data, size_t len, rk_nf_flow_decoded *out) {
        rk_nf_wire_flow *w = &out->w;
        rk_nf_flow *fl = &out->fl;
        bool inbound;

        if (len != sizeof(*w))
                return -EBADMSG;
        memcpy(w, data, sizeof(*w));
        if (w->direction > RK_NF_DIRECTION_FORWARD)
                return -EINVAL;
        w->in_ifname[sizeof(w->in_ifname) - 1] = 0;
        w->out_ifname[sizeof(w->out_ifname) - 1] = 0;
        inbound = w->direction == RK_NF_DIRECTION_INBOUND;
        *fl = (rk_nf_flow){
                .id = w->id,
                .deadline_usec = w->deadline_usec,
                .family = w->family,
                .protocol = w->protocol,
                .direction = (rk_nf_direction) w->direction,
                .in_ifindex = w->in_ifindex,
                .out_ifindex = w->out_ifindex,
                .in_interface = w->in_ifname,
                .out_interface = w->out_ifname,
                .interface = inbound ? w->in_ifname : w->out_ifname,
                .has_uid = w->flags & RK_NF_WIRE_F_UID,
                .uid = w->uid,
                .gid = w->gid,
                .pid = w->pid,
        };
        rk_nf_wire_endpoint(&fl->source, w->family, w->src, w->sport);
        rk_nf_wire_endpoint(&fl->destination, w->family, w->dst, w->dport);
        fl->local = inbound ? &fl->destination : &fl->source;
        fl->remote = inbound ? &fl->source : &fl->destination;
        return 0;
}
