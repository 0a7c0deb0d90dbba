# SPDX-License-Identifier: MIT
# Helpers of the USB family SDK's guest tests (6x-usb*.sh), sourced by each
# (a filtered run may skip the others).  REP is the dext's report file.

# usbsdk_bundle NAME EXECUTABLE IOUSERCLASS PROVIDERCLASS "MATCH-KEYS-XML" [EXTRA-KEYS-XML]: stage and install
usbsdk_bundle() {
        _st=/tmp/$1
        rm -rf "$_st"
        mkdir -p "$_st/Contents/MacOS"
        cp "/ringkit/bin/$2" "$_st/Contents/MacOS/$2"
        cat >"$_st/Contents/Info.plist" <<PL
<plist version="1.0"><dict>
<key>CFBundleIdentifier</key><string>org.ringkit.test.${1%.dext}</string>
<key>CFBundleVersion</key><string>1.0</string>
<key>CFBundlePackageType</key><string>DEXT</string>
<key>CFBundleExecutable</key><string>$2</string>
<key>IOKitPersonalities</key><dict>
<key>${1%.dext}</key><dict>
<key>IOClass</key><string>IOUserService</string>
<key>IOUserClass</key><string>$3</string>
<key>IOProviderClass</key><string>$4</string>
$5
<key>RKReportLog</key><string>$REP</string>
${6:-}
</dict></dict></dict></plist>
PL
        install_bundle "$1" "$_st"
}

# rep_has REGEX: a line of the report matches (extended regex, anchored at the start)
rep_has() { grep -Eq "^$1" "$REP"; }
rep_line() { grep -E "^$1" "$REP" | tail -n1; }
# rep_field KEY LINE-REGEX: the value of KEY=... on the last matching line
rep_field() { rep_line "$2" | tr ' ' '\n' | grep "^$1=" | head -n1 | cut -d= -f2-; }
# hex sysfs attribute to decimal
sysdec() { echo $((0x$(tr -d ' ' <"$1"))); }
# the report's field (hex) equals the sysfs attribute (hex): same_hex FIELD LINE-REGEX SYSFS-FILE
same_hex() { [ "$(( 0x$(rep_field "$1" "$2") ))" -eq "$(sysdec "$3")" ]; }
no_event_node_of() { ! event_node_of "$1"; }

# the boot-time sticks (QEMU usb-storage, told apart by their serial numbers: RKSTICK, and RKSLOW whose
# reads QEMU throttles to 2 MiB/s) and their kernel side; STICK_SERIAL chooses (default RKSTICK)
usb_by_serial() {
        for _d in /sys/bus/usb/devices/*; do
                [ -f "$_d/serial" ] && [ "$(cat "$_d/serial")" = "$1" ] && echo "$_d"
        done
        return 0
}
stick_dev() { usb_by_serial "${STICK_SERIAL:-RKSTICK}" | head -n1; }
# the personality keys of a stick's device nub: usbsdk_stick_match SERIAL
usbsdk_stick_match() {
        echo "<key>idVendor</key><integer>18164</integer><key>idProduct</key><integer>1</integer>
<key>IOPropertyMatch</key><dict><key>USB Serial Number</key><string>$1</string></dict>"
}
# the block device usb-storage made for it (sda...), by the sysfs path under the USB device
stick_block() {
        _s=$(readlink -f "$(stick_dev)")
        [ -n "$_s" ] || return 1
        for _b in /sys/block/sd*; do
                [ -e "$_b" ] || continue
                case "$(readlink -f "$_b")" in "$_s"/*) echo "${_b##*/}"; return 0 ;; esac
        done
        return 1
}
stick_usbfs() {
        _s=$(stick_dev)
        printf '/dev/bus/usb/%03d/%03d\n' "$(cat "$_s/busnum")" "$(cat "$_s/devnum")"
}
stick_driver() { _s=$(stick_dev); basename "$(readlink "$_s/${_s##*/}:1.0/driver" 2>/dev/null)" 2>/dev/null; }
stick_driver_is() { [ "$(stick_driver)" = "$1" ]; }
no_stick() { [ -z "$(stick_dev)" ]; }
