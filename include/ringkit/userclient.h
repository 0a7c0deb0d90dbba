/* SPDX-License-Identifier: MIT */
/*
 * User clients, the dext's side (libringdriver): how a driver lets apps
 * call it.  The app's side is <ringkit/client.h>; the whole picture is
 * docs/user-clients.md.
 *
 * An app asks ringd to open a user client of type N on the driver's
 * service.  ringd checks the app's right to (entitlements, or developer
 * mode), then hands the driver one end of a fresh connection: the SDK calls
 * the handler set with rk_driver_set_user_client_handler(), which accepts
 * (sets a method table, returns 0) or refuses (returns a negative errno,
 * which the app's open returns).  From then on the app and the driver talk
 * directly; ringd is not on the path.
 *
 *     static int add(rk_uc *uc, void *ud, rk_uc_args *a) {
 *             a->scalar_out[0] = a->scalar_in[0] + a->scalar_in[1];
 *             return 0;
 *     }
 *     static const rk_uc_method methods[] = {
 *             [0] = { .fn = add, .scalar_in = 2, .scalar_out = 1 },
 *     };
 *     static int new_uc(rk_driver *d, uint32_t type, const rk_uc_peer *who, rk_uc *uc) {
 *             return rk_uc_set_methods(uc, methods, 1, NULL);
 *     }
 *     ... in start():  rk_driver_set_user_client_handler(d, new_uc);
 *
 * Each method declares the shape of its arguments; the SDK checks a call
 * against it before the handler runs, so a handler reads exactly the
 * counts and sizes it declared:
 *
 *     unknown selector, no handler                 -EOPNOTSUPP  (kIOReturnUnsupported)
 *     scalar or structure count/size not as declared,
 *     output capacity smaller than declared,
 *     an async method called synchronously         -EINVAL      (kIOReturnBadArgument)
 *     memory descriptor required and missing, unknown,
 *     or offset+length past its end                -EFAULT      (kIOReturnVMError)
 *
 * Handlers run on the instance's dispatch queue (its one thread), like
 * every other callback.  They return 0 or a negative errno, which the app's
 * call returns; an async method's handler may instead return
 * RK_UC_PENDING and complete later with rk_uc_async_complete().
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ringkit/driver.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RINGKIT_USERCLIENT_API_VERSION 1

typedef struct rk_uc rk_uc;
typedef struct rk_uc_queue rk_uc_queue;

#define RK_UC_SCALAR_MAX 16
#define RK_UC_VARIABLE UINT32_MAX /* a count or size the handler checks itself (up to the maximum) */
#define RK_UC_PENDING 1           /* an async handler's "I complete later" */

/* The arguments of one call, as checked against the method's declaration. */
typedef struct rk_uc_args {
        uint32_t selector;
        const uint64_t *scalar_in;
        uint32_t scalar_in_count;
        const void *struct_in;
        size_t struct_in_size;
        uint64_t *scalar_out;          /* room for scalar_out_count values (zeroed) */
        uint32_t scalar_out_count;     /* declared count; a VARIABLE method may lower it */
        void *struct_out;              /* room for struct_out_size bytes (zeroed) */
        size_t struct_out_size;        /* declared size; a VARIABLE method sets what it wrote */
        void *memory;                  /* the memory descriptor's range, mapped (NULL when none) */
        size_t memory_size;
        uint64_t async_ref;            /* non-zero for an async call: pass to rk_uc_async_complete() */
} rk_uc_args;

#define RK_UC_METHOD_ASYNC 0x1u  /* must be called with rk_connection_call_async() */
#define RK_UC_METHOD_MEMORY 0x2u /* needs a memory descriptor */

typedef struct rk_uc_method {
        int (*fn)(rk_uc *uc, void *ud, rk_uc_args *a);
        uint32_t scalar_in;      /* exact count, or RK_UC_VARIABLE */
        uint32_t struct_in;      /* exact size in bytes, or RK_UC_VARIABLE */
        uint32_t scalar_out;     /* count the handler fills (or RK_UC_VARIABLE: up to the caller's room) */
        uint32_t struct_out;     /* size the handler fills (or RK_UC_VARIABLE: up to the caller's room) */
        unsigned flags;          /* RK_UC_METHOD_* */
} rk_uc_method;

/* Who is opening: from the socket ringd saw the app on, and what ringd decided. */
typedef struct rk_uc_peer {
        pid_t pid;
        uid_t uid;
        const char *executable;  /* /proc/PID/exe as ringd read it, "" when unknown */
        const char *app_bundle;  /* the signed app bundle's identifier, "" when not a signed bundle */
        const char *admitted_by; /* "entitlement", "allow-any-userclient-access", "developer-mode" */
} rk_uc_peer;

/*
 * Called for each open; returns 0 to accept (having set the method table),
 * or a negative errno to refuse (-EPERM, -EBUSY ...), which the app's
 * rk_client_open() returns.  Without a handler every open is refused
 * with -EOPNOTSUPP.
 */
typedef int (*rk_uc_new_fn)(rk_driver *d, uint32_t type, const rk_uc_peer *who, rk_uc *uc);
int rk_driver_set_user_client_handler(rk_driver *d, rk_uc_new_fn fn);

/* The method table (borrowed: keep it alive, a static const array is usual) and its user data. */
int rk_uc_set_methods(rk_uc *uc, const rk_uc_method *methods, size_t n, void *ud);
/* Called once when the connection ends (the app closed it or died, or the driver stops). */
void rk_uc_set_closed_handler(rk_uc *uc, void (*closed)(rk_uc *uc, void *ud));
void *rk_uc_get_userdata(rk_uc *uc);
rk_driver *rk_uc_get_driver(rk_uc *uc);
uint32_t rk_uc_get_type(rk_uc *uc);

/*
 * Complete an async call later.  Every call a handler answered with
 * RK_UC_PENDING must be completed exactly once, even after the app went
 * (then this returns -EPIPE and frees what was kept for it): the rk_uc
 * stays valid for that purpose only.  Other pointers of a connection (its
 * queues) are invalid once its closed handler has run.  status 0 or a negative errno; up to
 * RK_UC_SCALAR_MAX scalars and up to 60 KiB of data.  -EINVAL, -ENOENT (no
 * such pending call), -EPIPE (the app is gone: nothing to do), -EMSGSIZE.
 */
int rk_uc_async_complete(rk_uc *uc, uint64_t ref, int status, const uint64_t *scalars, uint32_t n_scalars,
                         const void *data, size_t len);

/*
 * A data queue to the app: `capacity` bytes of ring (rounded up to a power
 * of two, 4 KiB to 64 MiB) in shared memory.  The app gets it with
 * rk_connection_get_queue(id).  The queue is freed with the connection.
 * -EINVAL, -ENOMEM, -EPIPE.
 */
int rk_uc_queue_new(rk_uc *uc, size_t capacity, rk_uc_queue **ret);
uint32_t rk_uc_queue_get_id(rk_uc_queue *q);
/*
 * Append one record (1 byte to a quarter of the capacity).  Wakes the app
 * only when it waits.  0, -ENOBUFS (full: the record is dropped and
 * counted; retry later), -EBADMSG (the app scribbled on the ring's
 * indexes: dropped and counted), -EMSGSIZE, -EINVAL, -EPIPE (the app is gone).
 */
int rk_uc_queue_enqueue(rk_uc_queue *q, const void *p, size_t n);

/* End the connection from the driver's side (the app's next call fails with -ECONNRESET). */
void rk_uc_close(rk_uc *uc);

#ifdef __cplusplus
}
#endif
