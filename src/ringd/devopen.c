/* SPDX-License-Identifier: MIT */
/*
 * Kernel interfaces a sandboxed dext may not open itself, opened by ringd
 * on request (RK_DEXT_DEVICE_OPEN, answered once on the request's answer
 * socket like the family requests of family.c):
 *
 *   uinput   /dev/uinput: make input devices (keyboards, pointers) -- the
 *            built-in HID event driver turns reports into input events
 *            through it.  Needs com.apple.developer.driverkit.family.hid.eventservice.
 *   uhid     /dev/uhid: make HID devices the kernel then drives like real
 *            ones (virtual keyboards, the way DriverKit's IOUserHIDDevice
 *            does).  Needs com.apple.developer.driverkit.family.hid.device.
 *
 * A bundle that is not validly signed gets them only in developer mode
 * (family_entitled()).  The descriptor is the dext's; a uinput or uhid
 * device it made goes when it closes the descriptor, so a crash cleans up
 * after itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "ipc/proto.h"
#include "ringd/ringd.h"
#include "shared/macro.h"
#include "trust/entitlements.h"

static const struct {
        const char *name, *path, *entitlement;
} devices[] = {
        { "uinput", "/dev/uinput", RK_ENT_HID_EVENTSERVICE },
        { "uhid", "/dev/uhid", RK_ENT_HID_DEVICE },
};

static void answer(instance *i, int sock, int status, const char *error, const char *path, int fd) {
        _cleanup_(rk_value_unrefp) rk_value *res = NULL;

        if (path && (rk_value_new_dict(&res) < 0 || rk_dict_set_string(res, "path", path) < 0))
                res = rk_value_unref(res);
        family_answer(i, sock, status, error, res, fd);
}

int devopen_request(instance *i, rk_msg *m, rk_value *body) {
        const char *name = rk_dict_get_string(body, "device"), *why = NULL;
        _cleanup_(freep) char *msg = NULL;
        int sock = rk_msg_take_fd(m), fd;
        size_t k;

        if (sock < 0)
                return -EBADMSG; /* nowhere to answer */
        if (i->state != I_START && i->state != I_RUNNING) {
                answer(i, sock, -EPROTO, "only a starting or running driver may ask", NULL, -EBADF);
                return 0;
        }
        for (k = 0; name && k < ELEMENTSOF(devices); k++)
                if (streq(name, devices[k].name))
                        break;
        if (!name || k == ELEMENTSOF(devices)) {
                (void) asprintf(&msg, "no such device to open: '%s' (uinput, uhid)", name ? name : "");
                log_warning(i->d, "%s: %s", i->tag, msg ? msg : "bad device request");
                answer(i, sock, -EINVAL, msg, NULL, -EBADF);
                return 0;
        }
        if (!family_entitled(i->d, i->bundle, devices[k].entitlement, &why)) {
                (void) asprintf(&msg, "%s refused: %s (%s)", devices[k].path, why ? why : "not entitled",
                                devices[k].entitlement);
                log_warning(i->d, "%s: %s", i->tag, msg ? msg : "refused");
                answer(i, sock, -EPERM, msg, NULL, -EBADF);
                return 0;
        }
        fd = open(devices[k].path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0) {
                int r = -errno;
                (void) asprintf(&msg, "%s: %s%s", devices[k].path, strerror(-r),
                                r == -ENOENT ? " (is the kernel module loaded?)" : "");
                log_warning(i->d, "%s: %s", i->tag, msg ? msg : "cannot open");
                answer(i, sock, r, msg, NULL, -EBADF);
                return 0;
        }
        log_info(i->d, "%s: hands %s to its driver", i->tag, devices[k].path);
        answer(i, sock, 0, NULL, devices[k].path, fd);
        close(fd);
        return 0;
}
