/* SPDX-License-Identifier: MIT */
/*
 * Message types and payload keys of ringkit's two control protocols.  Both
 * run over rk_channel (msg.h): SOCK_SEQPACKET, one message per datagram,
 * payloads are binary-plist dictionaries, at most one fd per message.
 *
 * 1. ringctl <-> ringd, on the control socket (ROOT/run/ringd.sock).
 *    Every request is RK_CTL_REQUEST with {"command": S, ...arguments};
 *    the reply is RK_CTL_REPLY with {"ok": bool, "error": S (when not ok),
 *    "errno": N, ...results}.  `peer` carries a request number that the
 *    reply echoes.
 *
 * 2. ringd <-> a dext instance, on the socketpair ringd hands the process
 *    as fd 3 (RINGKIT_FD=3 in its environment).  The lifecycle, driven by
 *    ringd, one step at a time, each answered by the dext:
 *
 *        dext                               ringd
 *        HELLO {pid, sdk, classes}   --->
 *                                    <---   INIT {service, provider, ...} + handle fd
 *        INIT_DONE {status}          --->
 *                                    <---   PROBE {score}
 *        PROBE_DONE {status, score}  --->
 *                                    <---   START
 *        START_DONE {status}         --->
 *             ... running: PUBLISH, SET_PROPERTY, REGISTER, LOG ...
 *                                    <---   STOP
 *        STOP_DONE                   --->
 *                                    <---   FREE   (the process exits 0)
 *
 *    `status` is 0 or a negative errno; -ENODEV/-ENXIO from probe mean
 *    "not mine" and ringd tries the next candidate.  Every step has a
 *    deadline; a dext that misses one, sends a malformed message, closes the
 *    socket or dies is treated as crashed.
 *
 * Payload keys are the constants below; their types are documented beside
 * them.  A receiver checks each key's type before using it.
 */
#pragma once

enum {
        /* ringctl <-> ringd */
        RK_CTL_REQUEST = 1,
        RK_CTL_REPLY = 2,
        RK_CTL_EVENT = 3,           /* ringd -> client, unasked: {watch, id, event: "appeared"|"gone"} (uc-watch) */

        /* dext -> ringd */
        RK_DEXT_HELLO = 100,        /* {pid: int, sdk: int, classes: [string]} */
        RK_DEXT_INIT_DONE = 101,    /* {status: int} */
        RK_DEXT_PROBE_DONE = 102,   /* {status: int, score: int} */
        RK_DEXT_START_DONE = 103,   /* {status: int} */
        RK_DEXT_STOP_DONE = 104,    /* {} */
        RK_DEXT_PUBLISH = 105,      /* {cookie: int, classes: [string], name: string, properties: dict} + optional handle fd */
        RK_DEXT_SET_PROPERTY = 106, /* {key: string, value: any} (absent value: remove) */
        RK_DEXT_REGISTER = 107,     /* {} registerService(): the driver's service becomes visible */
        RK_DEXT_LOG = 108,          /* {level: int (syslog), message: string} */
        RK_DEXT_UNPUBLISH = 109,    /* {id: int} terminate a nub this instance published */

        /* ringd -> dext */
        RK_DEXT_INIT = 200,         /* {service: int, provider: int, class: string, personality: dict,
                                        provider_properties: dict, instance: string} + handle fd if any */
        RK_DEXT_PROBE = 201,        /* {score: int} */
        RK_DEXT_START = 202,        /* {} */
        RK_DEXT_STOP = 203,         /* {} */
        RK_DEXT_FREE = 204,         /* {} */
        RK_DEXT_PUBLISHED = 205,    /* {cookie: int, id: int, status: int} */
};

/*
 * Families (issue 6): requests a dext makes of ringd for what only ringd
 * may do.  Each request carries one end of a fresh SOCK_SEQPACKET pair (the
 * answer socket) as its fd; ringd answers exactly once on it with
 * RK_DEXT_FAMILY_REPLY {status: int (0 or -errno), error: string (when
 * status < 0), ...results} + the granted fd, then closes it.  The answer
 * does not go on the main channel, so the SDK can wait for it in a
 * driver's start() without reading the lifecycle messages.  Accepted while
 * the instance starts or runs; anything the request created is released
 * when the instance stops, crashes or is killed (src/ringd/family.c).
 */
enum {
        /* dext -> ringd, + answer socket */
        RK_DEXT_NET_CREATE = 120,   /* {name: string (hint, may hold %d; optional), mac: data[6] (optional)}
                                       network family: needs com.apple.developer.driverkit.family.networking
                                       (or developer mode for a bundle that is not validly signed).
                                       Reply: {name: string, ifindex: int, mac: data[6], mtu: int, id: int (nub)}
                                       + the TAP fd (IFF_TAP|IFF_NO_PI, non-blocking) */
        RK_DEXT_NET_DESTROY = 121,  /* {ifindex: int} delete an interface this instance created. Reply: {} */
        RK_DEXT_PCI_MAP_BAR = 122,  /* {bar: int 0-5} PCI family, for the instance's own IOPCIDevice provider;
                                       refused (-EBUSY) while a kernel driver is bound to the device.
                                       Reply: {size: int, flags: int (IORESOURCE_*), path: string}
                                       + the sysfs resourceN fd */
        RK_DEXT_DEVICE_OPEN = 123,  /* {device: "uinput" | "uhid"} HID family: a kernel interface for making
                                       input devices (uinput: needs ...family.hid.eventservice) or HID
                                       devices (uhid: needs ...family.hid.device), opened by ringd since
                                       the sandboxed dext may not.  Reply: {path: string} + the fd
                                       (read-write, non-blocking); src/ringd/devopen.c */
        /* ringd -> dext, on the answer socket */
        RK_DEXT_FAMILY_REPLY = 220,
};

/*
 * User clients (issue 8): ringd hands a running instance one end of a new
 * app <-> dext connection (src/ringd/userclient.c checked the app's right
 * to open it).  The dext answers the app on that connection, not ringd
 * (lib/ringkit/uc-wire.h); ringd keeps nothing of it.
 */
enum {
        /* ringd -> dext, + the connection's socket */
        RK_DEXT_UC_OPEN = 230,      /* {type: int, pid: int, uid: int, executable: string, app_bundle: string,
                                        admitted_by: string} */
};

#define RK_DEXT_SDK_VERSION 1
#define RK_DEXT_FD 3 /* where a dext finds its ringd channel */
