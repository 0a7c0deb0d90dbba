# SPDX-License-Identifier: MIT
# Alternate settings through the USB family SDK, on QEMU's usb-audio (its
# streaming interface 1 has alternate setting 0 without endpoints and 1
# with an isochronous OUT endpoint; no kernel driver is loaded for it):
# rk-usbsdk-dext (class RKUSBSDKAltSettings, matched to the device nub)
# opens the interface, selects 1 (a pipe appears; transfers on it are
# -EOPNOTSUPP), 0 (none) and a missing one (-ENOENT, setting kept); the
# device's own GET_INTERFACE answer follows each change.
. /tests/usbsdk.sh
REP=$RW/usbsdk-alt
: >"$REP"
chmod 666 "$REP"
has_audio() { [ -n "$(usb_by_product "QEMU USB Audio")" ]; }
if [ ! -x /ringkit/bin/rk-usbsdk-dext ] || ! wait_for 20 has_audio; then
        fail usbsdk-alt "no rk-usbsdk-dext in the initramfs or no usb-audio device: $(cat /sys/bus/usb/devices/*/product 2>/dev/null | tr '\n' ,)"
else
        A=$(usb_by_product "QEMU USB Audio" | head -n1)
        usbsdk_bundle UsbSdkAlt.dext rk-usbsdk-dext RKUSBSDKAltSettings IOUSBHostDevice \
                "<key>idVendor</key><integer>$(sysdec "$A/idVendor")</integer><key>idProduct</key><integer>$(sysdec "$A/idProduct")</integer>"
        check usbsdk-alt-runs 'report: $(cat "$REP"); log: $(tail -n 10 "$RINGD_LOG")' wait_for 30 rep_has "copy-pipe-after "
        check usbsdk-alt-claims '$(rep_line claimed)' rep_has "claimed [0-9]+ interface=1 detached=none"
        check usbsdk-alt-opened-at-0 '$(rep_line opened)' rep_has "opened rc=0 alt=0 endpoints=0 device-alt=0\$"
        check usbsdk-alt-select-1 '$(rep_line select-1)' rep_has "select-1 rc=0 alt=1 endpoints=1 device-alt=1 pipe_01=1\$"
        check usbsdk-alt-iso-unsupported '$(rep_line iso-io)' rep_has "iso-io rc=-95"
        check usbsdk-alt-select-0 '$(rep_line select-0)' rep_has "select-0 rc=0 alt=0 endpoints=0 device-alt=0\$"
        check usbsdk-alt-select-missing '$(rep_line select-77)' rep_has "select-77 rc=-2 alt=0 endpoints=0 device-alt=0\$"
        check usbsdk-alt-pipes-gone '$(rep_line copy-pipe-after)' rep_has "copy-pipe-after rc=-2"
        APID=$(rep_line claimed | awk '{print $2}')
        rm -rf "$ROOT/extensions/UsbSdkAlt.dext"
        check usbsdk-alt-releases 'report: $(tail -n 3 "$REP")' wait_for 20 rep_has "released $APID"
fi
sendfile usbsdk-alt.report "$REP"
