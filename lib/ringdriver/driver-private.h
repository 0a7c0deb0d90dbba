/* SPDX-License-Identifier: MIT */
/*
 * Inside libringdriver: what the family files (net.c, pci.c) use of the
 * core (driver.c) to ask ringd for what a sandboxed dext cannot do itself.
 * Not installed.
 */
#pragma once

#include <stdint.h>

#include "ringkit/driver.h"
#include "value/value.h"

/* Send one message on the ringd channel and flush it within timeout_ms.  0, -ETIMEDOUT, -ENOTCONN, -errno. */
int rk_driver_send_now(rk_driver *d, uint32_t type, rk_value *body, int fd, int timeout_ms);

/*
 * A family request (ipc/proto.h): sends `type` with `body` and an answer
 * socket, and waits (at most RK_DRIVER_REQUEST_TIMEOUT_MS) for ringd's
 * RK_DEXT_FAMILY_REPLY.  Returns its status (0 or a negative errno); on 0,
 * *ret_reply (may be NULL) holds the reply and *ret_fd (may be NULL) the fd
 * it carried (-EBADF when none; the caller owns it).  A refusal's reason
 * is logged (ringd logs it too).  -ETIMEDOUT, -EPIPE (ringd closed the
 * answer socket without answering), -EBADMSG.
 */
#define RK_DRIVER_REQUEST_TIMEOUT_MS 3000
int rk_driver_request(rk_driver *d, uint32_t type, rk_value *body, rk_value **ret_reply, int *ret_fd);
