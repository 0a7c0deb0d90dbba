#!/bin/bash
# SPDX-License-Identifier: MIT
# Extension activation end to end (docs/activation.md): a real ringd in a
# private root with a trust store, apps in ROOT/Applications carrying signed
# dexts, driven through ringctl.  Covers activation -> approval -> a driver
# running on a virtual device, already active, replacement accepted and
# refused, downgrade refused and forced, deny, deactivate, persistence over a
# restart, every signature refusal (tampered, unsigned, wrong team, expired,
# untrusted, revoked, missing entitlement), the app location rule,
# developer-mode relaxations shown in status, reset, and malformed requests.
. "$RK_TEST_SRCDIR/tests/cli-lib.sh"
private_root
: "${RINGD:?}" "${TEST_DEXT:?}" "${RINGKIT_SIGN:?}" "${RINGKIT_BUILTIN:?}"
S=$RINGKIT_SIGN
STORE=$ROOT/var/lib/ringkit/store
REC=$TMP/record
mkdir -p "$APPS" "$TRUST" "$EXT"
# dexts run sandboxed as their own uid: they may write the record (ringd --sandbox-rw "$TMP")
chmod 755 "$TMP"
: >"$REC"
chmod 666 "$REC"

# --- certificates and the trust store ---
signing_setup TEAMA12345 "Jo Dev"
quiet $S ca create --out "$TMP/ca2" --name "Stranger Root"
quiet $S cert create --ca "$TMP/ca" --team TEAMB67890 --name "Mallory" --out "$TMP/other"
quiet $S cert create --ca "$TMP/ca" --team TEAMA12345 --name "Old Dev" --out "$TMP/expired" --expired
quiet $S cert create --ca "$TMP/ca2" --team TEAMA12345 --name "Local Dev" --out "$TMP/stranger"
quiet $S cert create --ca "$TMP/ca" --team TEAMA12345 --name "Gone Dev" --out "$TMP/revoked"
quiet $S ca crl --ca "$TMP/ca" --revoke "$TMP/revoked/developer.pem" --out "$TRUST/root.crl.pem"
write_entitlements "$TMP/dext.entitlements" com.apple.developer.driverkit org.ringkit.developer.virtual-devices

# make_app NAME ID VERSION CLASS [EXT-CERT|none] [APP-CERT|none] [DIR] [APP-ENTITLEMENTS]
# An app carrying one dext (the test dext, matching CLASS, recording to $REC).
make_app() {
        local cert=${5:-dev}
        EXT_KIND=dext BUNDLE_VERSION=$3 EXT_CERT=$cert APP_CERT=${6:-$cert} APP_DIR=${7:-$APPS} \
                APP_ENTITLEMENTS=${8-$TMP/app.entitlements} make_app_with "$1" "$2" "$TEST_DEXT" test-dext \
                "$TMP/dext.entitlements" "<key>IOKitPersonalities</key><dict>
<key>Main</key><dict><key>IOClass</key><string>IOUserService</string>
<key>IOUserClass</key><string>RKTestDriver</string>
<key>IOProviderClass</key><string>$4</string>
<key>RKTestRecord</key><string>$REC</string></dict>
</dict>"
}

rec_has() { grep -q -- "$1" "$REC"; }
rec_ge() { [ "$(grep -c -- "$2" "$REC")" -ge "$1" ]; }
# rows ID: the extension rows of ID as JSON in $TMP/out
rows() { ringctl list --json >"$TMP/out.all" 2>&1; "$PY" -c "
import json; j=json.load(open('$TMP/out.all'))
print(json.dumps([e for e in j['extensions'] if e['identifier']=='$1']))" >"$TMP/out"; }
# state_of ID VERSION: the state_id of that version (for wait_for)
state_is() {
        ringctl list --json 2>/dev/null | "$PY" -c "
import json,sys; j=json.load(sys.stdin)
sys.exit(0 if any(e['identifier']=='$1' and e['version']=='$2' and e['state_id']=='$3' for e in j['extensions']) else 1)"
}
store_versions() { # store_versions ID: the version directories in the store, sorted
        ls "$STORE"/*/"$1" 2>/dev/null | sed 's/-[0-9a-f]*$//' | sort | tr '\n' ' '
}
no_running() { ! ringctl list --json | grep -q "\"bundle\":\"$1\""; }

start_ringd() { ringd_start --builtin "$RINGKIT_BUILTIN" --no-linux --step-timeout 3000 --sandbox-rw "$TMP" -v; }

if start_ringd; then ok ringd-starts; else fail ringd-starts "$(tail -20 "$TMP/ringd.log")"; finish; exit 1; fi
ringctl status --json >"$TMP/out"
jcheck status-trust-store "j['trust_store'] == '$TRUST'"
jcheck status-app-dirs "j['application_dirs'] == ['$APPS']"
jcheck status-no-relaxations "j['relaxations'] == [] and j['developer_mode'] == False"

# --- the happy path: activate, approve, the driver runs ---
make_app Foo com.test.act 1.0 RKActDevice
expect_rc activate 0 ringctl activate "$APPS/Foo.app" com.test.act
expect_grep activate-says-waiting 'com.test.act: version 1.0 activated, waiting for approval'
rows com.test.act
jcheck activate-row "len(j) == 1 and j[0]['state'] == 'activated waiting for user' and j[0]['team'] == 'TEAMA12345' and j[0]['app_path'] == '$APPS/Foo.app' and j[0]['enabled'] == False and j[0]['active'] == True"
jcheck activate-store-path "j[0]['store_path'].startswith('$STORE/TEAMA12345/com.test.act/1.0-') and j[0]['store_path'].endswith('/com.test.act.dext')"
[ "$(store_versions com.test.act)" = "1.0 " ] && ok activate-stored || fail activate-stored "$(find "$STORE")"
[ -f "$("$PY" -c "import json; print(json.load(open('$TMP/out'))[0]['store_path'])")/Contents/MacOS/test-dext" ] &&
        ok activate-store-copy || fail activate-store-copy "$(find "$STORE")"
dev_id=$(ringctl virt add --class RKActDevice --property IOName=act0)
sleep 0.5
rec_has "start com.test.act" && fail not-before-approval "$(cat "$REC")" || ok not-before-approval
expect_rc approve 0 ringctl approve com.test.act
expect_grep approve-says 'com.test.act: version 1.0: activated enabled'
if wait_for 15 rec_has "start com.test.act"; then ok approved-driver-starts; else fail approved-driver-starts "$(cat "$REC"; tail -20 "$TMP/ringd.log")"; fi
expect_rc list-text 0 ringctl list
expect_grep list-text-header 'enabled +active +teamID +bundleID \(version/short\) +\[state\]'
expect_grep list-text-row '^\* +\* +TEAMA12345 +com.test.act \(1.0/1.0\) +\[activated enabled\]'
expect_rc approve-again 1 ringctl approve com.test.act
expect_grep approve-again-code 'ringctl: error 100 \(invalidState\): com.test.act: version 1.0 is already enabled'

# --- the same version again: already active ---
expect_rc activate-same 0 ringctl activate "$APPS/Foo.app" com.test.act
expect_grep activate-same-says 'version 1.0 is already activated \(activated enabled\)'

# --- replacement: a newer version, accepted (the default) ---
: >"$REC"
make_app Foo com.test.act 2.0 RKActDevice
expect_rc replace-accept 0 ringctl activate "$APPS/Foo.app" com.test.act
expect_grep replace-accept-says 'com.test.act: version 2.0 replaced version 1.0 \(activated enabled\)'
if wait_for 15 rec_has "free com.test.act" && wait_for 15 rec_has "start com.test.act"; then
        ok replace-driver-restarted
else
        fail replace-driver-restarted "$(cat "$REC")"
fi
if wait_for 15 state_is com.test.act 1.0 uninstalled; then ok replace-old-uninstalled; else fail replace-old-uninstalled "$(ringctl list)"; fi
rows com.test.act
jcheck replace-rows "[(e['version'], e['state']) for e in j] == [('1.0', 'uninstalled'), ('2.0', 'activated enabled')]"
wait_for 10 sh -c "[ \"\$(ls $STORE/TEAMA12345/com.test.act | wc -l)\" = 1 ]"
[ "$(store_versions com.test.act)" = "2.0 " ] && ok replace-store || fail replace-store "$(find "$STORE" -maxdepth 3)"

# --- replacement refused by the requester ---
make_app Foo com.test.act 3.0 RKActDevice
expect_rc replace-refuse 1 ringctl activate --replace refuse "$APPS/Foo.app" com.test.act
expect_grep replace-refuse-code 'ringctl: error 11 \(requestCanceled\): com.test.act: replacement by version 3.0 refused'
rows com.test.act
jcheck replace-refuse-rows "[(e['version'], e['state']) for e in j] == [('1.0', 'uninstalled'), ('2.0', 'activated enabled')] and 'pending' not in j[1]"
[ "$(store_versions com.test.act)" = "2.0 " ] && ok replace-refuse-store || fail replace-refuse-store "$(find "$STORE" -maxdepth 3)"

# --- downgrade: refused, then forced ---
make_app Foo com.test.act 1.5 RKActDevice
expect_rc downgrade 1 ringctl activate "$APPS/Foo.app" com.test.act
expect_grep downgrade-code 'ringctl: error 10 \(forbiddenBySystemPolicy\): com.test.act: downgrade from version 2.0 to 1.5 refused'
expect_rc downgrade-json 1 ringctl activate --json "$APPS/Foo.app" com.test.act
"$PY" -c "import json; print(json.dumps(json.loads(open('$TMP/out').readline())))" >"$TMP/out.j" 2>/dev/null && mv "$TMP/out.j" "$TMP/out"
jcheck downgrade-json-object "j['ok'] == False and j['code'] == 10 and j['code_name'] == 'forbiddenBySystemPolicy' and 'downgrade' in j['error']"
[ "$(store_versions com.test.act)" = "2.0 " ] && ok downgrade-store-unchanged || fail downgrade-store-unchanged "$(find "$STORE" -maxdepth 3)"
: >"$REC"
expect_rc downgrade-forced 0 ringctl activate --force "$APPS/Foo.app" com.test.act
expect_grep downgrade-forced-says 'version 1.5 replaced version 2.0 \(activated enabled\)'
if wait_for 15 rec_has "start com.test.act"; then ok downgrade-forced-runs; else fail downgrade-forced-runs "$(cat "$REC")"; fi
if wait_for 15 state_is com.test.act 2.0 uninstalled; then ok downgrade-forced-old-gone; else fail downgrade-forced-old-gone "$(ringctl list)"; fi

# --- persistence: a restarted ringd runs the enabled version from its store ---
ringd_shutdown
: >"$REC"
if start_ringd; then ok restart; else fail restart "$(tail -20 "$TMP/ringd.log")"; fi
rows com.test.act
jcheck restart-rows "[(e['version'], e['state']) for e in j][-1] == ('1.5', 'activated enabled')"
ringctl virt add --class RKActDevice --property IOName=act1 >/dev/null
if wait_for 15 rec_has "start com.test.act"; then ok restart-driver-runs; else fail restart-driver-runs "$(cat "$REC")"; fi

# --- deny ---
make_app Bar com.test.deny 1.0 RKDenyDevice
expect_rc deny-activate 0 ringctl activate "$APPS/Bar.app" com.test.deny
expect_rc deny 0 ringctl deny com.test.deny
expect_grep deny-says 'com.test.deny: version 1.0: uninstalled'
[ -z "$(store_versions com.test.deny)" ] && ok deny-store-empty || fail deny-store-empty "$(find "$STORE" -maxdepth 3)"
expect_rc deny-again 1 ringctl deny com.test.deny
expect_grep deny-again-code 'error 4 \(extensionNotFound\): com.test.deny'

# --- deactivate ---
: >"$REC"
expect_rc deactivate 0 ringctl deactivate "$APPS/Foo.app" com.test.act
if wait_for 15 state_is com.test.act 1.5 uninstalled; then ok deactivate-uninstalled; else fail deactivate-uninstalled "$(ringctl list)"; fi
if wait_for 10 rec_has "free com.test.act"; then ok deactivate-driver-stopped; else fail deactivate-driver-stopped "$(cat "$REC")"; fi
wait_for 10 sh -c "[ ! -e $STORE/TEAMA12345/com.test.act ]"
[ -z "$(store_versions com.test.act)" ] && ok deactivate-store-empty || fail deactivate-store-empty "$(find "$STORE" -maxdepth 3)"
expect_rc deactivate-again 1 ringctl deactivate com.test.act
expect_grep deactivate-again-code 'error 4 \(extensionNotFound\)'
expect_rc deactivate-wrong-app 1 ringctl deactivate "$APPS/Bar.app" com.test.act
expect_grep deactivate-wrong-app-code 'error 4 \(extensionNotFound\): com.test.act: not found in .*/Bar.app/Contents/Library/SystemExtensions'

# --- signature and policy refusals ---
refused() { # refused NAME APP ID CODE NAME PATTERN
        expect_rc "$1" 1 ringctl activate "$2" "$3"
        expect_grep "$1-code" "ringctl: error $4 \\($5\\): $3: $6"
        [ -z "$(store_versions "$3")" ] && ok "$1-not-stored" || fail "$1-not-stored" "$(find "$STORE")"
}
make_app Tamp com.test.tamper 1.0 RKX
echo evil >>"$APPS/Tamp.app/Contents/Library/SystemExtensions/com.test.tamper.dext/Contents/MacOS/test-dext"
refused tampered "$APPS/Tamp.app" com.test.tamper 8 codeSignatureInvalid 'file changed: Contents/MacOS/test-dext'
make_app Tamp2 com.test.tamper2 1.0 RKX
echo extra >"$APPS/Tamp2.app/Contents/Library/SystemExtensions/com.test.tamper2.dext/Contents/extra.txt"
refused tampered-added "$APPS/Tamp2.app" com.test.tamper2 8 codeSignatureInvalid 'file added: Contents/extra.txt'
make_app Uns com.test.unsigned 1.0 RKX none none
refused unsigned "$APPS/Uns.app" com.test.unsigned 8 codeSignatureInvalid 'not signed'
make_app Team com.test.team 1.0 RKX dev other
refused wrong-team "$APPS/Team.app" com.test.team 8 codeSignatureInvalid 'extension is signed by team TEAMA12345, but app .*Team.app by team TEAMB67890'
make_app Exp com.test.expired 1.0 RKX expired dev
refused expired "$APPS/Exp.app" com.test.expired 8 codeSignatureInvalid 'certificate expired: .*Old Dev'
make_app Str com.test.untrusted 1.0 RKX stranger dev
refused untrusted "$APPS/Str.app" com.test.untrusted 8 codeSignatureInvalid 'certificate untrusted: .*Local Dev'
make_app Rev com.test.revoked 1.0 RKX revoked dev
refused revoked "$APPS/Rev.app" com.test.revoked 8 codeSignatureInvalid 'certificate revoked: .*Gone Dev'
make_app NoEnt com.test.noent 1.0 RKX dev dev "$APPS" ""
refused app-entitlement "$APPS/NoEnt.app" com.test.noent 2 missingEntitlement 'app .*NoEnt.app lacks the entitlement com.apple.developer.system-extension.install'
mkdir -p "$TMP/elsewhere"
make_app Away com.test.away 1.0 RKX dev dev "$TMP/elsewhere"
refused outside-app-dirs "$TMP/elsewhere/Away.app" com.test.away 3 unsupportedParentBundleLocation 'app .*Away.app is not in an application directory'
refused not-in-app "$APPS/Foo.app" com.test.nothere 4 extensionNotFound 'not found in .*Foo.app/Contents/Library/SystemExtensions'
expect_rc reset-refused 1 ringctl reset
expect_grep reset-refused-code 'ringctl: error 10 \(forbiddenBySystemPolicy\): reset refused: developer mode is off'
ringctl list --json >"$TMP/out"
jcheck refusals-left-no-rows "sorted(set(e['identifier'] for e in j['extensions'])) == ['com.test.act', 'com.test.deny']"

# --- developer mode: relaxations allowed, logged and shown ---
expect_rc developer-on 0 ringctl developer on
expect_rc dev-unsigned 0 ringctl activate "$APPS/Uns.app" com.test.unsigned
expect_grep dev-unsigned-waiting 'com.test.unsigned: version 1.0 activated, waiting for approval'
rows com.test.unsigned
jcheck dev-unsigned-team "j[0]['team'] == '-' and j[0]['state_id'] == 'activated_waiting_for_user'"
expect_rc dev-locally-signed 0 ringctl activate "$APPS/Str.app" com.test.untrusted
expect_rc dev-outside 0 ringctl activate "$TMP/elsewhere/Away.app" com.test.away
ringctl status --json >"$TMP/out"
jcheck status-relaxations "any(r.startswith('com.test.unsigned: unsigned extension accepted') for r in j['relaxations']) and any(r.startswith('com.test.untrusted: locally signed extension accepted') for r in j['relaxations']) and any('com.test.away: app' in r and 'outside the application directories' in r for r in j['relaxations'])"
jcheck status-developer-on "j['developer_mode'] == True"
grep -q 'developer mode: relaxed check: com.test.unsigned: unsigned extension accepted' "$TMP/ringd.log" &&
        ok relaxation-logged || fail relaxation-logged "$(grep -i relax "$TMP/ringd.log")"
refused dev-tampered-still-refused "$APPS/Tamp.app" com.test.tamper 8 codeSignatureInvalid 'file changed: Contents/MacOS/test-dext'
refused dev-revoked-still-refused "$APPS/Rev.app" com.test.revoked 8 codeSignatureInvalid 'certificate revoked'
expect_rc dev-approve-unsigned 0 ringctl approve com.test.unsigned
make_app Uns com.test.unsigned 1.0 RKX none none
echo changed >>"$APPS/Uns.app/Contents/Library/SystemExtensions/com.test.unsigned.dext/Contents/MacOS/test-dext"
expect_rc dev-unsigned-other-code 1 ringctl activate "$APPS/Uns.app" com.test.unsigned
expect_grep dev-unsigned-other-code-says 'error 9 \(validationFailed\): com.test.unsigned: version 1.0 is already active with other code'

# --- reset (developer mode) ---
expect_rc reset 0 ringctl reset
expect_grep reset-says 'reset: [0-9]+ extensions deactivated and removed'
ringctl list --json >"$TMP/out"
jcheck reset-empty "j['extensions'] == []"
wait_for 10 sh -c "[ -z \"\$(ls $STORE)\" ]"
[ -z "$(ls -A "$STORE")" ] && ok reset-store-empty || fail reset-store-empty "$(find "$STORE")"
expect_rc developer-off 0 ringctl developer off

# --- a crash between the steps of a replacement: the next start settles it ---
# crash points of an activation: one per file copied (5 here), copied, stored, requested (8), accepted (9)
make_app Crash com.test.crash 1.0 RKCrashDevice
expect_rc crash-activate 0 ringctl activate "$APPS/Crash.app" com.test.crash
expect_rc crash-approve 0 ringctl approve com.test.crash
make_app Crash com.test.crash 2.0 RKCrashDevice
for point in 8:requested 9:accepted; do
        n=${point%%:*}
        ringd_shutdown
        RINGD_ACTIVATION_CRASH_AT=$n start_ringd || fail "crash-$n-start" "$(tail -5 "$TMP/ringd.log")"
        expect_rc "crash-at-${point#*:}" 1 ringctl activate "$APPS/Crash.app" com.test.crash
        { wait "$RINGD_PID"; } 2>/dev/null
        grep -q "activation: crash point $n (${point#*:})" "$TMP/ringd.log" && ok "crash-at-${point#*:}-hit" ||
                fail "crash-at-${point#*:}-hit" "$(tail -5 "$TMP/ringd.log")"
        start_ringd || fail "crash-$n-restart" "$(tail -5 "$TMP/ringd.log")"
        rows com.test.crash
done
# killed after the replacement was requested (pending) but before it was accepted: dropped, 1.0 stays
grep -q 'com.test.crash: dropped the pending replacement by version 2.0' "$TMP/ringd.log" && ok crash-requested-dropped ||
        fail crash-requested-dropped "$(grep com.test.crash "$TMP/ringd.log" | tail -5)"
# killed after it was accepted, before the old version was finished: 2.0 enabled, 1.0 uninstalled
jcheck crash-accepted-rows "[(e['version'], e['state_id']) for e in j] == [('1.0', 'uninstalled'), ('2.0', 'activated_enabled')] and not any('pending' in e for e in j)"
[ "$(store_versions com.test.crash)" = "2.0 " ] && ok crash-store || fail crash-store "$(find "$STORE" -maxdepth 3)"
[ -z "$(ls -A "$STORE/.tmp" 2>/dev/null)" ] && ok crash-no-temp-copies || fail crash-no-temp-copies "$(find "$STORE/.tmp")"

# --- malformed requests: clear errors, ringd keeps running ---
req() { # req NAME CODE PATTERN PLIST-BODY
        printf '<?xml version="1.0" encoding="UTF-8"?>\n<plist version="1.0"><dict>%s</dict></plist>\n' "$4" >"$TMP/req.plist"
        expect_rc "$1" 1 ringctl request "$TMP/req.plist"
        PAT=$3 jcheck "$1-code" "j['ok'] == False and j['code'] == $2 and os.environ['PAT'] in j['error']"
}
req garbage-no-bundle 5 "request has no 'bundle'" '<key>command</key><string>activate</string><key>app</key><string>/x.app</string>'
req garbage-bundle-type 5 "'bundle' must be a non-empty string" '<key>command</key><string>activate</string><key>bundle</key><integer>42</integer><key>app</key><string>/x.app</string>'
req garbage-no-app 3 "request has no 'app'" '<key>command</key><string>activate</string><key>bundle</key><string>com.x</string>'
req garbage-app-type 3 "'app' must be a non-empty string" '<key>command</key><string>activate</string><key>bundle</key><string>com.x</string><key>app</key><array/>'
req garbage-relative-app 3 "must be absolute" '<key>command</key><string>activate</string><key>bundle</key><string>com.x</string><key>app</key><string>Foo.app</string>'
req garbage-bad-id 5 "is not a bundle identifier" '<key>command</key><string>approve</string><key>bundle</key><string>../../etc</string>'
req garbage-force-type 1 "'force' must be a boolean" '<key>command</key><string>activate</string><key>bundle</key><string>com.x</string><key>app</key><string>/x.app</string><key>force</key><string>yes</string>'
req garbage-replace 1 "'replace' must be accept or refuse" '<key>command</key><string>activate</string><key>bundle</key><string>com.x</string><key>app</key><string>/x.app</string><key>replace</key><string>maybe</string>'
req garbage-no-app-dir 4 "app /nonexistent/X.app" '<key>command</key><string>activate</string><key>bundle</key><string>com.x</string><key>app</key><string>/nonexistent/X.app</string>'
req garbage-not-app 3 "is not an app bundle" "<key>command</key><string>activate</string><key>bundle</key><string>com.x</string><key>app</key><string>$APPS/Foo.app/Contents/Library/SystemExtensions/com.test.act.dext</string>"
expect_rc garbage-ringd-alive 0 ringctl status
expect_rc usage-activate 2 ringctl activate onlyone
expect_rc usage-replace 2 ringctl activate --replace maybe "$APPS/Foo.app" com.test.act

# --- ringd stops cleanly (and, under ASan, without leaks) ---
ringd_shutdown
rc=$?
[ "$rc" -eq 0 ] && ok ringd-clean-exit || fail ringd-clean-exit "exit $rc: $(tail -30 "$TMP/ringd.log")"
expect_no_sanitizer_report ringd-sanitizers
finish
