#!/bin/bash
# SPDX-License-Identifier: MIT
# Trust at launch, through a real ringd with developer mode off: a signed
# dext runs; its USB entitlement scopes it to its vendor's devices; a
# bundle signed under a root ringd does not trust is not tried; an
# executable changed on disk after verification is refused at its next
# launch, naming the file.
. "$RK_TEST_SRCDIR/tests/cli-lib.sh"
private_root
: "${RINGD:?}" "${TEST_DEXT:?}" "${RINGKIT_SIGN:?}" "${RINGKIT_BUILTIN:?}"
S=$RINGKIT_SIGN

REC=$TMP/record
mkdir -p "$EXT" "$TRUST"
chmod 755 "$TMP"
: >"$REC"
chmod 666 "$REC"

signing_setup TEAMU12345 "Usb Dev" 'com.apple.developer.driverkit.transport.*'
quiet $S ca create --out "$TMP/ca2" --name "Stranger Root"
quiet $S cert create --ca "$TMP/ca2" --team TEAMU12345 --name "Stranger" --out "$TMP/stranger" \
        --entitlements-allowed "$TMP/grants.plist"
write_entitlements "$TMP/usb.entitlements" com.apple.developer.driverkit org.ringkit.developer.virtual-devices \
        'com.apple.developer.driverkit.transport.usb=<array><dict><key>idVendor</key><integer>4660</integer></dict></array>'

# bundle ID PROVIDERCLASS CERT
bundle() {
        make_bundle "$EXT/$1.dext" "$1" DEXT "$TEST_DEXT" test-dext "<key>IOKitPersonalities</key><dict>
<key>Main</key><dict><key>IOClass</key><string>IOUserService</string>
<key>IOUserClass</key><string>RKTestDriver</string>
<key>IOProviderClass</key><string>$2</string>
<key>RKTestRecord</key><string>$REC</string>
<key>RKTestOpenDevice</key><string>uhid</string></dict>
</dict>"
        sign_bundle "$3" "$TMP/usb.entitlements" "$EXT/$1.dext"
}
bundle com.test.usbvendor IOUSBHostDevice dev
bundle com.test.stranger RKStrangerDevice stranger

rec_has() { grep -q -- "$1" "$REC"; }
rec_count() { grep -c -- "$1" "$REC"; }
log_has() { grep -q -- "$1" "$TMP/ringd.log"; }

if ringd_start --builtin "$RINGKIT_BUILTIN" --no-linux --sandbox-rw "$TMP" -v; then ok ringd-starts; else fail ringd-starts "$(tail "$TMP/ringd.log")"; finish; exit 1; fi
ringctl status --json >"$TMP/out"
expect_grep developer-mode-off '"developer_mode":false'

# --- signed, entitled: runs with every check on ---
a=$(ringctl virt add --class IOUSBHostDevice --property idVendor=0x1234 --property idProduct=1 --property IOName=ours)
wait_for 10 rec_has "start com.test.usbvendor" && ok signed-dext-runs || fail signed-dext-runs "$(tail -5 "$TMP/ringd.log")"
log_has "com.test.usbvendor: signature valid (team TEAMU12345)" && ok signature-verified-at-launch ||
        fail signature-verified-at-launch "$(grep usbvendor "$TMP/ringd.log" | head -3)"
ringctl status --json >"$TMP/out"
python3 -c "import json, sys; r = json.load(open('$TMP/out')).get('relaxations') or []; sys.exit(any('usbvendor' in x for x in r))" &&
        ok no-relaxation || fail no-relaxation "$(cat "$TMP/out")"

# --- no HID entitlement: ringd does not open /dev/uhid for it ---
wait_for 10 rec_has "devopen uhid" && grep -q "^devopen uhid EPERM" "$REC" && ok uhid-not-entitled-refused ||
        fail uhid-not-entitled-refused "$(grep devopen "$REC")"
log_has "com.test.usbvendor#[0-9]*: /dev/uhid refused: .*family.hid.device" && ok uhid-refusal-logged ||
        fail uhid-refusal-logged "$(grep uhid "$TMP/ringd.log" | tail -2)"

# --- a device of another vendor: the dext is not even tried ---
b=$(ringctl virt add --class IOUSBHostDevice --property idVendor=0x5678 --property idProduct=1 --property IOName=theirs)
wait_for 10 log_has "theirs: com.test.usbvendor (personality Main) not tried: idVendor not in com.apple.developer.driverkit.transport.usb" &&
        ok other-vendor-not-tried || fail other-vendor-not-tried "$(grep theirs "$TMP/ringd.log" | tail -3)"
sleep 0.3
[ "$(rec_count '^start com.test.usbvendor')" -eq 1 ] && ok other-vendor-no-driver || fail other-vendor-no-driver "$(cat "$REC")"

# --- signed under a root ringd does not trust: not tried, and the reason is given ---
c=$(ringctl virt add --class RKStrangerDevice --property IOName=stranger0)
wait_for 10 log_has "stranger0: com.test.stranger (personality Main) not tried: .*" && ok untrusted-not-tried ||
        fail untrusted-not-tried "$(grep -i stranger "$TMP/ringd.log" | tail -3)"
grep "stranger0: com.test.stranger (personality Main) not tried" "$TMP/ringd.log" | grep -qi "trust\|chain\|certificate" &&
        ok untrusted-reason-named || fail untrusted-reason-named "$(grep 'stranger0: com.test.stranger' "$TMP/ringd.log")"
rec_has "com.test.stranger" && fail untrusted-never-started "$(cat "$REC")" || ok untrusted-never-started

# --- the executable changed on disk after verification: refused at its next launch ---
ringctl virt remove "$a" >/dev/null
wait_for 10 rec_has "free com.test.usbvendor"
printf 'x' >>"$EXT/com.test.usbvendor.dext/Contents/MacOS/test-dext"
: >"$REC"
a=$(ringctl virt add --class IOUSBHostDevice --property idVendor=0x1234 --property idProduct=2 --property IOName=ours2)
wait_for 10 log_has "com.test.usbvendor#[0-9]*: not launched: .*test-dext: .*executable changed on disk after activation" &&
        ok tampered-exe-refused || fail tampered-exe-refused "$(grep usbvendor "$TMP/ringd.log" | tail -5)"
sleep 0.3
rec_has "start com.test.usbvendor" && fail tampered-exe-never-started "$(cat "$REC")" || ok tampered-exe-never-started
log_has "spare dropped: .*changed since it was spawned\|spare dropped: its bundle or executable changed" &&
        ok tampered-exe-spare-dropped || fail tampered-exe-spare-dropped "$(grep spare "$TMP/ringd.log" | tail -3)"

expect_rc ringd-still-up 0 ringctl status
ringd_shutdown
rc=$?
[ $rc -eq 0 ] && ok ringd-exit-status || fail ringd-exit-status "exit $rc"
expect_no_sanitizer_report ringd-sanitizers
finish
