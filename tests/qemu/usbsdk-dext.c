/* SPDX-License-Identifier: MIT */
/*
 * rk-usbsdk-dext: the QEMU lane's test dext for the USB family SDK
 * (include/ringkit/usb.h).  Two driver classes, each matched to an
 * IOUSBHostInterface nub; every step writes one line to the RKReportLog
 * file, which the guest test (6x-usbsdk-*.sh) checks against sysfs and the
 * disk image's known pattern.
 *
 * RKUSBSDKKeyboard (QEMU usb-kbd, interface 0):
 *   descriptors; open (detaches usbhid); HID class requests SET_IDLE /
 *   GET_IDLE / GET_REPORT / SET_REPORT (LEDs); a synchronous interrupt read
 *   that times out (no key); an asynchronous interrupt read cancelled
 *   (nothing completes it: the cancel is what ends it); then one interrupt
 *   URB kept in flight, each report logged ("report HEX...").
 *
 * RKUSBSDKStorage (QEMU usb-storage, Bulk-Only Transport):
 *   descriptors and strings; open (detaches usb-storage); GET_MAX_LUN;
 *   SCSI INQUIRY, READ CAPACITY(10), READ(10) checked against the image
 *   pattern, WRITE(10) + read back + restore; stalls provoked (a CBW with a
 *   bad signature stalls bulk OUT, an IN token where the device wants a CBW
 *   stalls bulk IN), seen as -EPIPE, the async refusal on a stalled pipe,
 *   recovered with BOT reset + ClearStall; then on the dispatch queue: a
 *   READ(10) of 1 MiB as 8 queued URBs, one of 4 MiB as 32 URBs with the
 *   pipe aborted right after queueing them (then BOT reset recovery and a
 *   checked read).  RKStoragePlan "cancel" runs only the identification
 *   and the cancel stage; "stream" streams READ(10)s with 8 URBs queued
 *   until the device goes ("gone STATUS" when a completion or submission
 *   says -ENODEV).  Matched to a device nub, it takes interface 0.
 *
 * RKUSBSDKAltSettings (QEMU usb-audio, matched to the device): opens
 *   interface RKInterface (1, audio streaming), selects alternate setting 1
 *   (an isochronous endpoint: its pipe appears, transfers -EOPNOTSUPP), 0
 *   (no endpoints) and a missing one (-ENOENT), the device's GET_INTERFACE
 *   answer logged after each.
 *
 * The image pattern (tests/qemu/qemu-lane.py): the 32-bit little-endian
 * word at byte offset o of the disk is o / 4.
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

static void report(rk_driver *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(rk_driver *d, const char *fmt, ...) {
        const char *path = NULL;
        char line[1024];
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
        if (fd < 0)
                return;
        if (write(fd, line, (size_t) n) < 0)
                rk_driver_log(d, RK_LOG_WARNING, "%s: %s", path, strerror(errno));
        close(fd);
}

typedef struct usbt {
        rk_driver *d;
        rk_usb_device *dev;
        rk_usb_interface *intf;
        rk_usb_pipe *in, *out;
        uint8_t ifno;
        /* storage */
        uint32_t tag, blocks, block_size;
        uint8_t *buf;
        size_t buf_size;
        unsigned stage, urbs, done, ok, cancelled, bad;
        uint32_t lba;
        bool gone, stopping;
        int abort_rc;
        /* keyboard */
        uint8_t report[64];
} usbt;

static int describe(usbt *t) {
        const rk_usb_device_descriptor *dd = rk_usb_device_get_device_descriptor(t->dev);
        const rk_usb_config_descriptor *c = rk_usb_device_get_config_descriptor(t->dev);
        const rk_usb_alt_setting *a;
        char prod[128] = "", manu[128] = "", serial[128] = "", eps[256] = "";
        size_t o = 0;

        if (!c)
                return -ENOENT;
        (void) rk_usb_device_copy_string(t->dev, dd->iProduct, 0, prod, sizeof(prod), 1000);
        (void) rk_usb_device_copy_string(t->dev, dd->iManufacturer, 0, manu, sizeof(manu), 1000);
        (void) rk_usb_device_copy_string(t->dev, dd->iSerialNumber, 0, serial, sizeof(serial), 1000);
        report(t->d, "device idVendor=%04x idProduct=%04x bcdUSB=%04x bcdDevice=%04x bNumConfigurations=%u "
                     "bMaxPacketSize0=%u", dd->idVendor, dd->idProduct, dd->bcdUSB, dd->bcdDevice,
               dd->bNumConfigurations, dd->bMaxPacketSize0);
        report(t->d, "strings product=%s|manufacturer=%s|serial=%s", prod, manu, serial);
        report(t->d, "config bConfigurationValue=%u bNumInterfaces=%u bmAttributes=%02x bMaxPower=%u",
               c->bConfigurationValue, c->bNumInterfaces, c->bmAttributes, c->bMaxPower);
        a = rk_usb_config_descriptor_find_alt(c, t->ifno, 0);
        if (!a)
                return -ENOENT;
        for (size_t i = 0; i < a->n_endpoints && o < sizeof(eps) - 32; i++)
                o += (size_t) snprintf(eps + o, sizeof(eps) - o, " ep_%02x=%u:%u:%u", a->endpoints[i].bEndpointAddress,
                                       a->endpoints[i].bmAttributes & 3, a->endpoints[i].wMaxPacketSize,
                                       a->endpoints[i].bInterval);
        report(t->d, "interface bInterfaceNumber=%u bAlternateSetting=%u bInterfaceClass=%02x bInterfaceSubClass=%02x "
                     "bInterfaceProtocol=%02x bNumEndpoints=%u%s", a->bInterfaceNumber, a->bAlternateSetting,
               a->bInterfaceClass, a->bInterfaceSubClass, a->bInterfaceProtocol, a->bNumEndpoints, eps);
        return 0;
}

static int open_common(rk_driver *d, usbt **ret) {
        usbt *t = calloc(1, sizeof(*t));
        int64_t n = 0;
        int r;

        if (!t)
                return -ENOMEM;
        t->d = d;
        rk_driver_set_ivars(d, t);
        r = rk_usb_device_new(d, &t->dev);
        if (r < 0) {
                report(d, "error device-new %d", r);
                return r;
        }
        (void) rk_driver_get_integer(d, "bInterfaceNumber", &n);
        t->ifno = (uint8_t) n;
        if ((r = describe(t)) < 0) {
                report(d, "error describe %d", r);
                return r;
        }
        r = rk_usb_interface_open_provider(t->dev, d, &t->intf);
        if (r == -ENOENT) /* matched to the device nub: its interface 0 */
                r = rk_usb_interface_open(t->dev, t->ifno, &t->intf);
        if (r < 0) {
                report(d, "error open %d", r);
                return r;
        }
        report(d, "claimed %d interface=%u detached=%s", (int) getpid(), rk_usb_interface_get_number(t->intf),
               rk_usb_interface_get_detached_driver(t->intf) ? rk_usb_interface_get_detached_driver(t->intf) : "none");
        *ret = t;
        return 0;
}

static void t_stop(rk_driver *d) {
        usbt *t = rk_driver_get_ivars(d);

        if (!t)
                return;
        t->stopping = true;
        rk_usb_interface_close(t->intf); /* cancels what is in flight, hands the interface back */
        t->intf = NULL;
        t->in = t->out = NULL;
        report(d, "released %d", (int) getpid());
}

static void t_free(rk_driver *d) {
        usbt *t = rk_driver_get_ivars(d);

        if (!t)
                return;
        rk_usb_interface_close(t->intf);
        rk_usb_device_free(t->dev);
        free(t->buf);
        free(t);
}

/* ================================================================ keyboard */

static void kbd_report_done(rk_usb_request *req, int status, size_t actual, void *ud);

static int kbd_submit(usbt *t) {
        return rk_usb_pipe_async_io(t->in, t->report, 8, kbd_report_done, t, NULL);
}

static void kbd_report_done(rk_usb_request *req, int status, size_t actual, void *ud) {
        usbt *t = ud;
        char hex[3 * 8 + 1] = "";

        (void) req;
        if (status == -ECANCELED || t->stopping)
                return; /* closing */
        if (status < 0) {
                report(t->d, "gone %d", status);
                return;
        }
        for (size_t i = 0; i < actual && i < 8; i++)
                snprintf(hex + 3 * i, 4, " %02x", t->report[i]);
        report(t->d, "report %d%s", (int) getpid(), hex);
        if (kbd_submit(t) < 0)
                report(t->d, "gone resubmit");
}

static void kbd_cancel_done(rk_usb_request *req, int status, size_t actual, void *ud) {
        usbt *t = ud;
        int r;

        (void) req;
        report(t->d, "async-cancel status=%d actual=%zu pending=%zu", status, actual, rk_usb_pipe_get_pending(t->in));
        r = kbd_submit(t);
        if (r < 0)
                report(t->d, "error submit %d", r);
        else
                report(t->d, "reading %d", (int) getpid());
}

static int k_start(rk_driver *d) {
        usbt *t;
        uint8_t v[8] = { 0 };
        rk_usb_request *req;
        int r;

        if ((r = open_common(d, &t)) < 0)
                return r;
        if ((r = rk_usb_interface_find_pipe(t->intf, RK_USB_XFER_INTERRUPT, true, &t->in)) < 0) {
                report(d, "error no interrupt IN pipe %d", r);
                return r;
        }
        /* HID class requests (HID 1.11, 7.2): SET_IDLE 0x0a, GET_IDLE 0x02, GET_REPORT 0x01, SET_REPORT 0x09 */
        r = rk_usb_device_request(t->dev, 0x21, 0x0a, 0x2000, t->ifno, NULL, 0, 1000);
        int g = rk_usb_device_request(t->dev, 0xa1, 0x02, 0, t->ifno, v, 1, 1000);
        report(d, "set-idle rc=%d get-idle rc=%d value=%u", r, g, v[0]);
        (void) rk_usb_device_request(t->dev, 0x21, 0x0a, 0, t->ifno, NULL, 0, 1000); /* back: report on change only */
        memset(v, 0xee, sizeof(v));
        r = rk_usb_device_request(t->dev, 0xa1, 0x01, 0x0100, t->ifno, v, 8, 1000);
        report(d, "get-report rc=%d keys=%02x%02x%02x%02x%02x%02x", r, v[2], v[3], v[4], v[5], v[6], v[7]);
        v[0] = 0x02; /* caps lock LED */
        r = rk_usb_device_request(t->dev, 0x21, 0x09, 0x0200, t->ifno, v, 1, 1000);
        report(d, "set-report rc=%d", r);
        v[0] = 0;
        (void) rk_usb_device_request(t->dev, 0x21, 0x09, 0x0200, t->ifno, v, 1, 1000);
        /* a request the device does not know: it stalls endpoint 0 for that request only */
        r = rk_usb_device_request(t->dev, 0xa1, 0x7f, 0, t->ifno, v, 1, 1000);
        report(d, "control-stall rc=%d", r);
        /* no key pressed: the synchronous interrupt read times out */
        r = rk_usb_pipe_io(t->in, t->report, 8, 300);
        report(d, "sync-timeout rc=%d", r);
        /* an async read nothing completes but the cancel */
        r = rk_usb_pipe_async_io(t->in, t->report, 8, kbd_cancel_done, t, &req);
        if (r < 0) {
                report(d, "error async %d", r);
                return r;
        }
        report(d, "async-submitted pending=%zu", rk_usb_pipe_get_pending(t->in));
        r = rk_usb_request_cancel(req);
        report(d, "cancel rc=%d", r);
        return rk_driver_register_service(d);
}

/* ================================================================ storage: Bulk-Only Transport */

#define CBW_SIG 0x43425355u
#define CSW_SIG 0x53425355u

static void put32le(uint8_t *p, uint32_t v) {
        p[0] = (uint8_t) v, p[1] = (uint8_t) (v >> 8), p[2] = (uint8_t) (v >> 16), p[3] = (uint8_t) (v >> 24);
}
static uint32_t get32le(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}
static uint32_t get32be(const uint8_t *p) {
        return (uint32_t) p[3] | (uint32_t) p[2] << 8 | (uint32_t) p[1] << 16 | (uint32_t) p[0] << 24;
}

static int send_cbw(usbt *t, const uint8_t *cdb, uint8_t cdb_len, uint32_t data_len, bool in) {
        uint8_t cbw[31] = { 0 };
        int r;

        put32le(cbw, CBW_SIG);
        put32le(cbw + 4, ++t->tag);
        put32le(cbw + 8, data_len);
        cbw[12] = in ? 0x80 : 0;
        cbw[14] = cdb_len;
        memcpy(cbw + 15, cdb, cdb_len);
        r = rk_usb_pipe_io(t->out, cbw, sizeof(cbw), 5000);
        return r < 0 ? r : r == 31 ? 0 : -EIO;
}

/* The CSW: 0 (command passed), 1 (failed), or an error. */
static int read_csw(usbt *t) {
        uint8_t csw[13];
        int r = rk_usb_pipe_io(t->in, csw, sizeof(csw), 5000);

        if (r < 0)
                return r;
        if (r != 13 || get32le(csw) != CSW_SIG || get32le(csw + 4) != t->tag)
                return -EBADMSG;
        return csw[12];
}

/* A whole command with its data phase done synchronously.  Returns the CSW status or an error. */
static int scsi(usbt *t, const uint8_t *cdb, uint8_t cdb_len, void *data, uint32_t len, bool in) {
        int r = send_cbw(t, cdb, cdb_len, len, in);

        if (r < 0)
                return r;
        if (len > 0) {
                r = rk_usb_pipe_io(in ? t->in : t->out, data, len, 10000);
                if (r < 0)
                        return r;
        }
        return read_csw(t);
}

static void rw10(uint8_t cdb[10], bool write, uint32_t lba, uint16_t blocks) {
        memset(cdb, 0, 10);
        cdb[0] = write ? 0x2a : 0x28;
        cdb[2] = (uint8_t) (lba >> 24), cdb[3] = (uint8_t) (lba >> 16), cdb[4] = (uint8_t) (lba >> 8), cdb[5] = (uint8_t) lba;
        cdb[7] = (uint8_t) (blocks >> 8), cdb[8] = (uint8_t) blocks;
}

/* The image's pattern: word at byte offset o is o / 4. Returns the first bad byte offset or -1. */
static long check_pattern(const uint8_t *p, size_t len, uint64_t disk_off) {
        for (size_t i = 0; i + 4 <= len; i += 4)
                if (get32le(p + i) != (uint32_t) ((disk_off + i) / 4))
                        return (long) i;
        return -1;
}

static void fill_pattern(uint8_t *p, size_t len, uint64_t disk_off) {
        for (size_t i = 0; i + 4 <= len; i += 4)
                put32le(p + i, (uint32_t) ((disk_off + i) / 4));
}

/* BOT reset recovery (BOT 5.3.4): Bulk-Only Mass Storage Reset, then ClearStall on both pipes. */
static int bot_reset(usbt *t) {
        int r = rk_usb_device_request(t->dev, 0x21, 0xff, 0, t->ifno, NULL, 0, 2000);

        if (r < 0)
                return r;
        if ((r = rk_usb_pipe_clear_stall(t->in)) < 0)
                return r;
        return rk_usb_pipe_clear_stall(t->out);
}

static int read_check(usbt *t, uint32_t lba, uint16_t blocks, const char *what) {
        uint8_t cdb[10];
        size_t len = (size_t) blocks * t->block_size;
        long bad;
        int r;

        rw10(cdb, false, lba, blocks);
        r = scsi(t, cdb, 10, t->buf, (uint32_t) len, true);
        if (r != 0) {
                report(t->d, "%s lba=%u blocks=%u rc=%d", what, lba, blocks, r);
                return r < 0 ? r : -EIO;
        }
        bad = check_pattern(t->buf, len, (uint64_t) lba * t->block_size);
        if (bad >= 0)
                report(t->d, "%s lba=%u blocks=%u mismatch at %ld", what, lba, blocks, bad);
        else
                report(t->d, "%s lba=%u blocks=%u ok", what, lba, blocks);
        return bad >= 0 ? -EIO : 0;
}

static void unexpected_done(rk_usb_request *req, int status, size_t actual, void *ud) {
        usbt *t = ud;
        (void) req;
        report(t->d, "error completion of a refused request status=%d actual=%zu", status, actual);
}

/* GET_MAX_LUN, INQUIRY, READ CAPACITY(10); the transfer buffer */
static int storage_identify(usbt *t) {
        uint8_t cdb[16], data[96], lun = 0xff;
        uint32_t last;
        int r;

        r = rk_usb_device_request(t->dev, 0xa1, 0xfe, 0, t->ifno, &lun, 1, 1000);
        report(t->d, "max-lun rc=%d lun=%u", r, lun);

        memset(cdb, 0, sizeof(cdb));
        cdb[0] = 0x12, cdb[4] = 36; /* INQUIRY */
        memset(data, 0, sizeof(data));
        r = scsi(t, cdb, 6, data, 36, true);
        report(t->d, "inquiry rc=%d type=%u vendor=%.8s product=%.16s", r, data[0] & 0x1f, (char *) data + 8,
               (char *) data + 16);
        if (r != 0)
                return -EIO;

        memset(cdb, 0, sizeof(cdb));
        cdb[0] = 0x25; /* READ CAPACITY(10) */
        r = scsi(t, cdb, 10, data, 8, true);
        if (r != 0) {
                report(t->d, "read-capacity rc=%d", r);
                return -EIO;
        }
        last = get32be(data);
        t->block_size = get32be(data + 4);
        t->blocks = last + 1;
        report(t->d, "read-capacity rc=0 blocks=%u block-size=%u bytes=%llu", t->blocks, t->block_size,
               (unsigned long long) t->blocks * t->block_size);
        if (t->block_size != 512)
                return -EIO;
        t->buf_size = 4u << 20;
        t->buf = malloc(t->buf_size);
        if (!t->buf)
                return -ENOMEM;

        return 0;
}

static int storage_sync_tests(usbt *t) {
        uint8_t cdb[16], data[96];
        uint8_t bad_cbw[31];
        uint32_t last = t->blocks - 1;
        int r;

        (void) read_check(t, 0, 64, "read-sync");
        (void) read_check(t, last - 63, 64, "read-sync-end");

        /* WRITE(10) one block with another pattern, read it back, put the original back */
        memset(t->buf, 0xa5, 512);
        rw10(cdb, true, 100, 1);
        r = scsi(t, cdb, 10, t->buf, 512, false);
        memset(t->buf, 0, 512);
        rw10(cdb, false, 100, 1);
        int r2 = scsi(t, cdb, 10, t->buf, 512, true);
        bool same = true;
        for (int i = 0; i < 512; i++)
                same &= t->buf[i] == 0xa5;
        fill_pattern(t->buf, 512, 100 * 512);
        rw10(cdb, true, 100, 1);
        int r3 = scsi(t, cdb, 10, t->buf, 512, false);
        report(t->d, "write rc=%d readback rc=%d %s restore rc=%d", r, r2, same ? "same" : "differs", r3);
        (void) read_check(t, 96, 8, "read-after-restore");

        /* a stall on bulk OUT: the device refuses a CBW with a bad signature (BOT 6.6.1) */
        memset(bad_cbw, 0, sizeof(bad_cbw));
        put32le(bad_cbw, 0xdeadbeef);
        r = rk_usb_pipe_io(t->out, bad_cbw, sizeof(bad_cbw), 2000);
        report(t->d, "stall-out rc=%d stalled=%d", r, rk_usb_pipe_is_stalled(t->out));
        r = rk_usb_pipe_async_io(t->out, bad_cbw, sizeof(bad_cbw), unexpected_done, t, NULL);
        report(t->d, "stalled-pipe-refuses-async rc=%d", r);
        r = bot_reset(t);
        report(t->d, "stall-out-cleared rc=%d stalled=%d", r, rk_usb_pipe_is_stalled(t->out));
        (void) read_check(t, 8, 8, "stall-out-recovered");

        /* a stall on bulk IN: an IN token where the device waits for a CBW */
        r = rk_usb_pipe_io(t->in, data, 13, 2000);
        report(t->d, "stall-in rc=%d stalled=%d", r, rk_usb_pipe_is_stalled(t->in));
        r = rk_usb_pipe_clear_stall(t->in);
        report(t->d, "stall-in-cleared rc=%d stalled=%d", r, rk_usb_pipe_is_stalled(t->in));
        (void) read_check(t, 16, 8, "stall-in-recovered");
        return 0;
}

/* ---- the asynchronous stages, on the dispatch queue ---- */

enum { ST_ASYNC_READ, ST_ASYNC_CANCEL, ST_STREAM, ST_DONE };
static void start_cancel(usbt *t);
#define URB_SIZE (128u * 1024)

static void stage_next(usbt *t);

typedef struct chunk {
        usbt *t;
        unsigned index;
} chunk;
static chunk chunks[32];

static void async_done(rk_usb_request *req, int status, size_t actual, void *ud) {
        chunk *c = ud;
        usbt *t = c->t;
        uint64_t off = (uint64_t) t->lba * t->block_size + (uint64_t) c->index * URB_SIZE;

        (void) req;
        t->done++;
        if (status == 0 && actual == URB_SIZE && check_pattern(t->buf + (size_t) c->index * URB_SIZE, actual, off) < 0)
                t->ok++;
        else if (status == -ECANCELED)
                t->cancelled++;
        else {
                if (status == -ENODEV)
                        t->gone = true;
                t->bad++;
                if (t->stage != ST_STREAM)
                        report(t->d, "async urb %u status=%d actual=%zu", c->index, status, actual);
        }
        if (t->done < t->urbs)
                return;
        /* every URB of the command is back */
        if (t->gone) {
                report(t->d, "gone status=-19 pending=%zu", rk_usb_pipe_get_pending(t->in));
                return;
        }
        if (!t->stopping)
                stage_next(t);
}

/* CBW for READ(10) of n URBs' worth, then n URBs queued. */
static int async_read(usbt *t, uint32_t lba, unsigned n) {
        uint8_t cdb[10];
        int r;

        t->lba = lba;
        t->urbs = 0;
        t->done = t->ok = t->cancelled = t->bad = 0;
        rw10(cdb, false, lba, (uint16_t) (n * URB_SIZE / t->block_size));
        r = send_cbw(t, cdb, 10, n * URB_SIZE, true);
        if (r < 0)
                return r;
        t->urbs = n;
        for (unsigned i = 0; i < n; i++) {
                chunks[i] = (chunk) { .t = t, .index = i };
                r = rk_usb_pipe_async_io(t->in, t->buf + (size_t) i * URB_SIZE, URB_SIZE, async_done, &chunks[i], NULL);
                if (r < 0) {
                        t->urbs = i; /* the ones queued still complete */
                        return r;
                }
        }
        return 0;
}

/* READ(10) of 4 MiB as 32 URBs, the pipe aborted right after they are queued */
static void start_cancel(usbt *t) {
        int r;

        t->stage = ST_ASYNC_CANCEL;
        r = async_read(t, 4096, 32);
        report(t->d, "async-cancel-submitted rc=%d pending=%zu", r, rk_usb_pipe_get_pending(t->in));
        if (r < 0)
                return;
        /* abort the pipe at once (IOUSBHostPipe::Abort): what the device has not sent yet is
         * cancelled.  Cancelling only the tail would not do on this device: the host controller
         * stops the endpoint to take URBs off, which also ends the device's current data phase */
        t->abort_rc = rk_usb_pipe_abort(t->in);
}

static void start_stream(usbt *t) {
        uint32_t span = 8 * URB_SIZE / t->block_size;
        int r;

        if (t->stage != ST_STREAM) {
                t->stage = ST_STREAM;
                t->lba = 0;
                report(t->d, "streaming %d", (int) getpid());
        }
        r = async_read(t, (t->lba + span) % (t->blocks - span), 8);
        if (r == -ENODEV && rk_usb_pipe_get_pending(t->in) == 0)
                report(t->d, "gone status=%d pending=0", r);
        else if (r < 0 && r != -ENODEV)
                report(t->d, "error stream %d", r);
}

static void stage_next(usbt *t) {
        int r;

        switch (t->stage) {
        case ST_ASYNC_READ: {
                r = read_csw(t);
                report(t->d, "async-read urbs=%u ok=%u bad=%u csw=%d", t->urbs, t->ok, t->bad, r);
                start_cancel(t);
                return;
        }
        case ST_ASYNC_CANCEL:
                /* the data phase was cut short: BOT reset recovery, then the device must answer again */
                r = bot_reset(t);
                report(t->d, "async-cancel urbs=%u ok=%u cancelled=%u bad=%u abort=%d reset=%d", t->urbs, t->ok,
                       t->cancelled, t->bad, t->abort_rc, r);
                (void) read_check(t, 4096, 64, "after-cancel");
                report(t->d, "plan-done");
                t->stage = ST_DONE;
                return;
        case ST_STREAM:
                if (t->ok != t->urbs)
                        report(t->d, "stream urbs=%u ok=%u bad=%u", t->urbs, t->ok, t->bad);
                r = read_csw(t);
                if (r == -ENODEV) {
                        report(t->d, "gone status=%d pending=%zu", r, rk_usb_pipe_get_pending(t->in));
                        return;
                }
                start_stream(t);
                return;
        default:
                return;
        }
}

static int s_start(rk_driver *d) {
        const char *plan = NULL;
        usbt *t;
        int r;

        if ((r = open_common(d, &t)) < 0)
                return r;
        if (rk_usb_interface_find_pipe(t->intf, RK_USB_XFER_BULK, true, &t->in) < 0 ||
            rk_usb_interface_find_pipe(t->intf, RK_USB_XFER_BULK, false, &t->out) < 0) {
                report(d, "error no bulk pipes");
                return -ENODEV;
        }
        if (rk_driver_get_string(d, "RKStoragePlan", &plan) < 0)
                plan = "full";
        if ((r = storage_identify(t)) < 0) {
                report(d, "error identify %d", r);
                return r;
        }
        if (strcmp(plan, "stream") == 0) {
                start_stream(t);
        } else if (strcmp(plan, "cancel") == 0) {
                start_cancel(t);
        } else {
                if ((r = storage_sync_tests(t)) < 0) {
                        report(d, "error plan %d", r);
                        return r;
                }
                t->stage = ST_ASYNC_READ;
                r = async_read(t, 2048, 8);
                report(d, "async-read-submitted rc=%d pending=%zu", r, rk_usb_pipe_get_pending(t->in));
        }
        return rk_driver_register_service(d);
}

/* ================================================================ alternate settings (QEMU usb-audio) */

static int get_interface(usbt *t, uint8_t ifno) {
        uint8_t v = 0xff;
        int r = rk_usb_device_request(t->dev, 0x81, 0x0a /* GET_INTERFACE */, 0, ifno, &v, 1, 1000);
        return r == 1 ? v : r < 0 ? r : -EIO;
}

static void alt_report(usbt *t, const char *what, int rc) {
        const rk_usb_alt_setting *a = rk_usb_interface_get_alt_setting(t->intf);
        rk_usb_pipe *p = NULL;
        char pipes[128] = "";

        for (size_t i = 0, o = 0; a && i < a->n_endpoints && o < sizeof(pipes) - 16; i++)
                if (rk_usb_interface_copy_pipe(t->intf, a->endpoints[i].bEndpointAddress, &p) == 0)
                        o += (size_t) snprintf(pipes + o, sizeof(pipes) - o, " pipe_%02x=%u", rk_usb_pipe_get_address(p),
                                               rk_usb_pipe_get_endpoint_descriptor(p)->bmAttributes & 3);
        report(t->d, "%s rc=%d alt=%d endpoints=%zu device-alt=%d%s", what, rc, a ? a->bAlternateSetting : -1,
               a ? a->n_endpoints : 0, get_interface(t, rk_usb_interface_get_number(t->intf)), pipes);
}

/* Matched to the device nub; RKInterface (default 1: QEMU usb-audio's streaming interface). */
static int a_start(rk_driver *d) {
        usbt *t = calloc(1, sizeof(*t));
        const rk_usb_alt_setting *a;
        rk_usb_pipe *p;
        int64_t n = 1;
        uint8_t buf[64] = { 0 };
        int r;

        if (!t)
                return -ENOMEM;
        t->d = d;
        rk_driver_set_ivars(d, t);
        (void) rk_driver_get_integer(d, "RKInterface", &n);
        t->ifno = (uint8_t) n;
        if ((r = rk_usb_device_new(d, &t->dev)) < 0 || (r = describe(t)) < 0 ||
            (r = rk_usb_interface_open(t->dev, t->ifno, &t->intf)) < 0) {
                report(d, "error open %d", r);
                return r;
        }
        report(d, "claimed %d interface=%u detached=%s", (int) getpid(), t->ifno,
               rk_usb_interface_get_detached_driver(t->intf) ? rk_usb_interface_get_detached_driver(t->intf) : "none");
        alt_report(t, "opened", 0);
        r = rk_usb_interface_select_alt_setting(t->intf, 1);
        alt_report(t, "select-1", r);
        a = rk_usb_interface_get_alt_setting(t->intf);
        if (a && a->n_endpoints > 0 && rk_usb_interface_copy_pipe(t->intf, a->endpoints[0].bEndpointAddress, &p) == 0) {
                r = rk_usb_pipe_io(p, buf, sizeof(buf), 100);
                report(d, "iso-io rc=%d", r);
        }
        r = rk_usb_interface_select_alt_setting(t->intf, 0);
        alt_report(t, "select-0", r);
        r = rk_usb_interface_select_alt_setting(t->intf, 77);
        alt_report(t, "select-77", r);
        r = rk_usb_interface_copy_pipe(t->intf, 0x01, &p);
        report(d, "copy-pipe-after rc=%d", r);
        return rk_driver_register_service(d);
}

static const rk_driver_class kbd_class = {
        .name = "RKUSBSDKKeyboard", .start = k_start, .stop = t_stop, .free = t_free,
};
static const rk_driver_class storage_class = {
        .name = "RKUSBSDKStorage", .start = s_start, .stop = t_stop, .free = t_free,
};
static const rk_driver_class alt_class = {
        .name = "RKUSBSDKAltSettings", .start = a_start, .stop = t_stop, .free = t_free,
};

int main(int argc, char **argv) {
        const rk_driver_class *classes[] = { &kbd_class, &storage_class, &alt_class };
        return rk_driver_main(argc, argv, classes, 3);
}
