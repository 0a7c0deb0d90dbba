/* SPDX-License-Identifier: MIT */
/*
 * bench-match: the cost of matching one new provider against a large
 * catalogue (issue target: under 20 us with 100,000 installed
 * personalities), with a full scan of every personality measured in the
 * same run as the baseline.
 *
 * The catalogue mixes what real systems carry: USB device and interface
 * personalities over 2,000 vendors, PCI personalities with IOPCIMatch,
 * IONameMatch, IOPropertyMatch and RKModaliasMatch personalities, and a few
 * generic ones.  Providers are USB interfaces, USB devices, PCI devices and
 * platform devices, drawn so that each has real matches.
 *
 * Usage: bench-match [N_PERSONALITIES] [N_LOOKUPS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "match/index.h"
#include "shared/macro.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd(uint32_t n) {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        return (uint32_t) (rng_state % n);
}

#define N_VENDORS 2000

static rk_value *make_personality(unsigned i) {
        rk_value *d = NULL;
        char buf[128];
        unsigned kind = i % 20;

        rk_value_new_dict(&d);
        rk_dict_set_string(d, "IOClass", "Driver");
        rk_dict_set_integer(d, "IOProbeScore", rnd(5000), false);
        if (kind < 8) { /* USB interface: vendor + product + config + interface */
                rk_dict_set_string(d, "IOProviderClass", "IOUSBHostInterface");
                rk_dict_set_integer(d, "idVendor", 0x1000 + rnd(N_VENDORS), false);
                rk_dict_set_integer(d, "idProduct", rnd(64), false);
                rk_dict_set_integer(d, "bConfigurationValue", 1, false);
                rk_dict_set_integer(d, "bInterfaceNumber", rnd(2), false);
        } else if (kind < 12) { /* USB device: vendor + product */
                rk_dict_set_string(d, "IOProviderClass", "IOUSBHostDevice");
                rk_dict_set_integer(d, "idVendor", 0x1000 + rnd(N_VENDORS), false);
                rk_dict_set_integer(d, "idProduct", rnd(64), false);
        } else if (kind < 16) { /* PCI */
                rk_dict_set_string(d, "IOProviderClass", "IOPCIDevice");
                snprintf(buf, sizeof(buf), "0x%04x%04x", rnd(256), 0x1000 + rnd(N_VENDORS));
                rk_dict_set_string(d, "IOPCIMatch", buf);
        } else if (kind < 18) { /* modalias */
                rk_dict_set_string(d, "IOProviderClass", "IOService");
                snprintf(buf, sizeof(buf), "usb:v%04Xp%04Xd*", 0x1000 + rnd(N_VENDORS), rnd(64));
                rk_dict_set_string(d, "RKModaliasMatch", buf);
        } else if (kind < 19) { /* names */
                rk_dict_set_string(d, "IOProviderClass", "IOPlatformDevice");
                snprintf(buf, sizeof(buf), "vendor%u,device%u", rnd(N_VENDORS), rnd(16));
                rk_dict_set_string(d, "IONameMatch", buf);
        } else { /* property match */
                _cleanup_(rk_value_unrefp) rk_value *m = NULL;
                rk_value_new_dict(&m);
                snprintf(buf, sizeof(buf), "model-%u", rnd(N_VENDORS * 4));
                rk_dict_set_string(m, "Model", buf);
                rk_dict_set_string(d, "IOProviderClass", "IOPlatformDevice");
                rk_dict_set(d, "IOPropertyMatch", m);
        }
        return d;
}

static void add_chain(rk_value *d, const char *const *classes) {
        _cleanup_(rk_value_unrefp) rk_value *a = NULL;
        rk_value_new_array(&a);
        for (; *classes; classes++) {
                _cleanup_(rk_value_unrefp) rk_value *s = NULL;
                rk_value_new_string(*classes, &s);
                rk_array_append(a, s);
        }
        rk_dict_set(d, "IOClassChain", a);
}

static rk_value *make_provider(unsigned i) {
        static const char *const usb_if[] = { "IOUSBHostInterface", "IOService", NULL };
        static const char *const usb_dev[] = { "IOUSBHostDevice", "IOService", NULL };
        static const char *const pci[] = { "IOPCIDevice", "IOService", NULL };
        static const char *const plat[] = { "IOPlatformDevice", "IOService", NULL };
        rk_value *d = NULL;
        unsigned vendor = 0x1000 + rnd(N_VENDORS), product = rnd(64);
        char buf[128];

        rk_value_new_dict(&d);
        switch (i % 4) {
        case 0:
        case 1:
                add_chain(d, i % 4 ? usb_dev : usb_if);
                rk_dict_set_integer(d, "idVendor", vendor, false);
                rk_dict_set_integer(d, "idProduct", product, false);
                rk_dict_set_integer(d, "bcdDevice", 0x0100, false);
                rk_dict_set_integer(d, "bDeviceClass", 0, false);
                rk_dict_set_integer(d, "bDeviceSubClass", 0, false);
                rk_dict_set_integer(d, "bDeviceProtocol", 0, false);
                rk_dict_set_integer(d, "bConfigurationValue", 1, false);
                rk_dict_set_integer(d, "bInterfaceNumber", 0, false);
                rk_dict_set_integer(d, "bInterfaceClass", 3, false);
                rk_dict_set_integer(d, "bInterfaceSubClass", 1, false);
                rk_dict_set_integer(d, "bInterfaceProtocol", 1, false);
                snprintf(buf, sizeof(buf), "usb:v%04Xp%04Xd0100dc00dsc00dp00ic03isc01ip01in00", vendor, product);
                rk_dict_set_string(d, "RKModalias", buf);
                break;
        case 2: {
                uint8_t v[4] = { (uint8_t) vendor, (uint8_t) (vendor >> 8), 0, 0 };
                uint8_t dv[4] = { (uint8_t) product, 0, 0, 0 };
                _cleanup_(rk_value_unrefp) rk_value *vid = NULL, *did = NULL;
                add_chain(d, pci);
                rk_value_new_data(v, 4, &vid);
                rk_value_new_data(dv, 4, &did);
                rk_dict_set(d, "vendor-id", vid);
                rk_dict_set(d, "device-id", did);
                break;
        }
        default:
                add_chain(d, plat);
                snprintf(buf, sizeof(buf), "vendor%u,device%u", rnd(N_VENDORS), rnd(16));
                rk_dict_set_string(d, "IOName", buf);
                snprintf(buf, sizeof(buf), "model-%u", rnd(N_VENDORS * 4));
                rk_dict_set_string(d, "Model", buf);
                break;
        }
        return d;
}

int main(int argc, char **argv) {
        unsigned n = argc > 1 ? (unsigned) atoi(argv[1]) : 100000;
        unsigned lookups = argc > 2 ? (unsigned) atoi(argv[2]) : 20000;
        unsigned scans = lookups / 100 ? lookups / 100 : 1;
        _cleanup_(rk_match_index_freep) rk_match_index *idx = NULL;
        rk_match_provider_owned **provs;
        double t0, build_ms, *lat, full_total = 0;
        size_t candidates = 0, evaluated = 0;

        if (rk_match_index_new(&idx) < 0)
                return 1;
        t0 = bench_now_us();
        for (unsigned i = 0; i < n; i++) {
                _cleanup_(rk_value_unrefp) rk_value *d = make_personality(i);
                _cleanup_(rk_personality_unrefp) rk_personality *p = NULL;
                char name[32];
                snprintf(name, sizeof(name), "P%u", i);
                if (rk_personality_new(d, "com.bench", name, NULL, &p, NULL) < 0 || rk_match_index_add(idx, p) < 0) {
                        fprintf(stderr, "bench-match: personality %u refused\n", i);
                        return 1;
                }
        }
        build_ms = (bench_now_us() - t0) / 1000;

        provs = calloc(lookups, sizeof(*provs));
        lat = calloc(lookups, sizeof(*lat));
        if (!provs || !lat)
                return 1;
        for (unsigned i = 0; i < lookups; i++) {
                _cleanup_(rk_value_unrefp) rk_value *d = make_provider(i);
                if (rk_match_provider_new_from_dict(d, "bench", &provs[i], NULL) < 0)
                        return 1;
        }

        for (unsigned i = 0; i < lookups; i++) {
                rk_match_result r;
                t0 = bench_now_us();
                if (rk_match_index_run(idx, rk_match_provider_get(provs[i]), NULL, 0, &r) < 0)
                        return 1;
                lat[i] = bench_now_us() - t0;
                for (size_t c = 0; c < r.n_categories; c++)
                        candidates += r.categories[c].n;
                evaluated += r.n_evaluated;
                rk_match_result_done(&r);
        }
        /* baseline: evaluate every personality (what an unindexed catalogue does) */
        for (unsigned i = 0; i < scans; i++) {
                rk_match_result r;
                t0 = bench_now_us();
                if (rk_match_index_run(idx, rk_match_provider_get(provs[i]), NULL, RK_MATCH_EXPLAIN, &r) < 0)
                        return 1;
                full_total += bench_now_us() - t0;
                rk_match_result_done(&r);
        }
        qsort(lat, lookups, sizeof(*lat), bench_cmp_double);
        double mean = 0;
        for (unsigned i = 0; i < lookups; i++)
                mean += lat[i];
        mean /= lookups;
        double full = full_total / scans;

        printf("catalogue: %u personalities indexed in %.1f ms\n", n, build_ms);
        printf("match one provider (indexed): p50 %.2f us, p99 %.2f us, mean %.2f us over %u providers "
               "(%.1f candidates evaluated, %.2f matches on average)\n",
               lat[lookups / 2], lat[lookups * 99 / 100], mean, lookups, (double) evaluated / lookups,
               (double) candidates / lookups);
        printf("baseline full scan: %.1f us per provider (%u providers)\n", full, scans);
        printf("ratio indexed/full scan: %.4f; target p50 < 20 us: %s\n", lat[lookups / 2] / full,
               lat[lookups / 2] < 20 ? "met" : "NOT met");
        for (unsigned i = 0; i < lookups; i++)
                rk_match_provider_free(provs[i]);
        free(provs);
        free(lat);
        return 0;
}
