/* SPDX-License-Identifier: MIT */
/*
 * rk_driver_open_device(): uinput and uhid, opened by ringd (src/ringd/devopen.c).
 * rk_driver_get_data_dir(): the data directory ringd gave the instance.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "driver-private.h"
#include "ipc/proto.h"
#include "ringkit/driver.h"
#include "shared/macro.h"

RK_EXPORT int rk_driver_open_device(rk_driver *d, const char *name) {
        _cleanup_(rk_value_unrefp) rk_value *req = NULL;
        int fd = -EBADF, r;

        if (!d || !name || !*name)
                return -EINVAL;
        if ((r = rk_value_new_dict(&req)) < 0 || (r = rk_dict_set_string(req, "device", name)) < 0)
                return r;
        r = rk_driver_request(d, RK_DEXT_DEVICE_OPEN, req, NULL, &fd);
        if (r < 0)
                return r;
        return fd >= 0 ? fd : -EBADMSG;
}

RK_EXPORT const char *rk_driver_get_data_dir(rk_driver *d) {
        const char *p = getenv("RINGKIT_DATA_DIR");

        (void) d;
        return p && *p == '/' ? p : NULL;
}
