# SPDX-License-Identifier: MIT
# The HID family's built-in driver from a codeless personality: the sample
# bundle samples/extensions/HIDKeyboard.dext maps the QEMU keyboard's hidraw
# nub to RKHIDEventDriver, which creates "ringkit HID keyboard (...)"
# through uinput; keys sent through QMP arrive there as EV_KEY presses and
# releases (a modifier included).  Then the latency of that path against the
# kernel's own (docs/hid.md), and the uinput device goes with the bundle.
#
# The report-descriptor parser's self-test runs first (its lines count as
# tests).  /dev/uinput is made world-writable here, standing in for the
# udev rule a distribution would ship for ringkit's built-in host: ringd
# grants the node through landlock, but the host runs under its bundle's
# own uid and devtmpfs creates the node 0600 root.
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

if [ "$(hidraw_nubs)" -eq 0 ]; then
        # this ringd's Linux provider does not publish hidraw devices
        # (rk_linux_default_subsystems lacks "hidraw"): nothing to match
        note "hid: no RKHIDRawDevice nub in the registry (hidraw nodes: $(ls /dev | grep hidraw | tr '\n' ' ')); the HID driver tests are skipped"
else
        chmod 0666 /dev/uinput
        rm -rf /tmp/HIDKeyboard.dext
        cp -r /ringkit/samples/HIDKeyboard.dext /tmp/HIDKeyboard.dext
        install_bundle HIDKeyboard.dext /tmp/HIDKeyboard.dext
        check hid-driver-creates-uinput-device 'input devices: $(cat /sys/class/input/*/name 2>/dev/null | tr "\n" ","); log: $(grep -i hid "$RINGD_LOG" | tail -n 8)' \
                wait_for 20 evdev_by_name "$HIDKBD"
        rctl list >/tmp/out 2>&1
        check hid-driver-listed '$(cat /tmp/out)' grep -q 'org.ringkit.sample.hidkeyboard' /tmp/out
        rctl registry -l --json >/tmp/registry-hid.json 2>&1
        check hid-driver-publishes-input-name 'registry: $(grep -o "\"RKInputName\":\"[^\"]*\"" /tmp/registry-hid.json)' \
                grep -q "\"RKInputName\":\"$HIDKBD\"" /tmp/registry-hid.json
        EVH=$(evdev_by_name "$HIDKBD")
        keys_arrive hid-key-a-press-release "$EVH" a 30
        keys_arrive hid-modifier-shift-press-release "$EVH" shift 42
        keys_arrive hid-key-enter-press-release "$EVH" ret 28
        keys_arrive hid-right-ctrl-press-release "$EVH" ctrl_r 97

        # latency: the same reports through the kernel's path and ours
        EVK=$(event_node_of "$KBD1")
        n=100
        keys=
        i=0
        while [ $i -lt $n ]; do
                for q in a s d f g h j k l z x c v b n m q w e r t y u i o p 1 2 3 4 5 6 7 8 9 0; do
                        [ $i -lt $n ] && keys="$keys $q" && i=$((i + 1))
                done
        done
        : >/tmp/hidlat
        rk-hidlat "$EVK" "$EVH" $((2 * n)) 120000 >/tmp/hidlat 2>&1 &
        lpid=$!
        if wait_for 5 grep -q ready /tmp/hidlat; then
                # shellcheck disable=SC2086
                req keys $keys
                wait $lpid
                lrc=$?
                summary=$(grep '^hid latency:' /tmp/hidlat)
                check hid-latency-measured 'rk-hidlat exit $lrc: $(grep -v "^pair" /tmp/hidlat | tail -n 5)' [ "$lrc" -eq 0 ]
                [ -n "$summary" ] && note "$summary"
        else
                fail hid-latency-measured "rk-hidlat did not start: $(cat /tmp/hidlat)"
                kill $lpid 2>/dev/null
        fi
        sendfile hidlat.txt /tmp/hidlat

        # the bundle goes: the driver stops and its uinput device with it
        rm -rf "$ROOT/extensions/HIDKeyboard.dext"
        check hid-uinput-device-goes-with-bundle 'input devices: $(cat /sys/class/input/*/name 2>/dev/null | tr "\n" ",")' \
                wait_for 20 no_evdev_named "$HIDKBD"
        keys_arrive hid-kernel-path-still-works "$(event_node_of "$KBD1")" a 30
fi
