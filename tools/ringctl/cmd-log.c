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
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "ringctl.h"
#include "shared/macro.h"

#define LOG_USAGE "ringctl log [--root DIR] [--json] [-n N] BUNDLE-ID"
#define MAX_REQUESTS 64 /* 256 kept lines take a handful; a bound in case ringd keeps saying `more` */

typedef struct log_opts {
        ringctl_opts o;
        uint64_t lines;
        bool has_lines;
} log_opts;

static int parse(int argc, char **argv, log_opts *l) {
        static const struct option all[] = {
                { "root", required_argument, NULL, 'r' }, { "json", no_argument, NULL, 'j' },
                { "lines", required_argument, NULL, 'n' }, { "help", no_argument, NULL, 'h' }, {},
        };
        int ch;

        optind = 0;
        l->o.timeout_ms = 10000;
        while ((ch = getopt_long(argc, argv, "+r:jn:h", all, NULL)) >= 0) {
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
        if (l->o.json)
                ringctl_print_json(*rep);
        fprintf(stderr, "ringctl: %s\n", rk_dict_get_string(*rep, "error") ?: "log: failed");
        return -EIO;
}

int cmd_log(int argc, char **argv) {
        _cleanup_(rk_value_unrefp) rk_value *out = NULL, *all = NULL;
        rk_value *parts[MAX_REQUESTS] = {};
        size_t n_parts = 0;
        uint64_t got = 0, before = 0, total = 0;
        log_opts l = {};
        const char *bundle;
        int i = parse(argc, argv, &l), rc = RK_EXIT_FAIL;

        if (i < 0)
                return RK_EXIT_USAGE;
        bundle = argv[i];
        /* newest first: each reply the lines just before the previous one's */
        while (n_parts < MAX_REQUESTS) {
                rk_value *rep = NULL;
                uint64_t first = 0, n;

                if (ask(&l, bundle, l.lines - got, l.has_lines, before, &rep) < 0) {
                        rk_value_unref(rep);
                        goto done;
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
        if (l.o.json)
                ringctl_print_json(out);
        else
                for (size_t j = 0; j < rk_array_size(all); j++)
                        print_line(rk_array_get(all, j));
        rc = RK_EXIT_OK;
done:
        for (size_t k = 0; k < n_parts; k++)
                rk_value_unref(parts[k]);
        return rc;
}
