/* SPDX-License-Identifier: MIT */
/*
 * Diagnostics: a list of errors and warnings, each naming where it happened
 * (file, line/column when known, bundle, personality, key path).  Loaders
 * and compilers add to a caller's rk_diag instead of printing, so that a
 * tool can print them all (ringctl bundle lint), a daemon can log them, and
 * a test can check them.  A NULL rk_diag is accepted everywhere and means
 * "don't record".
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "shared/macro.h"

typedef enum rk_diag_level {
        RK_DIAG_ERROR,
        RK_DIAG_WARNING,
        RK_DIAG_NOTE,
} rk_diag_level;

typedef struct rk_where {
        const char *file;
        const char *bundle;      /* CFBundleIdentifier, or the bundle path when unknown */
        const char *personality; /* IOKitPersonalities key */
        const char *key;         /* key path, dot separated: "IOPropertyMatch.foo" */
        int line, column;        /* 0 when unknown */
} rk_where;

typedef struct rk_diag_item {
        rk_diag_level level;
        char *file, *bundle, *personality, *key;
        int line, column;
        char *message;
} rk_diag_item;

typedef struct rk_diag {
        rk_diag_item *items;
        size_t n, cap;
} rk_diag;

void rk_diag_init(rk_diag *d);
void rk_diag_done(rk_diag *d);

/* Returns 0 or -ENOMEM.  `w` may be NULL. */
_printf_(4, 5) int rk_diag_add(rk_diag *d, rk_diag_level level, const rk_where *w, const char *fmt, ...);

size_t rk_diag_count(const rk_diag *d, rk_diag_level level);

/*
 * One line: "FILE:LINE:COL: error: bundle B: personality P: key K: message".
 * Parts that are unknown are left out.
 */
void rk_diag_item_print(const rk_diag_item *it, FILE *f);
void rk_diag_print(const rk_diag *d, FILE *f);
const char *rk_diag_level_name(rk_diag_level l);
