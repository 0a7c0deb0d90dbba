# SPDX-License-Identifier: MIT
# A kernel driver unbound and bound again through sysfs: the interface nub
# follows (its RKDriver goes and comes back) and the nubs of the HID stack
# above it go and come back with the driver.
IF1=${KBD1##*/}:1.0
hid_nubs() { rctl registry | grep -c 'IOHIDDevice'; }
hid_nubs_are() { [ "$(hid_nubs)" -eq "$1" ]; }
check interface-nub-driver-usbhid 'nub: $(nub_props "$IF1")' nub_driver_is "$IF1" usbhid
before=$(hid_nubs)
echo "$IF1" >/sys/bus/usb/drivers/usbhid/unbind
check unbind-drops-driver-property 'nub: $(nub_props "$IF1")' wait_for 10 nub_has_no_driver "$IF1"
check unbind-removes-hid-nub '$(hid_nubs) IOHIDDevice nubs, $before before' wait_for 10 hid_nubs_are $((before - 1))
echo "$IF1" >/sys/bus/usb/drivers/usbhid/bind
check bind-restores-driver-property 'nub: $(nub_props "$IF1")' wait_for 10 nub_driver_is "$IF1" usbhid
check bind-restores-hid-nub '$(hid_nubs) IOHIDDevice nubs, $before before' wait_for 10 hid_nubs_are "$before"
