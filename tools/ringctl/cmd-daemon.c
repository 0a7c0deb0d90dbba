/* SPDX-License-Identifier: MIT */
/*
 * ringctl commands that talk to a running ringd: status, list, registry,
 * virt, debug, rescan, shutdown.  Each accepts --root DIR (or the global
 * `ringctl --root DIR ...`, or $RINGKIT_ROOT) and every listing --json.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "registry/registry.h"
#include "ringctl.h"
#include "shared/macro.h"
#include "value/plist.h"

int cmd_status(int argc, char **argv) {
        _cleanup_(rk_value_unrefp) rk_value *req = ringctl_request("status"), *rep = NULL;
        ringctl_opts c = {};

        if (ringctl_parse_opts(argc, argv, &c, "ringctl status [--root DIR] [--json]") < 0)
                return RK_EXIT_USAGE;
        if (!req || ringctl_roundtrip(&c, "status", req, &rep) < 0)
                return RK_EXIT_FAIL;
        (void) rk_dict_remove(rep, "ok");
        if (c.json) {
                ringctl_print_json(rep);
                return RK_EXIT_OK;
        }
        for (size_t k = 0; k < rk_dict_size(rep); k++) {
                _cleanup_(freep) char *s = NULL;
                const rk_value *v = rk_dict_value_at(rep, k);
                s = rk_value_is(v, RK_TYPE_STRING) ? strdup(rk_string(v)) : rk_value_to_short_string(v, 200);
                printf("%-18s %s\n", rk_dict_key_at(rep, k), s ? s : "?");
        }
        return RK_EXIT_OK;
}

int cmd_list(int argc, char **argv) {
        _cleanup_(rk_value_unrefp) rk_value *req = ringctl_request("list"), *rep = NULL;
        const rk_value *insts, *cats;
        ringctl_opts c = {};

        if (ringctl_parse_opts(argc, argv, &c, "ringctl list [--root DIR] [--json]") < 0)
                return RK_EXIT_USAGE;
        if (!req || ringctl_roundtrip(&c, "list", req, &rep) < 0)
                return RK_EXIT_FAIL;
        (void) rk_dict_remove(rep, "ok");
        if (c.json) {
                ringctl_print_json(rep);
                return RK_EXIT_OK;
        }
        insts = rk_dict_get(rep, "instances");
        cats = rk_dict_get(rep, "categories");
        printf("%-32s %-9s %-7s %-24s %s\n", "INSTANCE", "STATE", "PID", "PERSONALITY", "PROVIDER");
        for (size_t k = 0; k < rk_array_size(insts); k++) {
                const rk_value *e = rk_array_get(insts, k);
                uint64_t pid = 0, prov = 0;
                rk_dict_get_u64(e, "pid", &pid);
                rk_dict_get_u64(e, "provider", &prov);
                printf("%-32s %-9s %-7" PRIu64 " %-24s %s (0x%" PRIx64 ")\n", rk_dict_get_string(e, "instance"),
                       rk_dict_get_string(e, "state"), pid, rk_dict_get_string(e, "personality"),
                       rk_dict_get_string(e, "provider_name"), prov);
        }
        for (size_t k = 0; k < rk_array_size(cats); k++) {
                const rk_value *e = rk_array_get(cats, k);
                uint64_t restarts = 0, prov = 0;
                rk_dict_get_u64(e, "restarts", &restarts);
                rk_dict_get_u64(e, "provider", &prov);
                printf("%s %s (0x%" PRIx64 ") category %s: %" PRIu64 " restarts%s%s\n",
                       rk_dict_get_string(e, "failed") ? "FAILED" : "restarted",
                       rk_dict_get_string(e, "provider_name"), prov, rk_dict_get_string(e, "category"), restarts,
                       rk_dict_get_string(e, "failed") ? ": " : "",
                       rk_dict_get_string(e, "failed") ? rk_dict_get_string(e, "failed") : "");
        }
        ringctl_print_extensions(rk_dict_get(rep, "extensions"));
        {
                const rk_value *sx = rk_dict_get(rep, "system_extensions");
                if (rk_array_size(sx))
                        printf("\n%-40s %-11s %-8s %-8s %s\n", "SYSTEM EXTENSION (version)", "STATE", "PID", "RESTARTS",
                               "GETS");
                for (size_t k = 0; k < rk_array_size(sx); k++) {
                        const rk_value *e = rk_array_get(sx, k);
                        uint64_t pid = 0, restarts = 0;
                        char idv[512];
                        rk_dict_get_u64(e, "pid", &pid);
                        rk_dict_get_u64(e, "restarts", &restarts);
                        snprintf(idv, sizeof(idv), "%s (%s)", rk_dict_get_string(e, "bundle"), rk_dict_get_string(e, "version"));
                        printf("%-40s %-11s %-8" PRIu64 " %-8" PRIu64 " %s%s%s\n", idv, rk_dict_get_string(e, "state"), pid,
                               restarts, rk_bool(rk_dict_get(e, "endpoint_security")) ? "endpoint-security " : "",
                               rk_bool(rk_dict_get(e, "network_filter")) ? "network-filter" : "",
                               rk_dict_get_string(e, "failed") ? rk_dict_get_string(e, "failed") : "");
                }
        }
        return RK_EXIT_OK;
}

int cmd_registry(int argc, char **argv) {
        _cleanup_(rk_value_unrefp) rk_value *req = ringctl_request("registry"), *rep = NULL;
        ringctl_opts c = {};
        int i = ringctl_parse_opts(argc, argv, &c, "ringctl registry [-l] [--json] [--root DIR] [ID|PATH]");

        if (i < 0 || argc - i > 1)
                return RK_EXIT_USAGE;
        if (!req)
                return RK_EXIT_FAIL;
        if (i < argc) {
                char *end;
                uint64_t id = strtoull(argv[i], &end, 0);
                if (*argv[i] != '/' && *end == 0 && end != argv[i])
                        rk_dict_set_integer(req, "id", id, false);
                else
                        rk_dict_set_string(req, "path", argv[i]);
        }
        rk_dict_set_bool(req, "properties", c.long_ || c.json);
        if (ringctl_roundtrip(&c, "registry", req, &rep) < 0)
                return RK_EXIT_FAIL;
        return rk_registry_print_value(rk_dict_get(rep, "tree"),
                                       (c.long_ ? RK_REGISTRY_PRINT_PROPERTIES : 0) | (c.json ? RK_REGISTRY_PRINT_JSON : 0),
                                       stdout) < 0
                       ? RK_EXIT_FAIL
                       : RK_EXIT_OK;
}

/* K=V: integers (decimal or 0x), true/false, else a string. */
static int parse_property(rk_value *props, const char *kv) {
        const char *eq = strchr(kv, '=');
        _cleanup_(freep) char *key = NULL;
        const char *v;
        char *end;

        if (!eq || eq == kv)
                return -EINVAL;
        key = strndup(kv, (size_t) (eq - kv));
        if (!key)
                return -ENOMEM;
        v = eq + 1;
        if (streq(v, "true") || streq(v, "false"))
                return rk_dict_set_bool(props, key, streq(v, "true"));
        errno = 0;
        if (*v && (*v != '-')) {
                unsigned long long u = strtoull(v, &end, 0);
                if (!*end && !errno)
                        return rk_dict_set_integer(props, key, u, false);
        }
        return rk_dict_set_string(props, key, v);
}

static int virt_add(int argc, char **argv) {
        static const struct option opts[] = {
                { "class", required_argument, NULL, 'c' }, { "property", required_argument, NULL, 'p' },
                { "plist", required_argument, NULL, 'f' }, { "root", required_argument, NULL, 'r' },
                { "json", no_argument, NULL, 'j' },        {},
        };
        _cleanup_(rk_value_unrefp) rk_value *req = ringctl_request("virt-add"), *props = NULL, *rep = NULL;
        const char *cls = NULL;
        ringctl_opts c = { .timeout_ms = 10000 };
        uint64_t id = 0;
        int ch;

        if (!req || rk_value_new_dict(&props) < 0)
                return RK_EXIT_FAIL;
        optind = 0;
        while ((ch = getopt_long(argc, argv, "c:p:f:r:j", opts, NULL)) >= 0) {
                switch (ch) {
                case 'c':
                        cls = optarg;
                        break;
                case 'p':
                        if (parse_property(props, optarg) < 0) {
                                fprintf(stderr, "ringctl virt add: --property wants KEY=VALUE, got '%s'\n", optarg);
                                return RK_EXIT_USAGE;
                        }
                        break;
                case 'f': {
                        _cleanup_(rk_value_unrefp) rk_value *f = NULL;
                        rk_diag diag;
                        rk_diag_init(&diag);
                        if (rk_plist_load(optarg, &f, &diag) < 0 || !rk_value_is(f, RK_TYPE_DICT)) {
                                rk_diag_print(&diag, stderr);
                                if (f)
                                        fprintf(stderr, "ringctl virt add: %s: not a dictionary\n", optarg);
                                rk_diag_done(&diag);
                                return RK_EXIT_FAIL;
                        }
                        rk_diag_done(&diag);
                        if (!cls && rk_dict_get_string(f, "IOClass"))
                                cls = NULL; /* the class comes from --class or RKVirtualClass */
                        for (size_t k = 0; k < rk_dict_size(f); k++)
                                rk_dict_set(props, rk_dict_key_at(f, k), rk_dict_value_at(f, k));
                        break;
                }
                case 'r':
                        c.root = optarg;
                        break;
                case 'j':
                        c.json = true;
                        break;
                default:
                        fprintf(stderr, "usage: ringctl virt add --class C [--property K=V]... [--plist FILE]\n");
                        return RK_EXIT_USAGE;
                }
        }
        if (!cls)
                cls = rk_dict_get_string(props, "RKVirtualClass");
        if (!cls) {
                fprintf(stderr, "ringctl virt add: --class is required (or RKVirtualClass in the plist)\n");
                return RK_EXIT_USAGE;
        }
        rk_dict_set_string(req, "class", cls);
        rk_dict_set(req, "properties", props);
        if (ringctl_roundtrip(&c, "virt add", req, &rep) < 0)
                return RK_EXIT_FAIL;
        rk_dict_get_u64(rep, "id", &id);
        if (c.json)
                printf("{\"id\":%" PRIu64 "}\n", id);
        else
                printf("0x%" PRIx64 "\n", id);
        return RK_EXIT_OK;
}

static int virt_remove(int argc, char **argv) {
        _cleanup_(rk_value_unrefp) rk_value *req = ringctl_request("virt-remove"), *rep = NULL;
        ringctl_opts c = {};
        int i = ringctl_parse_opts(argc, argv, &c, "ringctl virt remove ID");
        char *end;
        uint64_t id;

        if (i < 0 || argc - i != 1)
                return RK_EXIT_USAGE;
        id = strtoull(argv[i], &end, 0);
        if (*end || end == argv[i]) {
                fprintf(stderr, "ringctl virt remove: '%s' is not a registry ID\n", argv[i]);
                return RK_EXIT_USAGE;
        }
        if (!req || rk_dict_set_integer(req, "id", id, false) < 0 || ringctl_roundtrip(&c, "virt remove", req, &rep) < 0)
                return RK_EXIT_FAIL;
        return RK_EXIT_OK;
}

static int virt_list(int argc, char **argv) {
        _cleanup_(rk_value_unrefp) rk_value *req = ringctl_request("virt-list"), *rep = NULL;
        const rk_value *devs;
        ringctl_opts c = {};

        if (ringctl_parse_opts(argc, argv, &c, "ringctl virt list [--json]") < 0)
                return RK_EXIT_USAGE;
        if (!req || ringctl_roundtrip(&c, "virt list", req, &rep) < 0)
                return RK_EXIT_FAIL;
        devs = rk_dict_get(rep, "devices");
        if (c.json) {
                ringctl_print_json((rk_value *) devs);
                return RK_EXIT_OK;
        }
        printf("%-14s %-24s %-16s %-6s %10s %10s\n", "ID", "CLASS", "NAME", "MODEL", "BYTES-IN", "BYTES-OUT");
        for (size_t k = 0; k < rk_array_size(devs); k++) {
                const rk_value *e = rk_array_get(devs, k);
                uint64_t id = 0, in = 0, out = 0;
                rk_dict_get_u64(e, "id", &id);
                rk_dict_get_u64(e, "bytes_in", &in);
                rk_dict_get_u64(e, "bytes_out", &out);
                printf("0x%-12" PRIx64 " %-24s %-16s %-6s %10" PRIu64 " %10" PRIu64 "\n", id,
                       rk_dict_get_string(e, "class"), rk_dict_get_string(e, "name"), rk_dict_get_string(e, "model"),
                       in, out);
        }
        return RK_EXIT_OK;
}

int cmd_virt(int argc, char **argv) {
        if (argc < 2) {
                fprintf(stderr, "usage: ringctl virt add|remove|list ...\n");
                return RK_EXIT_USAGE;
        }
        if (streq(argv[1], "add"))
                return virt_add(argc - 1, argv + 1);
        if (streq(argv[1], "remove"))
                return virt_remove(argc - 1, argv + 1);
        if (streq(argv[1], "list"))
                return virt_list(argc - 1, argv + 1);
        fprintf(stderr, "ringctl virt: unknown subcommand '%s'\n", argv[1]);
        return RK_EXIT_USAGE;
}

int cmd_debug(int argc, char **argv) {
        _cleanup_(rk_value_unrefp) rk_value *req = ringctl_request("debug"), *rep = NULL;
        ringctl_opts c = {};
        int i = ringctl_parse_opts(argc, argv, &c, "ringctl debug BUNDLE-ID [--timeout SEC]");
        uint64_t pid = 0;

        if (i < 0 || argc - i != 1)
                return RK_EXIT_USAGE;
        if (c.timeout_ms == 10000)
                c.timeout_ms = -1; /* wait for the device as long as it takes */
        if (!req || rk_dict_set_string(req, "bundle", argv[i]) < 0)
                return RK_EXIT_FAIL;
        fprintf(stderr, "waiting for the next instance of %s...\n", argv[i]);
        if (ringctl_roundtrip(&c, "debug", req, &rep) < 0)
                return RK_EXIT_FAIL;
        rk_dict_get_u64(rep, "pid", &pid);
        if (c.json)
                printf("{\"pid\":%" PRIu64 ",\"instance\":\"%s\"}\n", pid, rk_dict_get_string(rep, "instance"));
        else
                printf("%" PRIu64 "\n", pid);
        fprintf(stderr, "%s is stopped before its first instruction of main: gdb -p %" PRIu64 "\n",
                rk_dict_get_string(rep, "instance"), pid);
        return RK_EXIT_OK;
}

static int simple(int argc, char **argv, const char *command) {
        _cleanup_(rk_value_unrefp) rk_value *req = ringctl_request(command), *rep = NULL;
        ringctl_opts c = {};
        char usage[64];

        snprintf(usage, sizeof(usage), "ringctl %s [--root DIR]", command);
        if (ringctl_parse_opts(argc, argv, &c, usage) < 0)
                return RK_EXIT_USAGE;
        if (!req || ringctl_roundtrip(&c, command, req, &rep) < 0)
                return RK_EXIT_FAIL;
        return RK_EXIT_OK;
}

int cmd_rescan(int argc, char **argv) {
        return simple(argc, argv, "rescan");
}

int cmd_shutdown(int argc, char **argv) {
        return simple(argc, argv, "shutdown");
}

int cmd_developer(int argc, char **argv) {
        _cleanup_(rk_value_unrefp) rk_value *req = ringctl_request("developer"), *rep = NULL;
        ringctl_opts c = {};
        int i = ringctl_parse_opts(argc, argv, &c, "ringctl developer [on|off] [--root DIR] [--json]");

        if (i < 0 || argc - i > 1)
                return RK_EXIT_USAGE;
        if (!req)
                return RK_EXIT_FAIL;
        if (i < argc) {
                if (!streq(argv[i], "on") && !streq(argv[i], "off")) {
                        fprintf(stderr, "ringctl developer: say 'on' or 'off', not '%s'\n", argv[i]);
                        return RK_EXIT_USAGE;
                }
                rk_dict_set_bool(req, "on", streq(argv[i], "on"));
        }
        if (ringctl_roundtrip(&c, "developer", req, &rep) < 0)
                return RK_EXIT_FAIL;
        if (c.json)
                printf("{\"developer_mode\":%s}\n", rk_bool(rk_dict_get(rep, "developer_mode")) ? "true" : "false");
        else
                printf("developer mode: %s\n", rk_bool(rk_dict_get(rep, "developer_mode")) ? "on" : "off");
        return RK_EXIT_OK;
}
