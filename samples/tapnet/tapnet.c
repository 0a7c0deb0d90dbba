/* SPDX-License-Identifier: MIT */
/*
 * tapnet: a sample network dext.  It asks ringd for an Ethernet interface
 * (the network family, ringkit/net.h) and plays a host on the far end of
 * its wire, entirely in user space: it answers ARP requests for its IPv4
 * address and ICMP echo requests sent to it, so that
 *
 *     ip addr add 10.77.0.1/24 dev tapnet0
 *     ping 10.77.0.2
 *
 * gets its replies from this process.  Everything else it hears is
 * counted and dropped.  Configuration keys (personality):
 *
 *   TapNetInterface   interface name or pattern, default "tapnet%d"
 *   TapNetAddress     its IPv4 address, default "10.77.0.2"
 *
 * Shown by `ringctl registry -l` on its service: TapNetInterfaceName,
 * TapNetStationMAC, TapNetFramesIn, TapNetARPReplies, TapNetEchoReplies.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringkit/driver.h"
#include "ringkit/net.h"

#define ETH_HLEN 14
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_ARP 0x0806

typedef struct tapnet {
        rk_driver *d;
        rk_net_interface *ifc;
        rk_driver_timer *stats;
        uint8_t mac[6];        /* this station's address: not the interface's, which is the host's side */
        uint8_t ip[4];
        int64_t frames_in, arp_replies, echo_replies, shown_frames;
} tapnet;

static uint16_t get16(const uint8_t *p) {
        return (uint16_t) (p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t) (v >> 8);
        p[1] = (uint8_t) v;
}

/* The Internet checksum (RFC 1071) of n bytes. */
static uint16_t inet_csum(const uint8_t *p, size_t n) {
        uint32_t sum = 0;

        for (; n > 1; p += 2, n -= 2)
                sum += get16(p);
        if (n)
                sum += (uint32_t) p[0] << 8;
        while (sum >> 16)
                sum = (sum & 0xffff) + (sum >> 16);
        return (uint16_t) ~sum;
}

static void on_arp(tapnet *t, const uint8_t *f, size_t len) {
        const uint8_t *a = f + ETH_HLEN;
        uint8_t out[ETH_HLEN + 28];

        /* Ethernet/IPv4 request for our address */
        if (len < ETH_HLEN + 28 || get16(a) != 1 || get16(a + 2) != ETHERTYPE_IPV4 || a[4] != 6 || a[5] != 4 ||
            get16(a + 6) != 1 || memcmp(a + 24, t->ip, 4) != 0)
                return;
        memcpy(out, a + 8, 6);          /* to the asker */
        memcpy(out + 6, t->mac, 6);
        put16(out + 12, ETHERTYPE_ARP);
        put16(out + 14, 1);
        put16(out + 16, ETHERTYPE_IPV4);
        out[18] = 6;
        out[19] = 4;
        put16(out + 20, 2);             /* reply */
        memcpy(out + 22, t->mac, 6);    /* sender: us */
        memcpy(out + 28, t->ip, 4);
        memcpy(out + 32, a + 8, 10);    /* target: the asker's MAC and IP */
        if (rk_net_interface_send(t->ifc, out, sizeof(out)) == 0)
                rk_driver_set_integer(t->d, "TapNetARPReplies", ++t->arp_replies);
}

static void on_ipv4(tapnet *t, const uint8_t *f, size_t len) {
        const uint8_t *ip = f + ETH_HLEN;
        size_t ihl, total;
        uint8_t *out, *oip, *icmp;

        if (len < ETH_HLEN + 20 || (ip[0] >> 4) != 4)
                return;
        ihl = (size_t) (ip[0] & 15) * 4;
        total = get16(ip + 2);
        if (ihl < 20 || total < ihl + 8 || ETH_HLEN + total > len || memcmp(ip + 16, t->ip, 4) != 0)
                return;
        if (ip[9] != 1 /* ICMP */ || (get16(ip + 6) & 0x3fff) /* a fragment */ || inet_csum(ip, ihl) != 0)
                return;
        if (ip[ihl] != 8 || ip[ihl + 1] != 0 || inet_csum(ip + ihl, total - ihl) != 0)
                return; /* not a valid echo request */

        out = malloc(ETH_HLEN + total);
        if (!out)
                return;
        memcpy(out, f + 6, 6);          /* back to the sender's MAC */
        memcpy(out + 6, t->mac, 6);
        put16(out + 12, ETHERTYPE_IPV4);
        oip = out + ETH_HLEN;
        memcpy(oip, ip, total);
        oip[8] = 64;                    /* TTL */
        memcpy(oip + 12, t->ip, 4);     /* from us */
        memcpy(oip + 16, ip + 12, 4);   /* to the asker */
        put16(oip + 10, 0);
        put16(oip + 10, inet_csum(oip, ihl));
        icmp = oip + ihl;
        icmp[0] = 0;                    /* echo reply, same id, sequence and data */
        put16(icmp + 2, 0);
        put16(icmp + 2, inet_csum(icmp, total - ihl));
        if (rk_net_interface_send(t->ifc, out, ETH_HLEN + total) == 0)
                rk_driver_set_integer(t->d, "TapNetEchoReplies", ++t->echo_replies);
        free(out);
}

static void on_frame(rk_net_interface *n, const void *frame, size_t len, void *ud) {
        tapnet *t = ud;
        const uint8_t *f = frame;

        t->frames_in++;
        if (len < ETH_HLEN || (memcmp(f, t->mac, 6) != 0 && !(f[0] & 1)))
                return; /* not for us, nor broadcast or multicast */
        switch (get16(f + 12)) {
        case ETHERTYPE_ARP:
                on_arp(t, f, len);
                break;
        case ETHERTYPE_IPV4:
                on_ipv4(t, f, len);
                break;
        }
}

static void on_stats(rk_driver *d, rk_driver_timer *tm, void *ud) {
        tapnet *t = ud;

        if (t->frames_in != t->shown_frames)
                rk_driver_set_integer(d, "TapNetFramesIn", t->shown_frames = t->frames_in);
}

static int tapnet_start(rk_driver *d) {
        const char *name = "tapnet%d", *addr = "10.77.0.2";
        char macs[18];
        uint32_t mtu = 0;
        tapnet *t;
        int r;

        (void) rk_driver_get_string(d, "TapNetInterface", &name);
        (void) rk_driver_get_string(d, "TapNetAddress", &addr);
        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->d = d;
        if (inet_pton(AF_INET, addr, t->ip) != 1) {
                rk_driver_log(d, RK_LOG_ERR, "TapNetAddress '%s' is not an IPv4 address", addr);
                free(t);
                return -EINVAL;
        }
        r = rk_net_interface_create(d, name, NULL, &t->ifc);
        if (r < 0) {
                rk_driver_log(d, RK_LOG_ERR, "no network interface: %s", strerror(-r));
                free(t);
                return r;
        }
        /* our station address: the interface's (the host's) with the last byte changed, so never equal */
        rk_net_interface_get_mac(t->ifc, t->mac);
        t->mac[0] = (uint8_t) ((t->mac[0] | 0x02) & ~0x01);
        t->mac[5] ^= 0x5a;
        rk_driver_set_ivars(d, t);
        r = rk_net_interface_set_receive(t->ifc, on_frame, t);
        if (r == 0)
                r = rk_driver_timer_new(d, 200000, 200000, on_stats, t, &t->stats);
        if (r < 0) {
                rk_net_interface_free(t->ifc);
                free(t);
                return r;
        }
        snprintf(macs, sizeof(macs), "%02x:%02x:%02x:%02x:%02x:%02x", t->mac[0], t->mac[1], t->mac[2], t->mac[3],
                 t->mac[4], t->mac[5]);
        rk_driver_set_string(d, "TapNetInterfaceName", rk_net_interface_get_name(t->ifc));
        rk_driver_set_string(d, "TapNetStationMAC", macs);
        rk_net_interface_get_mtu(t->ifc, &mtu);
        rk_driver_log(d, RK_LOG_INFO, "answering ARP and ping for %s (%s) on %s, MTU %u", addr, macs,
                      rk_net_interface_get_name(t->ifc), (unsigned) mtu);
        return rk_driver_register_service(d);
}

static void tapnet_stop(rk_driver *d) {
        tapnet *t = rk_driver_get_ivars(d);

        rk_driver_log(d, RK_LOG_INFO, "goodbye: %lld frames in, %lld ARP and %lld echo replies",
                      (long long) t->frames_in, (long long) t->arp_replies, (long long) t->echo_replies);
        rk_driver_timer_cancel(t->stats);
        rk_net_interface_free(t->ifc);
        free(t);
        rk_driver_set_ivars(d, NULL);
}

static const rk_driver_class tapnet_class = { .name = "TapNetDriver", .start = tapnet_start, .stop = tapnet_stop };

int main(int argc, char **argv) {
        const rk_driver_class *classes[] = { &tapnet_class };
        return rk_driver_main(argc, argv, classes, 1);
}
