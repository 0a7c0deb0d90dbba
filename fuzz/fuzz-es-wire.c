/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the endpoint security wire decoders (src/ipc/es-wire.h),
 * which ringd (src/ringd/es.c, what a client sends) and libringkit-es
 * (lib/ringkit-es/es.c, the events ringd sends) use.  Input: a u32 message
 * type, then the payload.  The payload is decoded as a client request of
 * that type and as an EVENT.  Checked: a request that decodes has every
 * field in range (a mute path is NUL-terminated inside the payload, has
 * exactly the length left, no NUL inside); an event that decodes has a
 * known type and its strings lie inside the payload, NUL-terminated, in
 * index order without overlap.  The payload is copied to a buffer of its
 * exact size so ASan sees any read past it.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/es-wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_request(uint32_t type, const uint8_t *p, size_t len) {
        rk_es_request q;
        int r = rk_es_wire_request_decode(type, p, len, &q);

        if (r < 0) {
                assert(r == -EBADMSG || r == -EINVAL || r == -EOPNOTSUPP);
                return;
        }
        assert(q.type == type);
        switch (type) {
        case RK_ES_MSG_RESPOND:
                assert(len == sizeof(rk_es_wire_respond));
                assert(q.respond.result <= RK_ES_AUTH_RESULT_DENY && q.respond.cache <= 1);
                break;
        case RK_ES_MSG_SUBSCRIBE:
                assert(len == 8 && q.mask < (UINT64_C(1) << RK_ES_EVENT_TYPE_LAST));
                break;
        case RK_ES_MSG_UNSUBSCRIBE: /* any bits: rk_es_unsubscribe_all() sends them all */
                assert(len == 8);
                break;
        case RK_ES_MSG_SET_DEADLINE:
                assert(q.deadline_ms >= RK_ES_DEADLINE_MIN_MS && q.deadline_ms <= RK_ES_DEADLINE_MAX_MS);
                break;
        case RK_ES_MSG_CLEAR_CACHE:
                assert(len == 0);
                break;
        case RK_ES_MSG_MUTE:
        case RK_ES_MSG_UNMUTE:
                assert(q.mute_kind <= RK_ES_MUTE_ALL);
                assert(q.mute_kind != RK_ES_MUTE_ALL || type == RK_ES_MSG_UNMUTE);
                if (q.mute_kind == RK_ES_MUTE_PID)
                        assert(q.mute_pid > 0 && !q.mute_path);
                else if (q.mute_kind != RK_ES_MUTE_ALL) {
                        const char *b = (const char *) p;
                        assert(q.mute_path == b + sizeof(rk_es_wire_mute));
                        assert(q.mute_path_len > 0 && q.mute_path_len == strlen(q.mute_path));
                        assert(q.mute_path + q.mute_path_len + 1 == b + len);
                }
                break;
        default:
                assert(!"an unknown type decoded");
        }
}

static void check_event(const uint8_t *p, size_t len) {
        rk_es_wire_event w;
        const char *s[RK_ES_STR_MAX];
        const char *end = (const char *) p + sizeof(w);
        int r = rk_es_wire_event_decode(p, len, &w, s);

        if (r < 0) {
                assert(r == -EBADMSG);
                return;
        }
        assert(len >= sizeof(w) && w.type < RK_ES_EVENT_TYPE_LAST);
        for (int k = 0; k < RK_ES_STR_MAX; k++) {
                if (!w.str_len[k]) {
                        assert(!s[k]);
                        continue;
                }
                assert(s[k] == end); /* in index order, packed */
                end += w.str_len[k];
                assert(end <= (const char *) p + len && end[-1] == 0);
                assert(strlen(s[k]) < w.str_len[k]);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        uint32_t type;
        uint8_t *p;
        size_t len;

        if (size < sizeof(type))
                return 0;
        memcpy(&type, data, sizeof(type));
        len = size - sizeof(type);
        p = malloc(len ? len : 1);
        if (!p)
                return 0;
        memcpy(p, data + sizeof(type), len);
        check_request(type, p, len);
        /* the low bits pick a request type now and then, so every case is reached */
        check_request(RK_ES_MSG_SUBSCRIBE + (type & 7), p, len);
        check_event(p, len);
        free(p);
        return 0;
}
