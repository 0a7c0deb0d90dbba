#!/bin/bash
# SPDX-License-Identifier: MIT
# Supervised system extensions (docs/system-extensions.md): a real ringd in
# a private root runs every activated, enabled system extension itself,
# sandboxed, from verified bytes.  An endpoint security system extension
# (tests/es/es-client.c; arguments from its signed Info.plist RKArguments)
# is approved and runs, gets its pre-admitted client and denies an exec
# (EPERM); killed with SIGKILL it is restarted and denies again; a later
# version replaces it (the new one starts, the old one stops); deactivated,
# it stops and the exec runs; an extension that keeps crashing is stopped
# as a crash loop, and `ringctl restart` starts it again; `ringctl debug` runs one again stopped before main() for a
# debugger (gdb attaches; continued, it denies again; not counted as a crash); shutdown leaves no extension process behind, and neither
# does ringd killed with SIGKILL, sandboxed or --no-sandbox.
. "$RK_TEST_SRCDIR/tests/cli-lib.sh"
private_root
: "${RINGD:?}" "${RINGKIT_SIGN:?}" "${ES_CLIENT:?}"
chmod 0755 "$TMP"
FS=$TMP/fs
mkdir -p "$APPS" "$TRUST" "$EXT" "$FS"
at_exit umount "$FS"
if ! mount -t tmpfs -o size=64m,mode=755 rk-sx-test "$FS"; then
        echo "cannot mount a tmpfs (needs root)"; exit 77
fi

signing_setup TEAMSX1234 "Sx Dev" com.apple.developer.endpoint-security.client
write_entitlements "$TMP/es.entitlements" com.apple.developer.endpoint-security.client

# make_app NAME ID VERSION EXECUTABLE ARGS...: an app carrying a system extension
make_app() {
        local name=$1 id=$2 ver=$3 exe=$4 args="" a
        shift 4
        for a in "$@"; do args="$args<string>$a</string>"; done
        BUNDLE_VERSION=$ver APP_VERSION=$ver make_app_with "$name" "$id" "$exe" sx "$TMP/es.entitlements" \
                "<key>NSSystemExtensionUsageDescription</key><string>test system extension</string>
<key>RKArguments</key><array>$args</array>"
}

sx_count() { ringctl list --json | "$PY" -c "import json,sys; print(len(json.load(sys.stdin).get('system_extensions', [])))"; }
count_is() { [ "$(sx_count)" = "$1" ]; }
version_is() { [ "$(sx_field "$1" version)" = "$2" ]; }

if ringd_start --no-linux --es-scope "$FS" --sandbox-rw "$TMP" -v && wait_for 20 test -S "$ROOT/run/es.sock"; then ok ringd-starts; else
        fail ringd-starts "$(tail -20 "$TMP/ringd.log")"; finish; exit 1; fi

cp /bin/true "$FS/forbidden"
cp /bin/true "$FS/allowed"
# the extension runs as its own uid: it writes its log and ready file here
OUT=$TMP/out-sx
mkdir -p "$OUT"
chmod 1777 "$OUT"
ARGS=(--subscribe AUTH_EXEC --deny "$FS/forbidden" --no-cache --log "$OUT/guard.log" --ready "$OUT/guard.ready")
make_app Guard com.test.sx.guard 1.0 "$ES_CLIENT" "${ARGS[@]}"

# --- activation alone does not run it; approval does ---
quiet ringctl activate "$APPS/Guard.app" com.test.sx.guard
[ "$(sx_count)" = 0 ] && ok waiting-not-running || fail waiting-not-running "$(ringctl list)"
quiet ringctl approve com.test.sx.guard
if wait_for 10 sx_is com.test.sx.guard running && wait_for 10 test -e "$OUT/guard.ready"; then ok approved-runs; else
        fail approved-runs "$(ringctl list; tail -20 "$TMP/ringd.log")"; fi
PID1=$(sx_field com.test.sx.guard pid)
[ -n "$PID1" ] && [ "$PID1" -gt 0 ] && kill -0 "$PID1" && ok has-pid || fail has-pid "pid '$PID1'"
# it runs confined: its own uid, from a memfd
uid=$(awk '/^Uid:/ {print $2}' "/proc/$PID1/status")
[ "$uid" -ge 810000 ] && ok runs-own-uid || fail runs-own-uid "uid $uid"
readlink "/proc/$PID1/exe" | grep -q memfd && ok runs-from-memfd || fail runs-from-memfd "$(readlink "/proc/$PID1/exe")"
ringctl list >"$TMP/out" 2>&1
expect_grep list-shows 'com.test.sx.guard \(1.0\) +running +[0-9]+ +0 +endpoint-security'
status_json
jcheck status-es-client "[(c['bundle'], c['pid'], c['team']) for c in j['endpoint_security']['clients']] == [('com.test.sx.guard', $PID1, 'TEAMSX1234')] and j['system_extensions'][0]['endpoint_security'] == True"

# --- the supervised client denies an exec ---
run_fs "$FS/forbidden"
grep -q "rc=126" "$TMP/run" && ok exec-denied || fail exec-denied "$(cat "$TMP/run")"
"$PY" -c "
import os,sys
try: os.execv('$FS/forbidden', ['x'])
except PermissionError as e: sys.exit(0 if e.errno == 1 else 2)
" && ok execve-eperm || fail execve-eperm "python execv did not fail with EPERM"
run_fs "$FS/allowed"
grep -q "rc=0" "$TMP/run" && ok other-runs || fail other-runs "$(cat "$TMP/run")"
grep -q "AUTH_EXEC .*target=$FS/forbidden" "$OUT/guard.log" && ok client-logged || fail client-logged "$(cat "$OUT/guard.log")"

# --- kill -9: restarted, denies again ---
rm -f "$OUT/guard.ready"
kill -9 "$PID1"
new_pid() { p=$(sx_field com.test.sx.guard pid); [ -n "$p" ] && [ "$p" != 0 ] && [ "$p" != "$PID1" ] && sx_is com.test.sx.guard running; }
if wait_for 10 new_pid && wait_for 10 test -e "$OUT/guard.ready"; then ok restarted; else fail restarted "$(ringctl list; tail -20 "$TMP/ringd.log")"; fi
PID2=$(sx_field com.test.sx.guard pid)
[ "$(sx_field com.test.sx.guard restarts)" = 1 ] && ok restart-counted || fail restart-counted "$(ringctl list --json)"
grep -q "com.test.sx.guard (system extension 1.0): killed by signal KILL; restarting" "$TMP/ringd.log" && ok restart-logged ||
        fail restart-logged "$(grep sx.guard "$TMP/ringd.log" | tail -5)"
run_fs "$FS/forbidden"
grep -q "rc=126" "$TMP/run" && ok denied-after-restart || fail denied-after-restart "$(cat "$TMP/run")"
status_json
jcheck one-client-after-restart "[c['pid'] for c in j['endpoint_security']['clients']] == [$PID2]"

# --- ringctl debug: stopped, launched again stopped before main() for a debugger; not a crash ---
rm -f "$OUT/guard.ready"
LAUNCHES=$(sx_field com.test.sx.guard launches)
if ringctl debug com.test.sx.guard >"$TMP/debug.out" 2>"$TMP/debug.err"; then ok debug-answers; else
        fail debug-answers "$(cat "$TMP/debug.out" "$TMP/debug.err")"; fi
DPID=$(head -1 "$TMP/debug.out")
[ -n "$DPID" ] && [ "$DPID" != "$PID2" ] && [ "$DPID" = "$(sx_field com.test.sx.guard pid)" ] && ok debug-new-pid ||
        fail debug-new-pid "'$DPID' (was $PID2): $(ringctl list)"
wait_for 10 gone "$PID2" && ok debug-old-stopped || fail debug-old-stopped "pid $PID2 still there"
pstate() { awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null; }
if [ -n "$DPID" ] && wait_for 10 eval '[ "$(pstate "$DPID")" = T ]'; then ok debug-stopped; else
        fail debug-stopped "pid '$DPID' state '$(pstate "$DPID")'"; fi
# stopped by the SDK's constructor: its main() has not written the ready file
sleep 0.3
[ ! -e "$OUT/guard.ready" ] && ok debug-before-main || fail debug-before-main "the ready file is there"
grep -q "is stopped before its first instruction of main: gdb -p $DPID" "$TMP/debug.err" && ok debug-says-gdb ||
        fail debug-says-gdb "$(cat "$TMP/debug.err")"
grep -q "com.test.sx.guard (system extension 1.0): waiting for a debugger: gdb -p $DPID" "$TMP/ringd.log" && ok debug-logged ||
        fail debug-logged "$(grep sx.guard "$TMP/ringd.log" | tail -5)"
gdb -q -batch -p "$DPID" -ex 'info inferiors' >"$TMP/gdb.out" 2>&1 && ok debug-gdb-attaches ||
        fail debug-gdb-attaches "$(cat "$TMP/gdb.out")"
kill -CONT "$DPID" 2>/dev/null
if wait_for 10 test -e "$OUT/guard.ready"; then ok debug-continues; else fail debug-continues "$(ringctl list; tail -5 "$TMP/ringd.log")"; fi
run_fs "$FS/forbidden"
grep -q "rc=126" "$TMP/run" && ok denied-after-debug || fail denied-after-debug "$(cat "$TMP/run")"
[ "$(sx_field com.test.sx.guard restarts)" = 1 ] && [ "$(sx_field com.test.sx.guard launches)" = $((LAUNCHES + 1)) ] &&
        ok debug-not-a-crash || fail debug-not-a-crash "$(ringctl list --json)"
PID2=$DPID

# --- replacement: version 2.0 starts, 1.0 stops ---
rm -f "$OUT/guard.ready"
make_app Guard com.test.sx.guard 2.0 "$ES_CLIENT" "${ARGS[@]}"
quiet ringctl activate "$APPS/Guard.app" com.test.sx.guard
if wait_for 10 version_is com.test.sx.guard 2.0 && wait_for 10 test -e "$OUT/guard.ready"; then ok replacement-runs; else fail replacement-runs "$(ringctl list)"; fi
if wait_for 10 gone "$PID2"; then ok replaced-stopped; else fail replaced-stopped "pid $PID2 still there"; fi
wait_for 10 count_is 1 &&
        ok one-record || fail one-record "$(ringctl list --json)"
run_fs "$FS/forbidden"
grep -q "rc=126" "$TMP/run" && ok denied-by-new-version || fail denied-by-new-version "$(cat "$TMP/run")"

# --- deactivate: stopped, and the exec runs ---
PID3=$(sx_field com.test.sx.guard pid)
quiet ringctl deactivate com.test.sx.guard
if wait_for 10 gone "$PID3"; then ok deactivated-stopped; else fail deactivated-stopped "pid $PID3 still there"; fi
wait_for 10 count_is 0 &&
        ok deactivated-gone || fail deactivated-gone "$(ringctl list --json)"
status_json
jcheck no-client "j['endpoint_security']['clients'] == []"
run_fs "$FS/forbidden"
grep -q "rc=0" "$TMP/run" && ok runs-after-deactivate || fail runs-after-deactivate "$(cat "$TMP/run")"

# --- a crash loop is stopped ---
make_app Crashy com.test.sx.crashy 1.0 /bin/false
quiet ringctl activate "$APPS/Crashy.app" com.test.sx.crashy
quiet ringctl approve com.test.sx.crashy
if wait_for 15 sx_is com.test.sx.crashy failed; then ok crash-loop-stopped; else fail crash-loop-stopped "$(ringctl list)"; fi
ringctl list >"$TMP/out" 2>&1
expect_grep crash-loop-why 'crash loop, not restarted'
[ "$(sx_field com.test.sx.crashy launches)" = 5 ] && ok crash-loop-launches || fail crash-loop-launches "$(ringctl list --json)"
kill -0 "$RINGD_PID" && ok ringd-up || fail ringd-up "ringd died"
# an administrator's retry: launched again with the crash count cleared, so it loops again (5 more launches)
expect_rc restart-stopped 0 ringctl restart com.test.sx.crashy
expect_grep restart-says-running 'com.test.sx.crashy: version 1.0: running'
if wait_for 15 sx_is com.test.sx.crashy failed && [ "$(sx_field com.test.sx.crashy launches)" = 10 ]; then ok restart-loops-again; else
        fail restart-loops-again "$(ringctl list --json)"; fi
grep -q "com.test.sx.crashy.*restarted by an administrator" "$TMP/ringd.log" && ok admin-restart-logged ||
        fail admin-restart-logged "$(grep crashy "$TMP/ringd.log" | tail -3)"
# a failed one, for a debugger: launched at once with its crash count cleared (/bin/false has no SDK to stop it)
expect_rc debug-failed-launches 0 ringctl debug com.test.sx.crashy
grep -q "com.test.sx.crashy.*started for a debugger (was: .*crash loop" "$TMP/ringd.log" && ok debug-failed-logged ||
        fail debug-failed-logged "$(grep crashy "$TMP/ringd.log" | tail -3)"
if wait_for 15 sx_is com.test.sx.crashy failed && [ "$(sx_field com.test.sx.crashy launches)" = 15 ]; then ok debug-failed-loops-again; else
        fail debug-failed-loops-again "$(ringctl list --json)"; fi
expect_rc restart-unknown-refused 1 ringctl restart com.test.sx.nothing
expect_grep restart-unknown-why 'com.test.sx.nothing is not a system extension ringd runs'
expect_rc restart-needs-id 2 ringctl restart

# --- what an extension forks is capped (--max-tasks) and dies with its run ---
make_app Forky com.test.sx.forky 1.0 /bin/sh -c "sleep 1000 &amp; sleep 1000 &amp; exec sleep 1000" # (XML: &amp; is &)
quiet ringctl activate "$APPS/Forky.app" com.test.sx.forky
quiet ringctl approve com.test.sx.forky
FPID=
if wait_for 10 sx_is com.test.sx.forky running; then FPID=$(sx_field com.test.sx.forky pid); fi
kids() { pgrep -P "$1" | sort | paste -sd' '; }
if [ -n "$FPID" ] && wait_for 10 eval '[ "$(kids "$FPID" | wc -w)" = 2 ]'; then ok forky-runs; else
        fail forky-runs "pid '$FPID': $(ringctl list; tail -5 "$TMP/ringd.log")"; fi
KIDS=$(kids "$FPID")
# its pids cgroup, from /proc (v1: "N:pids:/ringkit-P/sxN", v2: "0::/ringkit-P/sxN")
CG=$(sed -n 's/^[0-9]*:pids:\(.*\)/\/sys\/fs\/cgroup\/pids\1/p; s/^0::\(.*\)/\/sys\/fs\/cgroup\1/p' "/proc/$FPID/cgroup" | grep ringkit- | head -1)
if ! grep -q "limits: at most" "$TMP/ringd.log"; then
        ok "forky-capped # SKIP no pids cgroup controller"
elif [ -n "$CG" ] && [ "$(cat "$CG/pids.max")" = 64 ] && [ "$(cat "$CG/pids.current")" = 3 ]; then
        ok forky-capped
else
        fail forky-capped "cgroup '$CG' of pid $FPID: $(cat /proc/"$FPID"/cgroup)"
fi
kill -9 "$FPID"
gone_all() { local p; for p in $KIDS; do kill -0 "$p" 2>/dev/null && return 1; done; return 0; }
if [ -n "$KIDS" ] && wait_for 10 gone_all; then ok forky-children-die-with-it; else fail forky-children-die-with-it "children '$KIDS' still there"; fi
if wait_for 10 sx_is com.test.sx.forky running && [ "$(sx_field com.test.sx.forky pid)" != "$FPID" ]; then ok forky-restarted; else
        fail forky-restarted "$(ringctl list)"; fi
FPID2=$(sx_field com.test.sx.forky pid)
wait_for 10 eval '[ "$(kids "$FPID2" | wc -w)" = 2 ]'
KIDS=$(kids "$FPID2")
quiet ringctl deactivate com.test.sx.forky
if [ -n "$KIDS" ] && wait_for 10 gone "$FPID2" && wait_for 10 gone_all; then ok forky-deactivated-children-gone; else
        fail forky-deactivated-children-gone "pid $FPID2, children '$KIDS'"; fi

# --- shutdown: no extension process left ---
rm -f "$OUT/guard.ready"
quiet ringctl activate "$APPS/Guard.app" com.test.sx.guard
quiet ringctl approve com.test.sx.guard
wait_for 10 test -e "$OUT/guard.ready" && ok running-again || fail running-again "$(ringctl list)"
expect_rc restart-running-refused 1 ringctl restart com.test.sx.guard
expect_grep restart-running-why 'com.test.sx.guard is running, not stopped'
PID4=$(sx_field com.test.sx.guard pid)
ringctl shutdown >/dev/null 2>&1
if wait_for 15 gone "$RINGD_PID"; then ok shutdown; else fail shutdown "ringd still running"; fi
wait "$RINGD_PID"
[ $? = 0 ] && ok shutdown-status || fail shutdown-status "nonzero"
RINGD_PID=
kill -0 "$PID4" 2>/dev/null && fail shutdown-stops-sysext "pid $PID4 alive" || ok shutdown-stops-sysext
grep -q "com.test.sx.guard (system extension 2.0): stopped" "$TMP/ringd.log" && ok stopped-gracefully ||
        fail stopped-gracefully "$(grep sx.guard "$TMP/ringd.log" | tail -5)"

# --- ringd killed: no extension outlives its supervisor (--die-with-parent) ---
# Sleeper ignores its connection to ringd: only the parent-death signal ends it
rm -f "$OUT/guard.ready"
if ringd_start --no-linux --es-scope "$FS" --sandbox-rw "$TMP" -v && wait_for 10 test -e "$OUT/guard.ready"; then
        ok restarted-runs-sysext; else fail restarted-runs-sysext "$(tail -5 "$TMP/ringd.log")"; fi
make_app Sleeper com.test.sx.sleeper 1.0 "$(command -v sleep)" 1000
quiet ringctl activate "$APPS/Sleeper.app" com.test.sx.sleeper
quiet ringctl approve com.test.sx.sleeper
wait_for 10 sx_is com.test.sx.sleeper running && ok sleeper-runs || fail sleeper-runs "$(ringctl list)"
PID5=$(sx_field com.test.sx.guard pid)
PID6=$(sx_field com.test.sx.sleeper pid)
kill -9 "$RINGD_PID"
wait "$RINGD_PID" 2>/dev/null
RINGD_PID=
for p in "guard:$PID5" "sleeper:$PID6"; do
        if [ -n "${p#*:}" ] && wait_for 10 gone "${p#*:}"; then ok "killed-ringd-takes-${p%%:*}"; else
                fail "killed-ringd-takes-${p%%:*}" "pid '${p#*:}' alive after ringd's SIGKILL"; fi
done

# --- the same with --no-sandbox: unconfined, but still not outliving ringd ---
if ringd_start --no-linux --no-sandbox --es-scope "$FS" --sandbox-rw "$TMP" -v && wait_for 10 sx_is com.test.sx.sleeper running; then
        ok unconfined-runs; else fail unconfined-runs "$(ringctl list; tail -5 "$TMP/ringd.log")"; fi
PID7=$(sx_field com.test.sx.sleeper pid)
# unconfined: ringd's uid, not the bundle's
[ -n "$PID7" ] && [ "$(stat -c %u "/proc/$PID7")" = "$(id -u)" ] && ok unconfined-as-ringd-user ||
        fail unconfined-as-ringd-user "pid '$PID7'"
kill -9 "$RINGD_PID"
wait "$RINGD_PID" 2>/dev/null
RINGD_PID=
if [ -n "$PID7" ] && wait_for 10 gone "$PID7"; then ok killed-ringd-takes-unconfined; else
        fail killed-ringd-takes-unconfined "pid '$PID7' alive after ringd's SIGKILL"; fi

# ringd's log: no sanitizer report (ASan/UBSan builds) from ringd or the extensions it ran
expect_no_sanitizer_report sanitizers-clean
finish
