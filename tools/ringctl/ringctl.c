/* SPDX-License-Identifier: MIT */
/*
 * ringctl: the administrator's and developer's command-line tool.  This file
 * only dispatches to the subcommands (cmd-*.c).
 */
#include <stdio.h>
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
        { "bundle", cmd_bundle, "bundle tools: lint PATH..." },
};

static void usage(FILE *f) {
        fprintf(f, "usage: ringctl COMMAND [ARGS...]\n\ncommands:\n");
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
        fprintf(f, "\nRun 'ringctl COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv) {
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
