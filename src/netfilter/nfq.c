/* SPDX-License-Identifier: MIT */
/*
 * NFQUEUE over libmnl (see nfq.h).  Messages are nfnetlink: an nlmsghdr
 * whose type is (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_*, an nfgenmsg whose
 * res_id is the queue number, then attributes.  Configuration is sent with
 * NLM_F_ACK and its answer read back, so a refused bind is reported;
 * verdicts are sent without an ack.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netfilter/nfq.h"

#define COPY_RANGE 256
#define QUEUE_MAXLEN 4096
#define RCVBUF (4 << 20)
#define NL_BUF 8192 /* configuration and verdict messages are far smaller */

struct rk_nfq {
        struct mnl_socket *nl;
        uint16_t num;
        uint32_t portid;
        unsigned seq;
        char *buf;
        size_t buf_len;
};

static struct nlmsghdr *put_header(char *buf, uint8_t type, uint16_t num, uint16_t flags, uint32_t seq) {
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        struct nfgenmsg *g;

        nlh->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | type;
        nlh->nlmsg_flags = NLM_F_REQUEST | flags;
        nlh->nlmsg_seq = seq;
        g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
        g->nfgen_family = AF_UNSPEC;
        g->version = NFNETLINK_V0;
        g->res_id = htons(num);
        return nlh;
}

/* Send one configuration message and wait for its ack. */
static int config(rk_nfq *q, struct nlmsghdr *nlh) {
        char buf[NL_BUF];
        ssize_t n;

        if (mnl_socket_sendto(q->nl, nlh, nlh->nlmsg_len) < 0)
                return -errno;
        n = mnl_socket_recvfrom(q->nl, buf, sizeof(buf));
        if (n < 0)
                return -errno;
        if (mnl_cb_run(buf, (size_t) n, nlh->nlmsg_seq, q->portid, NULL, NULL) < 0)
                return -errno;
        return 0;
}

static int bind_queue(rk_nfq *q) {
        char buf[NL_BUF];
        struct nlmsghdr *nlh;
        struct nfqnl_msg_config_cmd cmd = { .command = NFQNL_CFG_CMD_BIND, .pf = htons(AF_UNSPEC) };
        struct nfqnl_msg_config_params params = { .copy_range = htonl(COPY_RANGE), .copy_mode = NFQNL_COPY_PACKET };
        int r;

        nlh = put_header(buf, NFQNL_MSG_CONFIG, q->num, NLM_F_ACK, ++q->seq);
        mnl_attr_put(nlh, NFQA_CFG_CMD, sizeof(cmd), &cmd);
        if ((r = config(q, nlh)) < 0)
                return r;
        nlh = put_header(buf, NFQNL_MSG_CONFIG, q->num, NLM_F_ACK, ++q->seq);
        mnl_attr_put(nlh, NFQA_CFG_PARAMS, sizeof(params), &params);
        mnl_attr_put_u32(nlh, NFQA_CFG_QUEUE_MAXLEN, htonl(QUEUE_MAXLEN));
        mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(NFQA_CFG_F_UID_GID));
        mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(NFQA_CFG_F_UID_GID));
        return config(q, nlh);
}

int rk_nfq_open(uint16_t num, rk_nfq **ret) {
        rk_nfq *q;
        int one = 1, rcv = RCVBUF, r;

        if (!ret)
                return -EINVAL;
        q = calloc(1, sizeof(*q));
        if (!q)
                return -ENOMEM;
        q->num = num;
        q->buf_len = 0xffff + NL_BUF;
        q->buf = malloc(q->buf_len);
        if (!q->buf) {
                free(q);
                return -ENOMEM;
        }
        q->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
        if (!q->nl) {
                r = -errno;
                goto fail;
        }
        if (mnl_socket_bind(q->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
                r = -errno;
                goto fail;
        }
        q->portid = mnl_socket_get_portid(q->nl);
        if ((r = bind_queue(q)) < 0)
                goto fail;
        /* lost packets are reported as ENOBUFS unless told not to; we would rather keep reading */
        (void) mnl_socket_setsockopt(q->nl, NETLINK_NO_ENOBUFS, &one, sizeof(one));
        (void) setsockopt(mnl_socket_get_fd(q->nl), SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv));
        if (fcntl(mnl_socket_get_fd(q->nl), F_SETFL, O_NONBLOCK) < 0) {
                r = -errno;
                goto fail;
        }
        *ret = q;
        return 0;
fail:
        if (q->nl)
                mnl_socket_close(q->nl);
        free(q->buf);
        free(q);
        return r;
}

rk_nfq *rk_nfq_close(rk_nfq *q) {
        if (!q)
                return NULL;
        {
                char buf[NL_BUF];
                struct nfqnl_msg_config_cmd cmd = { .command = NFQNL_CFG_CMD_UNBIND, .pf = htons(AF_UNSPEC) };
                struct nlmsghdr *nlh = put_header(buf, NFQNL_MSG_CONFIG, q->num, 0, ++q->seq);
                mnl_attr_put(nlh, NFQA_CFG_CMD, sizeof(cmd), &cmd);
                (void) mnl_socket_sendto(q->nl, nlh, nlh->nlmsg_len);
        }
        mnl_socket_close(q->nl);
        free(q->buf);
        free(q);
        return NULL;
}

int rk_nfq_get_fd(rk_nfq *q) {
        return q ? mnl_socket_get_fd(q->nl) : -EINVAL;
}

int rk_nfq_verdict(rk_nfq *q, uint32_t id, bool accept) {
        char buf[NL_BUF];
        struct nfqnl_msg_verdict_hdr vh = { .verdict = htonl(accept ? NF_ACCEPT : NF_DROP), .id = htonl(id) };
        struct nlmsghdr *nlh = put_header(buf, NFQNL_MSG_VERDICT, q->num, 0, 0);

        mnl_attr_put(nlh, NFQA_VERDICT_HDR, sizeof(vh), &vh);
        return mnl_socket_sendto(q->nl, nlh, nlh->nlmsg_len) < 0 ? -errno : 0;
}

/* The L3/L4 facts of the payload: addresses, protocol, ports. */
static void parse_ip(rk_nfq_packet *p, const uint8_t *d, size_t n) {
        size_t off;
        uint8_t proto;

        if (n < 1)
                return;
        if ((d[0] >> 4) == 4) {
                size_t ihl = (size_t) (d[0] & 0xf) * 4;
                if (n < 20 || ihl < 20 || ihl > n)
                        return;
                p->family = AF_INET;
                proto = d[9];
                memcpy(p->src, d + 12, 4);
                memcpy(p->dst, d + 16, 4);
                off = ((d[6] & 0x1f) | d[7]) ? n : ihl; /* a non-first fragment has no ports */
        } else if ((d[0] >> 4) == 6) {
                if (n < 40)
                        return;
                p->family = AF_INET6;
                proto = d[6];
                memcpy(p->src, d + 8, 16);
                memcpy(p->dst, d + 24, 16);
                off = 40;
                /* hop-by-hop, routing, destination options: skip to the transport header */
                while ((proto == 0 || proto == 43 || proto == 60) && off + 8 <= n) {
                        proto = d[off];
                        off += ((size_t) d[off + 1] + 1) * 8;
                }
        } else
                return;
        p->protocol = proto;
        if ((proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP || proto == IPPROTO_UDPLITE) &&
            off + 4 <= n) {
                p->sport = (uint16_t) (d[off] << 8 | d[off + 1]);
                p->dport = (uint16_t) (d[off + 2] << 8 | d[off + 3]);
        }
}

typedef struct read_ctx {
        void (*cb)(const rk_nfq_packet *p, void *ud);
        void *ud;
        int n;
} read_ctx;

static int attr_cb(const struct nlattr *a, void *data) {
        const struct nlattr **tb = data;
        int type = mnl_attr_get_type(a);

        if (mnl_attr_type_valid(a, NFQA_MAX) < 0)
                return MNL_CB_OK;
        tb[type] = a;
        return MNL_CB_OK;
}

static int packet_cb(const struct nlmsghdr *nlh, void *data) {
        read_ctx *x = data;
        const struct nlattr *tb[NFQA_MAX + 1] = {};
        const struct nfqnl_msg_packet_hdr *ph;
        rk_nfq_packet p = {};

        if ((nlh->nlmsg_type & 0xff) != NFQNL_MSG_PACKET)
                return MNL_CB_OK;
        if (mnl_attr_parse(nlh, sizeof(struct nfgenmsg), attr_cb, tb) < 0 || !tb[NFQA_PACKET_HDR] ||
            mnl_attr_get_payload_len(tb[NFQA_PACKET_HDR]) < sizeof(*ph))
                return MNL_CB_OK;
        ph = mnl_attr_get_payload(tb[NFQA_PACKET_HDR]);
        p.id = ntohl(ph->packet_id);
        p.hook = ph->hook;
        if (tb[NFQA_IFINDEX_INDEV] && mnl_attr_get_payload_len(tb[NFQA_IFINDEX_INDEV]) >= 4)
                p.in_ifindex = ntohl(mnl_attr_get_u32(tb[NFQA_IFINDEX_INDEV]));
        if (tb[NFQA_IFINDEX_OUTDEV] && mnl_attr_get_payload_len(tb[NFQA_IFINDEX_OUTDEV]) >= 4)
                p.out_ifindex = ntohl(mnl_attr_get_u32(tb[NFQA_IFINDEX_OUTDEV]));
        if (tb[NFQA_UID] && tb[NFQA_GID] && mnl_attr_get_payload_len(tb[NFQA_UID]) >= 4 &&
            mnl_attr_get_payload_len(tb[NFQA_GID]) >= 4) {
                p.has_uid = true;
                p.uid = ntohl(mnl_attr_get_u32(tb[NFQA_UID]));
                p.gid = ntohl(mnl_attr_get_u32(tb[NFQA_GID]));
        }
        if (tb[NFQA_PAYLOAD])
                parse_ip(&p, mnl_attr_get_payload(tb[NFQA_PAYLOAD]), mnl_attr_get_payload_len(tb[NFQA_PAYLOAD]));
        x->cb(&p, x->ud);
        x->n++;
        return MNL_CB_OK;
}

/*
 * One recv()'s worth of messages.  Every nlmsg_len is checked here first:
 * libmnl's mnl_nlmsg_ok() compares it as an int, so a length of
 * 0xfffffffd..0xffffffff passes, aligns to 0 and mnl_cb_run() never
 * moves on (found by fuzz/fuzz-nfq.c).  And libmnl walks a message's
 * attributes up to its aligned end, so a message must fit in the buffer
 * with its padding: one with an unaligned length at the very end would have
 * its last attribute read up to 3 bytes past the data (fuzz-nfq again; the
 * kernel pads every message, so only a broken sender looks like that).
 * Only the well-formed messages in front of a broken one are run.
 */
static void parse_batch(const void *buf, size_t n, uint32_t portid, read_ctx *x) {
        size_t off = 0;

        while (n - off >= sizeof(struct nlmsghdr)) {
                const struct nlmsghdr *nlh = (const struct nlmsghdr *) ((const char *) buf + off);
                if (nlh->nlmsg_len < sizeof(*nlh) || MNL_ALIGN((size_t) nlh->nlmsg_len) > n - off)
                        break; /* the messages before it are read; nothing after */
                off += MNL_ALIGN((size_t) nlh->nlmsg_len);
        }
        (void) mnl_cb_run(buf, off, 0, portid, packet_cb, x);
}

int rk_nfq_read(rk_nfq *q, void (*cb)(const rk_nfq_packet *p, void *ud), void *ud) {
        read_ctx x = { .cb = cb, .ud = ud };

        for (int k = 0; k < 64; k++) {
                ssize_t n = recv(mnl_socket_get_fd(q->nl), q->buf, q->buf_len, MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                break;
                        if (errno == ENOBUFS)
                                return x.n ? x.n : -ENOBUFS;
                        return -errno;
                }
                if (n == 0)
                        break;
                parse_batch(q->buf, (size_t) n, q->portid, &x);
        }
        return x.n;
}
