#!/bin/bash
# SPDX-License-Identifier: MIT
# `ringctl match` driven as a user would: the sample catalogue, real macOS
# Info.plist files, JSON output checked field by field, and bad input.
. "$RK_TEST_SRCDIR/tests/cli-lib.sh"
S=$RK_TEST_SRCDIR/samples
M=$RK_TEST_SRCDIR/tests/data/macos

# json_eq NAME PYTHON-EXPR-ON-j EXPECTED   (reads $TMP/out as JSON)
json_eq() {
        local got
        got=$(python3 -c "import json,sys; j=json.load(open('$TMP/out')); print($2)" 2>&1)
        if [ "$got" = "$3" ]; then ok "$1"; else fail "$1" "got '$got', wanted '$3'"; fi
}

expect_rc keyboard-text 0 "$RINGCTL" match --catalogue "$S/catalogue" --device "$S/devices/usb-keyboard.plist"
expect_grep keyboard-text-first '1\. 90000 +com\.acme\.driver\.keyboard +AcmeKeyboard-exact'
expect_grep keyboard-text-logger 'category RKLogger'
expect_grep keyboard-text-rejected 'Mouse: bInterfaceProtocol'

expect_rc keyboard-json 0 "$RINGCTL" match --catalogue "$S/catalogue" --device "$S/devices/usb-keyboard.plist" --json
json_eq json-categories "[c['category'] for c in j['categories']]" "['IODefaultMatchCategory', 'RKLogger']"
json_eq json-order "[(x['personality'], x['score']) for x in j['categories'][0]['candidates']]" \
        "[('AcmeKeyboard-exact', 90000), ('HIDKeyboard', 60000), ('HIDGeneric', -1000)]"
json_eq json-fields "sorted(j['categories'][0]['candidates'][0].keys())" "['bundle', 'class', 'personality', 'score']"
json_eq json-rejected "sorted((r['personality'], r['key']) for r in j['rejected'])" \
        "[('AcmeKeyboard-anyproduct', 'bInterfaceClass'), ('E1000', 'IOProviderClass'), ('Mouse', 'bInterfaceProtocol')]"

# PCI registry properties are 4-byte little-endian data
expect_rc nic-json 0 "$RINGCTL" match --catalogue "$S/catalogue" --device "$S/devices/intel-nic.plist" --json
json_eq nic-match "[(x['bundle'], x['score']) for c in j['categories'] for x in c['candidates']]" \
        "[('com.example.net.e1000', 1000)]"

# real macOS kexts, unchanged: IntelMausi's long IOPCIMatch list, and
# IntelBluetoothFirmware's USB personalities in their own match category
mkdir -p "$TMP/mac"
cp "$M/IntelMausi.kext-Info.plist" "$M/IntelBluetoothFirmware.kext-Info.plist" "$TMP/mac/"
cat >"$TMP/i219.plist" <<'PL'
<plist version="1.0"><dict>
<key>IOClassChain</key><array><string>IOPCIDevice</string><string>IOService</string></array>
<key>vendor-id</key><data>hoAAAA==</data><key>device-id</key><data>uxUAAA==</data>
</dict></plist>
PL
expect_rc macos-mausi 0 "$RINGCTL" match --catalogue "$TMP/mac" --device "$TMP/i219.plist" --json
json_eq macos-mausi-winner "j['categories'][0]['candidates'][0]['class']" "IntelMausi"
bt_product=$(python3 - "$M/IntelBluetoothFirmware.kext-Info.plist" <<'PY'
import plistlib, sys
p = plistlib.load(open(sys.argv[1], 'rb'))['IOKitPersonalities']
first = sorted(p)[0]
print(p[first]['idVendor'], p[first]['idProduct'])
PY
)
read -r bt_vendor bt_prod <<<"$bt_product"
cat >"$TMP/bt.plist" <<PL
<plist version="1.0"><dict>
<key>IOClassChain</key><array><string>IOUSBHostDevice</string><string>IOUSBDevice</string><string>IOService</string></array>
<key>idVendor</key><integer>$bt_vendor</integer><key>idProduct</key><integer>$bt_prod</integer>
<key>bcdDevice</key><integer>1</integer><key>bDeviceClass</key><integer>224</integer>
<key>bDeviceSubClass</key><integer>1</integer><key>bDeviceProtocol</key><integer>1</integer>
</dict></plist>
PL
expect_rc macos-bluetooth 0 "$RINGCTL" match --catalogue "$TMP/mac" --device "$TMP/bt.plist" --json
json_eq macos-bluetooth-category "[(c['category'], len(c['candidates'])) for c in j['categories']]" \
        "[('IntelBluetoothFirmware', 1)]"
json_eq macos-bluetooth-score "j['categories'][0]['candidates'][0]['score']" "94000"

# errors: usage, malformed device, missing class chain, broken personality
expect_rc usage-no-device 2 "$RINGCTL" match --catalogue "$S/catalogue"
expect_rc usage-bad-flag 2 "$RINGCTL" match --bogus
printf '<plist><dict><key>IOClassChain</key><array><string>X</string></dict></plist>' >"$TMP/bad.plist"
expect_rc malformed-device 1 "$RINGCTL" match --catalogue "$S/catalogue" --device "$TMP/bad.plist"
expect_grep malformed-device-names-file "bad\.plist:1:[0-9]+: error"
printf '<plist><dict><key>IOName</key><string>x</string></dict></plist>' >"$TMP/nochain.plist"
expect_rc no-chain 1 "$RINGCTL" match --catalogue "$S/catalogue" --device "$TMP/nochain.plist"
expect_grep no-chain-key "key IOClassChain: missing"
mkdir -p "$TMP/cat"
cp "$S/catalogue/generic-hid.plist" "$TMP/cat/"
cat >"$TMP/cat/broken.plist" <<'PL'
<plist version="1.0"><dict>
<key>CFBundleIdentifier</key><string>com.example.broken</string>
<key>CFBundleVersion</key><string>1</string><key>CFBundlePackageType</key><string>DEXT</string>
<key>IOKitPersonalities</key><dict>
<key>NoProvider</key><dict><key>IOClass</key><string>X</string></dict>
<key>BadScore</key><dict><key>IOClass</key><string>X</string><key>IOProviderClass</key><string>IOService</string><key>IOProbeScore</key><string>high</string></dict>
</dict></dict></plist>
PL
expect_rc broken-catalogue 0 "$RINGCTL" match --catalogue "$TMP/cat" --device "$S/devices/usb-keyboard.plist"
expect_grep broken-names-personality "bundle com\.example\.broken: personality 'NoProvider': key IOProviderClass"
expect_grep broken-names-score "personality 'BadScore': key IOProbeScore: must be an integer"
expect_grep broken-left-out "2 personalities with errors left out"
expect_grep broken-others-match "HIDKeyboard"

finish
