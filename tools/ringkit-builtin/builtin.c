/* SPDX-License-Identifier: MIT */
/*
 * ringkit-builtin: the built-in driver classes that codeless bundles map
 * hardware to (a personality with no executable of its own names one of
 * these in IOClass or IOUserClass).  ringd runs this host as the dext.
 *
 *   RKNullDriver        attaches and does nothing: claims a device so no
 *                       other driver in its category takes it
 *   RKSerialPTYDriver   a serial port for programs: opens a pseudo-terminal,
 *                       publishes an IOSerialBSDClient nub whose IOTTYDevice
 *                       is the pty's path, and moves bytes both ways between
 *                       the pty and the provider's handle (a byte stream,
 *                       e.g. a virtual UART)
 *   RKHIDEventDriver    a HID device's hidraw node to input events: parses
 *                       the report descriptor, creates a uinput device and
 *                       turns keyboard, mouse and pointer reports into key,
 *                       relative and absolute events (hid.c, docs/hid.md)
 *   RKUSBSerialDriver   a USB serial adapter (FTDI FT232, CDC-ACM) through
 *                       usbfs as a pty, line settings from the pty's termios
 *                       to the chip (usbserial.c, docs/usb-serial.md)
 *
 * `ringkit-builtin --self-test-hid` runs the HID report-descriptor parser
 * and report translator on known descriptors and exits (0: all passed);
 * `--self-test-usbserial` the USB serial driver's descriptor parser and
 * FTDI framing.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "hid.h"
#include "usbserial.h"
#include "ringkit/driver.h"

/* ---- RKNullDriver ---- */

static int null_start(rk_driver *d) {
        rk_driver_log(d, RK_LOG_INFO, "attached to %s", rk_driver_get_provider_name(d));
        return rk_driver_register_service(d);
}

static const rk_driver_class null_driver = { .name = "RKNullDriver", .start = null_start };

/* ---- RKSerialPTYDriver ---- */

typedef struct pty {
        int master, slave;
        rk_driver_watch *from_pty, *from_dev;
        char path[128];
        uint64_t to_dev, to_pty;
} pty;

/* Copy what is readable on `from` to `to`; a full `to` drops nothing: we stop reading until it drains. */
static void shuttle(rk_driver *d, int from, int to, uint64_t *count) {
        char buf[4096];
        ssize_t n = read(from, buf, sizeof(buf));

        if (n <= 0)
                return;
        for (ssize_t off = 0; off < n;) {
                ssize_t w = write(to, buf + off, (size_t) (n - off));
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                usleep(1000); /* a pty or socket drains quickly; keep ordering simple */
                                continue;
                        }
                        rk_driver_log(d, RK_LOG_WARNING, "write: %s", strerror(errno));
                        return;
                }
                off += w;
        }
        *count += (uint64_t) n;
}

static void on_pty(rk_driver *d, rk_driver_watch *w, int fd, uint32_t revents, void *ud) {
        pty *p = ud;
        shuttle(d, p->master, rk_driver_get_provider_handle(d), &p->to_dev);
}

static void on_dev(rk_driver *d, rk_driver_watch *w, int fd, uint32_t revents, void *ud) {
        pty *p = ud;
        if (revents & (EPOLLHUP | EPOLLERR)) {
                rk_driver_log(d, RK_LOG_NOTICE, "device handle closed");
                rk_driver_watch_cancel(p->from_dev);
                p->from_dev = NULL;
                return;
        }
        shuttle(d, fd, p->master, &p->to_pty);
}

static int pty_start(rk_driver *d) {
        int dev = rk_driver_get_provider_handle(d);
        struct termios t;
        rk_driver_nub *nub;
        pty *p;
        int r;

        if (dev < 0) {
                rk_driver_log(d, RK_LOG_ERR, "the provider has no handle to drive");
                return -ENODEV;
        }
        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->slave = -EBADF;
        p->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
        if (p->master < 0 || grantpt(p->master) < 0 || unlockpt(p->master) < 0 ||
            ptsname_r(p->master, p->path, sizeof(p->path)) != 0) {
                r = -errno;
                goto fail;
        }
        /* a slave of our own: without it the master reports EPOLLHUP for good
         * once the last program closes the port, and the watch spins */
        p->slave = ioctl(p->master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
        /* raw: bytes pass unchanged, as a UART would carry them */
        if (tcgetattr(p->master, &t) == 0) {
                cfmakeraw(&t);
                (void) tcsetattr(p->master, TCSANOW, &t);
        }
        (void) fcntl(dev, F_SETFL, fcntl(dev, F_GETFL) | O_NONBLOCK);
        rk_driver_set_ivars(d, p);
        if ((r = rk_driver_watch_fd(d, p->master, EPOLLIN, on_pty, p, &p->from_pty)) < 0 ||
            (r = rk_driver_watch_fd(d, dev, EPOLLIN, on_dev, p, &p->from_dev)) < 0)
                goto fail;
        (void) rk_driver_set_string(d, "IOTTYDevice", p->path);
        r = rk_driver_nub_new(d, (const char *[]){ "IOSerialBSDClient" }, 1, "serial", &nub);
        if (r < 0)
                goto fail;
        (void) rk_driver_nub_set_string(nub, "IOTTYDevice", p->path);
        (void) rk_driver_nub_set_string(nub, "IOCalloutDevice", p->path);
        r = rk_driver_nub_publish(nub, -EBADF, NULL, NULL);
        if (r < 0)
                goto fail;
        rk_driver_log(d, RK_LOG_INFO, "serial port %s for %s", p->path, rk_driver_get_provider_name(d));
        return rk_driver_register_service(d);
fail:
        rk_driver_log(d, RK_LOG_ERR, "cannot start: %s", strerror(-r));
        rk_driver_watch_cancel(p->from_pty);
        rk_driver_watch_cancel(p->from_dev);
        if (p->slave >= 0)
                close(p->slave);
        if (p->master >= 0)
                close(p->master);
        free(p);
        rk_driver_set_ivars(d, NULL);
        return r;
}

static void pty_stop(rk_driver *d) {
        pty *p = rk_driver_get_ivars(d);

        if (!p)
                return;
        rk_driver_log(d, RK_LOG_INFO, "serial port %s closing (%llu bytes out, %llu in)", p->path,
                      (unsigned long long) p->to_dev, (unsigned long long) p->to_pty);
        rk_driver_watch_cancel(p->from_pty);
        rk_driver_watch_cancel(p->from_dev);
        if (p->slave >= 0)
                close(p->slave);
        close(p->master);
        free(p);
        rk_driver_set_ivars(d, NULL);
}

static const rk_driver_class pty_driver = { .name = "RKSerialPTYDriver", .start = pty_start, .stop = pty_stop };

int main(int argc, char **argv) {
        const rk_driver_class *classes[] = { &null_driver, &pty_driver, &rk_hid_event_driver, &rk_usbserial_driver };

        if (argc == 2 && strcmp(argv[1], "--self-test-hid") == 0)
                return rk_hid_self_test();
        if (argc == 2 && strcmp(argv[1], "--self-test-usbserial") == 0)
                return rk_usbserial_self_test();
        return rk_driver_main(argc, argv, classes, sizeof(classes) / sizeof(classes[0]));
}
