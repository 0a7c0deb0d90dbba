/* SPDX-License-Identifier: MIT */
/*
 * A small streaming JSON writer for --json output.  It tracks nesting so
 * that commas are placed for the caller; strings are escaped per RFC 8259
 * (control characters as \u00XX, invalid UTF-8 bytes passed through as
 * U+FFFD).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "value/value.h"

#define RK_JSON_MAX_DEPTH 64

typedef struct rk_json {
        FILE *f;
        unsigned depth;
        bool need_comma[RK_JSON_MAX_DEPTH];
        bool after_key;
} rk_json;

void rk_json_init(rk_json *j, FILE *f);
void rk_json_begin_object(rk_json *j);
void rk_json_end_object(rk_json *j);
void rk_json_begin_array(rk_json *j);
void rk_json_end_array(rk_json *j);
void rk_json_key(rk_json *j, const char *key);
void rk_json_string(rk_json *j, const char *s);
void rk_json_int(rk_json *j, int64_t v);
void rk_json_uint(rk_json *j, uint64_t v);
void rk_json_bool(rk_json *j, bool b);
void rk_json_null(rk_json *j);
/* An rk_value: dicts as objects, arrays, data as a hex string, dates as numbers. */
void rk_json_value(rk_json *j, const rk_value *v);
