/* SPDX-License-Identifier: MIT */
/*
 * bench-usb: USB bulk throughput of a user-space driver on the USB family
 * SDK (include/ringkit/usb.h) against the kernel's usb-storage driver, for
 * the same mass-storage device.  It runs inside the QEMU lane's guest
 * (tests/qemu/guest/tests/66-usb-bench.sh runs the modes in alternating
 * rounds and prints the ratios); by hand:
 *
 *   bench-usb kernel /dev/sda MIB          O_DIRECT reads of 1 MiB through usb-storage + sd
 *   bench-usb sdk /dev/bus/usb/B/D MIB [KIB]  claims interface 0 (detaching usb-storage), then
 *                                          READ(10) of 1 MiB per Bulk-Only command: "sync"
 *                                          (one synchronous 1 MiB bulk transfer) and "async"
 *                                          (8 URBs of 128 KiB queued at once); with KIB, also
 *                                          synchronous commands of the size the kernel's
 *                                          usb-storage uses (its max_sectors_kb, 120 on this
 *                                          stick), "sdk-sync-kernel-size"; hands the interface back
 *
 * Each mode prints "MODE MiB/s BYTES SECONDS"; the data read is checked
 * against the lane image's pattern (the 32-bit word at byte offset o is
 * o / 4) outside the timed loop's arithmetic (first and last command).
 * Exit 0, 1 on an error (named on stderr), 2 on usage.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "ringkit/usb.h"

#define CMD_BYTES (1u << 20)
#define URB_BYTES (128u * 1024)
#define N_URBS (CMD_BYTES / URB_BYTES)

static uint32_t get32le(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static bool pattern_ok(const uint8_t *p, size_t len, uint64_t off) {
        for (size_t i = 0; i + 4 <= len; i += 4)
                if (get32le(p + i) != (uint32_t) ((off + i) / 4))
                        return false;
        return true;
}

static void result(const char *mode, uint64_t bytes, double secs) {
        printf("%s %.2f MiB/s %llu bytes %.3f s\n", mode, (double) bytes / (1 << 20) / secs, (unsigned long long) bytes,
               secs);
        fflush(stdout);
}

static int bench_kernel(const char *dev, unsigned mib) {
        void *buf = NULL;
        double t0;
        int fd = open(dev, O_RDONLY | O_DIRECT | O_CLOEXEC);

        if (fd < 0) {
                fprintf(stderr, "bench-usb: %s: %s\n", dev, strerror(errno));
                return 1;
        }
        if (posix_memalign(&buf, 4096, CMD_BYTES) != 0)
                return 1;
        t0 = bench_now_s();
        for (unsigned i = 0; i < mib; i++) {
                ssize_t n = pread(fd, buf, CMD_BYTES, (off_t) i * CMD_BYTES);
                if (n != (ssize_t) CMD_BYTES) {
                        fprintf(stderr, "bench-usb: %s: read %u: %s\n", dev, i, n < 0 ? strerror(errno) : "short");
                        return 1;
                }
                if ((i == 0 || i == mib - 1) && !pattern_ok(buf, CMD_BYTES, (uint64_t) i * CMD_BYTES)) {
                        fprintf(stderr, "bench-usb: %s: MiB %u does not hold the image pattern\n", dev, i);
                        return 1;
                }
        }
        result("kernel", (uint64_t) mib * CMD_BYTES, bench_now_s() - t0);
        free(buf);
        close(fd);
        return 0;
}

/* ---- Bulk-Only Transport over the SDK ---- */

typedef struct bot {
        rk_usb_device *dev;
        rk_usb_interface *intf;
        rk_usb_pipe *in, *out;
        uint32_t tag;
        unsigned done;
        int status;
} bot;

static int cbw_read10(bot *b, uint32_t lba, uint32_t bytes) {
        uint8_t c[31] = { 0x55, 0x53, 0x42, 0x43 };
        uint32_t blocks = bytes / 512;
        int r;

        b->tag++;
        memcpy(c + 4, &b->tag, 4);           /* little-endian host (x86_64, the guest) */
        memcpy(c + 8, &bytes, 4);
        c[12] = 0x80;
        c[14] = 10;
        c[15] = 0x28;
        c[17] = (uint8_t) (lba >> 24), c[18] = (uint8_t) (lba >> 16), c[19] = (uint8_t) (lba >> 8), c[20] = (uint8_t) lba;
        c[22] = (uint8_t) (blocks >> 8), c[23] = (uint8_t) blocks;
        r = rk_usb_pipe_io(b->out, c, sizeof(c), 5000);
        return r == 31 ? 0 : r < 0 ? r : -EIO;
}

static int csw(bot *b) {
        uint8_t s[13];
        int r = rk_usb_pipe_io(b->in, s, sizeof(s), 5000);

        if (r < 0)
                return r;
        return r == 13 && get32le(s) == 0x53425355 && get32le(s + 4) == b->tag && s[12] == 0 ? 0 : -EIO;
}

static void urb_done(rk_usb_request *req, int status, size_t actual, void *ud) {
        bot *b = ud;

        (void) req;
        b->done++;
        if (status == 0 && actual != URB_BYTES)
                status = -EIO;
        if (status < 0 && b->status == 0)
                b->status = status;
}

static int read_cmd(bot *b, uint8_t *buf, uint32_t lba, uint32_t bytes, bool async) {
        int r = cbw_read10(b, lba, bytes);

        if (r < 0)
                return r;
        if (!async) {
                r = rk_usb_pipe_io(b->in, buf, bytes, 10000);
                if (r < 0)
                        return r;
                if (r != (int) bytes)
                        return -EIO;
        } else {
                b->done = 0;
                b->status = 0;
                for (unsigned i = 0; i < N_URBS; i++)
                        if ((r = rk_usb_pipe_async_io(b->in, buf + (size_t) i * URB_BYTES, URB_BYTES, urb_done, b, NULL)) < 0)
                                return r;
                while (b->done < N_URBS) {
                        struct pollfd p = { .fd = rk_usb_device_get_fd(b->dev), .events = POLLOUT };
                        if (poll(&p, 1, 10000) <= 0)
                                return -ETIMEDOUT;
                        if ((r = rk_usb_device_handle_events(b->dev)) < 0)
                                return r;
                }
                if (b->status < 0)
                        return b->status;
        }
        return csw(b);
}

/* mib MiB in READ(10) commands of cmd bytes (1 MiB: async allowed, 8 URBs) */
static int bench_sdk_mode(bot *b, uint8_t *buf, unsigned mib, uint32_t cmd, bool async, const char *name) {
        uint64_t total = (uint64_t) mib * CMD_BYTES, off;
        double t0 = bench_now_s();
        int r;

        for (off = 0; off < total; off += cmd) {
                uint32_t n = total - off < cmd ? (uint32_t) (total - off) : cmd;
                r = read_cmd(b, buf, (uint32_t) (off / 512), n, async);
                if (r < 0) {
                        fprintf(stderr, "bench-usb: READ(10) at byte %llu (%s): %s\n", (unsigned long long) off, name,
                                strerror(-r));
                        return 1;
                }
                if ((off == 0 || off + n == total) && !pattern_ok(buf, n, off)) {
                        fprintf(stderr, "bench-usb: byte %llu read through the SDK does not hold the image pattern\n",
                                (unsigned long long) off);
                        return 1;
                }
        }
        result(name, total, bench_now_s() - t0);
        return 0;
}

static int bench_sdk(const char *node, unsigned mib, unsigned kernel_kib) {
        bot b = { 0 };
        uint8_t *buf = malloc(CMD_BYTES);
        int fd = open(node, O_RDWR | O_CLOEXEC), r, rc = 1;

        if (fd < 0 || !buf) {
                fprintf(stderr, "bench-usb: %s: %s\n", node, strerror(errno));
                return 1;
        }
        if ((r = rk_usb_device_new_fd(NULL, fd, &b.dev)) < 0 || (r = rk_usb_interface_open(b.dev, 0, &b.intf)) < 0 ||
            (r = rk_usb_interface_find_pipe(b.intf, RK_USB_XFER_BULK, true, &b.in)) < 0 ||
            (r = rk_usb_interface_find_pipe(b.intf, RK_USB_XFER_BULK, false, &b.out)) < 0) {
                fprintf(stderr, "bench-usb: %s: opening interface 0: %s\n", node, strerror(-r));
                goto out;
        }
        if (bench_sdk_mode(&b, buf, mib, CMD_BYTES, false, "sdk-sync") == 0 &&
            bench_sdk_mode(&b, buf, mib, CMD_BYTES, true, "sdk-async") == 0 &&
            (kernel_kib == 0 || bench_sdk_mode(&b, buf, mib, kernel_kib * 1024, false, "sdk-sync-kernel-size") == 0))
                rc = 0;
out:
        rk_usb_interface_close(b.intf); /* usb-storage binds again */
        rk_usb_device_free(b.dev);
        close(fd);
        free(buf);
        return rc;
}

int main(int argc, char **argv) {
        unsigned mib;

        if (argc < 4 || argc > 5 || (mib = (unsigned) atoi(argv[3])) == 0) {
                fprintf(stderr, "usage: bench-usb kernel BLOCKDEV MIB | bench-usb sdk USBFS-NODE MIB [KERNEL-CMD-KIB]\n");
                return 2;
        }
        if (strcmp(argv[1], "kernel") == 0)
                return bench_kernel(argv[2], mib);
        if (strcmp(argv[1], "sdk") == 0) {
                unsigned kib = argc == 5 ? (unsigned) atoi(argv[4]) : 0;
                if (kib > 1024 || kib % 4 != 0) {
                        fprintf(stderr, "bench-usb: KERNEL-CMD-KIB must be a multiple of 4 up to 1024\n");
                        return 2;
                }
                return bench_sdk(argv[2], mib, kib);
        }
        fprintf(stderr, "bench-usb: unknown mode %s\n", argv[1]);
        return 2;
}
