#!/bin/bash
# SPDX-License-Identifier: MIT
# Kexts end to end (docs/kexts.md), through real ringd processes in a private
# root: every load rule (a good kext loads; no IBT/SHSTK, the wrong machine,
# a truncated ELF, garbage, an unsigned bundle are refused with the reason,
# in the log and in `ringctl kexts --json`); the kext's class runs in-process
# on a virtual device, publishes a nub its second class matches, answers a
# call, and stops; precedence (a dext that declares RKReplacesKexts, and one
# whose personality matches the same providers in the same category: the
# kext is not loaded, ringctl names the replacement, and the dext drives the
# device); a kext fault takes ringd down with a panic report and the next
# start is in safe mode until `ringctl safe-mode clear`; a forged callback
# pointer stops ringd with a "kext panic" naming the kext and the slot.
# Sealing itself is test-kext-seal (child processes).
. "$RK_TEST_SRCDIR/tests/cli-lib.sh"
private_root
: "${RINGD:?}" "${TEST_DEXT:?}" "${RINGKIT_SIGN:?}" "${RINGKIT_BUILTIN:?}" "${TEST_KEXT:?}" "${TEST_KEXT_NOCFI:?}"
: "${TEST_KEXT_WRONGARCH:?}" "${TEST_KEXT_TRUNCATED:?}" "${TEST_KEXT_GARBAGE:?}"
[ "$(id -u)" -eq 0 ] || { echo "needs root"; exit 77; }
[ "$(uname -m)" = x86_64 ] || { echo "the test kexts are x86-64"; exit 77; }
STATE=$ROOT/var/lib/ringkit
REC=$TMP/record
mkdir -p "$EXT" "$TRUST"
chmod 755 "$TMP"
: >"$REC"
chmod 666 "$REC"

signing_setup TEAMK12345 "Kext Dev" 'com.apple.developer.driverkit.transport.*'
write_entitlements "$TMP/dext.entitlements" com.apple.developer.driverkit org.ringkit.developer.virtual-devices

# personality NAME PROVIDERCLASS IOCLASS [EXTRA-XML]
personality() {
        printf '<key>%s</key><dict><key>IOClass</key><string>%s</string><key>IOProviderClass</key><string>%s</string><key>RKTestRecord</key><string>%s</string>%s</dict>\n' \
                "$1" "$3" "$2" "$REC" "$4"
}
# kext ID SO SIGN(yes|no) PERSONALITIES...
kext() {
        local id=$1 so=$2 signed=$3 dir=$EXT/$1.kext
        shift 3
        make_bundle "$dir" "$id" KEXT "$so" kext.so \
                "<key>OSBundleLibraries</key><dict><key>com.apple.kpi.libkern</key><string>1.0</string></dict>
<key>IOKitPersonalities</key><dict>$*</dict>"
        [ "$signed" = yes ] && sign_bundle dev "" "$dir"
        return 0
}
# dext ID EXTRA-INFO-XML PERSONALITIES...
dext() {
        local id=$1 extra=$2 dir=$EXT/$1.dext
        shift 2
        make_bundle "$dir" "$id" DEXT "$TEST_DEXT" test-dext "$extra
<key>IOKitPersonalities</key><dict>$*</dict>"
        sign_bundle dev "$TMP/dext.entitlements" "$dir"
}
dext_pers() {
        printf '<key>%s</key><dict><key>IOClass</key><string>IOUserService</string><key>IOUserClass</key><string>RKTestDriver</string><key>IOProviderClass</key><string>%s</string><key>RKTestRecord</key><string>%s</string></dict>\n' \
                "$1" "$2" "$REC"
}

kext com.test.kext.good "$TEST_KEXT" yes "$(personality Main RKKextTestDevice RKTestKextDriver)" \
        "$(personality Child RKTestKextNub RKTestKextChild)"
kext com.test.kext.nocfi "$TEST_KEXT_NOCFI" yes "$(personality Main RKNoCfiDevice RKTestKextDriver)"
kext com.test.kext.wrongarch "$TEST_KEXT_WRONGARCH" yes "$(personality Main RKArmDevice RKTestKextDriver)"
kext com.test.kext.truncated "$TEST_KEXT_TRUNCATED" yes "$(personality Main RKTruncDevice RKTestKextDriver)"
kext com.test.kext.garbage "$TEST_KEXT_GARBAGE" yes "$(personality Main RKGarbageDevice RKTestKextDriver)"
kext com.test.kext.unsigned "$TEST_KEXT" no "$(personality Main RKUnsignedDevice RKTestKextDriver)"
kext com.test.kext.tampered "$TEST_KEXT" yes "$(personality Main RKTamperedDevice RKTestKextDriver)"
printf 'x' >>"$EXT/com.test.kext.tampered.kext/Contents/MacOS/kext.so" # changed after signing
# precedence: one replaced by declaration, one by a dext matching the same providers in the same category
kext com.test.kext.declared "$TEST_KEXT" yes "$(personality Main RKDeclDevice RKTestKextDriver)"
dext com.test.replacer "<key>RKReplacesKexts</key><array><string>com.test.kext.declared</string></array>" \
        "$(dext_pers Other RKSomethingElse)"
kext com.test.kext.samefn "$TEST_KEXT" yes \
        "$(personality Main RKSameDevice RKTestKextDriver '<key>IOProbeScore</key><integer>1000</integer>')"
dext com.test.samefn "" "$(dext_pers Same RKSameDevice)"

log_has() { grep -Eq -- "$1" "$TMP/ringd.log"; }
rec_has() { grep -Eq -- "$1" "$REC"; }
# each run's log starts afresh
start_ringd() { : >"$TMP/ringd.log"; ringd_start --builtin "$RINGKIT_BUILTIN" --no-linux --sandbox-rw "$TMP" -v; }
STOP_RC=
stop_ringd() {
        [ -n "$RINGD_PID" ] || return 0
        kill "$RINGD_PID" 2>/dev/null
        wait "$RINGD_PID" 2>/dev/null
        STOP_RC=$?
        RINGD_PID=
}
# kext_field ID FIELD: from `ringctl kexts --json`
kext_field() {
        ringctl kexts --json | "$PY" -c 'import json,sys
d=json.load(sys.stdin)
for k in d["kexts"]:
    if k["bundle"]==sys.argv[1]: print(k.get(sys.argv[2],""))' "$1" "$2"
}

# ---------------- 1: load rules, in-process driver, precedence ----------------
if start_ringd; then ok ringd-starts; else fail ringd-starts "$(tail "$TMP/ringd.log")"; finish; exit 1; fi
ringctl kexts --json >"$TMP/kexts.json"
cp "$TMP/kexts.json" "$TMP/out"
[ "$(kext_field com.test.kext.good status)" = loaded ] && ok good-kext-loaded || fail good-kext-loaded "$(cat "$TMP/out")"
expect_grep good-kext-classes '"classes":\["RKTestKextDriver","RKTestKextChild","RKTestKextCrash","RKTestKextForge"\]'
[ "$(kext_field com.test.kext.good sealed)" = mseal ] && ok good-kext-sealed-mseal || fail good-kext-sealed-mseal "$(kext_field com.test.kext.good sealed)"
check_refused() { # NAME ID PATTERN
        local st why
        st=$(kext_field "$2" status)
        why=$(kext_field "$2" reason)
        if [ "$st" = refused ] && echo "$why" | grep -Eq -- "$3"; then ok "$1"; else fail "$1" "status $st, reason: $why"; fi
        if log_has "kext $2: not loaded: .*$3"; then ok "$1-logged"; else fail "$1-logged" "$(grep "kext $2" "$TMP/ringd.log")"; fi
}
check_refused refuse-no-cfi com.test.kext.nocfi 'control-flow protection: no GNU property note with IBT and SHSTK \(build with -fcf-protection=full\)'
check_refused refuse-wrong-arch com.test.kext.wrongarch 'built for EM_AARCH64 \(e_machine 183\), the host is EM_X86_64'
check_refused refuse-truncated com.test.kext.truncated 'truncated'
check_refused refuse-garbage com.test.kext.garbage 'not an ELF file'
check_refused refuse-unsigned com.test.kext.unsigned 'not signed'
check_refused refuse-tampered com.test.kext.tampered 'file changed: Contents/MacOS/kext.so'
# precedence
[ "$(kext_field com.test.kext.declared status)" = replaced ] && [ "$(kext_field com.test.kext.declared replaced_by)" = com.test.replacer ] &&
        ok precedence-declared || fail precedence-declared "$(kext_field com.test.kext.declared reason)"
kext_field com.test.kext.declared reason >"$TMP/out"
expect_grep precedence-declared-reason 'replaced by dext com.test.replacer, which declares it in RKReplacesKexts'
[ "$(kext_field com.test.kext.samefn status)" = replaced ] && [ "$(kext_field com.test.kext.samefn replaced_by)" = com.test.samefn ] &&
        ok precedence-personality || fail precedence-personality "$(kext_field com.test.kext.samefn reason)"
kext_field com.test.kext.samefn reason >"$TMP/out"
expect_grep precedence-personality-reason 'its personality Same matches the same providers as Main \(IOProviderClass RKSameDevice, IOMatchCategory IODefaultMatchCategory\)'
ringctl kexts >"$TMP/out"
expect_grep kexts-table 'com.test.kext.samefn +replaced +replaced by dext com.test.samefn'
ringctl status --json >"$TMP/out"
expect_grep status-kexts '"kexts_loaded":1,"kexts_not_loaded":8,"kext_safe_mode":false'

# the kext driver runs in ringd: started, published a nub, its child class matched it
dev=$(ringctl virt add --class RKKextTestDevice --property IOName=kdev0)
if wait_for 10 rec_has '^child test-kext-nub'; then ok kext-driver-in-process; else fail kext-driver-in-process "$(cat "$REC"; tail -5 "$TMP/ringd.log")"; fi
rec_has '^start kdev0' && ok kext-start-recorded || fail kext-start-recorded "$(cat "$REC")"
ringctl list --json >"$TMP/list.json"
svc=$("$PY" -c 'import json,sys
for i in json.load(open(sys.argv[1]))["instances"]:
    if i["bundle"]=="com.test.kext.good" and i["class"]=="RKTestKextDriver": print(i["service"], i["pid"], i["state"])' "$TMP/list.json")
set -- $svc
[ "$2" = 0 ] && [ "$3" = running ] && ok kext-instance-pid-0 || fail kext-instance-pid-0 "$svc"
ringctl registry -l >"$TMP/out"
expect_grep kext-set-property 'RKTestKextState.*running'
expect_rc kext-call 0 ringctl kext-call "$1" 0 41
expect_grep kext-call-result '^42$'
expect_rc kext-call-bad-selector 1 ringctl kext-call "$1" 7 0
log_has 'com.test.kext.good#[0-9]+: started in-process on kdev0' && ok kext-start-logged || fail kext-start-logged "$(grep kext "$TMP/ringd.log" | tail)"
# a refused kext's personality fails as a candidate: the dext matching the same providers drives the device
ringctl virt add --class RKSameDevice --property IOName=same0 >/dev/null
if wait_for 15 rec_has '^start com.test.samefn#[0-9]+ same0'; then ok replacement-dext-drives; else fail replacement-dext-drives "$(cat "$REC"; grep -i same "$TMP/ringd.log" | tail -5)"; fi
log_has 'kext com.test.kext.samefn is not loaded \(replaced by dext com.test.samefn' && ok replaced-kext-skipped-logged ||
        fail replaced-kext-skipped-logged "$(grep samefn "$TMP/ringd.log" | tail -5)"
ringctl virt remove "$dev" >/dev/null
if wait_for 10 rec_has '^stop '; then ok kext-stop-on-removal; else fail kext-stop-on-removal "$(cat "$REC")"; fi
kill -0 "$RINGD_PID" 2>/dev/null && ok ringd-alive-after-refusals || fail ringd-alive-after-refusals "ringd died"
stop_ringd
# a clean stop: the kexts' stop ran, nothing leaked (sanitizer builds), exit 0
[ "$STOP_RC" = 0 ] && ok ringd-clean-exit || fail ringd-clean-exit "exit $STOP_RC: $(tail -20 "$TMP/ringd.log")"

# ---------------- 2: a kext fault: panic, safe mode, clear ----------------
kext com.test.kext.crash "$TEST_KEXT" yes "$(personality Main RKCrashDevice RKTestKextCrash)"
start_ringd || { fail ringd-restarts "$(tail "$TMP/ringd.log")"; finish; exit 1; }
[ "$(kext_field com.test.kext.crash status)" = loaded ] && ok crash-kext-loaded || fail crash-kext-loaded "$(kext_field com.test.kext.crash reason)"
ringctl virt add --class RKCrashDevice --property IOName=crash0 >/dev/null 2>&1
wait "$RINGD_PID"
rc=$?
RINGD_PID=
[ "$rc" -eq $((128 + 11)) ] && ok kext-fault-kills-ringd || fail kext-fault-kills-ringd "exit status $rc"
cp "$TMP/ringd.log" "$TMP/out"
expect_grep panic-report 'kext panic: com.test.kext.crash: SIGSEGV \(invalid memory access\) at 0x0 in RKTestKextCrash start'
[ -s "$STATE/kext-panic.log" ] && grep -q 'com.test.kext.crash: SIGSEGV' "$STATE/kext-panic.log" && ok panic-file ||
        fail panic-file "$(cat "$STATE/kext-panic.log" 2>&1)"
[ -f "$STATE/kext-safe-mode" ] && ok safe-mode-flag-set || fail safe-mode-flag-set "no $STATE/kext-safe-mode"
: >"$REC"
start_ringd || { fail ringd-starts-in-safe-mode "$(tail "$TMP/ringd.log")"; finish; exit 1; }
log_has 'safe mode: the last run ended in a kext panic \(com.test.kext.crash: SIGSEGV' && ok safe-mode-logged ||
        fail safe-mode-logged "$(grep -i safe "$TMP/ringd.log")"
ringctl status --json >"$TMP/out"
expect_grep safe-mode-in-status '"kext_safe_mode":true,"kext_safe_mode_reason":"com.test.kext.crash: SIGSEGV'
[ "$(kext_field com.test.kext.good status)" = safe-mode ] && ok safe-mode-good-kext-not-loaded ||
        fail safe-mode-good-kext-not-loaded "$(kext_field com.test.kext.good status)"
ringctl kexts >"$TMP/out"
expect_grep safe-mode-in-kexts '^SAFE MODE: third-party kexts are not loaded'
ringctl virt add --class RKKextTestDevice --property IOName=kdev1 >/dev/null
wait_for 3 rec_has '^start kdev1' && fail safe-mode-no-kext-driver "a kext started in safe mode" || ok safe-mode-no-kext-driver
expect_rc safe-mode-clear 0 ringctl safe-mode clear
[ ! -e "$STATE/kext-safe-mode" ] && ok safe-mode-flag-removed || fail safe-mode-flag-removed "flag still there"
[ "$(kext_field com.test.kext.good status)" = loaded ] && ok kexts-load-after-clear || fail kexts-load-after-clear "$(kext_field com.test.kext.good reason)"
if wait_for 10 rec_has '^start kdev1'; then ok device-matched-after-clear; else fail device-matched-after-clear "$(cat "$REC")"; fi
stop_ringd
rm -rf "$EXT/com.test.kext.crash.kext"

# ---------------- 3: a forged callback pointer ----------------
kext com.test.kext.forge "$TEST_KEXT" yes "$(personality Main RKForgeDevice RKTestKextForge)"
: >"$REC"
start_ringd || { fail ringd-restarts-2 "$(tail "$TMP/ringd.log")"; finish; exit 1; }
ringctl virt add --class RKForgeDevice --property IOName=forge0 >/dev/null 2>&1
wait "$RINGD_PID"
rc=$?
RINGD_PID=
[ "$rc" -eq $((128 + 6)) ] && ok forged-pointer-aborts-ringd || fail forged-pointer-aborts-ringd "exit status $rc"
cp "$TMP/ringd.log" "$TMP/out"
expect_grep forged-pointer-report 'kext panic: com.test.kext.forge: pointer authentication failed \(a forged or moved function pointer\) in timer callback slot 0x[0-9a-f]+ of RKTestKextForge'
rec_has '^forging forge0' && ok forge-kext-ran || fail forge-kext-ran "$(cat "$REC")"
rec_has 'EVIL-RAN' && fail forged-pointer-not-called "the forged pointer ran" || ok forged-pointer-not-called
grep -q 'com.test.kext.forge: pointer authentication failed' "$STATE/kext-safe-mode" && ok forged-pointer-sets-safe-mode ||
        fail forged-pointer-sets-safe-mode "$(cat "$STATE/kext-safe-mode" 2>&1)"

# ---------------- 4: developer mode relaxes the signature and control-flow rules, not the machine ----------------
start_ringd || { fail ringd-restarts-3 "$(tail "$TMP/ringd.log")"; finish; exit 1; }
expect_rc developer-on 0 ringctl developer on
expect_rc safe-mode-clear-2 0 ringctl safe-mode clear
[ "$(kext_field com.test.kext.nocfi status)" = loaded ] && kext_field com.test.kext.nocfi relaxed | grep -q 'loaded kext control-flow protection: no GNU property note' &&
        ok developer-mode-relaxes-cfi || fail developer-mode-relaxes-cfi "$(kext_field com.test.kext.nocfi status): $(kext_field com.test.kext.nocfi reason)"
[ "$(kext_field com.test.kext.unsigned status)" = loaded ] && kext_field com.test.kext.unsigned relaxed | grep -q 'loaded kext unsigned' &&
        ok developer-mode-relaxes-signature || fail developer-mode-relaxes-signature "$(kext_field com.test.kext.unsigned status): $(kext_field com.test.kext.unsigned reason)"
[ "$(kext_field com.test.kext.wrongarch status)" = refused ] && ok developer-mode-keeps-machine-rule ||
        fail developer-mode-keeps-machine-rule "$(kext_field com.test.kext.wrongarch status)"
ringctl status --json >"$TMP/out"
expect_grep relaxation-listed '"relaxations":\[[^]]*loaded kext control-flow protection'
stop_ringd
[ "$STOP_RC" = 0 ] && ok ringd-clean-exit-2 || fail ringd-clean-exit-2 "exit $STOP_RC: $(tail -20 "$TMP/ringd.log")"
finish
