/* SPDX-License-Identifier: MIT */
/*
 * HelloKext: the smallest useful kext (docs/kexts.md).  Its class
 * RKHelloKextDriver attaches to an RKHelloDevice (ringctl virt add --class
 * RKHelloDevice), logs, sets a property on its service, publishes an
 * RKHelloPort nub for other drivers to match, and counts calls
 * (ringctl kext-call SERVICE-ID 0 N answers N + 1).
 *
 * Build: cc -shared -fPIC -fcf-protection=full -nostartfiles -I include \
 *           -o HelloKext.kext/Contents/MacOS/hello-kext.so hello-kext.c
 * (meson builds it as samples/kexts/hello-kext.so), then sign the bundle
 * with ringkit-sign and copy it into an extension directory.
 */
#include <errno.h>
#include <stdio.h>

#include "ringkit/kext.h"

static const rk_kext_host *host;

typedef struct hello {
        uint64_t calls;
        uint64_t port;
} hello;

static hello the_driver; /* one instance is enough for a sample; a real kext would allocate per start */

static int hello_start(rk_kext_service *provider, rk_kext_service *self, void **state) {
        static const char *const props[] = { "RKHelloGreeting", "hello from a kext", NULL };
        char msg[160];
        int r;

        snprintf(msg, sizeof(msg), "attached to %s (0x%llx)", host->service_name(provider),
                 (unsigned long long) host->service_id(provider));
        host->log(self, RK_KEXT_LOG_NOTICE, msg);
        r = host->set_property(self, "RKHelloState", "running");
        if (r < 0)
                return r;
        r = host->publish(self, "RKHelloPort", "hello-port", props, &the_driver.port);
        if (r < 0)
                return r;
        *state = &the_driver;
        return 0;
}

static void hello_stop(rk_kext_service *self, void *state) {
        host->log(self, RK_KEXT_LOG_NOTICE, "detached");
}

static int hello_call(void *state, uint64_t selector, uint64_t arg, uint64_t *result) {
        hello *h = state;
        h->calls++;
        if (selector != 0)
                return -EINVAL;
        *result = arg + 1;
        return 0;
}

static const rk_kext_class hello_class = {
        .name = "RKHelloKextDriver",
        .start = hello_start,
        .stop = hello_stop,
        .call = hello_call,
};

static int hello_kext_start(rk_kext *k, const rk_kext_host *h) {
        if (h->abi_version != RK_KEXT_ABI_VERSION)
                return -EPROTO;
        host = h;
        return h->register_class(k, &hello_class);
}

RK_KEXT_DECLARE(hello_kext_start, NULL);
