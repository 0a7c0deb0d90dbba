/* SPDX-License-Identifier: MIT */
/* The built-in USB serial driver (usbserial.c), for ringkit-builtin's class
 * table, and its pure parts, which its self-test checks. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringkit/driver.h"

extern const rk_driver_class rk_usbserial_driver;

/* What the driver needs of a device's descriptors. */
typedef struct rk_usbserial_layout {
        uint16_t vendor, product;
        bool found;                     /* the interface is in the configuration */
        uint8_t if_class, if_subclass;
        bool acm;                       /* CDC-ACM: class 2 subclass 2, data on data_if */
        unsigned ctrl_if, data_if;      /* the same interface for FTDI */
        uint8_t ep_in, ep_out, ep_notify;
        uint16_t in_max;                /* the bulk-IN endpoint's wMaxPacketSize */
} rk_usbserial_layout;

/* Parse the descriptors usbfs returns for interface `ifno` of configuration
 * `cfg` (its bConfigurationValue; 0 = the first): 0, -EBADMSG (malformed),
 * -ENOENT (no such interface), -ENXIO (no bulk IN and OUT endpoints). */
int rk_usbserial_parse_layout(const uint8_t *desc, size_t n, unsigned cfg, unsigned ifno, rk_usbserial_layout *l);

/* The FT232BM/R baud divisor (wValue in the low 16 bits, wIndex above); 0
 * for 3 Mbaud and for rates out of range (183..3000000). */
uint32_t rk_usbserial_ftdi_divisor(uint32_t baud);

/* Strip the two status bytes at the start of each max_packet-sized FTDI
 * packet: the data length written to out (may be in). */
size_t rk_usbserial_ftdi_unframe(const uint8_t *in, size_t n, size_t max_packet, uint8_t *out, uint8_t *modem,
                                 uint64_t *errors);

/* ringkit-builtin --self-test-usbserial: "ok NAME"/"FAIL NAME: why" lines,
 * then "N passed, N failed"; 0 when all pass. */
int rk_usbserial_self_test(void);
