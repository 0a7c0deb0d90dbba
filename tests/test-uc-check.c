/* SPDX-License-Identifier: MIT */
/*
 * The user-client data queue's index checks (lib/ringkit/uc-check.h) on
 * indexes a hostile driver or app could write into the shared header:
 * records read back as written across the wrap marker, and indexes that
 * cannot be true (head past tail, counters wrapped past UINT64_MAX,
 * misaligned, more than a ring apart) refused with -EBADMSG.
 */
#include <stdint.h>

#include "../lib/ringkit/uc-check.h"
#include "test.h"

#define SIZE UC_QUEUE_MIN

static void put(uint8_t *ring, uint32_t pos, uint32_t v) {
        memcpy(ring + pos, &v, 4);
}

TEST(queue_roundtrip_across_wrap) {
        static uint8_t ring[SIZE];
        uint64_t head = 5 * (uint64_t) SIZE - 16, tail = head, h;
        uint32_t pos, n;
        bool wrap;

        /* a 40-byte record does not fit in the 16 bytes left: wrap marker, then at 0 */
        ASSERT(uc_queue_place(SIZE, head, tail, 40, &pos, &wrap, &tail) == 0);
        CHECK(wrap && pos == 0 && tail == head + 16 + 48);
        put(ring, SIZE - 16, UC_QUEUE_WRAP);
        put(ring, 0, 40);
        ASSERT(uc_queue_next(ring, SIZE, head, tail, &h, &n) == 0);
        CHECK(n == 40 && h == head + 16 && (h & (SIZE - 1)) == 0);
        CHECK(uc_queue_next(ring, SIZE, h + 48, tail, &h, &n) == -EAGAIN);
}

TEST(queue_head_past_tail_refused) {
        static uint8_t ring[SIZE];
        uint64_t heads[] = { UINT64_MAX - 0xf9f, 0xfffffffffffff060ull /* what the fuzzer found */, 64 };
        uint64_t tails[] = { 16, 2 * 8, 32 };

        for (size_t k = 0; k < sizeof(heads) / sizeof(heads[0]); k++) {
                uint64_t h;
                uint32_t n;
                /* a well-formed record where head points, so only the indexes are wrong */
                memset(ring, 0, sizeof(ring));
                put(ring, (uint32_t) (heads[k] & (SIZE - 1)), 8);
                CHECK(uc_queue_next(ring, SIZE, heads[k], tails[k], &h, &n) == -EBADMSG);
        }
}

TEST(queue_wrap_marker_past_uint64_refused) {
        static uint8_t ring[SIZE];
        uint64_t head = UINT64_MAX - 15, tail = UINT64_MAX; /* head & 7 == 0; the marker would carry head past 2^64 */

        put(ring, (uint32_t) (head & (SIZE - 1)), UC_QUEUE_WRAP);
        put(ring, 0, 8);
        CHECK(uc_queue_next(ring, SIZE, head, tail, NULL, NULL) == -EBADMSG);
}

TEST(queue_bad_indexes_refused) {
        static uint8_t ring[SIZE];
        uint64_t h;
        uint32_t n;

        put(ring, 0, 8);
        CHECK(uc_queue_next(ring, SIZE, 0, 16, &h, &n) == 0 && n == 8);
        CHECK(uc_queue_next(ring, SIZE, 4, 16, &h, &n) == -EBADMSG);       /* misaligned head */
        CHECK(uc_queue_next(ring, SIZE, 0, SIZE + 8, &h, &n) == -EBADMSG); /* more than a ring apart */
        CHECK(uc_queue_next(ring, SIZE, 0, 8, &h, &n) == -EBADMSG);        /* record longer than tail - head */
        put(ring, 0, 0);
        CHECK(uc_queue_next(ring, SIZE, 0, 16, &h, &n) == -EBADMSG); /* empty record */
        put(ring, 0, SIZE / 4 + 1);
        CHECK(uc_queue_next(ring, SIZE, 0, SIZE, &h, &n) == -EBADMSG); /* longer than a quarter ring */
}
