/* SPDX-License-Identifier: MIT */
/*
 * ringctl log [--root DIR] [--json] [-n N] BUNDLE-ID: the last lines a
 * bundle's processes (dext instances, system extensions) wrote to their
 * standard output and error, as ringd keeps them (src/ringd/outlog.c; the
 * last 256 per bundle, in ringd's memory), oldest first:
 *
 *   HH:MM:SS.mmm TAG: text
 *
 * One reply holds what fits in one message; when ringd says there is more
 * (`more`), the older lines are asked for with `before`, and the pieces are
 * printed as one.  --json prints one object shaped like a reply: bundle,
 * total, lines [{time_usec, tag, text}].  An error prints its reason and
 * exits 1 (with --json, the error reply is printed too); a usage error exits 2.
 *
 * -f/--follow: then each new line as it comes (the kept ones first, none
 * twice and none lost in between: the follow is asked for before the kept
 * lines, and lines are numbered), until interrupted or ringd stops.  The
 * bundle need not have printed yet.  With --json, one JSON object a line,
 * {n, time_usec, tag, text}, kept lines included.  Lines ringctl did not
 * read in time are counted on standard error.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "ipc/msg.h"
#include "ipc/proto.h"
#include "ringctl.h"
#include "shared/macro.h"

#define LOG_USAGE "ringctl log [--root DIR] [--json] [-n N] [-f|--follow] BUNDLE-ID"
#define MAX_REQUESTS 64 /* 256 kept lines take a handful; a bound in case ringd keeps saying `more` */

typedef struct log_opts {
        ringctl_opts o;
        uint64_t lines;
        bool has_lines, follow;
} log_opts;

static int parse(int argc, char **argv, log_opts *l) {
        static const struct option all[] = {
                { "root", required_argument, NULL, 'r' }, { "json", no_argument, NULL, 'j' },
                { "lines", required_argument, NULL, 'n' }, { "help", no_argument, NULL, 'h' },
                { "follow", no_argument, NULL, 'f' },      {},
        };
        int ch;

        optind = 0;
        l->o.timeout_ms = 10000;
        while ((ch = getopt_long(argc, argv, "+r:jn:fh", all, NULL)) >= 0) {
                char *end;
                switch (ch) {
                case 'r':
                        l->o.root = optarg;
                        break;
                case 'j':
                        l->o.json = true;
                        break;
                case 'n':
                        l->lines = strtoull(optarg, &end, 10);
                        if (!*optarg || *end || *optarg == '-') {
                                fprintf(stderr, "ringctl log: -n wants a number of lines, not '%s'\n", optarg);
                                return -1;
                        }
                        l->has_lines = true;
                        break;
                case 'f':
                        l->follow = true;
                        break;
                case 'h':
                        printf("usage: %s\n", LOG_USAGE);
                        exit(0);
                default:
                        fprintf(stderr, "usage: %s\n", LOG_USAGE);
                        return -1;
                }
        }
        if (argc - optind != 1) {
                fprintf(stderr, "usage: %s\n", LOG_USAGE);
                return -1;
        }
        return optind;
}

static void print_line(const rk_value *e) {
        uint64_t usec = 0;
        time_t sec;
        struct tm tm;
        char when[16] = "??:??:??";

        (void) rk_dict_get_u64(e, "time_usec", &usec);
        sec = (time_t) (usec / 1000000);
        if (localtime_r(&sec, &tm))
                strftime(when, sizeof(when), "%H:%M:%S", &tm);
        printf("%s.%03u %s: %s\n", when, (unsigned) (usec / 1000 % 1000), rk_dict_get_string(e, "tag") ?: "?",
               rk_dict_get_string(e, "text") ?: "");
}

/* One request: the newest `lines` (when has_lines) below `before` (when not 0). */
static int ask(const log_opts *l, const char *bundle, uint64_t lines, bool has_lines, uint64_t before, rk_value **rep) {
        _cleanup_(rk_value_unrefp) rk_value *req = ringctl_request("log");
        int r;

        if (!req || rk_dict_set_string(req, "bundle", bundle) < 0 ||
            (has_lines && rk_dict_set_integer(req, "lines", lines, false) < 0) ||
            (before && rk_dict_set_integer(req, "before", before, false) < 0)) {
                fprintf(stderr, "ringctl log: out of memory\n");
                return -ENOMEM;
        }
        r = ringctl_call(l->o.root, req, l->o.timeout_ms, rep);
        if (r < 0)
                return r;
        if (rk_bool(rk_dict_get(*rep, "ok")))
                return 0;
        int64_t e = 0;
        (void) rk_integer_s64(rk_dict_get(*rep, "errno"), &e);
        if (l->follow && e == ENOENT)
                return -ENOENT; /* nothing kept yet: following is what was asked */
        if (l->o.json)
                ringctl_print_json(*rep);
        fprintf(stderr, "ringctl: %s\n", rk_dict_get_string(*rep, "error") ?: "log: failed");
        return -EIO;
}

/* log-follow on a connection of its own, kept open: *ret_next, the number the next line will get. */
static int follow_start(const log_opts *l, const char *bundle, rk_channel **ret, uint64_t *ret_next) {
        _cleanup_(rk_value_unrefp) rk_value *req = ringctl_request("log-follow"), *rep = NULL;
        rk_channel *ch = NULL;
        int r;

        if (!req || rk_dict_set_string(req, "bundle", bundle) < 0)
                return -ENOMEM;
        r = ringctl_call_open(l->o.root, req, l->o.timeout_ms, &ch, &rep);
        if (r >= 0)
                r = ringctl_check_reply("log", rep);
        if (r >= 0 && !rk_dict_get_u64(rep, "next", ret_next))
                r = -EBADMSG;
        if (r < 0) {
                rk_channel_free(ch);
                return r;
        }
        *ret = ch;
        return 0;
}

static void print_json_line(const rk_value *e, uint64_t n) {
        _cleanup_(rk_value_unrefp) rk_value *o = NULL;
        uint64_t usec = 0;

        (void) rk_dict_get_u64(e, "time_usec", &usec);
        if (rk_value_new_dict(&o) < 0 || rk_dict_set_integer(o, "n", n, false) < 0 ||
            rk_dict_set_integer(o, "time_usec", usec, false) < 0 ||
            rk_dict_set_string(o, "tag", rk_dict_get_string(e, "tag") ?: "") < 0 ||
            rk_dict_set_string(o, "text", rk_dict_get_string(e, "text") ?: "") < 0)
                return;
        ringctl_print_json(o);
}

/* Print the events of the follow connection: lines numbered after `last`, until ringd goes. */
static int follow_loop(const log_opts *l, rk_channel *ch, uint64_t last) {
        for (;;) {
                _cleanup_(rk_value_unrefp) rk_value *e = NULL;
                rk_msg m = { .fd = -EBADF };
                uint64_t n = 0, missed = 0;
                int r = rk_channel_recv_wait(ch, &m, -1);

                if (r == -ECONNRESET) {
                        fprintf(stderr, "ringctl log: ringd stopped\n");
                        return RK_EXIT_OK;
                }
                if (r >= 0 && m.type == RK_CTL_EVENT)
                        r = rk_msg_read_plist(&m, &e);
                rk_msg_done(&m);
                if (r < 0) {
                        fprintf(stderr, "ringctl log: %s\n", strerror(-r));
                        return RK_EXIT_FAIL;
                }
                if (!e || !rk_dict_get_u64(e, "n", &n) || n <= last)
                        continue; /* not a line, or one the kept lines had */
                if (rk_dict_get_u64(e, "missed", &missed) && missed)
                        fprintf(stderr, "ringctl log: %" PRIu64 " lines missed (not read in time)\n", missed);
                if (l->o.json)
                        print_json_line(e, n);
                else {
                        print_line(e);
                        fflush(stdout);
                }
                last = n;
        }
}

int cmd_log(int argc, char **argv) {
        _cleanup_(rk_value_unrefp) rk_value *out = NULL, *all = NULL;
        rk_value *parts[MAX_REQUESTS] = {};
        size_t n_parts = 0;
        uint64_t got = 0, before = 0, total = 0, next = 1, newest = 0;
        rk_channel *fch = NULL;
        log_opts l = {};
        const char *bundle;
        int i = parse(argc, argv, &l), rc = RK_EXIT_FAIL, r;

        if (i < 0)
                return RK_EXIT_USAGE;
        bundle = argv[i];
        if (l.follow && follow_start(&l, bundle, &fch, &next) < 0)
                return RK_EXIT_FAIL;
        /* newest first: each reply the lines just before the previous one's */
        while (n_parts < MAX_REQUESTS) {
                rk_value *rep = NULL;
                uint64_t first = 0, n;

                r = ask(&l, bundle, l.lines - got, l.has_lines, before, &rep);
                if (r == -ENOENT && fch) { /* nothing kept yet */
                        rk_value_unref(rep);
                        break;
                }
                if (r < 0) {
                        rk_value_unref(rep);
                        goto done;
                }
                if (n_parts == 0) { /* the newest line kept: what the follow skips */
                        uint64_t f0 = 0;
                        (void) rk_dict_get_u64(rep, "first", &f0);
                        newest = f0 + rk_array_size(rk_dict_get(rep, "lines"));
                        newest = newest ? newest - 1 : 0;
                }
                parts[n_parts++] = rep;
                if (n_parts == 1)
                        (void) rk_dict_get_u64(rep, "total", &total);
                n = rk_array_size(rk_dict_get(rep, "lines"));
                got += n;
                (void) rk_dict_get_u64(rep, "first", &first);
                if (!rk_bool(rk_dict_get(rep, "more")) || n == 0 || first <= 1 || (l.has_lines && got >= l.lines))
                        break;
                before = first;
        }
        if (rk_value_new_dict(&out) < 0 || rk_value_new_array(&all) < 0 || rk_dict_set_string(out, "bundle", bundle) < 0 ||
            rk_dict_set_integer(out, "total", total, false) < 0)
                goto done;
        for (size_t k = n_parts; k-- > 0;) {
                const rk_value *a = rk_dict_get(parts[k], "lines");
                for (size_t j = 0; j < rk_array_size(a); j++)
                        if (rk_array_append(all, rk_array_get(a, j)) < 0)
                                goto done;
        }
        if (rk_dict_set(out, "lines", all) < 0)
                goto done;
        if (fch) {
                /* kept lines then followed ones, in one form; numbered so that none is printed twice */
                uint64_t n0 = newest + 1 - rk_array_size(all);
                for (size_t j = 0; j < rk_array_size(all); j++) {
                        if (l.o.json)
                                print_json_line(rk_array_get(all, j), n0 + j);
                        else
                                print_line(rk_array_get(all, j));
                }
                fflush(stdout);
                rc = follow_loop(&l, fch, newest > next - 1 ? newest : next - 1);
                goto done;
        }
        if (l.o.json)
                ringctl_print_json(out);
        else
                for (size_t j = 0; j < rk_array_size(all); j++)
                        print_line(rk_array_get(all, j));
        rc = RK_EXIT_OK;
done:
        for (size_t k = 0; k < n_parts; k++)
                rk_value_unref(parts[k]);
        rk_channel_free(fch);
        return rc;
}
