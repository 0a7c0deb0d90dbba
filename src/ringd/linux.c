/* SPDX-License-Identifier: MIT */
/*
 * Glue between the Linux provider (providers/linux) and the registry: each
 * reported device becomes a NUB_LINUX nub under its parent device's nub
 * (RKParentSysPath) or under Root, is matched at once, and is torn down,
 * stack and all, when the device goes.  A CHANGE replaces the properties
 * (keys the device lost go) and matches again.  Subsystems: the
 * provider's defaults and hidraw (ringd_subsystems).
 *
 * Nubs are found by syspath through a linear scan of the live nubs: fine
 * for the few hundred devices a machine has; a hash would be the fix if
 * that ever shows in a profile.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "providers/linux/linux.h"
#include "ringd/ringd.h"
#include "shared/macro.h"

#define MAX_CLASSES 16

/* What ringd publishes: the provider's default subsystems plus hidraw, the
 * HID family's handle on a HID device (its report stream; an RKHIDRawDevice
 * nub under the IOHIDDevice nub, whose driver gets /dev/hidrawN opened). */
static const char *const ringd_subsystems[] = {
        "pci", "usb", "hid", "hidraw", "net", "block", "tty", "input", NULL,
};

static nub *find_syspath(ringd *d, const char *syspath) {
        for (nub *n = d->nubs; syspath && n; n = n->next_all)
                if (n->kind == NUB_LINUX && n->syspath && streq(n->syspath, syspath))
                        return n;
        return NULL;
}

static void on_add(ringd *d, const char *syspath, const rk_value *desc) {
        _cleanup_(rk_value_unrefp) rk_value *props = NULL;
        const rk_value *chain = rk_dict_get(desc, "IOClassChain");
        const char *classes[MAX_CLASSES];
        size_t n = rk_array_size(chain);
        nub *parent, *x = NULL;
        int r;

        if (n == 0 || n > MAX_CLASSES)
                return;
        for (size_t k = 0; k < n; k++)
                if (!(classes[k] = rk_string(rk_array_get(chain, k))))
                        return;
        if (rk_value_copy(desc, &props) < 0)
                return;
        (void) rk_dict_remove(props, "IOClassChain");
        parent = find_syspath(d, rk_dict_get_string(desc, "RKParentSysPath"));
        r = nub_publish(d, parent, NUB_LINUX, classes, n, rk_dict_get_string(desc, "IOName"), props, -EBADF, &x);
        if (r < 0) {
                log_warning(d, "%s: cannot publish: %s", syspath, strerror(-r));
                return;
        }
        x->syspath = strdup(syspath);
        log_debug(d, "device %s: %s '%s' (id 0x%llx)", syspath, classes[0], rk_service_get_name(x->svc),
                  (unsigned long long) rk_service_get_id(x->svc));
        nub_match(x);
}

/* The nub's properties become the new description's: keys it lost go (a
 * USB interface unbound from its driver loses RKDriver, a detached loop
 * device RKLoopBackingFile).  A Linux nub's table is its description and
 * nothing else, so every key missing from `desc` is stale. */
static void drop_stale(nub *x, const rk_value *desc) {
        const rk_value *props = rk_service_get_properties(x->svc);
        size_t n = rk_dict_size(props), m = 0;
        _cleanup_(freep) char **gone = n ? calloc(n, sizeof(*gone)) : NULL;

        if (n && !gone)
                return;
        for (size_t k = 0; k < n; k++) {
                const char *key = rk_dict_key_at(props, k);
                if (!rk_dict_get(desc, key))
                        gone[m++] = strdup(key);
        }
        /* the table changes under removals: remove by the copied names */
        for (size_t k = 0; k < m; k++) {
                if (gone[k])
                        (void) rk_service_remove_property(x->svc, gone[k]);
                free(gone[k]);
        }
}

/* New properties may make new personalities match (a loop device gains its backing file): match again. */
static void on_change(ringd *d, nub *x, const rk_value *desc) {
        const char *drv = rk_dict_get_string(desc, "RKDriver");

        log_debug(d, "device %s changed (driver %s)", x->syspath, drv ? drv : "none");
        drop_stale(x, desc);
        for (size_t k = 0; k < rk_dict_size(desc); k++) {
                const char *key = rk_dict_key_at(desc, k);
                if (!streq(key, "IOClassChain"))
                        (void) rk_service_set_property(x->svc, key, rk_dict_value_at(desc, k));
        }
        nub_match(x);
}

static void on_device(rk_linux_provider *p, rk_linux_action action, const char *syspath, const rk_value *desc,
                      void *ud) {
        ringd *d = ud;
        nub *x;

        if (d->shutting_down)
                return;
        x = find_syspath(d, syspath);
        switch (action) {
        case RK_LINUX_ADD:
                if (x)
                        on_change(d, x, desc);
                else
                        on_add(d, syspath, desc);
                break;
        case RK_LINUX_CHANGE:
                if (x)
                        on_change(d, x, desc);
                else
                        on_add(d, syspath, desc);
                break;
        case RK_LINUX_REMOVE:
                if (x) {
                        log_info(d, "device %s removed", syspath);
                        free(x->syspath);
                        x->syspath = NULL; /* a new device may reuse the path at once */
                        nub_terminate(x, NULL, NULL);
                }
                break;
        }
}

static void on_log(rk_linux_provider *p, int level, const char *message, void *ud) {
        rd_log(ud, level, "linux: %s", message);
}

static int on_uevent(rk_source *s, int fd, uint32_t revents, void *ud) {
        ringd *d = ud;
        int r = rk_linux_provider_process(d->linux_prov);
        if (r < 0)
                log_warning(d, "linux: reading uevents: %s", strerror(-r));
        return 0;
}

int linux_start(ringd *d) {
        rk_linux_provider_options o = { .subsystems = ringd_subsystems, .log = on_log };
        rk_linux_provider *p = NULL;
        int r;

        r = rk_linux_provider_new_with_options(&o, on_device, d, &p);
        if (r < 0)
                return r;
        d->linux_prov = p;
        r = rk_loop_add_io(d->loop, &d->linux_src, rk_linux_provider_get_fd(p), EPOLLIN, on_uevent, d);
        if (r < 0)
                return r;
        r = rk_linux_provider_enumerate(p);
        if (r < 0)
                return r;
        log_info(d, "linux: %d devices; following %s uevents", r,
                 rk_linux_provider_get_monitor(p) == RK_LINUX_MONITOR_UDEV ? "udevd's" : "kernel");
        return 0;
}

void linux_stop(ringd *d) {
        d->linux_src = rk_source_unref(d->linux_src);
        d->linux_prov = rk_linux_provider_free(d->linux_prov);
}
