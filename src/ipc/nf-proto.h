/* SPDX-License-Identifier: MIT */
/*
 * The network filter wire protocol between ringd (src/ringd/nf.c) and
 * libringkit-nf (lib/ringkit-nf/nf.c), over an rk_channel (ipc/msg.h) on
 * the socket ringd hands a supervised filter extension ($RINGKIT_NF_FD).
 * Payloads are fixed binary structs in native byte order (both ends run on
 * one host); each is length-checked before it is read.
 *
 *   ringd  ─ WELCOME (filter id, policy, deadline) ─► filter      once, at launch
 *   ringd  ─ FLOW (one new flow, its deadline) ─► filter
 *   filter ─ VERDICT (flow id, allow/drop) ─► ringd               before the deadline
 */
#pragma once

#include <stdint.h>

#define RK_NF_PROTO_VERSION 1

enum {
        RK_NF_MSG_VERDICT = 0x4e01, /* filter -> ringd: rk_nf_wire_verdict */
        RK_NF_MSG_WELCOME = 0x4e81, /* ringd -> filter: rk_nf_wire_welcome */
        RK_NF_MSG_FLOW = 0x4e82,    /* ringd -> filter: rk_nf_wire_flow */
};

#define RK_NF_WIRE_F_UID 0x1u /* uid and gid are known (the socket's owner) */

typedef struct rk_nf_wire_welcome {
        uint32_t version;
        uint32_t filter_id;
        uint32_t deadline_ms;
        uint32_t fail_closed;
} rk_nf_wire_welcome;

typedef struct rk_nf_wire_flow {
        uint64_t id;
        uint64_t time_usec;       /* CLOCK_MONOTONIC */
        uint64_t deadline_usec;
        uint8_t family;           /* AF_INET, AF_INET6 */
        uint8_t protocol;         /* IPPROTO_TCP, _UDP, _ICMP, ... */
        uint8_t direction;        /* rk_nf_direction */
        uint8_t pad;
        uint32_t flags;           /* RK_NF_WIRE_F_* */
        uint8_t src[16], dst[16]; /* network order; IPv4 in the first 4 bytes */
        uint16_t sport, dport;    /* host order; 0 for protocols without ports */
        uint32_t in_ifindex, out_ifindex;
        char in_ifname[16], out_ifname[16];
        uint32_t uid, gid;
        int32_t pid;              /* 0: not known */
        uint32_t pad2;
} rk_nf_wire_flow;

typedef struct rk_nf_wire_verdict {
        uint64_t id;
        uint32_t verdict;         /* rk_nf_verdict: ALLOW or DROP */
        uint32_t pad;
} rk_nf_wire_verdict;
