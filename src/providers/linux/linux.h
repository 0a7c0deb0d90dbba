/* SPDX-License-Identifier: MIT */
/*
 * The Linux provider: real devices, found through libudev and followed
 * through netlink uevents, each turned into a provider description (an
 * rk_value dictionary) that ringd publishes as a registry nub and that the
 * matching engine reads directly (rk_match_provider_new_from_dict()).
 *
 * Life of a provider:
 *
 *   rk_linux_provider_new()        create the monitor and ENABLE it (events
 *                                  queue in the socket from here on)
 *   rk_linux_provider_enumerate()  report every existing device (ADD),
 *                                  parents before children
 *   rk_linux_provider_get_fd()     poll it; when readable ...
 *   rk_linux_provider_process()    ... drain the queue, calling back
 *
 * Because the monitor exists before the enumeration starts, no device can
 * appear unseen between the two; the price is that uevents about devices
 * the enumeration already reported are waiting in the queue.  The provider
 * remembers every syspath it reported and de-duplicates: an ADD (or any
 * event) for a device already reported becomes CHANGE, a CHANGE for one not
 * yet reported becomes ADD, and a REMOVE for one never reported is dropped.
 * So the callback sees, per syspath, ADD (CHANGE)* REMOVE, repeatedly.
 *
 * Not thread-safe: one thread owns a provider.  The callback may call
 * get_fd and read the provider's state, but must not free the provider nor
 * call enumerate or process (they return -EBUSY from inside a callback).
 *
 * docs/linux-provider.md lists the class chains and properties per
 * subsystem and the uevents each kind of hot-plug produces.
 */
#pragma once

#include <stddef.h>

#include "value/value.h"

typedef struct rk_linux_provider rk_linux_provider;

typedef enum rk_linux_action {
        RK_LINUX_ADD,
        RK_LINUX_CHANGE,
        RK_LINUX_REMOVE,
} rk_linux_action;

/* "add", "change", "remove"; NULL for anything else. */
const char *rk_linux_action_name(rk_linux_action a);

/*
 * Called once per device event.  `syspath` is the device's canonical sysfs
 * path ("/sys/devices/..."), `desc` its description (NULL on REMOVE); both
 * are borrowed for the duration of the call: take a reference to keep desc.
 */
typedef void (*rk_linux_device_cb)(rk_linux_provider *p, rk_linux_action action, const char *syspath,
                                   const rk_value *desc, void *userdata);

/*
 * Where uevents come from.  UDEV: the events systemd-udevd re-broadcasts
 * after processing them (device nodes, permissions and renames done); needs
 * udevd running, otherwise libudev silently delivers nothing.  KERNEL: the
 * kernel's own uevents, as they happen, whether or not udevd runs.  AUTO:
 * $RK_LINUX_MONITOR ("udev", "kernel" or "auto") when set, else UDEV when
 * /run/udev/control exists, else KERNEL.
 */
typedef enum rk_linux_monitor {
        RK_LINUX_MONITOR_AUTO,
        RK_LINUX_MONITOR_UDEV,
        RK_LINUX_MONITOR_KERNEL,
} rk_linux_monitor;

/* Log levels are syslog's (LOG_ERR ... LOG_DEBUG).  The provider logs only
 * at LOG_DEBUG (skipped devices, dropped messages) and LOG_WARNING (a lost
 * uevent queue and the resynchronisation that followed). */
typedef void (*rk_linux_log_cb)(rk_linux_provider *p, int level, const char *message, void *userdata);

typedef struct rk_linux_provider_options {
        const char *const *subsystems; /* NULL-terminated; NULL = the default set */
        rk_linux_monitor monitor;      /* RK_LINUX_MONITOR_AUTO when zeroed */
        size_t receive_buffer;         /* socket buffer in bytes; 0 = 16 MiB */
        rk_linux_log_cb log;           /* may be NULL */
} rk_linux_provider_options;

/* The default subsystems: pci, usb, hid, net, block, tty, input. */
extern const char *const rk_linux_default_subsystems[];

/*
 * Create a provider watching `subsystems` (NULL-terminated list of names,
 * NULL for the default set) and enable its monitor.  The monitor is chosen
 * as for RK_LINUX_MONITOR_AUTO.
 *
 * Errors: -EINVAL (cb or ret NULL, an empty list or an empty name, more
 * than 64 subsystems, $RK_LINUX_MONITOR not one of udev/kernel/auto),
 * -ENOMEM, or the errno of a failed netlink socket/bind (e.g. -EPERM,
 * -EPROTONOSUPPORT).
 */
int rk_linux_provider_new(const char *const *subsystems, rk_linux_device_cb cb, void *userdata,
                          rk_linux_provider **ret);
/* Same, with options (NULL = all defaults).  Same errors; an explicit
 * monitor choice in `o` wins over $RK_LINUX_MONITOR. */
int rk_linux_provider_new_with_options(const rk_linux_provider_options *o, rk_linux_device_cb cb,
                                       void *userdata, rk_linux_provider **ret);

rk_linux_provider *rk_linux_provider_free(rk_linux_provider *p); /* returns NULL */
static inline void rk_linux_provider_freep(rk_linux_provider **p) {
        if (*p)
                rk_linux_provider_free(*p);
}

/* RK_LINUX_MONITOR_UDEV or RK_LINUX_MONITOR_KERNEL: what AUTO resolved to. */
rk_linux_monitor rk_linux_provider_get_monitor(const rk_linux_provider *p);

/*
 * Report every existing device of the watched subsystems, sorted by sysfs
 * depth so that a parent always comes before its children (a USB interface
 * after its USB device, a net interface after its PCI device).  Devices
 * that vanish while being read are skipped (their REMOVE uevent, if any,
 * is then dropped).
 *
 * The first call reports ADD for every device.  A later call
 * resynchronises: REMOVE (deepest first) for reported devices that no
 * longer exist, then CHANGE for those still there and ADD for new ones.
 * process() does this by itself after the socket overflowed (ENOBUFS).
 *
 * Returns the number of callbacks made, or -EINVAL, -EBUSY (called from the
 * callback), -ENOMEM, or the errno of a failed sysfs scan.
 */
int rk_linux_provider_enumerate(rk_linux_provider *p);

/*
 * The monitor's netlink socket (non-blocking, close-on-exec, owned by the
 * provider): readable when uevents are pending.  With the udev monitor the
 * kernel filters by subsystem (a BPF filter); with the kernel monitor every
 * uevent wakes the fd and process() filters.  -EINVAL for a NULL p.
 */
int rk_linux_provider_get_fd(const rk_linux_provider *p);

/*
 * Drain the pending uevents without blocking, calling back for those about
 * watched subsystems (after de-duplication, see above).  A "move" (a
 * renamed net interface) is reported as REMOVE of the old syspath and ADD
 * of the new; "bind", "unbind", "online", "offline" as CHANGE.  At most
 * 4096 uevents are read per call; the fd stays readable if more wait.
 *
 * Returns the number of callbacks made (0 when every pending uevent was
 * filtered out, or none was pending), or -EINVAL, -EBUSY (called from the
 * callback), -ENOMEM, or the errno of a failed receive.  Malformed
 * messages are dropped (logged at debug); a socket overflow (ENOBUFS)
 * triggers a resynchronisation as enumerate() describes.
 */
int rk_linux_provider_process(rk_linux_provider *p);

/*
 * Describe one device from its sysfs directory, as the provider does (for
 * tests, fuzzing and `ringctl`).  `syspath` need not be under /sys: any
 * directory laid out like a sysfs device (a "uevent" file, a "subsystem"
 * symlink, attribute files) is read.  RKParentSysPath is the nearest
 * ancestor directory that is a device of one of `subsystems` (NULL = the
 * default set).
 *
 * Errors: -EINVAL (NULL argument), -ENODEV (not a device: no uevent file
 * or subsystem link, or it vanished while being read), -ENOMEM.
 */
int rk_linux_describe(const char *syspath, const char *const *subsystems, rk_value **ret);
