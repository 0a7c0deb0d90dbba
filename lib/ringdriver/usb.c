/* SPDX-License-Identifier: MIT */
/*
 * The USB family of libringdriver (include/ringkit/usb.h) over Linux usbfs.
 *
 * Objects and ownership:
 *
 *   rk_usb_device ── owns ──> config descriptor (parsed), open interfaces
 *   rk_usb_interface ── owns ──> one rk_usb_pipe per endpoint of its current alt setting
 *   rk_usb_pipe ── lists ──> its in-flight rk_usb_request (submission order)
 *   rk_usb_request: a usbdevfs_urb with its completion, freed after the completion ran
 *
 * Asynchronous requests: every request is one URB (usercontext = the
 * request).  usbfs signals completed URBs by making the descriptor
 * writable; the device watches it on the driver's queue while at least one
 * URB is in flight (dev->in_flight > 0) and only then: once the device is
 * gone usbfs reports EPOLLHUP|EPOLLERR for good, which would wake a
 * level-triggered loop forever.  usbfs reports completions only on a
 * descriptor open for writing, so a read-only one refuses async requests
 * (-EBADF) rather than never completing them.  reap() takes
 * completed URBs with REAPURBNDELAY until EAGAIN and runs the completions.
 *
 * Cancelling is USBDEVFS_DISCARDURB, which kills the URB synchronously: it
 * is on the completed list when the ioctl returns, so close and abort can
 * reap at once.  The kernel reports a killed URB as -ENOENT/-ECONNRESET
 * (-ESHUTDOWN when the device went): mapped to -ECANCELED for requests the
 * driver cancelled and to -ENODEV when the device is gone.
 *
 * Invariants: dev->in_flight counts the URBs submitted and not reaped;
 * a request is on its pipe's list exactly while it is in flight; a
 * completion never runs for a request whose submission failed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/usb/ch9.h>
#include <linux/usbdevice_fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "ringkit/driver.h"
#include "ringkit/usb.h"
#include "shared/macro.h"

struct rk_usb_request {
        rk_usb_pipe *pipe;
        rk_usb_request *prev, *next;
        rk_usb_completion done;
        void *ud;
        bool cancelled;
        struct usbdevfs_urb urb; /* last: it ends in a flexible array (iso frames, unused) */
};

struct rk_usb_pipe {
        rk_usb_interface *intf;
        const rk_usb_endpoint_descriptor *ep;
        rk_usb_request *head, *tail;
        size_t pending;
        bool stalled;
};

struct rk_usb_interface {
        rk_usb_device *dev;
        rk_usb_interface *next;
        uint8_t number;
        const rk_usb_alt_setting *alt;
        rk_usb_pipe *pipes;
        size_t n_pipes;
        bool closing; /* draining its pipes: no new transfers */
        char detached[USBDEVFS_MAXDRIVERNAME + 1];
};

struct rk_usb_device {
        rk_driver *driver;
        int fd;
        bool gone, writable;
        rk_usb_device_descriptor desc;
        rk_usb_config_descriptor *config;
        rk_usb_interface *interfaces;
        size_t in_flight;
        rk_driver_watch *watch;
};

/* ---- descriptor parsing ---- */

typedef struct config_storage {
        rk_usb_config_descriptor c;
        uint8_t *raw;
        rk_usb_interface_descriptors *ifs;
        rk_usb_alt_setting *alts;
        rk_usb_endpoint_descriptor *eps;
} config_storage;

static uint16_t le16(const uint8_t *p) {
        return (uint16_t) (p[0] | (p[1] << 8));
}

RK_EXPORT void rk_usb_config_descriptor_free(rk_usb_config_descriptor *c) {
        config_storage *s = (config_storage *) c;

        if (!s)
                return;
        free(s->raw);
        free(s->ifs);
        free(s->alts);
        free(s->eps);
        free(s);
}

/* Walks the descriptor chain once, checking every bLength; counts what the arrays need. */
static int count_descriptors(const uint8_t *p, size_t len, size_t *n_alts, size_t *n_eps) {
        size_t off = 0;

        *n_alts = *n_eps = 0;
        while (off < len) {
                if (len - off < 2 || p[off] < 2 || p[off] > len - off)
                        return -EBADMSG;
                if (p[off + 1] == USB_DT_INTERFACE) {
                        if (p[off] < USB_DT_INTERFACE_SIZE)
                                return -EBADMSG;
                        (*n_alts)++;
                } else if (p[off + 1] == USB_DT_ENDPOINT) {
                        if (p[off] < USB_DT_ENDPOINT_SIZE)
                                return -EBADMSG;
                        (*n_eps)++;
                }
                off += p[off];
        }
        return 0;
}

static rk_usb_interface_descriptors *find_or_add_if(config_storage *s, uint8_t number) {
        for (size_t i = 0; i < s->c.n_interfaces; i++)
                if (s->ifs[i].bInterfaceNumber == number)
                        return &s->ifs[i];
        s->ifs[s->c.n_interfaces].bInterfaceNumber = number;
        return &s->ifs[s->c.n_interfaces++];
}

/*
 * Alternate settings are stored grouped by interface (each interface's
 * alt_settings points into s->alts), so a second pass places them: the
 * first pass records interface numbers in order of appearance.
 */
static void fill_config(config_storage *s, size_t n_alts) {
        const uint8_t *p = s->raw;
        size_t len = s->c.raw_len, off = p[0], n_eps = 0, placed = 0;

        for (off = p[0]; off < len; off += p[off])
                if (p[off + 1] == USB_DT_INTERFACE)
                        find_or_add_if(s, p[off + 2])->n_alt_settings++;
        for (size_t i = 0; i < s->c.n_interfaces; i++) {
                s->ifs[i].alt_settings = s->alts + placed;
                placed += s->ifs[i].n_alt_settings;
                s->ifs[i].n_alt_settings = 0; /* recounted while placing */
        }
        assert(placed == n_alts);
        (void) n_alts;

        rk_usb_alt_setting *cur = NULL;
        rk_usb_endpoint_descriptor *ep = NULL;
        for (off = p[0]; off < len; off += p[off]) {
                const uint8_t *d = p + off;
                if (d[1] == USB_DT_INTERFACE) {
                        rk_usb_interface_descriptors *f = find_or_add_if(s, d[2]);
                        cur = (rk_usb_alt_setting *) &f->alt_settings[f->n_alt_settings++];
                        *cur = (rk_usb_alt_setting) {
                                .bInterfaceNumber = d[2], .bAlternateSetting = d[3], .bNumEndpoints = d[4],
                                .bInterfaceClass = d[5], .bInterfaceSubClass = d[6], .bInterfaceProtocol = d[7],
                                .iInterface = d[8], .endpoints = s->eps + n_eps,
                        };
                        ep = NULL;
                } else if (d[1] == USB_DT_ENDPOINT && cur) {
                        ep = &s->eps[n_eps++];
                        *ep = (rk_usb_endpoint_descriptor) {
                                .bEndpointAddress = d[2], .bmAttributes = d[3], .wMaxPacketSize = le16(d + 4),
                                .bInterval = d[6],
                        };
                        cur->n_endpoints++;
                } else if (ep) {
                        if (!ep->extra)
                                ep->extra = d;
                        ep->extra_len = (size_t) (d + d[0] - ep->extra);
                } else if (cur) {
                        if (!cur->extra)
                                cur->extra = d;
                        cur->extra_len = (size_t) (d + d[0] - cur->extra);
                }
        }
}

RK_EXPORT int rk_usb_config_descriptor_parse(const void *buf, size_t len, rk_usb_config_descriptor **ret) {
        const uint8_t *p = buf;
        size_t n_alts, n_eps, total;
        config_storage *s;
        int r;

        if (!buf || !ret)
                return -EINVAL;
        if (len < USB_DT_CONFIG_SIZE || p[0] < USB_DT_CONFIG_SIZE || p[1] != USB_DT_CONFIG)
                return -EBADMSG;
        total = le16(p + 2);
        if (total < p[0] || total > len)
                return -EBADMSG;
        r = count_descriptors(p, total, &n_alts, &n_eps);
        if (r < 0)
                return r;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->raw = malloc(total);
        s->ifs = calloc(n_alts + 1, sizeof(*s->ifs));
        s->alts = calloc(n_alts + 1, sizeof(*s->alts));
        s->eps = calloc(n_eps + 1, sizeof(*s->eps));
        if (!s->raw || !s->ifs || !s->alts || !s->eps) {
                rk_usb_config_descriptor_free(&s->c);
                return -ENOMEM;
        }
        memcpy(s->raw, p, total);
        s->c = (rk_usb_config_descriptor) {
                .wTotalLength = (uint16_t) total, .bNumInterfaces = p[4], .bConfigurationValue = p[5],
                .iConfiguration = p[6], .bmAttributes = p[7], .bMaxPower = p[8],
                .interfaces = s->ifs, .raw = s->raw, .raw_len = total,
        };
        fill_config(s, n_alts);
        *ret = &s->c;
        return 0;
}

RK_EXPORT const rk_usb_alt_setting *rk_usb_config_descriptor_find_alt(const rk_usb_config_descriptor *c,
                                                                     uint8_t interface, uint8_t alt) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_interfaces; i++) {
                if (c->interfaces[i].bInterfaceNumber != interface)
                        continue;
                for (size_t a = 0; a < c->interfaces[i].n_alt_settings; a++)
                        if (c->interfaces[i].alt_settings[a].bAlternateSetting == alt)
                                return &c->interfaces[i].alt_settings[a];
        }
        return NULL;
}

/* ---- the device ---- */

static int note_error(rk_usb_device *dev, int r) {
        if (r == -ENODEV || r == -ESHUTDOWN) {
                dev->gone = true;
                return -ENODEV;
        }
        return r;
}

static int xioctl(rk_usb_device *dev, unsigned long req, void *arg) {
        int r = ioctl(dev->fd, req, arg);
        return r < 0 ? note_error(dev, -errno) : r;
}

/*
 * usbfs read(): the device descriptor, then each configuration's whole
 * descriptor set in index order, as the kernel cached them at enumeration.
 */
static int read_descriptors(rk_usb_device *dev, uint8_t *buf, size_t size, size_t *ret_len) {
        ssize_t n = pread(dev->fd, buf, size, 0);

        if (n < 0)
                return note_error(dev, -errno);
        if ((size_t) n < USB_DT_DEVICE_SIZE || buf[1] != USB_DT_DEVICE)
                return -EBADMSG;
        *ret_len = (size_t) n;
        return 0;
}

static int config_at(const uint8_t *buf, size_t len, uint8_t index, const uint8_t **ret, size_t *ret_len) {
        size_t off = USB_DT_DEVICE_SIZE;

        for (unsigned i = 0;; i++) {
                size_t total;
                if (len - off < USB_DT_CONFIG_SIZE)
                        return -ENOENT;
                total = le16(buf + off + 2);
                if (total < USB_DT_CONFIG_SIZE)
                        return -EBADMSG;
                if (i == index) {
                        *ret = buf + off;
                        *ret_len = total > len - off ? len - off : total;
                        return 0;
                }
                if (total > len - off)
                        return -ENOENT;
                off += total;
        }
}

#define DESC_BUF (64 * 1024)

RK_EXPORT int rk_usb_device_copy_config_descriptor(rk_usb_device *dev, uint8_t index, rk_usb_config_descriptor **ret) {
        _cleanup_(freep) uint8_t *buf = NULL;
        const uint8_t *c;
        size_t len, clen;
        int r;

        if (!dev || !ret)
                return -EINVAL;
        if (!(buf = malloc(DESC_BUF)))
                return -ENOMEM;
        if ((r = read_descriptors(dev, buf, DESC_BUF, &len)) < 0)
                return r;
        if (index >= buf[17])
                return -ENOENT;
        if ((r = config_at(buf, len, index, &c, &clen)) < 0)
                return r;
        return rk_usb_config_descriptor_parse(c, clen, ret);
}

/* The active configuration: GET_CONFIGURATION, matched against the cached sets. */
static int load_config(rk_usb_device *dev) {
        _cleanup_(freep) uint8_t *buf = NULL;
        uint8_t value = 0;
        size_t len;
        int r;

        if (!(buf = malloc(DESC_BUF)))
                return -ENOMEM;
        if ((r = read_descriptors(dev, buf, DESC_BUF, &len)) < 0)
                return r;
        dev->desc = (rk_usb_device_descriptor) {
                .bcdUSB = le16(buf + 2), .bDeviceClass = buf[4], .bDeviceSubClass = buf[5],
                .bDeviceProtocol = buf[6], .bMaxPacketSize0 = buf[7], .idVendor = le16(buf + 8),
                .idProduct = le16(buf + 10), .bcdDevice = le16(buf + 12), .iManufacturer = buf[14],
                .iProduct = buf[15], .iSerialNumber = buf[16], .bNumConfigurations = buf[17],
        };
        r = rk_usb_device_request(dev, USB_DIR_IN | USB_TYPE_STANDARD | USB_RECIP_DEVICE, USB_REQ_GET_CONFIGURATION,
                                  0, 0, &value, 1, 1000);
        if (r == -ENODEV)
                return r;
        if (r != 1) /* a device that cannot say: take the first, as the kernel does */
                value = 0xff;
        rk_usb_config_descriptor_free(dev->config);
        dev->config = NULL;
        if (value == 0)
                return 0; /* unconfigured */
        for (uint8_t i = 0; i < dev->desc.bNumConfigurations; i++) {
                const uint8_t *c;
                size_t clen;
                if (config_at(buf, len, i, &c, &clen) < 0)
                        break;
                if (value != 0xff && c[5] != value)
                        continue;
                return rk_usb_config_descriptor_parse(c, clen, &dev->config);
        }
        return -EBADMSG;
}

static int device_new(rk_driver *d, int fd, rk_usb_device **ret) {
        rk_usb_device *dev;
        int r;

        dev = calloc(1, sizeof(*dev));
        if (!dev)
                return -ENOMEM;
        dev->driver = d;
        dev->fd = fd;
        r = fcntl(fd, F_GETFL);
        dev->writable = r >= 0 && (r & O_ACCMODE) != O_RDONLY;
        r = load_config(dev);
        if (r < 0) {
                free(dev);
                return r;
        }
        *ret = dev;
        return 0;
}

RK_EXPORT int rk_usb_device_new_fd(rk_driver *d, int fd, rk_usb_device **ret) {
        if (fd < 0 || !ret)
                return -EINVAL;
        return device_new(d, fd, ret);
}

RK_EXPORT int rk_usb_device_new(rk_driver *d, rk_usb_device **ret) {
        int fd;

        if (!d || !ret)
                return -EINVAL;
        fd = rk_driver_get_provider_handle(d);
        if (fd < 0)
                return -ENODEV;
        return device_new(d, fd, ret);
}

RK_EXPORT int rk_usb_device_get_fd(rk_usb_device *dev) {
        return dev ? dev->fd : -EINVAL;
}

RK_EXPORT const rk_usb_device_descriptor *rk_usb_device_get_device_descriptor(rk_usb_device *dev) {
        return dev ? &dev->desc : NULL;
}

RK_EXPORT const rk_usb_config_descriptor *rk_usb_device_get_config_descriptor(rk_usb_device *dev) {
        return dev ? dev->config : NULL;
}

RK_EXPORT bool rk_usb_device_is_gone(rk_usb_device *dev) {
        return dev && dev->gone;
}

RK_EXPORT int rk_usb_device_request(rk_usb_device *dev, uint8_t bmRequestType, uint8_t bRequest, uint16_t wValue,
                                    uint16_t wIndex, void *data, uint16_t wLength, int timeout_ms) {
        struct usbdevfs_ctrltransfer c = {
                .bRequestType = bmRequestType, .bRequest = bRequest, .wValue = wValue, .wIndex = wIndex,
                .wLength = wLength, .timeout = timeout_ms < 0 ? 0 : (uint32_t) timeout_ms, .data = data,
        };

        if (!dev || (wLength && !data) || timeout_ms < 0)
                return -EINVAL;
        return xioctl(dev, USBDEVFS_CONTROL, &c);
}

RK_EXPORT int rk_usb_device_copy_string(rk_usb_device *dev, uint8_t index, uint16_t langid, char *buf, size_t size,
                                        int timeout_ms) {
        uint8_t d[255];
        size_t o = 0;
        int n;

        if (!dev || !buf || size == 0)
                return -EINVAL;
        if (index == 0)
                return -ENOENT;
        if (langid == 0) {
                n = rk_usb_device_request(dev, USB_DIR_IN, USB_REQ_GET_DESCRIPTOR, USB_DT_STRING << 8, 0, d, sizeof(d),
                                          timeout_ms);
                if (n == -EPIPE)
                        return -ENOENT; /* no string descriptors at all */
                if (n < 0)
                        return n;
                if (n < 4 || d[1] != USB_DT_STRING)
                        return -EBADMSG;
                langid = le16(d + 2);
        }
        n = rk_usb_device_request(dev, USB_DIR_IN, USB_REQ_GET_DESCRIPTOR, (uint16_t) (USB_DT_STRING << 8 | index),
                                  langid, d, sizeof(d), timeout_ms);
        if (n == -EPIPE)
                return -ENOENT;
        if (n < 0)
                return n;
        if (n < 2 || d[1] != USB_DT_STRING || d[0] > n)
                return -EBADMSG;
        /* UTF-16LE (BMP and surrogate pairs) to UTF-8 */
        for (size_t i = 2; i + 1 < d[0]; i += 2) {
                uint32_t u = le16(d + i);
                char e[4];
                size_t k;
                if (u >= 0xd800 && u < 0xdc00 && i + 3 < d[0]) {
                        uint32_t lo = le16(d + i + 2);
                        if (lo >= 0xdc00 && lo < 0xe000) {
                                u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
                                i += 2;
                        }
                }
                if (u >= 0xd800 && u < 0xe000)
                        u = 0xfffd;
                if (u < 0x80) {
                        e[0] = (char) u, k = 1;
                } else if (u < 0x800) {
                        e[0] = (char) (0xc0 | u >> 6), e[1] = (char) (0x80 | (u & 0x3f)), k = 2;
                } else if (u < 0x10000) {
                        e[0] = (char) (0xe0 | u >> 12), e[1] = (char) (0x80 | ((u >> 6) & 0x3f));
                        e[2] = (char) (0x80 | (u & 0x3f)), k = 3;
                } else {
                        e[0] = (char) (0xf0 | u >> 18), e[1] = (char) (0x80 | ((u >> 12) & 0x3f));
                        e[2] = (char) (0x80 | ((u >> 6) & 0x3f)), e[3] = (char) (0x80 | (u & 0x3f)), k = 4;
                }
                if (o + k >= size)
                        break;
                memcpy(buf + o, e, k);
                o += k;
        }
        buf[o] = 0;
        return (int) o;
}

RK_EXPORT int rk_usb_device_set_configuration(rk_usb_device *dev, uint8_t value) {
        unsigned v = value;
        int r;

        if (!dev)
                return -EINVAL;
        if (dev->interfaces)
                return -EBUSY;
        if ((r = xioctl(dev, USBDEVFS_SETCONFIGURATION, &v)) < 0)
                return r;
        return load_config(dev);
}

RK_EXPORT int rk_usb_device_reset(rk_usb_device *dev) {
        if (!dev)
                return -EINVAL;
        int r = xioctl(dev, USBDEVFS_RESET, NULL);
        return r < 0 ? r : 0;
}

/* ---- asynchronous requests: completion ---- */

static void unlink_request(rk_usb_request *q) {
        rk_usb_pipe *p = q->pipe;

        if (q->prev)
                q->prev->next = q->next;
        else
                p->head = q->next;
        if (q->next)
                q->next->prev = q->prev;
        else
                p->tail = q->prev;
        q->prev = q->next = NULL;
        p->pending--;
}

static void update_watch(rk_usb_device *dev);

/* Is the device gone?  A cheap ioctl that fails with ENODEV once it is. */
static bool probe_gone(rk_usb_device *dev) {
        struct usbdevfs_connectinfo ci;

        if (!dev->gone && ioctl(dev->fd, USBDEVFS_CONNECTINFO, &ci) < 0 && (errno == ENODEV || errno == ESHUTDOWN))
                dev->gone = true;
        return dev->gone;
}

static int map_status(rk_usb_request *q, int st) {
        rk_usb_device *dev = q->pipe->intf->dev;

        switch (st) {
        case 0:
                return 0;
        case -ENOENT:
        case -ECONNRESET:
        case -ESHUTDOWN:
                /* killed: by the driver, by close, or by the kernel because the device went */
                return probe_gone(dev) ? -ENODEV : -ECANCELED;
        case -ENODEV:
                dev->gone = true;
                return -ENODEV;
        case -EPIPE:
                q->pipe->stalled = true;
                return -EPIPE;
        default:
                return st;
        }
}

/* Reap every completed URB and run the completions.  Returns how many ran, or -ENODEV/-errno when none did. */
static int reap(rk_usb_device *dev) {
        int n = 0;

        for (;;) {
                struct usbdevfs_urb *u = NULL;
                rk_usb_request *q;
                int st;
                if (ioctl(dev->fd, USBDEVFS_REAPURBNDELAY, &u) < 0) {
                        if (errno == ENODEV)
                                dev->gone = true;
                        if (n == 0 && errno != EAGAIN)
                                n = -errno;
                        break;
                }
                q = u->usercontext;
                assert(q && &q->urb == u);
                assert(dev->in_flight > 0);
                dev->in_flight--;
                unlink_request(q);
                st = map_status(q, q->urb.status);
                if (q->done)
                        q->done(q, st, q->urb.actual_length > 0 ? (size_t) q->urb.actual_length : 0, q->ud);
                free(q);
                n = n < 0 ? 1 : n + 1;
        }
        update_watch(dev);
        return n;
}

static void on_fd(rk_driver *d, rk_driver_watch *w, int fd, uint32_t revents, void *ud) {
        rk_usb_device *dev = ud;
        int n;

        (void) d;
        (void) w;
        (void) fd;
        n = reap(dev);
        if (n <= 0 && (revents & (EPOLLERR | EPOLLHUP)) && dev->watch) {
                /* usbfs says nothing is pending or the device is gone, yet we count URBs in flight:
                 * stop watching rather than spin; the next submission or close re-arms and reaps. */
                if (revents & EPOLLHUP)
                        dev->gone = true;
                rk_driver_watch_cancel(dev->watch);
                dev->watch = NULL;
        }
}

static void update_watch(rk_usb_device *dev) {
        if (!dev->driver)
                return;
        if (dev->in_flight > 0 && !dev->watch) {
                if (rk_driver_watch_fd(dev->driver, dev->fd, EPOLLOUT, on_fd, dev, &dev->watch) < 0)
                        dev->watch = NULL; /* -ENOMEM: completions wait for the next call that reaps */
        } else if (dev->in_flight == 0 && dev->watch) {
                rk_driver_watch_cancel(dev->watch);
                dev->watch = NULL;
        }
}

RK_EXPORT int rk_usb_device_handle_events(rk_usb_device *dev) {
        int n;

        if (!dev)
                return -EINVAL;
        n = reap(dev);
        return n == -EAGAIN ? 0 : n;
}

/* ---- interfaces and pipes ---- */

static void cancel_pipe(rk_usb_pipe *p, int *count) {
        rk_usb_device *dev = p->intf->dev;

        for (rk_usb_request *q = p->head; q; q = q->next) {
                if (q->cancelled)
                        continue;
                q->cancelled = true;
                if (ioctl(dev->fd, USBDEVFS_DISCARDURB, &q->urb) == 0 && count)
                        (*count)++;
        }
}

/* Cancel and reap until the pipe has nothing in flight (a discarded URB completes at once). */
static void drain_pipe(rk_usb_pipe *p) {
        rk_usb_device *dev = p->intf->dev;

        for (int tries = 0; p->pending > 0 && tries < 1000; tries++) {
                cancel_pipe(p, NULL);
                if (reap(dev) <= 0) {
                        struct usbdevfs_urb *u = NULL;
                        /* not completed yet (DISCARDURB raced with completion): wait for one */
                        if (ioctl(dev->fd, USBDEVFS_REAPURB, &u) < 0)
                                break;
                        rk_usb_request *q = u->usercontext;
                        dev->in_flight--;
                        unlink_request(q);
                        if (q->done)
                                q->done(q, map_status(q, q->urb.status),
                                        q->urb.actual_length > 0 ? (size_t) q->urb.actual_length : 0, q->ud);
                        free(q);
                        update_watch(dev);
                }
        }
        if (p->pending > 0) {
                /* the device is gone and the kernel has dropped them: complete them here */
                while (p->head) {
                        rk_usb_request *q = p->head;
                        dev->in_flight--;
                        unlink_request(q);
                        if (q->done)
                                q->done(q, dev->gone ? -ENODEV : -ECANCELED, 0, q->ud);
                        free(q);
                }
                update_watch(dev);
        }
}

static void free_pipes(rk_usb_interface *intf) {
        intf->closing = true; /* completions run while draining must not queue more */
        for (size_t i = 0; i < intf->n_pipes; i++)
                drain_pipe(&intf->pipes[i]);
        free(intf->pipes);
        intf->pipes = NULL;
        intf->n_pipes = 0;
        intf->closing = false;
}

static int make_pipes(rk_usb_interface *intf, const rk_usb_alt_setting *alt) {
        rk_usb_pipe *pipes = calloc(alt->n_endpoints + 1, sizeof(*pipes));

        if (!pipes)
                return -ENOMEM;
        for (size_t i = 0; i < alt->n_endpoints; i++)
                pipes[i] = (rk_usb_pipe) { .intf = intf, .ep = &alt->endpoints[i] };
        intf->pipes = pipes;
        intf->n_pipes = alt->n_endpoints;
        intf->alt = alt;
        return 0;
}

RK_EXPORT int rk_usb_interface_open(rk_usb_device *dev, uint8_t number, rk_usb_interface **ret) {
        struct usbdevfs_getdriver gd = { .interface = number };
        struct usbdevfs_disconnect_claim dc = { .interface = number };
        const rk_usb_alt_setting *alt;
        rk_usb_interface *intf;
        uint8_t cur = 0;
        int r;

        if (!dev || !ret)
                return -EINVAL;
        if (dev->gone)
                return -ENODEV;
        for (rk_usb_interface *i = dev->interfaces; i; i = i->next)
                if (i->number == number)
                        return -EBUSY;
        alt = rk_usb_config_descriptor_find_alt(dev->config, number, 0);
        if (!alt && dev->config)
                for (size_t i = 0; i < dev->config->n_interfaces && !alt; i++)
                        if (dev->config->interfaces[i].bInterfaceNumber == number)
                                alt = &dev->config->interfaces[i].alt_settings[0];
        if (!alt)
                return -ENOENT;
        intf = calloc(1, sizeof(*intf));
        if (!intf)
                return -ENOMEM;
        intf->dev = dev;
        intf->number = number;
        if (ioctl(dev->fd, USBDEVFS_GETDRIVER, &gd) == 0) {
                gd.driver[sizeof(gd.driver) - 1] = 0;
                if (streq(gd.driver, "usbfs")) { /* another usbfs user (a process) holds it */
                        free(intf);
                        return -EBUSY;
                }
                memcpy(intf->detached, gd.driver, sizeof(intf->detached) - 1);
        } else if (errno == ENODEV) {
                free(intf);
                return note_error(dev, -ENODEV);
        }
        if ((r = xioctl(dev, USBDEVFS_DISCONNECT_CLAIM, &dc)) < 0) {
                free(intf);
                return r;
        }
        /* the kernel keeps the setting the interface was left in: ask (GET_INTERFACE) */
        if (rk_usb_device_request(dev, USB_DIR_IN | USB_RECIP_INTERFACE, USB_REQ_GET_INTERFACE, 0, number, &cur, 1,
                                  1000) == 1) {
                const rk_usb_alt_setting *a = rk_usb_config_descriptor_find_alt(dev->config, number, cur);
                if (a)
                        alt = a;
        }
        if ((r = make_pipes(intf, alt)) < 0) {
                unsigned n = number;
                (void) ioctl(dev->fd, USBDEVFS_RELEASEINTERFACE, &n);
                free(intf);
                return r;
        }
        intf->next = dev->interfaces;
        dev->interfaces = intf;
        *ret = intf;
        return 0;
}

RK_EXPORT int rk_usb_interface_open_provider(rk_usb_device *dev, rk_driver *d, rk_usb_interface **ret) {
        int64_t n;
        int r;

        if (!dev || !d || !ret)
                return -EINVAL;
        r = rk_driver_get_integer(d, "bInterfaceNumber", &n);
        if (r < 0)
                return -ENOENT;
        if (n < 0 || n > 255)
                return -ERANGE;
        return rk_usb_interface_open(dev, (uint8_t) n, ret);
}

RK_EXPORT void rk_usb_interface_close(rk_usb_interface *intf) {
        rk_usb_device *dev;
        unsigned n;

        if (!intf)
                return;
        dev = intf->dev;
        free_pipes(intf);
        for (rk_usb_interface **p = &dev->interfaces; *p; p = &(*p)->next)
                if (*p == intf) {
                        *p = intf->next;
                        break;
                }
        n = intf->number;
        if (!dev->gone) {
                struct usbdevfs_ioctl conn = { .ifno = (int) n, .ioctl_code = USBDEVFS_CONNECT };
                (void) ioctl(dev->fd, USBDEVFS_RELEASEINTERFACE, &n);
                /* always, not only when open detached a driver: an instance that died holding the
                 * interface left it driverless, and its successor found none to detach */
                (void) ioctl(dev->fd, USBDEVFS_IOCTL, &conn);
        }
        free(intf);
}

RK_EXPORT const char *rk_usb_interface_get_detached_driver(rk_usb_interface *intf) {
        return intf && intf->detached[0] ? intf->detached : NULL;
}

RK_EXPORT uint8_t rk_usb_interface_get_number(rk_usb_interface *intf) {
        return intf ? intf->number : 0;
}

RK_EXPORT const rk_usb_alt_setting *rk_usb_interface_get_alt_setting(rk_usb_interface *intf) {
        return intf ? intf->alt : NULL;
}

RK_EXPORT int rk_usb_interface_select_alt_setting(rk_usb_interface *intf, uint8_t alt) {
        struct usbdevfs_setinterface si;
        const rk_usb_alt_setting *a;
        int r;

        if (!intf)
                return -EINVAL;
        a = rk_usb_config_descriptor_find_alt(intf->dev->config, intf->number, alt);
        if (!a)
                return -ENOENT;
        free_pipes(intf);
        si = (struct usbdevfs_setinterface) { .interface = intf->number, .altsetting = alt };
        r = xioctl(intf->dev, USBDEVFS_SETINTERFACE, &si);
        if (r < 0) {
                int k = make_pipes(intf, intf->alt); /* the old setting stays */
                return k < 0 ? k : r;
        }
        return make_pipes(intf, a);
}

RK_EXPORT int rk_usb_interface_copy_pipe(rk_usb_interface *intf, uint8_t address, rk_usb_pipe **ret) {
        if (!intf || !ret)
                return -EINVAL;
        for (size_t i = 0; i < intf->n_pipes; i++)
                if (intf->pipes[i].ep->bEndpointAddress == address) {
                        *ret = &intf->pipes[i];
                        return 0;
                }
        return -ENOENT;
}

RK_EXPORT int rk_usb_interface_find_pipe(rk_usb_interface *intf, int type, bool in, rk_usb_pipe **ret) {
        if (!intf || !ret)
                return -EINVAL;
        for (size_t i = 0; i < intf->n_pipes; i++) {
                const rk_usb_endpoint_descriptor *e = intf->pipes[i].ep;
                if ((e->bmAttributes & USB_ENDPOINT_XFERTYPE_MASK) == type &&
                    !!(e->bEndpointAddress & USB_DIR_IN) == in) {
                        *ret = &intf->pipes[i];
                        return 0;
                }
        }
        return -ENOENT;
}

RK_EXPORT const rk_usb_endpoint_descriptor *rk_usb_pipe_get_endpoint_descriptor(rk_usb_pipe *p) {
        return p ? p->ep : NULL;
}

RK_EXPORT uint8_t rk_usb_pipe_get_address(rk_usb_pipe *p) {
        return p ? p->ep->bEndpointAddress : 0;
}

RK_EXPORT bool rk_usb_pipe_is_stalled(rk_usb_pipe *p) {
        return p && p->stalled;
}

RK_EXPORT size_t rk_usb_pipe_get_pending(rk_usb_pipe *p) {
        return p ? p->pending : 0;
}

static int pipe_type(rk_usb_pipe *p) {
        return p->ep->bmAttributes & USB_ENDPOINT_XFERTYPE_MASK;
}

RK_EXPORT int rk_usb_pipe_io(rk_usb_pipe *p, void *buf, size_t len, int timeout_ms) {
        struct usbdevfs_bulktransfer b;
        int r;

        if (!p || (len && !buf) || len > INT_MAX || timeout_ms < 0)
                return -EINVAL;
        if (pipe_type(p) != USB_ENDPOINT_XFER_BULK && pipe_type(p) != USB_ENDPOINT_XFER_INT)
                return -EOPNOTSUPP;
        if (p->intf->dev->gone)
                return -ENODEV;
        if (p->intf->closing)
                return -ECANCELED;
        /* usb_bulk_msg() makes an interrupt URB for an interrupt endpoint */
        b = (struct usbdevfs_bulktransfer) {
                .ep = p->ep->bEndpointAddress, .len = (unsigned) len, .timeout = (unsigned) timeout_ms, .data = buf,
        };
        r = xioctl(p->intf->dev, USBDEVFS_BULK, &b);
        if (r == -EPIPE)
                p->stalled = true;
        return r;
}

RK_EXPORT int rk_usb_pipe_async_io(rk_usb_pipe *p, void *buf, size_t len, rk_usb_completion done, void *ud,
                                   rk_usb_request **ret) {
        rk_usb_device *dev;
        rk_usb_request *q;

        if (!p || (len && !buf) || len > INT_MAX || !done)
                return -EINVAL;
        if (pipe_type(p) != USB_ENDPOINT_XFER_BULK && pipe_type(p) != USB_ENDPOINT_XFER_INT)
                return -EOPNOTSUPP;
        dev = p->intf->dev;
        if (dev->gone)
                return -ENODEV;
        if (p->intf->closing)
                return -ECANCELED;
        if (p->stalled)
                return -EPIPE;
        if (!dev->writable)
                return -EBADF;
        q = calloc(1, sizeof(*q));
        if (!q)
                return -ENOMEM;
        q->urb = (struct usbdevfs_urb) {
                .type = pipe_type(p) == USB_ENDPOINT_XFER_BULK ? USBDEVFS_URB_TYPE_BULK : USBDEVFS_URB_TYPE_INTERRUPT,
                .endpoint = p->ep->bEndpointAddress, .buffer = buf, .buffer_length = (int) len, .usercontext = q,
        };
        q->pipe = p;
        q->done = done;
        q->ud = ud;
        if (ioctl(dev->fd, USBDEVFS_SUBMITURB, &q->urb) < 0) {
                int r = note_error(dev, -errno);
                free(q);
                return r;
        }
        q->prev = p->tail;
        if (p->tail)
                p->tail->next = q;
        else
                p->head = q;
        p->tail = q;
        p->pending++;
        dev->in_flight++;
        update_watch(dev);
        if (ret)
                *ret = q;
        return 0;
}

RK_EXPORT int rk_usb_request_cancel(rk_usb_request *req) {
        rk_usb_device *dev;

        if (!req)
                return -EINVAL;
        dev = req->pipe->intf->dev;
        if (req->cancelled)
                return 0;
        req->cancelled = true;
        /* EINVAL: it has completed already and waits to be reaped with its real status */
        if (ioctl(dev->fd, USBDEVFS_DISCARDURB, &req->urb) < 0 && errno != EINVAL)
                return note_error(dev, -errno);
        return 0;
}

RK_EXPORT rk_usb_pipe *rk_usb_request_get_pipe(rk_usb_request *req) {
        return req ? req->pipe : NULL;
}

RK_EXPORT int rk_usb_pipe_abort(rk_usb_pipe *p) {
        int n = 0;

        if (!p)
                return -EINVAL;
        cancel_pipe(p, &n);
        return n;
}

RK_EXPORT int rk_usb_pipe_clear_stall(rk_usb_pipe *p) {
        unsigned ep;
        int r;

        if (!p)
                return -EINVAL;
        ep = p->ep->bEndpointAddress;
        r = xioctl(p->intf->dev, USBDEVFS_CLEAR_HALT, &ep);
        if (r < 0)
                return r;
        p->stalled = false;
        return 0;
}

RK_EXPORT void rk_usb_device_free(rk_usb_device *dev) {
        if (!dev)
                return;
        while (dev->interfaces)
                rk_usb_interface_close(dev->interfaces);
        if (dev->watch)
                rk_driver_watch_cancel(dev->watch);
        rk_usb_config_descriptor_free(dev->config);
        free(dev);
}
