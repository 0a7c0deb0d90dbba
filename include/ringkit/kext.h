/* SPDX-License-Identifier: MIT */
/*
 * The kext ABI: what a kext (a shared object in Name.kext/Contents/MacOS/)
 * exports, and what ringd offers it.  docs/kexts.md has the whole story
 * (load rules, sealing, pointer authentication, safe mode, precedence).
 *
 * A kext exports one symbol, RK_KEXT_DESCRIPTOR_SYMBOL, declared with
 * RK_KEXT_DECLARE(start, stop):
 *
 *     static const rk_kext_host *host;
 *     static int my_start(rk_kext_service *provider, rk_kext_service *self, void **state) {
 *             host->log(self, RK_KEXT_LOG_INFO, "started");
 *             return 0;
 *     }
 *     static const rk_kext_class my_class = { .name = "MyKextDriver", .start = my_start };
 *     static int kext_start(rk_kext *k, const rk_kext_host *h) {
 *             host = h;
 *             return h->register_class(k, &my_class);
 *     }
 *     RK_KEXT_DECLARE(kext_start, NULL);
 *
 * The module start runs once, in ringd, when the kext is loaded; it
 * registers the driver classes its personalities name as IOClass.  When one
 * of those personalities wins a provider, ringd runs the class's probe and
 * start in its own process (no IPC), with the provider and the driver's own
 * service; start may publish services (host->publish), which are matched
 * like any nub.  stop runs when the driver is torn down; the module stop
 * when ringd exits.
 *
 * Every function pointer a kext hands ringd (the class callbacks; timer
 * callbacks signed with host->sign) is kept signed with a per-start key
 * bound to where it is stored, and authenticated before each call: a
 * pointer that does not authenticate stops ringd with a "kext panic".
 * After the module start returns, the kext's code, read-only data and
 * RELRO and ringd's table of its classes are read-only and sealed: register
 * classes only from the module start.
 *
 * All callbacks run on ringd's one thread.  Errors are negative errnos.
 * A kext must be built for the host (ELFCLASS64; EM_X86_64 with
 * -fcf-protection=full, EM_AARCH64 with -mbranch-protection=standard).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RK_KEXT_ABI_VERSION 1u
#define RK_KEXT_DESCRIPTOR_SYMBOL "rk_kext_descriptor_v1"

typedef struct rk_kext rk_kext;                 /* a loaded kext (ringd's) */
typedef struct rk_kext_service rk_kext_service; /* a registry service as a kext sees it */

enum { RK_KEXT_LOG_ERR = 3, RK_KEXT_LOG_WARNING = 4, RK_KEXT_LOG_NOTICE = 5, RK_KEXT_LOG_INFO = 6, RK_KEXT_LOG_DEBUG = 7 };

/* A driver class.  Only name and start are required. */
typedef struct rk_kext_class {
        const char *name;  /* the IOClass its personalities name (at most 63 bytes) */
        /* 0 to go on (may change *score), -ENODEV/-ENXIO: not mine, next candidate */
        int (*probe)(rk_kext_service *provider, int64_t *score);
        /* 0, or a negative errno: the next candidate is tried.  *state is handed to stop and call. */
        int (*start)(rk_kext_service *provider, rk_kext_service *self, void **state);
        void (*stop)(rk_kext_service *self, void *state);
        /* an optional method (selector, arguments in, one result out): ringctl kext-call, bench */
        int (*call)(void *state, uint64_t selector, uint64_t arg, uint64_t *result);
} rk_kext_class;

/*
 * A callback a kext keeps in its own memory, signed by host->sign: the
 * signature covers the pointer and the slot's address (as PAC's context
 * does), so neither a changed pointer nor a copied slot authenticates.
 */
typedef struct rk_kext_fn {
        void (*fn)(void *ctx);
        uint64_t mac;
} rk_kext_fn;

/* What ringd offers a kext: a table, so the shared object links against nothing of ringd's. */
typedef struct rk_kext_host {
        uint32_t abi_version;   /* RK_KEXT_ABI_VERSION */
        uint32_t size;          /* sizeof(rk_kext_host) of ringd's build: newer members follow */
        /* 0, -EINVAL (no name/start, name too long), -EEXIST, -ENOSPC (too many), -EPERM (after start) */
        int (*register_class)(rk_kext *k, const rk_kext_class *cls);
        void (*log)(rk_kext_service *s, int level, const char *message); /* s may be NULL: the kext */
        void (*kext_log)(rk_kext *k, int level, const char *message);
        const char *(*service_name)(rk_kext_service *s);
        uint64_t (*service_id)(rk_kext_service *s);
        /* A string property of the service (its personality's keys for the driver's own), or NULL. */
        const char *(*service_property)(rk_kext_service *s, const char *key);
        int (*set_property)(rk_kext_service *s, const char *key, const char *value); /* 0, -EINVAL, -ENOMEM */
        /*
         * Publish a nub under `parent` (the driver's own service): class name,
         * service name, string properties as key, value, ..., NULL.  Matching
         * runs on it once start returns.  0 and *ret_id, -EINVAL, -ENOMEM.
         */
        int (*publish)(rk_kext_service *parent, const char *class_name, const char *name,
                       const char *const *props, uint64_t *ret_id);
        /* Sign fn into *slot (which the kext owns and keeps).  0, -EINVAL. */
        int (*sign)(rk_kext *k, rk_kext_fn *slot, void (*fn)(void *ctx));
        /* Call slot's function with ctx after usec, once, unless s stops first.  0, -EINVAL, -ENOMEM. */
        int (*timer)(rk_kext_service *s, const rk_kext_fn *slot, void *ctx, uint64_t usec);
} rk_kext_host;

typedef struct rk_kext_descriptor {
        uint32_t abi_version;   /* RK_KEXT_ABI_VERSION */
        uint32_t reserved;
        int (*start)(rk_kext *k, const rk_kext_host *host);  /* required: registers classes */
        void (*stop)(rk_kext *k);                            /* optional */
} rk_kext_descriptor;

#define RK_KEXT_DECLARE(start_fn, stop_fn)                                                      \
        __attribute__((visibility("default"))) extern const rk_kext_descriptor rk_kext_descriptor_v1; \
        const rk_kext_descriptor rk_kext_descriptor_v1 = { RK_KEXT_ABI_VERSION, 0, (start_fn), (stop_fn) }

#ifdef __cplusplus
}
#endif
