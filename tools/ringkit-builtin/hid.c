/* SPDX-License-Identifier: MIT */
/*
 * RKHIDEventDriver: the built-in HID event driver.  Its provider is a HID
 * device's hidraw node (an RKHIDRawDevice nub; ringd opens the node and
 * passes it as the provider handle).  It reads the report descriptor,
 * parses it into input fields, creates a uinput device with the matching
 * capabilities and turns every input report it reads into input events:
 *
 *   keyboard   usage page 0x07: variable bitmaps (the modifiers) and key
 *              arrays, diffed against the previous report into presses and
 *              releases, each preceded by MSC_SCAN with the HID usage (as
 *              the kernel's hid-input does); Linux's usage -> KEY_* table
 *   mouse      buttons (page 0x09), relative X/Y/Z/wheel and AC Pan
 *              (horizontal wheel) as EV_REL, sent when non-zero
 *   absolute   X/Y/Z/Rx/Ry/Rz as EV_ABS with the field's logical range
 *              (tablets, joysticks), sent when they change
 *   consumer   a few consumer-page keys (volume, mute, media, brightness)
 *   LEDs       the other way: EV_LED events written to the uinput device
 *              (Caps Lock...) become an output report written to hidraw,
 *              from the descriptor's LED-page output fields
 *   the rest   skipped: counted per report, never invented into events
 *
 * What stays true in this file:
 *   - the parser never reads past the descriptor and never trusts a field
 *     layout it did not check: every field lies inside its report, every
 *     report within HID_REPORT_MAX bytes, usage lists are bounded
 *     (hid_desc_parse returns -EBADMSG or -E2BIG otherwise);
 *   - a report is decoded only when its length covers every field of its
 *     report ID; shorter ones are counted and dropped;
 *   - events of one report are written to uinput in one write(), ending in
 *     SYN_REPORT, so a reader never sees half a report.
 *
 * The parser and translator are pure (no I/O); `ringkit-builtin
 * --self-test-hid` runs them on known descriptors and reports.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <linux/hidraw.h>
#include <linux/input.h>
#include <linux/uinput.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "hid.h"
#include "ringkit/driver.h"

#define HID_MAX_FIELDS 128
#define HID_MAX_USAGES 2048     /* all fields' usage lists together */
#define HID_MAX_VALUES 4096     /* all fields' elements together */
#define HID_MAX_LOCAL_USAGES 256
#define HID_MAX_DEPTH 16        /* collections */
#define HID_MAX_PUSH 4
#define HID_MAX_APPS 8
#define HID_MAX_OUTPUTS 16
#define HID_REPORT_MAX 4096     /* bytes of one report, after the ID */
#define HID_DESC_MAX 4096       /* HID_MAX_DESCRIPTOR_SIZE */

enum { F_CONSTANT = 1, F_VARIABLE = 2, F_RELATIVE = 4 };

typedef struct hid_field {
        uint8_t report_id;
        uint8_t flags;
        uint32_t offset, size, count;   /* bits, from the first byte after the report ID */
        int32_t lmin, lmax;
        uint32_t app;                   /* page << 16 | usage of its application collection */
        uint32_t usage0, n_usages;      /* its usages in hid_desc.usages (page << 16 | usage) */
        uint32_t value0;                /* its elements' last values in hid_map.values */
} hid_field;

typedef struct hid_desc {
        hid_field fields[HID_MAX_FIELDS];
        size_t n_fields;
        uint32_t usages[HID_MAX_USAGES];
        size_t n_usages;
        uint32_t report_bits[256];      /* input report length by ID, in bits */
        bool report_ids;                /* reports start with their ID byte */
        uint32_t apps[HID_MAX_APPS];
        size_t n_apps;
        size_t n_values;
        hid_field outputs[HID_MAX_OUTPUTS]; /* variable output fields (LEDs); value0 unused */
        size_t n_outputs;
        uint32_t out_bits[256];         /* output report length by ID, in bits */
} hid_desc;

/* ---- the report descriptor parser (HID 1.11, section 6.2.2) ---- */

typedef struct gstate {
        uint32_t page;
        int32_t lmin, lmax;
        uint32_t lmax_u;                /* logical max as unsigned, when lmin >= 0 */
        bool lmax_signed_neg;
        uint32_t size, count, id;
} gstate;

typedef struct lstate {
        uint32_t usages[HID_MAX_LOCAL_USAGES]; /* bit 31: carries its own page (4-byte item) */
        size_t n;
        uint32_t min, max;
        bool have_min, have_max, min_ext, max_ext;
} lstate;

#define EXT (UINT32_C(1) << 31)

static uint32_t full_usage(uint32_t u, bool ext, uint32_t page) {
        return ext ? u : (page << 16) | (u & 0xffff);
}

/* The usage list of a main item: the explicit usages, then the Usage
 * Minimum..Maximum range, at most `limit` entries. */
static int collect_usages(hid_desc *d, const lstate *l, uint32_t page, uint32_t limit, uint32_t *first, uint32_t *n) {
        *first = (uint32_t) d->n_usages;
        *n = 0;
        for (size_t k = 0; k < l->n && *n < limit; k++) {
                if (d->n_usages >= HID_MAX_USAGES)
                        return -E2BIG;
                d->usages[d->n_usages++] = full_usage(l->usages[k] & ~EXT, l->usages[k] & EXT, page);
                (*n)++;
        }
        if (l->have_min && l->have_max) {
                uint32_t lo = full_usage(l->min, l->min_ext, page), hi = full_usage(l->max, l->max_ext, page);
                if (lo > hi)
                        return -EBADMSG;
                for (uint64_t u = lo; u <= hi && *n < limit; u++) {
                        if (d->n_usages >= HID_MAX_USAGES)
                                return -E2BIG;
                        d->usages[d->n_usages++] = (uint32_t) u;
                        (*n)++;
                }
        }
        return 0;
}

static int add_input(hid_desc *d, const gstate *g, const lstate *l, uint32_t flags, uint32_t app) {
        uint32_t *bits = &d->report_bits[g->id];
        uint64_t total = (uint64_t) g->size * g->count;
        hid_field *f;
        uint32_t limit;
        int r;

        if (*bits + total > (uint64_t) HID_REPORT_MAX * 8)
                return -E2BIG;
        if ((flags & F_CONSTANT) || g->size == 0 || g->count == 0 || g->size > 32) {
                *bits += (uint32_t) total; /* padding, or nothing we can decode: skip its bits */
                return 0;
        }
        if (d->n_fields >= HID_MAX_FIELDS || d->n_values + g->count > HID_MAX_VALUES)
                return -E2BIG;
        f = &d->fields[d->n_fields];
        *f = (hid_field){ .report_id = (uint8_t) g->id, .flags = (uint8_t) flags, .offset = *bits, .size = g->size,
                          .count = g->count, .lmin = g->lmin, .app = app, .value0 = (uint32_t) d->n_values };
        /* Linux's rule: a non-negative minimum makes the maximum unsigned (0x25 0xff is 255) */
        f->lmax = g->lmin >= 0 ? (int32_t) (g->lmax_u > INT32_MAX ? INT32_MAX : g->lmax_u) : g->lmax;
        if (f->lmax < f->lmin)
                return -EBADMSG;
        /* a variable field needs one usage per element; an array one per value */
        if (flags & F_VARIABLE)
                limit = g->count;
        else
                limit = (uint64_t) f->lmax - f->lmin + 1 > HID_MAX_LOCAL_USAGES * 4 ? HID_MAX_LOCAL_USAGES * 4
                                                                                     : (uint32_t) (f->lmax - f->lmin + 1);
        r = collect_usages(d, l, g->page, limit, &f->usage0, &f->n_usages);
        if (r < 0)
                return r;
        *bits += (uint32_t) total;
        d->n_values += g->count;
        d->n_fields++;
        return 0;
}

/* An Output item: its layout, and its usages when it is a variable field
 * (LEDs); arrays and fields beyond HID_MAX_OUTPUTS only take their bits. */
static int add_output(hid_desc *d, const gstate *g, const lstate *l, uint32_t flags) {
        uint32_t *bits = &d->out_bits[g->id];
        uint64_t total = (uint64_t) g->size * g->count;
        hid_field *f;
        int r;

        if (*bits + total > (uint64_t) HID_REPORT_MAX * 8)
                return -E2BIG;
        if (!(flags & F_CONSTANT) && (flags & F_VARIABLE) && g->size > 0 && g->size <= 32 && g->count > 0 &&
            d->n_outputs < HID_MAX_OUTPUTS) {
                f = &d->outputs[d->n_outputs];
                *f = (hid_field){ .report_id = (uint8_t) g->id, .flags = (uint8_t) flags, .offset = *bits,
                                  .size = g->size, .count = g->count };
                r = collect_usages(d, l, g->page, g->count, &f->usage0, &f->n_usages);
                if (r < 0)
                        return r;
                d->n_outputs++;
        }
        *bits += (uint32_t) total;
        return 0;
}

/* Parse `p`: 0, -EBADMSG (malformed: truncated item, unbalanced collection or
 * push/pop, bad ranges), -E2BIG (beyond this parser's limits). */
static int hid_desc_parse(const uint8_t *p, size_t n, hid_desc *d) {
        gstate g = { 0 }, stack[HID_MAX_PUSH];
        lstate l = { .n = 0 };
        uint32_t coll_usage[HID_MAX_DEPTH], app = 0;
        unsigned depth = 0, pushed = 0;
        int r;

        memset(d, 0, sizeof(*d));
        for (size_t i = 0; i < n;) {
                uint8_t item = p[i++];
                size_t sz = (item & 3) == 3 ? 4 : (item & 3);
                uint32_t u = 0;
                int32_t s;

                if (item == 0xfe) { /* long item: bDataSize, bLongItemTag, data; none defined, skip */
                        if (i + 2 > n || i + 2 + p[i] > n)
                                return -EBADMSG;
                        i += 2 + (size_t) p[i];
                        continue;
                }
                if (i + sz > n)
                        return -EBADMSG;
                for (size_t k = 0; k < sz; k++)
                        u |= (uint32_t) p[i + k] << (8 * k);
                s = sz == 1 ? (int8_t) u : sz == 2 ? (int16_t) u : (int32_t) u;
                i += sz;
                switch (item & 0xfc) {
                /* main items: clear the local state afterwards */
                case 0x80: /* Input */
                        r = add_input(d, &g, &l, u & 7, app);
                        if (r < 0)
                                return r;
                        l = (lstate){ .n = 0 };
                        break;
                case 0x90: /* Output */
                        r = add_output(d, &g, &l, u & 7);
                        if (r < 0)
                                return r;
                        l = (lstate){ .n = 0 };
                        break;
                case 0xb0: /* Feature: not ours to decode */
                        l = (lstate){ .n = 0 };
                        break;
                case 0xa0: /* Collection */
                        if (depth >= HID_MAX_DEPTH)
                                return -E2BIG;
                        coll_usage[depth] = l.n ? full_usage(l.usages[0] & ~EXT, l.usages[0] & EXT, g.page) : 0;
                        if (u == 1 && depth == 0) { /* top-level application collection */
                                app = coll_usage[depth];
                                if (d->n_apps < HID_MAX_APPS)
                                        d->apps[d->n_apps++] = app;
                        }
                        depth++;
                        l = (lstate){ .n = 0 };
                        break;
                case 0xc0: /* End Collection */
                        if (depth == 0)
                                return -EBADMSG;
                        depth--;
                        if (depth == 0)
                                app = 0;
                        l = (lstate){ .n = 0 };
                        break;
                /* global items */
                case 0x04: g.page = u & 0xffff; break;
                case 0x14: g.lmin = s; break;
                case 0x24: g.lmax = s; g.lmax_u = u; break;
                case 0x34: case 0x44: case 0x54: case 0x64: break; /* physical range, unit: not needed */
                case 0x74: g.size = u; break;
                case 0x84: /* Report ID */
                        if (u == 0 || u > 255)
                                return -EBADMSG;
                        g.id = u;
                        d->report_ids = true;
                        break;
                case 0x94: g.count = u; break;
                case 0xa4: /* Push */
                        if (pushed >= HID_MAX_PUSH)
                                return -E2BIG;
                        stack[pushed++] = g;
                        break;
                case 0xb4: /* Pop */
                        if (pushed == 0)
                                return -EBADMSG;
                        g = stack[--pushed];
                        break;
                /* local items */
                case 0x08: /* Usage */
                        if (l.n < HID_MAX_LOCAL_USAGES)
                                l.usages[l.n++] = sz == 4 ? (u | EXT) : u;
                        break;
                case 0x18: l.min = u; l.min_ext = sz == 4; l.have_min = true; break;
                case 0x28: l.max = u; l.max_ext = sz == 4; l.have_max = true; break;
                default: break; /* designators, strings, delimiters, reserved */
                }
        }
        if (depth != 0)
                return -EBADMSG;
        if (d->report_ids && d->report_bits[0])
                return -EBADMSG; /* fields before the first Report ID in a descriptor that uses them */
        return 0;
}

/* ---- usages -> input events ---- */

/* Linux's HID keyboard usage -> KEY_* table (drivers/hid/hid-input.c), 0 = none */
static const uint8_t hid_keyboard[256] = {
        0,   0,   0,   0,   30,  48,  46,  32,  18,  33,  34,  35,  23,  36,  37,  38,
        50,  49,  24,  25,  16,  19,  31,  20,  22,  47,  17,  45,  21,  44,  2,   3,
        4,   5,   6,   7,   8,   9,   10,  11,  28,  1,   14,  15,  57,  12,  13,  26,
        27,  43,  43,  39,  40,  41,  51,  52,  53,  58,  59,  60,  61,  62,  63,  64,
        65,  66,  67,  68,  87,  88,  99,  70,  119, 110, 102, 104, 111, 107, 109, 106,
        105, 108, 103, 69,  98,  55,  74,  78,  96,  79,  80,  81,  75,  76,  77,  71,
        72,  73,  82,  83,  86,  127, 116, 117, 183, 184, 185, 186, 187, 188, 189, 190,
        191, 192, 193, 194, 134, 138, 130, 132, 128, 129, 131, 137, 133, 135, 136, 113,
        115, 114, 0,   0,   0,   121, 0,   89,  93,  124, 92,  94,  95,  0,   0,   0,
        122, 123, 90,  91,  85,  0,   0,   0,   0,   0,   0,   0,   111, 0,   0,   0,
        0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
        0,   0,   0,   0,   0,   0,   179, 180, 0,   0,   0,   0,   0,   0,   0,   0,
        0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
        0,   0,   0,   0,   0,   0,   0,   0,   111, 0,   0,   0,   0,   0,   0,   0,
        29,  42,  56,  125, 97,  54,  100, 126, 164, 166, 165, 163, 161, 115, 114, 113,
        150, 158, 159, 128, 136, 177, 178, 176, 142, 152, 173, 140, 0,   0,   0,   0,
};

static const struct { uint16_t usage, key; } consumer_keys[] = {
        { 0x6f, KEY_BRIGHTNESSUP }, { 0x70, KEY_BRIGHTNESSDOWN }, { 0xb5, KEY_NEXTSONG },
        { 0xb6, KEY_PREVIOUSSONG }, { 0xb7, KEY_STOPCD },         { 0xcd, KEY_PLAYPAUSE },
        { 0xe2, KEY_MUTE },         { 0xe9, KEY_VOLUMEUP },       { 0xea, KEY_VOLUMEDOWN },
        { 0x223, KEY_HOMEPAGE },    { 0x224, KEY_BACK },          { 0x225, KEY_FORWARD },
};

#define GD(u) ((UINT32_C(0x01) << 16) | (u))
#define SETBIT(a, b) ((a)[(b) / 8] |= (uint8_t) (1u << ((b) % 8)))
#define TESTBIT(a, b) (((a)[(b) / 8] >> ((b) % 8)) & 1)

/* The event a usage of field `f` becomes: 0 and *type EV_KEY/REL/ABS, or -ENOENT. */
static int map_usage(const hid_field *f, uint32_t usage, uint16_t *type, uint16_t *code) {
        uint32_t page = usage >> 16, u = usage & 0xffff;

        switch (page) {
        case 0x07: /* keyboard/keypad */
                if (u < 256 && hid_keyboard[u]) {
                        *type = EV_KEY;
                        *code = hid_keyboard[u];
                        return 0;
                }
                return -ENOENT;
        case 0x09: /* buttons */
                if (u == 0)
                        return -ENOENT;
                *type = EV_KEY;
                if (f->app == GD(0x04) && u <= 16)
                        *code = (uint16_t) (BTN_TRIGGER + u - 1);
                else if (f->app == GD(0x05) && u <= 15)
                        *code = (uint16_t) (BTN_SOUTH + u - 1);
                else if (u <= 8)
                        *code = (uint16_t) (BTN_MOUSE + u - 1);
                else if (u <= 16)
                        *code = (uint16_t) (BTN_MISC + u - 9);
                else
                        return -ENOENT;
                return 0;
        case 0x01: /* generic desktop */
                if (u >= 0x30 && u <= 0x35) { /* X Y Z Rx Ry Rz: REL_* and ABS_* are 0..5 in this order */
                        *type = (f->flags & F_RELATIVE) ? EV_REL : EV_ABS;
                        *code = (uint16_t) (u - 0x30);
                        return 0;
                }
                if (u == 0x38) { /* wheel */
                        *type = (f->flags & F_RELATIVE) ? EV_REL : EV_ABS;
                        *code = (f->flags & F_RELATIVE) ? REL_WHEEL : ABS_WHEEL;
                        return 0;
                }
                return -ENOENT;
        case 0x0c: /* consumer */
                if (u == 0x238 && (f->flags & F_RELATIVE)) {
                        *type = EV_REL;
                        *code = REL_HWHEEL;
                        return 0;
                }
                for (size_t k = 0; k < sizeof(consumer_keys) / sizeof(consumer_keys[0]); k++)
                        if (consumer_keys[k].usage == u) {
                                *type = EV_KEY;
                                *code = consumer_keys[k].key;
                                return 0;
                        }
                return -ENOENT;
        }
        return -ENOENT;
}

static uint32_t field_usage(const hid_desc *d, const hid_field *f, uint32_t k) {
        if (f->n_usages == 0)
                return 0;
        return d->usages[f->usage0 + (k < f->n_usages ? k : f->n_usages - 1)];
}

/* LED page 0x08: Num Lock, Caps Lock, Scroll Lock, Compose, Kana -> LED_*, else -1 */
static int map_led(uint32_t usage) {
        uint32_t u = usage & 0xffff;
        return (usage >> 16) == 0x08 && u >= 1 && u <= 5 ? (int) (u - 1) : -1;
}

/* The output report carrying the LED state `leds` (a LED_* bitmap), as
 * hidraw's write() takes it: the report ID first (0 without IDs).  Returns
 * its length, or 0 when the descriptor has no LED outputs. */
static size_t hid_led_report(const hid_desc *d, const uint8_t *leds, uint8_t *out, size_t size) {
        int id = -1;
        size_t n;

        for (size_t i = 0; i < d->n_outputs && id < 0; i++)
                for (uint32_t k = 0; k < d->outputs[i].count; k++)
                        if (map_led(field_usage(d, &d->outputs[i], k)) >= 0) {
                                id = d->outputs[i].report_id;
                                break;
                        }
        if (id < 0)
                return 0;
        n = 1 + (d->out_bits[id] + 7) / 8;
        if (n > size)
                return 0;
        memset(out, 0, n);
        out[0] = (uint8_t) id;
        for (size_t i = 0; i < d->n_outputs; i++) {
                const hid_field *f = &d->outputs[i];
                if (f->report_id != id)
                        continue;
                for (uint32_t k = 0; k < f->count; k++) {
                        int led = map_led(field_usage(d, f, k));
                        uint32_t bit = f->offset + k * f->size;
                        if (led >= 0 && TESTBIT(leds, led))
                                out[1 + bit / 8] |= (uint8_t) (1u << (bit % 8)); /* value 1 in the field's low bit */
                }
        }
        return n;
}

/* Capabilities of the device the descriptor describes. */
typedef struct hid_caps {
        uint8_t ev[EV_MAX / 8 + 1], key[KEY_MAX / 8 + 1], rel[REL_MAX / 8 + 1], abs[ABS_MAX / 8 + 1];
        uint8_t led[LED_MAX / 8 + 1];
        struct input_absinfo absinfo[ABS_MAX + 1];
        bool keyboard;
        size_t mapped, unmapped;        /* usages */
} hid_caps;


static void hid_caps_get(const hid_desc *d, hid_caps *c) {
        memset(c, 0, sizeof(*c));
        for (size_t i = 0; i < d->n_fields; i++) {
                const hid_field *f = &d->fields[i];
                uint32_t n = (f->flags & F_VARIABLE) ? f->count : f->n_usages;
                for (uint32_t k = 0; k < n; k++) {
                        uint32_t usage = field_usage(d, f, k);
                        uint16_t type, code;
                        if (map_usage(f, usage, &type, &code) < 0) {
                                c->unmapped++;
                                continue;
                        }
                        c->mapped++;
                        SETBIT(c->ev, type);
                        if (type == EV_KEY) {
                                SETBIT(c->key, code);
                                if ((usage >> 16) == 0x07 || (usage >> 16) == 0x0c)
                                        SETBIT(c->ev, EV_MSC);
                                if ((usage >> 16) == 0x07)
                                        c->keyboard = true;
                        } else if (type == EV_REL) {
                                SETBIT(c->rel, code);
                        } else {
                                SETBIT(c->abs, code);
                                c->absinfo[code].minimum = f->lmin;
                                c->absinfo[code].maximum = f->lmax;
                        }
                }
        }
        for (size_t i = 0; i < d->n_outputs; i++)
                for (uint32_t k = 0; k < d->outputs[i].count; k++) {
                        int led = map_led(field_usage(d, &d->outputs[i], k));
                        if (led >= 0) {
                                SETBIT(c->ev, EV_LED);
                                SETBIT(c->led, led);
                        }
                }
        if (c->keyboard)
                SETBIT(c->ev, EV_REP);
}

/* ---- decoding reports ---- */

typedef struct hid_events {
        struct input_event ev[512];
        size_t n;
        size_t skipped;                 /* elements with unmapped usages that changed */
} hid_events;

static void emit(hid_events *e, uint16_t type, uint16_t code, int32_t value) {
        if (e->n < sizeof(e->ev) / sizeof(e->ev[0]))
                e->ev[e->n++] = (struct input_event){ .type = type, .code = code, .value = value };
}

static int32_t get_bits(const uint8_t *r, uint32_t off, uint32_t size, bool is_signed) {
        uint64_t v = 0;
        for (uint32_t b = 0; b < size; b++)
                v |= (uint64_t) ((r[(off + b) / 8] >> ((off + b) % 8)) & 1) << b;
        if (is_signed && size < 32 && (v >> (size - 1)) & 1)
                v |= ~UINT64_C(0) << size;
        return (int32_t) (uint32_t) v;
}

static void emit_key(hid_events *e, uint32_t usage, uint16_t code, int32_t down) {
        uint32_t page = usage >> 16;
        if (page == 0x07 || page == 0x0c)
                emit(e, EV_MSC, MSC_SCAN, (int32_t) usage);
        emit(e, EV_KEY, code, down ? 1 : 0);
}

static void variable_field(const hid_desc *d, const hid_field *f, const int32_t *old, const int32_t *now,
                           hid_events *e) {
        for (uint32_t k = 0; k < f->count; k++) {
                uint32_t usage = field_usage(d, f, k);
                uint16_t type, code;
                if (map_usage(f, usage, &type, &code) < 0) {
                        e->skipped += old[k] != now[k];
                        continue;
                }
                if (type == EV_REL) {
                        if (now[k])
                                emit(e, EV_REL, code, now[k]);
                } else if (old[k] != now[k]) {
                        if (type == EV_KEY)
                                emit_key(e, usage, code, now[k]);
                        else
                                emit(e, EV_ABS, code, now[k]);
                }
        }
}

/* The usage an array element's value selects, or 0 for none (out of range). */
static uint32_t array_usage(const hid_desc *d, const hid_field *f, int32_t v) {
        uint32_t u;
        if (v < f->lmin || v > f->lmax || (uint32_t) (v - f->lmin) >= f->n_usages)
                return 0;
        u = d->usages[f->usage0 + (uint32_t) (v - f->lmin)];
        return (u & 0xffff) ? u : 0; /* usage 0: "no event indicated" */
}

static bool array_has(const hid_desc *d, const hid_field *f, const int32_t *vals, uint32_t usage) {
        for (uint32_t k = 0; k < f->count; k++)
                if (array_usage(d, f, vals[k]) == usage)
                        return true;
        return false;
}

static void array_key(const hid_desc *d, const hid_field *f, uint32_t usage, int down, hid_events *e) {
        uint16_t type, code;
        if (map_usage(f, usage, &type, &code) < 0 || type != EV_KEY)
                e->skipped++;
        else
                emit_key(e, usage, code, down);
}

/* Returns false when the report is a keyboard's rollover error: keep the old state. */
static bool array_field(const hid_desc *d, const hid_field *f, const int32_t *old, const int32_t *now,
                        hid_events *e) {
        for (uint32_t k = 0; k < f->count; k++) {
                uint32_t u = array_usage(d, f, now[k]);
                if ((u >> 16) == 0x07 && (u & 0xffff) >= 1 && (u & 0xffff) <= 3)
                        return false; /* ErrorRollOver, POSTFail, ErrorUndefined */
        }
        /* releases first, then presses, as hid-input orders them */
        for (uint32_t k = 0; k < f->count; k++) {
                uint32_t u = array_usage(d, f, old[k]);
                if (u && !array_has(d, f, now, u))
                        array_key(d, f, u, 0, e);
        }
        for (uint32_t k = 0; k < f->count; k++) {
                uint32_t u = array_usage(d, f, now[k]);
                if (u && !array_has(d, f, old, u))
                        array_key(d, f, u, 1, e);
        }
        return true;
}

typedef struct hid_map {
        hid_desc desc;
        int32_t values[HID_MAX_VALUES]; /* each field element's last value */
        uint64_t reports, short_reports, unknown_ids;
} hid_map;

/* Decode one report as hidraw returns it (with its ID byte when the device
 * uses IDs) into events ending in SYN_REPORT.  -EBADMSG: too short or an
 * unknown ID (counted, nothing emitted). */
static int hid_map_report(hid_map *m, const uint8_t *r, size_t n, hid_events *e) {
        const hid_desc *d = &m->desc;
        uint8_t id = 0;
        int32_t now[HID_MAX_VALUES];

        e->n = 0;
        if (d->report_ids) {
                if (n < 1)
                        return -EBADMSG;
                id = r[0];
                r++;
                n--;
        }
        if (d->report_bits[id] == 0) {
                m->unknown_ids++;
                return -EBADMSG;
        }
        if ((uint64_t) n * 8 < d->report_bits[id]) {
                m->short_reports++;
                return -EBADMSG;
        }
        m->reports++;
        for (size_t i = 0; i < d->n_fields; i++) {
                const hid_field *f = &d->fields[i];
                int32_t *old = &m->values[f->value0];
                uint32_t count = f->count;
                if (f->report_id != id)
                        continue;
                for (uint32_t k = 0; k < count; k++)
                        now[k] = get_bits(r, f->offset + k * f->size, f->size, f->lmin < 0);
                if (f->flags & F_VARIABLE)
                        variable_field(d, f, old, now, e);
                else if (!array_field(d, f, old, now, e))
                        continue;
                memcpy(old, now, count * sizeof(now[0]));
        }
        if (e->n)
                emit(e, EV_SYN, SYN_REPORT, 0);
        return 0;
}

/* ---- the driver ---- */

typedef struct hid_drv {
        hid_map map;
        hid_events events;
        int uinput;
        rk_driver_watch *watch, *led_watch;
        char name[UINPUT_MAX_NAME_SIZE];
        uint8_t leds[LED_MAX / 8 + 1];
        uint64_t reports_in, events_out, write_errors, reports_out, output_errors;
} hid_drv;

static const char *kind_of(const hid_desc *d) {
        for (size_t k = 0; k < d->n_apps; k++)
                switch (d->apps[k]) {
                case GD(0x06): case GD(0x07): return "keyboard";
                case GD(0x02): return "mouse";
                case GD(0x01): return "pointer";
                case GD(0x04): return "joystick";
                case GD(0x05): return "gamepad";
                }
        return "device";
}

static int uinput_create(rk_driver *d, hid_drv *h, const hid_caps *c, const struct hidraw_devinfo *info) {
        struct uinput_setup us = { .id = { .bustype = BUS_VIRTUAL, .vendor = 0, .product = 0, .version = 1 } };
        int fd, r = 0;

        if (info) {
                us.id.bustype = (uint16_t) info->bustype;
                us.id.vendor = (uint16_t) info->vendor;
                us.id.product = (uint16_t) info->product;
        }
        snprintf(us.name, sizeof(us.name), "%s", h->name);
        /* ringd opens it for us (the sandbox keeps us from it); unconfined, we may open it ourselves */
        fd = rk_driver_open_device(d, "uinput");
        if (fd < 0 && (fd = open("/dev/uinput", O_RDWR | O_CLOEXEC | O_NONBLOCK)) < 0) {
                r = -errno;
                rk_driver_log(d, RK_LOG_ERR, "/dev/uinput: %s", strerror(errno));
                return r;
        }
        for (int t = 0; t <= EV_MAX && r >= 0; t++)
                if (TESTBIT(c->ev, t) && ioctl(fd, UI_SET_EVBIT, t) < 0)
                        r = -errno;
        for (int k = 0; k <= KEY_MAX && r >= 0; k++)
                if (TESTBIT(c->key, k) && ioctl(fd, UI_SET_KEYBIT, k) < 0)
                        r = -errno;
        for (int k = 0; k <= REL_MAX && r >= 0; k++)
                if (TESTBIT(c->rel, k) && ioctl(fd, UI_SET_RELBIT, k) < 0)
                        r = -errno;
        for (int k = 0; k <= ABS_MAX && r >= 0; k++)
                if (TESTBIT(c->abs, k)) {
                        struct uinput_abs_setup a = { .code = (uint16_t) k, .absinfo = c->absinfo[k] };
                        if (ioctl(fd, UI_SET_ABSBIT, k) < 0 || ioctl(fd, UI_ABS_SETUP, &a) < 0)
                                r = -errno;
                }
        if (r >= 0 && TESTBIT(c->ev, EV_MSC) && ioctl(fd, UI_SET_MSCBIT, MSC_SCAN) < 0)
                r = -errno;
        for (int k = 0; k <= LED_MAX && r >= 0; k++)
                if (TESTBIT(c->led, k) && ioctl(fd, UI_SET_LEDBIT, k) < 0)
                        r = -errno;
        if (r >= 0 && (ioctl(fd, UI_DEV_SETUP, &us) < 0 || ioctl(fd, UI_DEV_CREATE) < 0))
                r = -errno;
        if (r < 0) {
                rk_driver_log(d, RK_LOG_ERR, "uinput device \"%s\": %s", h->name, strerror(-r));
                close(fd);
                return r;
        }
        h->uinput = fd;
        return 0;
}

/* One report per wake-up: read, translate, one write() of the whole batch
 * to uinput, back to the loop.  No second read() to find the queue empty:
 * the watch is level-triggered, so a report still queued wakes us again at
 * once, and the common case (one report) costs epoll_wait + read + write
 * and no system call between the uinput write and the reader's wake-up. */
static void on_report(rk_driver *d, rk_driver_watch *w, int fd, uint32_t revents, void *ud) {
        hid_drv *h = ud;
        uint8_t buf[HID_REPORT_MAX + 1];
        ssize_t n;

        do
                n = read(fd, buf, sizeof(buf));
        while (n < 0 && errno == EINTR);
        if (n > 0) {
                h->reports_in++;
                if (hid_map_report(&h->map, buf, (size_t) n, &h->events) < 0 || h->events.n == 0)
                        return;
                if (write(h->uinput, h->events.ev, h->events.n * sizeof(h->events.ev[0])) < 0) {
                        if (h->write_errors++ == 0)
                                rk_driver_log(d, RK_LOG_WARNING, "uinput write: %s", strerror(errno));
                } else {
                        h->events_out += h->events.n;
                }
                return;
        }
        if (n < 0 && errno == EAGAIN)
                return; /* woken for nothing */
        if (n < 0)
                rk_driver_log(d, RK_LOG_NOTICE, "hidraw read: %s; the device is going", strerror(errno));
        /* hidraw returns an error (ENODEV, EIO) or HUP when the device goes: stop watching; ringd stops us */
        rk_driver_watch_cancel(h->watch);
        h->watch = NULL;
}

/* EV_LED events written to our input device (Caps Lock pressed on a VT, a
 * compositor's keymap): one output report with the new state to the device. */
static void on_leds(rk_driver *d, rk_driver_watch *w, int fd, uint32_t revents, void *ud) {
        hid_drv *h = ud;
        struct input_event ev[32];
        uint8_t before[sizeof(h->leds)], out[HID_REPORT_MAX + 1];
        ssize_t n;
        size_t len;

        memcpy(before, h->leds, sizeof(before));
        while ((n = read(fd, ev, sizeof(ev))) > 0)
                for (size_t k = 0; k < (size_t) n / sizeof(ev[0]); k++)
                        if (ev[k].type == EV_LED && ev[k].code <= LED_MAX) {
                                if (ev[k].value)
                                        SETBIT(h->leds, ev[k].code);
                                else
                                        h->leds[ev[k].code / 8] &= (uint8_t) ~(1u << (ev[k].code % 8));
                        }
        if (memcmp(before, h->leds, sizeof(before)) == 0)
                return;
        len = hid_led_report(&h->map.desc, h->leds, out, sizeof(out));
        if (len == 0)
                return;
        if (write(rk_driver_get_provider_handle(d), out, len) < 0) {
                if (h->output_errors++ == 0)
                        rk_driver_log(d, RK_LOG_WARNING, "LED output report: %s", strerror(errno));
                return;
        }
        h->reports_out++;
        (void) rk_driver_set_integer(d, "RKHIDLEDs", h->leds[0] | (int64_t) h->leds[1] << 8);
        (void) rk_driver_set_integer(d, "RKHIDOutputReports", (int64_t) h->reports_out);
}

static void hid_stop(rk_driver *d);

static int hid_start(rk_driver *d) {
        int dev = rk_driver_get_provider_handle(d);
        struct hidraw_report_descriptor *rd = NULL;
        struct hidraw_devinfo info;
        char rawname[256] = "";
        int size = 0, r;
        bool have_info;
        hid_caps *caps = NULL;
        hid_drv *h;

        if (dev < 0 || ioctl(dev, HIDIOCGRDESCSIZE, &size) < 0 || size <= 0 || size > HID_DESC_MAX) {
                rk_driver_log(d, RK_LOG_ERR, "%s: the provider handle is not a hidraw node", rk_driver_get_provider_name(d));
                return -ENODEV;
        }
        h = calloc(1, sizeof(*h));
        rd = calloc(1, sizeof(*rd));
        caps = calloc(1, sizeof(*caps));
        if (!h || !rd || !caps) {
                r = -ENOMEM;
                goto fail_alloc;
        }
        h->uinput = -EBADF;
        rd->size = (uint32_t) size;
        if (ioctl(dev, HIDIOCGRDESC, rd) < 0) {
                r = -errno;
                rk_driver_log(d, RK_LOG_ERR, "HIDIOCGRDESC: %s", strerror(errno));
                goto fail_alloc;
        }
        r = hid_desc_parse(rd->value, rd->size, &h->map.desc);
        if (r < 0) {
                rk_driver_log(d, RK_LOG_ERR, "report descriptor (%d bytes): %s", size,
                              r == -E2BIG ? "beyond this driver's limits" : "malformed");
                goto fail_alloc;
        }
        hid_caps_get(&h->map.desc, caps);
        if (caps->mapped == 0) {
                rk_driver_log(d, RK_LOG_NOTICE, "no input usage this driver maps (%zu unmapped): not mine",
                              caps->unmapped);
                r = -ENODEV;
                goto fail_alloc;
        }
        have_info = ioctl(dev, HIDIOCGRAWINFO, &info) == 0;
        if (ioctl(dev, HIDIOCGRAWNAME(sizeof(rawname)), rawname) < 0 || !rawname[0])
                snprintf(rawname, sizeof(rawname), "%s", rk_driver_get_provider_name(d));
        snprintf(h->name, sizeof(h->name), "ringkit HID %s (%s)", kind_of(&h->map.desc), rawname);
        r = uinput_create(d, h, caps, have_info ? &info : NULL);
        if (r < 0)
                goto fail_alloc;
        rk_driver_set_ivars(d, h);
        r = rk_driver_watch_fd(d, dev, EPOLLIN, on_report, h, &h->watch);
        if (r >= 0 && TESTBIT(caps->ev, EV_LED))
                r = rk_driver_watch_fd(d, h->uinput, EPOLLIN, on_leds, h, &h->led_watch);
        if (r < 0)
                goto fail_watch;
        {
                char sysname[64] = "";
                if (ioctl(h->uinput, UI_GET_SYSNAME(sizeof(sysname)), sysname) >= 0)
                        (void) rk_driver_set_string(d, "RKInputSysName", sysname);
        }
        (void) rk_driver_set_string(d, "RKInputName", h->name);
        (void) rk_driver_set_integer(d, "RKHIDReportDescriptorLength", size);
        (void) rk_driver_set_integer(d, "RKHIDInputFields", (int64_t) h->map.desc.n_fields);
        (void) rk_driver_set_integer(d, "RKHIDUnmappedUsages", (int64_t) caps->unmapped);
        rk_driver_log(d, RK_LOG_INFO, "\"%s\": %zu input fields, %zu usages mapped, %zu skipped", h->name,
                      h->map.desc.n_fields, caps->mapped, caps->unmapped);
        free(caps);
        free(rd);
        r = rk_driver_register_service(d);
        if (r < 0)
                hid_stop(d); /* ringd will not stop a driver whose start failed */
        return r;

fail_watch:
        rk_driver_watch_cancel(h->watch);
        rk_driver_watch_cancel(h->led_watch);
        (void) ioctl(h->uinput, UI_DEV_DESTROY);
        close(h->uinput);
        rk_driver_set_ivars(d, NULL);
fail_alloc:
        free(caps);
        free(rd);
        free(h);
        return r;
}

static void hid_stop(rk_driver *d) {
        hid_drv *h = rk_driver_get_ivars(d);

        if (!h)
                return;
        rk_driver_log(d, RK_LOG_INFO, "\"%s\" goes: %llu reports in, %llu events out, %llu short, %llu write errors, "
                      "%llu LED reports out",
                      h->name, (unsigned long long) h->reports_in, (unsigned long long) h->events_out,
                      (unsigned long long) h->map.short_reports, (unsigned long long) h->write_errors,
                      (unsigned long long) h->reports_out);
        rk_driver_watch_cancel(h->watch);
        rk_driver_watch_cancel(h->led_watch);
        (void) ioctl(h->uinput, UI_DEV_DESTROY);
        close(h->uinput);
        free(h);
        rk_driver_set_ivars(d, NULL);
}

const rk_driver_class rk_hid_event_driver = { .name = "RKHIDEventDriver", .start = hid_start, .stop = hid_stop };

/* ---- self-test: ringkit-builtin --self-test-hid ---- */

static int st_passed, st_failed;

static void st_check(bool ok, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void st_check(bool ok, const char *name, const char *fmt, ...) {
        if (ok) {
                printf("ok   hid-parser-%s\n", name);
                st_passed++;
                return;
        }
        va_list ap;
        printf("FAIL hid-parser-%s: ", name);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
        st_failed++;
}

static size_t unhex(const char *s, uint8_t *out, size_t max) {
        size_t n = 0;
        for (; s[0] && s[1] && n < max; s += 2) {
                unsigned v;
                if (sscanf(s, "%2x", &v) != 1)
                        break;
                out[n++] = (uint8_t) v;
        }
        return n;
}

/* The events of one report as text: "MSC4/70004 KEY30/1 SYN" */
static void events_text(const hid_events *e, char *out, size_t size) {
        size_t o = 0;
        out[0] = 0;
        for (size_t k = 0; k < e->n && o < size; k++) {
                const struct input_event *v = &e->ev[k];
                const char *t = v->type == EV_KEY ? "KEY" : v->type == EV_REL ? "REL" : v->type == EV_ABS ? "ABS"
                                : v->type == EV_MSC ? "MSC" : "SYN";
                if (v->type == EV_SYN)
                        o += (size_t) snprintf(out + o, size - o, "%sSYN", o ? " " : "");
                else if (v->type == EV_MSC)
                        o += (size_t) snprintf(out + o, size - o, "%sMSC%x", o ? " " : "", (unsigned) v->value);
                else
                        o += (size_t) snprintf(out + o, size - o, "%s%s%u/%d", o ? " " : "", t, v->code, v->value);
        }
}

static void st_report(hid_map *m, const char *name, const char *hex, const char *want) {
        uint8_t r[64];
        size_t n = unhex(hex, r, sizeof(r));
        static hid_events e;
        char got[1024];
        int rc = hid_map_report(m, r, n, &e);
        events_text(&e, got, sizeof(got));
        if (rc < 0)
                snprintf(got, sizeof(got), "error %d", rc);
        st_check(strcmp(got, want) == 0, name, "report %s: got \"%s\", want \"%s\"", hex, got, want);
}

static int st_parse(hid_map *m, const char *hex) {
        uint8_t p[512];
        size_t n = unhex(hex, p, sizeof(p));
        memset(m->values, 0, sizeof(m->values));
        m->reports = m->short_reports = m->unknown_ids = 0;
        return hid_desc_parse(p, n, &m->desc);
}

/* QEMU's usb-kbd and usb-tablet, as the guest's kernel reports them */
#define QEMU_KBD "05010906a10175019508050719e029e715002501810295017508810195057501050819012905910295017503" \
                 "910195067508150025ff0507190029ff8100c0"
#define QEMU_TABLET "05010902a1010901a10005091901290315002501950375018102950175058101050109300931150026ff7f" \
                    "350046ff7f751095028102050109381581257f35004500750895018106c0c0"

/* Mutated descriptors and random reports through the parser and the
 * translator: nothing may crash or read out of bounds (the ASan build runs
 * this too), and the limits hold.  A deterministic xorshift, so a failure
 * reproduces. */
static uint32_t st_rand(void) {
        static uint32_t x = 0x2545f491;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        return x;
}

static void st_mutations(void) {
        static const char *const bases[] = {
                QEMU_KBD, QEMU_TABLET,
                "05010906a101850105071900296515002565750895068100c0"
                "05010902a1010901a100850205091901290515002501950575018102950175038101"
                "05010930093109381581257f750895038106c0c0",
        };
        static hid_map m;
        static hid_events e;
        static hid_caps c;
        unsigned parsed = 0, reports = 0, bad = 0;

        for (unsigned it = 0; it < 20000; it++) {
                uint8_t p[600], r[80];
                size_t n = unhex(bases[it % 3], p, sizeof(p));
                unsigned edits = 1 + st_rand() % 4;
                for (unsigned k = 0; k < edits; k++) {
                        switch (st_rand() % 4) {
                        case 0: case 1: p[st_rand() % n] = (uint8_t) st_rand(); break;
                        case 2: n = 1 + st_rand() % n; break;                       /* truncate */
                        case 3: while (n < sizeof(p) && st_rand() % 8) p[n++] = (uint8_t) st_rand(); break;
                        }
                }
                memset(m.values, 0, sizeof(m.values));
                if (hid_desc_parse(p, n, &m.desc) < 0)
                        continue;
                parsed++;
                hid_caps_get(&m.desc, &c);
                {
                        static uint8_t out[HID_REPORT_MAX + 1];
                        uint8_t leds[2] = { (uint8_t) st_rand(), 0 };
                        size_t on = hid_led_report(&m.desc, leds, out, sizeof(out));
                        if (on > sizeof(out))
                                bad++;
                }
                for (size_t f = 0; f < m.desc.n_fields; f++) {
                        const hid_field *x = &m.desc.fields[f];
                        if ((uint64_t) x->offset + (uint64_t) x->size * x->count > m.desc.report_bits[x->report_id] ||
                            x->value0 + x->count > m.desc.n_values || x->usage0 + x->n_usages > m.desc.n_usages)
                                bad++;
                }
                for (unsigned k = 0; k < 8; k++) {
                        size_t rn = st_rand() % sizeof(r);
                        for (size_t b = 0; b < rn; b++)
                                r[b] = (uint8_t) st_rand();
                        if (rn && m.desc.report_ids)
                                r[0] = (uint8_t) (1 + st_rand() % 3);
                        if (hid_map_report(&m, r, rn, &e) == 0)
                                reports++;
                        if (e.n > sizeof(e.ev) / sizeof(e.ev[0]))
                                bad++;
                }
        }
        st_check(bad == 0 && parsed > 100 && reports > 100, "mutations",
                 "%u of 20000 mutated descriptors parsed, %u reports decoded, %u broken limits", parsed, reports, bad);
}

int rk_hid_self_test(void) {
        static hid_map m;
        static hid_caps c;
        int r;

        /* the QEMU keyboard: modifiers bitmap, a constant byte, LEDs (output), 6-key array */
        r = st_parse(&m, QEMU_KBD);
        st_check(r == 0, "qemu-keyboard-parses", "error %d", r);
        st_check(m.desc.n_fields == 2 && !m.desc.report_ids && m.desc.report_bits[0] == 64, "qemu-keyboard-layout",
                 "%zu fields, ids %d, %u bits", m.desc.n_fields, m.desc.report_ids, m.desc.report_bits[0]);
        st_check(m.desc.fields[0].offset == 0 && m.desc.fields[0].size == 1 && m.desc.fields[0].count == 8 &&
                 (m.desc.fields[0].flags & F_VARIABLE) && m.desc.fields[0].n_usages == 8 &&
                 m.desc.usages[m.desc.fields[0].usage0] == 0x700e0,
                 "qemu-keyboard-modifiers", "field 0: off %u size %u count %u usages %u first %x",
                 m.desc.fields[0].offset, m.desc.fields[0].size, m.desc.fields[0].count, m.desc.fields[0].n_usages,
                 m.desc.usages[m.desc.fields[0].usage0]);
        st_check(m.desc.fields[1].offset == 16 && m.desc.fields[1].size == 8 && m.desc.fields[1].count == 6 &&
                 !(m.desc.fields[1].flags & F_VARIABLE) && m.desc.fields[1].lmax == 255 &&
                 m.desc.fields[1].n_usages == 256,
                 "qemu-keyboard-key-array", "field 1: off %u size %u count %u lmax %d usages %u",
                 m.desc.fields[1].offset, m.desc.fields[1].size, m.desc.fields[1].count, m.desc.fields[1].lmax,
                 m.desc.fields[1].n_usages);
        st_check(m.desc.n_apps == 1 && m.desc.apps[0] == GD(6) && !strcmp(kind_of(&m.desc), "keyboard"),
                 "qemu-keyboard-application", "%zu apps, first %x", m.desc.n_apps, m.desc.apps[0]);
        hid_caps_get(&m.desc, &c);
        st_check(TESTBIT(c.key, KEY_A) && TESTBIT(c.key, KEY_LEFTSHIFT) && TESTBIT(c.key, KEY_RIGHTMETA) &&
                 TESTBIT(c.ev, EV_REP) && TESTBIT(c.ev, EV_MSC) && !TESTBIT(c.ev, EV_REL),
                 "qemu-keyboard-caps", "key/ev bits wrong");
        {
                uint8_t leds[2] = { 0 }, out[16];
                size_t n0, n1, n2;
                st_check(TESTBIT(c.ev, EV_LED) && TESTBIT(c.led, LED_CAPSL) && TESTBIT(c.led, LED_KANA) &&
                                 m.desc.n_outputs == 1 && m.desc.out_bits[0] == 8,
                         "qemu-keyboard-leds", "%zu outputs, %u bits", m.desc.n_outputs, m.desc.out_bits[0]);
                n0 = hid_led_report(&m.desc, leds, out, sizeof(out));
                SETBIT(leds, LED_CAPSL);
                n1 = hid_led_report(&m.desc, leds, out, sizeof(out));
                st_check(n0 == 2 && n1 == 2 && out[0] == 0 && out[1] == 0x02, "caps-lock-output-report",
                         "lengths %zu %zu, report %02x %02x", n0, n1, out[0], out[1]);
                SETBIT(leds, LED_NUML);
                SETBIT(leds, LED_SCROLLL);
                leds[0] &= (uint8_t) ~(1u << LED_CAPSL);
                n2 = hid_led_report(&m.desc, leds, out, sizeof(out));
                st_check(n2 == 2 && out[1] == 0x05, "num-scroll-lock-output-report", "length %zu, report %02x",
                         n2, out[1]);
        }
        st_report(&m, "key-press", "0000040000000000", "MSC70004 KEY30/1 SYN");
        st_report(&m, "modifier-press", "0200040000000000", "MSC700e1 KEY42/1 SYN");
        st_report(&m, "second-key", "0200040500000000", "MSC70005 KEY48/1 SYN");
        st_report(&m, "release-first", "0200050000000000", "MSC70004 KEY30/0 SYN");
        st_report(&m, "rollover-ignored", "0200010101010101", "");
        st_report(&m, "all-released", "0000000000000000", "MSC700e1 KEY42/0 MSC70005 KEY48/0 SYN");
        st_report(&m, "unchanged-is-silent", "0000000000000000", "");
        st_report(&m, "short-report-dropped", "000004", "error -74");
        st_report(&m, "right-meta-enter", "8000280000000000", "MSC700e7 KEY126/1 MSC70028 KEY28/1 SYN");

        /* the QEMU tablet: 3 buttons, padding, absolute X/Y 0..32767, relative wheel */
        r = st_parse(&m, QEMU_TABLET);
        st_check(r == 0 && m.desc.n_fields == 3 && m.desc.report_bits[0] == 48, "qemu-tablet-layout",
                 "error %d, %zu fields, %u bits", r, m.desc.n_fields, m.desc.report_bits[0]);
        hid_caps_get(&m.desc, &c);
        st_check(TESTBIT(c.key, BTN_LEFT) && TESTBIT(c.key, BTN_MIDDLE) && TESTBIT(c.abs, ABS_X) &&
                 TESTBIT(c.abs, ABS_Y) && TESTBIT(c.rel, REL_WHEEL) && c.absinfo[ABS_X].maximum == 32767 &&
                 !TESTBIT(c.ev, EV_REP) && !TESTBIT(c.ev, EV_LED) && !strcmp(kind_of(&m.desc), "mouse"),
                 "qemu-tablet-caps", "abs max %d", c.absinfo[ABS_X].maximum);
        st_report(&m, "tablet-move-click", "01ff3f0010ff", "KEY272/1 ABS0/16383 ABS1/4096 REL8/-1 SYN");
        st_report(&m, "tablet-release", "00ff3f001000", "KEY272/0 SYN");

        /* report IDs: keyboard (1) and a mouse with signed relative axes (2) */
        r = st_parse(&m, "05010906a101850105071900296515002565750895068100c0"
                         "05010902a1010901a100850205091901290515002501950575018102950175038101"
                         "05010930093109381581257f750895038106c0c0");
        st_check(r == 0 && m.desc.report_ids && m.desc.report_bits[1] == 48 && m.desc.report_bits[2] == 32,
                 "report-ids", "error %d, ids %d, bits %u/%u", r, m.desc.report_ids, m.desc.report_bits[1],
                 m.desc.report_bits[2]);
        st_report(&m, "report-id-mouse", "0203fe0001", "KEY272/1 KEY273/1 REL0/-2 REL8/1 SYN");
        st_report(&m, "report-id-keyboard", "01050000000000", "MSC70005 KEY48/1 SYN");
        st_report(&m, "report-id-unknown", "0300", "error -74");

        /* malformed descriptors */
        st_check(st_parse(&m, "0501a101c0c0") == -EBADMSG, "unbalanced-end-collection", "accepted");
        st_check(st_parse(&m, "0501a101") == -EBADMSG, "unclosed-collection", "accepted");
        st_check(st_parse(&m, "05010902a10126") == -EBADMSG, "truncated-item", "accepted");
        st_check(st_parse(&m, "b4") == -EBADMSG, "pop-without-push", "accepted");
        st_check(st_parse(&m, "8500") == -EBADMSG, "report-id-zero", "accepted");
        st_check(st_parse(&m, "750897002000008102") == -E2BIG, "report-too-long", "accepted");
        st_check(st_parse(&m, "fe05") == -EBADMSG, "truncated-long-item", "accepted");
        st_check(st_parse(&m, "a4a4a4a4a4") == -E2BIG, "push-overflow", "accepted");

        st_mutations();
        printf("%d passed, %d failed\n", st_passed, st_failed);
        return st_failed ? 1 : 0;
}
