/* SPDX-License-Identifier: MIT */
/*
 * libringkit: the client library for apps that talk to drivers (the IOKit
 * user-client model).  pkg-config --cflags --libs ringkit.
 *
 *     rk_client *c;                                   // ringd's control socket
 *     rk_client_new(NULL, &c);
 *     rk_matching *m;
 *     rk_matching_new(&m);
 *     rk_matching_set_class(m, "MyDriver");            // IOProviderClass
 *     uint64_t id;
 *     rk_client_wait(c, m, 5000, &id);                 // the first matching service
 *     rk_connection *conn;
 *     rk_client_open(c, id, 0, &conn);                 // ringd checks the app may
 *     uint64_t in[2] = { 2, 3 }, out[1];
 *     uint32_t n_out = 1;
 *     rk_connection_call_scalars(conn, 0, in, 2, out, &n_out);   // app <-> driver, directly
 *     rk_connection_close(conn);
 *
 * Calls on a connection go straight to the driver's process, not through
 * ringd.  A synchronous call whose structures fit in 4 KiB travels through a
 * shared-memory call page (no system call while both sides are busy); the
 * rest, and async calls, through the connection's socket.  One thread at
 * a time per connection (open one connection per thread).
 *
 * Errors are negative errnos:
 *   -EOPNOTSUPP  no such method (kIOReturnUnsupported)
 *   -EINVAL      arguments not of the method's declared shape (kIOReturnBadArgument)
 *   -EFAULT      memory descriptor missing or range outside it
 *   -EPERM       open refused by ringd's access check (or by the driver)
 *   -ECONNRESET  the driver went away (crashed, stopped); -EPIPE likewise when sending
 *   -ENOENT, -ENODEV, -ETIMEDOUT, -EMSGSIZE, -ENOMEM as each call says
 * or whatever negative errno the driver's method returned.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RINGKIT_CLIENT_API_VERSION 1

typedef struct rk_client rk_client;
typedef struct rk_matching rk_matching;
typedef struct rk_connection rk_connection;
typedef struct rk_memory rk_memory;
typedef struct rk_queue rk_queue;

/* ---- ringd ---- */

/*
 * Connect to ringd: ROOT/run/ringd.sock, ROOT being `root`, else
 * $RINGKIT_ROOT, else /run/ringkit/ringd.sock.  -ENOENT/-ECONNREFUSED (no
 * ringd), -EACCES, -ENOMEM.
 */
int rk_client_new(const char *root, rk_client **ret);
rk_client *rk_client_free(rk_client *c); /* NULL-safe; returns NULL.  Open connections stay open. */

/* A matching dictionary: every key set must match. */
int rk_matching_new(rk_matching **ret);
rk_matching *rk_matching_free(rk_matching *m);
int rk_matching_set_class(rk_matching *m, const char *cls);           /* IOProviderClass: in the class chain */
int rk_matching_set_name(rk_matching *m, const char *name);           /* IONameMatch */
int rk_matching_set_registry_id(rk_matching *m, uint64_t id);         /* IORegistryEntryID */
int rk_matching_set_property_string(rk_matching *m, const char *key, const char *value); /* IOPropertyMatch */
int rk_matching_set_property_integer(rk_matching *m, const char *key, int64_t value);
int rk_matching_set_property_bool(rk_matching *m, const char *key, bool value);

/* Registry IDs of the matching services, at most `max` in ids; returns how many match (may exceed max). */
int rk_client_find(rk_client *c, const rk_matching *m, uint64_t *ids, size_t max);
/*
 * Wait until a service matches (its ID in *ret_id), up to timeout_ms (-1:
 * forever).  0, -ETIMEDOUT, -ECONNRESET (ringd went).
 */
int rk_client_wait(rk_client *c, const rk_matching *m, int timeout_ms, uint64_t *ret_id);
/* Wait until service `id` is gone (terminated).  0, -ETIMEDOUT, -ECONNRESET. */
int rk_client_wait_gone(rk_client *c, uint64_t id, int timeout_ms);

/*
 * Get told, as services matching `m` appear and go, without asking again:
 * fn(c, id, appeared, ud) runs from rk_client_dispatch() -- first once per
 * service that matches now (appeared = true), then at every change ringd
 * pushes (a driver started or stopped, a device came or left).  At most 16
 * watches per rk_client.  0 and *ret_watch, -EBUSY, -ECONNRESET.
 */
typedef void (*rk_service_fn)(rk_client *c, uint64_t id, bool appeared, void *ud);
int rk_client_watch(rk_client *c, const rk_matching *m, rk_service_fn fn, void *ud, uint32_t *ret_watch);
int rk_client_unwatch(rk_client *c, uint32_t watch); /* 0, -ENOENT */
/*
 * Run the callbacks of what ringd pushed, waiting up to timeout_ms (0:
 * don't wait; -1: forever) when there is nothing yet.  The number run, or
 * -ECONNRESET once ringd is gone.
 */
int rk_client_dispatch(rk_client *c, int timeout_ms);
/* Readable when rk_client_dispatch() may have work: for the app's own poll loop. */
int rk_client_get_fd(rk_client *c);

/*
 * Open a user client of `type` on service `id` (a driver's service, or a
 * provider a driver runs).  ringd checks access, the driver's
 * newUserClient handler may refuse; waits up to 5 s for the driver.
 * -ENOENT (no such service), -ENODEV (no driver), -EAGAIN (not running
 * yet), -EPERM (refused: see rk_client_last_error), -EOPNOTSUPP (the
 * driver has no user clients), the driver's refusal, -ETIMEDOUT.
 */
int rk_client_open(rk_client *c, uint64_t id, uint32_t type, rk_connection **ret);
/* ringd's explanation of the last failed request ("" when none); valid until the next call. */
const char *rk_client_last_error(rk_client *c);

/* ---- a connection ---- */

/* Closes the connection (the driver's closed handler runs); frees its memory descriptors and queues. NULL-safe. */
rk_connection *rk_connection_close(rk_connection *conn);

/* One call's arguments and results. */
typedef struct rk_call {
        const uint64_t *scalar_in;
        uint32_t scalar_in_count;      /* at most 16 */
        const void *struct_in;
        size_t struct_in_size;         /* up to 60 KiB (4 KiB on the shared-memory path) */
        uint64_t *scalar_out;
        uint32_t scalar_out_count;     /* in: room; out: returned */
        void *struct_out;
        size_t struct_out_size;        /* in: room; out: returned */
        rk_memory *memory;             /* a memory descriptor, or NULL */
        uint64_t memory_offset, memory_length;
} rk_call;

/* A synchronous call.  The method's status (0 or negative errno), or an error above. */
int rk_connection_call(rk_connection *conn, uint32_t selector, rk_call *call);
/* Shorthand: scalars only. */
int rk_connection_call_scalars(rk_connection *conn, uint32_t selector, const uint64_t *in, uint32_t n_in,
                               uint64_t *out, uint32_t *n_out);

/*
 * An async call: returns once sent (0, -EINVAL, -EPIPE, -EMSGSIZE); `done`
 * runs later, from rk_connection_dispatch(), with the method's status and
 * results (the data is valid during the callback only).  If the driver
 * goes first, `done` runs with -ECONNRESET.
 */
typedef void (*rk_async_fn)(rk_connection *conn, int status, const uint64_t *scalars, uint32_t n_scalars,
                            const void *data, size_t len, void *ud);
int rk_connection_call_async(rk_connection *conn, uint32_t selector, const rk_call *call, rk_async_fn done,
                             void *ud);
/*
 * Process what arrived (async completions, queues), waiting up to
 * timeout_ms (0: don't wait; -1: forever) for something.  Returns the
 * number of completions run, or -ECONNRESET when the driver is gone.
 */
int rk_connection_dispatch(rk_connection *conn, int timeout_ms);
/* Readable when rk_connection_dispatch() has work: for the app's own poll loop. */
int rk_connection_get_fd(rk_connection *conn);
/* The shared-memory call page (on by default) or the socket for synchronous calls. */
int rk_connection_set_fast_path(rk_connection *conn, bool on);

/* ---- memory descriptors ---- */

/*
 * Shared memory the driver maps too (a sealed memfd, sent once): pass it in
 * rk_call.memory for large buffers instead of copying them through
 * structures.  -EINVAL, -ENOMEM, -EPIPE, the driver's refusal (-ENOSPC: 256 per connection).
 */
int rk_memory_new(rk_connection *conn, size_t size, rk_memory **ret);
void *rk_memory_get_address(rk_memory *mem);
size_t rk_memory_get_size(rk_memory *mem);
rk_memory *rk_memory_free(rk_memory *mem); /* tells the driver to unmap it. NULL-safe. */

/* ---- data queues ---- */

/*
 * The queue the driver created with rk_uc_queue_new() (its ID usually comes
 * back from a method), waiting up to timeout_ms for it to arrive.
 * Owned by the connection.  -ETIMEDOUT, -ECONNRESET.
 */
int rk_connection_get_queue(rk_connection *conn, uint32_t id, int timeout_ms, rk_queue **ret);
/*
 * Take the next record: its length in *len.  0, -EAGAIN (empty),
 * -EMSGSIZE (room too small: *len says how much is needed; the record stays).
 */
int rk_queue_dequeue(rk_queue *q, void *buf, size_t room, size_t *len);
/* Sleep until a record is there: 0, -ETIMEDOUT, -ECONNRESET (the driver went and the queue is empty). */
int rk_queue_wait(rk_queue *q, int timeout_ms);
/* Records the driver dropped because the queue was full. */
uint64_t rk_queue_get_dropped(rk_queue *q);

#ifdef __cplusplus
}
#endif
