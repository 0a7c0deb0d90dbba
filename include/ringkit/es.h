/* SPDX-License-Identifier: MIT */
/*
 * libringkit-es: the endpoint security client SDK, modelled on Apple's
 * Endpoint Security framework (es_new_client, es_subscribe,
 * es_respond_auth_result, es_mute_process, es_mute_path, es_clear_cache).
 *
 * A client is a connection to ringd, which owns fanotify and the process
 * connector and fans events out to every subscribed client.  Only the
 * executable of an activated, approved system extension whose signed
 * entitlements hold com.apple.developer.endpoint-security.client gets one
 * (docs/endpoint-security.md says exactly what ringd checks).
 *
 *     static void on_event(rk_es_client *c, const rk_es_message *m, void *ud) {
 *             if (m->type == RK_ES_EVENT_TYPE_AUTH_EXEC)
 *                     rk_es_respond_auth_result(c, m, strcmp(m->target.path, "/tmp/evil") ?
 *                                               RK_ES_AUTH_RESULT_ALLOW : RK_ES_AUTH_RESULT_DENY, true);
 *     }
 *     rk_es_client *c;
 *     if (rk_es_new_client(&c, NULL, on_event, NULL, NULL) == 0) {
 *             rk_es_event_type ev[] = { RK_ES_EVENT_TYPE_AUTH_EXEC };
 *             rk_es_subscribe(c, ev, 1);
 *             rk_es_client_run(c, -1);
 *     }
 *
 * AUTH events must be answered before m->deadline_usec (CLOCK_MONOTONIC,
 * microseconds); ringd answers the kernel with the default (allow) for a
 * client that misses it, and counts the miss against the client.  A deny
 * from any client wins.  The handler may answer later, from outside the
 * callback: the answer names the message by m->id, and the message itself
 * is only valid during the callback.
 *
 * Threading: a client is used by one thread.  Events are delivered by
 * rk_es_client_dispatch() (non-blocking; poll rk_es_client_get_fd() to nest
 * the client in another loop) or rk_es_client_run().  Control calls
 * (subscribe, mute, ...) are synchronous: they wait for ringd's
 * acknowledgement, queueing events that arrive meanwhile for the next
 * dispatch.  Nothing prints; errors are negative errnos.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RINGKIT_ES_API_VERSION 1

typedef enum rk_es_event_type {
        RK_ES_EVENT_TYPE_AUTH_EXEC = 0,      /* fanotify FAN_OPEN_EXEC_PERM */
        RK_ES_EVENT_TYPE_AUTH_OPEN = 1,      /* FAN_OPEN_PERM */
        RK_ES_EVENT_TYPE_NOTIFY_EXEC = 2,    /* FAN_OPEN_EXEC */
        RK_ES_EVENT_TYPE_NOTIFY_OPEN = 3,    /* FAN_OPEN */
        RK_ES_EVENT_TYPE_NOTIFY_CLOSE = 4,   /* FAN_CLOSE_WRITE: closed after writing */
        RK_ES_EVENT_TYPE_NOTIFY_CREATE = 5,  /* FAN_CREATE */
        RK_ES_EVENT_TYPE_NOTIFY_RENAME = 6,  /* FAN_RENAME: target = old, target2 = new */
        RK_ES_EVENT_TYPE_NOTIFY_UNLINK = 7,  /* FAN_DELETE */
        RK_ES_EVENT_TYPE_NOTIFY_FORK = 8,    /* process connector PROC_EVENT_FORK: child_pid */
        RK_ES_EVENT_TYPE_NOTIFY_EXIT = 9,    /* process connector PROC_EVENT_EXIT: exit_status */
        RK_ES_EVENT_TYPE_LAST,
} rk_es_event_type;

typedef enum rk_es_auth_result {
        RK_ES_AUTH_RESULT_ALLOW = 0,
        RK_ES_AUTH_RESULT_DENY = 1,
} rk_es_auth_result;

typedef enum rk_es_mute_path_type {
        RK_ES_MUTE_PATH_TYPE_LITERAL = 0,       /* the process's executable is this path */
        RK_ES_MUTE_PATH_TYPE_PREFIX = 1,        /* the process's executable starts with it */
        RK_ES_MUTE_PATH_TYPE_TARGET_PREFIX = 2, /* the event's target (or target2) starts with it */
} rk_es_mute_path_type;

/* Signing information, when the file belongs to a ringkit-signed bundle. */
typedef struct rk_es_signing {
        bool is_signed;          /* a valid signature chaining to ringd's trust store */
        const char *team_id;     /* NULL when not signed */
        const char *signing_id;  /* the bundle's signed identifier; NULL when not signed */
} rk_es_signing;

typedef struct rk_es_process {
        pid_t pid, ppid;
        uid_t uid;
        gid_t gid;
        const char *executable;  /* /proc/PID/exe when the event was read; "" when gone */
        rk_es_signing signing;
} rk_es_process;

typedef struct rk_es_file {
        const char *path;        /* NULL when the event has none */
        rk_es_signing signing;   /* AUTH/NOTIFY exec: the new image's */
} rk_es_file;

typedef struct rk_es_message {
        uint64_t id;             /* names the message in rk_es_respond_auth_result() */
        rk_es_event_type type;
        bool is_auth;
        uint64_t time_usec;      /* when ringd read the event, CLOCK_MONOTONIC */
        uint64_t deadline_usec;  /* AUTH: answer before this, CLOCK_MONOTONIC; 0 for NOTIFY */
        rk_es_process process;   /* the process that acted */
        rk_es_file target;       /* the file (exec: the image; rename: the old name) */
        rk_es_file target2;      /* rename: the new name */
        pid_t child_pid;         /* NOTIFY_FORK */
        int exit_status;         /* NOTIFY_EXIT: as wait(2) reports it */
        uint32_t open_flags;     /* always 0 for now: fanotify does not report the opener's O_* flags */
} rk_es_message;

typedef struct rk_es_client rk_es_client;
typedef void (*rk_es_handler)(rk_es_client *c, const rk_es_message *m, void *userdata);

/*
 * Connects to ringd's endpoint security socket: socket_path, or NULL for
 * $RINGKIT_ES_SOCKET, else $RINGKIT_ROOT/run/es.sock, else
 * /run/ringkit/es.sock.  ringd decides admission at once.  A system
 * extension that ringd launched and supervises (docs/system-extensions.md)
 * passes NULL: its first client uses the connection ringd already admitted
 * ($RINGKIT_ES_FD).  On refusal,
 * *ret_reason (may be NULL) gets ringd's reason (free() it).
 * Errors: -EINVAL, -ENOENT/-ECONNREFUSED (no ringd), -EACCES (socket not
 * accessible: clients run as root), -EPERM (refused: not an entitled,
 * approved system extension), -EPROTO (unexpected answer), -ETIMEDOUT,
 * -ENOMEM.
 */
int rk_es_new_client(rk_es_client **ret, const char *socket_path, rk_es_handler handler, void *userdata,
                     char **ret_reason);
/* es_delete_client: pending AUTH answers not given yet resolve with the default.  NULL-safe; returns NULL. */
rk_es_client *rk_es_client_free(rk_es_client *c);
static inline void rk_es_client_freep(rk_es_client **c) {
        if (*c)
                rk_es_client_free(*c);
}

/* Subscriptions add to / remove from the set.  -EINVAL (unknown type), -EPIPE (ringd gone), -ETIMEDOUT. */
int rk_es_subscribe(rk_es_client *c, const rk_es_event_type *events, size_t n);
int rk_es_unsubscribe(rk_es_client *c, const rk_es_event_type *events, size_t n);
int rk_es_unsubscribe_all(rk_es_client *c);

/*
 * Answers an AUTH message (by its id; m may be a copy).  cache: ringd may
 * reuse the answer for the same file until the file changes or the set of
 * clients does.  -EINVAL (not an AUTH message), -EPIPE.  An answer after
 * the deadline is ignored by ringd (the default was already given).
 */
int rk_es_respond_auth_result(rk_es_client *c, const rk_es_message *m, rk_es_auth_result result, bool cache);
int rk_es_respond_id(rk_es_client *c, uint64_t id, rk_es_auth_result result, bool cache);

/* Muting: no events (AUTH or NOTIFY) for what is muted reach this client.  -EINVAL, -EPIPE, -ETIMEDOUT. */
int rk_es_mute_process(rk_es_client *c, pid_t pid);
int rk_es_unmute_process(rk_es_client *c, pid_t pid);
int rk_es_mute_path(rk_es_client *c, const char *path, rk_es_mute_path_type type);
int rk_es_unmute_path(rk_es_client *c, const char *path, rk_es_mute_path_type type);
int rk_es_unmute_all(rk_es_client *c);

/* Drops ringd's cached AUTH results (for every client: the cache is shared). */
int rk_es_clear_cache(rk_es_client *c);

/*
 * After delivering events, rk_es_client_dispatch() keeps reading for up to
 * usec microseconds more (0..1000; default 0: return as soon as nothing is
 * left), yielding the CPU between looks, so that the next event of a burst
 * is taken without a sleep and wake-up.  Off by default: on the 2-CPU
 * virtual machines measured (bench-es), a spinning client made the next
 * exec slower, not faster -- the process ringd has just allowed is woken
 * onto the client's CPU.  -EINVAL.
 */
int rk_es_set_spin(rk_es_client *c, unsigned usec);

/* This client's AUTH deadline, 1..60000 ms (ringd's default: --es-deadline, 1000 ms). */
int rk_es_set_deadline(rk_es_client *c, unsigned ms);

/* The socket to poll for input; readable when rk_es_client_dispatch() has work. */
int rk_es_client_get_fd(rk_es_client *c);
/*
 * Delivers every message that can be read without waiting.  Returns the
 * number delivered, -ECONNRESET once ringd closed the connection, -EBADMSG
 * for a malformed message (dropped; the client stays usable).
 */
int rk_es_client_dispatch(rk_es_client *c);
/*
 * Waits and dispatches until ringd closes the connection (-ECONNRESET),
 * rk_es_client_stop() is called from a handler (0), or timeout_ms passes
 * (-1: no timeout; 0 on timeout).
 */
int rk_es_client_run(rk_es_client *c, int timeout_ms);
void rk_es_client_stop(rk_es_client *c);

const char *rk_es_event_type_name(rk_es_event_type t); /* "AUTH_EXEC", ...; NULL for an unknown one */
int rk_es_event_type_from_name(const char *name);     /* the type or -EINVAL */

#ifdef __cplusplus
}
#endif
