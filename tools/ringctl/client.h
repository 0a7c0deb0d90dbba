/* SPDX-License-Identifier: MIT */
/* ringctl's control-socket client, and what every command that talks to ringd shares; see client.c. */
#pragma once

#include <stdbool.h>

#include "value/value.h"

/* Send one request dictionary and wait for the reply (timeout_ms < 0: forever). Prints connection errors. */
int ringctl_call(const char *root, rk_value *request, int timeout_ms, rk_value **ret);
/* The same, the connection kept open for what ringd sends after the reply (RK_CTL_EVENT): *ret_ch, free it. */
typedef struct rk_channel rk_channel;
int ringctl_call_open(const char *root, rk_value *request, int timeout_ms, rk_channel **ret_ch, rk_value **ret);
/* 0 when the reply says ok; otherwise prints its error and returns a negative errno. */
int ringctl_check_reply(const char *what, rk_value *reply);

/* The options of the commands that talk to ringd: --root DIR, --json, -l, --timeout SEC (default 10), --help. */
typedef struct ringctl_opts {
        const char *root;
        bool json, long_;
        int timeout_ms;
} ringctl_opts;
/* Parse them from argv[1] on; returns optind, or -1 after printing the usage line (--help prints it and exits 0). */
int ringctl_parse_opts(int argc, char **argv, ringctl_opts *o, const char *usage);
/* A request dictionary { command = COMMAND }, or NULL when out of memory. */
rk_value *ringctl_request(const char *command);
/* ringctl_call with o's root and timeout, then ringctl_check_reply(what). */
int ringctl_roundtrip(const ringctl_opts *o, const char *what, rk_value *req, rk_value **reply);
/* A value as one JSON line on standard output, flushed (before any message on standard error). */
void ringctl_print_json(const rk_value *v);
