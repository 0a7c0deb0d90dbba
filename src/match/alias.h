/* SPDX-License-Identifier: MIT */
/*
 * An index over a modules.alias file ("alias PATTERN MODULE" lines) that
 * answers "which aliases match this modalias" with libkmod's semantics
 * (fnmatch-style patterns, all matches returned).
 */
#pragma once

#include <stddef.h>

typedef struct rk_alias_index rk_alias_index;

/* Errors: -ENOENT etc. from open, -EBADMSG for a malformed line (with line number in *err_line), -ENOMEM. */
int rk_alias_index_new_from_file(const char *path, rk_alias_index **ret, unsigned *err_line);
rk_alias_index *rk_alias_index_free(rk_alias_index *idx);

typedef void (*rk_alias_cb)(const char *module, void *userdata);
/* Calls cb once per matching alias line (a module named by several matching lines is reported once per line). Returns the count. */
size_t rk_alias_index_lookup(const rk_alias_index *idx, const char *modalias, rk_alias_cb cb, void *userdata);
