/* SPDX-License-Identifier: MIT */
/*
 * rk-usbkbd-dext: the QEMU lane's user-space USB driver.  It drives a USB
 * keyboard through the USB family SDK (include/ringkit/usb.h): opens
 * interface 0 (detaching usbhid), keeps one interrupt-IN request in flight
 * on the interface's interrupt pipe, and logs every report; at stop it
 * closes the interface, which gives it back to the kernel driver.  It lets
 * the lane kill a dext mid-transfer (60-usbfs.sh).
 *
 * The device: the provider handle ringd passes (a fresh fd on
 * /dev/bus/usb/BBB/DDD per instance, so a killed instance's claims and
 * URBs die with it), else the provider's RKDevNode opened here (possible
 * only unsandboxed).
 *
 * Personality keys:
 *   RKReportLog   path: appends "claimed PID EP handle|opened" (the fd came
 *                 from ringd, or was opened here), "report PID HEX...",
 *                 "released PID" lines (O_APPEND, one line per write)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ringkit/driver.h"
#include "ringkit/usb.h"

typedef struct kbd {
        int fd;
        bool owns_fd, stopping;
        rk_usb_device *dev;
        rk_usb_interface *intf;
        rk_usb_pipe *in;
        unsigned char buf[64];
} kbd;

static void report(rk_driver *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(rk_driver *d, const char *fmt, ...) {
        const char *path = NULL;
        char line[512];
        va_list ap;
        int fd, n;

        if (rk_driver_get_string(d, "RKReportLog", &path) < 0)
                return;
        va_start(ap, fmt);
        n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        if ((size_t) n > sizeof(line) - 2)
                n = (int) sizeof(line) - 2;
        line[n++] = '\n';
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
                return;
        if (write(fd, line, (size_t) n) < 0)
                rk_driver_log(d, RK_LOG_WARNING, "%s: %s", path, strerror(errno));
        close(fd);
}

static void on_report(rk_usb_request *req, int status, size_t actual, void *ud);

static int submit(rk_driver *d, kbd *k) {
        return rk_usb_pipe_async_io(k->in, k->buf, 8, on_report, d, NULL);
}

/* A report (or the end): log it and read again.  A device unplugged under
 * us completes the request with -ENODEV: stop reading and wait for ringd,
 * which stops this instance when the device's nub goes. */
static void on_report(rk_usb_request *req, int status, size_t actual, void *ud) {
        rk_driver *d = ud;
        kbd *k = rk_driver_get_ivars(d);
        char hex[3 * sizeof(k->buf) + 1] = "";
        int r;

        (void) req;
        if (k->stopping || status == -ECANCELED)
                return;
        if (status == 0) {
                for (size_t i = 0; i < actual && i < sizeof(k->buf); i++)
                        snprintf(hex + 3 * i, 4, " %02x", k->buf[i]);
                report(d, "report %d%s", (int) getpid(), hex);
        } else if (status != -ENODEV) {
                rk_driver_log(d, RK_LOG_WARNING, "interrupt request: %s", strerror(-status));
        }
        r = status == -ENODEV ? -ENODEV : submit(d, k);
        if (r == -ENODEV) {
                rk_driver_log(d, RK_LOG_INFO, "the device is gone; waiting to be stopped");
                report(d, "gone %d", (int) getpid());
        } else if (r < 0) {
                rk_driver_log(d, RK_LOG_ERR, "resubmit: %s", strerror(-r));
                rk_driver_terminate(d, r);
        }
}

static int k_start(rk_driver *d) {
        const char *node = NULL;
        kbd *k;
        int r;

        k = calloc(1, sizeof(*k));
        if (!k)
                return -ENOMEM;
        rk_driver_set_ivars(d, k);
        k->fd = rk_driver_get_provider_handle(d);
        if (k->fd < 0) {
                if (rk_driver_get_string(d, "RKDevNode", &node) < 0)
                        return -ENODEV;
                k->fd = open(node, O_RDWR | O_CLOEXEC);
                if (k->fd < 0) {
                        rk_driver_log(d, RK_LOG_ERR, "%s: %s", node, strerror(errno));
                        return -errno;
                }
                k->owns_fd = true;
        }
        r = k->owns_fd ? rk_usb_device_new_fd(d, k->fd, &k->dev) : rk_usb_device_new(d, &k->dev);
        if (r < 0) {
                rk_driver_log(d, RK_LOG_ERR, "reading the device: %s", strerror(-r));
                return r;
        }
        r = rk_usb_interface_open(k->dev, 0, &k->intf); /* detaches usbhid */
        if (r < 0) {
                rk_driver_log(d, RK_LOG_ERR, "opening interface 0: %s", strerror(-r));
                return r;
        }
        r = rk_usb_interface_find_pipe(k->intf, RK_USB_XFER_INTERRUPT, true, &k->in);
        if (r < 0) {
                rk_driver_log(d, RK_LOG_ERR, "no interrupt-IN endpoint on interface 0: %s", strerror(-r));
                return r;
        }
        r = submit(d, k);
        if (r < 0)
                return r;
        report(d, "claimed %d 0x%02x %s", (int) getpid(), rk_usb_pipe_get_address(k->in),
               k->owns_fd ? "opened" : "handle");
        rk_driver_log(d, RK_LOG_INFO, "reading endpoint 0x%02x of interface 0", rk_usb_pipe_get_address(k->in));
        rk_driver_set_integer(d, "RKInterruptEndpoint", rk_usb_pipe_get_address(k->in));
        return rk_driver_register_service(d);
}

static void k_stop(rk_driver *d) {
        kbd *k = rk_driver_get_ivars(d);

        if (!k || !k->intf)
                return;
        k->stopping = true;
        rk_usb_interface_close(k->intf); /* cancels the request, gives the interface back to usbhid */
        k->intf = NULL;
        report(d, "released %d", (int) getpid());
}

static void k_free(rk_driver *d) {
        kbd *k = rk_driver_get_ivars(d);

        if (!k)
                return;
        k->stopping = true;
        rk_usb_interface_close(k->intf);
        rk_usb_device_free(k->dev);
        if (k->owns_fd)
                close(k->fd);
        free(k);
}

static const rk_driver_class kbd_class = {
        .name = "RKQEMUUSBKeyboard", .start = k_start, .stop = k_stop, .free = k_free,
};

int main(int argc, char **argv) {
        const rk_driver_class *classes[] = { &kbd_class };
        return rk_driver_main(argc, argv, classes, 1);
}
