/* SPDX-License-Identifier: MIT */
/*
 * ringctl subcommands.  Each lives in its own cmd-*.c file and is listed in
 * the table in ringctl.c.  A command gets argv starting at its own name
 * (argv[0] == "match") and returns the process exit status: 0 success,
 * 1 the operation failed (lint errors, no match...), 2 usage error.
 */
#pragma once

#include "value/value.h"

int cmd_match(int argc, char **argv);
int cmd_match_alias(int argc, char **argv);
int cmd_bundle(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_registry(int argc, char **argv);
int cmd_virt(int argc, char **argv);
int cmd_debug(int argc, char **argv);
int cmd_rescan(int argc, char **argv);
int cmd_shutdown(int argc, char **argv);
int cmd_developer(int argc, char **argv);
int cmd_activate(int argc, char **argv);
int cmd_approve(int argc, char **argv);
int cmd_deny(int argc, char **argv);
int cmd_deactivate(int argc, char **argv);
int cmd_reset(int argc, char **argv);
int cmd_restart(int argc, char **argv);
int cmd_log(int argc, char **argv);       /* cmd-log.c */
int cmd_request(int argc, char **argv);
int cmd_kexts(int argc, char **argv);     /* cmd-kext.c */
int cmd_safe_mode(int argc, char **argv);
int cmd_kext_call(int argc, char **argv);

/* cmd-activate.c: the extensions section of `ringctl list` (an array of database rows) */
void ringctl_print_extensions(const rk_value *exts);

/* exit codes */
#define RK_EXIT_OK 0
#define RK_EXIT_FAIL 1
#define RK_EXIT_USAGE 2
