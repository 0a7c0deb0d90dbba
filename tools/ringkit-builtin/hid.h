/* SPDX-License-Identifier: MIT */
/* The built-in HID event driver (hid.c), for ringkit-builtin's class table. */
#pragma once

#include "ringkit/driver.h"

extern const rk_driver_class rk_hid_event_driver;

/* Runs the report-descriptor parser and translator on known descriptors,
 * printing "ok   NAME" / "FAIL NAME: why" lines; 0 when all pass, 1 otherwise. */
int rk_hid_self_test(void);
