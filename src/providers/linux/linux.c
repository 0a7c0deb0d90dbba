/* SPDX-License-Identifier: MIT */
/*
 * The Linux provider (see linux.h for the contract).  Two ideas live here,
 * in this order:
 *
 *   1. Describing a device: its sysfs directory -> an rk_value dictionary
 *      with an IOKit-like class chain, name and family properties.
 *      (sysfs reading, value builder, one describe_* per subsystem,
 *      describe_dev()).
 *   2. Following devices: libudev enumeration and a netlink monitor, the
 *      set of reported syspaths that de-duplicates between the two, and the
 *      callback dispatch (known_*, report_*, rk_linux_provider_*).
 *
 * What stays true:
 *
 *   - Descriptions are read from sysfs through one O_PATH directory fd, not
 *     from the uevent that announced the device, so every description is
 *     the device's state when it is read.  A device caught half-built or
 *     half-removed (dev_stable() says how that is seen) is dropped: a caller
 *     gets a complete description or -ENODEV, never a half-read one.  On a
 *     whole device, a missing or malformed attribute only leaves its
 *     property out.
 *   - Every string put in a description is valid UTF-8 (invalid bytes
 *     become U+FFFD): descriptions travel as plists, which require it.
 *   - `known` is sorted by strcmp(), so the descendants of a syspath P
 *     (the strings starting with "P/") are one contiguous run.
 *   - A syspath is in `known` exactly when the callback has seen ADD for
 *     it and no REMOVE since.
 */
#include <errno.h>
#include <fcntl.h>
#include <libudev.h>
#include <limits.h>
#include <net/if_arp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "providers/linux/linux.h"
#include "shared/macro.h"

#define ATTR_MAX 4096             /* sysfs attributes are at most a page */
#define UEVENT_MAX (256 * 1024)
#define HID_DESCRIPTOR_MAX 4096   /* HID_MAX_DESCRIPTOR_SIZE */
#define SUBSYSTEMS_MAX 64
#define MISSING_MAX 32
#define PROCESS_BATCH 4096
#define RECEIVE_BUFFER_DEFAULT (16u * 1024 * 1024)

const char *const rk_linux_default_subsystems[] = {
        "pci", "usb", "hid", "net", "block", "tty", "input", NULL,
};

const char *rk_linux_action_name(rk_linux_action a) {
        switch (a) {
        case RK_LINUX_ADD:
                return "add";
        case RK_LINUX_CHANGE:
                return "change";
        case RK_LINUX_REMOVE:
                return "remove";
        }
        return NULL;
}

/* ---- sysfs reading ---- */

typedef struct dev {
        int dfd;                    /* O_PATH directory fd of syspath */
        const char *syspath;
        const char *sysname;        /* last component of syspath */
        char subsystem[NAME_MAX + 1];
        char driver[NAME_MAX + 1];  /* "" when no driver is bound */
        char *uevent;               /* KEY=VALUE lines, '\n' turned into NUL */
        size_t uevent_len;
        const char *const *required; /* attributes it cannot be without (the family sets it) */
        char missing[MISSING_MAX][32]; /* attributes that were absent (ENOENT) when read */
        size_t n_missing;
} dev;

static void dev_done(dev *d) {
        if (d->dfd >= 0)
                close(d->dfd);
        d->dfd = -EBADF;
        free(d->uevent);
        d->uevent = NULL;
}

/* Read a whole file below dfd into a malloc'd, NUL-terminated buffer of at
 * most max bytes; -EFBIG when it is longer. */
static int read_all_at(int dfd, const char *name, size_t max, char **ret, size_t *ret_len) {
        _cleanup_(closep) int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        _cleanup_(freep) char *buf = NULL;
        size_t cap = 0, len = 0;

        if (fd < 0)
                return -errno;
        for (;;) {
                if (len == cap) {
                        size_t ncap = cap ? cap * 2 : 4096;
                        if (cap > max)
                                return -EFBIG;
                        if (ncap > max + 1)
                                ncap = max + 1;
                        char *n = realloc(buf, ncap + 1);
                        if (!n)
                                return -ENOMEM;
                        buf = n;
                        cap = ncap;
                }
                ssize_t k = read(fd, buf + len, cap - len);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                len += (size_t) k;
        }
        if (len > max)
                return -EFBIG;
        buf[len] = 0;
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

/* Remember an attribute that was absent, to check at the end that it did
 * not appear meanwhile (see dev_stable()). */
static void note_missing(dev *d, const char *name, int error) {
        if (error != ENOENT || d->n_missing >= MISSING_MAX || strlen(name) >= sizeof(d->missing[0]))
                return;
        strcpy(d->missing[d->n_missing++], name);
}

/* Read a text attribute into buf (size >= 2), without its trailing newline.
 * Returns the length or -errno (-EFBIG when it does not fit). */
static int read_attr(dev *d, const char *name, char *buf, size_t size) {
        _cleanup_(closep) int fd = openat(d->dfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        size_t len = 0;
        char extra;

        if (fd < 0) {
                int r = -errno;
                note_missing(d, name, -r);
                return r;
        }
        while (len < size - 1) {
                ssize_t k = read(fd, buf + len, size - 1 - len);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                len += (size_t) k;
        }
        if (len == size - 1 && read(fd, &extra, 1) > 0)
                return -EFBIG;
        buf[len] = 0;
        len = strlen(buf); /* binary junk: keep what precedes a NUL */
        if (len > 0 && buf[len - 1] == '\n')
                buf[--len] = 0;
        return (int) len;
}

/* The last component of a symlink's target ("../../bus/usb" -> "usb"). */
static int link_name(int dfd, const char *name, char *out, size_t size) {
        char target[PATH_MAX];
        ssize_t n = readlinkat(dfd, name, target, sizeof(target) - 1);
        const char *base;

        if (n < 0)
                return -errno;
        target[n] = 0;
        base = strrchr(target, '/');
        base = base ? base + 1 : target;
        if (!*base || strlen(base) >= size)
                return -EINVAL;
        strcpy(out, base);
        return 0;
}

static int dev_open(dev *d, const char *syspath) {
        char *p;
        int r;

        d->syspath = syspath;
        d->sysname = strrchr(syspath, '/') ? strrchr(syspath, '/') + 1 : syspath;
        if (!*d->sysname)
                return -ENODEV;
        d->dfd = open(syspath, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (d->dfd < 0)
                return errno == ENOMEM ? -ENOMEM : -ENODEV;
        r = read_all_at(d->dfd, "uevent", UEVENT_MAX, &d->uevent, &d->uevent_len);
        if (r < 0)
                return r == -ENOMEM ? r : -ENODEV;
        for (p = d->uevent; (p = memchr(p, '\n', d->uevent_len - (size_t) (p - d->uevent)));)
                *p = 0;
        if (link_name(d->dfd, "subsystem", d->subsystem, sizeof(d->subsystem)) < 0)
                return -ENODEV;
        if (link_name(d->dfd, "driver", d->driver, sizeof(d->driver)) < 0)
                d->driver[0] = 0;
        return 0;
}

/* A uevent property (KEY=VALUE line), NULL when absent. */
static const char *prop(dev *d, const char *key) {
        size_t kl = strlen(key);
        const char *end = d->uevent + d->uevent_len;

        for (const char *p = d->uevent; p < end; p += strlen(p) + 1)
                if (strncmp(p, key, kl) == 0 && p[kl] == '=')
                        return p + kl + 1;
        return NULL;
}

static bool attr_readable(dev *d, const char *name) {
        _cleanup_(closep) int fd = openat(d->dfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        char buf[64];

        return fd >= 0 && read(fd, buf, sizeof(buf)) >= 0;
}

/*
 * Was the device whole, and the same, for the whole read?  sysfs builds a
 * device in steps (device_add(): directory and uevent file, the class's
 * "subsystem" link, the attribute groups, the bus's "subsystem" link, the
 * "dev" attribute, then the "add" uevent) and takes it down in about the
 * reverse order (device_del()); a net device's attributes fail already
 * while it unregisters.  An enumeration can meet a device at any of these
 * steps, so after reading:
 *
 *   - the uevent file and the subsystem link are still there (a removed
 *     directory fails every lookup under our fd, and a new device at the
 *     same path is another directory),
 *   - with a device number, "dev" is still there (created last, removed
 *     first),
 *   - every attribute the family requires still reads, and
 *   - no attribute that was absent when read exists now.
 *
 * Otherwise the description is dropped: a device still being built sends
 * its "add" uevent when it is complete, one being taken down its "remove".
 */
static bool dev_stable(dev *d) {
        if (faccessat(d->dfd, "uevent", F_OK, 0) < 0 ||
            faccessat(d->dfd, "subsystem", F_OK, AT_SYMLINK_NOFOLLOW) < 0)
                return false;
        if (prop(d, "MAJOR") && faccessat(d->dfd, "dev", F_OK, 0) < 0)
                return false;
        for (size_t i = 0; d->required && d->required[i]; i++)
                if (!attr_readable(d, d->required[i]))
                        return false;
        for (size_t i = 0; i < d->n_missing; i++)
                if (faccessat(d->dfd, d->missing[i], F_OK, 0) == 0)
                        return false;
        return true;
}

/* ---- parsing ---- */

/* An unsigned number in base 10 or 16 ("0x" optional), blanks around it
 * allowed, nothing else. */
static int parse_u64(const char *s, unsigned base, uint64_t *ret) {
        uint64_t v = 0;
        bool any = false;

        while (*s == ' ' || *s == '\t')
                s++;
        if (base == 16 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
                s += 2;
        for (;; s++) {
                unsigned digit;
                if (*s >= '0' && *s <= '9')
                        digit = (unsigned) (*s - '0');
                else if (base == 16 && *s >= 'a' && *s <= 'f')
                        digit = (unsigned) (*s - 'a' + 10);
                else if (base == 16 && *s >= 'A' && *s <= 'F')
                        digit = (unsigned) (*s - 'A' + 10);
                else
                        break;
                if (v > (UINT64_MAX - digit) / base)
                        return -ERANGE;
                v = v * base + digit;
                any = true;
        }
        while (*s == ' ' || *s == '\t' || *s == '\n')
                s++;
        if (!any || *s)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* "480", "1.5": a non-negative decimal, without strtod()'s locale. */
static int parse_decimal(const char *s, double *ret) {
        double v = 0, scale = 1;
        bool any = false, frac = false;

        for (; *s; s++) {
                if (*s == '.' && !frac) {
                        frac = true;
                        continue;
                }
                if (*s < '0' || *s > '9')
                        return -EINVAL;
                if (frac)
                        v += (scale /= 10) * (*s - '0');
                else
                        v = v * 10 + (*s - '0');
                any = true;
        }
        if (!any)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* "52:54:00:12:34:56" -> bytes; exactly n of them. */
static int parse_hwaddr(const char *s, uint8_t *out, size_t n) {
        for (size_t i = 0; i < n; i++) {
                int hi = unhexchar(s[0]), lo = hi < 0 ? -1 : unhexchar(s[1]);
                if (lo < 0)
                        return -EINVAL;
                out[i] = (uint8_t) (hi << 4 | lo);
                s += 2;
                if (*s != (i + 1 < n ? ':' : '\0'))
                        return -EINVAL;
                if (*s)
                        s++;
        }
        return 0;
}

/* Length of the valid UTF-8 sequence at s (n bytes available), 0 if none. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
        uint32_t c;
        size_t len;

        if (s[0] < 0x80)
                return 1;
        if (s[0] >= 0xc2 && s[0] <= 0xdf)
                len = 2, c = s[0] & 0x1f;
        else if ((s[0] & 0xf0) == 0xe0)
                len = 3, c = s[0] & 0x0f;
        else if (s[0] >= 0xf0 && s[0] <= 0xf4)
                len = 4, c = s[0] & 0x07;
        else
                return 0;
        if (len > n)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                c = c << 6 | (s[i] & 0x3f);
        }
        if (len == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff)))
                return 0;
        if (len == 4 && (c < 0x10000 || c > 0x10ffff))
                return 0;
        return len;
}

/* A string value, invalid UTF-8 replaced by U+FFFD. */
static int new_utf8_string(const char *s, rk_value **ret) {
        const unsigned char *u = (const unsigned char *) s;
        size_t n = strlen(s), o = 0;
        _cleanup_(freep) char *out = malloc(n * 3 + 1);

        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < n;) {
                size_t l = utf8_seq(u + i, n - i);
                if (l == 0) {
                        memcpy(out + o, "\xef\xbf\xbd", 3);
                        o += 3;
                        i++;
                        continue;
                }
                memcpy(out + o, s + i, l);
                o += l;
                i += l;
        }
        return rk_value_new_stringn(out, o, ret);
}

/* ---- building a description ---- */

/* Properties go into dict; the first error sticks in err and later puts
 * become no-ops, so the describe_* functions read as lists of keys. */
typedef struct builder {
        rk_value *dict;
        int err;
} builder;

/* Consumes v (may be NULL when r < 0). */
static void put_value(builder *b, const char *key, rk_value *v, int r) {
        if (r >= 0 && b->err >= 0)
                r = rk_dict_set(b->dict, key, v);
        if (r < 0 && b->err >= 0)
                b->err = r;
        rk_value_unref(v);
}

static void put_str(builder *b, const char *key, const char *s) {
        rk_value *v = NULL;
        int r = new_utf8_string(s, &v);
        put_value(b, key, v, r);
}

static void put_u64(builder *b, const char *key, uint64_t n) {
        rk_value *v = NULL;
        int r = rk_value_new_integer(n, false, &v);
        put_value(b, key, v, r);
}

static void put_bool(builder *b, const char *key, bool x) {
        rk_value *v = NULL;
        int r = rk_value_new_bool(x, &v);
        put_value(b, key, v, r);
}

static void put_real(builder *b, const char *key, double d) {
        rk_value *v = NULL;
        int r = rk_value_new_real(d, &v);
        put_value(b, key, v, r);
}

static void put_data(builder *b, const char *key, const void *p, size_t n) {
        rk_value *v = NULL;
        int r = rk_value_new_data(p, n, &v);
        put_value(b, key, v, r);
}

/* 4-byte little-endian data, as IOPCIFamily publishes its registers. */
static void put_le32(builder *b, const char *key, uint32_t x) {
        uint8_t le[4] = { x & 0xff, (x >> 8) & 0xff, (x >> 16) & 0xff, x >> 24 };
        put_data(b, key, le, sizeof(le));
}

/* An array of strings: the NULL-terminated list, then the extra ones
 * (either may be NULL). */
static void put_strings(builder *b, const char *key, const char *const *list, const char *const *extra) {
        const char *const *lists[] = { list, extra };
        rk_value *a = NULL, *s = NULL;
        int r = rk_value_new_array(&a);

        for (size_t k = 0; k < ELEMENTSOF(lists); k++)
                for (size_t i = 0; r >= 0 && lists[k] && lists[k][i]; i++) {
                        r = new_utf8_string(lists[k][i], &s);
                        if (r >= 0)
                                r = rk_array_append(a, s);
                        s = rk_value_unref(s);
                }
        put_value(b, key, a, r);
}

/* IOClassChain: the given classes, then RKLinuxDevice and IOService. */
static void put_chain(builder *b, const char *const *classes) {
        static const char *const tail[] = { "RKLinuxDevice", "IOService", NULL };
        put_strings(b, "IOClassChain", classes, tail);
}

static bool attr_num(dev *d, const char *attr, unsigned base, uint64_t max, uint64_t *ret) {
        char buf[64];
        if (read_attr(d, attr, buf, sizeof(buf)) < 0 || parse_u64(buf, base, ret) < 0)
                return false;
        return *ret <= max;
}

static void put_attr_num(builder *b, dev *d, const char *attr, const char *key, unsigned base,
                         uint64_t max) {
        uint64_t v;
        if (attr_num(d, attr, base, max, &v))
                put_u64(b, key, v);
}

/* A non-empty text attribute as a string property; returns whether it was. */
static bool put_attr_str(builder *b, dev *d, const char *attr, const char *key) {
        char buf[ATTR_MAX];
        if (read_attr(d, attr, buf, sizeof(buf)) <= 0)
                return false;
        put_str(b, key, buf);
        return true;
}

static void put_prop_str(builder *b, dev *d, const char *name, const char *key) {
        const char *v = prop(d, name);
        if (v && *v)
                put_str(b, key, v);
}

/* ---- USB ---- */

/* IOKit's locationID: bus in the top byte, then one nibble per port from
 * the root hub ("1.2.3" on bus 1 -> 0x01123000).  Ports above 15 are
 * clamped; tiers past the sixth are dropped. */
static bool usb_location_id(dev *d, const char *prefix, uint32_t *ret) {
        char attr[32], path[64];
        uint64_t bus, port;
        uint32_t id;
        int shift = 20;

        snprintf(attr, sizeof(attr), "%sbusnum", prefix);
        if (!attr_num(d, attr, 10, 0xff, &bus))
                return false;
        snprintf(attr, sizeof(attr), "%sdevpath", prefix);
        if (read_attr(d, attr, path, sizeof(path)) <= 0)
                return false;
        id = (uint32_t) bus << 24;
        if (strcmp(path, "0") != 0)
                for (char *s = path, *tok; (tok = strsep(&s, ".")) && shift >= 0; shift -= 4) {
                        if (parse_u64(tok, 10, &port) < 0)
                                return false;
                        id |= (uint32_t) (port > 15 ? 15 : port) << shift;
                }
        *ret = id;
        return true;
}

/* Linux's speed in Mb/s -> IOKit's USBSpeed (kUSBHostConnectionSpeed*). */
static int usb_speed_code(double mbps) {
        static const struct {
                double mbps;
                int code;
        } speeds[] = { { 1.5, 0 }, { 12, 1 }, { 480, 2 }, { 5000, 3 }, { 10000, 4 }, { 20000, 5 } };
        for (size_t i = 0; i < ELEMENTSOF(speeds); i++)
                if (mbps == speeds[i].mbps)
                        return speeds[i].code;
        return -1;
}

/* What only the device descriptor says (the first 18 bytes of the binary
 * `descriptors` attribute, as the device sent them): bcdUSB,
 * bMaxPacketSize0 and the string indexes IOKit publishes. */
static void put_usb_device_descriptor(builder *b, dev *d) {
        _cleanup_(freep) char *raw = NULL;
        const uint8_t *u;
        size_t len = 0;

        if (read_all_at(d->dfd, "descriptors", 65536, &raw, &len) < 0 || len < 18)
                return;
        u = (const uint8_t *) raw;
        if (u[0] < 18 || u[1] != 0x01) /* bLength, bDescriptorType DEVICE */
                return;
        put_u64(b, "bcdUSB", (uint64_t) u[2] | (uint64_t) u[3] << 8);
        put_u64(b, "bMaxPacketSize0", u[7]);
        put_u64(b, "iManufacturer", u[14]);
        put_u64(b, "iProduct", u[15]);
        put_u64(b, "iSerialNumber", u[16]);
}

/* IOKit's PortNum: the device's port on its hub, the last number of devpath
 * ("4.2" -> 2); a root hub ("0") has none. */
static void put_usb_port(builder *b, dev *d) {
        char path[64];
        const char *last;
        uint64_t port;

        if (read_attr(d, "devpath", path, sizeof(path)) <= 0 || strcmp(path, "0") == 0)
                return;
        last = strrchr(path, '.');
        if (parse_u64(last ? last + 1 : path, 10, &port) == 0 && port > 0 && port <= 255)
                put_u64(b, "PortNum", port);
}

static void describe_usb_device(builder *b, dev *d) {
        static const char *const chain[] = { "IOUSBHostDevice", "IOUSBDevice", NULL };
        static const char *const required[] = { "idVendor", "idProduct", "bcdDevice", "bDeviceClass",
                                                 "bDeviceSubClass", "bDeviceProtocol", "bNumConfigurations",
                                                 "busnum", "devnum", "devpath", "speed", NULL };
        char buf[ATTR_MAX], path[64];
        uint64_t bus = 0;
        uint32_t loc;
        double mbps;

        d->required = required;
        put_chain(b, chain);
        put_attr_num(b, d, "idVendor", "idVendor", 16, 0xffff);
        put_attr_num(b, d, "idProduct", "idProduct", 16, 0xffff);
        put_attr_num(b, d, "bcdDevice", "bcdDevice", 16, 0xffff);
        put_attr_num(b, d, "bDeviceClass", "bDeviceClass", 16, 0xff);
        put_attr_num(b, d, "bDeviceSubClass", "bDeviceSubClass", 16, 0xff);
        put_attr_num(b, d, "bDeviceProtocol", "bDeviceProtocol", 16, 0xff);
        put_attr_num(b, d, "bNumConfigurations", "bNumConfigurations", 10, 0xff);
        put_attr_num(b, d, "bConfigurationValue", "bConfigurationValue", 10, 0xff);
        put_attr_str(b, d, "manufacturer", "USB Vendor Name");
        put_attr_str(b, d, "serial", "USB Serial Number");
        put_attr_num(b, d, "busnum", "busnum", 10, 0xff);
        put_attr_num(b, d, "devnum", "devnum", 10, 0xff);
        put_attr_num(b, d, "devnum", "USB Address", 10, 0xff);
        if (usb_location_id(d, "", &loc))
                put_u64(b, "locationID", loc);
        put_usb_port(b, d);
        put_usb_device_descriptor(b, d);
        if (read_attr(d, "speed", buf, sizeof(buf)) > 0 && parse_decimal(buf, &mbps) == 0) {
                put_real(b, "speed", mbps);
                if (usb_speed_code(mbps) >= 0)
                        put_u64(b, "USBSpeed", (uint64_t) usb_speed_code(mbps));
        }
        if (read_attr(d, "product", buf, sizeof(buf)) > 0) {
                put_str(b, "USB Product Name", buf);
                put_str(b, "IOName", buf);
        } else if (attr_num(d, "busnum", 10, 0xff, &bus) && read_attr(d, "devpath", path, sizeof(path)) > 0) {
                snprintf(buf, sizeof(buf), "usb-%u-%s", (unsigned) bus, path);
                put_str(b, "IOName", buf);
        }
}

static const char *usb_class_name(uint64_t cls) {
        static const struct {
                uint8_t cls;
                const char *name;
        } names[] = {
                { 0x01, "Audio" },        { 0x02, "Communications" }, { 0x03, "HID" },
                { 0x05, "Physical" },     { 0x06, "Image" },          { 0x07, "Printer" },
                { 0x08, "Mass Storage" }, { 0x09, "Hub" },            { 0x0a, "CDC Data" },
                { 0x0b, "Smart Card" },   { 0x0d, "Content Security" }, { 0x0e, "Video" },
                { 0x0f, "Personal Healthcare" }, { 0x10, "Audio/Video" }, { 0x11, "Billboard" },
                { 0x12, "Type-C Bridge" }, { 0xdc, "Diagnostic" },    { 0xe0, "Wireless Controller" },
                { 0xef, "Miscellaneous" }, { 0xfe, "Application Specific" }, { 0xff, "Vendor Specific" },
        };
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (names[i].cls == cls)
                        return names[i].name;
        return NULL;
}

/* "1-1.2:1.0": the configuration is the number after the colon. */
static bool usb_interface_config(const char *sysname, uint64_t *ret) {
        const char *colon = strrchr(sysname, ':');
        char num[8];
        size_t n;

        if (!colon || !(n = strcspn(colon + 1, ".")) || n >= sizeof(num) || !colon[1 + n])
                return false;
        memcpy(num, colon + 1, n);
        num[n] = 0;
        return parse_u64(num, 10, ret) == 0 && *ret <= 0xff;
}

/* The device's IDs, from the parent directory or else PRODUCT=v/p/d. */
static void usb_interface_ids(builder *b, dev *d) {
        const char *keys[] = { "idVendor", "idProduct", "bcdDevice" };
        const char *product = prop(d, "PRODUCT");
        char attr[32];
        uint64_t v;

        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                snprintf(attr, sizeof(attr), "../%s", keys[i]);
                if (attr_num(d, attr, 16, 0xffff, &v))
                        put_u64(b, keys[i], v);
                else if (product) {
                        char field[16];
                        size_t n = strcspn(product, "/");
                        if (n < sizeof(field)) {
                                memcpy(field, product, n);
                                field[n] = 0;
                                if (parse_u64(field, 16, &v) == 0 && v <= 0xffff)
                                        put_u64(b, keys[i], v);
                        }
                }
                if (product)
                        product = strchr(product, '/') ? strchr(product, '/') + 1 : NULL;
        }
}

static void describe_usb_interface(builder *b, dev *d) {
        static const char *const chain[] = { "IOUSBHostInterface", "IOUSBInterface", NULL };
        static const char *const required[] = { "bInterfaceNumber", "bAlternateSetting", "bInterfaceClass",
                                                 "bInterfaceSubClass", "bInterfaceProtocol", "bNumEndpoints",
                                                 NULL };
        char buf[ATTR_MAX];
        uint64_t cls, cfg;
        uint32_t loc;

        d->required = required;
        put_chain(b, chain);
        usb_interface_ids(b, d);
        if (usb_interface_config(d->sysname, &cfg))
                put_u64(b, "bConfigurationValue", cfg);
        put_attr_num(b, d, "bInterfaceNumber", "bInterfaceNumber", 16, 0xff);
        put_attr_num(b, d, "bAlternateSetting", "bAlternateSetting", 10, 0xff);
        put_attr_num(b, d, "bInterfaceClass", "bInterfaceClass", 16, 0xff);
        put_attr_num(b, d, "bInterfaceSubClass", "bInterfaceSubClass", 16, 0xff);
        put_attr_num(b, d, "bInterfaceProtocol", "bInterfaceProtocol", 16, 0xff);
        put_attr_num(b, d, "bNumEndpoints", "bNumEndpoints", 16, 0xff);
        if (usb_location_id(d, "../", &loc))
                put_u64(b, "locationID", loc);
        if (read_attr(d, "interface", buf, sizeof(buf)) > 0) {
                put_str(b, "USB Interface Name", buf);
                put_str(b, "IOName", buf);
        } else if (attr_num(d, "bInterfaceClass", 16, 0xff, &cls)) {
                const char *name = usb_class_name(cls);
                snprintf(buf, sizeof(buf), "usbclass%02x", (unsigned) cls);
                put_str(b, "IOName", name ? name : buf);
        }
}

static void describe_usb(builder *b, dev *d) {
        const char *devtype = prop(d, "DEVTYPE");
        if (streq_ptr(devtype, "usb_device"))
                describe_usb_device(b, d);
        else if (streq_ptr(devtype, "usb_interface"))
                describe_usb_interface(b, d);
}

/* ---- PCI ---- */

#define PCI_REGS 6 /* vendor, device, subsystem vendor, subsystem, class, revision */

/* IOName and IOCompatibleNames from the registers that could be read. */
static void pci_names(builder *b, const uint64_t v[PCI_REGS], const bool have[PCI_REGS]) {
        char names[3][32];
        const char *compat[4] = { NULL };
        size_t nc = 0;

        if (have[0] && have[1]) {
                snprintf(names[1], sizeof(names[1]), "pci%x,%x", (unsigned) v[0], (unsigned) v[1]);
                put_str(b, "IOName", names[1]);
        }
        /* subsystem IDs first, as IOPCIFamily lists them, unless absent or the same */
        if (have[2] && have[3] && v[2] != 0 && (!have[0] || !have[1] || v[2] != v[0] || v[3] != v[1])) {
                snprintf(names[0], sizeof(names[0]), "pci%x,%x", (unsigned) v[2], (unsigned) v[3]);
                compat[nc++] = names[0];
        }
        if (have[0] && have[1])
                compat[nc++] = names[1];
        if (have[4]) {
                snprintf(names[2], sizeof(names[2]), "pciclass,%06x", (unsigned) v[4]);
                compat[nc++] = names[2];
        }
        if (nc)
                put_strings(b, "IOCompatibleNames", compat, NULL);
}

static void describe_pci(builder *b, dev *d) {
        static const char *const chain[] = { "IOPCIDevice", NULL };
        static const struct {
                const char *attr, *key;
                uint64_t max;
        } regs[PCI_REGS] = {
                { "vendor", "vendor-id", 0xffff },
                { "device", "device-id", 0xffff },
                { "subsystem_vendor", "subsystem-vendor-id", 0xffff },
                { "subsystem_device", "subsystem-id", 0xffff },
                { "class", "class-code", 0xffffff },
                { "revision", "revision-id", 0xff },
        };
        static const char *const required[] = { "vendor", "device", "subsystem_vendor", "subsystem_device",
                                                 "class", "revision", NULL };
        uint64_t v[PCI_REGS];
        bool have[PCI_REGS];
        unsigned dom, bus, slot, fn;
        char loc[16];

        d->required = required;
        put_chain(b, chain);
        for (size_t i = 0; i < PCI_REGS; i++) {
                have[i] = attr_num(d, regs[i].attr, 16, regs[i].max, &v[i]);
                if (have[i])
                        put_le32(b, regs[i].key, (uint32_t) v[i]);
        }
        pci_names(b, v, have);
        put_str(b, "RKPCIAddress", d->sysname);
        if (sscanf(d->sysname, "%x:%x:%x.%x", &dom, &bus, &slot, &fn) == 4) {
                if (fn)
                        snprintf(loc, sizeof(loc), "%x,%x", slot, fn);
                else
                        snprintf(loc, sizeof(loc), "%x", slot);
                put_str(b, "IOLocation", loc);
        }
}

/* ---- network ---- */

static void describe_net(builder *b, dev *d) {
        static const char *const ether[] = { "IOEthernetInterface", "IONetworkInterface", NULL };
        static const char *const other[] = { "IONetworkInterface", NULL };
        static const char *const required[] = { "type", "ifindex", "mtu", "addr_len", "address", NULL };
        const char *name = prop(d, "INTERFACE");
        char addr[ATTR_MAX];
        uint8_t hw[32];
        uint64_t type = UINT64_MAX, len, mtu;

        d->required = required;
        name = name && *name ? name : d->sysname;
        (void) attr_num(d, "type", 10, UINT32_MAX, &type);
        put_chain(b, type == ARPHRD_ETHER ? ether : other);
        put_str(b, "IOName", name);
        put_str(b, "BSD Name", name);
        if (type != UINT64_MAX)
                put_u64(b, "RKNetType", type);
        put_attr_num(b, d, "ifindex", "RKIfIndex", 10, INT32_MAX);
        put_attr_num(b, d, "tun_flags", "RKTunFlags", 16, UINT32_MAX); /* TUN and TAP only */
        if (attr_num(d, "mtu", 10, UINT32_MAX, &mtu)) {
                put_u64(b, "mtu", mtu);
                put_u64(b, "IOMaxTransferUnit", mtu);
        }
        if (attr_num(d, "addr_len", 10, sizeof(hw), &len) && len > 0 &&
            read_attr(d, "address", addr, sizeof(addr)) > 0 && parse_hwaddr(addr, hw, len) == 0) {
                if (type == ARPHRD_ETHER && len == 6)
                        put_data(b, "IOMACAddress", hw, len);
                else
                        put_data(b, "RKHardwareAddress", hw, len);
        }
}

/* ---- block ---- */

static void describe_block(builder *b, dev *d) {
        static const char *const chain[] = { "IOMedia", "IOStorage", NULL };
        static const char *const disk_required[] = { "size", "ro", "removable", NULL };
        static const char *const part_required[] = { "size", "ro", "partition", NULL };
        const char *devname = prop(d, "DEVNAME"), *devtype = prop(d, "DEVTYPE");
        bool part = streq_ptr(devtype, "partition");
        uint64_t v;

        d->required = part ? part_required : disk_required;
        put_chain(b, chain);
        devname = devname && *devname ? devname : d->sysname;
        put_str(b, "IOName", devname);
        put_str(b, "BSD Name", devname);
        if (attr_num(d, "size", 10, UINT64_MAX / 512, &v))
                put_u64(b, "Size", v * 512);
        if (attr_num(d, part ? "../removable" : "removable", 10, UINT64_MAX, &v))
                put_bool(b, "Removable", v != 0);
        if (attr_num(d, "ro", 10, UINT64_MAX, &v))
                put_bool(b, "Writable", v == 0);
        put_bool(b, "Whole", !part);
        put_attr_num(b, d, part ? "../queue/logical_block_size" : "queue/logical_block_size",
                     "Preferred Block Size", 10, UINT32_MAX);
        if (part)
                put_attr_num(b, d, "partition", "Partition ID", 10, UINT32_MAX);
        if (prop(d, "MAJOR") && parse_u64(prop(d, "MAJOR"), 10, &v) == 0)
                put_u64(b, "BSD Major", v);
        if (prop(d, "MINOR") && parse_u64(prop(d, "MINOR"), 10, &v) == 0)
                put_u64(b, "BSD Minor", v);
        if (prop(d, "DISKSEQ") && parse_u64(prop(d, "DISKSEQ"), 10, &v) == 0)
                put_u64(b, "RKDiskSeq", v);
        if (!part)
                put_attr_str(b, d, "loop/backing_file", "RKLoopBackingFile");
}

/* ---- tty ---- */

static void describe_tty(builder *b, dev *d) {
        static const char *const chain[] = { "IOSerialBSDClient", NULL };
        const char *devname = prop(d, "DEVNAME");
        size_t n = strlen(d->sysname), base = n;
        char buf[NAME_MAX + 1];

        while (base > 0 && d->sysname[base - 1] >= '0' && d->sysname[base - 1] <= '9')
                base--;
        put_chain(b, chain);
        put_str(b, "IOName", d->sysname);
        put_str(b, "IOTTYDevice", d->sysname);
        snprintf(buf, sizeof(buf), "%.*s", (int) base, d->sysname);
        put_str(b, "IOTTYBaseName", buf);
        if (base < n)
                put_str(b, "IOTTYSuffix", d->sysname + base);
        if (devname && *devname) {
                snprintf(buf, sizeof(buf), "/dev/%s", devname);
                put_str(b, "IOCalloutDevice", buf);
                put_str(b, "IODialinDevice", buf);
        }
}

/* ---- HID ---- */

#define HID_MAX_COLLECTIONS 16

typedef struct hid_usages {
        uint32_t page[HID_MAX_COLLECTIONS], usage[HID_MAX_COLLECTIONS];
        size_t n;
} hid_usages;

/* The (usage page, usage) of each top-level application collection, as
 * IOHIDDevice derives PrimaryUsagePage/PrimaryUsage and DeviceUsagePairs.
 * Reads short and long items; stops at the first truncated one. */
static void hid_parse_usages(const uint8_t *p, size_t n, hid_usages *out) {
        uint32_t page = 0, usage = 0, usage_page = 0;
        bool have_usage = false;
        unsigned depth = 0;

        out->n = 0;
        for (size_t i = 0; i < n;) {
                uint8_t item = p[i++];
                size_t sz = (item & 3) == 3 ? 4 : (item & 3);
                uint32_t val = 0;

                if (item == 0xfe) { /* long item: size, tag, data */
                        if (i + 2 > n)
                                break;
                        i += 2 + (size_t) p[i];
                        continue;
                }
                if (i + sz > n)
                        break;
                for (size_t k = 0; k < sz; k++)
                        val |= (uint32_t) p[i + k] << (8 * k);
                i += sz;
                switch (item & 0xfc) {
                case 0x04: /* Usage Page (global) */
                        page = val;
                        break;
                case 0x08: /* Usage (local); 4 bytes carry their own page */
                        if (!have_usage) {
                                usage = sz == 4 ? (val & 0xffff) : val;
                                usage_page = sz == 4 ? val >> 16 : 0;
                                have_usage = true;
                        }
                        break;
                case 0xa0: /* Collection */
                        if (depth == 0 && val == 1 && have_usage && out->n < HID_MAX_COLLECTIONS) {
                                out->page[out->n] = usage_page ? usage_page : page;
                                out->usage[out->n++] = usage;
                        }
                        depth++;
                        have_usage = false;
                        break;
                case 0xc0: /* End Collection */
                        depth = depth ? depth - 1 : 0;
                        have_usage = false;
                        break;
                case 0x80: case 0x90: case 0xb0: /* Input, Output, Feature */
                        have_usage = false;
                        break;
                }
        }
}

static void put_usage_pairs(builder *b, const hid_usages *u) {
        rk_value *a = NULL, *pair = NULL;
        int r = rk_value_new_array(&a);

        for (size_t i = 0; r >= 0 && i < u->n; i++) {
                r = rk_value_new_dict(&pair);
                if (r >= 0)
                        r = rk_dict_set_integer(pair, "DeviceUsagePage", u->page[i], false);
                if (r >= 0)
                        r = rk_dict_set_integer(pair, "DeviceUsage", u->usage[i], false);
                if (r >= 0)
                        r = rk_array_append(a, pair);
                pair = rk_value_unref(pair);
        }
        put_value(b, "DeviceUsagePairs", a, r);
}

static void hid_report_descriptor(builder *b, dev *d) {
        _cleanup_(freep) char *buf = NULL;
        hid_usages u;
        size_t n;
        int r;

        r = read_all_at(d->dfd, "report_descriptor", HID_DESCRIPTOR_MAX, &buf, &n);
        if (r < 0)
                note_missing(d, "report_descriptor", -r);
        if (r < 0 || n == 0)
                return;
        put_data(b, "ReportDescriptor", buf, n);
        hid_parse_usages((const uint8_t *) buf, n, &u);
        if (u.n == 0)
                return;
        put_u64(b, "PrimaryUsagePage", u.page[0]);
        put_u64(b, "PrimaryUsage", u.usage[0]);
        put_usage_pairs(b, &u);
}

static const char *hid_transport(uint64_t bus) {
        switch (bus) {
        case 0x03:
                return "USB";
        case 0x05:
                return "Bluetooth";
        case 0x06:
                return "Virtual";
        case 0x18:
                return "I2C";
        case 0x1c:
                return "SPI";
        }
        return NULL;
}

/* HID_ID=0003:0000046D:0000C52B -> bus, vendor, product. */
static bool hid_parse_id(const char *id, uint64_t out[3]) {
        char field[16];

        for (size_t i = 0; i < 3; i++) {
                size_t n = strcspn(id, ":");
                if (n == 0 || n >= sizeof(field) || (i < 2 && id[n] != ':') || (i == 2 && id[n]))
                        return false;
                memcpy(field, id, n);
                field[n] = 0;
                if (parse_u64(field, 16, &out[i]) < 0 || out[i] > UINT32_MAX)
                        return false;
                id += n + (i < 2);
        }
        return true;
}

static void describe_hid(builder *b, dev *d) {
        static const char *const chain[] = { "IOHIDDevice", NULL };
        static const char *const required[] = { "report_descriptor", NULL };
        const char *id = prop(d, "HID_ID"), *name = prop(d, "HID_NAME");
        uint64_t ids[3];

        d->required = required;
        put_chain(b, chain);
        if (name && *name) {
                put_str(b, "IOName", name);
                put_str(b, "Product", name);
        }
        if (id && hid_parse_id(id, ids)) {
                put_u64(b, "RKHIDBus", ids[0]);
                if (hid_transport(ids[0]))
                        put_str(b, "Transport", hid_transport(ids[0]));
                put_u64(b, "VendorID", ids[1]);
                put_u64(b, "ProductID", ids[2]);
        }
        put_prop_str(b, d, "HID_UNIQ", "SerialNumber");
        put_prop_str(b, d, "HID_PHYS", "RKHIDPhys");
        put_attr_num(b, d, "country", "CountryCode", 16, 0xff);
        hid_report_descriptor(b, d);
}

static void describe_hidraw(builder *b, dev *d) {
        static const char *const chain[] = { "RKHIDRawDevice", NULL };
        put_chain(b, chain);
}

/* ---- input ---- */

/* inputN is the device; eventN, mouseN, jsN... (with a DEVNAME) are the
 * handlers' nodes below it. */
static void describe_input(builder *b, dev *d) {
        static const char *const device[] = { "RKInputDevice", NULL };
        static const char *const handler[] = { "RKInputHandler", NULL };
        static const char *const required[] = { "name", "phys", "uniq", "id/bustype", "id/vendor", "id/product",
                                                 "id/version", "capabilities/ev", NULL };
        char name[ATTR_MAX];

        if (prop(d, "DEVNAME")) {
                put_chain(b, handler);
                return;
        }
        d->required = required;
        put_chain(b, device);
        if (read_attr(d, "name", name, sizeof(name)) > 0) {
                put_str(b, "IOName", name);
                put_str(b, "RKInputName", name);
        }
        put_attr_str(b, d, "phys", "RKInputPhys");
        put_attr_str(b, d, "uniq", "RKInputUniq");
        put_attr_num(b, d, "id/bustype", "RKInputBusType", 16, 0xffff);
        put_attr_num(b, d, "id/vendor", "VendorID", 16, 0xffff);
        put_attr_num(b, d, "id/product", "ProductID", 16, 0xffff);
        put_attr_num(b, d, "id/version", "VersionNumber", 16, 0xffff);
        put_attr_num(b, d, "capabilities/ev", "RKInputEventTypes", 16, UINT64_MAX);
}

/* ---- the description ---- */

static const struct family {
        const char *subsystem;
        void (*describe)(builder *b, dev *d);
} families[] = {
        { "usb", describe_usb },     { "pci", describe_pci },       { "net", describe_net },
        { "block", describe_block }, { "tty", describe_tty },       { "hid", describe_hid },
        { "hidraw", describe_hidraw }, { "input", describe_input },
};

/* What every device has; IOClassChain and IOName are the generic ones,
 * which the family replaces in place (the dictionary keeps the order). */
static void describe_common(builder *b, dev *d, const char *parent) {
        const char *devtype = prop(d, "DEVTYPE"), *devname = prop(d, "DEVNAME");
        const char *modalias = prop(d, "MODALIAS");
        char buf[ATTR_MAX];

        put_chain(b, NULL);
        put_str(b, "IOName", d->sysname);
        put_str(b, "RKSysPath", d->syspath);
        put_str(b, "RKSysName", d->sysname);
        put_str(b, "RKSubsystem", d->subsystem);
        if (devtype && *devtype)
                put_str(b, "RKDevType", devtype);
        if (devname && *devname) {
                snprintf(buf, sizeof(buf), "/dev/%s", devname);
                put_str(b, "RKDevNode", buf);
        }
        if (d->driver[0])
                put_str(b, "RKDriver", d->driver);
        if (modalias && *modalias)
                put_str(b, "RKModalias", modalias);
        else
                put_attr_str(b, d, "modalias", "RKModalias");
        if (parent)
                put_str(b, "RKParentSysPath", parent);
        put_bool(b, "RKVirtual", strstr(d->syspath, "/devices/virtual/") != NULL);
}

static int describe_dev(const char *syspath, const char *parent, rk_value **ret) {
        _cleanup_(dev_done) dev d = { .dfd = -EBADF };
        builder b = { .dict = NULL };
        int r;

        r = dev_open(&d, syspath);
        if (r < 0)
                return r;
        r = rk_value_new_dict(&b.dict);
        if (r < 0)
                return r;
        describe_common(&b, &d, parent);
        for (size_t i = 0; i < ELEMENTSOF(families); i++)
                if (streq(d.subsystem, families[i].subsystem))
                        families[i].describe(&b, &d);
        if (b.err >= 0 && !dev_stable(&d))
                b.err = -ENODEV;
        if (b.err < 0) {
                rk_value_unref(b.dict);
                return b.err;
        }
        *ret = b.dict;
        return 0;
}

static bool in_list(const char *const *list, const char *s) {
        for (size_t i = 0; list[i]; i++)
                if (streq(list[i], s))
                        return true;
        return false;
}

/* Nearest ancestor directory that is a device of one of `subsystems`. */
static int sysfs_parent(const char *syspath, const char *const *subsystems, char **ret) {
        _cleanup_(freep) char *p = strdup(syspath);
        char sub[NAME_MAX + 1], *slash;

        if (!p)
                return -ENOMEM;
        while ((slash = strrchr(p, '/')) && slash != p) {
                *slash = 0;
                _cleanup_(closep) int dfd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (dfd >= 0 && faccessat(dfd, "uevent", F_OK, 0) == 0 &&
                    link_name(dfd, "subsystem", sub, sizeof(sub)) == 0 && in_list(subsystems, sub)) {
                        *ret = TAKE_PTR(p);
                        return 1;
                }
        }
        *ret = NULL;
        return 0;
}

int rk_linux_describe(const char *syspath, const char *const *subsystems, rk_value **ret) {
        _cleanup_(freep) char *path = NULL, *parent = NULL;
        int r;

        if (!syspath || !*syspath || !ret)
                return -EINVAL;
        /* canonical, as the provider's syspaths are: /sys/class/net/lo -> /sys/devices/virtual/net/lo */
        path = realpath(syspath, NULL);
        if (!path)
                return errno == ENOMEM ? -ENOMEM : -ENODEV;
        r = sysfs_parent(path, subsystems ? subsystems : rk_linux_default_subsystems, &parent);
        if (r < 0)
                return r;
        return describe_dev(path, parent, ret);
}

/* ---- the provider ---- */

struct rk_linux_provider {
        struct udev *udev;
        struct udev_monitor *monitor;
        rk_linux_monitor kind;          /* UDEV or KERNEL */
        char **subsystems;              /* NULL-terminated */
        rk_linux_device_cb cb;
        void *userdata;
        rk_linux_log_cb log;
        char **known;                   /* reported syspaths, sorted by strcmp */
        size_t n_known, cap_known;
        bool busy;                      /* inside enumerate/process: no re-entry */
};

_printf_(3, 4) static void plog(rk_linux_provider *p, int level, const char *fmt, ...) {
        char msg[512];
        va_list ap;

        if (!p->log)
                return;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        p->log(p, level, msg, p->userdata);
}

/* ---- the set of reported syspaths ---- */

/* Index of the first entry >= s. */
static size_t known_lower_bound(const rk_linux_provider *p, const char *s) {
        size_t lo = 0, hi = p->n_known;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (strcmp(p->known[mid], s) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

static bool known_has(const rk_linux_provider *p, const char *s) {
        size_t i = known_lower_bound(p, s);
        return i < p->n_known && streq(p->known[i], s);
}

static int known_add(rk_linux_provider *p, const char *s) {
        size_t i = known_lower_bound(p, s);
        char *copy;

        if (i < p->n_known && streq(p->known[i], s))
                return 0;
        if (p->n_known == p->cap_known) {
                size_t cap = p->cap_known ? p->cap_known * 2 : 64;
                char **k = realloc(p->known, cap * sizeof(*k));
                if (!k)
                        return -ENOMEM;
                p->known = k;
                p->cap_known = cap;
        }
        copy = strdup(s);
        if (!copy)
                return -ENOMEM;
        memmove(p->known + i + 1, p->known + i, (p->n_known - i) * sizeof(*p->known));
        p->known[i] = copy;
        p->n_known++;
        return 0;
}

/* Take entry i out of the set; the caller frees the string. */
static char *known_take(rk_linux_provider *p, size_t i) {
        char *s = p->known[i];
        memmove(p->known + i, p->known + i + 1, (p->n_known - i - 1) * sizeof(*p->known));
        p->n_known--;
        return s;
}

/* Nearest reported ancestor of syspath, as a malloc'd string, or NULL. */
static int known_parent(const rk_linux_provider *p, const char *syspath, char **ret) {
        _cleanup_(freep) char *s = strdup(syspath);
        char *slash;

        if (!s)
                return -ENOMEM;
        while ((slash = strrchr(s, '/')) && slash != s) {
                *slash = 0;
                if (known_has(p, s)) {
                        *ret = TAKE_PTR(s);
                        return 1;
                }
        }
        *ret = NULL;
        return 0;
}

static size_t depth(const char *s) {
        size_t n = 0;
        for (; *s; s++)
                n += *s == '/';
        return n;
}

/* ---- reporting ---- */

/* The device exists (or should): describe it and report ADD, or CHANGE if
 * already reported.  Returns the number of callbacks (0 or 1). */
static int report_present(rk_linux_provider *p, const char *syspath) {
        _cleanup_(rk_value_unrefp) rk_value *desc = NULL;
        _cleanup_(freep) char *parent = NULL;
        bool known = known_has(p, syspath);
        int r;

        r = known_parent(p, syspath, &parent);
        if (r < 0)
                return r;
        r = describe_dev(syspath, parent, &desc);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                plog(p, LOG_DEBUG, "%s: skipped, cannot be described: %s", syspath, strerror(-r));
                return 0;
        }
        if (!known) {
                r = known_add(p, syspath);
                if (r < 0)
                        return r;
        }
        p->cb(p, known ? RK_LINUX_CHANGE : RK_LINUX_ADD, syspath, desc, p->userdata);
        return 1;
}

/* Report REMOVE for entry i. */
static void report_remove_at(rk_linux_provider *p, size_t i) {
        char *s = known_take(p, i);
        p->cb(p, RK_LINUX_REMOVE, s, NULL, p->userdata);
        free(s);
}

/* The device is gone: REMOVE for its reported descendants (deepest first;
 * the kernel removes children first, so normally there are none left) and
 * then for itself.  Returns the number of callbacks. */
static int report_gone(rk_linux_provider *p, const char *syspath) {
        _cleanup_(freep) char *prefix = NULL;
        size_t lo, plen;
        int n = 0;

        if (!known_has(p, syspath))
                return 0;
        if (asprintf(&prefix, "%s/", syspath) < 0)
                return -ENOMEM;
        plen = strlen(prefix);
        for (;;) {
                size_t deepest = SIZE_MAX, i;
                lo = known_lower_bound(p, prefix);
                for (i = lo; i < p->n_known && strncmp(p->known[i], prefix, plen) == 0; i++)
                        if (deepest == SIZE_MAX || depth(p->known[i]) > depth(p->known[deepest]))
                                deepest = i;
                if (deepest == SIZE_MAX)
                        break;
                report_remove_at(p, deepest);
                n++;
        }
        report_remove_at(p, known_lower_bound(p, syspath));
        return n + 1;
}

/* ---- enumeration ---- */

static int compare_depth(const void *a, const void *b) {
        const char *x = *(const char *const *) a, *y = *(const char *const *) b;
        size_t dx = depth(x), dy = depth(y);
        return dx != dy ? (dx < dy ? -1 : 1) : strcmp(x, y);
}

static int compare_str(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static void strv_free(char **v, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

/* The syspaths of the watched subsystems' devices, parents first. */
static int scan(rk_linux_provider *p, char ***ret, size_t *ret_n) {
        struct udev_enumerate *e = udev_enumerate_new(p->udev);
        struct udev_list_entry *le;
        char **v = NULL;
        size_t n = 0, cap = 0;
        int r = 0;

        if (!e)
                return errno > 0 ? -errno : -ENOMEM;
        for (size_t i = 0; r >= 0 && p->subsystems[i]; i++)
                r = udev_enumerate_add_match_subsystem(e, p->subsystems[i]);
        if (r >= 0)
                r = udev_enumerate_scan_devices(e);
        udev_list_entry_foreach(le, r >= 0 ? udev_enumerate_get_list_entry(e) : NULL) {
                if (n == cap) {
                        char **nv = realloc(v, (cap = cap ? cap * 2 : 256) * sizeof(*v));
                        if (!nv) {
                                r = -ENOMEM;
                                break;
                        }
                        v = nv;
                }
                if (!(v[n] = strdup(udev_list_entry_get_name(le)))) {
                        r = -ENOMEM;
                        break;
                }
                n++;
        }
        udev_enumerate_unref(e);
        if (r < 0) {
                strv_free(v, n);
                return r;
        }
        if (n)
                qsort(v, n, sizeof(*v), compare_depth);
        *ret = v;
        *ret_n = n;
        return 0;
}

/* REMOVE, deepest first, for reported devices not in `present` (sorted by
 * depth).  Returns the number of callbacks. */
static int remove_missing(rk_linux_provider *p, char **present, size_t n_present) {
        _cleanup_(freep) char **sorted = NULL, **gone = NULL;
        size_t n_gone = 0;
        int n = 0;

        if (p->n_known == 0)
                return 0;
        sorted = malloc((n_present + 1) * sizeof(*sorted));
        gone = malloc(p->n_known * sizeof(*gone));
        if (!sorted || !gone)
                return -ENOMEM;
        memcpy(sorted, present, n_present * sizeof(*sorted));
        if (n_present)
                qsort(sorted, n_present, sizeof(*sorted), compare_str);
        for (size_t i = 0; i < p->n_known; i++)
                if (!n_present || !bsearch(&p->known[i], sorted, n_present, sizeof(*sorted), compare_str))
                        gone[n_gone++] = p->known[i];
        if (n_gone)
                qsort(gone, n_gone, sizeof(*gone), compare_depth);
        /* deepest first; each string stays alive until its own REMOVE */
        for (size_t i = n_gone; i-- > 0;) {
                size_t at = known_lower_bound(p, gone[i]);
                report_remove_at(p, at);
                n++;
        }
        return n;
}

static int enumerate(rk_linux_provider *p) {
        char **present = NULL;
        size_t n_present = 0;
        int r, n;

        r = scan(p, &present, &n_present);
        if (r < 0)
                return r;
        r = n = remove_missing(p, present, n_present);
        for (size_t i = 0; r >= 0 && i < n_present; i++) {
                r = report_present(p, present[i]);
                n += r > 0 ? r : 0;
        }
        strv_free(present, n_present);
        return r < 0 ? r : n;
}

int rk_linux_provider_enumerate(rk_linux_provider *p) {
        int r;

        if (!p)
                return -EINVAL;
        if (p->busy)
                return -EBUSY;
        p->busy = true;
        r = enumerate(p);
        p->busy = false;
        return r;
}

/* ---- uevents ---- */

static bool watched(const rk_linux_provider *p, const char *subsystem) {
        return subsystem && in_list((const char *const *) p->subsystems, subsystem);
}

/* "move": the old syspath is the new one with DEVPATH replaced by
 * DEVPATH_OLD. */
static int report_moved_from(rk_linux_provider *p, struct udev_device *ud) {
        const char *syspath = udev_device_get_syspath(ud), *devpath = udev_device_get_devpath(ud);
        const char *old = udev_device_get_property_value(ud, "DEVPATH_OLD");
        _cleanup_(freep) char *old_syspath = NULL;
        size_t root;

        if (!old || !devpath || strlen(devpath) > strlen(syspath))
                return 0;
        root = strlen(syspath) - strlen(devpath);
        if (asprintf(&old_syspath, "%.*s%s", (int) root, syspath, old) < 0)
                return -ENOMEM;
        return report_gone(p, old_syspath);
}

static int handle_uevent(rk_linux_provider *p, struct udev_device *ud) {
        const char *action = udev_device_get_action(ud), *syspath = udev_device_get_syspath(ud);
        int r, n = 0;

        if (!action || !syspath || !watched(p, udev_device_get_subsystem(ud)))
                return 0;
        if (streq(action, "remove"))
                return report_gone(p, syspath);
        if (streq(action, "move")) {
                n = report_moved_from(p, ud);
                if (n < 0)
                        return n;
        }
        /* add, change, bind, unbind, online, offline, move and any new one */
        r = report_present(p, syspath);
        return r < 0 ? r : n + r;
}

/* Errors of one message that recvmsg() consumed: skip it and go on. */
static bool message_error(int e) {
        return e == EINVAL || e == EBADMSG || e == EPERM || e == EPROTO || e == ENOMSG || e == ENODATA ||
               e == ENOENT;
}

static int process(rk_linux_provider *p) {
        int n = 0, r;

        for (unsigned i = 0; i < PROCESS_BATCH; i++) {
                struct udev_device *ud;

                errno = 0;
                ud = udev_monitor_receive_device(p->monitor);
                if (!ud) {
                        int e = errno;
                        if (e == 0 || e == EAGAIN || e == EWOULDBLOCK)
                                break;
                        if (e == EINTR)
                                continue;
                        if (message_error(e)) {
                                plog(p, LOG_DEBUG, "dropped a uevent message: %s", strerror(e));
                                continue;
                        }
                        if (e != ENOBUFS)
                                return -e;
                        plog(p, LOG_WARNING, "uevent queue overflowed; resynchronising with sysfs");
                        r = enumerate(p);
                } else {
                        r = handle_uevent(p, ud);
                        udev_device_unref(ud);
                }
                if (r < 0)
                        return r;
                n += r;
        }
        return n;
}

int rk_linux_provider_process(rk_linux_provider *p) {
        int r;

        if (!p)
                return -EINVAL;
        if (p->busy)
                return -EBUSY;
        p->busy = true;
        r = process(p);
        p->busy = false;
        return r;
}

int rk_linux_provider_get_fd(const rk_linux_provider *p) {
        if (!p)
                return -EINVAL;
        return udev_monitor_get_fd(p->monitor);
}

rk_linux_monitor rk_linux_provider_get_monitor(const rk_linux_provider *p) {
        return p ? p->kind : RK_LINUX_MONITOR_AUTO;
}

/* ---- creation ---- */

static int choose_monitor(rk_linux_monitor want, rk_linux_monitor *ret) {
        const char *env;

        if (want == RK_LINUX_MONITOR_UDEV || want == RK_LINUX_MONITOR_KERNEL) {
                *ret = want;
                return 0;
        }
        if (want != RK_LINUX_MONITOR_AUTO)
                return -EINVAL;
        env = secure_getenv("RK_LINUX_MONITOR");
        if (env && streq(env, "udev"))
                *ret = RK_LINUX_MONITOR_UDEV;
        else if (env && streq(env, "kernel"))
                *ret = RK_LINUX_MONITOR_KERNEL;
        else if (env && *env && !streq(env, "auto"))
                return -EINVAL;
        else
                *ret = access("/run/udev/control", F_OK) == 0 ? RK_LINUX_MONITOR_UDEV : RK_LINUX_MONITOR_KERNEL;
        return 0;
}

static int copy_subsystems(const char *const *list, char ***ret) {
        size_t n = 0;
        char **v;

        while (list[n]) {
                if (!*list[n] || ++n > SUBSYSTEMS_MAX)
                        return -EINVAL;
        }
        if (n == 0)
                return -EINVAL;
        v = calloc(n + 1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (!(v[i] = strdup(list[i]))) {
                        strv_free(v, i);
                        return -ENOMEM;
                }
        *ret = v;
        return 0;
}

/* Create the monitor, filter it and enable it: from here on uevents queue
 * in the socket, so an enumeration started afterwards misses nothing. */
static int monitor_start(rk_linux_provider *p, size_t rcvbuf) {
        int r;

        p->monitor = udev_monitor_new_from_netlink(p->udev, p->kind == RK_LINUX_MONITOR_UDEV ? "udev" : "kernel");
        if (!p->monitor)
                return errno > 0 ? -errno : -ENOMEM;
        /* best effort: a small buffer only makes an overflow (and a resync) likelier */
        (void) udev_monitor_set_receive_buffer_size(p->monitor, (int) (rcvbuf > INT32_MAX ? INT32_MAX : rcvbuf));
        for (size_t i = 0; p->subsystems[i]; i++) {
                r = udev_monitor_filter_add_match_subsystem_devtype(p->monitor, p->subsystems[i], NULL);
                if (r < 0)
                        return r;
        }
        r = udev_monitor_enable_receiving(p->monitor);
        return r < 0 ? r : 0;
}

int rk_linux_provider_new_with_options(const rk_linux_provider_options *o, rk_linux_device_cb cb,
                                       void *userdata, rk_linux_provider **ret) {
        static const rk_linux_provider_options defaults = { .monitor = RK_LINUX_MONITOR_AUTO };
        _cleanup_(rk_linux_provider_freep) rk_linux_provider *p = NULL;
        int r;

        if (!cb || !ret)
                return -EINVAL;
        o = o ? o : &defaults;
        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->cb = cb;
        p->userdata = userdata;
        p->log = o->log;
        r = choose_monitor(o->monitor, &p->kind);
        if (r < 0)
                return r;
        r = copy_subsystems(o->subsystems ? o->subsystems : rk_linux_default_subsystems, &p->subsystems);
        if (r < 0)
                return r;
        p->udev = udev_new();
        if (!p->udev)
                return errno > 0 ? -errno : -ENOMEM;
        r = monitor_start(p, o->receive_buffer ? o->receive_buffer : RECEIVE_BUFFER_DEFAULT);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(p);
        return 0;
}

int rk_linux_provider_new(const char *const *subsystems, rk_linux_device_cb cb, void *userdata,
                          rk_linux_provider **ret) {
        rk_linux_provider_options o = { .subsystems = subsystems, .monitor = RK_LINUX_MONITOR_AUTO };
        return rk_linux_provider_new_with_options(&o, cb, userdata, ret);
}

rk_linux_provider *rk_linux_provider_free(rk_linux_provider *p) {
        size_t n = 0;

        if (!p)
                return NULL;
        if (p->monitor)
                udev_monitor_unref(p->monitor);
        if (p->udev)
                udev_unref(p->udev);
        while (p->subsystems && p->subsystems[n])
                n++;
        strv_free(p->subsystems, n);
        strv_free(p->known, p->n_known);
        free(p);
        return NULL;
}
