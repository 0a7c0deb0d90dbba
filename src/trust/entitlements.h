/* SPDX-License-Identifier: MIT */
/*
 * Entitlements: the capabilities a signed bundle claims, as a plist
 * dictionary (Contents/_CodeSignature/Entitlements.plist), with the key
 * names of DriverKit and the system extension frameworks (the list, shapes
 * and rules: docs/entitlements.md).
 *
 * Three questions are answered here and nowhere else:
 *   - is the dictionary well formed (rk_entitlements_validate),
 *   - may this certificate sign it (rk_entitlements_check_restricted: every
 *     restricted entitlement must be granted by the developer certificate's
 *     grant extension, OID RK_GRANT_OID),
 *   - may a dext holding it be matched to a provider, and may an app open a
 *     user client (rk_entitlements_allow_provider / _allow_userclient).
 * All calls are pure: no state, no I/O.
 */
#pragma once

#include <stdbool.h>

#include "match/match.h"
#include "shared/diag.h"
#include "value/value.h"

#define RK_ENT_DRIVERKIT "com.apple.developer.driverkit"
#define RK_ENT_USB "com.apple.developer.driverkit.transport.usb"
#define RK_ENT_PCI "com.apple.developer.driverkit.transport.pci"
#define RK_ENT_HID "com.apple.developer.driverkit.transport.hid"
#define RK_ENT_SERIAL "com.apple.developer.driverkit.family.serial"
#define RK_ENT_NETWORKING "com.apple.developer.driverkit.family.networking"
#define RK_ENT_USERCLIENT "com.apple.developer.driverkit.userclient-access"
#define RK_ENT_ANY_USERCLIENT "com.apple.developer.driverkit.allow-any-userclient-access"
#define RK_ENT_THIRD_PARTY_USERCLIENTS "com.apple.developer.driverkit.allow-third-party-userclients"
#define RK_ENT_HID_DEVICE "com.apple.developer.driverkit.family.hid.device"
#define RK_ENT_HID_EVENTSERVICE "com.apple.developer.driverkit.family.hid.eventservice"
#define RK_ENT_ENDPOINT_SECURITY "com.apple.developer.endpoint-security.client"
#define RK_ENT_NETWORK_EXTENSION "com.apple.developer.networking.networkextension"
#define RK_ENT_SYSEXT_INSTALL "com.apple.developer.system-extension.install"
#define RK_ENT_VIRTUAL_DEVICES "org.ringkit.developer.virtual-devices"

/*
 * The X.509 extension (non-critical) in which a developer certificate lists
 * the restricted entitlements it grants: DER SEQUENCE OF UTF8String, each an
 * entitlement name or a prefix ending in ".*".  The OID is a UUID-derived
 * OID (ITU-T X.667, arc 2.25), so it needs no registration and collides
 * with nobody.
 */
#define RK_GRANT_OID "2.25.1605078460376986334479716287534376210"

/*
 * Check types and shapes of every known key (unknown keys are warnings).
 * `name` names the entitlements file in diag.  Returns 0, -EBADMSG with
 * each problem in diag, -EINVAL when ents is NULL.
 */
int rk_entitlements_validate(const rk_value *ents, const char *name, rk_diag *diag);

/* Is the key restricted (needs a granting certificate)? */
bool rk_entitlement_is_restricted(const char *key);

/*
 * Every restricted entitlement in `ents` must be granted by `granted` (an
 * array of strings from the certificate, may be NULL: grants nothing).
 * Returns 0, -EPERM with one error per entitlement not granted ("entitlement
 * escalation: K is not granted by certificate S"; `signer` names it), or
 * -EINVAL.
 */
int rk_entitlements_check_restricted(const rk_value *ents, const rk_value *granted, const char *signer,
                                     rk_diag *diag);

#define RK_ENT_DEVELOPER_MODE 1u /* virtual devices allowed without the entitlement */

/*
 * May a dext with `ents` be matched to and handed `prov`?  USB providers
 * (class chain has IOUSBHostDevice or IOUSBHostInterface) need the USB
 * transport entitlement listing their idVendor (an idVendor of "*", the
 * development variant, counts only with RK_ENT_DEVELOPER_MODE); PCI providers (IOPCIDevice)
 * need the PCI one matching vendor-id/device-id; HID event services
 * (IOHIDInterface/IOHIDDevice) need transport.hid or USB; serial
 * (IOSerialStreamSync/IOUserSerial) family.serial; virtual devices
 * (RKVirtualDevice) need org.ringkit.developer.virtual-devices or
 * RK_ENT_DEVELOPER_MODE in flags.  Every dext needs com.apple.developer.driverkit.
 * Returns true, or false with a static reason in *why (may be NULL).
 */
bool rk_entitlements_allow_provider(const rk_value *ents, const rk_match_provider *prov, unsigned flags,
                                    const char **why);

/*
 * May a client holding `client_ents` open a user client of the dext
 * `target_bundle_id`?  Yes when the client's userclient-access is true or
 * an array containing the id.  (allow-any-userclient-access is the dext's
 * side of the question and is checked by the caller on the dext.)
 */
bool rk_entitlements_allow_userclient(const rk_value *client_ents, const char *target_bundle_id);
