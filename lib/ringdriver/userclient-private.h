/* SPDX-License-Identifier: MIT */
/*
 * Inside libringdriver: what driver.c calls in userclient.c.  Not installed.
 */
#pragma once

#include <stdbool.h>

#include "ipc/msg.h"
#include "ringkit/driver.h"
#include "value/value.h"

/*
 * ringd's RK_DEXT_UC_OPEN (ipc/proto.h): one end of a new connection in m's
 * fd.  `running` is whether the driver has started (opens are refused
 * before).  The answer goes to the app on that connection, never to ringd;
 * returns 0 (a failure is the app's business, not a protocol error).
 */
int rk_uc_driver_open(rk_driver *d, rk_msg *m, rk_value *body, bool running);

/* The driver stops (or ringd is gone): every connection closes, their closed handlers run. */
void rk_uc_driver_stopped(rk_driver *d);
