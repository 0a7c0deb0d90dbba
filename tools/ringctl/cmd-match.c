/* SPDX-License-Identifier: MIT */
/*
 * ringctl match: explain, offline, which installed personalities would match
 * a device, in what order they would be tried per match category, and why
 * every other personality was rejected.
 *
 *   ringctl match --catalogue DIR [--catalogue DIR]... --device FILE
 *                 [--resources FILE] [--json]
 *
 * A DIR holds bundles (.dext, .kext, .systemextension, .app) or bare
 * Info.plist files (*.plist); a DIR may also be one bundle or one file.
 * Personalities with errors are reported on stderr and left out, as the
 * daemon would.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "catalogue/bundle.h"
#include "match/index.h"
#include "ringctl.h"
#include "shared/json.h"
#include "value/plist.h"

static void usage(FILE *f) {
        fprintf(f, "usage: ringctl match --catalogue DIR... --device FILE [--resources FILE] [--json]\n"
                   "\n"
                   "Explain which personalities match the provider described in FILE.\n"
                   "  --catalogue DIR   bundles or bare Info.plist files (repeatable)\n"
                   "  --device FILE     plist dictionary: the provider's properties plus\n"
                   "                    IOClassChain (most derived first), optionally IOName,\n"
                   "                    IOCompatibleNames, RKModalias, IOParent (same form)\n"
                   "  --resources FILE  plist dictionary of published resources (IOResourceMatch)\n"
                   "  --json            machine-readable output\n");
}

typedef struct loader {
        rk_match_index *idx;
        rk_diag diag;
        unsigned bundles, personalities, skipped;
} loader;

static int add_bundle(loader *l, rk_bundle *b) {
        int r = rk_match_index_add_personalities(l->idx, b->personalities, rk_bundle_name(b), b->info_path,
                                                 &l->diag, &l->skipped);
        if (r < 0)
                return r;
        l->bundles++;
        l->personalities += (unsigned) r;
        for (size_t i = 0; i < b->n_children; i++) {
                r = add_bundle(l, b->children[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int load_path(loader *l, const char *path) {
        _cleanup_(rk_bundle_unrefp) rk_bundle *b = NULL;
        int r = rk_bundle_load(path, &b, &l->diag);

        if (r < 0 && !b) {
                if (r != -EBADMSG)
                        fprintf(stderr, "ringctl: %s: %s\n", path, strerror(-r));
                return r == -ENOMEM ? r : 0;
        }
        return add_bundle(l, b);
}

static int load_catalogue(loader *l, const char *dir) {
        struct stat st;
        char **paths = NULL;
        size_t n = 0;
        int r;

        if (stat(dir, &st) < 0) {
                fprintf(stderr, "ringctl: catalogue %s: %m\n", dir);
                return -errno;
        }
        if (!S_ISDIR(st.st_mode) || rk_bundle_is_bundle_name(dir))
                return load_path(l, dir);
        r = rk_bundle_list_dir(dir, &paths, &n);
        if (r < 0) {
                fprintf(stderr, "ringctl: catalogue %s: %s\n", dir, strerror(-r));
                return r;
        }
        for (size_t i = 0; i < n; i++) {
                if (r == 0)
                        r = load_path(l, paths[i]);
                free(paths[i]);
        }
        free(paths);
        return r;
}

static void print_text(const rk_match_provider *prov, const rk_match_result *res) {
        printf("provider: %s", prov->classes[0]);
        if (prov->name)
                printf(" \"%s\"", prov->name);
        if (prov->modalias)
                printf(" modalias %s", prov->modalias);
        printf("\n");
        if (res->n_categories == 0)
                printf("no personality matches\n");
        for (size_t i = 0; i < res->n_categories; i++) {
                const rk_match_category *c = &res->categories[i];
                printf("\ncategory %s:\n", c->name);
                for (size_t j = 0; j < c->n; j++) {
                        const rk_personality *p = c->candidates[j].personality;
                        printf("  %zu. %-10lld %s  %s  class %s%s\n", j + 1, (long long) c->candidates[j].score,
                               p->bundle, p->name, p->io_class ? p->io_class : "-", j == 0 ? "  (tried first)" : "");
                }
        }
        if (res->n_rejected > 0) {
                printf("\nrejected:\n");
                for (size_t i = 0; i < res->n_rejected; i++)
                        printf("  %s  %s: %s\n", res->rejected[i].personality->bundle,
                               res->rejected[i].personality->name, res->rejected[i].key);
        }
}

static void print_json(const rk_match_result *res) {
        rk_json j;

        rk_json_init(&j, stdout);
        rk_json_begin_object(&j);
        rk_json_key(&j, "categories");
        rk_json_begin_array(&j);
        for (size_t i = 0; i < res->n_categories; i++) {
                const rk_match_category *c = &res->categories[i];
                rk_json_begin_object(&j);
                rk_json_key(&j, "category");
                rk_json_string(&j, c->name);
                rk_json_key(&j, "candidates");
                rk_json_begin_array(&j);
                for (size_t k = 0; k < c->n; k++) {
                        const rk_personality *p = c->candidates[k].personality;
                        rk_json_begin_object(&j);
                        rk_json_key(&j, "bundle");
                        rk_json_string(&j, p->bundle);
                        rk_json_key(&j, "personality");
                        rk_json_string(&j, p->name);
                        rk_json_key(&j, "class");
                        rk_json_string(&j, p->io_class);
                        rk_json_key(&j, "score");
                        rk_json_int(&j, c->candidates[k].score);
                        rk_json_end_object(&j);
                }
                rk_json_end_array(&j);
                rk_json_end_object(&j);
        }
        rk_json_end_array(&j);
        rk_json_key(&j, "rejected");
        rk_json_begin_array(&j);
        for (size_t i = 0; i < res->n_rejected; i++) {
                rk_json_begin_object(&j);
                rk_json_key(&j, "bundle");
                rk_json_string(&j, res->rejected[i].personality->bundle);
                rk_json_key(&j, "personality");
                rk_json_string(&j, res->rejected[i].personality->name);
                rk_json_key(&j, "key");
                rk_json_string(&j, res->rejected[i].key);
                rk_json_end_object(&j);
        }
        rk_json_end_array(&j);
        rk_json_end_object(&j);
}

int cmd_match(int argc, char **argv) {
        static const struct option opts[] = {
                { "catalogue", required_argument, NULL, 'c' },
                { "catalog", required_argument, NULL, 'c' },
                { "device", required_argument, NULL, 'd' },
                { "resources", required_argument, NULL, 'r' },
                { "json", no_argument, NULL, 'j' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_(rk_match_index_freep) rk_match_index *idx = NULL;
        _cleanup_(rk_match_provider_freep) rk_match_provider_owned *prov = NULL;
        _cleanup_(rk_value_unrefp) rk_value *dev = NULL, *resources = NULL;
        const char **dirs = NULL;
        const char *device = NULL, *res_file = NULL;
        size_t n_dirs = 0;
        bool json = false;
        rk_match_result res = {};
        loader l = {};
        int c, r, rc = RK_EXIT_FAIL;

        optind = 0;
        while ((c = getopt_long(argc, argv, "c:d:r:jh", opts, NULL)) >= 0) {
                switch (c) {
                case 'c': {
                        const char **nd = realloc(dirs, (n_dirs + 1) * sizeof(*nd));
                        if (!nd) {
                                free(dirs);
                                return RK_EXIT_FAIL;
                        }
                        dirs = nd;
                        dirs[n_dirs++] = optarg;
                        break;
                }
                case 'd':
                        device = optarg;
                        break;
                case 'r':
                        res_file = optarg;
                        break;
                case 'j':
                        json = true;
                        break;
                case 'h':
                        usage(stdout);
                        free(dirs);
                        return RK_EXIT_OK;
                default:
                        usage(stderr);
                        free(dirs);
                        return RK_EXIT_USAGE;
                }
        }
        if (n_dirs == 0 || !device || optind < argc) {
                fprintf(stderr, "ringctl match: %s\n",
                        optind < argc ? "unexpected argument" : "--catalogue and --device are required");
                usage(stderr);
                free(dirs);
                return RK_EXIT_USAGE;
        }

        rk_diag_init(&l.diag);
        r = rk_match_index_new(&idx);
        if (r < 0)
                goto out;
        l.idx = idx;
        for (size_t i = 0; i < n_dirs; i++) {
                r = load_catalogue(&l, dirs[i]);
                if (r == -ENOMEM)
                        goto out;
        }
        if (l.diag.n > 0) {
                rk_diag_print(&l.diag, stderr);
                if (l.skipped)
                        fprintf(stderr, "ringctl match: %u personalities with errors left out\n", l.skipped);
        }
        rk_diag_done(&l.diag);
        rk_diag_init(&l.diag);

        if (rk_plist_load(device, &dev, &l.diag) < 0 ||
            rk_match_provider_new_from_dict(dev, device, &prov, &l.diag) < 0 ||
            (res_file && rk_plist_load(res_file, &resources, &l.diag) < 0)) {
                rk_diag_print(&l.diag, stderr);
                goto out;
        }
        if (resources && !rk_value_is(resources, RK_TYPE_DICT)) {
                fprintf(stderr, "ringctl match: %s: resources must be a dictionary\n", res_file);
                goto out;
        }
        r = rk_match_index_run(idx, rk_match_provider_get(prov), resources, RK_MATCH_EXPLAIN, &res);
        if (r < 0) {
                fprintf(stderr, "ringctl match: %s\n", strerror(-r));
                goto out;
        }
        if (json)
                print_json(&res);
        else
                print_text(rk_match_provider_get(prov), &res);
        rc = RK_EXIT_OK;
out:
        rk_match_result_done(&res);
        rk_diag_done(&l.diag);
        free(dirs);
        return rc;
}
