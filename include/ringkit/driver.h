/* SPDX-License-Identifier: MIT */
/*
 * libringdriver: the SDK for writing a dext, a driver that runs in its own
 * process, started by ringd when one of its personalities wins a device.
 *
 * A dext's main() hands its driver classes to rk_driver_main(), which
 * connects to ringd (the channel ringd passed as fd 3), runs the lifecycle
 * and the dispatch queue, and returns the exit status when ringd frees the
 * instance:
 *
 *     static int my_start(rk_driver *d) {
 *             int fd = rk_driver_get_provider_handle(d);   // the device
 *             rk_driver_log(d, RK_LOG_INFO, "started on %s", rk_driver_get_provider_name(d));
 *             return rk_driver_register_service(d);
 *     }
 *     static const rk_driver_class my_class = { .name = "MyDriver", .start = my_start };
 *     int main(int argc, char **argv) {
 *             const rk_driver_class *classes[] = { &my_class };
 *             return rk_driver_main(argc, argv, classes, 1);
 *     }
 *
 * The class is chosen by the matched personality's IOUserClass (or IOClass).
 * Every callback runs on the instance's one dispatch queue (an event loop),
 * never concurrently; callbacks return 0 or a negative errno.
 *
 * Lifecycle: init -> probe -> start -> ... -> stop -> free.  probe may
 * change the score or decline with -ENODEV (ringd then tries the next
 * candidate); a failing start also falls through.  stop must release what
 * start took; free runs last, just before the process exits.
 *
 * Properties: the driver reads its provider's properties and its
 * personality's (configuration keys included), and sets properties on its
 * own service, which ringctl registry shows.
 *
 * Errors are negative errnos; each call documents its own.
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RINGKIT_DRIVER_API_VERSION 1

typedef struct rk_driver rk_driver;
typedef struct rk_driver_timer rk_driver_timer;
typedef struct rk_driver_watch rk_driver_watch;

typedef struct rk_driver_class {
        const char *name;                               /* matched against IOUserClass / IOClass */
        int (*init)(rk_driver *d);                      /* optional */
        int (*probe)(rk_driver *d, int64_t *score);     /* optional; may change *score or return -ENODEV */
        int (*start)(rk_driver *d);                     /* required */
        void (*stop)(rk_driver *d);                     /* optional */
        void (*free)(rk_driver *d);                     /* optional */
} rk_driver_class;

/* Runs the instance; returns the process exit status. */
int rk_driver_main(int argc, char **argv, const rk_driver_class *const *classes, size_t n_classes);

/* Per-instance state for the driver's own use. */
void rk_driver_set_ivars(rk_driver *d, void *ivars);
void *rk_driver_get_ivars(rk_driver *d);

/* The provider's handle: a descriptor for the device (-EBADF when none). Owned by the SDK. */
int rk_driver_get_provider_handle(rk_driver *d);
uint64_t rk_driver_get_provider_id(rk_driver *d);
uint64_t rk_driver_get_service_id(rk_driver *d);
const char *rk_driver_get_provider_name(rk_driver *d);
const char *rk_driver_get_class_name(rk_driver *d);

/*
 * Properties.  Lookups search the personality first, then the provider
 * (as IOKit's driver sees its personality's keys merged into its own
 * table).  Getters return -ENOENT when absent, -EMEDIUMTYPE for another type.
 */
int rk_driver_get_string(rk_driver *d, const char *key, const char **ret);
int rk_driver_get_integer(rk_driver *d, const char *key, int64_t *ret);
int rk_driver_get_bool(rk_driver *d, const char *key, bool *ret);
int rk_driver_get_data(rk_driver *d, const char *key, const void **ret, size_t *ret_len);
/* Set on the driver's own service (sent to ringd). -ENOMEM, -EINVAL, -ENOTCONN. */
int rk_driver_set_string(rk_driver *d, const char *key, const char *value);
int rk_driver_set_integer(rk_driver *d, const char *key, int64_t value);
int rk_driver_set_bool(rk_driver *d, const char *key, bool value);
int rk_driver_set_data(rk_driver *d, const char *key, const void *p, size_t n);

/* Make the driver's service visible for matching and to clients (IOService::registerService). */
int rk_driver_register_service(rk_driver *d);

/*
 * Publish a nub under the driver's service: a new provider that ringd
 * matches personalities against, so stacks assemble layer by layer.
 * `classes` is the class chain, most derived first (IOService is appended
 * when missing).  `handle` (or -EBADF) is passed to the nub's driver as its
 * provider handle; the SDK does not take it.  Properties are set with
 * rk_driver_nub_set_* before publishing.  The registry ID arrives
 * asynchronously; `done` (may be NULL) is called with it or a negative errno.
 */
typedef struct rk_driver_nub rk_driver_nub;
int rk_driver_nub_new(rk_driver *d, const char *const *classes, size_t n_classes, const char *name,
                      rk_driver_nub **ret);
int rk_driver_nub_set_string(rk_driver_nub *n, const char *key, const char *value);
int rk_driver_nub_set_integer(rk_driver_nub *n, const char *key, int64_t value);
int rk_driver_nub_set_data(rk_driver_nub *n, const char *key, const void *p, size_t len);
int rk_driver_nub_publish(rk_driver_nub *n, int handle, void (*done)(rk_driver *d, int64_t id_or_errno, void *ud),
                          void *ud);
/* Terminate a published nub (and the stack above it). */
int rk_driver_unpublish(rk_driver *d, uint64_t id);

/* The dispatch queue: timers and fd watches run on the instance's loop. */
int rk_driver_timer_new(rk_driver *d, uint64_t usec_from_now, uint64_t repeat_usec,
                        void (*cb)(rk_driver *d, rk_driver_timer *t, void *ud), void *ud, rk_driver_timer **ret);
void rk_driver_timer_cancel(rk_driver_timer *t);
int rk_driver_watch_fd(rk_driver *d, int fd, uint32_t events /* EPOLLIN, EPOLLOUT */,
                       void (*cb)(rk_driver *d, rk_driver_watch *w, int fd, uint32_t revents, void *ud), void *ud,
                       rk_driver_watch **ret);
void rk_driver_watch_cancel(rk_driver_watch *w);
/* The loop's fd, to nest the queue in another event loop. */
int rk_driver_get_queue_fd(rk_driver *d);

/* Logging into ringd's log, tagged with the instance. Levels are syslog's. */
enum { RK_LOG_ERR = 3, RK_LOG_WARNING = 4, RK_LOG_NOTICE = 5, RK_LOG_INFO = 6, RK_LOG_DEBUG = 7 };
__attribute__((format(printf, 3, 4))) void rk_driver_log(rk_driver *d, int level, const char *fmt, ...);
void rk_driver_logv(rk_driver *d, int level, const char *fmt, va_list ap);

/* Ask ringd to terminate this instance (e.g. the device stopped answering). */
void rk_driver_terminate(rk_driver *d, int reason);

/*
 * A kernel interface the sandbox keeps the dext from opening itself, opened
 * by ringd for an entitled driver: "uinput" (make input devices; needs
 * com.apple.developer.driverkit.family.hid.eventservice) or "uhid" (make
 * HID devices; needs ...family.hid.device).  Unsigned bundles get them in
 * developer mode only.  Returns a read-write, non-blocking descriptor the
 * caller owns, or -EPERM (not entitled; the reason is in ringd's log and
 * the dext's), -ENOENT (the kernel has no such interface), -EINVAL, or
 * another negative errno.  Call it from start() or later.
 */
int rk_driver_open_device(rk_driver *d, const char *name);

/*
 * The bundle's private data directory: the one place a sandboxed dext may
 * create files, kept across launches and shared by the bundle's instances
 * (ringd makes it, owned by the bundle's uid).  NULL when ringd runs it
 * unsandboxed (--no-sandbox).
 */
const char *rk_driver_get_data_dir(rk_driver *d);

#ifdef __cplusplus
}
#endif
