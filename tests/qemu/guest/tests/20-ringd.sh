# SPDX-License-Identifier: MIT
# ringd with the Linux provider and no udev daemon: it publishes the USB
# keyboard (device and interface nubs, checked on the host from the JSON
# dump); a test dext installed while it runs, whose personality matches the
# keyboard by idVendor, idProduct and product name, starts on it -- and not
# on the tablet, which has the same IDs.
mkdir -p "$ROOT/extensions"
: >"$REC"
chmod 666 "$REC"
if start_ringd; then
        ok ringd-starts
else
        fail ringd-starts "$(tail -n 5 "$RINGD_LOG")"
        ABORT="ringd did not start"
        return 0
fi
rctl status --json >/tmp/out 2>&1
check linux-provider-on '$(cat /tmp/out)' grep -q '"linux_provider":true' /tmp/out
check kernel-uevent-monitor 'ringd log: $(grep linux: "$RINGD_LOG" | head -n 5)' \
        grep -q 'linux: .*kernel uevents' "$RINGD_LOG"

stage=/tmp/Kbd.dext
mkdir -p "$stage/Contents/MacOS"
cp /ringkit/bin/test-dext "$stage/Contents/MacOS/test-dext"
cat >"$stage/Contents/Info.plist" <<PL
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
install_bundle Kbd.dext "$stage"
check dext-starts-for-keyboard 'record: $(cat "$REC"); log: $(tail -n 20 "$RINGD_LOG")' wait_for 20 rec_has_n start 1
sleep 1 # a wrong match on the tablet would show by now
check dext-only-for-keyboard 'record: $(cat "$REC")' [ "$(rec_count start)" -eq 1 ]
TAG1=$(rec_last_tag start)
if ringd_has --no-sandbox; then
        # confined on Debian's kernel: own uid, no_new_privs, seccomp filter
        st=/proc/$(rec_pid start "$TAG1")/status
        check dext-sandboxed '$(grep -E "^(Uid|NoNewPrivs|Seccomp):" "$st")' \
                sh -c "grep -Eq '^Uid:[[:space:]]+[1-9]' $st && grep -Eq '^NoNewPrivs:[[:space:]]+1' $st && grep -Eq '^Seccomp:[[:space:]]+2' $st"
fi
check dext-task-limit 'log: $(grep limits: "$RINGD_LOG")' grep -q 'limits: at most' "$RINGD_LOG"
rctl list >/tmp/out 2>&1
check dext-listed '$(cat /tmp/out)' grep -q "$TAG1" /tmp/out
rctl registry -l --json >/tmp/registry-boot.json 2>&1
sendfile registry-boot.json /tmp/registry-boot.json
