/* SPDX-License-Identifier: MIT */
/*
 * The driver bench-kext calls, one source built two ways (bench/meson.build):
 *
 *   -DRK_BENCH_KEXT: a kext (kext ABI, class RKBenchDriver with a call method)
 *   otherwise:       a dext-style process serving the same call over a
 *                    ringkit channel on fd 3 (ipc/msg.h framing, as ringd
 *                    talks to dexts): request {selector, arg}, reply {status, result}
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

/* the driver's one method: selector 0 counts and echoes arg + 1, 1 the count */
typedef struct bench_state {
        uint64_t calls;
} bench_state;

static int driver_call(void *state, uint64_t selector, uint64_t arg, uint64_t *result) {
        bench_state *s = state;
        s->calls++;
        switch (selector) {
        case 0:
                *result = arg + 1;
                return 0;
        case 1:
                *result = s->calls;
                return 0;
        default:
                return -EINVAL;
        }
}

#ifdef RK_BENCH_KEXT
#include "ringkit/kext.h"

static bench_state the_state;

static int drv_start(rk_kext_service *provider, rk_kext_service *self, void **state) {
        *state = &the_state;
        return 0;
}

static const rk_kext_class bench_class = { .name = "RKBenchDriver", .start = drv_start, .call = driver_call };

static int kext_start(rk_kext *k, const rk_kext_host *h) {
        return h->register_class(k, &bench_class);
}

RK_KEXT_DECLARE(kext_start, NULL);
#else
#include "ipc/msg.h"

int main(void) {
        bench_state st = { 0 };
        rk_channel *ch = NULL;

        if (rk_channel_new(3, 0, &ch) < 0)
                return 1;
        for (;;) {
                rk_msg m = RK_MSG_INIT;
                uint64_t req[2], rep[2];
                int r = rk_channel_recv_wait(ch, &m, -1);
                if (r < 0)
                        break;
                if (m.len != sizeof(req)) {
                        rk_msg_done(&m);
                        continue;
                }
                memcpy(req, m.data, sizeof(req));
                rk_msg_done(&m);
                rep[1] = 0;
                rep[0] = (uint64_t) (int64_t) driver_call(&st, req[0], req[1], &rep[1]);
                if (rk_channel_send(ch, 2, 0, -EBADF, rep, sizeof(rep)) < 0)
                        break;
        }
        rk_channel_free(ch);
        return 0;
}
#endif
