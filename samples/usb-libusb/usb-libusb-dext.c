/* SPDX-License-Identifier: MIT */
/*
 * usb-libusb-dext: a dext whose author prefers libusb.  ringd hands the
 * driver its device's usbfs descriptor; libusb_wrap_sys_device() turns it
 * into a libusb_device_handle without libusb scanning /dev/bus/usb (which
 * the sandbox would not allow anyway: LIBUSB_OPTION_NO_DEVICE_DISCOVERY).
 * From there it is plain libusb: descriptors, strings, claiming, transfers.
 *
 * This one logs the device descriptor and product string, and, on the
 * interface of its provider (interface 0 on a device nub), claims it (detaching the kernel driver) and
 * releases it again (reattaching), reporting each step to RKReportLog
 * (the QEMU lane's 67-usb-libusb.sh checks them).  libusb's own event
 * handling stays libusb's: an author who needs async transfers on the
 * dispatch queue watches libusb's pollfds with rk_driver_watch_fd, or
 * uses ringkit's USB SDK (include/ringkit/usb.h) on the same descriptor.
 *
 * Build: part of meson when libusb-1.0 is found (scripts/deps.sh installs
 * libusb-1.0-0-dev).  Personality: IOProviderClass IOUSBHostInterface (or
 * IOUSBHostDevice) with idVendor/idProduct; IOUserClass RKLibusbSample.
 */
#include <errno.h>
#include <fcntl.h>
#include <libusb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ringkit/driver.h"

typedef struct sample {
        libusb_context *ctx;
        libusb_device_handle *h;
} sample;

static void report(rk_driver *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(rk_driver *d, const char *fmt, ...) {
        const char *path = NULL;
        char line[512];
        va_list ap;
        int fd, n;

        va_start(ap, fmt);
        n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        if ((size_t) n > sizeof(line) - 2)
                n = (int) sizeof(line) - 2;
        rk_driver_log(d, RK_LOG_INFO, "%.*s", n, line);
        if (rk_driver_get_string(d, "RKReportLog", &path) < 0)
                return;
        line[n++] = '\n';
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0) {
                if (write(fd, line, (size_t) n) < 0)
                        rk_driver_log(d, RK_LOG_WARNING, "%s: %s", path, strerror(errno));
                close(fd);
        }
}

static int l_start(rk_driver *d) {
        struct libusb_device_descriptor dd;
        unsigned char product[128] = "";
        int64_t ifno = 0; /* the provider interface's number; interface 0 on a device nub */
        sample *s;
        int fd = rk_driver_get_provider_handle(d), r;

        if (fd < 0)
                return -ENODEV;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        rk_driver_set_ivars(d, s);
        /* before libusb_init: do not enumerate /dev/bus/usb, use only the wrapped descriptor */
        r = libusb_set_option(NULL, LIBUSB_OPTION_NO_DEVICE_DISCOVERY);
        if (r == LIBUSB_SUCCESS)
                r = libusb_init(&s->ctx);
        if (r == LIBUSB_SUCCESS)
                r = libusb_wrap_sys_device(s->ctx, (intptr_t) fd, &s->h);
        if (r != LIBUSB_SUCCESS) {
                report(d, "libusb error %s", libusb_error_name(r));
                return -EIO;
        }
        r = libusb_get_device_descriptor(libusb_get_device(s->h), &dd);
        if (r == LIBUSB_SUCCESS && dd.iProduct)
                (void) libusb_get_string_descriptor_ascii(s->h, dd.iProduct, product, sizeof(product));
        report(d, "libusb wrapped rc=%d idVendor=%04x idProduct=%04x product=%s", r, dd.idVendor, dd.idProduct,
               (char *) product);
        (void) rk_driver_get_integer(d, "bInterfaceNumber", &ifno);
        {
                int active = libusb_kernel_driver_active(s->h, (int) ifno);
                r = libusb_set_auto_detach_kernel_driver(s->h, 1);
                if (r == LIBUSB_SUCCESS)
                        r = libusb_claim_interface(s->h, (int) ifno);
                report(d, "libusb claim interface=%d kernel-driver-was-active=%d rc=%d", (int) ifno, active, r);
                if (r == LIBUSB_SUCCESS) {
                        r = libusb_release_interface(s->h, (int) ifno); /* auto-detach: reattaches the kernel driver */
                        report(d, "libusb release rc=%d", r);
                }
        }
        return rk_driver_register_service(d);
}

static void l_free(rk_driver *d) {
        sample *s = rk_driver_get_ivars(d);

        if (!s)
                return;
        if (s->h)
                libusb_close(s->h); /* does not close the descriptor: the SDK owns it */
        if (s->ctx)
                libusb_exit(s->ctx);
        free(s);
}

static const rk_driver_class libusb_class = { .name = "RKLibusbSample", .start = l_start, .free = l_free };

int main(int argc, char **argv) {
        const rk_driver_class *classes[] = { &libusb_class };
        return rk_driver_main(argc, argv, classes, 1);
}
