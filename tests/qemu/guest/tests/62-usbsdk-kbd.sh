# SPDX-License-Identifier: MIT
# The USB family SDK on the keyboard (rk-usbsdk-dext, class RKUSBSDKKeyboard,
# matched to its IOUSBHostInterface): descriptors as sysfs has them, the
# interface opened (usbhid detached), HID class requests on the control
# pipe (SET_IDLE/GET_IDLE, GET_REPORT, SET_REPORT for the LEDs, an unknown
# request stalled), a synchronous interrupt read that times out, an async
# read that only the cancel ends (-ECANCELED), then keys through the
# interrupt endpoint; the bundle removed, usbhid binds again.
. /tests/usbsdk.sh
REP=$RW/usbsdk-kbd
: >"$REP"
chmod 666 "$REP"
if [ ! -x /ringkit/bin/rk-usbsdk-dext ]; then
        fail usbsdk-kbd "no rk-usbsdk-dext in the initramfs"
else
        usbsdk_bundle UsbSdkKbd.dext rk-usbsdk-dext RKUSBSDKKeyboard IOUSBHostInterface \
                "<key>idVendor</key><integer>1575</integer><key>idProduct</key><integer>1</integer>
<key>bConfigurationValue</key><integer>1</integer><key>bInterfaceNumber</key><integer>0</integer>
<key>bInterfaceClass</key><integer>3</integer><key>bInterfaceProtocol</key><integer>1</integer>"
        K=$KBD1
        KI=$K/${K##*/}:1.0
        check usbsdk-kbd-reads 'report: $(cat "$REP"); log: $(tail -n 10 "$RINGD_LOG")' wait_for 30 rep_has "reading "
        check usbsdk-kbd-detaches-usbhid 'report: $(cat "$REP")' rep_has "claimed [0-9]+ interface=0 detached=usbhid"
        check usbsdk-kbd-no-evdev 'event nodes: $(ls /sys/class/input)' wait_for 10 no_event_node_of "$KBD1"
        check usbsdk-kbd-device-matches-sysfs '$(rep_line device)' sh -c \
                ". /tests/usbsdk.sh; REP=$REP; same_hex idVendor device $K/idVendor && same_hex idProduct device $K/idProduct \
                 && same_hex bcdDevice device $K/bcdDevice && [ \$(rep_field bNumConfigurations device) -eq \$((\$(cat $K/bNumConfigurations))) ] \
                 && [ \$(rep_field bMaxPacketSize0 device) -eq \$((\$(cat $K/bMaxPacketSize0))) ]"
        check usbsdk-kbd-strings-match-sysfs '$(rep_line strings) vs $(cat $K/product)' \
                grep -qF "strings product=$(cat "$K/product")|manufacturer=$(cat "$K/manufacturer")|" "$REP"
        check usbsdk-kbd-config-matches-sysfs '$(rep_line config)' sh -c \
                ". /tests/usbsdk.sh; REP=$REP; [ \$(rep_field bConfigurationValue config) -eq \$((\$(cat $K/bConfigurationValue))) ] \
                 && [ \$(rep_field bNumInterfaces config) -eq \$((\$(cat $K/bNumInterfaces))) ] && same_hex bmAttributes config $K/bmAttributes"
        EPX=$(printf '%u:%u:%u' "$(sysdec "$KI/ep_81/bmAttributes")" "$(sysdec "$KI/ep_81/wMaxPacketSize")" "$(sysdec "$KI/ep_81/bInterval")")
        check usbsdk-kbd-interface-matches-sysfs '$(rep_line interface) vs ep_81=$EPX' sh -c \
                ". /tests/usbsdk.sh; REP=$REP; same_hex bInterfaceClass interface $KI/bInterfaceClass \
                 && same_hex bInterfaceSubClass interface $KI/bInterfaceSubClass && same_hex bInterfaceProtocol interface $KI/bInterfaceProtocol \
                 && [ \$(rep_field bNumEndpoints interface) -eq \$(sysdec $KI/bNumEndpoints) ] && [ \$(rep_field ep_81 interface) = $EPX ]"
        check usbsdk-kbd-set-get-idle '$(rep_line set-idle)' rep_has "set-idle rc=0 get-idle rc=1 value=32"
        check usbsdk-kbd-get-report '$(rep_line get-report)' rep_has "get-report rc=8 keys=000000000000"
        check usbsdk-kbd-set-report-leds '$(rep_line set-report)' rep_has "set-report rc=[0-9]"
        check usbsdk-kbd-control-stall-epipe '$(rep_line control-stall)' rep_has "control-stall rc=-32"
        check usbsdk-kbd-sync-timeout '$(rep_line sync-timeout)' rep_has "sync-timeout rc=-110"
        check usbsdk-kbd-async-cancelled '$(grep -E "^(async|cancel)" "$REP")' sh -c \
                "grep -q '^async-submitted pending=1' $REP && grep -q '^cancel rc=0' $REP \
                 && grep -q '^async-cancel status=-125 actual=0 pending=0' $REP"
        SPID=$(rep_line claimed | awk '{print $2}')
        req keys f
        check usbsdk-kbd-interrupt-report 'report: $(cat "$REP")' wait_for 10 rep_has "report $SPID [0-9a-f]{2} [0-9a-f]{2} 09"
        check usbsdk-kbd-key-release 'report: $(cat "$REP")' wait_for 10 sh -c \
                "grep '^report $SPID ' $REP | tail -n1 | grep -q ' 00 00 00 00 00 00 00 00\$'"
        rm -rf "$ROOT/extensions/UsbSdkKbd.dext"
        check usbsdk-kbd-releases 'report: $(cat "$REP")' wait_for 20 rep_has "released $SPID"
        check usbsdk-kbd-usbhid-rebinds 'event nodes: $(ls /sys/class/input)' wait_for 20 event_node_of "$KBD1"
fi
sendfile usbsdk-kbd.report "$REP"
