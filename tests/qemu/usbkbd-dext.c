/* SPDX-License-Identifier: MIT */
/*
 * rk-usbkbd-dext: the QEMU lane's user-space USB driver.  It drives a USB
 * keyboard through usbfs by itself: takes interface 0 from its kernel
 * driver, keeps one interrupt-IN URB in flight on the interface's first
 * interrupt endpoint, and logs every report; at stop it gives the interface
 * back to the kernel driver.  It proves the usbfs path a USB family will
 * take (issue 6, item 1) and lets the lane kill a dext mid-transfer.
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
#include <linux/usb/ch9.h>
#include <linux/usbdevice_fs.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "ringkit/driver.h"

typedef struct kbd {
        int fd;
        bool owns_fd;
        unsigned ifno;
        unsigned char ep;
        unsigned char buf[64];
        struct usbdevfs_urb urb;
        bool in_flight;
        rk_driver_watch *watch;
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

/* The first interrupt-IN endpoint of interface `ifno` in the active
 * configuration, from the descriptors usbfs returns on read(). */
static int find_interrupt_in(int fd, unsigned ifno, unsigned char *ret) {
        unsigned char desc[4096];
        ssize_t n = pread(fd, desc, sizeof(desc), 0);
        int cur_if = -1;

        if (n < (ssize_t) USB_DT_DEVICE_SIZE)
                return n < 0 ? -errno : -EIO;
        for (ssize_t off = desc[0]; off + 2 <= n && desc[off] >= 2; off += desc[off]) {
                if (desc[off + 1] == USB_DT_INTERFACE && off + 3 <= n)
                        cur_if = desc[off + 2];
                else if (desc[off + 1] == USB_DT_ENDPOINT && off + 4 <= n && cur_if == (int) ifno &&
                         (desc[off + 2] & USB_ENDPOINT_DIR_MASK) == USB_DIR_IN &&
                         (desc[off + 3] & USB_ENDPOINT_XFERTYPE_MASK) == USB_ENDPOINT_XFER_INT) {
                        *ret = desc[off + 2];
                        return 0;
                }
        }
        return -ENOENT;
}

static int submit(kbd *k) {
        memset(&k->urb, 0, sizeof(k->urb));
        k->urb.type = USBDEVFS_URB_TYPE_INTERRUPT;
        k->urb.endpoint = k->ep;
        k->urb.buffer = k->buf;
        k->urb.buffer_length = 8;
        if (ioctl(k->fd, USBDEVFS_SUBMITURB, &k->urb) < 0)
                return -errno;
        k->in_flight = true;
        return 0;
}

static void stop_watching(kbd *k) {
        if (k->watch)
                rk_driver_watch_cancel(k->watch);
        k->watch = NULL;
}

/* usbfs makes the fd writable when a URB completes: reap it, log the
 * report, submit again.  A device unplugged under us completes its URB with
 * an error and refuses new ones (ENODEV): stop reading and wait for ringd,
 * which stops this instance when the device's nub goes. */
static void on_ready(rk_driver *d, rk_driver_watch *w, int fd, uint32_t revents, void *ud) {
        kbd *k = ud;
        struct usbdevfs_urb *done;
        char hex[3 * sizeof(k->buf) + 1] = "";
        int r;

        while (ioctl(fd, USBDEVFS_REAPURBNDELAY, &done) == 0) {
                k->in_flight = false;
                if (done->status == 0) {
                        for (int i = 0; i < done->actual_length && i < (int) sizeof(k->buf); i++)
                                snprintf(hex + 3 * i, 4, " %02x", k->buf[i]);
                        report(d, "report %d%s", (int) getpid(), hex);
                } else if (done->status == -ENODEV || done->status == -ESHUTDOWN) {
                        break;
                } else {
                        rk_driver_log(d, RK_LOG_WARNING, "interrupt URB: %s", strerror(-done->status));
                }
                r = submit(k);
                if (r == -ENODEV)
                        break;
                if (r < 0) {
                        rk_driver_log(d, RK_LOG_ERR, "resubmit: %s", strerror(-r));
                        rk_driver_terminate(d, r);
                        return;
                }
        }
        if (errno == ENODEV || !k->in_flight) {
                rk_driver_log(d, RK_LOG_INFO, "the device is gone; waiting to be stopped");
                report(d, "gone %d", (int) getpid());
                stop_watching(k);
        }
}

static int k_start(rk_driver *d) {
        struct usbdevfs_ioctl disc = { .ifno = 0, .ioctl_code = USBDEVFS_DISCONNECT };
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
        r = find_interrupt_in(k->fd, k->ifno, &k->ep);
        if (r < 0) {
                rk_driver_log(d, RK_LOG_ERR, "no interrupt-IN endpoint on interface %u: %s", k->ifno, strerror(-r));
                return r;
        }
        if (ioctl(k->fd, USBDEVFS_IOCTL, &disc) < 0 && errno != ENODATA)
                rk_driver_log(d, RK_LOG_WARNING, "detaching the kernel driver: %s", strerror(errno));
        if (ioctl(k->fd, USBDEVFS_CLAIMINTERFACE, &k->ifno) < 0) {
                r = -errno;
                rk_driver_log(d, RK_LOG_ERR, "claiming interface %u: %s", k->ifno, strerror(errno));
                return r;
        }
        r = rk_driver_watch_fd(d, k->fd, EPOLLOUT, on_ready, k, &k->watch);
        if (r < 0)
                return r;
        r = submit(k);
        if (r < 0)
                return r;
        report(d, "claimed %d 0x%02x %s", (int) getpid(), k->ep, k->owns_fd ? "opened" : "handle");
        rk_driver_log(d, RK_LOG_INFO, "reading endpoint 0x%02x of interface %u", k->ep, k->ifno);
        rk_driver_set_integer(d, "RKInterruptEndpoint", k->ep);
        return rk_driver_register_service(d);
}

static void k_stop(rk_driver *d) {
        struct usbdevfs_ioctl conn = { .ifno = 0, .ioctl_code = USBDEVFS_CONNECT };
        kbd *k = rk_driver_get_ivars(d);
        struct usbdevfs_urb *done;

        if (!k || k->fd < 0)
                return;
        stop_watching(k);
        if (k->in_flight && ioctl(k->fd, USBDEVFS_DISCARDURB, &k->urb) == 0)
                (void) ioctl(k->fd, USBDEVFS_REAPURB, &done);
        k->in_flight = false;
        (void) ioctl(k->fd, USBDEVFS_RELEASEINTERFACE, &k->ifno);
        conn.ifno = k->ifno;
        (void) ioctl(k->fd, USBDEVFS_IOCTL, &conn); /* give it back to the kernel driver */
        report(d, "released %d", (int) getpid());
}

static void k_free(rk_driver *d) {
        kbd *k = rk_driver_get_ivars(d);

        if (k && k->owns_fd)
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
