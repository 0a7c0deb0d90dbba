/* SPDX-License-Identifier: MIT */
/*
 * The network family of libringdriver: a dext that implements a network
 * interface.  ringd creates the interface for it (a Linux TAP interface: a
 * dext has no CAP_NET_ADMIN), publishes it as an IOEthernetInterface nub
 * under the driver's service, and deletes it when the instance stops,
 * crashes or is killed.  The dext is the other end of the wire: frames the
 * host's stack sends out of the interface arrive in its receive callback,
 * and frames it sends appear to the host as received on the interface.
 *
 *     static void on_frame(rk_net_interface *n, const void *frame, size_t len, void *ud) {
 *             ... parse the Ethernet frame, maybe answer with rk_net_interface_send() ...
 *     }
 *     static int my_start(rk_driver *d) {
 *             rk_net_interface *n;
 *             int r = rk_net_interface_create(d, "mynet%d", NULL, &n);
 *             if (r < 0)
 *                     return r;
 *             rk_net_interface_set_receive(n, on_frame, NULL);
 *             rk_driver_set_ivars(d, n);
 *             return rk_driver_register_service(d);
 *     }
 *     static void my_stop(rk_driver *d) {
 *             rk_net_interface_free(rk_driver_get_ivars(d));
 *     }
 *
 * The bundle needs com.apple.developer.driverkit.family.networking (a
 * bundle that is not validly signed gets it only in developer mode).
 * Calls return 0 or a negative errno, as documented with each.  See
 * docs/network-dext.md.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "ringkit/driver.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RINGKIT_NET_API_VERSION 1

typedef struct rk_net_interface rk_net_interface;

/*
 * Create an Ethernet interface.  `name_hint` is the interface name, or a
 * pattern with one %d (NULL: "rk%d"); letters, digits, '-', '_', '.', at
 * most 15 characters.  `mac` (NULL: the kernel picks a random local one) is
 * the address of the host's side of the link.  The link is up when this
 * returns.  Waits for ringd (at most 3 s): call it from start() or later.
 *   -EPERM   the bundle is not entitled (ringd's log says why)
 *   -EBUSY   an interface of that name exists
 *   -EINVAL  bad name or MAC
 *   -EMFILE  the instance holds 8 interfaces already
 *   -EPROTO  called before start()
 *   -ETIMEDOUT, -EPIPE, -ENOTCONN: ringd did not answer
 */
int rk_net_interface_create(rk_driver *d, const char *name_hint, const uint8_t mac[6], rk_net_interface **ret);

/*
 * Frames the host sends out of the interface (whole Ethernet frames, no
 * preamble or FCS) are passed to `cb` on the driver's dispatch queue.  The
 * frame is valid during the call only.  NULL stops receiving (frames then
 * queue in the kernel until it drops them).  -EINVAL, -ENOMEM.
 */
typedef void (*rk_net_receive_fn)(rk_net_interface *n, const void *frame, size_t len, void *ud);
int rk_net_interface_set_receive(rk_net_interface *n, rk_net_receive_fn cb, void *ud);

/*
 * Hand one Ethernet frame (destination, source, type, payload: at least 14
 * bytes, at most MTU + 14 + 4) to the host as received on the interface.
 * Never blocks.  -EINVAL, -EMSGSIZE, -EAGAIN (the kernel's queue is full:
 * the frame is dropped, as on a wire), -EIO or -EBADFD (the interface was
 * deleted under the driver).
 */
int rk_net_interface_send(rk_net_interface *n, const void *frame, size_t len);

const char *rk_net_interface_get_name(rk_net_interface *n);      /* "rk0" */
int rk_net_interface_get_ifindex(rk_net_interface *n);           /* > 0, or -EINVAL */
int rk_net_interface_get_mac(rk_net_interface *n, uint8_t ret[6]); /* the host side's address */
int rk_net_interface_get_mtu(rk_net_interface *n, uint32_t *ret); /* as it is now (an administrator may change it) */
uint64_t rk_net_interface_get_service_id(rk_net_interface *n);   /* its IOEthernetInterface nub */
int rk_net_interface_get_fd(rk_net_interface *n);                /* the TAP descriptor (owned by the SDK) */

/* Delete the interface (ringd removes it and its nub) and free the object.  NULL-safe. */
void rk_net_interface_free(rk_net_interface *n);

#ifdef __cplusplus
}
#endif
