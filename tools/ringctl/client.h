/* SPDX-License-Identifier: MIT */
/* ringctl's control-socket client; see client.c. */
#pragma once

#include "value/value.h"

char *ringctl_socket_path(const char *root);
/* Send one request dictionary and wait for the reply (timeout_ms < 0: forever). Prints connection errors. */
int ringctl_call(const char *root, rk_value *request, int timeout_ms, rk_value **ret);
/* 0 when the reply says ok; otherwise prints its error and returns a negative errno. */
int ringctl_check_reply(const char *what, rk_value *reply);
