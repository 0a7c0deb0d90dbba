/* SPDX-License-Identifier: MIT */
/*
 * nf-block: a sample network filter system extension.  It drops new flows
 * to the destination ports it is given and allows the rest, logging each
 * flow it sees.
 *
 *   nf-block [--drop-port N]... [--crash-port N]... [--log FILE] [--ready FILE]
 *
 *   --drop-port N   drop new flows whose destination port is N (TCP or UDP)
 *   --crash-port N  abort() on a flow to port N without answering (to show
 *                   ringd's fail-open / fail-closed policy and the restart)
 *   --log FILE      one line per flow: verdict, protocol, direction,
 *                   addresses, ports, interface, uid
 *   --ready FILE    created once the filter is connected
 *
 * Ship it as Contents/MacOS/nf-block of a .systemextension whose Info.plist
 * gives the arguments (RKArguments) and the policy (RKNetworkFilter
 * FailPolicy), signed with com.apple.developer.networking.networkextension
 * = ["content-filter-provider"]; activate and approve it: ringd runs it
 * (docs/network-filter.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ringkit/nf.h>

#define MAX_PORTS 32

static unsigned drop[MAX_PORTS], crash[MAX_PORTS];
static int n_drop, n_crash;
static FILE *log_file;

static bool in(const unsigned *v, int n, unsigned port) {
        for (int k = 0; k < n; k++)
                if (v[k] == port)
                        return true;
        return false;
}

static rk_nf_verdict on_flow(rk_nf_filter *f, const rk_nf_flow *fl, void *ud) {
        static const char *const dir[] = { "out", "in", "fwd" };
        const char *proto = fl->protocol == IPPROTO_TCP ? "tcp" : fl->protocol == IPPROTO_UDP ? "udp" : "other";
        bool ported = fl->protocol == IPPROTO_TCP || fl->protocol == IPPROTO_UDP;
        rk_nf_verdict v = ported && in(drop, n_drop, fl->destination.port) ? RK_NF_VERDICT_DROP : RK_NF_VERDICT_ALLOW;

        if (log_file) {
                fprintf(log_file, "%s %s %s src=%s sport=%u dst=%s dport=%u if=%s uid=%s%u\n",
                        ported && in(crash, n_crash, fl->destination.port) ? "crash" : rk_nf_verdict_name(v), proto,
                        dir[fl->direction], fl->source.address, fl->source.port, fl->destination.address,
                        fl->destination.port, fl->interface, fl->has_uid ? "" : "?", fl->has_uid ? (unsigned) fl->uid : 0);
                fflush(log_file);
        }
        if (ported && in(crash, n_crash, fl->destination.port))
                abort();
        return v;
}

static int add_port(unsigned *v, int *n, const char *s) {
        char *e;
        unsigned long p = strtoul(s, &e, 10);

        if (*n >= MAX_PORTS || !*s || *e || p == 0 || p > 65535)
                return -EINVAL;
        v[(*n)++] = (unsigned) p;
        return 0;
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                { "drop-port", required_argument, NULL, 'd' }, { "crash-port", required_argument, NULL, 'c' },
                { "log", required_argument, NULL, 'l' },       { "ready", required_argument, NULL, 'r' },
                {},
        };
        const char *ready = NULL;
        rk_nf_filter *f = NULL;
        int o, r;

        while ((o = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                switch (o) {
                case 'd':
                case 'c':
                        if (add_port(o == 'd' ? drop : crash, o == 'd' ? &n_drop : &n_crash, optarg) < 0) {
                                fprintf(stderr, "nf-block: bad port '%s'\n", optarg);
                                return 2;
                        }
                        break;
                case 'l':
                        log_file = fopen(optarg, "ae");
                        if (!log_file) {
                                fprintf(stderr, "nf-block: %s: %m\n", optarg);
                                return 1;
                        }
                        break;
                case 'r':
                        ready = optarg;
                        break;
                default:
                        return 2;
                }
        }
        r = rk_nf_filter_new(&f, on_flow, NULL);
        if (r < 0) {
                fprintf(stderr, "nf-block: no network filter: %s (run it as an approved filter extension)\n", strerror(-r));
                return 1;
        }
        if (ready) {
                int fd = open(ready, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
                if (fd >= 0)
                        close(fd);
        }
        r = rk_nf_filter_run(f, -1);
        rk_nf_filter_free(f);
        return r == -ECONNRESET ? 0 : 1;
}
