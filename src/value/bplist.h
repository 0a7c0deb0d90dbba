/* SPDX-License-Identifier: MIT */
/*
 * ringkit's own binary plist codec ("bplist00", Apple's format), for the
 * payloads of control messages (ipc/msg.c) and the binary half of
 * rk_plist_parse()/rk_plist_to_binary().  It needs neither libplist nor
 * libm, so a driver process that only speaks IPC loads neither.
 *
 * Mapping between the format and rk_value:
 *
 *   format                         rk_value
 *   0x08/0x09 false/true           boolean
 *   0x1n int, 1/2/4 bytes          integer, unsigned
 *   0x13 int, 8 bytes              integer, signed when negative
 *   0x14 int, 16 bytes             integer: unsigned when the high half is
 *                                  0, signed when it sign-extends a
 *                                  negative low half; anything else is
 *                                  refused (does not fit in 64 bits)
 *   0x22/0x23 real, 4/8 bytes      real
 *   0x33 date                      date (seconds since 2001, as a double)
 *   0x4n data                      data
 *   0x5n string of bytes           string; Apple writes ASCII here, UTF-8 is
 *                                  accepted, invalid UTF-8 is refused
 *   0x6n string, UTF-16BE          string (UTF-8)
 *   0x8n UID, 1..8 bytes           integer, unsigned (as libplist maps it)
 *   0xAn array, 0xDn dictionary    array, dictionary
 *
 * The encoder writes integers in the fewest bytes (unsigned values of 2^63
 * and more as 16-byte integers, as Apple does), reals and dates as 8-byte
 * doubles, ASCII strings as 0x5 and others as UTF-16BE, and writes each
 * distinct string once (dictionary keys repeat).
 */
#pragma once

#include <stddef.h>

#include "shared/diag.h"
#include "value/plist.h" /* RK_PLIST_MAX_DEPTH, RK_PLIST_MAX_SIZE: macros only */
#include "value/value.h"

/* Objects the trailer may announce, and values a document may expand to. */
#define RK_BPLIST_MAX_OBJECTS (1u << 20)
#define RK_BPLIST_MAX_VALUES (1u << 20)

/*
 * Writes v as a binary plist into a malloc'd buffer (*ret, *ret_len; the
 * buffer has a NUL after the last byte, not counted).
 * Returns 0, -EINVAL (NULL arguments), -EILSEQ (a string or key that is not
 * valid UTF-8 or holds a NUL: the decoder would refuse it), -ELOOP (nested
 * deeper than RK_PLIST_MAX_DEPTH), -E2BIG (more than RK_BPLIST_MAX_VALUES
 * values), -ENOMEM.
 */
int rk_bplist_encode(const rk_value *v, char **ret, size_t *ret_len);

/*
 * Reads a binary plist.  Strict: every offset, length and reference is
 * bounds-checked, and it refuses (-EBADMSG) a trailer or offset table out
 * of range, objects that contain themselves, nesting deeper than
 * RK_PLIST_MAX_DEPTH (the root is depth 0), more than RK_BPLIST_MAX_OBJECTS
 * objects or RK_BPLIST_MAX_VALUES values once shared references are
 * counted as often as they are used, bad integer, real or length sizes,
 * strings that are not valid UTF-8 or UTF-16 (unpaired surrogates) or hold
 * a NUL, dictionary keys that are not strings, a dictionary holding the
 * same key twice, and object types the value model has no place for (null,
 * fill, sets, the UTF-8 string type of later format versions).
 *
 * Returns 0 and the value (one reference) through ret, -EINVAL (NULL
 * arguments), -EBADMSG (malformed; when diag is given it gets one error
 * naming the object number and byte offset at fault), -EFBIG (larger than
 * RK_PLIST_MAX_SIZE), -ENOMEM.  Shared scalar objects may be shared
 * rk_values; containers are always distinct.
 */
int rk_bplist_decode(const void *data, size_t len, rk_value **ret, rk_diag *diag);

/* As rk_bplist_decode(), naming the input (a path, "message") in diag. */
int rk_bplist_decode_named(const void *data, size_t len, const char *name, rk_value **ret, rk_diag *diag);
