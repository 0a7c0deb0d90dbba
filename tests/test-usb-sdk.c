/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the USB family SDK's descriptor parser
 * (lib/ringdriver/usb.c, rk_usb_config_descriptor_parse): a mass-storage
 * configuration as QEMU's usb-storage sends it, a HID keyboard's with its
 * class descriptor, a device with two interfaces and alternate settings
 * (an audio-style layout), and malformed sets (zero bLength, descriptors
 * running past wTotalLength, a truncated buffer, the wrong type).
 * The transfers are exercised on real devices in the QEMU lane (6x-*.sh).
 */
#include <errno.h>
#include <unistd.h>

#include "ringkit/usb.h"
#include "test.h"

/* QEMU usb-storage: one interface, class 8 / SCSI 6 / BOT 0x50, bulk IN 0x81 and bulk OUT 0x02 */
static const uint8_t storage[] = {
        9, 2, 32, 0, 1, 1, 0, 0xc0, 50,
        9, 4, 0, 0, 2, 8, 6, 0x50, 0,
        7, 5, 0x81, 2, 0x40, 0, 0,
        7, 5, 0x02, 2, 0x40, 0, 0,
};

/* QEMU usb-kbd: HID class descriptor between the interface and its endpoint */
static const uint8_t kbd[] = {
        9, 2, 34, 0, 1, 1, 7, 0xa0, 50,
        9, 4, 0, 0, 1, 3, 1, 1, 0,
        9, 0x21, 0x11, 0x01, 0, 1, 0x22, 63, 0,
        7, 5, 0x81, 3, 8, 0, 7,
};

/* interface 0 (control, one interrupt endpoint), interface 1 alt 0 (no endpoints) and alt 1 (iso IN with a
 * class endpoint descriptor after it) */
static const uint8_t two[] = {
        9, 2, 62, 0, 2, 1, 0, 0x80, 100,
        9, 4, 0, 0, 1, 2, 2, 1, 5,
        5, 0x24, 0, 0x10, 1,
        7, 5, 0x83, 3, 16, 0, 9,
        9, 4, 1, 0, 0, 10, 0, 0, 0,
        9, 4, 1, 1, 1, 10, 0, 0, 0,
        7, 5, 0x84, 1, 0x00, 0x02, 1,
        7, 0x25, 1, 0, 0, 0, 0,
};

TEST(parse_storage) {
        rk_usb_config_descriptor *c = NULL;

        ASSERT(rk_usb_config_descriptor_parse(storage, sizeof(storage), &c) == 0);
        CHECK(c->wTotalLength == 32);
        CHECK(c->bConfigurationValue == 1);
        CHECK(c->bmAttributes == 0xc0);
        CHECK(c->bMaxPower == 50);
        ASSERT(c->n_interfaces == 1);
        ASSERT(c->interfaces[0].n_alt_settings == 1);
        const rk_usb_alt_setting *a = &c->interfaces[0].alt_settings[0];
        CHECK(a->bInterfaceClass == 8 && a->bInterfaceSubClass == 6 && a->bInterfaceProtocol == 0x50);
        ASSERT(a->n_endpoints == 2);
        CHECK(a->endpoints[0].bEndpointAddress == 0x81);
        CHECK(a->endpoints[0].bmAttributes == RK_USB_XFER_BULK);
        CHECK(a->endpoints[0].wMaxPacketSize == 64);
        CHECK(a->endpoints[1].bEndpointAddress == 0x02);
        CHECK(a->extra_len == 0 && a->endpoints[1].extra_len == 0);
        CHECK(c->raw != storage && c->raw_len == sizeof(storage) && memcmp(c->raw, storage, sizeof(storage)) == 0);
        CHECK(rk_usb_config_descriptor_find_alt(c, 0, 0) == a);
        CHECK(rk_usb_config_descriptor_find_alt(c, 0, 1) == NULL);
        CHECK(rk_usb_config_descriptor_find_alt(c, 1, 0) == NULL);
        rk_usb_config_descriptor_free(c);
}

TEST(parse_hid_class_descriptor) {
        rk_usb_config_descriptor *c = NULL;

        ASSERT(rk_usb_config_descriptor_parse(kbd, sizeof(kbd), &c) == 0);
        const rk_usb_alt_setting *a = rk_usb_config_descriptor_find_alt(c, 0, 0);
        ASSERT(a);
        CHECK(a->bInterfaceClass == 3 && a->bInterfaceProtocol == 1);
        ASSERT(a->extra_len == 9);
        CHECK(a->extra[1] == 0x21 && a->extra[6] == 0x22 && a->extra[7] == 63);
        ASSERT(a->n_endpoints == 1);
        CHECK(a->endpoints[0].bEndpointAddress == 0x81 && a->endpoints[0].bmAttributes == RK_USB_XFER_INTERRUPT);
        CHECK(a->endpoints[0].bInterval == 7 && a->endpoints[0].wMaxPacketSize == 8);
        rk_usb_config_descriptor_free(c);
}

TEST(parse_alt_settings) {
        rk_usb_config_descriptor *c = NULL;

        ASSERT(rk_usb_config_descriptor_parse(two, sizeof(two), &c) == 0);
        ASSERT(c->n_interfaces == 2);
        CHECK(c->interfaces[0].bInterfaceNumber == 0 && c->interfaces[0].n_alt_settings == 1);
        CHECK(c->interfaces[1].bInterfaceNumber == 1 && c->interfaces[1].n_alt_settings == 2);
        const rk_usb_alt_setting *i0 = rk_usb_config_descriptor_find_alt(c, 0, 0);
        const rk_usb_alt_setting *a0 = rk_usb_config_descriptor_find_alt(c, 1, 0);
        const rk_usb_alt_setting *a1 = rk_usb_config_descriptor_find_alt(c, 1, 1);
        ASSERT(i0 && a0 && a1);
        CHECK(i0->extra_len == 5 && i0->extra[1] == 0x24);
        CHECK(i0->n_endpoints == 1 && i0->endpoints[0].bEndpointAddress == 0x83);
        CHECK(i0->iInterface == 5);
        CHECK(a0->n_endpoints == 0);
        ASSERT(a1->n_endpoints == 1);
        CHECK(a1->endpoints[0].bmAttributes == RK_USB_XFER_ISOCHRONOUS);
        CHECK(a1->endpoints[0].wMaxPacketSize == 512);
        CHECK(a1->endpoints[0].extra_len == 7 && a1->endpoints[0].extra[1] == 0x25);
        rk_usb_config_descriptor_free(c);
}

TEST(parse_interleaved_interfaces) {
        /* interface 0 alt 0, interface 1 alt 0, interface 0 alt 1: alternate settings group by interface */
        static const uint8_t d[] = {
                9, 2, 36, 0, 2, 1, 0, 0x80, 1,
                9, 4, 0, 0, 0, 0xff, 0, 0, 0,
                9, 4, 1, 0, 0, 0xff, 0, 0, 0,
                9, 4, 0, 1, 0, 0xff, 0, 0, 0,
        };
        rk_usb_config_descriptor *c = NULL;

        ASSERT(rk_usb_config_descriptor_parse(d, sizeof(d), &c) == 0);
        ASSERT(c->n_interfaces == 2);
        CHECK(c->interfaces[0].n_alt_settings == 2);
        CHECK(c->interfaces[0].alt_settings[1].bAlternateSetting == 1);
        CHECK(c->interfaces[0].alt_settings[1].bInterfaceNumber == 0);
        CHECK(c->interfaces[1].n_alt_settings == 1);
        rk_usb_config_descriptor_free(c);
}

TEST(parse_malformed) {
        rk_usb_config_descriptor *c = NULL;
        uint8_t b[sizeof(storage)];

        CHECK(rk_usb_config_descriptor_parse(storage, 8, &c) == -EBADMSG);       /* shorter than a config */
        CHECK(rk_usb_config_descriptor_parse(storage, 31, &c) == -EBADMSG);      /* wTotalLength past the end */
        memcpy(b, storage, sizeof(b));
        b[1] = 1;                                                                 /* a device descriptor */
        CHECK(rk_usb_config_descriptor_parse(b, sizeof(b), &c) == -EBADMSG);
        memcpy(b, storage, sizeof(b));
        b[18] = 0;                                                                /* zero bLength: would loop */
        CHECK(rk_usb_config_descriptor_parse(b, sizeof(b), &c) == -EBADMSG);
        memcpy(b, storage, sizeof(b));
        b[25] = 9;                                                                /* the last runs past the end */
        CHECK(rk_usb_config_descriptor_parse(b, sizeof(b), &c) == -EBADMSG);
        memcpy(b, storage, sizeof(b));
        b[18] = 4;                                                                /* an endpoint of 4 bytes */
        b[22] = 3, b[23] = 5;
        CHECK(rk_usb_config_descriptor_parse(b, sizeof(b), &c) == -EBADMSG);
        memcpy(b, storage, sizeof(b));
        b[2] = 22;                                                                /* wTotalLength cuts a descriptor */
        CHECK(rk_usb_config_descriptor_parse(b, sizeof(b), &c) == -EBADMSG);
        CHECK(c == NULL);
        CHECK(rk_usb_config_descriptor_parse(NULL, 9, &c) == -EINVAL);
        CHECK(rk_usb_config_descriptor_parse(storage, sizeof(storage), NULL) == -EINVAL);
        /* wTotalLength shorter than the buffer: the rest is ignored */
        memcpy(b, storage, sizeof(b));
        b[2] = 25;
        ASSERT(rk_usb_config_descriptor_parse(b, sizeof(b), &c) == 0);
        CHECK(c->raw_len == 25 && c->interfaces[0].alt_settings[0].n_endpoints == 1);
        rk_usb_config_descriptor_free(c);
}

TEST(endpoint_before_interface) {
        /* an endpoint with no interface before it belongs to nothing (and does not crash) */
        static const uint8_t d[] = {
                9, 2, 25, 0, 1, 1, 0, 0x80, 1,
                7, 5, 0x81, 2, 64, 0, 0,
                9, 4, 0, 0, 0, 0xff, 0, 0, 0,
        };
        rk_usb_config_descriptor *c = NULL;

        ASSERT(rk_usb_config_descriptor_parse(d, sizeof(d), &c) == 0);
        CHECK(c->n_interfaces == 1 && c->interfaces[0].alt_settings[0].n_endpoints == 0);
        rk_usb_config_descriptor_free(c);
}

TEST(null_arguments) {
        CHECK(rk_usb_device_new(NULL, NULL) == -EINVAL);
        CHECK(rk_usb_device_new_fd(NULL, -1, NULL) == -EINVAL);
        CHECK(rk_usb_interface_open(NULL, 0, NULL) == -EINVAL);
        CHECK(rk_usb_pipe_io(NULL, NULL, 0, 0) == -EINVAL);
        CHECK(rk_usb_pipe_async_io(NULL, NULL, 0, NULL, NULL, NULL) == -EINVAL);
        CHECK(rk_usb_request_cancel(NULL) == -EINVAL);
        CHECK(rk_usb_pipe_clear_stall(NULL) == -EINVAL);
        rk_usb_device_free(NULL);
        rk_usb_interface_close(NULL);
        rk_usb_config_descriptor_free(NULL);
}

TEST(not_usbfs) {
        /* a descriptor that is not usbfs: the device read fails cleanly */
        int fd[2];
        rk_usb_device *dev = NULL;

        ASSERT(pipe(fd) == 0);
        close(fd[1]);
        CHECK(rk_usb_device_new_fd(NULL, fd[0], &dev) < 0);
        CHECK(dev == NULL);
        close(fd[0]);
}
