/* SPDX-License-Identifier: MIT */
/*
 * hello: a sample dext.  It matches a virtual device (RKHelloDevice), sends
 * it a greeting every second through its handle, reads the answer (the
 * device model echoes it, upper-cased with RKVirtualModel=upper) and
 * publishes what it heard as properties:
 *
 *   ringctl registry -l      shows HelloSent, HelloHeard, HelloLastReply
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "ringkit/driver.h"

typedef struct hello {
        rk_driver_timer *tick;
        rk_driver_watch *watch;
        int64_t sent, heard;
} hello;

static void on_tick(rk_driver *d, rk_driver_timer *t, void *ud) {
        hello *h = ud;
        char msg[64];
        int n = snprintf(msg, sizeof(msg), "hello #%lld", (long long) ++h->sent);

        if (write(rk_driver_get_provider_handle(d), msg, (size_t) n) != n)
                rk_driver_log(d, RK_LOG_WARNING, "the device did not take the greeting: %s", strerror(errno));
        rk_driver_set_integer(d, "HelloSent", h->sent);
}

static void on_reply(rk_driver *d, rk_driver_watch *w, int fd, uint32_t revents, void *ud) {
        hello *h = ud;
        char buf[128];
        ssize_t n = read(fd, buf, sizeof(buf) - 1);

        if (n <= 0)
                return;
        buf[n] = 0;
        h->heard++;
        rk_driver_set_integer(d, "HelloHeard", h->heard);
        rk_driver_set_string(d, "HelloLastReply", buf);
}

static int hello_start(rk_driver *d) {
        int fd = rk_driver_get_provider_handle(d);
        int64_t period_ms = 1000;
        hello *h;
        int r;

        if (fd < 0)
                return -ENODEV;
        (void) rk_driver_get_integer(d, "HelloPeriodMs", &period_ms); /* a configuration key */
        h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        rk_driver_set_ivars(d, h);
        (void) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        r = rk_driver_watch_fd(d, fd, EPOLLIN, on_reply, h, &h->watch);
        if (r == 0)
                r = rk_driver_timer_new(d, 1000, (uint64_t) period_ms * 1000, on_tick, h, &h->tick);
        if (r < 0) {
                rk_driver_watch_cancel(h->watch);
                free(h);
                return r;
        }
        rk_driver_log(d, RK_LOG_INFO, "saying hello to %s every %lld ms", rk_driver_get_provider_name(d),
                      (long long) period_ms);
        return rk_driver_register_service(d);
}

static void hello_stop(rk_driver *d) {
        hello *h = rk_driver_get_ivars(d);

        rk_driver_log(d, RK_LOG_INFO, "goodbye: %lld sent, %lld heard", (long long) h->sent, (long long) h->heard);
        rk_driver_timer_cancel(h->tick);
        rk_driver_watch_cancel(h->watch);
        free(h);
}

static const rk_driver_class hello_class = { .name = "HelloDriver", .start = hello_start, .stop = hello_stop };

int main(int argc, char **argv) {
        const rk_driver_class *classes[] = { &hello_class };
        return rk_driver_main(argc, argv, classes, 1);
}
