# SPDX-License-Identifier: MIT
# The kernel modules load and QEMU's boot-time USB devices enumerate.
if [ -s /tmp/insmod-failed ]; then
        fail modules-load "$(cat /tmp/insmod-failed) failed: $(cat /tmp/insmod.log)"
else
        ok modules-load
fi
KBD=QEMU\ USB\ Keyboard
TABLET=QEMU\ USB\ Tablet
check usb-keyboard-enumerates 'no USB device with product $KBD in /sys/bus/usb/devices' \
        wait_for 30 has_n_product "$KBD" 1
check usb-tablet-enumerates 'no USB device with product $TABLET' wait_for 10 has_n_product "$TABLET" 1
KBD1=$(usb_by_product "$KBD" | head -n1)
note "keyboard at $KBD1: $(cat "$KBD1/idVendor"):$(cat "$KBD1/idProduct"); uevent monitor: no udevd (/run/udev/control absent)"
