/* SPDX-License-Identifier: MIT */
/*
 * libringkit-nf: the network filter SDK, modelled on NEFilterDataProvider
 * (handleNewFlow: returning allow or drop for each new flow).
 *
 * ringd owns the kernel side: an NFQUEUE it binds and the firewall rules
 * that send the first packet of every new connection-tracked flow (ct state
 * NEW) to it.  It fans each new flow out to every filter extension and
 * answers the kernel with their verdict (a drop from any filter wins).
 * Only an activated, approved system extension whose signed entitlements
 * hold com.apple.developer.networking.networkextension with
 * "content-filter-provider" gets a filter; ringd launches it, supervises it
 * and hands it its connection (docs/network-filter.md).
 *
 *     static rk_nf_verdict on_flow(rk_nf_filter *f, const rk_nf_flow *fl, void *ud) {
 *             return fl->protocol == IPPROTO_TCP && fl->remote.port == 23 ? RK_NF_VERDICT_DROP
 *                                                                          : RK_NF_VERDICT_ALLOW;
 *     }
 *     rk_nf_filter *f;
 *     if (rk_nf_filter_new(&f, on_flow, NULL) == 0)
 *             rk_nf_filter_run(f, -1);
 *
 * Each flow must be answered before fl->deadline_usec (CLOCK_MONOTONIC,
 * microseconds); when a filter misses it, or is not running, ringd applies
 * that filter's stated policy (Info.plist RKNetworkFilter FailPolicy:
 * fail-open allows, fail-closed drops) and counts it.  A handler may return
 * RK_NF_VERDICT_PAUSE and answer later with rk_nf_filter_respond(f, id).
 *
 * Threading: a filter is used by one thread.  Nothing prints; errors are
 * negative errnos.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RINGKIT_NF_API_VERSION 1

typedef enum rk_nf_verdict {
        RK_NF_VERDICT_ALLOW = 0,
        RK_NF_VERDICT_DROP = 1,
        RK_NF_VERDICT_PAUSE = 2, /* handler only: answered later with rk_nf_filter_respond() */
} rk_nf_verdict;

typedef enum rk_nf_direction {
        RK_NF_DIRECTION_OUTBOUND = 0, /* from a local socket (netfilter OUTPUT) */
        RK_NF_DIRECTION_INBOUND = 1,  /* to a local socket (INPUT) */
        RK_NF_DIRECTION_FORWARD = 2,  /* routed through this host (FORWARD) */
} rk_nf_direction;

typedef struct rk_nf_endpoint {
        char address[46];  /* numeric, as inet_ntop writes it */
        uint16_t port;     /* 0 for protocols without ports */
} rk_nf_endpoint;

typedef struct rk_nf_flow {
        uint64_t id;
        uint64_t deadline_usec;     /* CLOCK_MONOTONIC */
        int family;                 /* AF_INET, AF_INET6 */
        int protocol;               /* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, ... */
        rk_nf_direction direction;
        rk_nf_endpoint source, destination;
        /* this host's end and the other: for OUTBOUND local = source, for INBOUND local = destination */
        const rk_nf_endpoint *local, *remote;
        unsigned in_ifindex, out_ifindex;     /* 0: none */
        const char *in_interface, *out_interface; /* names, "" when none */
        const char *interface;      /* the one facing the remote end */
        bool has_uid;               /* the local socket's owner is known */
        uid_t uid;
        gid_t gid;
        pid_t pid;                  /* 0: not known (NFQUEUE does not report it) */
} rk_nf_flow;

typedef struct rk_nf_filter rk_nf_filter;
typedef rk_nf_verdict (*rk_nf_handler)(rk_nf_filter *f, const rk_nf_flow *flow, void *userdata);

/*
 * Takes the filter connection ringd passed this process ($RINGKIT_NF_FD)
 * and waits for ringd's welcome.  Errors: -EINVAL, -ENOTCONN (not launched
 * by ringd as a filter extension: no such fd), -EPROTO, -ETIMEDOUT, -ENOMEM.
 */
int rk_nf_filter_new(rk_nf_filter **ret, rk_nf_handler handler, void *userdata);
/* NULL-safe; returns NULL.  Flows not answered yet get the policy. */
rk_nf_filter *rk_nf_filter_free(rk_nf_filter *f);
/* The socket to poll (POLLIN) when nesting the filter in another loop. */
int rk_nf_filter_get_fd(rk_nf_filter *f);
/*
 * Handle what arrived.  Having handled a flow it keeps reading for up to the
 * spin (rk_nf_filter_set_spin: 0..1000 us, default 50) so that the next flow
 * of a burst is taken without a sleep and wake-up; 0: return as soon as
 * nothing is left.  The number of flows handled, or -ECONNRESET (ringd
 * went), -EBADMSG.
 */
int rk_nf_filter_set_spin(rk_nf_filter *f, unsigned usec);
int rk_nf_filter_dispatch(rk_nf_filter *f);
/* Dispatch until rk_nf_filter_stop(), timeout_ms (-1: none; then 0) or an error. */
int rk_nf_filter_run(rk_nf_filter *f, int timeout_ms);
void rk_nf_filter_stop(rk_nf_filter *f);
/* Answer a flow the handler paused.  -EINVAL (verdict), -EPIPE, -ENOMEM. */
int rk_nf_filter_respond(rk_nf_filter *f, uint64_t flow_id, rk_nf_verdict verdict);
/* What ringd said at the welcome. */
bool rk_nf_filter_is_fail_closed(rk_nf_filter *f);
unsigned rk_nf_filter_get_deadline_ms(rk_nf_filter *f);
const char *rk_nf_verdict_name(rk_nf_verdict v);

static inline void rk_nf_filter_freep(rk_nf_filter **f) {
        if (*f)
                rk_nf_filter_free(*f);
}

#ifdef __cplusplus
}
#endif
