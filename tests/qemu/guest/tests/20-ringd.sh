# SPDX-License-Identifier: MIT
# ringd with the Linux provider and no udev daemon: it publishes the USB
# keyboard (device and interface nubs, checked on the host from the JSON
# dump) and starts the test dext whose personality matches it by idVendor,
# idProduct and product name -- not the tablet, which has the same IDs.
mkdir -p "$ROOT/extensions/Kbd.dext/Contents/MacOS"
cp /ringkit/bin/test-dext "$ROOT/extensions/Kbd.dext/Contents/MacOS/test-dext"
: >"$REC"
cat >"$ROOT/extensions/Kbd.dext/Contents/Info.plist" <<PL
<plist version="1.0"><dict>
<key>CFBundleIdentifier</key><string>org.ringkit.test.qemukbd</string>
<key>CFBundleVersion</key><string>1.0</string>
<key>CFBundlePackageType</key><string>DEXT</string>
<key>CFBundleExecutable</key><string>test-dext</string>
<key>IOKitPersonalities</key><dict>
<key>QEMUKeyboard</key><dict>
<key>IOClass</key><string>IOUserService</string>
<key>IOUserClass</key><string>RKTestDriver</string>
<key>IOProviderClass</key><string>IOUSBHostDevice</string>
<key>idVendor</key><integer>1575</integer>
<key>idProduct</key><integer>1</integer>
<key>IOPropertyMatch</key><dict><key>USB Product Name</key><string>QEMU USB Keyboard</string></dict>
<key>RKTestRecord</key><string>$REC</string>
</dict></dict></dict></plist>
PL
ringd --root "$ROOT" --builtin /ringkit/bin/ringkit-builtin -v 2>"$RINGD_LOG" &
RINGD_PID=$!
if wait_for 30 rctl status; then ok ringd-starts; else fail ringd-starts "$(tail -n 20 "$RINGD_LOG")"; fi
rctl status --json >/tmp/out 2>&1
check linux-provider-on '$(cat /tmp/out)' grep -q '"linux_provider":true' /tmp/out
check kernel-uevent-monitor 'ringd log: $(grep linux: "$RINGD_LOG" | head -n 5)' \
        grep -q 'linux: .*kernel uevents' "$RINGD_LOG"
check dext-starts-for-keyboard 'record: $(cat "$REC"); log: $(tail -n 20 "$RINGD_LOG")' wait_for 20 rec_has_n start 1
sleep 1 # a wrong match on the tablet would show by now
check dext-only-for-keyboard 'record: $(cat "$REC")' [ "$(rec_count start)" -eq 1 ]
TAG1=$(rec_tags start | head -n1)
rctl list >/tmp/out 2>&1
check dext-listed '$(cat /tmp/out)' grep -q "$TAG1" /tmp/out
rctl registry -l --json >/tmp/registry-boot.json 2>&1
sendfile registry-boot.json /tmp/registry-boot.json
