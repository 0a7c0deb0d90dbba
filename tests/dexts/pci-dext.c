/* SPDX-License-Identifier: MIT */
/*
 * pci-dext: a PCI family driver for test-pci-dext.sh.  At start it reads
 * its device's identity through config space (ringkit/pci.h), tries a
 * config write (the command register, rewritten with the value it holds)
 * and a BAR 0 map, and appends one line per outcome to RKTestRecord:
 *
 *   config ADDR vendor=0xVVVV device=0xDDDD class=0xCCCCCC rev=0xRR writable=0|1 cap=0xPP
 *   cfgwrite ADDR STATUS          0, or the negative errno (-16: EBUSY, bound to a kernel driver)
 *   bar0 ADDR STATUS [SIZE WORD]  map result; on success its size and first 32-bit word
 *
 * ADDR is the provider's RKPCIAddress.  It also sets PCIVendor, PCIDevice,
 * PCIClass on its service.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ringkit/driver.h"
#include "ringkit/pci.h"

__attribute__((format(printf, 2, 3))) static void record(rk_driver *d, const char *fmt, ...) {
        const char *path = NULL;
        char line[512];
        va_list ap;
        int fd, n;

        if (rk_driver_get_string(d, "RKTestRecord", &path) < 0)
                return;
        va_start(ap, fmt);
        n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
        va_end(ap);
        if (n < 0 || n >= (int) sizeof(line) - 1)
                return;
        line[n++] = '\n';
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
                return;
        if (write(fd, line, (size_t) n) != n)
                rk_driver_log(d, RK_LOG_WARNING, "short record write");
        close(fd);
}

static int pci_start(rk_driver *d) {
        const char *addr = "?";
        uint16_t vendor = 0, device = 0, cmd = 0;
        uint32_t class_rev = 0;
        uint8_t cap = 0;
        rk_pci_bar *bar = NULL;
        int r;

        (void) rk_driver_get_string(d, "RKPCIAddress", &addr);
        if ((r = rk_pci_config_read16(d, 0x00, &vendor)) < 0 || (r = rk_pci_config_read16(d, 0x02, &device)) < 0 ||
            (r = rk_pci_config_read32(d, 0x08, &class_rev)) < 0 || (r = rk_pci_config_read8(d, 0x34, &cap)) < 0) {
                record(d, "config %s error %d", addr, r);
                return r;
        }
        record(d, "config %s vendor=0x%04x device=0x%04x class=0x%06x rev=0x%02x writable=%d cap=0x%02x", addr,
               vendor, device, class_rev >> 8, class_rev & 0xff, rk_pci_config_writable(d), cap);
        rk_driver_set_integer(d, "PCIVendor", vendor);
        rk_driver_set_integer(d, "PCIDevice", device);
        rk_driver_set_integer(d, "PCIClass", class_rev >> 8);

        /* a write that changes nothing: the command register, as it is */
        r = rk_pci_config_read16(d, 0x04, &cmd);
        if (r == 0)
                r = rk_pci_config_write16(d, 0x04, cmd);
        record(d, "cfgwrite %s %d", addr, r);

        r = rk_pci_bar_map(d, 0, &bar);
        if (r == 0) {
                uint32_t word = 0;
                (void) rk_pci_bar_read32(bar, 0, &word);
                record(d, "bar0 %s 0 %llu 0x%08x", addr, (unsigned long long) rk_pci_bar_get_size(bar), word);
                rk_pci_bar_unmap(bar);
        } else
                record(d, "bar0 %s %d", addr, r);
        return rk_driver_register_service(d);
}

static const rk_driver_class pci_class = { .name = "RKTestPCIDriver", .start = pci_start };

int main(int argc, char **argv) {
        const rk_driver_class *classes[] = { &pci_class };
        return rk_driver_main(argc, argv, classes, 1);
}
