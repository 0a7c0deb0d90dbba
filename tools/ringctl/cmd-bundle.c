/* SPDX-License-Identifier: MIT */
/*
 * ringctl bundle: check and describe bundles without installing them.
 *
 *   ringctl bundle lint [--json] PATH...   every problem, then a summary per PATH
 *   ringctl bundle info [--json] PATH      identifier, version, kind, executable,
 *                                          personalities, children
 *
 * PATH is a .dext, .kext, .systemextension or .app directory or a bare
 * Info.plist file.  Exit status: 0 no errors (warnings allowed), 1 errors
 * (or a PATH that cannot be read), 2 usage.  The checks themselves live in
 * catalogue/bundle.c and match/personality.c; this file only prints.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalogue/bundle.h"
#include "ringctl.h"
#include "shared/json.h"

typedef struct options {
        bool json;
        bool help;
        int first; /* index of the first PATH */
} options;

static void usage(FILE *f) {
        fprintf(f, "usage: ringctl bundle lint [--json] PATH...\n"
                   "       ringctl bundle info [--json] PATH\n"
                   "\n"
                   "PATH is a .dext, .kext, .systemextension or .app bundle, or an Info.plist file.\n"
                   "  lint   print every problem found (FILE:LINE:COL: error: bundle B: personality 'P':\n"
                   "         key K: message) and a summary line per PATH; exit 1 when there are errors\n"
                   "  info   print the bundle's identifier, version, kind, executable,\n"
                   "         personalities and children\n"
                   "  --json machine-readable output\n");
}

/* Parse "[--json] [--help] [--] ARGS"; returns 0 or RK_EXIT_USAGE. */
static int parse_options(int argc, char **argv, options *o) {
        *o = (options){ .first = argc };
        for (int i = 1; i < argc; i++) {
                if (streq(argv[i], "--json"))
                        o->json = true;
                else if (streq(argv[i], "--help") || streq(argv[i], "-h"))
                        o->help = true;
                else if (streq(argv[i], "--")) {
                        o->first = i + 1;
                        return 0;
                } else if (argv[i][0] == '-' && argv[i][1]) {
                        fprintf(stderr, "ringctl bundle %s: unknown option '%s'\n", argv[0], argv[i]);
                        return RK_EXIT_USAGE;
                } else {
                        /* options come first; everything from here is a PATH */
                        o->first = i;
                        return 0;
                }
        }
        return 0;
}

static void json_str_or_null(rk_json *j, const char *key, const char *s) {
        rk_json_key(j, key);
        if (s)
                rk_json_string(j, s);
        else
                rk_json_null(j);
}

/* ---- lint ------------------------------------------------------------- */

static void print_summary(const char *name, size_t errors, size_t warnings) {
        if (errors == 0 && warnings == 0) {
                printf("%s: ok\n", name);
                return;
        }
        printf("%s: %zu error%s, %zu warning%s\n", name, errors, errors == 1 ? "" : "s", warnings,
               warnings == 1 ? "" : "s");
}

static void json_diag_item(rk_json *j, const rk_diag_item *it) {
        rk_json_begin_object(j);
        rk_json_key(j, "level");
        rk_json_string(j, rk_diag_level_name(it->level));
        json_str_or_null(j, "file", it->file);
        rk_json_key(j, "line");
        rk_json_int(j, it->line);
        rk_json_key(j, "column");
        rk_json_int(j, it->column);
        json_str_or_null(j, "bundle", it->bundle);
        json_str_or_null(j, "personality", it->personality);
        json_str_or_null(j, "key", it->key);
        json_str_or_null(j, "message", it->message);
        rk_json_end_object(j);
}

static void json_lint_entry(rk_json *j, const char *path, const rk_bundle *b, const rk_diag *d) {
        rk_json_begin_object(j);
        json_str_or_null(j, "path", path);
        json_str_or_null(j, "bundle", b ? b->identifier : NULL);
        json_str_or_null(j, "kind", b ? rk_bundle_kind_name(b->kind) : NULL);
        rk_json_key(j, "errors");
        rk_json_uint(j, rk_diag_count(d, RK_DIAG_ERROR));
        rk_json_key(j, "warnings");
        rk_json_uint(j, rk_diag_count(d, RK_DIAG_WARNING));
        rk_json_key(j, "diagnostics");
        rk_json_begin_array(j);
        for (size_t i = 0; i < d->n; i++)
                json_diag_item(j, &d->items[i]);
        rk_json_end_array(j);
        rk_json_end_object(j);
}

/* Lint one PATH; returns 1 when it has errors, 0 when not, -ENOMEM. */
static int lint_one(const char *path, rk_json *j) {
        _cleanup_(rk_bundle_unrefp) rk_bundle *b = NULL;
        rk_diag d;
        int r;

        rk_diag_init(&d);
        r = rk_bundle_load(path, &b, &d);
        if (r == -ENOMEM) {
                rk_diag_done(&d);
                return r;
        }
        if (j)
                json_lint_entry(j, path, b, &d);
        else {
                rk_diag_print(&d, stdout);
                print_summary(b ? rk_bundle_name(b) : path, rk_diag_count(&d, RK_DIAG_ERROR),
                              rk_diag_count(&d, RK_DIAG_WARNING));
        }
        r = r < 0 || rk_diag_count(&d, RK_DIAG_ERROR) > 0;
        rk_diag_done(&d);
        return r;
}

static int cmd_lint(int argc, char **argv) {
        options o;
        rk_json j;
        bool failed = false;
        int r;

        r = parse_options(argc, argv, &o);
        if (r)
                return r;
        if (o.help) {
                usage(stdout);
                return RK_EXIT_OK;
        }
        if (o.first >= argc) {
                fprintf(stderr, "ringctl bundle lint: no PATH given\n");
                usage(stderr);
                return RK_EXIT_USAGE;
        }
        if (o.json) {
                rk_json_init(&j, stdout);
                rk_json_begin_object(&j);
                rk_json_key(&j, "bundles");
                rk_json_begin_array(&j);
        }
        for (int i = o.first; i < argc; i++) {
                r = lint_one(argv[i], o.json ? &j : NULL);
                if (r < 0) {
                        fprintf(stderr, "ringctl bundle lint: %s\n", strerror(-r));
                        return RK_EXIT_FAIL;
                }
                failed |= r > 0;
        }
        if (o.json) {
                rk_json_end_array(&j);
                rk_json_end_object(&j);
                fputc('\n', stdout);
        }
        return failed ? RK_EXIT_FAIL : RK_EXIT_OK;
}

/* ---- info ------------------------------------------------------------- */

static void print_info(const rk_bundle *b, unsigned indent) {
        const char *pad = indent ? "    " : "";

        printf("%sidentifier:    %s\n", pad, b->identifier ? b->identifier : "(none)");
        printf("%spath:          %s\n", pad, b->path);
        printf("%skind:          %s\n", pad, rk_bundle_kind_name(b->kind));
        printf("%sversion:       %s\n", pad, b->version ? b->version : "(none)");
        if (b->codeless)
                printf("%sexecutable:    none (codeless)\n", pad);
        else
                printf("%sexecutable:    %s\n", pad,
                       b->executable_path ? b->executable_path : b->executable ? b->executable : "(invalid)");
        printf("%spersonalities: %zu\n", pad, rk_dict_size(b->personalities));
        for (size_t i = 0; i < rk_dict_size(b->personalities); i++) {
                const rk_value *p = rk_dict_value_at(b->personalities, i);
                const char *provider = rk_dict_get_string(p, "IOProviderClass");
                printf("%s  %s", pad, rk_dict_key_at(b->personalities, i));
                if (provider)
                        printf(" (on %s)", provider);
                putchar('\n');
        }
        if (indent == 0 && b->n_children > 0) {
                printf("children:      %zu\n", b->n_children);
                for (size_t i = 0; i < b->n_children; i++) {
                        printf("  - %s\n", rk_bundle_name(b->children[i]));
                        print_info(b->children[i], 1);
                }
        }
}

static void json_info(rk_json *j, const rk_bundle *b) {
        rk_json_begin_object(j);
        json_str_or_null(j, "path", b->path);
        json_str_or_null(j, "bundle", b->identifier);
        json_str_or_null(j, "kind", rk_bundle_kind_name(b->kind));
        json_str_or_null(j, "package_type", b->package_type);
        json_str_or_null(j, "version", b->version);
        json_str_or_null(j, "executable", b->executable);
        json_str_or_null(j, "executable_path", b->executable_path);
        rk_json_key(j, "codeless");
        rk_json_bool(j, b->codeless);
        rk_json_key(j, "personalities");
        rk_json_begin_array(j);
        for (size_t i = 0; i < rk_dict_size(b->personalities); i++) {
                const rk_value *p = rk_dict_value_at(b->personalities, i);
                rk_json_begin_object(j);
                json_str_or_null(j, "name", rk_dict_key_at(b->personalities, i));
                json_str_or_null(j, "provider_class", rk_dict_get_string(p, "IOProviderClass"));
                json_str_or_null(j, "class", rk_dict_get_string(p, "IOClass"));
                rk_json_end_object(j);
        }
        rk_json_end_array(j);
        rk_json_key(j, "children");
        rk_json_begin_array(j);
        for (size_t i = 0; i < b->n_children; i++)
                json_info(j, b->children[i]);
        rk_json_end_array(j);
        rk_json_end_object(j);
}

static int cmd_info(int argc, char **argv) {
        _cleanup_(rk_bundle_unrefp) rk_bundle *b = NULL;
        options o;
        rk_diag d;
        int r;

        r = parse_options(argc, argv, &o);
        if (r)
                return r;
        if (o.help) {
                usage(stdout);
                return RK_EXIT_OK;
        }
        if (o.first != argc - 1) {
                fprintf(stderr, "ringctl bundle info: expected exactly one PATH\n");
                usage(stderr);
                return RK_EXIT_USAGE;
        }
        rk_diag_init(&d);
        r = rk_bundle_load(argv[o.first], &b, &d);
        /* problems go to stderr so that stdout stays the description */
        rk_diag_print(&d, stderr);
        rk_diag_done(&d);
        if (!b) {
                if (r != -EBADMSG)
                        fprintf(stderr, "ringctl bundle info: %s: %s\n", argv[o.first], strerror(-r));
                return RK_EXIT_FAIL;
        }
        if (o.json) {
                rk_json j;
                rk_json_init(&j, stdout);
                json_info(&j, b);
                fputc('\n', stdout);
        } else
                print_info(b, 0);
        return r < 0 ? RK_EXIT_FAIL : RK_EXIT_OK;
}

int cmd_bundle(int argc, char **argv) {
        if (argc < 2) {
                usage(stderr);
                return RK_EXIT_USAGE;
        }
        if (streq(argv[1], "--help") || streq(argv[1], "-h") || streq(argv[1], "help")) {
                usage(stdout);
                return RK_EXIT_OK;
        }
        if (streq(argv[1], "lint"))
                return cmd_lint(argc - 1, argv + 1);
        if (streq(argv[1], "info"))
                return cmd_info(argc - 1, argv + 1);
        fprintf(stderr, "ringctl bundle: unknown subcommand '%s'\n", argv[1]);
        usage(stderr);
        return RK_EXIT_USAGE;
}
