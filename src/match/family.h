/* SPDX-License-Identifier: MIT */
/*
 * Family matching: the part of IOKit matching that a family's nub does in
 * matchPropertyTable() (IOUSBHostDevice, IOUSBHostInterface, IOPCIDevice).
 * The engine (match.c) calls a family only when the provider's class chain
 * holds one of the family's nub classes.
 *
 * Contract for every family:
 *   - *_is_key(key): true for the keys the family owns.  Those keys never
 *     count as plain driver properties and are type-checked by *_validate().
 *   - *_validate(personality, where, diag): report ill-typed or ill-formed
 *     family keys as errors naming the key (where->key is set by the callee).
 *     Returns the number of errors found.
 *   - *_match(personality, provider_props, ...): decide.  Returns true on a
 *     match and sets *score to the family's score (added to IOProbeScore by
 *     the engine); returns false and sets *failed_key to the key (a static
 *     string) that rejected it.  A personality that carries none of the
 *     family's keys matches with score 0 (the family imposes nothing).
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
 */
bool rk_usb_index_vendor(const rk_value *personality, uint16_t *vendor);
bool rk_pci_index_vendor(const rk_value *personality, uint16_t *vendor);
