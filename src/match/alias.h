/* SPDX-License-Identifier: MIT */
/*
 * An index over a modules.alias file ("alias PATTERN MODULE" lines) that
 * answers "which aliases match this modalias" with libkmod's semantics:
 * the answer is the set of modules kmod_module_new_from_lookup() returns
 * from the same aliases (modules.alias.bin), fnmatch-style patterns, all
 * matches.  See alias.c for the rules (normalisation of '-' to '_', how a
 * pattern's literal prefix is compared).
 */
#pragma once

#include <stddef.h>

typedef struct rk_alias_index rk_alias_index;

/* libkmod keeps at most PATH_MAX - 1 bytes of a modalias or a pattern */
#define RK_ALIAS_MAX 4095

/*
 * Reads and indexes a modules.alias file.  Blank lines and lines whose first
 * non-blank byte is '#' are skipped; every other line must be exactly
 * "alias PATTERN MODULE" (fields separated by blanks).  A pattern that
 * depmod would refuse (unbalanced brackets) is accepted and never matches,
 * as depmod leaves it out of modules.alias.bin.
 *
 * Returns 0 and the index in *ret; -EBADMSG for a malformed line (its
 * 1-based number in *err_line, when err_line is not NULL; 0 otherwise),
 * -EINVAL for NULL arguments, -ENOMEM, -EFBIG for inputs over 4 GiB, or the
 * negative errno of open/read (-ENOENT, -EACCES, -EISDIR ...).
 */
int rk_alias_index_new_from_file(const char *path, rk_alias_index **ret, unsigned *err_line);
/* The same from text in memory (need not be NUL-terminated). */
int rk_alias_index_new_from_buffer(const char *data, size_t len, rk_alias_index **ret, unsigned *err_line);
/* Frees the index; returns NULL.  NULL is accepted. */
rk_alias_index *rk_alias_index_free(rk_alias_index *idx);

/* Number of aliases indexed: one per line, a repeated line included,
 * patterns that never match (refused by depmod) left out. */
size_t rk_alias_index_size(const rk_alias_index *idx);

/* module: the module name; pattern: the alias pattern as libkmod stores it
 * (with '-' turned into '_' outside brackets).  Valid during the call. */
typedef void (*rk_alias_cb)(const char *module, const char *pattern, void *userdata);

/*
 * Calls cb (when not NULL) once per matching alias line and returns how
 * many it found: a module named by several matching lines is reported once
 * per line, as libkmod lists it (a modalias holding '*', '?' or '[' is the
 * exception: libkmod may then list a line more than once, we do not).  A
 * modalias libkmod refuses (a ']' outside brackets, an unclosed '[')
 * matches nothing.  The index is not modified: concurrent lookups are safe.
 *
 * Returns the count, -EINVAL for NULL idx or modalias, or -ENOMEM (only for
 * a modalias containing '*', '?' or '[', which takes a slower path).
 */
int rk_alias_index_lookup(const rk_alias_index *idx, const char *modalias, rk_alias_cb cb, void *userdata);

/*
 * libkmod's normalisation of an alias or modalias: '-' becomes '_' except
 * inside "[...]"; at most RK_ALIAS_MAX bytes are kept.  buf holds
 * RK_ALIAS_MAX + 1 bytes.  Returns 0 (length in *len when not NULL) or
 * -EINVAL for an unbalanced ']' or '['.
 */
int rk_alias_normalize(const char *alias, char *buf, size_t *len);
