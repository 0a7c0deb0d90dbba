/* SPDX-License-Identifier: MIT */
/*
 * The user-client wire's checks (uc-wire.h), as pure functions: bytes or
 * shared-memory indexes in, a decoded view or a negative errno out, no
 * state.  Both ends use them -- the app (lib/ringkit/client.c) for replies,
 * async completions and data-queue records a driver wrote; the dext
 * (lib/ringdriver/userclient.c) for calls and for the ring indexes an app
 * can scribble on -- and fuzz/fuzz-uc-wire.c drives them all.  Not installed.
 *
 * What stays true: nothing is read outside [p, p + len) or, for a ring,
 * outside [ring, ring + size); a ring position handed out is 8-aligned, so
 * a record header (4 bytes) or the wrap marker always fits before the end.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "uc-wire.h"

/* A REPLY or ASYNC_DONE body: 0 or -EBADMSG.  scalars and data point into p. */
static inline int uc_reply_parse(const uint8_t *p, size_t len, size_t struct_max, struct uc_reply *h,
                                 const uint8_t **scalars, const uint8_t **data) {
        if (len < sizeof(*h))
                return -EBADMSG;
        memcpy(h, p, sizeof(*h));
        if (h->n_scalar_out > UC_SCALAR_MAX || h->struct_out_len > struct_max ||
            len != sizeof(*h) + h->n_scalar_out * 8u + h->struct_out_len)
                return -EBADMSG;
        *scalars = p + sizeof(*h);
        *data = p + sizeof(*h) + h->n_scalar_out * 8u;
        return 0;
}

/* A CALL body sent on the socket: 0 or -EBADMSG.  scalars and struct_in point into p. */
static inline int uc_call_parse(const uint8_t *p, size_t len, size_t struct_max, struct uc_call *c,
                                const uint8_t **scalars, const uint8_t **struct_in) {
        if (len < sizeof(*c))
                return -EBADMSG;
        memcpy(c, p, sizeof(*c));
        if (c->n_scalar_in > UC_SCALAR_MAX || c->n_scalar_out > UC_SCALAR_MAX || c->struct_in_len > struct_max ||
            len != sizeof(*c) + c->n_scalar_in * 8u + c->struct_in_len)
                return -EBADMSG;
        *scalars = p + sizeof(*c);
        *struct_in = p + sizeof(*c) + c->n_scalar_in * 8u;
        return 0;
}

/*
 * Consumer: the next record of a ring of `size` bytes (a power of two, at
 * least UC_QUEUE_MIN) between head and tail, both read from the shared
 * header the producer can write.  0 with *ret_head (head after a wrap
 * marker, if one was there) and *ret_n (the record's length: its bytes are
 * at ring + (*ret_head & (size - 1)) + 4); -EAGAIN when empty; -EBADMSG
 * when the indexes or the record cannot be true.
 */
static inline int uc_queue_next(const uint8_t *ring, uint32_t size, uint64_t head, uint64_t tail, uint64_t *ret_head,
                                uint32_t *ret_n) {
        uint32_t pos, n;

        if (head == tail)
                return -EAGAIN;
        if (head > tail || tail - head > size || (head & 7))
                return -EBADMSG; /* head > tail: the indexes never wrap (the producer refuses to) */
        pos = (uint32_t) (head & (size - 1));
        memcpy(&n, ring + pos, 4);
        if (n == UC_QUEUE_WRAP) {
                head += size - pos;
                pos = 0;
                if (head < size - pos || head >= tail) /* head wrapped past UINT64_MAX, or is past tail */
                        return -EBADMSG;
                memcpy(&n, ring, 4);
        }
        if (n == 0 || n > size / 4 || pos + 4 + n > size || tail - head < uc_align8(n + 4))
                return -EBADMSG;
        *ret_head = head;
        *ret_n = n;
        return 0;
}

/*
 * Producer: where a record of n bytes (0 < n <= size / 4) goes, given the
 * producer's tail and the head the consumer published (it can write
 * anything there).  0 with *ret_pos (the record's offset in the ring) and
 * *ret_wrap (true: write UC_QUEUE_WRAP at tail's position first) and
 * *ret_tail (the tail to publish after the record); -ENOBUFS when full,
 * -EBADMSG when the indexes cannot be true (a consumer that scribbled).
 */
static inline int uc_queue_place(uint32_t size, uint64_t head, uint64_t tail, uint32_t n, uint32_t *ret_pos,
                                 bool *ret_wrap, uint64_t *ret_tail) {
        uint32_t rec = uc_align8(n + 4), pos = (uint32_t) (tail & (size - 1)), contig = size - pos;
        uint64_t need = contig < rec ? (uint64_t) contig + rec : rec;

        if ((tail & 7) || (head & 7) || head > tail || tail - head > size || tail > UINT64_MAX - 2 * (uint64_t) size)
                return -EBADMSG; /* the last: the new tail would wrap */
        if (need > size - (tail - head))
                return -ENOBUFS;
        *ret_wrap = contig < rec;
        *ret_pos = *ret_wrap ? 0 : pos;
        *ret_tail = tail + (*ret_wrap ? contig : 0) + rec;
        return 0;
}
