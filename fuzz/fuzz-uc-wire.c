/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the user-client wire checks both ends run on what the
 * other end wrote (lib/ringkit/uc-check.h, lib/ringdriver/uc-method.h):
 * the first input byte picks one, the rest is the hostile side's bytes.
 *   0  a REPLY/ASYNC_DONE body as the app parses it (uc_reply_parse);
 *   1  a CALL body as the dext parses it (uc_call_parse), then checked by
 *      uc_method_check against a method declaration also taken from the
 *      input (a driver's table can say anything, VARIABLE included);
 *   2  a data queue as the app reads it: ring size, head, tail and the
 *      ring's bytes from the input, records read (uc_queue_next) until it
 *      is empty or refused;
 *   3  a data queue as the dext fills it: head and tail from the input (the
 *      app can write both), records placed (uc_queue_place) and written,
 *      then read back while the indexes stay sane.
 * Checked: every pointer and length handed out stays inside the buffer
 * (ASan sees the exact-size copies), counts and sizes respect their
 * limits, and records written are the records read back.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/ringdriver/uc-method.h"
#include "../lib/ringkit/uc-check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define STRUCT_MAX 4096u

static int method_fn(rk_uc *uc, void *ud, rk_uc_args *a) {
        (void) uc;
        (void) ud;
        (void) a;
        return 0;
}

static void inside(const uint8_t *b, size_t len, const uint8_t *p, size_t n) {
        assert(p >= b && n <= len && (size_t) (p - b) <= len - n);
}

static void reply(const uint8_t *p, size_t len) {
        struct uc_reply h;
        const uint8_t *sc, *d;

        if (uc_reply_parse(p, len, STRUCT_MAX, &h, &sc, &d) < 0)
                return;
        assert(h.n_scalar_out <= UC_SCALAR_MAX && h.struct_out_len <= STRUCT_MAX);
        inside(p, len, sc, h.n_scalar_out * 8u);
        inside(p, len, d, h.struct_out_len);
}

static void call(const uint8_t *p, size_t len) {
        struct uc_call c;
        rk_uc_method m = { .fn = method_fn };
        const uint8_t *sin, *stin;
        uint32_t n_out = 0;
        size_t st_out = 0;
        int r;

        if (len < sizeof(m.scalar_in) * 4 + 1)
                return;
        memcpy(&m.scalar_in, p, 4);
        memcpy(&m.struct_in, p + 4, 4);
        memcpy(&m.scalar_out, p + 8, 4);
        memcpy(&m.struct_out, p + 12, 4);
        m.flags = p[16] & 3u;
        p += 17;
        len -= 17;
        if (uc_call_parse(p, len, STRUCT_MAX, &c, &sin, &stin) < 0)
                return;
        assert(c.n_scalar_in <= UC_SCALAR_MAX && c.n_scalar_out <= UC_SCALAR_MAX && c.struct_in_len <= STRUCT_MAX);
        inside(p, len, sin, c.n_scalar_in * 8u);
        inside(p, len, stin, c.struct_in_len);
        r = uc_method_check(&c, &m, STRUCT_MAX, &n_out, &st_out);
        assert(r == 0 || r == -EINVAL || r == -EFAULT);
        if (r < 0)
                return;
        assert(n_out <= UC_SCALAR_MAX && n_out <= c.n_scalar_out);
        assert(st_out <= STRUCT_MAX && st_out <= c.struct_out_cap);
        assert(m.scalar_in == RK_UC_VARIABLE || c.n_scalar_in == m.scalar_in);
        assert(m.struct_in == RK_UC_VARIABLE || c.struct_in_len == m.struct_in);
        assert(!(m.flags & RK_UC_METHOD_ASYNC) || (c.flags & UC_CALL_ASYNC));
        assert(!(m.flags & RK_UC_METHOD_MEMORY) || (c.flags & UC_CALL_MEMORY));
        assert(uc_method_check(&c, NULL, STRUCT_MAX, &n_out, &st_out) == -EOPNOTSUPP);
}

static uint64_t u64_at(const uint8_t *p, size_t len, size_t off) {
        uint64_t v = 0;
        if (off < len)
                memcpy(&v, p + off, len - off < 8 ? len - off : 8);
        return v;
}

static void consume(const uint8_t *p, size_t len) {
        uint32_t size = UC_QUEUE_MIN << (len ? p[0] & 3 : 0);
        uint64_t head = u64_at(p, len, 1), tail = u64_at(p, len, 9);
        uint8_t *ring = calloc(1, size);

        if (!ring)
                return;
        if (len > 17)
                memcpy(ring, p + 17, len - 17 < size ? len - 17 : size);
        for (int k = 0; k < 256; k++) {
                uint64_t h;
                uint32_t n;
                if (uc_queue_next(ring, size, head, tail, &h, &n) < 0)
                        break;
                assert(h >= head && h < tail && n > 0 && n <= size / 4);
                inside(ring, size, ring + (h & (size - 1)), 4 + (size_t) n);
                head = h + uc_align8(n + 4);
        }
        free(ring);
}

static void produce(const uint8_t *p, size_t len) {
        uint32_t size = UC_QUEUE_MIN;
        uint64_t head = u64_at(p, len, 0), tail = u64_at(p, len, 8), rhead;
        uint8_t *ring = calloc(1, size);
        bool sane;

        if (!ring)
                return;
        sane = !(head & 7) && !(tail & 7) && head <= tail && tail - head <= size && tail <= UINT64_MAX - 2 * size;
        if (sane) /* the consumer has read what lies before head: start from an empty ring there */
                tail = head;
        rhead = head;
        for (size_t off = 16; off < len; off++) {
                uint32_t n = (uint32_t) p[off] * 4u + 1u, pos;
                uint64_t next;
                bool wrap;
                int r = uc_queue_place(size, head, tail, n, &pos, &wrap, &next);
                if (r < 0) {
                        assert(r == -ENOBUFS || (r == -EBADMSG && (!sane || tail > UINT64_MAX - 2 * size)));
                        if (r == -EBADMSG)
                                break;
                        head = tail; /* the consumer caught up */
                        rhead = head;
                        continue;
                }
                assert(sane && !(pos & 7) && (size_t) pos + 4 + n <= size && next > tail && next - head <= size);
                if (wrap) {
                        uint32_t marker = UC_QUEUE_WRAP;
                        assert((tail & (size - 1)) + 4 <= size);
                        memcpy(ring + (tail & (size - 1)), &marker, 4);
                }
                memcpy(ring + pos, &n, 4);
                memset(ring + pos + 4, p[off], n);
                tail = next;
                {
                        uint64_t h;
                        uint32_t got;
                        assert(uc_queue_next(ring, size, rhead, tail, &h, &got) == 0 && got == n);
                        assert(ring[(h & (size - 1)) + 4] == p[off] && ring[(h & (size - 1)) + 3 + n] == p[off]);
                        rhead = h + uc_align8(got + 4);
                        assert(rhead == tail);
                }
        }
        free(ring);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        uint8_t *p;

        if (size < 1)
                return 0;
        p = malloc(size > 1 ? size - 1 : 1); /* the exact size: ASan sees reads past it */
        if (!p)
                return 0;
        memcpy(p, data + 1, size - 1);
        switch (data[0] & 3) {
        case 0:
                reply(p, size - 1);
                break;
        case 1:
                call(p, size - 1);
                break;
        case 2:
                consume(p, size - 1);
                break;
        default:
                produce(p, size - 1);
                break;
        }
        free(p);
        return 0;
}
