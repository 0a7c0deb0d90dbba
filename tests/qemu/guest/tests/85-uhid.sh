# SPDX-License-Identifier: MIT
# A dext makes a virtual HID keyboard through uhid, the way a DriverKit
# IOUserHIDDevice does.  The sandboxed dext cannot open /dev/uhid: it asks
# ringd (rk_driver_open_device), which opens it for a bundle entitled to
# the HID device family (developer mode here: the bundle is unsigned).  The
# kernel then drives the device like a real one: an input device of that
# name appears, ringd publishes its hidraw nub, and the key the dext types
# arrives on the device's evdev node.  Stopping the dext (its bundle goes)
# closes the descriptor, and the device goes with it.
UHIDKBD="ringkit uhid keyboard"
evdev_named() {
        for _e in /sys/class/input/event*; do
                [ "$(cat "$_e/device/name" 2>/dev/null)" = "$1" ] && { echo "/dev/input/${_e##*/}"; return 0; }
        done
        return 1
}
no_evdev_named() { ! evdev_named "$1"; }
registry_has() { rctl registry -l --json | grep -q "$1"; }

if [ ! -e /dev/uhid ]; then
        fail uhid-node "no /dev/uhid in the guest (module uhid not loaded?)"
else
        stage=/tmp/UHID.dext
        rm -rf "$stage"
        mkdir -p "$stage/Contents/MacOS"
        cp /ringkit/bin/test-dext "$stage/Contents/MacOS/test-dext"
        cat >"$stage/Contents/Info.plist" <<PL
<plist version="1.0"><dict>
<key>CFBundleIdentifier</key><string>org.ringkit.test.uhid</string>
<key>CFBundleVersion</key><string>1.0</string>
<key>CFBundlePackageType</key><string>DEXT</string>
<key>CFBundleExecutable</key><string>test-dext</string>
<key>IOKitPersonalities</key><dict>
<key>VirtualKeyboard</key><dict>
<key>IOClass</key><string>IOUserService</string>
<key>IOUserClass</key><string>RKTestDriver</string>
<key>IOProviderClass</key><string>RKUHIDMaker</string>
<key>RKTestRecord</key><string>$REC</string>
<key>RKTestUHID</key><string>$UHIDKBD</string>
</dict></dict></dict></plist>
PL
        install_bundle UHID.dext "$stage"
        sleep 1
        out=/tmp/uhidkey.$$
        : >"$out"
        vid=$(rctl virt add --class RKUHIDMaker --property IOName=uhidmaker)
        check uhid-dext-created-device 'record: $(grep uhid "$REC"); log: $(grep -i uhid "$RINGD_LOG" | tail -n 5)' \
                wait_for 20 grep -q "^uhid created" "$REC"
        check uhid-ringd-opened-it 'log: $(grep -i uhid "$RINGD_LOG" | tail -n 5)' \
                grep -q "org.ringkit.test.uhid#[0-9]*: hands /dev/uhid to its driver" "$RINGD_LOG"
        check uhid-kernel-input-device 'input devices: $(cat /sys/class/input/*/name 2>/dev/null | tr "\n" ",")' \
                wait_for 20 evdev_named "$UHIDKBD"
        node=$(evdev_named "$UHIDKBD")
        # the dext types "a" every 500 ms: read a press and its release on the kernel's evdev node
        if [ -n "$node" ]; then
                rk-evread "$node" 2 10000 >"$out" 2>&1
                if grep -q "^key 30 1" "$out" && grep -q "^key 30 0" "$out"; then ok uhid-key-arrives
                else fail uhid-key-arrives "evread: $(cat "$out"); record: $(grep uhid "$REC")"; fi
        else
                fail uhid-key-arrives "no evdev node"
        fi
        check uhid-hidraw-nub-published 'registry: $(rctl registry | grep -i hid | head -n 5)' \
                wait_for 20 registry_has "$UHIDKBD"
        rctl virt remove "$vid" >/dev/null 2>&1
        check uhid-device-goes-with-dext 'input devices: $(cat /sys/class/input/*/name 2>/dev/null | tr "\n" ",")' \
                wait_for 20 no_evdev_named "$UHIDKBD"
        rm -rf "$ROOT/extensions/UHID.dext"
fi
