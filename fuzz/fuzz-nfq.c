/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the NFQUEUE reader's parser (src/netfilter/nfq.c,
 * compiled in): the input is what one recv() on the netlink socket could
 * return -- nfnetlink messages from the kernel, their attributes and the
 * packets' first bytes -- run through libmnl with nfq.c's own packet
 * callback, as rk_nfq_read() does.  The buffer is a malloc'd copy of the
 * input's exact size (aligned as the socket buffer is, ASan sees reads past
 * it).  Checked for every packet handed on: the family is none, IPv4 or
 * IPv6; a packet that is not IP has no protocol, addresses or ports; ports
 * appear only for protocols that have them.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* compiled in (see fuzz-modalias.c): libFuzzer sees the parser's coverage */
#include "../src/netfilter/nfq.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_packet(const rk_nfq_packet *p, void *ud) {
        static const uint8_t zero[16];
        unsigned *n = ud;

        (*n)++;
        assert(p->family == 0 || p->family == AF_INET || p->family == AF_INET6);
        if (p->family == 0)
                assert(p->protocol == 0 && !memcmp(p->src, zero, 16) && !memcmp(p->dst, zero, 16));
        if (p->family == AF_INET)
                assert(!memcmp(p->src + 4, zero, 12) && !memcmp(p->dst + 4, zero, 12));
        if (p->sport || p->dport)
                assert(p->protocol == IPPROTO_TCP || p->protocol == IPPROTO_UDP || p->protocol == IPPROTO_SCTP ||
                       p->protocol == IPPROTO_UDPLITE);
        assert(p->has_uid || (p->uid == 0 && p->gid == 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        unsigned n = 0;
        read_ctx x = { .cb = on_packet, .ud = &n };
        void *buf = malloc(size ? size : 1);

        if (!buf)
                return 0;
        memcpy(buf, data, size);
        parse_batch(buf, size, 0, &x);
        assert((unsigned) x.n == n);
        free(buf);
        return 0;
}
