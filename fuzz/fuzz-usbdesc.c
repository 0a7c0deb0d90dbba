/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the USB family SDK's configuration descriptor parser
 * (rk_usb_config_descriptor_parse in lib/ringdriver/usb.c): a device hands
 * the driver whatever bytes it likes.  On success every pointer the parsed
 * tree holds (class descriptors, endpoint extras) must lie inside the copy
 * of the buffer, every alternate setting must be found again by
 * rk_usb_config_descriptor_find_alt under its own numbers, and the counts
 * must add up to the interface and endpoint descriptors in the buffer.
 * Otherwise the answer is -EBADMSG.  Nothing may crash, leak or trip a
 * sanitizer.
 */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

/* compiled in (see fuzz-modalias.c): libFuzzer sees the parser's coverage */
#include "../lib/ringdriver/usb.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(const rk_usb_config_descriptor *c, const uint8_t *p, size_t len) {
        if (!p) {
                assert(len == 0);
                return;
        }
        assert(p >= c->raw && len <= c->raw_len && (size_t) (p - c->raw) <= c->raw_len - len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        rk_usb_config_descriptor *c = NULL;
        size_t alts = 0, eps = 0, want_alts = 0, want_eps = 0;
        int r = rk_usb_config_descriptor_parse(data, size, &c);

        if (r < 0) {
                assert(r == -EBADMSG || r == -ENOMEM);
                assert(!c);
                return 0;
        }
        assert(c->raw_len <= size && c->raw_len == c->wTotalLength);
        for (size_t off = c->raw[0]; off < c->raw_len; off += c->raw[off]) {
                want_alts += c->raw[off + 1] == USB_DT_INTERFACE;
                want_eps += c->raw[off + 1] == USB_DT_ENDPOINT;
        }
        for (size_t i = 0; i < c->n_interfaces; i++) {
                const rk_usb_interface_descriptors *f = &c->interfaces[i];
                assert(f->n_alt_settings > 0);
                for (size_t a = 0; a < f->n_alt_settings; a++) {
                        const rk_usb_alt_setting *s = &f->alt_settings[a];
                        assert(s->bInterfaceNumber == f->bInterfaceNumber);
                        const rk_usb_alt_setting *found =
                                rk_usb_config_descriptor_find_alt(c, s->bInterfaceNumber, s->bAlternateSetting);
                        assert(found && found->bAlternateSetting == s->bAlternateSetting);
                        inside(c, s->extra, s->extra_len);
                        for (size_t e = 0; e < s->n_endpoints; e++)
                                inside(c, s->endpoints[e].extra, s->endpoints[e].extra_len);
                        alts++;
                        eps += s->n_endpoints;
                }
        }
        assert(alts == want_alts);
        assert(eps <= want_eps); /* endpoints before any interface belong to none */
        rk_usb_config_descriptor_free(c);
        return 0;
}
