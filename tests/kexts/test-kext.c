/* SPDX-License-Identifier: MIT */
/*
 * The test kext (tests/test-kext.sh): one shared object with every class
 * the tests need; the bundles differ in the personalities that name them.
 *
 *   RKTestKextDriver  records "start PROVIDER" in RKTestRecord, publishes an
 *                     RKTestKextNub, sets a property; its call method
 *                     returns arg + 1 (selector 0) or its start count (1)
 *   RKTestKextChild   matched on that nub: records "child PROVIDER"
 *   RKTestKextCrash   its start writes through a NULL pointer (a kext fault)
 *   RKTestKextForge   its start signs a timer callback into its own memory,
 *                     then overwrites the pointer (a forged callback)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ringkit/kext.h"

static const rk_kext_host *host;
static rk_kext *self_kext;
static unsigned starts;

static void record(rk_kext_service *s, const char *what, const char *arg) {
        const char *path = host->service_property(s, "RKTestRecord");
        char line[256];
        int fd, n;

        if (!path)
                return;
        n = snprintf(line, sizeof(line), "%s %s\n", what, arg ? arg : "?");
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
                return;
        if (write(fd, line, (size_t) n) < 0)
                host->log(s, RK_KEXT_LOG_WARNING, "cannot write the record");
        close(fd);
}

static int drv_start(rk_kext_service *provider, rk_kext_service *me, void **state) {
        static const char *const props[] = { "RKTestFrom", "test-kext", NULL };
        uint64_t id = 0;
        int r;

        starts++;
        record(me, "start", host->service_name(provider));
        (void) host->set_property(me, "RKTestKextState", "running");
        r = host->publish(me, "RKTestKextNub", "test-kext-nub", props, &id);
        if (r < 0)
                return r;
        *state = &starts;
        host->log(me, RK_KEXT_LOG_INFO, "test kext driver started");
        return 0;
}

static void drv_stop(rk_kext_service *me, void *state) {
        record(me, "stop", host->service_name(me));
}

static int drv_call(void *state, uint64_t selector, uint64_t arg, uint64_t *result) {
        switch (selector) {
        case 0:
                *result = arg + 1;
                return 0;
        case 1:
                *result = *(unsigned *) state;
                return 0;
        default:
                return -EINVAL;
        }
}

static int child_start(rk_kext_service *provider, rk_kext_service *me, void **state) {
        record(me, "child", host->service_name(provider));
        return 0;
}

static int crash_start(rk_kext_service *provider, rk_kext_service *me, void **state) {
        volatile int *volatile p = NULL;
        record(me, "crashing", host->service_name(provider));
        *p = 42; /* a kext fault: ringd panics */
        return 0;
}

static rk_kext_fn forged_slot; /* in the kext's own (writable) memory, like a vtable pointer in an object */

static void honest_cb(void *ctx) {
        record(ctx, "timer", "honest");
}

static void evil_cb(void *ctx) {
        record(ctx, "timer", "EVIL-RAN");
}

static int forge_start(rk_kext_service *provider, rk_kext_service *me, void **state) {
        int r = host->sign(self_kext, &forged_slot, honest_cb);
        if (r < 0)
                return r;
        record(me, "forging", host->service_name(provider));
        forged_slot.fn = evil_cb; /* the forgery: a different pointer under the old signature */
        return host->timer(me, &forged_slot, me, 0);
}

static const rk_kext_class classes[] = {
        { .name = "RKTestKextDriver", .start = drv_start, .stop = drv_stop, .call = drv_call },
        { .name = "RKTestKextChild", .start = child_start },
        { .name = "RKTestKextCrash", .start = crash_start },
        { .name = "RKTestKextForge", .start = forge_start },
};

static int kext_start(rk_kext *k, const rk_kext_host *h) {
        if (h->abi_version != RK_KEXT_ABI_VERSION || h->size < sizeof(*h))
                return -EPROTO;
        host = h;
        self_kext = k;
        for (size_t n = 0; n < sizeof(classes) / sizeof(classes[0]); n++) {
                int r = h->register_class(k, &classes[n]);
                if (r < 0)
                        return r;
        }
        h->kext_log(k, RK_KEXT_LOG_INFO, "test kext: 4 classes");
        return 0;
}

RK_KEXT_DECLARE(kext_start, NULL);
