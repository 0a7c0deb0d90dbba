/* SPDX-License-Identifier: MIT */
/*
 * Decoders of the endpoint security wire (ipc/es-proto.h): bytes in, a
 * decoded struct or a negative errno out, no state, no allocation.  ringd
 * (src/ringd/es.c) decodes what a client sends with rk_es_wire_request_decode(),
 * libringkit-es (lib/ringkit-es/es.c) decodes events with
 * rk_es_wire_event_decode(); fuzz/fuzz-es-wire.c drives both.
 *
 * What stays true: nothing is read outside [data, data + len); every string
 * handed out is NUL-terminated inside the buffer; a request that decodes
 * has a known type and every field inside its documented range.
 */
#pragma once

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ipc/es-proto.h"
#include "ringkit/es.h"

/* One decoded client -> ringd message. */
typedef struct rk_es_request {
        uint32_t type;            /* RK_ES_MSG_* (client -> ringd) */
        uint64_t mask;            /* SUBSCRIBE, UNSUBSCRIBE */
        uint32_t deadline_ms;     /* SET_DEADLINE */
        rk_es_wire_respond respond; /* RESPOND */
        uint32_t mute_kind;       /* MUTE, UNMUTE: RK_ES_MUTE_* */
        int32_t mute_pid;         /* RK_ES_MUTE_PID */
        const char *mute_path;    /* the path kinds: inside data, NUL-terminated, not empty */
        size_t mute_path_len;
} rk_es_request;

static inline int rk_es_wire_mute_decode(uint32_t type, const uint8_t *data, size_t len, rk_es_request *q) {
        rk_es_wire_mute w;

        if (len < sizeof(w))
                return -EBADMSG;
        memcpy(&w, data, sizeof(w));
        q->mute_kind = w.kind;
        if (w.kind == RK_ES_MUTE_ALL)
                return type == RK_ES_MSG_UNMUTE && len == sizeof(w) ? 0 : -EINVAL;
        if (w.kind > RK_ES_MUTE_TARGET_PREFIX)
                return -EINVAL;
        if (w.kind == RK_ES_MUTE_PID) {
                if (len != sizeof(w) || w.pid <= 0)
                        return -EINVAL;
                q->mute_pid = w.pid;
                return 0;
        }
        if (len <= sizeof(w) + 1 || data[len - 1] != 0)
                return -EINVAL;
        q->mute_path = (const char *) data + sizeof(w);
        q->mute_path_len = strlen(q->mute_path);
        return q->mute_path_len == len - sizeof(w) - 1 ? 0 : -EINVAL; /* no NUL inside the path */
}

/*
 * Decodes one message a client sent: 0, -EBADMSG (a payload of the wrong
 * size), -EINVAL (a field out of range), -EOPNOTSUPP (an unknown type).
 */
static inline int rk_es_wire_request_decode(uint32_t type, const uint8_t *data, size_t len, rk_es_request *q) {
        *q = (rk_es_request){ .type = type };
        switch (type) {
        case RK_ES_MSG_RESPOND:
                if (len != sizeof(q->respond))
                        return -EBADMSG;
                memcpy(&q->respond, data, sizeof(q->respond));
                return q->respond.result <= RK_ES_AUTH_RESULT_DENY && q->respond.cache <= 1 ? 0 : -EINVAL;
        case RK_ES_MSG_SUBSCRIBE:
        case RK_ES_MSG_UNSUBSCRIBE:
                if (len != sizeof(q->mask))
                        return -EBADMSG;
                memcpy(&q->mask, data, sizeof(q->mask));
                /* unknown event types may not be subscribed; unsubscribing any bits is fine (unsubscribe_all: all) */
                return type == RK_ES_MSG_SUBSCRIBE && q->mask & ~((UINT64_C(1) << RK_ES_EVENT_TYPE_LAST) - 1) ? -EINVAL : 0;
        case RK_ES_MSG_MUTE:
        case RK_ES_MSG_UNMUTE:
                return rk_es_wire_mute_decode(type, data, len, q);
        case RK_ES_MSG_CLEAR_CACHE:
                return len == 0 ? 0 : -EBADMSG;
        case RK_ES_MSG_SET_DEADLINE:
                if (len != sizeof(q->deadline_ms))
                        return -EBADMSG;
                memcpy(&q->deadline_ms, data, sizeof(q->deadline_ms));
                return q->deadline_ms < RK_ES_DEADLINE_MIN_MS || q->deadline_ms > RK_ES_DEADLINE_MAX_MS ? -EINVAL : 0;
        default:
                return -EOPNOTSUPP;
        }
}

/*
 * Decodes an EVENT payload: the fixed part into *w, each string present
 * into s[] (pointers into data; NULL when absent).  0 or -EBADMSG (short,
 * a string past the end or not NUL-terminated, an unknown event type).
 */
static inline int rk_es_wire_event_decode(const uint8_t *data, size_t len, rk_es_wire_event *w,
                                          const char *s[RK_ES_STR_MAX]) {
        size_t off = sizeof(*w);

        for (int k = 0; k < RK_ES_STR_MAX; k++)
                s[k] = NULL;
        if (len < sizeof(*w))
                return -EBADMSG;
        memcpy(w, data, sizeof(*w));
        if (w->type >= RK_ES_EVENT_TYPE_LAST)
                return -EBADMSG;
        for (int k = 0; k < RK_ES_STR_MAX; k++) {
                size_t n = w->str_len[k];
                if (!n)
                        continue;
                if (n > len - off || data[off + n - 1] != 0)
                        return -EBADMSG;
                s[k] = (const char *) data + off;
                off += n;
        }
        return 0;
}
