/* SPDX-License-Identifier: MIT */
/*
 * Family matching: the part of IOKit matching that a family's nub does in
 * matchPropertyTable() (IOUSBHostDevice, IOUSBHostInterface, IOPCIDevice).
 * The engine (match.c) calls a family only when the provider's class chain
 * holds one of the family's nub classes.  docs/matching-families.md is the
 * user's description of the rules; usb.c and pci.c open with the details.
 *
 * Contract for every family:
 *   - *_is_key(key): true for the keys the family owns.  Those keys never
 *     count as plain driver properties and are type-checked by *_validate().
 *   - *_validate(personality, where, diag): report ill-typed or ill-formed
 *     family keys as errors naming the key (where->key is set by the callee).
 *     Returns the number of errors found.  Personalities that are well typed
 *     but can never match (a USB key combination the family does not accept,
 *     a key ignored by the nub class named in IOProviderClass) get warnings,
 *     which are not counted.
 *   - *_match(personality, provider_props, ...): decide.  Returns true on a
 *     match and sets *score to the family's score (added to IOProbeScore by
 *     the engine); returns false and sets *failed_key to the key (a static
 *     string) that rejected it, *score to 0.  A personality that carries none
 *     of the family's keys matches with score 0 (the family imposes nothing),
 *     with one exception: PCI's Thunderbolt rule (pci.c) applies to every
 *     personality matched on a tunnelled IOPCIDevice.  score and failed_key
 *     may be NULL.  NULL or non-dictionary arguments do not match and leave
 *     *failed_key NULL.
 *
 * USB scores.  Apple's families return the whole score (level plus the
 * clamped IOProbeScore) and IOKit replaces IOProbeScore with it.  Here the
 * engine adds IOProbeScore itself, so rk_usb_match() returns the difference:
 *
 *     total  = level + clamp(IOProbeScore) - 1000 * wildcards - 500 * inexact
 *     *score = total - IOProbeScore
 *
 * level is 100000 (idVendor + idProduct + bcdDevice [+ bConfigurationValue
 * + bInterfaceNumber on an interface]), 90000 (the same without bcdDevice),
 * 80000 / 70000 (idVendor + subclass [+ protocol], vendor-specific class
 * 0xff only), 60000 / 50000 (class + subclass [+ protocol]); clamp() turns
 * an IOProbeScore >= 10000 into 9000, so within one level IOProbeScore
 * orders personalities and cannot lift one above the next level.  A
 * wildcard is a "*" string value; inexact is an idProductMask or a
 * bcdDeviceLow/bcdDeviceHigh range that was needed to match.
 *
 * PCI scores: 0, or 1000 when IOPCIMatch matched the vendor/device register
 * (IOPCIFamily does the same on Apple silicon; nothing is clamped).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "shared/diag.h"
#include "value/value.h"

typedef enum rk_usb_nub {
        RK_USB_DEVICE,    /* IOUSBHostDevice, IOUSBDevice */
        RK_USB_INTERFACE, /* IOUSBHostInterface, IOUSBInterface */
} rk_usb_nub;

/* Level scores (see above); the spacing leaves room for IOProbeScore. */
enum {
        RK_USB_SCORE_PRODUCT_RELEASE = 100000,
        RK_USB_SCORE_PRODUCT = 90000,
        RK_USB_SCORE_VENDOR_SUBCLASS_PROTOCOL = 80000,
        RK_USB_SCORE_VENDOR_SUBCLASS = 70000,
        RK_USB_SCORE_CLASS_SUBCLASS_PROTOCOL = 60000,
        RK_USB_SCORE_CLASS_SUBCLASS = 50000,
        RK_USB_PROBE_SCORE_CLAMP = 9000, /* what an IOProbeScore >= 10000 counts as */
        RK_USB_WILDCARD_PENALTY = 1000,
        RK_USB_INEXACT_PENALTY = 500,
        RK_PCI_SCORE_PRIMARY_ID = 1000,
};

bool rk_usb_is_key(const char *key);
unsigned rk_usb_validate(const rk_value *personality, const rk_where *where, rk_diag *diag);
bool rk_usb_match(const rk_value *personality, const rk_value *provider, rk_usb_nub nub, int64_t *score,
                  const char **failed_key);

bool rk_pci_is_key(const char *key);
unsigned rk_pci_validate(const rk_value *personality, const rk_where *where, rk_diag *diag);
bool rk_pci_match(const rk_value *personality, const rk_value *provider, int64_t *score, const char **failed_key);

/*
 * Index hints: the vendor a personality can only match, so the catalogue can
 * bucket it (index.c).  Return false when the personality may match several
 * vendors or does not constrain the vendor.
 *
 * USB: the provider's idVendor.  PCI: the provider's vendor-id; only
 * IOPCIPrimaryMatch pins it, because IOPCIMatch and IOPCISecondaryMatch also
 * match the subsystem register.  rk_pci_index_any_vendor() is the weaker
 * hint that does cover IOPCIMatch: every provider the personality can match
 * has *vendor in vendor-id or in subsystem-vendor-id, so an index using it
 * must look a provider up under both of its vendor numbers.
 */
bool rk_usb_index_vendor(const rk_value *personality, uint16_t *vendor);
bool rk_pci_index_vendor(const rk_value *personality, uint16_t *vendor);
bool rk_pci_index_any_vendor(const rk_value *personality, uint16_t *vendor);
