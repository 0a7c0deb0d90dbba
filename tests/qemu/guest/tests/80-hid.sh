# SPDX-License-Identifier: MIT
# The HID family's built-in driver from a codeless personality: the sample
# bundle samples/extensions/HIDKeyboard.dext maps the QEMU keyboard's hidraw
# nub to RKHIDEventDriver, which creates "ringkit HID keyboard (...)"
# through uinput; keys sent through QMP arrive there as EV_KEY presses and
# releases (a modifier included).  Then the latency of that path against the
# kernel's own (docs/hid.md), and the uinput device goes with the bundle.
#
# The report-descriptor parser's self-test runs first (its lines count as
# tests).  The built-in host runs sandboxed under its bundle's own uid:
# ringd opens /dev/uinput for it (rk_driver_open_device; the codeless
# bundle is unsigned, so developer mode stands in for the entitlement).
ringkit-builtin --self-test-hid | grep -E '^(ok   |FAIL )'

HIDKBD="ringkit HID keyboard (QEMU QEMU USB Keyboard)"
hidraw_nubs() { rctl registry | grep -c 'RKHIDRawDevice'; }
# the evdev node of the input device named $1
evdev_by_name() {
        for _e in /sys/class/input/event*; do
                [ "$(cat "$_e/device/name" 2>/dev/null)" = "$1" ] && { echo "/dev/input/${_e##*/}"; return 0; }
        done
        return 1
}
no_evdev_named() { ! evdev_by_name "$1"; }

# hid_key NAME NODE QCODE CODE: the host sends the key; its press and then
# its release arrive on NODE.  Unlike lib.sh's keys_arrive, other keys'
# events do not count: an earlier test can leave a key held in QEMU's
# keyboard, and a new input device reports it pressed with the next report.
hid_key() {
        _out=/tmp/hidkey.$$
        : >"$_out"
        rk-hidlat --key "$2" "$4" 10000 >"$_out" 2>&1 &
        _pid=$!
        if ! wait_for 5 grep -q ready "$_out"; then
                fail "$1" "rk-hidlat did not open $2: $(cat "$_out")"
                kill $_pid 2>/dev/null
                return 1
        fi
        req keys "$3"
        wait $_pid
        _rc=$?
        if [ $_rc -eq 0 ]; then ok "$1"; else fail "$1" "no press and release of key $4 on $2 (exit $_rc): $(cat "$_out")"; fi
}

# hid_latency NAME KERNEL-EVDEV RINGKIT-EVDEV [--lazy]: 100 keys through
# both paths, measured by rk-hidlat; its summary goes to the lane's output
hid_latency() {
        _n=100 _keys= _i=0
        while [ $_i -lt $_n ]; do
                for _q in a s d f g h j k l z x c v b n m q w e r t y u i o p 1 2 3 4 5 6 7 8 9 0; do
                        [ $_i -lt $_n ] && _keys="$_keys $_q" && _i=$((_i + 1))
                done
        done
        : >/tmp/hidlat.run
        # shellcheck disable=SC2086
        rk-hidlat $4 "$2" "$3" $((2 * _n)) 120000 >/tmp/hidlat.run 2>&1 &
        _lpid=$!
        if wait_for 5 grep -q ready /tmp/hidlat.run; then
                # shellcheck disable=SC2086
                req keys $_keys
                wait $_lpid
                _lrc=$?
                check "$1" 'rk-hidlat exit $_lrc: $(grep -v "^pair" /tmp/hidlat.run | tail -n 5)' [ "$_lrc" -eq 0 ]
                _sum=$(grep -E '^(hid latency|note: )' /tmp/hidlat.run | tr '\n' ' ')
                [ -n "$_sum" ] && note "$_sum"
        else
                fail "$1" "rk-hidlat did not start: $(cat /tmp/hidlat.run)"
                kill $_lpid 2>/dev/null
        fi
        cat /tmp/hidlat.run >>/tmp/hidlat
}

if [ "$(hidraw_nubs)" -eq 0 ]; then
        fail hid-hidraw-nubs "no RKHIDRawDevice nub in the registry (hidraw nodes: $(ls /dev | grep hidraw | tr '\n' ' ')); HID driver tests not run"
else
        : >/tmp/hidlat
        rm -rf /tmp/HIDKeyboard.dext
        cp -r /ringkit/samples/HIDKeyboard.dext /tmp/HIDKeyboard.dext
        install_bundle HIDKeyboard.dext /tmp/HIDKeyboard.dext
        check hid-driver-creates-uinput-device 'input devices: $(cat /sys/class/input/*/name 2>/dev/null | tr "\n" ","); log: $(grep -i hid "$RINGD_LOG" | tail -n 8)' \
                wait_for 20 evdev_by_name "$HIDKBD"
        EVH=$(evdev_by_name "$HIDKBD")
        rctl list >/tmp/out 2>&1
        check hid-driver-listed '$(cat /tmp/out)' grep -q 'org.ringkit.sample.hidkeyboard' /tmp/out
        rctl registry -l --json >/tmp/registry-hid.json 2>&1
        check hid-driver-publishes-input-name 'registry: $(grep -o "\"RKInputName\":\"[^\"]*\"" /tmp/registry-hid.json)' \
                grep -q "\"RKInputName\":\"$HIDKBD\"" /tmp/registry-hid.json
        if [ -n "$EVH" ]; then
                hid_key hid-key-a-press-release "$EVH" a 30
                hid_key hid-modifier-shift-press-release "$EVH" shift 42
                hid_key hid-key-enter-press-release "$EVH" ret 28
                hid_key hid-right-ctrl-press-release "$EVH" ctrl_r 97
                # Caps Lock's LED set on ringkit's input device (an EV_LED
                # input_event written to its evdev node: 16 bytes of time,
                # type 0x11, code 1, value 1) goes to the keyboard as an
                # output report; the driver publishes what it wrote
                printf '\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\021\000\001\000\001\000\000\000' >"$EVH"
                led_written() { rctl registry -l --json | grep -q '"RKHIDLEDs":2[,}]'; }
                check hid-caps-lock-led-output-report 'registry: $(rctl registry -l --json | grep -o "\"RKHID[A-Za-z]*\":[0-9]*" | tr "\n" " "); log: $(grep -i "LED" "$RINGD_LOG" | tail -n 3)' \
                        wait_for 10 led_written
                EVK=$(event_node_of "$KBD1")
                hid_latency hid-latency-measured "$EVK" "$EVH"
                hid_latency hid-latency-measured-lazy-reader "$EVK" "$EVH" --lazy
        fi
        sendfile hidlat.txt /tmp/hidlat

        # the bundle goes: the driver stops and its uinput device with it
        rm -rf "$ROOT/extensions/HIDKeyboard.dext"
        check hid-uinput-device-goes-with-bundle 'input devices: $(cat /sys/class/input/*/name 2>/dev/null | tr "\n" ",")' \
                wait_for 20 no_evdev_named "$HIDKBD"
        hid_key hid-kernel-path-still-works "$(event_node_of "$KBD1")" a 30

        # the tablet (generic desktop mouse with absolute X/Y 0..32767, three
        # buttons, a relative wheel): the driver's uinput device has those axes
        HIDTAB="ringkit HID mouse (QEMU QEMU USB Tablet)"
        stage=/tmp/HIDTablet.dext
        mkdir -p "$stage/Contents"
        cat >"$stage/Contents/Info.plist" <<PL
<plist version="1.0"><dict>
<key>CFBundleIdentifier</key><string>org.ringkit.test.hidtablet</string>
<key>CFBundleVersion</key><string>1.0</string>
<key>CFBundlePackageType</key><string>DEXT</string>
<key>IOKitPersonalities</key><dict>
<key>QEMUTablet</key><dict>
<key>IOClass</key><string>RKHIDEventDriver</string>
<key>IOProviderClass</key><string>RKHIDRawDevice</string>
<key>IOParentMatch</key><dict>
<key>IOProviderClass</key><string>IOHIDDevice</string>
<key>IOPropertyMatch</key><dict><key>PrimaryUsagePage</key><integer>1</integer><key>PrimaryUsage</key><integer>2</integer>
<key>Product</key><string>QEMU QEMU USB Tablet</string></dict>
</dict></dict></dict></dict></plist>
PL
        install_bundle HIDTablet.dext "$stage"
        check hid-tablet-uinput-device 'input devices: $(cat /sys/class/input/*/name 2>/dev/null | tr "\n" ","); log: $(grep -i tablet "$RINGD_LOG" | tail -n 5)' \
                wait_for 20 evdev_by_name "$HIDTAB"
        EVT=$(evdev_by_name "$HIDTAB")
        caps=/sys/class/input/${EVT##*/}/device/capabilities
        check hid-tablet-axes 'abs $(cat $caps/abs 2>&1), rel $(cat $caps/rel 2>&1), key $(cat $caps/key 2>&1)' \
                sh -c "[ \"\$(cat $caps/abs)\" = 3 ] && [ \"\$(cat $caps/rel)\" = 100 ] && cat $caps/key | grep -q '^70000 '"
        rm -rf "$ROOT/extensions/HIDTablet.dext"
        check hid-tablet-uinput-device-goes 'input devices: $(cat /sys/class/input/*/name 2>/dev/null | tr "\n" ",")' \
                wait_for 20 no_evdev_named "$HIDTAB"
fi
