/* SPDX-License-Identifier: MIT */
/*
 * The endpoint security wire protocol between ringd (src/ringd/es.c) and
 * libringkit-es (lib/ringkit-es/es.c), over an rk_channel (ipc/msg.h) on
 * ringd's socket RUN/es.sock.  Hot-path payloads are fixed binary structs
 * in native byte order (both ends run on one host).
 *
 *   connect ──► ringd checks admission ──► WELCOME  (client id, default deadline)
 *                                     └──► REFUSED  (errno, reason) and close
 *   client ─ SUBSCRIBE/UNSUBSCRIBE/MUTE/UNMUTE/CLEAR_CACHE/SET_DEADLINE (peer = seq) ─► ringd
 *   ringd  ─ ACK (peer = seq, i32 result) ─► client
 *   ringd  ─ EVENT ─► client;   client ─ RESPOND (AUTH only) ─► ringd
 *
 * An EVENT carries rk_es_wire_event followed by the strings named in
 * str_len[] (each NUL-terminated, length including the NUL, 0 = absent),
 * in index order.  Every length is checked against the payload before a
 * string is read.
 */
#pragma once

#include <stdint.h>

#define RK_ES_PROTO_VERSION 1

enum {
        /* client -> ringd */
        RK_ES_MSG_SUBSCRIBE = 0x4501,   /* u64 mask of (1 << rk_es_event_type) */
        RK_ES_MSG_UNSUBSCRIBE = 0x4502, /* u64 mask */
        RK_ES_MSG_RESPOND = 0x4503,     /* rk_es_wire_respond */
        RK_ES_MSG_MUTE = 0x4504,        /* rk_es_wire_mute + path */
        RK_ES_MSG_UNMUTE = 0x4505,      /* rk_es_wire_mute + path; kind RK_ES_MUTE_ALL: everything */
        RK_ES_MSG_CLEAR_CACHE = 0x4506, /* empty */
        RK_ES_MSG_SET_DEADLINE = 0x4507, /* u32 ms */
        /* ringd -> client */
        RK_ES_MSG_WELCOME = 0x4581,     /* rk_es_wire_welcome */
        RK_ES_MSG_REFUSED = 0x4582,     /* i32 errno + reason (NUL-terminated) */
        RK_ES_MSG_ACK = 0x4583,         /* i32 result (0 or -errno) */
        RK_ES_MSG_EVENT = 0x4584,       /* rk_es_wire_event + strings */
};

enum {
        RK_ES_STR_EXE,            /* the acting process's executable */
        RK_ES_STR_TEAM,           /* its team, when signed */
        RK_ES_STR_SIGNING_ID,     /* its signed identifier */
        RK_ES_STR_TARGET,
        RK_ES_STR_TARGET_TEAM,
        RK_ES_STR_TARGET_SIGNING_ID,
        RK_ES_STR_TARGET2,
        RK_ES_STR_MAX,
};

#define RK_ES_F_AUTH 0x1u
#define RK_ES_F_PROC_SIGNED 0x2u
#define RK_ES_F_TARGET_SIGNED 0x4u

typedef struct rk_es_wire_event {
        uint64_t id;
        uint64_t time_usec;
        uint64_t deadline_usec;
        uint32_t type;
        uint32_t flags;
        int32_t pid, ppid;
        uint32_t uid, gid;
        int32_t child_pid;
        int32_t exit_status;
        uint32_t open_flags;
        uint16_t str_len[RK_ES_STR_MAX];
        uint16_t reserved;
        uint32_t reserved2;
} rk_es_wire_event;

_Static_assert(sizeof(rk_es_wire_event) == 80, "rk_es_wire_event has no padding");

typedef struct rk_es_wire_respond {
        uint64_t id;
        uint32_t result; /* rk_es_auth_result */
        uint32_t cache;  /* 0 or 1 */
} rk_es_wire_respond;

#define RK_ES_MUTE_PID 0u          /* pid */
#define RK_ES_MUTE_EXE_LITERAL 1u  /* path */
#define RK_ES_MUTE_EXE_PREFIX 2u   /* path */
#define RK_ES_MUTE_TARGET_PREFIX 3u /* path */
#define RK_ES_MUTE_ALL 4u          /* UNMUTE only */

typedef struct rk_es_wire_mute {
        uint32_t kind;
        int32_t pid;
        /* followed by a NUL-terminated path for the path kinds */
} rk_es_wire_mute;

typedef struct rk_es_wire_welcome {
        uint32_t version;
        uint32_t client_id;
        uint32_t deadline_ms;
        uint32_t reserved;
} rk_es_wire_welcome;

#define RK_ES_DEADLINE_MIN_MS 1u
#define RK_ES_DEADLINE_MAX_MS 60000u
