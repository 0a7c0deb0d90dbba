/* SPDX-License-Identifier: MIT */
/*
 * RKUSBSerialDriver: the built-in user-space USB serial driver.  Its
 * provider is a USB interface nub (IOUSBHostInterface; ringd passes the
 * device's usbfs node as the provider handle).  It takes the interface from
 * its kernel driver (ftdi_sio, cdc_acm), opens a pseudo-terminal for
 * programs, and moves bytes both ways between the pty and the bulk
 * endpoints; line settings the program makes on the pty (speed, stop bits,
 * RTS/CTS and XON/XOFF flow control, B0 = hang up) go to the chip.
 *
 *   FTDI      FT232 AM/BM/R (0x0403, one interface, vendor class): line
 *             settings through vendor control requests (SET_BAUD with the
 *             232BM divisor, SET_DATA, SET_FLOW_CTRL, SET_MDM_CTRL,
 *             SET_LATENCY); each bulk-IN packet (of wMaxPacketSize) starts
 *             with two status bytes (modem, line) that are stripped
 *   CDC-ACM   communications class 2 / subclass 2 with its data interface
 *             (from the union descriptor, else the next interface):
 *             SET_LINE_CODING and SET_CONTROL_LINE_STATE; data raw
 *
 * Data path.  A few bulk-IN URBs stay in flight; their bytes go to the pty
 * master.  When the pty is full (no program reads), the bytes wait here and
 * the IN URBs are not resubmitted, so the device NAKs and the far end is
 * held back; nothing is dropped.  Pty -> device: one bulk-OUT URB at a
 * time; the master is read only while it is idle (the pty holds the rest).
 *
 * Line settings.  Linux's pty keeps the slave's termios (the master's
 * TCGETS returns it); the driver reads it with TCGETS2 (any speed) before
 * each chunk it sends, so a program's tcsetattr() then write() reaches the
 * chip before the data does, and on a 200 ms timer for changes not followed
 * by data.  Linux's pty forces CS8 and clears PARENB on every tcsetattr, so
 * parity and data bits cannot come through the pty: they come from the
 * personality (RKSerialParity, RKSerialDataBits).  The driver keeps a slave
 * descriptor of its own, so the master never sees a hang-up when programs
 * close the port (an epoll busy loop otherwise).
 *
 * USB access goes through libringdriver's USB family (ringkit/usb.h):
 * the interfaces opened with rk_usb_interface_open (DISCONNECT_CLAIM, the
 * kernel driver reattached at close), control requests on the device,
 * bulk transfers as asynchronous requests completed on the driver's queue.
 * The descriptors are read from the usbfs descriptor and parsed here
 * (rk_usbserial_parse_layout: the CDC union lives in class descriptors).
 *
 * Personality keys (all optional):
 *   RKSerialBaudRate     integer: the pty's (and so the chip's) initial speed
 *   RKSerialParity       string: none (default), odd, even, mark, space
 *   RKSerialDataBits     integer: 7 or 8 (default)
 *   RKFTDILatencyTimer   integer 1..255 ms (default 16, the chip's own)
 *
 * `ringkit-builtin --self-test-usbserial` runs the descriptor parser, the
 * FTDI divisor and the FTDI packet framing on known inputs.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/usb/ch9.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "ringkit/driver.h"
#include "ringkit/usb.h"
#include "usbserial.h"

#define N_IN 4                  /* bulk-IN URBs in flight */
#define IO_MAX 4096             /* bytes of one URB */
#define TOPTY_MAX (4 * IO_MAX)  /* device bytes waiting for the pty */
#define CTRL_TIMEOUT_MS 1000
#define TERMIOS_POLL_USEC 200000

typedef struct usbser usbser;

/* ---- descriptors ---- */

/* Walks the descriptors of configuration `cfg` (0: the first one) as
 * usbfs returns them (the device descriptor, then every configuration's);
 * calls `fn` on each descriptor after a configuration's own, with the
 * interface number it belongs to (-1 before the first, or for alternate
 * settings other than 0).  -EBADMSG when a length runs past the end. */
static int walk_config(const uint8_t *desc, size_t n, unsigned cfg,
                       void (*fn)(const uint8_t *p, int ifno, void *ud), void *ud) {
        int index = -1, cur_if = -1;
        bool in_cfg = false;

        for (size_t off = desc[0]; off + 2 <= n; off += desc[off]) {
                uint8_t len = desc[off], type = desc[off + 1];
                if (len < 2 || off + len > n)
                        return -EBADMSG;
                if (type == USB_DT_CONFIG) {
                        if (len < 9)
                                return -EBADMSG;
                        index++;
                        in_cfg = cfg ? desc[off + 5] == cfg : index == 0;
                        cur_if = -1;
                        continue;
                }
                if (!in_cfg)
                        continue;
                if (type == USB_DT_INTERFACE) {
                        if (len < 9)
                                return -EBADMSG;
                        cur_if = desc[off + 3] == 0 ? desc[off + 2] : -1; /* alternate setting 0 only */
                }
                if ((type == USB_DT_ENDPOINT && len < 7) || (type == 0x24 && len < 3))
                        return -EBADMSG;
                fn(desc + off, cur_if, ud);
        }
        return 0;
}

typedef struct walk_state {
        rk_usbserial_layout *l;
        unsigned ifno;
        int union_slave;
} walk_state;

static void pass_interface(const uint8_t *p, int ifno, void *ud) {
        walk_state *w = ud;
        if (ifno != (int) w->ifno)
                return;
        if (p[1] == USB_DT_INTERFACE) {
                w->l->found = true;
                w->l->if_class = p[5];
                w->l->if_subclass = p[6];
        } else if (p[1] == 0x24 && p[2] == 0x06 && p[0] >= 5) {
                w->union_slave = p[4]; /* CDC union: bControlInterface, bSubordinateInterface0 */
        }
}

static void pass_endpoints(const uint8_t *p, int ifno, void *ud) {
        walk_state *w = ud;
        rk_usbserial_layout *l = w->l;
        uint8_t ep, attr;
        uint16_t max;

        if (p[1] != USB_DT_ENDPOINT || ifno < 0)
                return; /* walk_config checked an endpoint's length, not the others' */
        ep = p[2];
        attr = p[3] & USB_ENDPOINT_XFERTYPE_MASK;
        max = (uint16_t) ((p[4] | p[5] << 8) & 0x7ff);
        if (ifno == (int) l->data_if && attr == USB_ENDPOINT_XFER_BULK) {
                if ((ep & USB_DIR_IN) && !l->ep_in) {
                        l->ep_in = ep;
                        l->in_max = max;
                } else if (!(ep & USB_DIR_IN) && !l->ep_out) {
                        l->ep_out = ep;
                }
        } else if (l->acm && ifno == (int) l->ctrl_if && attr == USB_ENDPOINT_XFER_INT && (ep & USB_DIR_IN)) {
                l->ep_notify = ep;
        }
}

int rk_usbserial_parse_layout(const uint8_t *desc, size_t n, unsigned cfg, unsigned ifno, rk_usbserial_layout *l) {
        walk_state w = { .l = l, .ifno = ifno, .union_slave = -1 };
        int r;

        memset(l, 0, sizeof(*l));
        if (n < USB_DT_DEVICE_SIZE || desc[0] < USB_DT_DEVICE_SIZE || desc[1] != USB_DT_DEVICE)
                return -EBADMSG;
        l->vendor = (uint16_t) (desc[8] | desc[9] << 8);
        l->product = (uint16_t) (desc[10] | desc[11] << 8);
        l->ctrl_if = l->data_if = ifno;
        if ((r = walk_config(desc, n, cfg, pass_interface, &w)) < 0)
                return r;
        if (!l->found)
                return -ENOENT;
        if (l->if_class == 0x02 && l->if_subclass == 0x02) {
                l->acm = true;
                l->data_if = w.union_slave >= 0 ? (unsigned) w.union_slave : ifno + 1;
        }
        (void) walk_config(desc, n, cfg, pass_endpoints, &w);
        if (!l->ep_in || !l->ep_out || l->in_max == 0)
                return -ENXIO;
        return 0;
}

/* ---- FTDI ---- */

enum {
        FTDI_RESET = 0, FTDI_SET_MDM_CTRL = 1, FTDI_SET_FLOW_CTRL = 2, FTDI_SET_BAUD = 3, FTDI_SET_DATA = 4,
        FTDI_SET_LATENCY = 9,
};
#define FTDI_OUT (USB_TYPE_VENDOR | USB_RECIP_DEVICE | USB_DIR_OUT)

/* The FT232BM/R divisor for `baud` (value in the low 16 bits, index above):
 * 3 MHz / (n + f/8), f in eighths coded 0,3,2,4,1,5,6,7.  0 when out of range. */
uint32_t rk_usbserial_ftdi_divisor(uint32_t baud) {
        static const uint8_t code[8] = { 0, 3, 2, 4, 1, 5, 6, 7 };
        uint32_t d3, div;

        if (baud < 183 || baud > 3000000)
                return 0;
        d3 = (48000000u + baud) / (2 * baud); /* eighths, rounded */
        div = (d3 >> 3) | (uint32_t) code[d3 & 7] << 14;
        if (div == 1)
                div = 0; /* 3 Mbaud */
        else if (div == 0x4001)
                div = 1; /* 2 Mbaud */
        return div;
}

/* The data of FTDI bulk-IN bytes: each wMaxPacketSize packet starts with a
 * modem and a line status byte.  Returns the data length written to `out`
 * (which may be `in`); line errors (overrun, parity, framing, break) are
 * counted in *errors, the last modem status kept in *modem. */
size_t rk_usbserial_ftdi_unframe(const uint8_t *in, size_t n, size_t max_packet, uint8_t *out, uint8_t *modem,
                                 uint64_t *errors) {
        size_t o = 0;

        for (size_t p = 0; p < n; p += max_packet) {
                size_t len = n - p < max_packet ? n - p : max_packet;
                if (len < 2)
                        break;
                *modem = in[p];
                if (in[p + 1] & 0x1e) /* OE PE FE BI */
                        (*errors)++;
                memmove(out + o, in + p + 2, len - 2);
                o += len - 2;
        }
        return o;
}

/* ---- the driver ---- */

typedef struct line {
        uint32_t baud;
        uint8_t stop2, parity, data_bits; /* parity: 0 none 1 odd 2 even 3 mark 4 space (CDC's order) */
        bool rtscts, xonxoff, hangup;
        uint8_t xon, xoff;
} line;

typedef struct chip_ops {
        const char *name;
        int (*init)(usbser *s);
        int (*set_line)(usbser *s, const line *l);
        int (*set_lines)(usbser *s, bool dtr, bool rts);
        size_t (*rx)(usbser *s, uint8_t *buf, size_t n); /* strips framing in place */
} chip_ops;

/* The asm-generic termios2 (x86 and most others): TCGETS2 carries the speed as a number. */
struct rk_termios2 {
        tcflag_t c_iflag, c_oflag, c_cflag, c_lflag;
        cc_t c_line;
        cc_t c_cc[19];
        speed_t c_ispeed, c_ospeed;
};
#define RK_TCGETS2 _IOR('T', 0x2A, struct rk_termios2)
#define RK_TCSETS2 _IOW('T', 0x2B, struct rk_termios2)
#define RK_BOTHER 0010000

struct usbser {
        rk_driver *d;
        const chip_ops *ops;
        rk_usb_device *dev;
        rk_usb_interface *ctrl, *data;  /* data == ctrl for FTDI */
        rk_usb_pipe *in_pipe, *out_pipe;
        rk_usbserial_layout lay;
        bool gone, stopping, acm_no_coding;
        bool throttled;                 /* no IN request in flight: the pty is full */
        uint64_t throttles;
        int master, slave;
        char path[128];
        rk_driver_watch *pty_watch;
        uint32_t pty_events;
        rk_driver_timer *poll;
        line cur;
        bool line_valid;
        struct rk_termios2 last_tio;
        uint8_t parity, data_bits, latency, modem;
        /* device -> pty */
        struct in_slot { usbser *s; bool busy; uint8_t buf[IO_MAX]; } in[N_IN];
        size_t in_len;
        uint8_t topty[TOPTY_MAX];
        size_t topty_off, topty_n;
        /* pty -> device */
        uint8_t out_buf[IO_MAX];
        bool out_busy;
        uint64_t bytes_in, bytes_out, line_errors, urb_errors, line_changes;
};

/* ---- USB: the USB family SDK ---- */

static int usb_control(usbser *s, uint8_t type, uint8_t req, uint16_t value, uint16_t index, void *data,
                       uint16_t len) {
        int r = rk_usb_device_request(s->dev, type, req, value, index, data, len, CTRL_TIMEOUT_MS);
        return r < 0 ? r : 0;
}

static int ftdi_init(usbser *s) {
        int r = usb_control(s, FTDI_OUT, FTDI_RESET, 0, 0, NULL, 0);
        if (r >= 0)
                r = usb_control(s, FTDI_OUT, FTDI_SET_LATENCY, s->latency, 0, NULL, 0);
        return r < 0 ? r : 0;
}

static int ftdi_set_line(usbser *s, const line *l) {
        uint32_t div = rk_usbserial_ftdi_divisor(l->baud);
        uint16_t data = (uint16_t) (l->data_bits | l->parity << 8 | (l->stop2 ? 2 : 0) << 11);
        uint16_t flow = l->rtscts ? 0x0100 : l->xonxoff ? 0x0400 : 0;
        int r;

        if (!div && l->baud != 3000000)
                return -EINVAL;
        if ((r = usb_control(s, FTDI_OUT, FTDI_SET_BAUD, (uint16_t) div, (uint16_t) (div >> 16), NULL, 0)) < 0 ||
            (r = usb_control(s, FTDI_OUT, FTDI_SET_DATA, data, 0, NULL, 0)) < 0 ||
            (r = usb_control(s, FTDI_OUT, FTDI_SET_FLOW_CTRL, l->xonxoff ? (uint16_t) (l->xon | l->xoff << 8) : 0,
                             flow, NULL, 0)) < 0)
                return r;
        return 0;
}

static int ftdi_set_lines(usbser *s, bool dtr, bool rts) {
        /* high byte: which lines to change; low byte: their levels */
        uint16_t v = (uint16_t) (0x0300 | (dtr ? 1 : 0) | (rts ? 2 : 0));
        return usb_control(s, FTDI_OUT, FTDI_SET_MDM_CTRL, v, 0, NULL, 0);
}

static size_t ftdi_rx(usbser *s, uint8_t *buf, size_t n) {
        return rk_usbserial_ftdi_unframe(buf, n, s->lay.in_max, buf, &s->modem, &s->line_errors);
}

static const chip_ops ftdi_ops = {
        .name = "FTDI FT232", .init = ftdi_init, .set_line = ftdi_set_line, .set_lines = ftdi_set_lines, .rx = ftdi_rx,
};

/* ---- CDC-ACM ---- */

#define ACM_OUT (USB_TYPE_CLASS | USB_RECIP_INTERFACE | USB_DIR_OUT)
enum { ACM_SET_LINE_CODING = 0x20, ACM_SET_CONTROL_LINE_STATE = 0x22 };

static int acm_init(usbser *s) {
        (void) s;
        return 0;
}

static int acm_set_line(usbser *s, const line *l) {
        uint8_t lc[7] = { (uint8_t) l->baud, (uint8_t) (l->baud >> 8), (uint8_t) (l->baud >> 16),
                          (uint8_t) (l->baud >> 24), l->stop2 ? 2 : 0, l->parity, l->data_bits };
        int r = usb_control(s, ACM_OUT, ACM_SET_LINE_CODING, 0, (uint16_t) s->lay.ctrl_if, lc, sizeof(lc));
        if (r == -EPIPE) { /* a device without line coding (bmCapabilities bit 1 clear) stalls it: fine */
                if (!s->acm_no_coding)
                        rk_driver_log(s->d, RK_LOG_NOTICE, "the device does not take line settings (stalls SET_LINE_CODING)");
                s->acm_no_coding = true;
                return 0;
        }
        return r < 0 ? r : 0;
}

static int acm_set_lines(usbser *s, bool dtr, bool rts) {
        return usb_control(s, ACM_OUT, ACM_SET_CONTROL_LINE_STATE, (uint16_t) ((dtr ? 1 : 0) | (rts ? 2 : 0)),
                           (uint16_t) s->lay.ctrl_if, NULL, 0);
}

static size_t acm_rx(usbser *s, uint8_t *buf, size_t n) {
        (void) s;
        (void) buf;
        return n;
}

static const chip_ops acm_ops = {
        .name = "CDC-ACM", .init = acm_init, .set_line = acm_set_line, .set_lines = acm_set_lines, .rx = acm_rx,
};

/* ---- line settings from the pty ---- */

static void termios_to_line(const usbser *s, const struct rk_termios2 *t, line *l) {
        *l = (line){ .baud = t->c_ospeed, .stop2 = (t->c_cflag & CSTOPB) != 0, .parity = s->parity,
                     .data_bits = s->data_bits, .rtscts = (t->c_cflag & CRTSCTS) != 0,
                     .xonxoff = (t->c_iflag & IXOFF) != 0, .xon = t->c_cc[VSTART], .xoff = t->c_cc[VSTOP] };
        l->hangup = l->baud == 0;
}

static void publish_line(usbser *s) {
        (void) rk_driver_set_integer(s->d, "RKSerialBaudRate", s->cur.baud);
        (void) rk_driver_set_integer(s->d, "RKSerialStopBits", s->cur.stop2 ? 2 : 1);
        (void) rk_driver_set_bool(s->d, "RKSerialRTSCTS", s->cur.rtscts);
        (void) rk_driver_set_integer(s->d, "RKSerialLineChanges", (int64_t) s->line_changes);
}

/* Apply the pty's settings when they changed; quiet when they did not. */
static void sync_line(usbser *s) {
        struct rk_termios2 t;
        line l;
        int r;

        if (s->gone || ioctl(s->slave, RK_TCGETS2, &t) < 0)
                return;
        if (s->line_valid && memcmp(&t, &s->last_tio, sizeof(t)) == 0)
                return;
        s->last_tio = t;
        termios_to_line(s, &t, &l);
        if (s->line_valid && l.baud == s->cur.baud && l.stop2 == s->cur.stop2 && l.rtscts == s->cur.rtscts &&
            l.xonxoff == s->cur.xonxoff && l.xon == s->cur.xon && l.xoff == s->cur.xoff && l.hangup == s->cur.hangup)
                return; /* a change the chip does not see (echo, canonical mode...) */
        if (l.hangup) {
                r = s->ops->set_lines(s, false, false);
                l.baud = s->cur.baud;
        } else {
                r = s->ops->set_line(s, &l);
                if (r >= 0 && (!s->line_valid || s->cur.hangup))
                        r = s->ops->set_lines(s, true, true);
        }
        if (r < 0) {
                rk_driver_log(s->d, RK_LOG_WARNING, "%s: line settings %u baud, %u stop bits%s: %s", s->path, l.baud,
                              l.stop2 ? 2 : 1, l.rtscts ? ", RTS/CTS" : "", strerror(-r));
                if (r == -ENODEV)
                        s->gone = true;
                return;
        }
        if (s->line_valid)
                s->line_changes++;
        s->cur = l;
        s->line_valid = true;
        rk_driver_log(s->d, RK_LOG_INFO, "%s: %s%u baud, %u data bits, parity %s, %u stop bits%s%s", s->path,
                      l.hangup ? "hang-up (DTR/RTS low), " : "", l.baud, l.data_bits,
                      (const char *const[]){ "none", "odd", "even", "mark", "space" }[l.parity % 5], l.stop2 ? 2 : 1,
                      l.rtscts ? ", RTS/CTS" : "", l.xonxoff ? ", XON/XOFF" : "");
        publish_line(s);
}

static void on_poll(rk_driver *d, rk_driver_timer *t, void *ud) {
        sync_line(ud);
}

/* ---- moving bytes ---- */

static void on_pty(rk_driver *d, rk_driver_watch *w, int fd, uint32_t revents, void *ud);
static void submit_in(usbser *s);
static void on_in_done(rk_usb_request *req, int status, size_t actual, void *ud);
static void on_out_done(rk_usb_request *req, int status, size_t actual, void *ud);

/* Watch the master for what we can use now: input while the OUT URB is
 * idle, output room while device bytes wait. */
static void update_pty_watch(usbser *s) {
        uint32_t want = (s->out_busy || s->gone ? 0 : EPOLLIN) | (s->topty_n ? EPOLLOUT : 0);

        if (want == s->pty_events && (want == 0) == (s->pty_watch == NULL))
                return;
        rk_driver_watch_cancel(s->pty_watch);
        s->pty_watch = NULL;
        s->pty_events = want;
        if (want && rk_driver_watch_fd(s->d, s->master, want, on_pty, s, &s->pty_watch) < 0)
                rk_driver_log(s->d, RK_LOG_ERR, "%s: cannot watch the pty", s->path);
}

static void flush_topty(usbser *s) {
        while (s->topty_n) {
                ssize_t w = write(s->master, s->topty + s->topty_off, s->topty_n);
                if (w <= 0) {
                        if (w < 0 && errno == EINTR)
                                continue;
                        break; /* EAGAIN: the pty is full; EPOLLOUT tells when it drains */
                }
                s->topty_off += (size_t) w;
                s->topty_n -= (size_t) w;
                s->bytes_in += (uint64_t) w;
        }
        if (s->topty_n == 0)
                s->topty_off = 0;
        else if (s->topty_off > TOPTY_MAX / 2) {
                memmove(s->topty, s->topty + s->topty_off, s->topty_n);
                s->topty_off = 0;
        }
}

static void send_out(usbser *s) {
        ssize_t n;
        int r;

        if (s->out_busy || s->gone)
                return;
        sync_line(s); /* settings made before this data go first */
        n = read(s->master, s->out_buf, sizeof(s->out_buf));
        if (n <= 0)
                return;
        r = rk_usb_pipe_async_io(s->out_pipe, s->out_buf, (size_t) n, on_out_done, s, NULL);
        if (r < 0) {
                rk_driver_log(s->d, RK_LOG_WARNING, "%s: bulk OUT: %s (%zd bytes dropped)", s->path, strerror(-r), n);
                if (r == -ENODEV)
                        s->gone = true;
                return;
        }
        s->out_busy = true;
}

static void on_pty(rk_driver *d, rk_driver_watch *w, int fd, uint32_t revents, void *ud) {
        usbser *s = ud;

        if (revents & EPOLLOUT)
                flush_topty(s);
        if (revents & EPOLLIN)
                send_out(s);
        submit_in(s);
        update_pty_watch(s);
}

/* Keep the IN URBs in flight while the bytes they may bring have room. */
static void submit_in(usbser *s) {
        size_t busy = 0;

        for (size_t k = 0; k < N_IN; k++)
                busy += s->in[k].busy;
        for (size_t k = 0; k < N_IN && !s->gone; k++) {
                int r;
                if (s->in[k].busy)
                        continue;
                if (s->topty_n + (busy + 1) * s->in_len > TOPTY_MAX) {
                        /* what the URBs in flight may bring must fit: hold the device back */
                        if (!s->throttled && busy == 0) {
                                s->throttled = true;
                                (void) rk_driver_set_integer(s->d, "RKSerialThrottled", (int64_t) ++s->throttles);
                        }
                        return;
                }
                r = rk_usb_pipe_async_io(s->in_pipe, s->in[k].buf, s->in_len, on_in_done, &s->in[k], NULL);
                if (r < 0) {
                        if (r == -ENODEV)
                                s->gone = true;
                        else if (s->urb_errors++ == 0)
                                rk_driver_log(s->d, RK_LOG_WARNING, "%s: bulk IN: %s", s->path, strerror(-r));
                        return;
                }
                s->in[k].busy = true;
                s->throttled = false;
                busy++;
        }
}

static bool device_gone_status(int status) {
        return status == -ENODEV || status == -ESHUTDOWN || status == -EPROTO || status == -EILSEQ;
}

/* After a completion: what the device's state allows next. */
static void after_completion(usbser *s, int status) {
        if (device_gone_status(status) && !s->gone) {
                /* ringd stops this instance when the interface's nub goes */
                s->gone = true;
                rk_driver_log(s->d, RK_LOG_NOTICE, "%s: the device is gone; waiting to be stopped", s->path);
                (void) rk_driver_set_bool(s->d, "RKUSBSerialDeviceGone", true);
        }
        flush_topty(s);
        submit_in(s);
        update_pty_watch(s);
}

static void on_in_done(rk_usb_request *req, int status, size_t actual, void *ud) {
        struct in_slot *slot = ud;
        usbser *s = slot->s;

        slot->busy = false;
        if (s->stopping || status == -ECANCELED)
                return;
        if (status == 0 && actual > 0) {
                size_t n = s->ops->rx(s, slot->buf, actual);
                if (s->topty_off + s->topty_n + n > TOPTY_MAX) { /* submit_in kept room for n */
                        memmove(s->topty, s->topty + s->topty_off, s->topty_n);
                        s->topty_off = 0;
                }
                memcpy(s->topty + s->topty_off + s->topty_n, slot->buf, n);
                s->topty_n += n;
        } else if (status == -EPIPE) {
                /* a stalled endpoint: clear it (the other IN requests were failed with it) and go on */
                if (rk_usb_pipe_get_pending(s->in_pipe) == 0 && rk_usb_pipe_clear_stall(s->in_pipe) < 0 && s->urb_errors++ == 0)
                        rk_driver_log(s->d, RK_LOG_WARNING, "%s: bulk IN stalled and cannot be cleared", s->path);
        } else if (status < 0 && !device_gone_status(status) && s->urb_errors++ == 0) {
                rk_driver_log(s->d, RK_LOG_WARNING, "%s: bulk IN: %s", s->path, strerror(-status));
        }
        after_completion(s, status);
}

static void on_out_done(rk_usb_request *req, int status, size_t actual, void *ud) {
        usbser *s = ud;

        s->out_busy = false;
        if (s->stopping || status == -ECANCELED)
                return;
        if (status == 0)
                s->bytes_out += actual;
        else if (status == -EPIPE)
                (void) rk_usb_pipe_clear_stall(s->out_pipe);
        if (status < 0 && !device_gone_status(status) && s->urb_errors++ == 0)
                rk_driver_log(s->d, RK_LOG_WARNING, "%s: bulk OUT: %s (%zu bytes lost)", s->path, strerror(-status),
                              actual);
        after_completion(s, status);
}

/* ---- start and stop ---- */

static int pty_open(usbser *s, int64_t baud) {
        struct termios t;
        struct rk_termios2 t2;

        s->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
        if (s->master < 0 || grantpt(s->master) < 0 || unlockpt(s->master) < 0 ||
            ptsname_r(s->master, s->path, sizeof(s->path)) != 0)
                return -errno;
        s->slave = ioctl(s->master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (s->slave < 0)
                s->slave = open(s->path, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (s->slave < 0)
                return -errno;
        /* raw: bytes pass unchanged, as a UART carries them; programs set their own modes */
        if (tcgetattr(s->slave, &t) == 0) {
                cfmakeraw(&t);
                t.c_cflag |= CLOCAL | CREAD;
                (void) tcsetattr(s->slave, TCSANOW, &t);
        }
        if (baud > 0 && ioctl(s->slave, RK_TCGETS2, &t2) == 0) {
                t2.c_cflag = (t2.c_cflag & ~(tcflag_t) CBAUD) | RK_BOTHER;
                t2.c_ospeed = t2.c_ispeed = (speed_t) baud;
                if (ioctl(s->slave, RK_TCSETS2, &t2) < 0)
                        return -errno;
        }
        return 0;
}

static int personality(usbser *s, int64_t *baud) {
        rk_driver *d = s->d;
        const char *par = NULL;
        int64_t v;

        s->parity = 0;
        s->data_bits = 8;
        s->latency = 16;
        *baud = 0;
        if (rk_driver_get_string(d, "RKSerialParity", &par) == 0) {
                static const char *const names[] = { "none", "odd", "even", "mark", "space" };
                size_t k;
                for (k = 0; k < 5 && strcmp(par, names[k]) != 0; k++)
                        ;
                if (k == 5) {
                        rk_driver_log(d, RK_LOG_ERR, "RKSerialParity \"%s\": none, odd, even, mark or space", par);
                        return -EINVAL;
                }
                s->parity = (uint8_t) k;
        }
        if (rk_driver_get_integer(d, "RKSerialDataBits", &v) == 0) {
                if (v != 7 && v != 8) {
                        rk_driver_log(d, RK_LOG_ERR, "RKSerialDataBits %lld: 7 or 8", (long long) v);
                        return -EINVAL;
                }
                s->data_bits = (uint8_t) v;
        }
        if (rk_driver_get_integer(d, "RKFTDILatencyTimer", &v) == 0) {
                if (v < 1 || v > 255) {
                        rk_driver_log(d, RK_LOG_ERR, "RKFTDILatencyTimer %lld: 1 to 255 (ms)", (long long) v);
                        return -EINVAL;
                }
                s->latency = (uint8_t) v;
        }
        if (rk_driver_get_integer(d, "RKSerialBaudRate", baud) == 0 && (*baud < 50 || *baud > 12000000)) {
                rk_driver_log(d, RK_LOG_ERR, "RKSerialBaudRate %lld: 50 to 12000000", (long long) *baud);
                return -EINVAL;
        }
        return 0;
}

static void usbser_stop(rk_driver *d);

static int usbser_start(rk_driver *d) {
        static uint8_t desc[8192];
        int64_t ifno = -1, cfg = 0, baud;
        rk_driver_nub *nub;
        usbser *s;
        ssize_t n;
        int r;

        if (rk_driver_get_provider_handle(d) < 0) {
                rk_driver_log(d, RK_LOG_ERR, "%s: no usbfs handle (not a USB interface?)", rk_driver_get_provider_name(d));
                return -ENODEV;
        }
        if (rk_driver_get_integer(d, "bInterfaceNumber", &ifno) < 0 || ifno < 0 || ifno > 255) {
                rk_driver_log(d, RK_LOG_ERR, "%s: the provider has no bInterfaceNumber (match an IOUSBHostInterface)",
                              rk_driver_get_provider_name(d));
                return -ENODEV;
        }
        (void) rk_driver_get_integer(d, "bConfigurationValue", &cfg);
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->d = d;
        s->master = s->slave = -EBADF;
        for (size_t k = 0; k < N_IN; k++)
                s->in[k].s = s;
        rk_driver_set_ivars(d, s);
        if ((r = personality(s, &baud)) < 0)
                goto fail;
        if ((r = rk_usb_device_new(d, &s->dev)) < 0) {
                rk_driver_log(d, RK_LOG_ERR, "the USB device: %s", strerror(-r));
                goto fail;
        }
        /* the device descriptor and every configuration's, as usbfs returns them */
        n = pread(rk_usb_device_get_fd(s->dev), desc, sizeof(desc), 0);
        if (n < 0) {
                r = -errno;
                rk_driver_log(d, RK_LOG_ERR, "reading the descriptors: %s", strerror(errno));
                goto fail;
        }
        r = rk_usbserial_parse_layout(desc, (size_t) n, cfg > 0 && cfg < 256 ? (unsigned) cfg : 0, (unsigned) ifno,
                                      &s->lay);
        if (r < 0) {
                rk_driver_log(d, RK_LOG_ERR, "interface %lld: %s", (long long) ifno,
                              r == -ENXIO ? "no bulk IN and OUT endpoints" : r == -ENOENT ? "not in the descriptors"
                                                                           : "malformed descriptors");
                goto fail;
        }
        if (s->lay.acm)
                s->ops = &acm_ops;
        else if (s->lay.vendor == 0x0403 && s->lay.if_class == 0xff)
                s->ops = &ftdi_ops;
        else {
                rk_driver_log(d, RK_LOG_NOTICE, "interface %lld (%04x:%04x class %u/%u) is neither FTDI nor CDC-ACM: not mine",
                              (long long) ifno, s->lay.vendor, s->lay.product, s->lay.if_class, s->lay.if_subclass);
                r = -ENODEV;
                goto fail;
        }
        s->in_len = s->lay.in_max * ((IO_MAX / s->lay.in_max) < 8 ? IO_MAX / s->lay.in_max : 8);
        if ((r = rk_usb_interface_open(s->dev, (uint8_t) s->lay.ctrl_if, &s->ctrl)) < 0) {
                rk_driver_log(d, RK_LOG_ERR, "claiming interface %u: %s", s->lay.ctrl_if, strerror(-r));
                goto fail;
        }
        s->data = s->ctrl;
        if (s->lay.data_if != s->lay.ctrl_if &&
            (r = rk_usb_interface_open(s->dev, (uint8_t) s->lay.data_if, &s->data)) < 0) {
                s->data = NULL;
                rk_driver_log(d, RK_LOG_ERR, "claiming data interface %u: %s", s->lay.data_if, strerror(-r));
                goto fail;
        }
        if ((r = rk_usb_interface_copy_pipe(s->data, s->lay.ep_in, &s->in_pipe)) < 0 ||
            (r = rk_usb_interface_copy_pipe(s->data, s->lay.ep_out, &s->out_pipe)) < 0) {
                rk_driver_log(d, RK_LOG_ERR, "bulk pipes 0x%02x/0x%02x: %s", s->lay.ep_in, s->lay.ep_out, strerror(-r));
                goto fail;
        }
        if (rk_usb_interface_get_detached_driver(s->ctrl))
                rk_driver_log(d, RK_LOG_INFO, "took interface %u from %s", s->lay.ctrl_if,
                              rk_usb_interface_get_detached_driver(s->ctrl));
        if ((r = pty_open(s, baud)) < 0) {
                rk_driver_log(d, RK_LOG_ERR, "pseudo-terminal: %s", strerror(-r));
                goto fail;
        }
        if ((r = s->ops->init(s)) < 0) {
                rk_driver_log(d, RK_LOG_ERR, "%s initialisation: %s", s->ops->name, strerror(-r));
                goto fail;
        }
        sync_line(s);
        if (!s->line_valid) {
                r = -EIO;
                rk_driver_log(d, RK_LOG_ERR, "the chip refused the initial line settings");
                goto fail;
        }
        if ((r = rk_driver_timer_new(d, TERMIOS_POLL_USEC, TERMIOS_POLL_USEC, on_poll, s, &s->poll)) < 0)
                goto fail;
        submit_in(s);
        update_pty_watch(s);
        (void) rk_driver_set_string(d, "IOTTYDevice", s->path);
        (void) rk_driver_set_string(d, "RKUSBSerialProtocol", s->ops->name);
        (void) rk_driver_set_integer(d, "RKUSBSerialDataInterface", s->lay.data_if);
        r = rk_driver_nub_new(d, (const char *[]){ "IOSerialBSDClient" }, 1, "serial", &nub);
        if (r >= 0) {
                (void) rk_driver_nub_set_string(nub, "IOTTYDevice", s->path);
                (void) rk_driver_nub_set_string(nub, "IOCalloutDevice", s->path);
                (void) rk_driver_nub_set_string(nub, "IOTTYBaseName", "usbserial");
                r = rk_driver_nub_publish(nub, -EBADF, NULL, NULL);
        }
        if (r < 0)
                goto fail;
        rk_driver_log(d, RK_LOG_INFO, "serial port %s for %s (%s, interface %u, bulk in 0x%02x out 0x%02x)", s->path,
                      rk_driver_get_provider_name(d), s->ops->name, s->lay.data_if, s->lay.ep_in, s->lay.ep_out);
        r = rk_driver_register_service(d);
        if (r < 0)
                usbser_stop(d); /* ringd will not stop a driver whose start failed */
        return r;
fail:
        usbser_stop(d);
        return r;
}

static void usbser_stop(rk_driver *d) {
        usbser *s = rk_driver_get_ivars(d);

        if (!s)
                return;
        rk_driver_log(d, RK_LOG_INFO, "serial port %s closing: %llu bytes to the device, %llu from it, %llu line errors, "
                      "%llu line-setting changes",
                      s->path[0] ? s->path : "(none)", (unsigned long long) s->bytes_out,
                      (unsigned long long) s->bytes_in, (unsigned long long) s->line_errors,
                      (unsigned long long) s->line_changes);
        rk_driver_timer_cancel(s->poll);
        rk_driver_watch_cancel(s->pty_watch);
        s->stopping = true; /* the completions of the cancelled requests only mark them done */
        if (s->line_valid && !s->gone)
                (void) s->ops->set_lines(s, false, false); /* hang up, as closing a tty with HUPCL does */
        /* cancels the requests, releases the interfaces, reattaches ftdi_sio / cdc_acm */
        if (s->data && s->data != s->ctrl)
                rk_usb_interface_close(s->data);
        rk_usb_interface_close(s->ctrl);
        rk_usb_device_free(s->dev);
        if (s->slave >= 0)
                close(s->slave);
        if (s->master >= 0)
                close(s->master);
        free(s);
        rk_driver_set_ivars(d, NULL);
}

const rk_driver_class rk_usbserial_driver = { .name = "RKUSBSerialDriver", .start = usbser_start, .stop = usbser_stop };

/* ---- self-test: ringkit-builtin --self-test-usbserial ---- */

static int st_passed, st_failed;

static void st_check(bool ok, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void st_check(bool ok, const char *name, const char *fmt, ...) {
        va_list ap;

        if (ok) {
                printf("ok   usbserial-%s\n", name);
                st_passed++;
                return;
        }
        printf("FAIL usbserial-%s: ", name);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
        st_failed++;
}

/* QEMU's usb-serial (FT232BM) as usbfs returns it: device, configuration,
 * interface 0 (vendor class), bulk IN 0x81 and OUT 0x02 of 64 bytes */
static const uint8_t qemu_ftdi[] = {
        0x12, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x08, 0x03, 0x04, 0x01, 0x60, 0x00, 0x04, 0x01, 0x02, 0x03, 0x01,
        0x09, 0x02, 0x20, 0x00, 0x01, 0x01, 0x00, 0xa0, 0x19,
        0x09, 0x04, 0x00, 0x00, 0x02, 0xff, 0xff, 0xff, 0x00,
        0x07, 0x05, 0x81, 0x02, 0x40, 0x00, 0x00,
        0x07, 0x05, 0x02, 0x02, 0x40, 0x00, 0x00,
};

/* A CDC-ACM function (Linux's gadget f_acm): interface 2 control with the
 * header, call management, ACM and union (2 -> 3) descriptors and an
 * interrupt endpoint; interface 3 data with bulk 512-byte endpoints */
static const uint8_t acm_gadget[] = {
        0x12, 0x01, 0x00, 0x02, 0xef, 0x02, 0x01, 0x40, 0x6b, 0x1d, 0x04, 0x01, 0x00, 0x01, 0x01, 0x02, 0x03, 0x01,
        0x09, 0x02, 0x4b, 0x00, 0x02, 0x01, 0x00, 0x80, 0xfa,
        0x08, 0x0b, 0x02, 0x02, 0x02, 0x02, 0x01, 0x00,
        0x09, 0x04, 0x02, 0x00, 0x01, 0x02, 0x02, 0x01, 0x00,
        0x05, 0x24, 0x00, 0x10, 0x01,
        0x05, 0x24, 0x01, 0x00, 0x03,
        0x04, 0x24, 0x02, 0x02,
        0x05, 0x24, 0x06, 0x02, 0x03,
        0x07, 0x05, 0x83, 0x03, 0x0a, 0x00, 0x09,
        0x09, 0x04, 0x03, 0x00, 0x02, 0x0a, 0x00, 0x00, 0x00,
        0x07, 0x05, 0x81, 0x02, 0x00, 0x02, 0x00,
        0x07, 0x05, 0x02, 0x02, 0x00, 0x02, 0x00,
};

static void st_layout(void) {
        rk_usbserial_layout l;
        uint8_t bad[sizeof(acm_gadget)];
        int r;

        r = rk_usbserial_parse_layout(qemu_ftdi, sizeof(qemu_ftdi), 0, 0, &l);
        st_check(r == 0 && !l.acm && l.vendor == 0x0403 && l.product == 0x6001 && l.if_class == 0xff &&
                 l.data_if == 0 && l.ep_in == 0x81 && l.ep_out == 0x02 && l.in_max == 64,
                 "layout-ftdi", "r %d acm %d %04x:%04x class %u data_if %u in %02x out %02x max %u", r, l.acm,
                 l.vendor, l.product, l.if_class, l.data_if, l.ep_in, l.ep_out, l.in_max);
        r = rk_usbserial_parse_layout(qemu_ftdi, sizeof(qemu_ftdi), 1, 0, &l);
        st_check(r == 0 && l.ep_in == 0x81, "layout-by-configuration-value", "r %d", r);
        r = rk_usbserial_parse_layout(qemu_ftdi, sizeof(qemu_ftdi), 2, 0, &l);
        st_check(r == -ENOENT, "layout-other-configuration", "r %d", r);
        r = rk_usbserial_parse_layout(qemu_ftdi, sizeof(qemu_ftdi), 0, 1, &l);
        st_check(r == -ENOENT, "layout-no-such-interface", "r %d", r);
        r = rk_usbserial_parse_layout(acm_gadget, sizeof(acm_gadget), 0, 2, &l);
        st_check(r == 0 && l.acm && l.ctrl_if == 2 && l.data_if == 3 && l.ep_in == 0x81 && l.ep_out == 0x02 &&
                 l.in_max == 512 && l.ep_notify == 0x83,
                 "layout-cdc-acm-union", "r %d acm %d ctrl %u data %u in %02x out %02x max %u notify %02x", r, l.acm,
                 l.ctrl_if, l.data_if, l.ep_in, l.ep_out, l.in_max, l.ep_notify);
        r = rk_usbserial_parse_layout(acm_gadget, sizeof(acm_gadget), 0, 3, &l);
        st_check(r == 0 && !l.acm && l.if_class == 0x0a, "layout-cdc-data-interface-alone", "r %d acm %d", r, l.acm);
        r = rk_usbserial_parse_layout(qemu_ftdi, sizeof(qemu_ftdi) - 7, 0, 0, &l);
        st_check(r == -ENXIO, "layout-missing-endpoint", "r %d", r);
        r = rk_usbserial_parse_layout(qemu_ftdi, sizeof(qemu_ftdi) - 3, 0, 0, &l);
        st_check(r == -EBADMSG, "layout-truncated", "r %d", r);
        r = rk_usbserial_parse_layout(qemu_ftdi, 10, 0, 0, &l);
        st_check(r == -EBADMSG, "layout-short-device-descriptor", "r %d", r);
        memcpy(bad, acm_gadget, sizeof(bad));
        bad[18 + 9 + 8 + 9] = 0; /* a zero length would loop forever */
        r = rk_usbserial_parse_layout(bad, sizeof(bad), 0, 2, &l);
        st_check(r == -EBADMSG, "layout-zero-length", "r %d", r);
        /* every truncation and every single-byte value at every offset: no
         * crash, no read past the end (the ASan build runs this) */
        {
                unsigned parsed = 0;
                for (size_t cut = 0; cut <= sizeof(acm_gadget); cut++)
                        for (size_t off = 0; off < cut; off++)
                                for (unsigned v = 0; v < 256; v += 17) {
                                        uint8_t *m = malloc(cut);
                                        if (!m)
                                                continue;
                                        memcpy(m, acm_gadget, cut);
                                        m[off] = (uint8_t) v;
                                        parsed += rk_usbserial_parse_layout(m, cut, 0, 2, &l) == 0;
                                        free(m);
                                }
                st_check(parsed > 0, "layout-mutations", "no mutation parsed");
        }
}

static void st_ftdi(void) {
        static const struct { uint32_t baud, div; } rates[] = {
                /* the divisors Linux's ftdi_sio computes for the 232BM */
                { 300, 0x2710 }, { 9600, 0x4138 }, { 38400, 0xc04e }, { 115200, 0x001a }, { 230400, 0x000d },
                { 2000000, 1 }, { 3000000, 0 }, { 100, 0 }, { 3000001, 0 },
        };
        uint8_t buf[200], out[200], modem = 0;
        uint64_t errors = 0;
        size_t n;

        for (size_t k = 0; k < sizeof(rates) / sizeof(rates[0]); k++) {
                char name[48];
                uint32_t got = rk_usbserial_ftdi_divisor(rates[k].baud);
                snprintf(name, sizeof(name), "ftdi-divisor-%u", rates[k].baud);
                st_check(got == rates[k].div, name, "divisor 0x%x, want 0x%x", got, rates[k].div);
        }
        /* what QEMU's FT232 computes back from the divisor (dev-serial.c's formula) */
        for (uint32_t baud = 1200; baud <= 921600; baud *= 2) {
                static const int sub8[8] = { 0, 4, 2, 1, 3, 5, 6, 7 };
                uint32_t div = rk_usbserial_ftdi_divisor(baud);
                int s8 = sub8[((div & 0xc000) >> 14) | (((div >> 16) & 1) << 2)], dv = (int) (div & 0x3fff);
                uint32_t back = 24000000u / (uint32_t) (8 * dv + s8);
                char name[48];
                snprintf(name, sizeof(name), "ftdi-divisor-round-trip-%u", baud);
                st_check(back + back / 50 >= baud && back <= baud + baud / 50, name, "chip runs at %u", back);
        }
        /* two packets of 64 (2 status + 62 data) and a short one: 2 status + 5 data */
        memset(buf, 0, sizeof(buf));
        for (size_t k = 0; k < 133; k++)
                buf[k] = (uint8_t) ('a' + k % 26);
        buf[0] = buf[64] = buf[128] = 0x31;
        buf[1] = buf[65] = 0x60;
        buf[129] = 0x62; /* overrun */
        n = rk_usbserial_ftdi_unframe(buf, 133, 64, out, &modem, &errors);
        st_check(n == 62 + 62 + 3 && out[0] == buf[2] && out[61] == buf[63] && out[62] == buf[66] &&
                 out[124] == buf[130] && modem == 0x31 && errors == 1,
                 "ftdi-unframe", "%zu bytes, modem %02x, errors %llu", n, modem, (unsigned long long) errors);
        n = rk_usbserial_ftdi_unframe(buf, 2, 64, out, &modem, &errors);
        st_check(n == 0, "ftdi-status-only-packet", "%zu bytes", n);
        n = rk_usbserial_ftdi_unframe(buf, 65, 64, buf, &modem, &errors);
        st_check(n == 62, "ftdi-unframe-in-place-odd-tail", "%zu bytes", n);
}

int rk_usbserial_self_test(void) {
        st_layout();
        st_ftdi();
        printf("%d passed, %d failed\n", st_passed, st_failed);
        return st_failed ? 1 : 0;
}
