/* SPDX-License-Identifier: MIT */
/*
 * Reading and writing plists (XML and binary) through libplist.
 *
 * Errors: -EBADMSG for malformed input (described in diag with the file and,
 * for XML, the line, column and key path of the first problem), -ENOENT,
 * -EACCES and the like from open(2), -EFBIG past RK_PLIST_MAX_SIZE,
 * -ELOOP for nesting deeper than RK_PLIST_MAX_DEPTH, -ENOMEM.
 */
#pragma once

#include <stddef.h>

#include "shared/diag.h"
#include "value/value.h"

#define RK_PLIST_MAX_SIZE (16u * 1024 * 1024)
#define RK_PLIST_MAX_DEPTH 128

/* `name` names the input in messages (a path, "<stdin>"). */
int rk_plist_parse(const void *data, size_t len, const char *name, rk_value **ret, rk_diag *diag);
int rk_plist_load(const char *path, rk_value **ret, rk_diag *diag);

int rk_plist_to_xml(const rk_value *v, char **ret, size_t *ret_len);
int rk_plist_to_binary(const rk_value *v, char **ret, size_t *ret_len);

/*
 * Locate the first structural problem in an XML plist (plist-locate.c).
 * Returns 1 and fills line/column (1-based), a malloc'd key path ("" for the
 * root) and a malloc'd message when a problem is found, 0 when the document
 * looks well formed, or a negative errno.
 */
int rk_plist_xml_locate_error(const char *buf, size_t len, int *line, int *column, char **keypath,
                              char **message);
