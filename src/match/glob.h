/* SPDX-License-Identifier: MIT */
/*
 * Shell-style globs as modules.alias uses them: '*', '?', '[...]' with
 * ranges and '!'/'^' negation, matched byte-wise like fnmatch(3) with no
 * flags in the C locale (the way libkmod matches aliases).  Used for
 * RKModaliasMatch and by the modules.alias index (alias.h).
 *
 * rk_glob_match() gives the same answer as glibc's fnmatch(pattern, s, 0),
 * including its treatment of malformed patterns (see glob.c), and runs in
 * O(|pattern| * |s|): no exponential backtracking on star-heavy patterns.
 * '^' always negates a set, as glibc does unless POSIXLY_CORRECT is set.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* true when s matches pattern; both NUL-terminated, NULL never matches */
bool rk_glob_match(const char *pattern, const char *s);

/* true when the pattern has no special character ('*', '?', '[' or '\\'):
 * it then matches exactly the string equal to it */
bool rk_glob_is_literal(const char *pattern);

/* length of the literal prefix before the first special character ('*',
 * '?', '[' or '\\'): every string the pattern matches starts with these
 * bytes (a backslash counts as special because it escapes the next byte) */
size_t rk_glob_literal_prefix(const char *pattern);
