/* SPDX-License-Identifier: MIT */
/*
 * Shell-style globs as modules.alias uses them: '*', '?', '[...]' with
 * ranges and '!'/'^' negation, matched byte-wise like fnmatch(3) with no
 * flags (the way libkmod matches aliases).  Used for RKModaliasMatch.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

bool rk_glob_match(const char *pattern, const char *s);
/* true when the pattern has no wildcard characters */
bool rk_glob_is_literal(const char *pattern);
/* length of the literal prefix before the first wildcard */
size_t rk_glob_literal_prefix(const char *pattern);
