/* SPDX-License-Identifier: MIT */
/*
 * The USB family of libringdriver: a dext's view of the USB device it was
 * matched to, over the usbfs descriptor (/dev/bus/usb/BBB/DDD) ringd opens
 * for it as its provider handle.  Named after DriverKit's USBDriverKit:
 *
 *   rk_usb_device     IOUSBHostDevice: descriptors, string descriptors,
 *                     control requests on endpoint 0, the configuration
 *   rk_usb_interface  IOUSBHostInterface: Open (claim it, detaching the
 *                     kernel driver bound to it), SelectAlternateSetting,
 *                     CopyPipe, Close (release it, reattach the kernel driver)
 *   rk_usb_pipe       IOUSBHostPipe: IO (synchronous, with a timeout),
 *                     AsyncIO (a completion callback on the driver's
 *                     dispatch queue), Abort, ClearStall
 *
 *     rk_usb_device *dev;
 *     rk_usb_interface *intf;
 *     rk_usb_pipe *in;
 *     r = rk_usb_device_new(d, &dev);                   // from start()
 *     r = rk_usb_interface_open_provider(dev, &intf);   // the matched interface
 *     r = rk_usb_interface_copy_pipe(intf, 0x81, &in);
 *     n = rk_usb_pipe_io(in, buf, sizeof(buf), 1000);   // bytes, or -errno
 *     r = rk_usb_pipe_async_io(in, buf, sizeof(buf), done, ud, &req);
 *     ...
 *     rk_usb_interface_close(intf);                     // stop()
 *     rk_usb_device_free(dev);
 *
 * Threading: none.  Everything runs on the thread of the driver's dispatch
 * queue; completions are delivered from it (usbfs makes the descriptor
 * writable when URBs complete; the SDK watches it while URBs are in flight
 * and reaps them).  A device made with rk_usb_device_new_fd() outside a dext
 * delivers completions from rk_usb_device_handle_events().
 *
 * Errors are negative errnos.  Those every transfer may return:
 *   -ENODEV     the device is gone (unplugged, or reset away); the object
 *               stays valid and must still be closed/freed
 *   -EPIPE      the endpoint stalled (the device answered STALL); the pipe
 *               is marked stalled until rk_usb_pipe_clear_stall().  On the
 *               control pipe a stall is per request and needs no clearing
 *   -ETIMEDOUT  (synchronous calls) the timeout passed; the transfer was
 *               cancelled, data may have moved
 *   -ECANCELED  (completions) cancelled by rk_usb_request_cancel(),
 *               rk_usb_pipe_abort() or closing the interface; (submissions)
 *               the interface is closing (from a completion run by close)
 *   -EOVERFLOW  the device sent more than the buffer holds (babble)
 *   -EPROTO, -EILSEQ, -ETIME, -EIO  transmission errors the host controller saw
 *   -EINVAL     bad arguments (NULL, an OUT buffer on an IN pipe, ...)
 *   -ENOMEM
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringkit/driver.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RINGKIT_USB_API_VERSION 1

typedef struct rk_usb_device rk_usb_device;
typedef struct rk_usb_interface rk_usb_interface;
typedef struct rk_usb_pipe rk_usb_pipe;
typedef struct rk_usb_request rk_usb_request;

/* ---- descriptors (USB 2.0 ch. 9), parsed into host-order fields ---- */

typedef struct rk_usb_device_descriptor {
        uint16_t bcdUSB;
        uint8_t bDeviceClass, bDeviceSubClass, bDeviceProtocol, bMaxPacketSize0;
        uint16_t idVendor, idProduct, bcdDevice;
        uint8_t iManufacturer, iProduct, iSerialNumber, bNumConfigurations;
} rk_usb_device_descriptor;

enum {
        RK_USB_XFER_CONTROL = 0,
        RK_USB_XFER_ISOCHRONOUS = 1,
        RK_USB_XFER_BULK = 2,
        RK_USB_XFER_INTERRUPT = 3,
};

typedef struct rk_usb_endpoint_descriptor {
        uint8_t bEndpointAddress;   /* bit 7: 1 = IN */
        uint8_t bmAttributes;       /* bits 0-1: RK_USB_XFER_* */
        uint16_t wMaxPacketSize;
        uint8_t bInterval;
        const uint8_t *extra;       /* descriptors after it (SuperSpeed companion...), in the raw buffer */
        size_t extra_len;
} rk_usb_endpoint_descriptor;

typedef struct rk_usb_alt_setting {
        uint8_t bInterfaceNumber, bAlternateSetting, bNumEndpoints;
        uint8_t bInterfaceClass, bInterfaceSubClass, bInterfaceProtocol, iInterface;
        const rk_usb_endpoint_descriptor *endpoints; /* bNumEndpoints of them, or fewer when the device lied */
        size_t n_endpoints;
        const uint8_t *extra;       /* class descriptors (HID, CDC functional...) before the first endpoint */
        size_t extra_len;
} rk_usb_alt_setting;

typedef struct rk_usb_interface_descriptors {
        uint8_t bInterfaceNumber;
        const rk_usb_alt_setting *alt_settings; /* in the order the device lists them */
        size_t n_alt_settings;
} rk_usb_interface_descriptors;

typedef struct rk_usb_config_descriptor {
        uint16_t wTotalLength;
        uint8_t bNumInterfaces, bConfigurationValue, iConfiguration, bmAttributes, bMaxPower;
        const rk_usb_interface_descriptors *interfaces; /* by first appearance */
        size_t n_interfaces;
        const uint8_t *raw;         /* the whole descriptor set as the device sent it */
        size_t raw_len;
} rk_usb_config_descriptor;

/*
 * Parse a configuration descriptor set (configuration, interfaces,
 * endpoints, class descriptors).  Used by the calls below; public so tools
 * and tests can parse a saved blob.  Copies `buf`.  -EBADMSG when it is
 * truncated or not a configuration descriptor (a descriptor with bLength < 2
 * or running past the end, wTotalLength beyond the buffer), -ENOMEM.
 */
int rk_usb_config_descriptor_parse(const void *buf, size_t len, rk_usb_config_descriptor **ret);
void rk_usb_config_descriptor_free(rk_usb_config_descriptor *c);
/* Find an alternate setting; NULL when absent. */
const rk_usb_alt_setting *rk_usb_config_descriptor_find_alt(const rk_usb_config_descriptor *c, uint8_t interface,
                                                           uint8_t alt);

/* ---- the device (IOUSBHostDevice) ---- */

/*
 * The device of the driver's provider: the usbfs descriptor ringd passed
 * (not taken: the SDK owns it).  Completions are delivered on `d`'s
 * dispatch queue.  -ENODEV when the provider has no usbfs handle (not a
 * USB device or interface nub, or ringd could not open the node), -ENOMEM,
 * or the errno of reading the descriptors.
 */
int rk_usb_device_new(rk_driver *d, rk_usb_device **ret);
/*
 * A device on a usbfs descriptor the caller opened (O_RDWR; kept open and
 * owned by the caller until rk_usb_device_free).  Without a driver,
 * completions run from rk_usb_device_handle_events().  `d` may be NULL.
 */
int rk_usb_device_new_fd(rk_driver *d, int fd, rk_usb_device **ret);
/* Cancels every request (their completions run, -ECANCELED), closes open interfaces, frees. NULL is fine.
 * Not from one of the device's completions. */
void rk_usb_device_free(rk_usb_device *dev);

/* The usbfs descriptor (for libusb_wrap_sys_device, poll). */
int rk_usb_device_get_fd(rk_usb_device *dev);
const rk_usb_device_descriptor *rk_usb_device_get_device_descriptor(rk_usb_device *dev);
/* The active configuration (the SDK's, valid until the device is freed or reconfigured); NULL if unconfigured. */
const rk_usb_config_descriptor *rk_usb_device_get_config_descriptor(rk_usb_device *dev);
/* Configuration number `index` (0..bNumConfigurations-1), as the kernel cached it. -ENOENT, -EBADMSG. */
int rk_usb_device_copy_config_descriptor(rk_usb_device *dev, uint8_t index, rk_usb_config_descriptor **ret);
/* Has the device gone (a transfer or ioctl saw ENODEV)? */
bool rk_usb_device_is_gone(rk_usb_device *dev);

/*
 * String descriptor `index` in language `langid` (0: the device's first),
 * converted from UTF-16LE to UTF-8 into `buf` (NUL-terminated, truncated to
 * fit).  Returns the length written, -ENOENT for index 0 or a device
 * without strings, -EBADMSG for a malformed answer, or a transfer error.
 */
int rk_usb_device_copy_string(rk_usb_device *dev, uint8_t index, uint16_t langid, char *buf, size_t size,
                              int timeout_ms);

/*
 * A control request on endpoint 0 (IOUSBHostDevice::DeviceRequest),
 * synchronous.  bmRequestType bit 7 gives the direction; `data` holds
 * wLength bytes (NULL when 0).  Returns the bytes transferred or an error
 * (-EPIPE: the device refused the request; nothing to clear).  Requests to
 * an interface or endpoint need that interface claimed first (usbfs rule).
 */
int rk_usb_device_request(rk_usb_device *dev, uint8_t bmRequestType, uint8_t bRequest, uint16_t wValue,
                          uint16_t wIndex, void *data, uint16_t wLength, int timeout_ms);

/* SET_CONFIGURATION.  -EBUSY while interfaces are open (or a kernel driver holds one). */
int rk_usb_device_set_configuration(rk_usb_device *dev, uint8_t value);
/* Port reset (USBDEVFS_RESET).  Open interfaces must be reopened afterwards. */
int rk_usb_device_reset(rk_usb_device *dev);

/*
 * For devices made without a driver: reap completed URBs and run their
 * completions.  Returns the number run or a negative errno.  Poll the fd
 * for POLLOUT to know when to call it.
 */
int rk_usb_device_handle_events(rk_usb_device *dev);

/* ---- interfaces (IOUSBHostInterface) ---- */

/*
 * Open interface `number` (IOUSBHostInterface::Open): claim it with
 * USBDEVFS_DISCONNECT_CLAIM, detaching the kernel driver bound to it (its
 * name is kept, see below), in alternate setting 0's view until one is
 * selected.  -ENOENT no such interface in the active configuration,
 * -EBUSY another process holds it, -ENODEV, -ENOMEM.
 */
int rk_usb_interface_open(rk_usb_device *dev, uint8_t number, rk_usb_interface **ret);
/* The interface of the driver's provider nub (its bInterfaceNumber); -ENOENT for a device nub. */
int rk_usb_interface_open_provider(rk_usb_device *dev, rk_driver *d, rk_usb_interface **ret);
/*
 * Cancel its requests (completions run with -ECANCELED), release the
 * interface and have the kernel probe its drivers for it again (usbfs
 * USBDEVFS_CONNECT): the driver detached at open binds again, and so does
 * one for an interface that had none at open (a previous instance of the
 * dext died holding it).  Pipes are freed with it.  NULL is fine.
 */
void rk_usb_interface_close(rk_usb_interface *intf);
/* The kernel driver open detached ("usb-storage", "usbhid"...), or NULL when none was bound. */
const char *rk_usb_interface_get_detached_driver(rk_usb_interface *intf);
uint8_t rk_usb_interface_get_number(rk_usb_interface *intf);
/* The current alternate setting's descriptors. */
const rk_usb_alt_setting *rk_usb_interface_get_alt_setting(rk_usb_interface *intf);
/*
 * SET_INTERFACE.  Cancels requests on the old setting's pipes first;
 * pipes copied before are freed.  -ENOENT no such alternate setting.
 */
int rk_usb_interface_select_alt_setting(rk_usb_interface *intf, uint8_t alt);
/*
 * The pipe of endpoint `address` in the current alternate setting
 * (IOUSBHostInterface::CopyPipe).  Owned by the interface.  -ENOENT.
 */
int rk_usb_interface_copy_pipe(rk_usb_interface *intf, uint8_t address, rk_usb_pipe **ret);
/* The first pipe of that type and direction (RK_USB_XFER_BULK, in = true), -ENOENT. */
int rk_usb_interface_find_pipe(rk_usb_interface *intf, int type, bool in, rk_usb_pipe **ret);

/* ---- pipes (IOUSBHostPipe): bulk and interrupt endpoints ---- */

const rk_usb_endpoint_descriptor *rk_usb_pipe_get_endpoint_descriptor(rk_usb_pipe *p);
uint8_t rk_usb_pipe_get_address(rk_usb_pipe *p);
/* Did a transfer end with -EPIPE since the last rk_usb_pipe_clear_stall()? */
bool rk_usb_pipe_is_stalled(rk_usb_pipe *p);

/*
 * A synchronous transfer of up to `len` bytes (IN: read into buf, OUT:
 * write from it), waiting at most `timeout_ms` (0: no limit).  Returns
 * the bytes transferred (an IN transfer ends at a short packet) or an error
 * from the list at the top.  Do not call it from a completion for a pipe
 * with async requests queued ahead of it if order matters.
 */
int rk_usb_pipe_io(rk_usb_pipe *p, void *buf, size_t len, int timeout_ms);

/*
 * Completion of an asynchronous request: `status` 0 or an error from the
 * list at the top (-ECANCELED when cancelled), `actual` the bytes moved.
 * Runs on the dispatch queue; the request is freed when it returns.
 */
typedef void (*rk_usb_completion)(rk_usb_request *req, int status, size_t actual, void *ud);

/*
 * Queue a transfer (IOUSBHostPipe::AsyncIO).  `buf` stays the caller's and
 * must live until the completion runs.  Requests on one pipe complete in
 * order.  `ret` (may be NULL) receives the request, valid until its
 * completion returns.  -ENODEV, -EPIPE (the pipe is stalled: clear it
 * first), -ECANCELED (the interface is closing), -EBADF (the descriptor is
 * read-only: usbfs would never signal the completion), -EOPNOTSUPP (an
 * isochronous pipe), -EINVAL, -ENOMEM; on error the completion does not run.
 */
int rk_usb_pipe_async_io(rk_usb_pipe *p, void *buf, size_t len, rk_usb_completion done, void *ud,
                         rk_usb_request **ret);
/* Cancel one request: its completion runs later with -ECANCELED (or its real status if it had finished). */
int rk_usb_request_cancel(rk_usb_request *req);
rk_usb_pipe *rk_usb_request_get_pipe(rk_usb_request *req);
/* Cancel every request on the pipe (IOUSBHostPipe::Abort). Returns how many were cancelled. */
int rk_usb_pipe_abort(rk_usb_pipe *p);
/* Requests queued and not yet completed. */
size_t rk_usb_pipe_get_pending(rk_usb_pipe *p);

/*
 * Recover from a stall (IOUSBHostPipe::ClearStall): CLEAR_FEATURE
 * (ENDPOINT_HALT) to the device and the host side's data toggle reset
 * (USBDEVFS_CLEAR_HALT).  Abort queued requests first.  -ENODEV, or the
 * error of the request.
 */
int rk_usb_pipe_clear_stall(rk_usb_pipe *p);

#ifdef __cplusplus
}
#endif
