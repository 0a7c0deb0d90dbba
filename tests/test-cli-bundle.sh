#!/bin/bash
# SPDX-License-Identifier: MIT
# ringctl bundle lint / info, driven the way a user does: sample bundles in
# tests/data/bundles, real macOS Info.plist files in tests/data/macos.
. "$(dirname "$0")/cli-lib.sh"
D="$RK_TEST_SRCDIR/tests/data"
G="$D/bundles/good"
B="$D/bundles/bad"

json_ok() { # NAME: $TMP/out is valid JSON
        if python3 -m json.tool "$TMP/out" >/dev/null 2>&1; then ok "$1"; else fail "$1" "invalid JSON: $(head -c 500 "$TMP/out")"; fi
}
# py NAME EXPR: evaluate a Python expression over the JSON in $TMP/out (as j)
py() {
        if python3 -c "import json,sys; j=json.load(open('$TMP/out')); sys.exit(0 if ($2) else 1)" 2>/dev/null; then
                ok "$1"
        else
                fail "$1" "($2) is false for: $(head -c 800 "$TMP/out")"
        fi
}

# ---- usage ----
expect_rc usage-none 2 "$RINGCTL" bundle
expect_rc usage-unknown-sub 2 "$RINGCTL" bundle frobnicate
expect_rc usage-lint-no-path 2 "$RINGCTL" bundle lint
expect_rc usage-lint-bad-option 2 "$RINGCTL" bundle lint --frob "$G/GoodDriver.dext"
expect_rc usage-info-two-paths 2 "$RINGCTL" bundle info "$G/GoodDriver.dext" "$G/GoodPCI.kext"
expect_rc help 0 "$RINGCTL" bundle --help
expect_grep help-text 'ringctl bundle lint \[--json\] PATH'
expect_rc help-lint 0 "$RINGCTL" bundle lint --help
expect_rc help-info 0 "$RINGCTL" bundle info --help

# ---- lint: good bundles ----
expect_rc lint-good-all 0 "$RINGCTL" bundle lint "$G/GoodDriver.dext" "$G/GoodPCI.kext" "$G/Codeless.kext" "$G/ExampleHost.app"
expect_grep lint-good-summary-dext '^com\.example\.driver\.GoodDriver: ok$'
expect_grep lint-good-summary-kext '^com\.example\.kext\.GoodPCI: ok$'
expect_grep lint-good-summary-app '^com\.example\.host: ok$'
expect_no_grep lint-good-no-errors 'error:'

# ---- lint: real macOS files ----
expect_rc lint-macos 0 "$RINGCTL" bundle lint "$D/macos/IntelMausi.kext-Info.plist" "$D/macos/IntelMausi.kext-Info.binary.plist" \
        "$D/macos/IntelBluetoothFirmware.kext-Info.plist" "$D/macos/USBPorts.kext-Info.plist"
expect_grep lint-macos-mausi '^as\.acidanthera\.mieze\.IntelMausi: ok$'
expect_grep lint-macos-usbports '^com\.dhinakg\.USBToolBox\.map: ok$'
expect_rc lint-template-warns 0 "$RINGCTL" bundle lint "$D/macos/Karabiner-DriverKit-VirtualHIDDevice.dext-Info.plist.in"
expect_grep lint-template-var "warning: .*key CFBundleIdentifier: unexpanded build variable '\\$\\(PRODUCT_BUNDLE_IDENTIFIER\\)'"
expect_grep lint-template-personality "personality 'org_pqrs_Karabiner_DriverKit_VirtualHIDKeyboard': key CFBundleIdentifier: unexpanded build variable"
expect_grep lint-template-summary ': 0 errors, 8 warnings$'

# ---- lint: bad bundles, one problem each ----
expect_rc lint-mismatch 1 "$RINGCTL" bundle lint "$B/Mismatch.dext"
expect_grep lint-mismatch-line "Mismatch\.dext/Contents/Info\.plist: error: bundle com\.example\.bad\.Mismatch: key CFBundlePackageType: 'KEXT' does not match the directory suffix \.dext \(expected 'DEXT'\)"
expect_grep lint-mismatch-summary '^com\.example\.bad\.Mismatch: 1 error, 0 warnings$'
expect_rc lint-version 1 "$RINGCTL" bundle lint "$B/BadVersion.kext"
expect_grep lint-version-line "key CFBundleVersion: '1\.2\.3\.4' is not a valid kext version"
expect_rc lint-missing-exec 1 "$RINGCTL" bundle lint "$B/MissingExec.dext"
expect_grep lint-missing-exec-line 'key CFBundleExecutable: Contents/MacOS/MissingExec does not exist'
expect_rc lint-codeless 1 "$RINGCTL" bundle lint "$B/Codeless.dext"
expect_grep lint-codeless-line 'a codeless dext must carry personalities'
expect_rc lint-personality 1 "$RINGCTL" bundle lint "$B/BadPersonality.kext"
expect_grep lint-personality-notdict "bundle com\.example\.bad\.BadPersonality: personality 'NotADict': a personality must be a dictionary, not a string"
# reported by the personality validator (match/personality.c)
expect_grep lint-personality-provider "personality 'NoProvider': key IOProviderClass: "
expect_grep lint-personality-score "personality 'NoProvider': key IOProbeScore: "
expect_no_grep lint-personality-fine "personality 'Fine'"
expect_rc lint-flat 1 "$RINGCTL" bundle lint "$B/Flat.dext"
expect_grep lint-flat-line 'the flat iOS layout\) is not supported: move it to Contents/Info\.plist'
expect_rc lint-malformed 1 "$RINGCTL" bundle lint "$B/Malformed.kext"
expect_grep lint-malformed-position "Malformed\.kext/Contents/Info\.plist:12:4: error: key IOKitPersonalities\.P\.IOProbeScore: malformed property list: invalid integer '12abc'"
expect_rc lint-child 1 "$RINGCTL" bundle lint "$B/BrokenChild.app"
expect_grep lint-child-named "bundle com\.example\.bad\.BrokenChild\.Driver: key CFBundleVersion: '1\.x'"
expect_grep lint-child-summary '^com\.example\.bad\.BrokenChild: 1 error, 0 warnings$'
expect_rc lint-types 1 "$RINGCTL" bundle lint "$B/WrongTypes.kext"
expect_grep lint-types-id 'WrongTypes\.kext: key CFBundleIdentifier: .* it contains white space'
expect_grep lint-types-version 'key CFBundleVersion: must be a string, not an array'
expect_grep lint-types-summary 'WrongTypes\.kext: 4 errors, 1 warning$'
expect_rc lint-missing-path 1 "$RINGCTL" bundle lint "$TMP/nope.kext"
expect_grep lint-missing-path-msg 'nope\.kext: error: .*cannot open: No such file or directory'
# good and bad together: every PATH gets its summary, exit 1
expect_rc lint-mixed 1 "$RINGCTL" bundle lint "$G/GoodDriver.dext" "$B/BadVersion.kext"
expect_grep lint-mixed-good '^com\.example\.driver\.GoodDriver: ok$'
expect_grep lint-mixed-bad '^com\.example\.bad\.BadVersion: 1 error, 0 warnings$'

# ---- lint: a symlink leaving the bundle ----
mkdir -p "$TMP/Esc.kext/Contents"
cp "$G/Codeless.kext/Contents/Info.plist" "$TMP/outside.plist"
ln -s "$TMP/outside.plist" "$TMP/Esc.kext/Contents/Info.plist"
expect_rc lint-escape 1 "$RINGCTL" bundle lint "$TMP/Esc.kext"
expect_grep lint-escape-msg 'Contents/Info\.plist leads outside the bundle \(to .*outside\.plist\): refused'

# ---- lint --json ----
expect_rc lint-json-good 0 "$RINGCTL" bundle lint --json "$G/GoodDriver.dext" "$G/ExampleHost.app"
json_ok lint-json-good-valid
py lint-json-good-shape "len(j['bundles']) == 2 and j['bundles'][0]['bundle'] == 'com.example.driver.GoodDriver' and j['bundles'][0]['kind'] == 'dext' and j['bundles'][0]['errors'] == 0 and j['bundles'][0]['diagnostics'] == [] and j['bundles'][1]['kind'] == 'app'"
expect_rc lint-json-bad 1 "$RINGCTL" bundle lint --json "$B/BadPersonality.kext" "$B/Malformed.kext" "$B/Flat.dext" "$TMP/nope.kext"
json_ok lint-json-bad-valid
py lint-json-bad-counts "[b['errors'] for b in j['bundles']] == [3, 1, 1, 1]"
py lint-json-bad-personality "any(d['personality'] == 'NotADict' and d['key'] is None and d['level'] == 'error' and d['bundle'] == 'com.example.bad.BadPersonality' for d in j['bundles'][0]['diagnostics'])"
py lint-json-bad-position "(lambda d: d['line'] == 12 and d['column'] == 4 and d['key'] == 'IOKitPersonalities.P.IOProbeScore')(j['bundles'][1]['diagnostics'][0])"
py lint-json-bad-unreadable "j['bundles'][3]['bundle'] is None and j['bundles'][3]['kind'] is None"
expect_rc lint-json-template 0 "$RINGCTL" bundle lint --json "$D/macos/Karabiner-DriverKit-VirtualHIDDevice.dext-Info.plist.in"
json_ok lint-json-template-valid
py lint-json-template-warnings "j['bundles'][0]['warnings'] == 8 and j['bundles'][0]['kind'] == 'plist' and all(d['level'] == 'warning' for d in j['bundles'][0]['diagnostics'])"

# ---- info ----
expect_rc info-dext 0 "$RINGCTL" bundle info "$G/GoodDriver.dext"
expect_grep info-dext-id '^identifier: +com\.example\.driver\.GoodDriver$'
expect_grep info-dext-kind '^kind: +dext$'
expect_grep info-dext-version '^version: +1\.0\.0$'
expect_grep info-dext-exec '^executable: +.*GoodDriver\.dext/Contents/MacOS/com\.example\.driver\.GoodDriver$'
expect_grep info-dext-personality '^  GoodDriver USB \(on IOUSBHostDevice\)$'
expect_rc info-codeless 0 "$RINGCTL" bundle info "$G/Codeless.kext"
expect_grep info-codeless-exec '^executable: +none \(codeless\)$'
expect_rc info-app 0 "$RINGCTL" bundle info "$G/ExampleHost.app"
expect_grep info-app-children '^children: +2$'
expect_grep info-app-child1 '^  - com\.example\.host\.Filter$'
expect_grep info-app-child2 '^  - com\.example\.host\.KbdDriver$'
expect_grep info-app-child-kind '^    kind: +systemextension$'
expect_rc info-json-app 0 "$RINGCTL" bundle info --json "$G/ExampleHost.app"
json_ok info-json-app-valid
py info-json-app-shape "j['bundle'] == 'com.example.host' and j['kind'] == 'app' and j['package_type'] == 'APPL' and [c['bundle'] for c in j['children']] == ['com.example.host.Filter', 'com.example.host.KbdDriver'] and j['children'][1]['personalities'][0]['provider_class'] == 'IOUSBHostInterface'"
expect_rc info-json-macos 0 "$RINGCTL" bundle info --json "$D/macos/IntelBluetoothFirmware.kext-Info.plist"
json_ok info-json-macos-valid
py info-json-macos-personalities "len(j['personalities']) == 10 and j['kind'] == 'plist' and j['executable'] == 'IntelBluetoothFirmware' and j['executable_path'] is None"
# info on a bundle with errors still describes it, problems on stderr, exit 1
expect_rc info-bad 1 "$RINGCTL" bundle info "$B/BadVersion.kext"
expect_grep info-bad-problem "error: .*key CFBundleVersion"
expect_grep info-bad-described '^identifier: +com\.example\.bad\.BadVersion$'
expect_rc info-unreadable 1 "$RINGCTL" bundle info "$B/Malformed.kext"

finish
