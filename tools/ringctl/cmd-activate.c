/* SPDX-License-Identifier: MIT */
/*
 * ringctl's extension activation commands (docs/activation.md):
 *
 *   activate [--replace accept|refuse] [--force] APP BUNDLE-ID
 *   approve BUNDLE-ID     deny BUNDLE-ID
 *   deactivate [APP] BUNDLE-ID
 *   reset                 (developer mode only)
 *   request FILE          send a raw request dictionary (a plist file), print the reply
 *
 * and the extensions section of `ringctl list`.  A refused request prints
 * "ringctl: error CODE (NAME): MESSAGE" (with --json, the reply object on
 * standard output) and exits 1; codes are OSSystemExtensionErrorDomain's
 * (catalogue/extdb.h).
 */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "ringctl.h"
#include "shared/macro.h"
#include "value/plist.h"

#define ACTIVATION_TIMEOUT_MS 120000 /* copying and hashing a bundle under a sanitizer */

typedef struct opts {
        const char *root;
        bool json, force;
        const char *replace;
} opts;

static int parse(int argc, char **argv, opts *o, const char *usage, bool activate) {
        static const struct option all[] = {
                { "root", required_argument, NULL, 'r' },    { "json", no_argument, NULL, 'j' },
                { "replace", required_argument, NULL, 'R' }, { "force", no_argument, NULL, 'f' },
                { "help", no_argument, NULL, 'h' },          {},
        };
        int ch;

        optind = 0;
        while ((ch = getopt_long(argc, argv, "+r:jh", all, NULL)) >= 0) {
                switch (ch) {
                case 'r':
                        o->root = optarg;
                        break;
                case 'j':
                        o->json = true;
                        break;
                case 'R':
                        if (!activate || (!streq(optarg, "accept") && !streq(optarg, "refuse"))) {
                                fprintf(stderr, "usage: %s\n", usage);
                                return -1;
                        }
                        o->replace = optarg;
                        break;
                case 'f':
                        if (!activate) {
                                fprintf(stderr, "usage: %s\n", usage);
                                return -1;
                        }
                        o->force = true;
                        break;
                case 'h':
                        printf("usage: %s\n", usage);
                        exit(0);
                default:
                        fprintf(stderr, "usage: %s\n", usage);
                        return -1;
                }
        }
        return optind;
}

/* Send, then print the error (code and name) or nothing; returns the exit code. */
static int send(const opts *o, rk_value *req, rk_value **rep) {
        int64_t code = 0;
        int r;

        r = ringctl_call(o->root, req, ACTIVATION_TIMEOUT_MS, rep);
        if (r < 0)
                return RK_EXIT_FAIL;
        if (rk_bool(rk_dict_get(*rep, "ok")))
                return RK_EXIT_OK;
        (void) rk_integer_s64(rk_dict_get(*rep, "code"), &code);
        if (o->json)
                ringctl_print_json(*rep);
        if (rk_dict_get(*rep, "code"))
                fprintf(stderr, "ringctl: error %" PRId64 " (%s): %s\n", code,
                        rk_dict_get_string(*rep, "code_name") ?: "unknown",
                        rk_dict_get_string(*rep, "error") ?: "failed");
        else
                fprintf(stderr, "ringctl: %s\n", rk_dict_get_string(*rep, "error") ?: "failed");
        return RK_EXIT_FAIL;
}

/* The app path as ringd must see it: absolute (ringd runs elsewhere). */
static char *absolute(const char *p) {
        char *r = realpath(p, NULL), cwd[PATH_MAX];

        if (r || p[0] == '/')
                return r ? r : strdup(p);
        if (!getcwd(cwd, sizeof(cwd)) || asprintf(&r, "%s/%s", cwd, p) < 0)
                return NULL;
        return r;
}

static const char *str(const rk_value *m, const char *k) {
        const char *s = rk_dict_get_string(m, k);
        return s ? s : "?";
}

int cmd_activate(int argc, char **argv) {
        const char *usage = "ringctl activate [--replace accept|refuse] [--force] [--json] APP BUNDLE-ID";
        _cleanup_(rk_value_unrefp) rk_value *req = ringctl_request("activate"), *rep = NULL;
        _cleanup_(freep) char *app = NULL;
        opts o = {};
        int i = parse(argc, argv, &o, usage, true), rc;
        const char *outcome;

        if (i < 0)
                return RK_EXIT_USAGE;
        if (argc - i != 2) {
                fprintf(stderr, "usage: %s\n", usage);
                return RK_EXIT_USAGE;
        }
        app = absolute(argv[i]);
        if (!req || !app || rk_dict_set_string(req, "app", app) < 0 || rk_dict_set_string(req, "bundle", argv[i + 1]) < 0 ||
            (o.replace && rk_dict_set_string(req, "replace", o.replace) < 0) ||
            (o.force && rk_dict_set_bool(req, "force", true) < 0))
                return RK_EXIT_FAIL;
        rc = send(&o, req, &rep);
        if (rc != RK_EXIT_OK)
                return rc;
        (void) rk_dict_remove(rep, "ok");
        if (o.json) {
                ringctl_print_json(rep);
                return RK_EXIT_OK;
        }
        outcome = str(rep, "outcome");
        if (streq(outcome, "waiting_for_user"))
                printf("%s: version %s activated, waiting for approval: ringctl approve %s\n", argv[i + 1],
                       str(rep, "version"), argv[i + 1]);
        else if (streq(outcome, "already_active"))
                printf("%s: version %s is already activated (%s)\n", argv[i + 1], str(rep, "version"),
                       str(rep, "state"));
        else if (streq(outcome, "replaced"))
                printf("%s: version %s replaced version %s (%s)\n", argv[i + 1], str(rep, "version"),
                       str(rep, "replaced_version"), str(rep, "state"));
        else
                printf("%s: %s (%s)\n", argv[i + 1], outcome, str(rep, "state"));
        return RK_EXIT_OK;
}

/* approve, deny, deactivate, reset */
static int simple(int argc, char **argv, const char *command, const char *usage, size_t min_args, size_t max_args) {
        _cleanup_(rk_value_unrefp) rk_value *req = ringctl_request(command), *rep = NULL;
        _cleanup_(freep) char *app = NULL;
        opts o = {};
        int i = parse(argc, argv, &o, usage, false), rc;
        size_t n;

        if (i < 0)
                return RK_EXIT_USAGE;
        n = (size_t) (argc - i);
        if (n < min_args || n > max_args) {
                fprintf(stderr, "usage: %s\n", usage);
                return RK_EXIT_USAGE;
        }
        if (!req)
                return RK_EXIT_FAIL;
        if (n == 2) {
                app = absolute(argv[i]);
                if (!app || rk_dict_set_string(req, "app", app) < 0)
                        return RK_EXIT_FAIL;
        }
        if (n >= 1 && rk_dict_set_string(req, "bundle", argv[argc - 1]) < 0)
                return RK_EXIT_FAIL;
        rc = send(&o, req, &rep);
        if (rc != RK_EXIT_OK)
                return rc;
        (void) rk_dict_remove(rep, "ok");
        if (o.json)
                ringctl_print_json(rep);
        else if (streq(command, "reset")) {
                uint64_t k = 0;
                (void) rk_dict_get_u64(rep, "removed", &k);
                printf("reset: %" PRIu64 " extension%s deactivated and removed\n", k, k == 1 ? "" : "s");
        } else
                printf("%s: version %s: %s\n", argv[argc - 1], str(rep, "version"), str(rep, "state"));
        return RK_EXIT_OK;
}

int cmd_approve(int argc, char **argv) {
        return simple(argc, argv, "approve", "ringctl approve [--json] BUNDLE-ID", 1, 1);
}

int cmd_deny(int argc, char **argv) {
        return simple(argc, argv, "deny", "ringctl deny [--json] BUNDLE-ID", 1, 1);
}

int cmd_deactivate(int argc, char **argv) {
        return simple(argc, argv, "deactivate", "ringctl deactivate [--json] [APP] BUNDLE-ID", 1, 2);
}

/* A system extension ringd stopped (crash loop, failed launch) started again. */
int cmd_restart(int argc, char **argv) {
        return simple(argc, argv, "restart", "ringctl restart [--json] BUNDLE-ID", 1, 1);
}

int cmd_reset(int argc, char **argv) {
        return simple(argc, argv, "reset", "ringctl reset [--json]", 0, 0);
}

/* A raw request from a plist file: for debugging ringd and for tests of malformed requests. */
int cmd_request(int argc, char **argv) {
        const char *usage = "ringctl request [--json] FILE.plist";
        _cleanup_(rk_value_unrefp) rk_value *req = NULL, *rep = NULL;
        opts o = {};
        int i = parse(argc, argv, &o, usage, false), r;
        rk_diag diag;

        if (i < 0 || argc - i != 1) {
                fprintf(stderr, "usage: %s\n", usage);
                return RK_EXIT_USAGE;
        }
        rk_diag_init(&diag);
        r = rk_plist_load(argv[i], &req, &diag);
        rk_diag_print(&diag, stderr);
        rk_diag_done(&diag);
        if (r < 0)
                return RK_EXIT_FAIL;
        r = ringctl_call(o.root, req, ACTIVATION_TIMEOUT_MS, &rep);
        if (r < 0)
                return RK_EXIT_FAIL;
        ringctl_print_json(rep);
        return rk_bool(rk_dict_get(rep, "ok")) ? RK_EXIT_OK : RK_EXIT_FAIL;
}

/* The extensions section of `ringctl list`, laid out like `systemextensionsctl list`. */
void ringctl_print_extensions(const rk_value *exts) {
        size_t n = rk_array_size(exts);

        printf("\n%zu extension(s)\n", n);
        if (!n)
                return;
        printf("%-7s %-6s %-12s %-40s %s\n", "enabled", "active", "teamID", "bundleID (version/short)", "[state]");
        for (size_t k = 0; k < n; k++) {
                const rk_value *e = rk_array_get(exts, k);
                char idv[512];
                const char *sv = rk_dict_get_string(e, "short_version");
                snprintf(idv, sizeof(idv), "%s (%s/%s)", str(e, "identifier"), str(e, "version"), sv && *sv ? sv : "-");
                printf("%-7s %-6s %-12s %-40s [%s]\n", rk_bool(rk_dict_get(e, "enabled")) ? "*" : "",
                       rk_bool(rk_dict_get(e, "active")) ? "*" : "", str(e, "team"), idv, str(e, "state"));
        }
}
