/* SPDX-License-Identifier: MIT */
/*
 * A minimal NFQUEUE client on libmnl: bind one queue, read queued packets,
 * give verdicts.  ringd's network filter (src/ringd/nf.c) and the floor of
 * bench/bench-nf.c share it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rk_nfq rk_nfq;

/* A queued packet, as far as a flow filter needs it (pointers into the read buffer). */
typedef struct rk_nfq_packet {
        uint32_t id;            /* the kernel's packet id, for the verdict */
        uint8_t hook;           /* NF_INET_LOCAL_IN, _FORWARD, _LOCAL_OUT ... */
        uint8_t family;         /* AF_INET, AF_INET6; 0 when the payload is not IP */
        uint8_t protocol;       /* IPPROTO_* (after IPv6 extension headers) */
        uint8_t src[16], dst[16];
        uint16_t sport, dport;  /* host order; 0 when none */
        uint32_t in_ifindex, out_ifindex;
        bool has_uid;
        uint32_t uid, gid;
} rk_nfq_packet;

/*
 * Opens a NETLINK_NETFILTER socket and binds queue `num` (copy mode packet,
 * the first 256 bytes; uid/gid of local sockets; queue length 4096); the
 * socket is non-blocking.  -EPERM (not root), -EBUSY (another process has
 * that queue), -EPROTONOSUPPORT (no nfnetlink_queue), -ENOMEM.
 */
int rk_nfq_open(uint16_t num, rk_nfq **ret);
rk_nfq *rk_nfq_close(rk_nfq *q); /* unbinds; NULL-safe; returns NULL */
int rk_nfq_get_fd(rk_nfq *q);
/*
 * Reads what is waiting, without blocking, calling cb for every packet.
 * The number of packets, 0 when nothing was there, or a negative errno
 * (-ENOBUFS: the socket overflowed, packets were lost to the kernel's
 * default; keep reading).
 */
int rk_nfq_read(rk_nfq *q, void (*cb)(const rk_nfq_packet *p, void *ud), void *ud);
/* NF_ACCEPT or NF_DROP for packet id.  0 or a negative errno. */
int rk_nfq_verdict(rk_nfq *q, uint32_t id, bool accept);
