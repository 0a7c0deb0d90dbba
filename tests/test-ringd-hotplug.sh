#!/bin/bash
# SPDX-License-Identifier: MIT
# Real Linux hot-plug through ringd: creating a TAP interface starts the
# dext whose personality matches it (by its BSD name), deleting it stops
# the dext; attaching a loop device (a uevent "change") is seen too.
# Needs root and /dev/net/tun, as CI has.
. "$RK_TEST_SRCDIR/tests/cli-lib.sh"
: "${RINGD:?}" "${TEST_DEXT:?}" "${RINGKIT_BUILTIN:?}"

if [ "$(id -u)" -ne 0 ] || [ ! -c /dev/net/tun ]; then
        fail hotplug-prerequisites "needs root and /dev/net/tun"
        finish
        exit 1
fi

ROOT=$TMP/root
EXT=$ROOT/extensions
REC=$TMP/record
TAP=rktap$$
TAP=${TAP:0:15}
mkdir -p "$EXT/Tap.dext/Contents/MacOS"
# the dext runs sandboxed as its own uid; it may write the record (ringd --sandbox-rw "$TMP")
chmod 755 "$TMP"
: >"$REC"
chmod 666 "$REC"
cp "$TEST_DEXT" "$EXT/Tap.dext/Contents/MacOS/test-dext"
cat >"$EXT/Tap.dext/Contents/Info.plist" <<PL
<plist version="1.0"><dict>
<key>CFBundleIdentifier</key><string>com.test.tap</string>
<key>CFBundleVersion</key><string>1.0</string>
<key>CFBundlePackageType</key><string>DEXT</string>
<key>CFBundleExecutable</key><string>test-dext</string>
<key>IOKitPersonalities</key><dict>
<key>TapDriver</key><dict>
<key>IOClass</key><string>IOUserService</string><key>IOUserClass</key><string>RKTestDriver</string>
<key>IOProviderClass</key><string>RKLinuxDevice</string>
<key>IOPropertyMatch</key><dict><key>BSD Name</key><string>$TAP</string></dict>
<key>RKTestRecord</key><string>$REC</string>
</dict></dict></dict></plist>
PL

# a loop device whose backing file is ours: its driver reads it through the handle ringd gives it
printf 'RINGKIT-LOOP-%s-DATA' $$ >"$TMP/backing"
truncate -s 1M "$TMP/backing"
mkdir -p "$EXT/Loop.dext/Contents/MacOS"
cp "$TEST_DEXT" "$EXT/Loop.dext/Contents/MacOS/test-dext"
cat >"$EXT/Loop.dext/Contents/Info.plist" <<PL
<plist version="1.0"><dict>
<key>CFBundleIdentifier</key><string>com.test.loop</string>
<key>CFBundleVersion</key><string>1.0</string>
<key>CFBundlePackageType</key><string>DEXT</string>
<key>CFBundleExecutable</key><string>test-dext</string>
<key>IOKitPersonalities</key><dict>
<key>LoopDriver</key><dict>
<key>IOClass</key><string>IOUserService</string><key>IOUserClass</key><string>RKTestDriver</string>
<key>IOProviderClass</key><string>RKLinuxDevice</string>
<key>IOPropertyMatch</key><dict><key>RKLoopBackingFile</key><string>$TMP/backing</string></dict>
<key>RKTestRecord</key><string>$REC</string>
<key>RKTestHandleRead</key><true/>
</dict></dict></dict></plist>
PL
LOOP=

cleanup() {
        [ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null
        ip link del "$TAP" 2>/dev/null
        [ -n "${RINGD_PID:-}" ] && kill "$RINGD_PID" 2>/dev/null && wait "$RINGD_PID" 2>/dev/null
        rm -rf "$TMP"
}
trap cleanup EXIT

rec_has() { grep -q -- "$1" "$REC"; }

"$RINGD" --root "$ROOT" --builtin "$RINGKIT_BUILTIN" --sandbox-rw "$TMP" -v 2>"$TMP/ringd.log" &
RINGD_PID=$!
if wait_for 20 "$RINGCTL" --root "$ROOT" status; then ok ringd-with-linux-starts; else fail ringd-with-linux-starts "$(tail "$TMP/ringd.log")"; fi
"$RINGCTL" --root "$ROOT" status --json >"$TMP/out"
expect_grep linux-provider-on '"linux_provider":true'
"$RINGCTL" --root "$ROOT" registry >"$TMP/out"
expect_grep registry-has-lo '"?lo"?'
# the test bundle is unsigned: it runs in developer mode
expect_rc developer-on 0 "$RINGCTL" --root "$ROOT" developer on

ip tuntap add dev "$TAP" mode tap || fail tap-create "ip tuntap add failed"
if wait_for 10 rec_has "start com.test.tap"; then ok tap-add-starts-dext; else fail tap-add-starts-dext "$(grep -i "$TAP\|tap" "$TMP/ringd.log" | tail)"; fi
"$RINGCTL" --root "$ROOT" list --json >"$TMP/out"
expect_grep tap-listed "\"provider_name\":\"$TAP\""
ip tuntap del dev "$TAP" mode tap
if wait_for 10 rec_has "free com.test.tap"; then ok tap-remove-stops-dext; else fail tap-remove-stops-dext "$(cat "$REC")"; fi
order=$(awk '{print $1}' "$REC" | tr '\n' ' ')
[ "$order" = "init probe start stop free " ] && ok tap-lifecycle-order || fail tap-lifecycle-order "$order"

# again: the same name comes back, a new instance starts
: >"$REC"
ip tuntap add dev "$TAP" mode tap
wait_for 10 rec_has "start com.test.tap" && ok tap-readd-starts-again || fail tap-readd-starts-again "$(cat "$REC")"
ip tuntap del dev "$TAP" mode tap
wait_for 10 rec_has "free com.test.tap" && ok tap-readd-stops || fail tap-readd-stops "$(cat "$REC")"

# --- a real block device: the sandboxed driver gets its node as a handle, and cannot open it itself ---
: >"$REC"
if LOOP=$(losetup -f --show "$TMP/backing" 2>/dev/null); then
        if wait_for 10 rec_has "start com.test.loop"; then ok loop-attach-starts-dext
        else fail loop-attach-starts-dext "$(grep -i loop "$TMP/ringd.log" | tail -5)"; fi
        grep -q "^handle dev RINGKIT-LOOP-$$-DATA" "$REC" && ok loop-handle-reads-device ||
                fail loop-handle-reads-device "$(cat "$REC")"
        grep -q "^selfopen EACCES" "$REC" && ok loop-sandbox-cannot-open-node ||
                fail loop-sandbox-cannot-open-node "$(cat "$REC")"
        losetup -d "$LOOP"
        LOOP=
else
        fail loop-attach "losetup failed"
fi

"$RINGCTL" --root "$ROOT" shutdown
wait "$RINGD_PID"
rc=$?
RINGD_PID=
[ $rc -eq 0 ] && ok ringd-exit-status || fail ringd-exit-status "exit $rc"
grep -q "runtime error\|ERROR: AddressSanitizer\|ERROR: LeakSanitizer: detected" "$TMP/ringd.log" &&
        fail ringd-sanitizers "$(grep -A8 'runtime error\|Sanitizer' "$TMP/ringd.log" | head -30)" || ok ringd-sanitizers
finish
