#!/bin/bash
# SPDX-License-Identifier: MIT
# User clients end to end: a real ringd in a private root runs the sample
# driver (samples/userclient/uc-sample-dext, sandboxed, its own process);
# a real app process (tests/test-userclient.c, linked with libringkit only)
# finds it, opens user clients and calls it.  Covers argument checking on
# both call paths, structures, memory descriptors, async completion, data
# queues, find/wait, the driver refusing an open, an app killed in the
# middle of a call, the driver crashing in the middle of calls, descriptors
# leaking in neither the driver nor ringd, and access denial once
# developer mode is off.
. "$RK_TEST_SRCDIR/tests/cli-lib.sh"
: "${RINGD:?}" "${RINGKIT_BUILTIN:?}" "${UC_SAMPLE_DEXT:?}" "${UC_TEST_APP:?}" "${UC_SAMPLE_APP:?}" "${RINGKIT_SIGN:?}"

ROOT=$TMP/root
B=$ROOT/extensions/UCSample.dext
mkdir -p "$B/Contents/MacOS"
cp "$RK_TEST_SRCDIR/samples/userclient/Info.plist" "$B/Contents/"
cp "$UC_SAMPLE_DEXT" "$B/Contents/MacOS/uc-sample-dext"
chmod 755 "$TMP"

# signed apps: a developer certificate that may grant userclient-access, and
# two app bundles carrying the test app, one entitled to the sample driver
TRUST=$TMP/trust
mkdir -p "$TRUST"
quiet() { "$@" >"$TMP/setup.log" 2>&1 || { echo "setup failed: $*"; cat "$TMP/setup.log"; exit 1; }; }
quiet "$RINGKIT_SIGN" ca create --out "$TMP/ca" --name "Test Root"
cat >"$TMP/grants.plist" <<'P'
<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><array><string>com.apple.developer.driverkit.userclient-access</string></array></plist>
P
quiet "$RINGKIT_SIGN" cert create --ca "$TMP/ca" --team TEAMA12345 --name "App Dev" --out "$TMP/dev" \
        --entitlements-allowed "$TMP/grants.plist"
cp "$TMP/ca/ca.pem" "$TRUST/root.pem"
# app NAME ENTITLED-BUNDLE-ID [EXECUTABLE]
signed_app() {
        local dir=$TMP/$1.app
        mkdir -p "$dir/Contents/MacOS"
        cp "${3:-$UC_TEST_APP}" "$dir/Contents/MacOS/test-userclient-app"
        cat >"$dir/Contents/Info.plist" <<PL
<plist version="1.0"><dict>
<key>CFBundleIdentifier</key><string>org.ringkit.test.$1</string>
<key>CFBundleVersion</key><string>1.0</string>
<key>CFBundlePackageType</key><string>APPL</string>
<key>CFBundleExecutable</key><string>test-userclient-app</string>
</dict></plist>
PL
        cat >"$TMP/$1.entitlements" <<PL
<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
<key>com.apple.developer.driverkit.userclient-access</key><array><string>$2</string></array>
</dict></plist>
PL
        quiet "$RINGKIT_SIGN" sign --key "$TMP/dev/developer.key" --cert "$TMP/dev/developer.pem" \
                --entitlements "$TMP/$1.entitlements" "$dir"
}
signed_app Entitled org.ringkit.sample.userclient
signed_app Other org.example.other.driver
signed_app Tampered org.ringkit.sample.userclient
signed_app SampleApp org.ringkit.sample.userclient "$UC_SAMPLE_APP"
printf 'x' >>"$TMP/Tampered.app/Contents/MacOS/test-userclient-app"

ringctl() { "$RINGCTL" --root "$ROOT" "$@"; }
app() { "$UC_TEST_APP" "$ROOT" "$@"; }
log_has() { grep -q -- "$1" "$TMP/ringd.log"; }
dext_pid() { ringctl list --json | tr '{' '\n' | grep '"bundle":"org.ringkit.sample.userclient"' | grep '"state":"running"' | sed -n 's/.*"pid":\([0-9]*\).*/\1/p' | head -1; }
nfds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }

"$RINGD" --root "$ROOT" --builtin "$RINGKIT_BUILTIN" --no-linux --step-timeout 3000 --trust-store "$TRUST" -v 2>>"$TMP/ringd.log" &
RINGD_PID=$!
trap 'kill $RINGD_PID 2>/dev/null; wait $RINGD_PID 2>/dev/null; rm -rf "$TMP"' EXIT
if wait_for 10 test -S "$ROOT/run/ringd.sock" && wait_for 10 ringctl status; then ok ringd-starts
else fail ringd-starts "$(tail -20 "$TMP/ringd.log")"; finish; exit 1; fi

ringctl developer on >/dev/null
ringctl virt add --class RKUCSampleDevice --property IOName=ucs0 >/dev/null
if wait_for 10 test -n "\$(dext_pid)" && wait_for 10 sh -c "[ -n \"\$(\"$RINGCTL\" --root \"$ROOT\" list --json | grep running)\" ]"; then
        ok driver-running
else fail driver-running "$(tail -20 "$TMP/ringd.log")"; fi

# --- the app's checks: one line per case ---
app checks >"$TMP/out" 2>&1
rc=$?
while read -r status name rest; do
        case $status in
        ok) ok "$name" ;;
        FAIL) fail "${name%:}" "$rest" ;;
        esac
done <"$TMP/out"
[ $rc -eq 0 ] && ok app-checks-exit || fail app-checks-exit "exit $rc: $(tail -5 "$TMP/out")"
grep -q "developer mode: relaxed check: org.ringkit.sample.userclient: user client opened by $UC_TEST_APP" "$TMP/ringd.log" &&
        ok developer-mode-relaxation-logged || fail developer-mode-relaxation-logged "$(grep -i relax "$TMP/ringd.log" | tail -3)"
ringctl status --json >"$TMP/out"
expect_grep relaxation-in-status 'user client opened by'
[ "$(grep -c 'user client opened by' "$TMP/ringd.log")" -eq 1 ] && ok relaxation-recorded-once ||
        fail relaxation-recorded-once "$(grep -c 'user client opened by' "$TMP/ringd.log") lines"

# --- watching: ringd pushes appearances and departures as they happen ---
app watch 3 >"$TMP/watch.out" 2>&1 &
wpid=$!
if wait_for 10 grep -q '^appeared' "$TMP/watch.out"; then ok watch-lists-present-service
else fail watch-lists-present-service "$(cat "$TMP/watch.out")"; fi
first=$(sed -n 's/^appeared //p' "$TMP/watch.out" | head -1)
vid=$(ringctl virt add --class RKUCSampleDevice --property IOName=ucs1)
if wait_for 10 sh -c "[ \$(grep -c '^appeared' '$TMP/watch.out') -ge 2 ]"; then ok watch-pushes-appearance
else fail watch-pushes-appearance "$(cat "$TMP/watch.out")"; fi
second=$(sed -n 's/^appeared //p' "$TMP/watch.out" | sed -n 2p)
ringctl virt remove "$vid" >/dev/null
wait $wpid
rc=$?
grep -q "^gone $second\$" "$TMP/watch.out" && ok watch-pushes-departure || fail watch-pushes-departure "$(cat "$TMP/watch.out")"
[ $rc -eq 0 ] && [ "$first" != "$second" ] && ok watch-clean-exit-unwatched-silent ||
        fail watch-clean-exit-unwatched-silent "exit $rc: $(cat "$TMP/watch.out")"

# --- no descriptor leaks in the driver or ringd across opens and closes ---
pid=$(dext_pid)
app cycle 3 >/dev/null 2>&1   # warm up (the driver's first queue, scratch buffers)
sleep 0.3
d0=$(nfds "$pid"); r0=$(nfds "$RINGD_PID")
app cycle 40 >"$TMP/out" 2>&1 && ok cycle-40-opens || fail cycle-40-opens "$(cat "$TMP/out")"
sleep 0.3
d1=$(nfds "$pid"); r1=$(nfds "$RINGD_PID")
[ -n "$d0" ] && [ "$d0" -eq "$d1" ] && ok no-fd-leak-in-driver || fail no-fd-leak-in-driver "driver fds $d0 -> $d1"
[ "$r0" -eq "$r1" ] && ok no-fd-leak-in-ringd || fail no-fd-leak-in-ringd "ringd fds $r0 -> $r1"
app stats >"$TMP/out"
expect_grep driver-saw-every-close '^open 0 closed'

# --- the app dies in the middle of a call ---
closed_before=$(grep -c 'user client closed' "$TMP/ringd.log")
app sleep 1500 >"$TMP/sleep.out" 2>&1 &
apid=$!
wait_for 5 grep -q calling "$TMP/sleep.out"
sleep 0.2
kill -9 $apid
wait $apid 2>/dev/null
# the driver is still in the method: it sees the hang-up when the method returns
if wait_for 10 sh -c "[ \$(grep -c 'user client closed' '$TMP/ringd.log') -gt $closed_before ]"; then
        ok app-killed-mid-call-driver-closes
else fail app-killed-mid-call-driver-closes "$(tail -5 "$TMP/ringd.log")"; fi
[ "$(dext_pid)" = "$pid" ] && ok app-killed-driver-still-up || fail app-killed-driver-still-up "pid $pid -> $(dext_pid)"
app add >"$TMP/out" 2>&1 && ok app-killed-next-app-served || fail app-killed-next-app-served "$(cat "$TMP/out")"
app stats >"$TMP/out"
expect_grep app-killed-nothing-left-open '^open 0 closed'

# --- the app goes while an async call is pending: the driver completes it later, into nothing ---
app abandon >"$TMP/out" 2>&1 && ok abandon-async || fail abandon-async "$(cat "$TMP/out")"
sleep 0.6
[ "$(dext_pid)" = "$pid" ] && ok abandoned-async-completes-harmlessly || fail abandoned-async-completes-harmlessly "pid $pid -> $(dext_pid)"
app add >"$TMP/out" 2>&1 && ok after-abandon-served || fail after-abandon-served "$(cat "$TMP/out")"

# --- the driver dies in the middle of calls ---
app crash >"$TMP/out" 2>&1
rc=$?
while read -r status name rest; do
        case $status in
        ok) ok "$name" ;;
        FAIL) fail "${name%:}" "$rest" ;;
        esac
done <"$TMP/out"
[ $rc -eq 0 ] && ok crash-app-exit || fail crash-app-exit "exit $rc: $(tail -5 "$TMP/out")"
log_has "crashing in the middle of a call" && ok crash-logged || fail crash-logged "$(tail -5 "$TMP/ringd.log")"
kill -0 $RINGD_PID && ringctl status >/dev/null && ok ringd-stays-up || fail ringd-stays-up "ringd gone"

# --- access: without developer mode, an unsigned app holds no entitlement ---
ringctl developer off >/dev/null
if [ -n "$(dext_pid)" ]; then
        app denied >"$TMP/out" 2>&1 && ok unsigned-app-denied || fail unsigned-app-denied "$(cat "$TMP/out")"
        expect_grep denial-names-the-reason 'not a bundle|no userclient-access'
        log_has "user client of org.ringkit.sample.userclient refused" && ok denial-logged ||
                fail denial-logged "$(tail -5 "$TMP/ringd.log")"
        "$TMP/Entitled.app/Contents/MacOS/test-userclient-app" "$ROOT" add >"$TMP/out" 2>&1 &&
                ok signed-entitled-app-admitted || fail signed-entitled-app-admitted "$(cat "$TMP/out") $(tail -3 "$TMP/ringd.log")"
        log_has "user client type 0 opened for pid [0-9]* (entitlement)" && ok admitted-by-entitlement ||
                fail admitted-by-entitlement "$(grep 'user client type' "$TMP/ringd.log" | tail -2)"
        "$TMP/Other.app/Contents/MacOS/test-userclient-app" "$ROOT" denied >"$TMP/out" 2>&1 &&
                ok signed-app-entitled-to-another-driver-denied || fail signed-app-entitled-to-another-driver-denied "$(cat "$TMP/out")"
        expect_grep denial-other-driver-reason 'does not name this driver'
        "$TMP/Tampered.app/Contents/MacOS/test-userclient-app" "$ROOT" denied >"$TMP/out" 2>&1 &&
                ok tampered-app-denied || fail tampered-app-denied "$(cat "$TMP/out")"
        expect_grep denial-tampered-reason 'does not verify|not the one'
        # the app's signature is verified once and kept until its signature files change;
        # its executable hashed once while that file is unchanged
        E=$TMP/Entitled.app
        sigs() { grep -c "$E: signature valid" "$TMP/ringd.log"; }
        hashes() { grep -c "$E: executable .* hashed" "$TMP/ringd.log"; }
        s0=$(sigs); h0=$(hashes)
        "$E/Contents/MacOS/test-userclient-app" "$ROOT" add >/dev/null 2>&1
        "$E/Contents/MacOS/test-userclient-app" "$ROOT" add >"$TMP/out" 2>&1 && ok signed-app-admitted-again ||
                fail signed-app-admitted-again "$(cat "$TMP/out")"
        [ "$s0" -eq 1 ] && [ "$(sigs)" -eq 1 ] && ok app-signature-verified-once ||
                fail app-signature-verified-once "verified $s0 then $(sigs) times"
        [ "$h0" -eq 1 ] && [ "$(hashes)" -eq 1 ] && ok app-executable-hashed-once ||
                fail app-executable-hashed-once "hashed $h0 then $(hashes) times"
        # signing again changes the signature files: verified again at the next open
        sleep 0.02
        quiet "$RINGKIT_SIGN" sign --key "$TMP/dev/developer.key" --cert "$TMP/dev/developer.pem" \
                --entitlements "$TMP/Entitled.entitlements" "$E"
        "$E/Contents/MacOS/test-userclient-app" "$ROOT" add >"$TMP/out" 2>&1 && ok resigned-app-admitted ||
                fail resigned-app-admitted "$(cat "$TMP/out")"
        [ "$(sigs)" -eq 2 ] && ok changed-signature-verified-again || fail changed-signature-verified-again "verified $(sigs) times"
        # a tampered executable in a bundle whose signature files did not change is still refused
        cp "$E/Contents/MacOS/test-userclient-app" "$TMP/exe.bak"
        printf 'x' >>"$E/Contents/MacOS/test-userclient-app"
        "$E/Contents/MacOS/test-userclient-app" "$ROOT" denied >"$TMP/out" 2>&1 &&
                ok changed-executable-denied-with-cached-signature || fail changed-executable-denied-with-cached-signature "$(cat "$TMP/out")"
        expect_grep changed-executable-reason 'not the one'
        cp "$TMP/exe.bak" "$E/Contents/MacOS/test-userclient-app"

        # --- apps that are not root: the user-client commands, nothing else ---
        # copies in $TMP: the build tree may lie where nobody cannot reach it
        mkdir -p "$TMP/bin"
        cp "$UC_TEST_APP" "$RINGCTL" "$TMP/bin/"
        chmod -R a+rX "$TMP"
        as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
        n_adm=$(grep -c "user client type 0 opened for pid [0-9]* (entitlement)" "$TMP/ringd.log")
        as_nobody "$E/Contents/MacOS/test-userclient-app" "$ROOT" add >"$TMP/out" 2>&1 &&
                ok nonroot-signed-app-admitted || fail nonroot-signed-app-admitted "$(cat "$TMP/out") $(tail -3 "$TMP/ringd.log")"
        [ "$(grep -c "user client type 0 opened for pid [0-9]* (entitlement)" "$TMP/ringd.log")" -gt "$n_adm" ] &&
                ok nonroot-admitted-by-entitlement ||
                fail nonroot-admitted-by-entitlement "$(tail -3 "$TMP/ringd.log")"
        as_nobody "$TMP/bin/$(basename "$UC_TEST_APP")" "$ROOT" denied >"$TMP/out" 2>&1 && ok nonroot-unsigned-app-denied ||
                fail nonroot-unsigned-app-denied "$(cat "$TMP/out")"
        expect_grep nonroot-unsigned-reason 'not a bundle'
        # the signed sample app, as nobody: every kind of call (scalars, structure, memory
        # descriptor, async, data queue) with a sandboxed driver of another uid
        as_nobody "$TMP/SampleApp.app/Contents/MacOS/test-userclient-app" --root "$ROOT" >"$TMP/out" 2>&1
        rc=$?
        [ $rc -eq 0 ] && grep -q '^add(40, 2) = 42$' "$TMP/out" && grep -q 'filled 1048576 bytes of shared memory with 0x5a' "$TMP/out" &&
                grep -q 'async call completed: status 0' "$TMP/out" && grep -q '^event 4 ' "$TMP/out" &&
                ok nonroot-sample-app-every-call || fail nonroot-sample-app-every-call "exit $rc: $(cat "$TMP/out")"
        as_nobody "$TMP/Other.app/Contents/MacOS/test-userclient-app" "$ROOT" denied >"$TMP/out" 2>&1 &&
                ok nonroot-unentitled-app-denied || fail nonroot-unentitled-app-denied "$(cat "$TMP/out")"
        expect_grep nonroot-unentitled-reason 'does not name this driver'
        for cmd in status "developer on" "virt add --class RKUCSampleDevice" shutdown; do
                # shellcheck disable=SC2086
                as_nobody "$TMP/bin/$(basename "$RINGCTL")" --root "$ROOT" $cmd >"$TMP/out" 2>&1
                rc=$?
                name=nonroot-refused-${cmd%% *}
                [ $rc -ne 0 ] && grep -q "root only" "$TMP/out" && ok "$name" || fail "$name" "exit $rc: $(cat "$TMP/out")"
        done
        ringctl status --json >"$TMP/out"
        expect_grep nonroot-changed-nothing '"developer_mode":false|"developer":false'
        log_has "uid 65534 may not run 'shutdown'" && ok nonroot-refusal-logged || fail nonroot-refusal-logged "$(tail -3 "$TMP/ringd.log")"
else
        fail unsigned-app-denied "the driver stopped when developer mode went off"
fi

ringctl shutdown >/dev/null
wait $RINGD_PID
[ $? -eq 0 ] && ok ringd-clean-exit || fail ringd-clean-exit "exit status"
grep -E "AddressSanitizer|runtime error" "$TMP/ringd.log" && fail sanitizers-quiet "see above" || ok sanitizers-quiet
finish
