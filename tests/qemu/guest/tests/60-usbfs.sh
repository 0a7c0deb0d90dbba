# SPDX-License-Identifier: MIT
# A user-space USB driver: rk-usbkbd-dext takes the keyboard's interface
# from usbhid through usbfs and reads its interrupt endpoint itself.  Killed
# with a URB in flight, it is restarted and reads again; when its bundle is
# removed it gives the interface back and the kernel's evdev path works.
#
# ringd hands the dext a usbfs descriptor of its device (a fresh one per
# instance); the dext runs sandboxed and could not open the node itself.
REPORTS=$RW/reports
: >"$REPORTS"
chmod 666 "$REPORTS"
usb_stage=/tmp/UsbKbd.dext
mkdir -p "$usb_stage/Contents/MacOS"
cp /ringkit/bin/rk-usbkbd-dext "$usb_stage/Contents/MacOS/rk-usbkbd-dext"
cat >"$usb_stage/Contents/Info.plist" <<PL
<plist version="1.0"><dict>
<key>CFBundleIdentifier</key><string>org.ringkit.test.usbkbd</string>
<key>CFBundleVersion</key><string>1.0</string>
<key>CFBundlePackageType</key><string>DEXT</string>
<key>CFBundleExecutable</key><string>rk-usbkbd-dext</string>
<key>IOKitPersonalities</key><dict>
<key>QEMUKeyboardUSB</key><dict>
<key>IOClass</key><string>IOUserService</string>
<key>IOUserClass</key><string>RKQEMUUSBKeyboard</string>
<key>IOProviderClass</key><string>IOUSBHostDevice</string>
<key>IOMatchCategory</key><string>RKQEMUUSBRead</string>
<key>idVendor</key><integer>1575</integer>
<key>idProduct</key><integer>1</integer>
<key>IOPropertyMatch</key><dict><key>USB Product Name</key><string>QEMU USB Keyboard</string></dict>
<key>RKReportLog</key><string>$REPORTS</string>
</dict></dict></dict></plist>
PL
install_bundle UsbKbd.dext "$usb_stage"

claims() { grep -c '^claimed ' "$REPORTS" 2>/dev/null || true; }
has_claims() { [ "$(claims)" -ge "$1" ]; }
# a report from pid $1 with HID usage $2 pressed (first key slot, byte 2)
has_report() { grep -Eq "^report $1 [0-9a-f]{2} [0-9a-f]{2}( [0-9a-f]{2})* $2( |\$)" "$REPORTS"; }
# the last report from pid $1 has every key up: wait for it before plugging
# another keyboard, or QEMU sends the release to the newest one
keys_up() { grep "^report $1 " "$REPORTS" | tail -n1 | grep -q " 00 00 00 00 00 00 00 00\$"; }
no_event_node() { ! event_node_of "$KBD1"; }

check usbfs-dext-claims-interface 'reports: $(cat "$REPORTS"); log: $(tail -n 10 "$RINGD_LOG")' wait_for 20 has_claims 1
UPID=$(grep '^claimed ' "$REPORTS" | tail -n1 | awk '{print $2}')
check usbfs-handle-from-ringd 'reports: $(cat "$REPORTS")' grep -q "^claimed $UPID .* handle\$" "$REPORTS"
if ringd_has --no-sandbox; then
        check usbfs-dext-sandboxed '$(grep -E "^(Uid|Seccomp):" /proc/$UPID/status)' \
                sh -c "grep -Eq '^Uid:[[:space:]]+[1-9]' /proc/$UPID/status && grep -Eq '^Seccomp:[[:space:]]+2' /proc/$UPID/status"
fi
check usbfs-detaches-usbhid 'event nodes: $(ls /sys/class/input)' wait_for 10 no_event_node
IF1=${KBD1##*/}:1.0
# usbfs claims an interface without a uevent (only usbhid's unbind is
# sent), so the nub shows usbfs or no driver -- but not a stale usbhid
nub_not_usbhid() { nub_props "$1" >/tmp/nubp && [ -s /tmp/nubp ] && ! grep -q '"RKDriver":"usbhid"' /tmp/nubp; }
check interface-nub-drops-usbhid 'sysfs driver: $(readlink /sys/bus/usb/devices/$IF1/driver); nub: $(nub_props "$IF1")' \
        wait_for 10 nub_not_usbhid "$IF1"
req keys c
check usbfs-dext-reads-interrupt-endpoint 'reports: $(cat "$REPORTS")' wait_for 10 has_report "$UPID" 06

# killed with its interrupt URB in flight
kill -9 "$UPID"
check usbfs-dext-restarted 'reports: $(cat "$REPORTS"); log: $(tail -n 10 "$RINGD_LOG")' wait_for 20 has_claims 2
UPID=$(grep '^claimed ' "$REPORTS" | tail -n1 | awk '{print $2}')
req keys d
check usbfs-restarted-dext-reads-again 'reports: $(cat "$REPORTS")' wait_for 10 has_report "$UPID" 07
check usbfs-dext-reads-key-release 'reports: $(cat "$REPORTS")' wait_for 10 keys_up "$UPID"

# a second keyboard gets its own instance; unplugged with its URB in
# flight, that instance is stopped and the first one reads on
req plug usb-kbd kbd3
check usbfs-dext-claims-hotplugged 'reports: $(cat "$REPORTS"); log: $(tail -n 10 "$RINGD_LOG")' wait_for 30 has_claims 3
UPID3=$(grep '^claimed ' "$REPORTS" | tail -n1 | awk '{print $2}')
req unplug kbd3
check usbfs-unplug-stops-instance 'reports: $(cat "$REPORTS"); log: $(tail -n 10 "$RINGD_LOG")' \
        wait_for 20 grep -q "^released $UPID3" "$REPORTS"
check usbfs-unplugged-instance-exits 'ps: $(ps | grep usbkbd)' wait_for 20 sh -c "! kill -0 $UPID3 2>/dev/null"
req keys h
check usbfs-first-instance-reads-on 'reports: $(cat "$REPORTS")' wait_for 10 has_report "$UPID" 0b

# bundle removed: the dext stops and hands the interface back to usbhid
rm -rf "$ROOT/extensions/UsbKbd.dext"
check usbfs-dext-releases 'reports: $(cat "$REPORTS")' wait_for 20 grep -q "^released $UPID" "$REPORTS"
check usbhid-rebinds 'event nodes: $(ls /sys/class/input)' wait_for 20 event_node_of "$KBD1"
check interface-nub-driver-usbhid-again 'nub: $(nub_props "$IF1")' wait_for 10 nub_driver_is "$IF1" usbhid
keys_arrive keys-via-kernel-after-usbfs-dext "$(event_node_of "$KBD1")" e 18
sendfile reports "$REPORTS"
TAG1=$(rec_last_tag start)
