/* SPDX-License-Identifier: MIT */
/*
 * The PCI family of libringdriver: config space and BARs of the PCI
 * function a dext was matched to (an IOPCIDevice nub of the Linux
 * provider).  ringd opens the device's sysfs files for the sandboxed dext:
 *
 *   - config space: the driver's provider handle is the device's sysfs
 *     `config` file.  Reads always work (all of config space, not just the
 *     64 bytes unprivileged readers get).  Writes need the device unbound
 *     from its kernel driver: while one is bound the handle is read-only
 *     and writes fail with -EBUSY.
 *   - BARs: rk_pci_bar_map() asks ringd for the BAR's sysfs resourceN file
 *     and maps a memory BAR into the process.  Refused with -EBUSY while a
 *     kernel driver is bound: ringkit never takes a device from its kernel
 *     driver; an administrator unbinds it (sysfs driver/unbind) first.
 *
 * Only devices the bundle is entitled to reach a dext at all
 * (com.apple.developer.driverkit.transport.pci, matched against vendor-id
 * and device-id; any device in developer mode for a bundle that is not
 * validly signed).  Registers are little-endian on the bus; these calls
 * return host-order values.  See docs/pci-dext.md.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringkit/driver.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RINGKIT_PCI_API_VERSION 1

/*
 * Config space access at `offset` (aligned to the access size, below 4096).
 *   -ENODEV  the driver has no PCI config handle (its provider is not a PCI function)
 *   -EINVAL  misaligned or out of range, or a NULL pointer
 *   -ERANGE  beyond the device's config space (256 bytes for conventional PCI)
 *   -EBUSY   (writes) a kernel driver is bound to the device: config space is read-only
 *   -EIO, or another errno of pread/pwrite
 */
int rk_pci_config_read8(rk_driver *d, uint32_t offset, uint8_t *ret);
int rk_pci_config_read16(rk_driver *d, uint32_t offset, uint16_t *ret);
int rk_pci_config_read32(rk_driver *d, uint32_t offset, uint32_t *ret);
int rk_pci_config_write8(rk_driver *d, uint32_t offset, uint8_t value);
int rk_pci_config_write16(rk_driver *d, uint32_t offset, uint16_t value);
int rk_pci_config_write32(rk_driver *d, uint32_t offset, uint32_t value);

/* Is config space writable (no kernel driver was bound when the driver was given the device)? */
bool rk_pci_config_writable(rk_driver *d);

typedef struct rk_pci_bar rk_pci_bar;

/*
 * Map BAR `bar` (0-5).  A memory BAR is mapped shared, read-write; an I/O
 * port BAR is not mappable and is reached with rk_pci_bar_read32/write32.
 * Waits for ringd (at most 3 s).
 *   -EBUSY      a kernel driver is bound to the device (ringd's log names it and how to unbind)
 *   -ENXIO      the device does not implement that BAR
 *   -EOPNOTSUPP the kernel offers no resource file for it
 *   -ENODEV     the provider is not a PCI function of this machine
 *   -EINVAL, -ENOMEM, -ETIMEDOUT, -EPIPE, -ENOTCONN, or mmap's errno
 */
int rk_pci_bar_map(rk_driver *d, unsigned bar, rk_pci_bar **ret);
void *rk_pci_bar_get_address(rk_pci_bar *b);  /* NULL for an I/O port BAR */
uint64_t rk_pci_bar_get_size(rk_pci_bar *b);
bool rk_pci_bar_is_io(rk_pci_bar *b);
/* 32-bit access at a 4-aligned offset inside the BAR (memory: volatile load/store).  -EINVAL, -EIO. */
int rk_pci_bar_read32(rk_pci_bar *b, uint64_t offset, uint32_t *ret);
int rk_pci_bar_write32(rk_pci_bar *b, uint64_t offset, uint32_t value);
/* Unmap and free.  NULL-safe. */
void rk_pci_bar_unmap(rk_pci_bar *b);

#ifdef __cplusplus
}
#endif
