/* SPDX-License-Identifier: MIT */
/*
 * ringctl: the administrator's and developer's command-line tool.  This file
 * only dispatches to the subcommands (cmd-*.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringctl.h"

typedef struct command {
        const char *name;
        int (*fn)(int argc, char **argv);
        const char *summary;
} command;

static const command commands[] = {
        { "match", cmd_match, "explain which personalities match a device, offline" },
        { "match-alias", cmd_match_alias, "match modaliases against a modules.alias file" },
        { "bundle", cmd_bundle, "bundle tools: lint PATH..., info PATH" },
        { "status", cmd_status, "ringd's state and settings" },
        { "list", cmd_list, "running dext instances and failed drivers" },
        { "registry", cmd_registry, "the registry tree, like ioreg ([-l] [ID|PATH])" },
        { "virt", cmd_virt, "virtual devices: add --class C [--property K=V]..., remove ID, list" },
        { "debug", cmd_debug, "start the next instance of a bundle stopped, print its pid" },
        { "rescan", cmd_rescan, "rescan the extension directories" },
        { "shutdown", cmd_shutdown, "stop every driver and ringd" },
        { "developer", cmd_developer, "developer mode: on, off, or show (persisted)" },
        { "activate", cmd_activate, "activate an extension an app carries: APP BUNDLE-ID [--replace accept|refuse] [--force]" },
        { "approve", cmd_approve, "approve an activated extension: BUNDLE-ID" },
        { "deny", cmd_deny, "deny an extension waiting for approval: BUNDLE-ID" },
        { "deactivate", cmd_deactivate, "deactivate and uninstall an extension: [APP] BUNDLE-ID" },
        { "reset", cmd_reset, "deactivate and remove every extension (developer mode only)" },
        { "restart", cmd_restart, "start a system extension ringd stopped (crash loop) again: BUNDLE-ID" },
        { "log", cmd_log, "what an extension's processes printed, the last 256 lines: [-n N] BUNDLE-ID" },
        { "request", cmd_request, "send a raw request dictionary from a plist file, print the reply" },
        { "kexts", cmd_kexts, "kexts: loaded, or why not (refused, replaced, safe mode)" },
        { "safe-mode", cmd_safe_mode, "the kext safe-mode flag: show, clear" },
        { "kext-call", cmd_kext_call, "call a kext driver's method: SERVICE-ID [SELECTOR [ARG]]" },
};

static void usage(FILE *f) {
        fprintf(f, "usage: ringctl COMMAND [ARGS...]\n\ncommands:\n");
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
        fprintf(f, "\nRun 'ringctl COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv) {
        /* global --root DIR before the command */
        while (argc >= 3 && strcmp(argv[1], "--root") == 0) {
                setenv("RINGKIT_ROOT", argv[2], 1);
                argc -= 2;
                argv += 2;
        }
        if (argc < 2) {
                usage(stderr);
                return RK_EXIT_USAGE;
        }
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
                usage(stdout);
                return RK_EXIT_OK;
        }
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                if (strcmp(argv[1], commands[i].name) == 0)
                        return commands[i].fn(argc - 1, argv + 1);
        fprintf(stderr, "ringctl: unknown command '%s'\n", argv[1]);
        usage(stderr);
        return RK_EXIT_USAGE;
}
