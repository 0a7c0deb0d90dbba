# SPDX-License-Identifier: MIT
# libusb on the descriptor ringd hands a dext (samples/usb-libusb): the
# sample wraps it with libusb_wrap_sys_device, reads the device descriptor
# and product string through libusb, claims the stick's interface 0
# (libusb detaching usb-storage) and releases it (reattaching).  Skipped
# when the tree was built without libusb-1.0.
. /tests/usbsdk.sh
REP=$RW/usb-libusb
: >"$REP"
chmod 666 "$REP"
if [ ! -x /ringkit/bin/usb-libusb-dext ]; then
        note "usb-libusb: skipped, built without libusb-1.0"
else
        usbsdk_bundle UsbLibusb.dext usb-libusb-dext RKLibusbSample IOUSBHostDevice "$(usbsdk_stick_match RKSTICK)"
        check usb-libusb-wraps 'report: $(cat "$REP"); log: $(tail -n 10 "$RINGD_LOG")' wait_for 30 \
                rep_has "libusb wrapped rc=0 idVendor=$(cat "$(stick_dev)/idVendor") idProduct=$(cat "$(stick_dev)/idProduct") product=$(cat "$(stick_dev)/product")\$"
        check usb-libusb-claims 'report: $(cat "$REP")' wait_for 10 \
                rep_has "libusb claim interface=0 kernel-driver-was-active=1 rc=0"
        check usb-libusb-releases 'report: $(cat "$REP")' wait_for 10 rep_has "libusb release rc=0"
        rm -rf "$ROOT/extensions/UsbLibusb.dext"
        check usb-libusb-usb-storage-back 'driver: $(stick_driver)' wait_for 20 stick_driver_is usb-storage
fi
sendfile usb-libusb.report "$REP"
