/* SPDX-License-Identifier: MIT */
/*
 * ringctl kexts, safe-mode, kext-call (docs/kexts.md):
 *
 *   ringctl kexts [--json]             every kext bundle: loaded, or why not (refused, replaced, safe mode)
 *   ringctl safe-mode [show|clear]     the safe-mode flag a kext panic set; clear loads the kexts again
 *   ringctl kext-call SERVICE [SELECTOR [ARG]]   a kext driver's call method (by its service id)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "ringctl.h"
#include "shared/macro.h"

static void print_safe_mode(const rk_value *rep) {
        const char *why = rk_dict_get_string(rep, "kext_safe_mode_reason");
        if (rk_bool(rk_dict_get(rep, "kext_safe_mode")))
                printf("SAFE MODE: third-party kexts are not loaded (%s); clear with 'ringctl safe-mode clear'\n",
                       why ? why : "a kext panicked");
}

int cmd_kexts(int argc, char **argv) {
        _cleanup_(rk_value_unrefp) rk_value *req = ringctl_request("kexts"), *rep = NULL;
        const rk_value *arr;
        ringctl_opts o = {};

        if (ringctl_parse_opts(argc, argv, &o, "ringctl kexts [--root DIR] [--json]") < 0)
                return RK_EXIT_USAGE;
        if (!req || ringctl_roundtrip(&o, "kexts", req, &rep) < 0)
                return RK_EXIT_FAIL;
        (void) rk_dict_remove(rep, "ok");
        if (o.json) {
                ringctl_print_json(rep);
                return RK_EXIT_OK;
        }
        print_safe_mode(rep);
        arr = rk_dict_get(rep, "kexts");
        printf("%-36s %-10s %s\n", "KEXT", "STATUS", "DETAIL");
        for (size_t k = 0; k < rk_array_size(arr); k++) {
                const rk_value *e = rk_array_get(arr, k), *cls = rk_dict_get(e, "classes");
                const char *status = rk_dict_get_string(e, "status");
                uint64_t n = 0;

                printf("%-36s %-10s ", rk_dict_get_string(e, "bundle"), status);
                if (status && streq(status, "loaded")) {
                        rk_dict_get_u64(e, "instances", &n);
                        printf("%" PRIu64 " instances, sealed (%s), classes:", n, rk_dict_get_string(e, "sealed"));
                        for (size_t j = 0; j < rk_array_size(cls); j++)
                                printf(" %s", rk_string(rk_array_get(cls, j)));
                } else if (rk_dict_get_string(e, "reason"))
                        printf("%s", rk_dict_get_string(e, "reason"));
                if (rk_dict_get_string(e, "relaxed"))
                        printf(" [developer mode: %s]", rk_dict_get_string(e, "relaxed"));
                printf("\n");
        }
        return RK_EXIT_OK;
}

int cmd_safe_mode(int argc, char **argv) {
        _cleanup_(rk_value_unrefp) rk_value *req = ringctl_request("safe-mode"), *rep = NULL;
        const char *action = "show";
        ringctl_opts o = {};
        int i = ringctl_parse_opts(argc, argv, &o, "ringctl safe-mode [--root DIR] [--json] [show|clear]");

        if (i < 0)
                return RK_EXIT_USAGE;
        if (i < argc)
                action = argv[i];
        if (!streq(action, "show") && !streq(action, "clear")) {
                fprintf(stderr, "ringctl safe-mode: '%s' is not show or clear\n", action);
                return RK_EXIT_USAGE;
        }
        if (!req || rk_dict_set_string(req, "action", action) < 0 || ringctl_roundtrip(&o, "safe-mode", req, &rep) < 0)
                return RK_EXIT_FAIL;
        (void) rk_dict_remove(rep, "ok");
        if (o.json) {
                ringctl_print_json(rep);
                return RK_EXIT_OK;
        }
        if (rk_bool(rk_dict_get(rep, "kext_safe_mode")))
                print_safe_mode(rep);
        else
                printf("safe mode off%s\n", streq(action, "clear") ? ": kexts load again" : "");
        return RK_EXIT_OK;
}

int cmd_kext_call(int argc, char **argv) {
        _cleanup_(rk_value_unrefp) rk_value *req = ringctl_request("kext-call"), *rep = NULL;
        uint64_t v[3] = { 0, 0, 0 }, res = 0;
        ringctl_opts o = {};
        int i = ringctl_parse_opts(argc, argv, &o, "ringctl kext-call [--root DIR] [--json] SERVICE-ID [SELECTOR [ARG]]");

        if (i < 0)
                return RK_EXIT_USAGE;
        if (i >= argc || argc - i > 3) {
                fprintf(stderr, "usage: ringctl kext-call SERVICE-ID [SELECTOR [ARG]]\n");
                return RK_EXIT_USAGE;
        }
        for (int k = i; k < argc; k++) {
                char *e;
                v[k - i] = strtoull(argv[k], &e, 0);
                if (!*argv[k] || *e) {
                        fprintf(stderr, "ringctl kext-call: '%s' is not a number\n", argv[k]);
                        return RK_EXIT_USAGE;
                }
        }
        if (!req || rk_dict_set_integer(req, "service", v[0], false) < 0 ||
            rk_dict_set_integer(req, "selector", v[1], false) < 0 || rk_dict_set_integer(req, "arg", v[2], false) < 0 ||
            ringctl_roundtrip(&o, "kext-call", req, &rep) < 0)
                return RK_EXIT_FAIL;
        (void) rk_dict_remove(rep, "ok");
        if (o.json) {
                ringctl_print_json(rep);
                return RK_EXIT_OK;
        }
        rk_dict_get_u64(rep, "result", &res);
        printf("%" PRIu64 "\n", res);
        return RK_EXIT_OK;
}
