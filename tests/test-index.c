/* SPDX-License-Identifier: MIT */
/*
 * The index's promise: for any provider, the candidates it hands out are a
 * superset of the personalities that match.  Checked by comparing the
 * indexed run against a full scan (RK_MATCH_EXPLAIN evaluates every
 * personality) on randomly generated catalogues and providers that use
 * every kind of bucket: USB and PCI vendors, names, property matches,
 * modalias prefixes and plain class buckets.
 */
#include <stdlib.h>

#include "match/index.h"
#include "test.h"

typedef struct rng {
        uint64_t s;
} rng;

static uint32_t next(rng *r) {
        r->s = r->s * 6364136223846793005ULL + 1442695040888963407ULL;
        return (uint32_t) (r->s >> 33);
}

static uint32_t pick(rng *r, uint32_t n) {
        return next(r) % n;
}

static const char *const classes[] = { "IOService", "IOUSBHostDevice", "IOUSBHostInterface", "IOPCIDevice",
                                       "MyNub" };
static const char *const names[] = { "alpha", "beta", "gamma" };
static const char *const colors[] = { "red", "blue" };
static const char *const aliases[] = { "usb:v1234p*", "usb:v12*", "pci:v00008086d*", "platform:acme*", "*",
                                       "usb:v1234p5678*", "platform:acme-widget" };

static rk_value *random_personality(rng *r) {
        rk_value *d = NULL;
        rk_value_new_dict(&d);
        rk_dict_set_string(d, "IOClass", "Drv");
        rk_dict_set_string(d, "IOProviderClass", classes[pick(r, ELEMENTSOF(classes))]);
        if (pick(r, 3) == 0)
                rk_dict_set_integer(d, "idVendor", 0x1234 + pick(r, 2), false);
        if (pick(r, 4) == 0)
                rk_dict_set_integer(d, "idProduct", 0x5678, false);
        if (pick(r, 4) == 0) {
                char buf[64];
                snprintf(buf, sizeof(buf), "0x%04x8086", 0x1000 + pick(r, 2));
                rk_dict_set_string(d, "IOPCIMatch", buf);
        }
        if (pick(r, 4) == 0)
                rk_dict_set_string(d, "IONameMatch", names[pick(r, ELEMENTSOF(names))]);
        if (pick(r, 4) == 0) {
                _cleanup_(rk_value_unrefp) rk_value *m = NULL;
                rk_value_new_dict(&m);
                rk_dict_set_string(m, "Color", colors[pick(r, 2)]);
                rk_dict_set(d, "IOPropertyMatch", m);
        }
        if (pick(r, 3) == 0)
                rk_dict_set_string(d, "RKModaliasMatch", aliases[pick(r, ELEMENTSOF(aliases))]);
        return d;
}

static rk_value *random_provider(rng *r) {
        rk_value *d = NULL, *chain = NULL, *s = NULL;
        unsigned kind = pick(r, 4);
        char buf[128];

        rk_value_new_dict(&d);
        rk_value_new_array(&chain);
        static const char *const chains[][3] = {
                { "MyNub", "IOService", NULL },
                { "IOUSBHostDevice", "IOService", NULL },
                { "IOUSBHostInterface", "IOService", NULL },
                { "IOPCIDevice", "IOService", NULL },
        };
        for (unsigned i = 0; chains[kind][i]; i++) {
                rk_value_new_string(chains[kind][i], &s);
                rk_array_append(chain, s);
                s = rk_value_unref(s);
        }
        rk_dict_set(d, "IOClassChain", chain);
        rk_value_unref(chain);
        rk_dict_set_string(d, "IOName", names[pick(r, ELEMENTSOF(names))]);
        rk_dict_set_string(d, "Color", colors[pick(r, 2)]);
        if (kind == 1 || kind == 2) {
                unsigned v = 0x1234 + pick(r, 2), p = 0x5678 + pick(r, 2);
                rk_dict_set_integer(d, "idVendor", v, false);
                rk_dict_set_integer(d, "idProduct", p, false);
                rk_dict_set_integer(d, "bcdDevice", 0x100, false);
                rk_dict_set_integer(d, "bDeviceClass", 0, false);
                rk_dict_set_integer(d, "bDeviceSubClass", 0, false);
                rk_dict_set_integer(d, "bDeviceProtocol", 0, false);
                if (kind == 2) {
                        rk_dict_set_integer(d, "bConfigurationValue", 1, false);
                        rk_dict_set_integer(d, "bInterfaceNumber", 0, false);
                        rk_dict_set_integer(d, "bInterfaceClass", 3, false);
                        rk_dict_set_integer(d, "bInterfaceSubClass", 1, false);
                        rk_dict_set_integer(d, "bInterfaceProtocol", 1, false);
                }
                snprintf(buf, sizeof(buf), "usb:v%04Xp%04Xd0100dc00dsc00dp00", v, p);
                rk_dict_set_string(d, "RKModalias", buf);
        } else if (kind == 3) {
                uint8_t id[4] = { 0x86, 0x80, 0, 0x10 };
                _cleanup_(rk_value_unrefp) rk_value *vid = NULL, *did = NULL;
                id[2] = (uint8_t) pick(r, 2);
                rk_value_new_data(id, 2, &vid);
                rk_value_new_data(id + 2, 2, &did);
                rk_dict_set(d, "vendor-id", vid);
                rk_dict_set(d, "device-id", did);
                snprintf(buf, sizeof(buf), "pci:v00008086d0000%02X%02Xsv*", id[3], id[2]);
                rk_dict_set_string(d, "RKModalias", buf);
        } else if (pick(r, 2)) {
                rk_dict_set_string(d, "RKModalias", "platform:acme-widget");
        }
        return d;
}

static size_t n_candidates(const rk_match_result *r) {
        size_t n = 0;
        for (size_t i = 0; i < r->n_categories; i++)
                n += r->categories[i].n;
        return n;
}

static bool same_result(const rk_match_result *a, const rk_match_result *b) {
        if (a->n_categories != b->n_categories)
                return false;
        for (size_t i = 0; i < a->n_categories; i++) {
                if (a->categories[i].n != b->categories[i].n)
                        return false;
                for (size_t j = 0; j < a->categories[i].n; j++)
                        if (a->categories[i].candidates[j].personality != b->categories[i].candidates[j].personality ||
                            a->categories[i].candidates[j].score != b->categories[i].candidates[j].score)
                                return false;
        }
        return true;
}

TEST(index_agrees_with_full_scan) {
        rng r = { 42 };
        size_t matched = 0, evaluated = 0, total = 0;

        for (unsigned round = 0; round < 20; round++) {
                _cleanup_(rk_match_index_freep) rk_match_index *idx = NULL;
                ASSERT(rk_match_index_new(&idx) == 0);
                for (unsigned i = 0; i < 300; i++) {
                        _cleanup_(rk_value_unrefp) rk_value *d = random_personality(&r);
                        _cleanup_(rk_personality_unrefp) rk_personality *p = NULL;
                        char name[32];
                        snprintf(name, sizeof(name), "P%u", i);
                        if (rk_personality_new(d, i % 2 ? "com.odd" : "com.even", name, NULL, &p, NULL) < 0)
                                continue; /* random USB combinations may be invalid; fine */
                        ASSERT(rk_match_index_add(idx, p) == 0);
                }
                if (round == 10)
                        rk_match_index_remove_bundle(idx, "com.odd");
                for (unsigned k = 0; k < 50; k++) {
                        _cleanup_(rk_value_unrefp) rk_value *d = random_provider(&r);
                        _cleanup_(rk_match_provider_freep) rk_match_provider_owned *o = NULL;
                        rk_match_result full, fast;
                        ASSERT(rk_match_provider_new_from_dict(d, "t", &o, NULL) == 0);
                        ASSERT(rk_match_index_run(idx, rk_match_provider_get(o), NULL, RK_MATCH_EXPLAIN, &full) == 0);
                        ASSERT(rk_match_index_run(idx, rk_match_provider_get(o), NULL, 0, &fast) == 0);
                        CHECK(same_result(&full, &fast));
                        matched += n_candidates(&full);
                        evaluated += fast.n_evaluated;
                        total += rk_match_index_size(idx);
                        rk_match_result_done(&full);
                        rk_match_result_done(&fast);
                }
        }
        /* the generator must produce matches, or the comparison means nothing */
        CHECK(matched > 1000);
        /* and the index must have narrowed the search */
        CHECK(evaluated < total / 2);
        printf("# %zu matches; index evaluated %zu of %zu personalities\n", matched, evaluated, total);
}

TEST(index_rejects_bad_input) {
        _cleanup_(rk_match_index_freep) rk_match_index *idx = NULL;
        ASSERT(rk_match_index_new(&idx) == 0);
        CHECK(rk_match_index_add(idx, NULL) == -EINVAL);
        CHECK(rk_match_index_add(NULL, NULL) == -EINVAL);
        CHECK(rk_match_index_remove_bundle(idx, "none") == 0);
        CHECK(rk_match_index_size(idx) == 0);
}
