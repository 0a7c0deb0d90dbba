/* SPDX-License-Identifier: MIT */
/*
 * The network filter in ringd: the owner of an NFQUEUE and of the firewall
 * rules that feed it, fanning every new flow out to the filter extensions
 * (libringkit-nf, include/ringkit/nf.h; wire: ipc/nf-proto.h).  User view:
 * docs/network-filter.md.
 *
 * Kernel side.  While at least one filter exists, ringd keeps a chain
 * RINGKIT-NF in the filter table (iptables and ip6tables; iptables-nft puts
 * it in nftables' ip/ip6 filter tables) holding one rule,
 *     -m conntrack --ctstate NEW -j NFQUEUE --queue-num Q --queue-bypass
 * jumped to first from INPUT, OUTPUT and FORWARD: the first packet of each
 * new connection-tracked flow comes to queue Q (--nf-queue, default 6230),
 * which ringd binds while a filter exists (src/netfilter/nfq.c).  --queue-bypass: while
 * nobody listens on Q (ringd is not running) the kernel accepts, so a dead
 * ringd cannot cut the host off; the rules it left are removed at its next
 * start (the marker RUN/nf-rules says some may be there) and before every
 * install.  nftables' native `queue` statement would be the natural backend;
 * the kernels we run on do not all have nft_queue (this one has not), while
 * the xtables NFQUEUE target is everywhere.
 *
 * A filter (struct nf_filter) is the record of one supervised filter
 * extension (sysext.c creates it at launch, and removes it when the
 * extension is stopped for good), with its stated policy: fail-open or
 * fail-closed, and a deadline.  Its connection comes and goes with its
 * process; the filter, and so the policy, stays while it is restarted.
 *
 * One new flow (struct flow), and who moves it:
 *
 *   (queued) ──on_packet──► for every filter:
 *                 connected ─► FLOW sent, its wait bit set
 *                 not       ─► its policy now: fail-closed = drop, fail-open = allow
 *                               │
 *   VERDICT DROP ───────────────┼──────────────► resolve(drop)      (a drop wins)
 *   VERDICT ALLOW ──────────────┤ bit cleared
 *   on_deadline: missed ────────┤ bit cleared, policy applied (drop resolves at once)
 *   filter disconnected ────────┤ bit cleared, policy applied
 *   filter removed ─────────────┤ bit cleared
 *                               ▼ no bit left
 *                         resolve(accept)
 *
 * Every policy application is counted (per filter and in total) and
 * logged, at most once a second per filter with the number left unsaid.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netfilter.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ipc/nf-proto.h"
#include "ipc/nf-wire.h"
#include "netfilter/nfq.h"
#include "ringd/ringd.h"
#include "ringkit/nf.h"
#include "shared/macro.h"

extern char **environ;

#define MAX_FILTERS 16          /* one wait bit per filter */
#define MAX_FLOWS 4096          /* beyond: the strictest policy at once, counted as overflow */
#define DEFAULT_QUEUE 6230
#define CHAIN "RINGKIT-NF"
#define LOG_INTERVAL_USEC 1000000
#define MAX_BAD_LOGGED 8 /* messages that break the wire logged per filter */
#define DEFAULT_SPIN_USEC 50 /* see spin_for_verdicts() */

typedef struct flow flow;

struct nf_filter {
        struct nf_state *nf;
        unsigned slot;
        uint32_t id;
        char *bundle;
        bool fail_closed;
        uint64_t deadline_usec;
        rk_channel *ch;         /* NULL while its process is not running */
        rk_source *src;
        pid_t pid;
        uint64_t n_flows, n_allowed, n_dropped, n_missed, n_policy, n_late, n_connects;
        unsigned n_bad;         /* messages that broke the wire (filter_bad) */
        uint64_t last_log, unlogged;
};

struct flow {
        uint64_t id;
        uint32_t pkt;           /* the kernel's packet id */
        uint32_t waiting;       /* one bit per filter slot */
        uint64_t deadline[MAX_FILTERS];
        char desc[128];         /* "tcp 10.0.0.1:1234 -> 10.0.0.2:80" for the log */
        flow *prev, *next;
};

typedef struct nf_state {
        ringd *d;
        uint16_t queue;
        bool queue_set;
        rk_nfq *q;
        rk_source *q_src;
        char *disabled;         /* why there is no queue, or NULL */
        nf_filter *slots[MAX_FILTERS];
        unsigned n_filters;
        uint32_t next_filter_id;
        bool rules;             /* our chain is installed */
        char *rules_error;      /* the last install failure */
        char *marker;           /* RUN/nf-rules: present while rules may be installed */
        flow *head, *tail;
        size_t n_flows;
        uint64_t next_id;
        rk_source *timer;
        uint64_t timer_at;
        uint64_t n_seen, n_accepted, n_dropped, n_policy_allowed, n_policy_dropped, n_overflow, n_no_filter;
        uint64_t spin_usec;     /* --nf-spin */
        bool spin_set;
        int ifr_fd;             /* for SIOCGIFNAME: one ioctl per name, not if_indextoname's three calls */
} nf_state;

/* ---- rules: iptables and ip6tables ---- */

static const char *const tools[2][2] = {
        { "iptables", "iptables-restore" },
        { "ip6tables", "ip6tables-restore" },
};

/* Run a tool quietly, input (may be NULL) on its stdin; its exit status, or a negative errno. */
static int run_tool(const char *tool, char *const argv[], const char *input) {
        posix_spawn_file_actions_t fa;
        int in[2] = { -1, -1 }, st = 0, r;
        pid_t pid;

        if (pipe2(in, O_CLOEXEC) < 0)
                return -errno;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, in[0], 0);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
        r = -posix_spawnp(&pid, tool, &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        close(in[0]);
        if (r == 0 && input) {
                size_t n = strlen(input), off = 0;
                while (off < n) {
                        ssize_t w = write(in[1], input + off, n - off);
                        if (w <= 0)
                                break;
                        off += (size_t) w;
                }
        }
        close(in[1]);
        if (r < 0)
                return r;
        while (waitpid(pid, &st, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Remove our chain and every jump to it, for one family.  Idempotent. */
static void rules_remove_family(int fam) {
        static const char *const hooks[] = { "INPUT", "OUTPUT", "FORWARD" };
        const char *t = tools[fam][0];

        for (size_t h = 0; h < ELEMENTSOF(hooks); h++)
                for (int k = 0; k < 8; k++) {
                        char *argv[] = { (char *) t, "-w", "5", "-t", "filter", "-D", (char *) hooks[h], "-j", CHAIN, NULL };
                        if (run_tool(t, argv, NULL) != 0)
                                break;
                }
        char *flush[] = { (char *) t, "-w", "5", "-t", "filter", "-F", CHAIN, NULL };
        char *del[] = { (char *) t, "-w", "5", "-t", "filter", "-X", CHAIN, NULL };
        (void) run_tool(t, flush, NULL);
        (void) run_tool(t, del, NULL);
}

static void rules_remove(nf_state *nf, const char *why) {
        rules_remove_family(0);
        rules_remove_family(1);
        if (nf->rules)
                log_info(nf->d, "network filter: rules removed (%s)", why);
        nf->rules = false;
        if (nf->marker)
                (void) unlink(nf->marker);
}

static int rules_install(nf_state *nf) {
        char text[512];
        int r4, r6, fd;

        if (nf->rules)
                return 0;
        /* whatever a crash left, and a clean slate */
        rules_remove_family(0);
        rules_remove_family(1);
        if (nf->marker && (fd = open(nf->marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) >= 0)
                close(fd);
        snprintf(text, sizeof(text),
                 "*filter\n:%s - [0:0]\n-A %s -m conntrack --ctstate NEW -j NFQUEUE --queue-num %u --queue-bypass\n"
                 "-I INPUT 1 -j %s\n-I OUTPUT 1 -j %s\n-I FORWARD 1 -j %s\nCOMMIT\n",
                 CHAIN, CHAIN, (unsigned) nf->queue, CHAIN, CHAIN, CHAIN);
        char *a4[] = { (char *) tools[0][1], "-w", "5", "--noflush", NULL };
        char *a6[] = { (char *) tools[1][1], "-w", "5", "--noflush", NULL };
        r4 = run_tool(tools[0][1], a4, text);
        r6 = run_tool(tools[1][1], a6, text);
        free(nf->rules_error);
        nf->rules_error = NULL;
        if (r4 != 0) {
                (void) asprintf(&nf->rules_error, "%s failed (%s)", tools[0][1],
                                r4 < 0 ? strerror(-r4) : "exit status non-zero; is iptables installed?");
                log_error(nf->d, "network filter: cannot install the rules: %s; new flows are not filtered",
                          nf->rules_error);
                rules_remove(nf, "install failed");
                return r4 < 0 ? r4 : -EIO;
        }
        if (r6 != 0)
                log_warning(nf->d, "network filter: %s failed; IPv6 flows are not filtered", tools[1][1]);
        nf->rules = true;
        log_notice(nf->d, "network filter: rules installed: new flows (ct state new) of INPUT, OUTPUT, FORWARD "
                          "go to NFQUEUE %u%s", (unsigned) nf->queue, r6 ? " (IPv4 only)" : "");
        return 0;
}

/* ---- flows ---- */

static void timer_arm(nf_state *nf) {
        uint64_t at = UINT64_MAX;

        for (flow *f = nf->head; f; f = f->next)
                for (unsigned s = 0; s < MAX_FILTERS; s++)
                        if ((f->waiting & (1u << s)) && f->deadline[s] < at)
                                at = f->deadline[s];
        if (at == nf->timer_at)
                return;
        nf->timer_at = at;
        if (at == UINT64_MAX)
                (void) rk_source_set_enabled(nf->timer, RK_SOURCE_OFF);
        else {
                (void) rk_source_set_time(nf->timer, at);
                (void) rk_source_set_enabled(nf->timer, RK_SOURCE_ONESHOT);
        }
}

static void flow_unlink(nf_state *nf, flow *f) {
        if (f->prev)
                f->prev->next = f->next;
        else
                nf->head = f->next;
        if (f->next)
                f->next->prev = f->prev;
        else
                nf->tail = f->prev;
        nf->n_flows--;
}

static void resolve(nf_state *nf, flow *f, bool accept) {
        int r = nf->q ? rk_nfq_verdict(nf->q, f->pkt, accept) : 0;

        if (r < 0)
                log_warning(nf->d, "network filter: verdict for %s: %s", f->desc, strerror(-r));
        if (accept)
                nf->n_accepted++;
        else
                nf->n_dropped++;
        flow_unlink(nf, f);
        free(f);
}

/* The filter is not answering for this flow: its policy; true when that drops it. */
static bool apply_policy(nf_filter *x, const char *desc, const char *why) {
        nf_state *nf = x->nf;
        uint64_t now = rk_now();

        x->n_policy++;
        if (x->fail_closed)
                nf->n_policy_dropped++;
        else
                nf->n_policy_allowed++;
        if (now - x->last_log >= LOG_INTERVAL_USEC) {
                log_warning(nf->d, "network filter: %s %s: %s %s", x->bundle, why,
                            x->fail_closed ? "fail-closed, dropped" : "fail-open, allowed", desc);
                if (x->unlogged)
                        log_warning(nf->d, "network filter: %s: %llu more flow(s) got its policy since the last report",
                                    x->bundle, (unsigned long long) x->unlogged);
                x->last_log = now;
                x->unlogged = 0;
        } else
                x->unlogged++;
        return x->fail_closed;
}

/* A filter's wait for a flow ends without its verdict (gone, missed).  True when the flow was resolved (freed). */
static bool release(nf_state *nf, flow *f, nf_filter *x, const char *why, bool policy) {
        f->waiting &= ~(1u << x->slot);
        if (policy && apply_policy(x, f->desc, why)) {
                resolve(nf, f, false);
                return true;
        }
        if (!f->waiting) {
                resolve(nf, f, true);
                return true;
        }
        return false;
}

static int on_deadline(rk_source *s, uint64_t usec, void *ud) {
        nf_state *nf = ud;
        uint64_t now = rk_now();

        nf->timer_at = UINT64_MAX;
        for (flow *f = nf->head, *n; f; f = n) {
                n = f->next;
                for (unsigned sl = 0; sl < MAX_FILTERS; sl++) {
                        nf_filter *x = nf->slots[sl];
                        if (!x || !(f->waiting & (1u << sl)) || f->deadline[sl] > now)
                                continue;
                        x->n_missed++;
                        if (release(nf, f, x, "missed its deadline", true))
                                break;
                }
        }
        timer_arm(nf);
        return 0;
}

static void describe(char *buf, size_t n, const rk_nfq_packet *p) {
        char s[INET6_ADDRSTRLEN] = "?", d[INET6_ADDRSTRLEN] = "?", pn[16];
        const char *proto = p->protocol == IPPROTO_TCP ? "tcp" : p->protocol == IPPROTO_UDP ? "udp" :
                            p->protocol == IPPROTO_ICMP ? "icmp" : p->protocol == IPPROTO_ICMPV6 ? "icmpv6" : NULL;

        if (p->family) {
                inet_ntop(p->family, p->src, s, sizeof(s));
                inet_ntop(p->family, p->dst, d, sizeof(d));
        }
        if (!proto) {
                snprintf(pn, sizeof(pn), "proto %u", p->protocol);
                proto = pn;
        }
        if (p->sport || p->dport)
                snprintf(buf, n, p->family == AF_INET6 ? "%s [%s]:%u -> [%s]:%u" : "%s %s:%u -> %s:%u", proto, s,
                         p->sport, d, p->dport);
        else
                snprintf(buf, n, "%s %s -> %s", proto, s, d);
}

static void ifname(nf_state *nf, uint32_t index, char name[IF_NAMESIZE]) {
        struct ifreq ifr = { .ifr_ifindex = (int) index };

        if (nf->ifr_fd < 0)
                nf->ifr_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (nf->ifr_fd >= 0 && ioctl(nf->ifr_fd, SIOCGIFNAME, &ifr) == 0)
                memcpy(name, ifr.ifr_name, IF_NAMESIZE);
}

static void on_packet(const rk_nfq_packet *p, void *ud) {
        nf_state *nf = ud;
        rk_nf_wire_flow w = {};
        uint64_t now = rk_now();
        flow *f;
        bool drop = false;

        nf->n_seen++;
        if (!nf->n_filters) {
                nf->n_no_filter++;
                (void) rk_nfq_verdict(nf->q, p->id, true);
                nf->n_accepted++;
                return;
        }
        f = calloc(1, sizeof(*f));
        if (!f || nf->n_flows >= MAX_FLOWS) {
                /* no room to wait: the strictest stated policy, at once */
                bool closed = false;
                for (unsigned s = 0; s < MAX_FILTERS; s++)
                        closed |= nf->slots[s] && nf->slots[s]->fail_closed;
                nf->n_overflow++;
                (void) rk_nfq_verdict(nf->q, p->id, !closed);
                closed ? nf->n_dropped++ : nf->n_accepted++;
                free(f);
                return;
        }
        f->id = ++nf->next_id;
        f->pkt = p->id;
        describe(f->desc, sizeof(f->desc), p);
        f->prev = nf->tail;
        if (nf->tail)
                nf->tail->next = f;
        else
                nf->head = f;
        nf->tail = f;
        nf->n_flows++;

        w.id = f->id;
        w.time_usec = now;
        w.family = p->family;
        w.protocol = p->protocol;
        w.direction = p->hook == NF_INET_LOCAL_IN ? RK_NF_DIRECTION_INBOUND :
                      p->hook == NF_INET_FORWARD  ? RK_NF_DIRECTION_FORWARD : RK_NF_DIRECTION_OUTBOUND;
        memcpy(w.src, p->src, sizeof(w.src));
        memcpy(w.dst, p->dst, sizeof(w.dst));
        w.sport = p->sport;
        w.dport = p->dport;
        w.in_ifindex = p->in_ifindex;
        w.out_ifindex = p->out_ifindex;
        if (p->in_ifindex)
                ifname(nf, p->in_ifindex, w.in_ifname);
        if (p->out_ifindex)
                ifname(nf, p->out_ifindex, w.out_ifname);
        if (p->has_uid) {
                w.flags |= RK_NF_WIRE_F_UID;
                w.uid = p->uid;
                w.gid = p->gid;
        }
        for (unsigned s = 0; s < MAX_FILTERS && !drop; s++) {
                nf_filter *x = nf->slots[s];
                if (!x)
                        continue;
                x->n_flows++;
                if (!x->ch) {
                        drop = apply_policy(x, f->desc, "is not running");
                        continue;
                }
                w.deadline_usec = now + x->deadline_usec;
                if (rk_channel_send(x->ch, RK_NF_MSG_FLOW, 0, -EBADF, &w, sizeof(w)) < 0) {
                        drop = apply_policy(x, f->desc, "cannot take the flow");
                        continue;
                }
                if (rk_channel_has_pending(x->ch))
                        (void) rk_source_set_io_events(x->src, EPOLLIN | EPOLLOUT);
                f->waiting |= 1u << s;
                f->deadline[s] = w.deadline_usec;
        }
        if (drop || !f->waiting) {
                resolve(nf, f, !drop);
                return;
        }
        timer_arm(nf);
}

static void on_verdict(nf_filter *x, const rk_msg *m);
static void filter_bad(nf_filter *x, const rk_msg *m, int r);

/*
 * A filter answers in tens of microseconds, less than a sleep and wake-up
 * of ringd's loop costs: once a batch of flows is sent, poll the filters'
 * sockets for their verdicts a short, bounded while (--nf-spin, default
 * 50 us; 0: off) before going back to the loop.  Anything but a verdict, or
 * an error, is left for on_filter().
 */
/* One look at the sockets of the filters some flow waits for; false when no flow waits any more. */
static bool verdicts_step(void *ud) {
        nf_state *nf = ud;
        uint32_t waiting = 0;

        for (flow *f = nf->head; f; f = f->next)
                waiting |= f->waiting;
        for (unsigned s = 0; s < MAX_FILTERS; s++) {
                nf_filter *x = nf->slots[s];
                rk_msg m = RK_MSG_INIT;
                if (!x || !x->ch || !(waiting & (1u << s)))
                        continue;
                if (rk_channel_recv(x->ch, &m) <= 0)
                        continue;
                if (m.type == RK_NF_MSG_VERDICT)
                        on_verdict(x, &m);
                else
                        filter_bad(x, &m, -EOPNOTSUPP);
                rk_msg_done(&m);
        }
        return nf->head != NULL;
}

static void spin_for_verdicts(nf_state *nf) {
        if (nf->head)
                rk_spin(nf->spin_usec, verdicts_step, nf);
}

static int on_queue(rk_source *s, int fd, uint32_t revents, void *ud) {
        nf_state *nf = ud;
        int r = rk_nfq_read(nf->q, on_packet, nf);

        if (r == -ENOBUFS)
                log_warning(nf->d, "network filter: the queue overflowed; the kernel dropped packets");
        else if (r < 0)
                log_warning(nf->d, "network filter: reading the queue: %s", strerror(-r));
        spin_for_verdicts(nf);
        return 0;
}

/* ---- filters ---- */

static void filter_disconnect(nf_filter *x, const char *why) {
        nf_state *nf = x->nf;

        if (!x->ch)
                return;
        log_info(nf->d, "network filter: %s (pid %d) %s", x->bundle, (int) x->pid, why);
        x->src = rk_source_unref(x->src);
        x->ch = rk_channel_free(x->ch);
        x->pid = 0;
        for (flow *f = nf->head, *n; f; f = n) {
                n = f->next;
                if (f->waiting & (1u << x->slot))
                        release(nf, f, x, "went away", true);
        }
        timer_arm(nf);
}

/* A filter that breaks the wire: logged (the first few) and counted; its flows keep their deadlines. */
static void filter_bad(nf_filter *x, const rk_msg *m, int r) {
        char what[64] = "a malformed datagram"; /* m == NULL: the framing (ipc/msg.h) dropped it */

        if (++x->n_bad > MAX_BAD_LOGGED)
                return;
        if (m)
                (void) snprintf(what, sizeof(what), "message type 0x%x of %zu bytes", (unsigned) m->type, m->len);
        log_info(x->nf->d, "network filter: %s (pid %d): refused %s: %s%s", x->bundle, (int) x->pid, what,
                 strerror(-r), x->n_bad == MAX_BAD_LOGGED ? " (further ones not logged)" : "");
}

static void on_verdict(nf_filter *x, const rk_msg *m) {
        nf_state *nf = x->nf;
        rk_nf_wire_verdict v;
        int r = rk_nf_wire_verdict_decode(m->data, m->len, &v);

        if (r < 0) {
                filter_bad(x, m, r);
                return;
        }
        for (flow *f = nf->head; f; f = f->next) {
                if (f->id != v.id)
                        continue;
                if (!(f->waiting & (1u << x->slot)))
                        break;
                if (v.verdict == RK_NF_VERDICT_DROP) {
                        x->n_dropped++;
                        resolve(nf, f, false);
                } else {
                        x->n_allowed++;
                        f->waiting &= ~(1u << x->slot);
                        if (!f->waiting)
                                resolve(nf, f, true);
                }
                timer_arm(nf);
                return;
        }
        x->n_late++;
}

static int on_filter(rk_source *s, int fd, uint32_t revents, void *ud) {
        nf_filter *x = ud;

        if (revents & EPOLLOUT) {
                int r = rk_channel_flush(x->ch);
                if (r == -EPIPE) {
                        filter_disconnect(x, "disconnected");
                        return 0;
                }
                if (!rk_channel_has_pending(x->ch))
                        (void) rk_source_set_io_events(x->src, EPOLLIN);
        }
        for (int n = 0; n < 256 && x->ch; n++) {
                rk_msg m = RK_MSG_INIT;
                int r = rk_channel_recv(x->ch, &m);
                if (r == 0)
                        break;
                if (r < 0) {
                        if (r == -EBADMSG) {
                                filter_bad(x, NULL, r);
                                continue;
                        }
                        filter_disconnect(x, r == -ECONNRESET ? "disconnected" : strerror(-r));
                        return 0;
                }
                if (m.type == RK_NF_MSG_VERDICT)
                        on_verdict(x, &m);
                else
                        filter_bad(x, &m, -EOPNOTSUPP);
                rk_msg_done(&m);
        }
        return 0;
}

/*
 * The queue is bound while a filter exists, not for ringd's whole life:
 * one queue number serves one process per network namespace, and a ringd
 * without filters (a test's, a developer's second one) must not take it.
 */
static int queue_open(nf_state *nf) {
        int r;

        if (nf->q)
                return 0;
        nf->disabled = mfree(nf->disabled);
        r = rk_nfq_open(nf->queue, &nf->q);
        if (r < 0) {
                (void) asprintf(&nf->disabled, "cannot bind NFQUEUE %u: %s%s", (unsigned) nf->queue, strerror(-r),
                                r == -EPERM ? " (another process has it? see --nf-queue)" : "");
                log_error(nf->d, "network filter: %s; new flows are not filtered", nf->disabled);
                return r;
        }
        if ((r = rk_loop_add_io(nf->d->loop, &nf->q_src, rk_nfq_get_fd(nf->q), EPOLLIN, on_queue, nf)) < 0) {
                nf->q = rk_nfq_close(nf->q);
                return r;
        }
        (void) rk_source_set_priority(nf->q_src, -5);
        log_info(nf->d, "network filter: NFQUEUE %u bound", (unsigned) nf->queue);
        return 0;
}

static void queue_close(nf_state *nf) {
        nf->q_src = rk_source_unref(nf->q_src);
        if (nf->q)
                log_info(nf->d, "network filter: NFQUEUE %u released", (unsigned) nf->queue);
        nf->q = rk_nfq_close(nf->q);
}

int nf_filter_add(ringd *d, const char *bundle, bool fail_closed, unsigned deadline_ms, nf_filter **ret) {
        nf_state *nf = d->nf;
        nf_filter *x;
        unsigned slot;

        if (!nf || !nf->d)
                return -ENOTCONN;
        for (slot = 0; slot < MAX_FILTERS && nf->slots[slot]; slot++)
                ;
        if (slot == MAX_FILTERS)
                return -EBUSY;
        x = calloc(1, sizeof(*x));
        if (!x || !(x->bundle = strdup(bundle))) {
                free(x);
                return -ENOMEM;
        }
        x->nf = nf;
        x->slot = slot;
        x->id = ++nf->next_filter_id;
        x->fail_closed = fail_closed;
        x->deadline_usec = (uint64_t) deadline_ms * 1000;
        nf->slots[slot] = x;
        nf->n_filters++;
        if (queue_open(nf) == 0)
                (void) rules_install(nf);
        log_notice(d, "network filter: %s is a filter (%s, deadline %u ms)%s", bundle,
                   fail_closed ? "fail-closed" : "fail-open", deadline_ms,
                   nf->q ? "" : "; but there is no queue, so nothing is filtered");
        *ret = x;
        return 0;
}

int nf_filter_connect(nf_filter *x, int fd, pid_t pid) {
        nf_state *nf = x->nf;
        rk_nf_wire_welcome w = { .version = RK_NF_PROTO_VERSION, .filter_id = x->id,
                                 .deadline_ms = (uint32_t) (x->deadline_usec / 1000), .fail_closed = x->fail_closed };
        int r;

        filter_disconnect(x, "replaced by a new process");
        if ((r = rk_channel_new(fd, 0, &x->ch)) < 0) {
                close(fd);
                return r;
        }
        if ((r = rk_loop_add_io(nf->d->loop, &x->src, rk_channel_get_fd(x->ch), EPOLLIN, on_filter, x)) < 0) {
                x->ch = rk_channel_free(x->ch);
                return r;
        }
        x->pid = pid;
        x->n_connects++;
        (void) rk_channel_send(x->ch, RK_NF_MSG_WELCOME, 0, -EBADF, &w, sizeof(w));
        return 0;
}

void nf_filter_remove(nf_filter *x) {
        nf_state *nf;

        if (!x)
                return;
        nf = x->nf;
        x->src = rk_source_unref(x->src);
        x->ch = rk_channel_free(x->ch);
        for (flow *f = nf->head, *n; f; f = n) {
                n = f->next;
                if (f->waiting & (1u << x->slot))
                        release(nf, f, x, "removed", false);
        }
        nf->slots[x->slot] = NULL;
        nf->n_filters--;
        log_notice(nf->d, "network filter: %s is no longer a filter", x->bundle);
        if (!nf->n_filters) {
                if (nf->rules)
                        rules_remove(nf, "no filter left");
                queue_close(nf);
        }
        timer_arm(nf);
        free(x->bundle);
        free(x);
}

/* ---- set-up, status, teardown ---- */

int nf_configure(ringd *d, const char *option, const char *value) {
        nf_state *nf = d->nf;
        char *e;
        unsigned long v;

        if (!nf) {
                nf = calloc(1, sizeof(*nf));
                if (!nf)
                        return -ENOMEM;
                nf->queue = DEFAULT_QUEUE;
                nf->ifr_fd = -EBADF;
                d->nf = nf;
        }
        if (streq(option, "spin")) {
                v = strtoul(value, &e, 10);
                if (!*value || *e || v > 1000)
                        return -EINVAL;
                nf->spin_usec = v;
                nf->spin_set = true;
                return 0;
        }
        if (!streq(option, "queue"))
                return -EINVAL;
        v = strtoul(value, &e, 10);
        if (!*value || *e || v > 65535)
                return -EINVAL;
        nf->queue = (uint16_t) v;
        nf->queue_set = true;
        return 0;
}

int nf_init(ringd *d) {
        nf_state *nf;
        struct stat st;
        int r;

        if (!d->nf && (r = nf_configure(d, "", "")) == -ENOMEM)
                return r;
        nf = d->nf;
        nf->d = d;
        nf->timer_at = UINT64_MAX;
        if (!nf->spin_set)
                nf->spin_usec = DEFAULT_SPIN_USEC;
        if (asprintf(&nf->marker, "%s/nf-rules", d->run_dir) < 0)
                return -ENOMEM;
        if ((r = rk_loop_add_time(d->loop, &nf->timer, UINT64_MAX, on_deadline, nf)) < 0)
                return r;
        (void) rk_source_set_enabled(nf->timer, RK_SOURCE_OFF);
        /* a previous ringd died with its rules in place */
        if (stat(nf->marker, &st) == 0) {
                log_notice(d, "network filter: removing the rules a previous ringd left");
                rules_remove(nf, "stale");
        }
        return 0;
}

static rk_value *filter_value(nf_filter *x) {
        rk_value *v = NULL;

        if (rk_value_new_dict(&v) < 0)
                return NULL;
        (void) rk_dict_set_integer(v, "id", x->id, false);
        (void) rk_dict_set_string(v, "bundle", x->bundle);
        (void) rk_dict_set_string(v, "policy", x->fail_closed ? "fail-closed" : "fail-open");
        (void) rk_dict_set_integer(v, "deadline_ms", x->deadline_usec / 1000, false);
        (void) rk_dict_set_bool(v, "connected", x->ch != NULL);
        (void) rk_dict_set_integer(v, "pid", (uint64_t) x->pid, false);
        (void) rk_dict_set_integer(v, "connects", x->n_connects, false);
        (void) rk_dict_set_integer(v, "flows", x->n_flows, false);
        (void) rk_dict_set_integer(v, "allowed", x->n_allowed, false);
        (void) rk_dict_set_integer(v, "dropped", x->n_dropped, false);
        (void) rk_dict_set_integer(v, "missed_deadlines", x->n_missed, false);
        (void) rk_dict_set_integer(v, "policy_applied", x->n_policy, false);
        (void) rk_dict_set_integer(v, "late_answers", x->n_late, false);
        (void) rk_dict_set_integer(v, "refused_messages", x->n_bad, false);
        return v;
}

int nf_status(ringd *d, rk_value *m) {
        nf_state *nf = d->nf;
        _cleanup_(rk_value_unrefp) rk_value *e = NULL, *fl = NULL;

        if (!nf || !nf->d)
                return 0;
        if (rk_value_new_dict(&e) < 0 || rk_value_new_array(&fl) < 0)
                return -ENOMEM;
        (void) rk_dict_set_integer(e, "queue", nf->queue, false);
        (void) rk_dict_set_integer(e, "spin_us", nf->spin_usec, false);
        (void) rk_dict_set_bool(e, "bound", nf->q != NULL);
        if (nf->disabled)
                (void) rk_dict_set_string(e, "error", nf->disabled);
        (void) rk_dict_set_bool(e, "rules", nf->rules);
        if (nf->rules_error)
                (void) rk_dict_set_string(e, "rules_error", nf->rules_error);
        (void) rk_dict_set_integer(e, "flows", nf->n_seen, false);
        (void) rk_dict_set_integer(e, "accepted", nf->n_accepted, false);
        (void) rk_dict_set_integer(e, "dropped", nf->n_dropped, false);
        (void) rk_dict_set_integer(e, "policy_allowed", nf->n_policy_allowed, false);
        (void) rk_dict_set_integer(e, "policy_dropped", nf->n_policy_dropped, false);
        (void) rk_dict_set_integer(e, "overflow", nf->n_overflow, false);
        (void) rk_dict_set_integer(e, "no_filter", nf->n_no_filter, false);
        (void) rk_dict_set_integer(e, "pending", nf->n_flows, false);
        for (unsigned s = 0; s < MAX_FILTERS; s++) {
                rk_value *v;
                if (nf->slots[s] && (v = filter_value(nf->slots[s]))) {
                        (void) rk_array_append(fl, v);
                        rk_value_unref(v);
                }
        }
        (void) rk_dict_set(e, "filters", fl);
        return rk_dict_set(m, "network_filter", e);
}

void nf_done(ringd *d) {
        nf_state *nf = d->nf;

        if (!nf)
                return;
        if (nf->d) {
                while (nf->head)
                        resolve(nf, nf->head, true);
                for (unsigned s = 0; s < MAX_FILTERS; s++)
                        if (nf->slots[s])
                                nf_filter_remove(nf->slots[s]);
                if (nf->rules)
                        rules_remove(nf, "ringd stops");
                queue_close(nf);
                rk_source_unref(nf->timer);
        }
        if (nf->ifr_fd >= 0)
                close(nf->ifr_fd);
        free(nf->marker);
        free(nf->disabled);
        free(nf->rules_error);
        free(nf);
        d->nf = NULL;
}
