#!/bin/bash
# SPDX-License-Identifier: MIT
# Endpoint security end to end (docs/endpoint-security.md): a real ringd in a
# private root, real client processes (tests/es/es-client.c on libringkit-es)
# run from the store copy of an activated, approved, signed system extension.
# The marks are scoped to a tmpfs the test mounts ($FS), so nothing else on
# the machine is slowed down.  Covers: admission (unentitled executable,
# bundle without the entitlement), a client denying an exec (EPERM) while
# another binary runs, a deny winning over an allow, the AUTH cache, NOTIFY
# events with process and signing information, a missed deadline (default
# allow, counted), muting by target path and by process, and a client that
# crashes mid-stream (its pending AUTH resolves by default, events keep
# flowing to the other client, ringd stays up).
. "$RK_TEST_SRCDIR/tests/cli-lib.sh"
private_root
: "${RINGD:?}" "${RINGKIT_SIGN:?}" "${ES_CLIENT:?}"
FS=$TMP/fs
mkdir -p "$APPS" "$TRUST" "$EXT" "$FS"
export RINGKIT_ES_SOCKET=$ROOT/run/es.sock
at_exit umount "$FS"
if ! mount -t tmpfs -o size=64m,mode=755 rk-es-test "$FS"; then
        echo "cannot mount a tmpfs (needs root)"; exit 77
fi

# --- certificates: one granting the endpoint security entitlement ---
signing_setup TEAMES1234 "Es Dev" com.apple.developer.endpoint-security.client
write_entitlements "$TMP/es.entitlements" com.apple.developer.endpoint-security.client
write_entitlements "$TMP/none.entitlements"

# make_app NAME ID ENTITLEMENTS: an app carrying a system extension whose executable is es-client
make_app() {
        make_app_with "$1" "$2" "$ES_CLIENT" es-client "$3" \
                '<key>NSSystemExtensionUsageDescription</key><string>test endpoint security client</string>'
}

store_exe() { # store_exe ID: the executable of the enabled store copy
        ringctl list --json | "$PY" -c "
import json,sys; j=json.load(sys.stdin)
print([e['store_path'] for e in j['extensions'] if e['identifier']=='$1' and e['state_id']=='activated_enabled'][0] + '/Contents/MacOS/es-client')"
}
# client NAME ARGS...: start a client in the background, wait until it subscribed
client() {
        local name=$1
        shift
        rm -f "$TMP/$name.ready"
        "$CLIENT" --log "$TMP/$name.log" --ready "$TMP/$name.ready" "$@" 2>"$TMP/$name.err" &
        eval "PID_$name=$!"
        PIDS+=("$!")
        wait_for 10 test -e "$TMP/$name.ready"
}
stop_client() { local p; eval "p=\$PID_$1"; kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; }
logged() { grep -q -- "$2" "$TMP/$1.log" 2>/dev/null; }

# option values out of range are refused, naming the option and its range
mkdir -p "$TMP/badroot"
expect_rc bad-es-spin 2 "$RINGD" --root "$TMP/badroot" --es-spin 5000
expect_grep bad-es-spin-says "bad --es-spin '5000' \(0\.\.1000 us\)"
expect_rc bad-es-deadline 2 "$RINGD" --root "$TMP/badroot" --es-deadline 0
expect_grep bad-es-deadline-says "bad --es-deadline '0' \([0-9]+\.\.[0-9]+ ms\)"
expect_rc bad-nf-spin 2 "$RINGD" --root "$TMP/badroot" --nf-spin x
expect_grep bad-nf-spin-says "bad --nf-spin 'x' \(0\.\.1000 us\)"

# a spin other than the default (50 us): the answers below still arrive through it
if ringd_start --no-linux --es-scope "$FS" --es-spin 20 -v && wait_for 20 test -S "$ROOT/run/es.sock"; then ok ringd-starts; else
        fail ringd-starts "$(tail -20 "$TMP/ringd.log")"; finish; exit 1; fi
status_json
jcheck status-es "j['endpoint_security']['fanotify'] == True and j['endpoint_security']['scopes'] == ['$FS'] and j['endpoint_security']['clients'] == [] and j['endpoint_security']['spin_us'] == 20"
jcheck status-nf-spin-default "j['network_filter']['spin_us'] == 50"

make_app Guard com.test.es.guard "$TMP/es.entitlements"
make_app Plain com.test.es.plain "$TMP/none.entitlements"
for id in com.test.es.guard:Guard com.test.es.plain:Plain; do
        quiet ringctl activate "$APPS/${id#*:}.app" "${id%:*}"
        quiet ringctl approve "${id%:*}"
done
CLIENT=$(store_exe com.test.es.guard)
# approved, ringd itself runs the guard as a supervised system extension (docs/system-extensions.md): one
# client that subscribes to nothing (no RKArguments); the checks below are about the clients this test runs
sup_pid() {
        ringctl list --json | "$PY" -c "
import json,sys; j=json.load(sys.stdin)
print([e['pid'] for e in j['system_extensions'] if e['bundle']=='com.test.es.guard' and e['state']=='running'][0])"
}
sup_connected() { SUP=$(sup_pid) && status_json && "$PY" -c "import json,sys; j=json.load(open('$TMP/out')); sys.exit(0 if $SUP in [c['pid'] for c in j['endpoint_security']['clients']] else 1)"; }
if wait_for 10 sup_connected; then ok supervised-client; else fail supervised-client "$(ringctl list)"; fi
PLAIN=$(store_exe com.test.es.plain)
[ -x "$CLIENT" ] && ok client-in-store || fail client-in-store "$CLIENT"

# --- admission ---
expect_rc refuse-not-sysext 3 "$ES_CLIENT"
expect_grep refuse-not-sysext-why 'is not the executable of an activated, enabled system extension'
cp "$CLIENT" "$TMP/copy-of-client"
expect_rc refuse-copy 3 "$TMP/copy-of-client"
expect_rc refuse-unentitled 3 "$PLAIN"
expect_grep refuse-unentitled-why 'com.test.es.plain lacks the entitlement com.apple.developer.endpoint-security.client'
status_json
jcheck refused-counted "j['endpoint_security']['clients_refused'] == 3"

# --- a client denies the exec of a chosen binary ---
cp /bin/true "$FS/forbidden"
cp /bin/true "$FS/allowed"
cp /bin/true "$FS/other"
if client guard --subscribe AUTH_EXEC,NOTIFY_EXEC --deny "$FS/forbidden" --resubscribe; then ok client-admitted; else
        fail client-admitted "$(cat "$TMP/guard.err"; tail -5 "$TMP/ringd.log")"; fi
status_json
jcheck client-listed "[c['bundle'] for c in [c for c in j['endpoint_security']['clients'] if c['pid'] != $SUP]] == ['com.test.es.guard'] and [c for c in j['endpoint_security']['clients'] if c['pid'] != $SUP][0]['team'] == 'TEAMES1234' and [c for c in j['endpoint_security']['clients'] if c['pid'] != $SUP][0]['subscriptions'] == ['AUTH_EXEC', 'NOTIFY_EXEC']"
run_fs "$FS/forbidden"
if grep -q "rc=126" "$TMP/run" && grep -q "Operation not permitted" "$TMP/run"; then ok exec-denied-eperm; else
        fail exec-denied-eperm "$(cat "$TMP/run")"; fi
# the errno itself, from execve(2)
"$PY" -c "
import os,sys
try: os.execv('$FS/forbidden', ['x'])
except PermissionError as e: sys.exit(0 if e.errno == 1 else 2)
" && ok execve-errno-eperm || fail execve-errno-eperm "python execv did not fail with EPERM"
run_fs "$FS/allowed"
grep -q "rc=0" "$TMP/run" && ok other-binary-runs || fail other-binary-runs "$(cat "$TMP/run")"
run_fs /bin/true
grep -q "rc=0" "$TMP/run" && ok outside-scope-runs || fail outside-scope-runs "$(cat "$TMP/run")"
if wait_for 5 logged guard "AUTH_EXEC pid=[0-9]* ppid=$$ uid=0 exe=.* target=$FS/forbidden"; then ok auth-event-process-info; else
        fail auth-event-process-info "$(cat "$TMP/guard.log")"; fi
if wait_for 5 logged guard "NOTIFY_EXEC .*target=$FS/allowed"; then ok notify-exec; else fail notify-exec "$(cat "$TMP/guard.log")"; fi
logged guard "NOTIFY_EXEC .*target=$FS/forbidden" && fail no-notify-for-denied "$(cat "$TMP/guard.log")" || ok no-notify-for-denied
# cache: the same binary again is answered by ringd without asking
n_before=$(grep -c "AUTH_EXEC.*target=$FS/forbidden" "$TMP/guard.log")
run_fs "$FS/forbidden"
grep -q "rc=126" "$TMP/run" && ok cached-deny || fail cached-deny "$(cat "$TMP/run")"
[ "$(grep -c "AUTH_EXEC.*target=$FS/forbidden" "$TMP/guard.log")" = "$n_before" ] && ok cache-not-asked || fail cache-not-asked "$(cat "$TMP/guard.log")"
status_json
jcheck cache-hits "j['endpoint_security']['cache_hits'] >= 1 and j['endpoint_security']['auth_denied'] >= 3"
# a changed file is a new cache key
echo >>"$FS/forbidden"
run_fs "$FS/forbidden"
[ "$(grep -c "AUTH_EXEC.*target=$FS/forbidden" "$TMP/guard.log")" -gt "$n_before" ] && ok cache-invalidated-by-change ||
        fail cache-invalidated-by-change "$(cat "$TMP/guard.log")"

# --- signing information of a ringkit-signed executable ---
cp -r "$APPS/Guard.app" "$FS/Guard.app"
SIGNED=$FS/Guard.app/Contents/Library/SystemExtensions/com.test.es.guard.systemextension/Contents/MacOS/es-client
"$SIGNED" --help >/dev/null 2>&1
if wait_for 5 logged guard "AUTH_EXEC .*target=$SIGNED .*target_signed=TEAMES1234/com.test.es.guard"; then ok signing-info; else
        fail signing-info "$(grep "$SIGNED" "$TMP/guard.log")"; fi

# --- a deny wins over another client's allow ---
client allower --subscribe AUTH_EXEC
run_fs "$FS/other"
grep -q "rc=0" "$TMP/run" && ok two-clients-allow || fail two-clients-allow "$(cat "$TMP/run")"
cp /bin/true "$FS/forbidden"
run_fs "$FS/forbidden"
grep -q "rc=126" "$TMP/run" && ok deny-wins || fail deny-wins "$(cat "$TMP/run")"
logged allower "AUTH_EXEC .*target=$FS/forbidden" && ok both-asked || fail both-asked "$(cat "$TMP/allower.log")"
stop_client allower

# --- NOTIFY: create, close after write, rename, unlink, fork, exit ---
client watcher --subscribe NOTIFY_CREATE,NOTIFY_CLOSE,NOTIFY_RENAME,NOTIFY_UNLINK,NOTIFY_OPEN,NOTIFY_FORK,NOTIFY_EXIT
sh -c "echo hi >'$FS/new.txt'; mv '$FS/new.txt' '$FS/moved.txt'; rm '$FS/moved.txt'; cat /dev/null; exit 3" &
SHPID=$!
wait $SHPID
for ev in "NOTIFY_CREATE pid=$SHPID .*target=$FS/new.txt" "NOTIFY_CLOSE pid=$SHPID .*target=$FS/new.txt" \
          "NOTIFY_RENAME pid=[0-9]* .*target=$FS/new.txt target2=$FS/moved.txt" "NOTIFY_UNLINK pid=[0-9]* .*target=$FS/moved.txt" \
          "NOTIFY_OPEN pid=$SHPID .*target=$FS/new.txt" "NOTIFY_FORK pid=$SHPID .*child=" "NOTIFY_EXIT pid=$SHPID .*status=768"; do
        name=$(echo "$ev" | cut -d' ' -f1 | tr 'A-Z_' 'a-z-')
        if wait_for 5 logged watcher "$ev"; then ok "$name"; else fail "$name" "no /$ev/ in $(grep -v FORK "$TMP/watcher.log" | grep -v EXIT | head -20)"; fi
done
stop_client watcher

# --- muting: by target path prefix, by process ---
mkdir -p "$FS/muted"
cp /bin/true "$FS/muted/quiet"
client muter --subscribe AUTH_EXEC,NOTIFY_EXEC,NOTIFY_CREATE --mute-target "$FS/muted/"
run_fs "$FS/muted/quiet"
touch "$FS/muted/file"
run_fs "$FS/other"
touch "$FS/loud"
wait_for 5 logged muter "NOTIFY_CREATE .*target=$FS/loud" && ok mute-others-seen || fail mute-others-seen "$(cat "$TMP/muter.log")"
logged muter "$FS/muted/" && fail mute-target "$(cat "$TMP/muter.log")" || ok mute-target
stop_client muter
client mutep --subscribe NOTIFY_CREATE --mute-pid $$
: >"$FS/by-test-shell"    # created by this shell itself (pid $$)
sh -c "touch '$FS/by-child'"
wait_for 5 logged mutep "target=$FS/by-child" && ok mute-pid-others-seen || fail mute-pid-others-seen "$(cat "$TMP/mutep.log")"
logged mutep "target=$FS/by-test-shell" && fail mute-pid "$(cat "$TMP/mutep.log")" || ok mute-pid
stop_client mutep

# --- a client that misses its deadline: default allow, counted ---
stop_client guard
client slow --subscribe AUTH_EXEC --sleep-ms 1500 --deadline 300 --no-cache
t0=$(date +%s%N)
run_fs "$FS/other"
t1=$(date +%s%N)
grep -q "rc=0" "$TMP/run" && ok missed-deadline-default-allow || fail missed-deadline-default-allow "$(cat "$TMP/run")"
ms=$(((t1 - t0) / 1000000))
[ "$ms" -ge 250 ] && [ "$ms" -lt 1400 ] && ok missed-deadline-timing || fail missed-deadline-timing "${ms} ms"
status_json
jcheck missed-deadline-counted "[c['missed_deadlines'] for c in [c for c in j['endpoint_security']['clients'] if c['pid'] != $SUP] if c['bundle'] == 'com.test.es.guard'] == [1] and [c for c in j['endpoint_security']['clients'] if c['pid'] != $SUP][0]['deadline_ms'] == 300"
stop_client slow

# --- a client crashes mid-stream: its pending AUTH resolves by default, the other keeps getting events ---
client keeper --subscribe AUTH_EXEC,NOTIFY_EXEC --deny "$FS/forbidden" --no-cache
client crasher --subscribe AUTH_EXEC --crash-after 2 --no-cache --deadline 60000
run_fs "$FS/other"
grep -q "rc=0" "$TMP/run" && ok before-crash || fail before-crash "$(cat "$TMP/run")"
t0=$(date +%s%N)
run_fs "$FS/allowed"    # the crasher aborts on this one, unanswered
t1=$(date +%s%N)
grep -q "rc=0" "$TMP/run" && ok crash-default-allow || fail crash-default-allow "$(cat "$TMP/run")"
[ $(((t1 - t0) / 1000000)) -lt 30000 ] && ok crash-resolved-before-deadline || fail crash-resolved-before-deadline "$(((t1 - t0) / 1000000)) ms"
wait "$PID_crasher" 2>/dev/null
[ $? -ge 128 ] && ok crasher-died || fail crasher-died "exit $?"
run_fs "$FS/forbidden"
grep -q "rc=126" "$TMP/run" && ok after-crash-deny-still-works || fail after-crash-deny-still-works "$(cat "$TMP/run")"
run_fs "$FS/other"
grep -q "rc=0" "$TMP/run" && ok after-crash-runs || fail after-crash-runs "$(cat "$TMP/run")"
wait_for 5 logged keeper "NOTIFY_EXEC .*target=$FS/other" && ok after-crash-events-flow || fail after-crash-events-flow "$(cat "$TMP/keeper.log")"
status_json
jcheck after-crash-ringd-up "[c['bundle'] for c in [c for c in j['endpoint_security']['clients'] if c['pid'] != $SUP]] == ['com.test.es.guard'] and j['endpoint_security']['pending'] == 0"
stop_client keeper

# --- ringd's process cache follows an exec: same pid, new executable ---
# (new file names each round: the AUTH result cache would answer a repeat)
client opener --subscribe AUTH_OPEN
SH_EXE=$(readlink -f /bin/sh)
CAT_EXE=$(readlink -f "$(command -v cat)")
for round in 1 2; do
        for f in a b c; do echo "$f" >"$FS/pc-$f-$round"; done
        sh -c 'echo $$ >"$2"; read -r x <"$1-a-$3"; read -r x <"$1-c-$3"; exec cat "$1-b-$3"' sh "$FS/pc" "$TMP/pc.pid" "$round" >/dev/null 2>&1
        PCPID=$(cat "$TMP/pc.pid")
        if wait_for 5 logged opener "AUTH_OPEN pid=$PCPID .*exe=$CAT_EXE target=$FS/pc-b-$round"; then ok "process-cache-after-exec-$round"; else
                fail "process-cache-after-exec-$round" "$(grep "pid=$PCPID " "$TMP/opener.log")"; fi
        logged opener "AUTH_OPEN pid=$PCPID .*exe=$SH_EXE target=$FS/pc-c-$round" && ok "process-cache-before-exec-$round" ||
                fail "process-cache-before-exec-$round" "$(grep "pid=$PCPID " "$TMP/opener.log")"
done
# a fork is its parent's copy: known parent (it opened a file first), then a
# parent ringd has not seen (its child's placeholder is filled from it)
for f in k1 k2 s1 p1; do echo "$f" >"$FS/pc-$f"; done
sh -c 'echo $$ >"$2"; read -r x <"$1-k1"; ( read -r y <"$1-k2" )' sh "$FS/pc" "$TMP/pc.pid" 2>/dev/null
PCPID=$(cat "$TMP/pc.pid")
if wait_for 5 logged opener "AUTH_OPEN pid=[0-9]* ppid=$PCPID uid=0 exe=$SH_EXE target=$FS/pc-k2"; then ok process-cache-fork-known-parent; else
        fail process-cache-fork-known-parent "$(grep "pc-k" "$TMP/opener.log")"; fi
logged opener "AUTH_OPEN pid=$PCPID ppid=$PCPID " && fail process-cache-fork-own-pid "$(grep "pc-k" "$TMP/opener.log")" ||
        ok process-cache-fork-own-pid
sh -c 'echo $$ >"$2"; ( read -r y <"$1-s1" )' sh "$FS/pc" "$TMP/pc.pid" 2>/dev/null
PCPID=$(cat "$TMP/pc.pid")
if wait_for 5 logged opener "AUTH_OPEN pid=[0-9]* ppid=$PCPID uid=0 exe=$SH_EXE target=$FS/pc-s1"; then ok process-cache-fork-unknown-parent; else
        fail process-cache-fork-unknown-parent "$(grep "pc-s" "$TMP/opener.log")"; fi
# a forked child that changes its uid, and one whose parent execs after the fork
PY_EXE=$(readlink -f "$(command -v "$PY")")
echo u >"$FS/pc-u1"
echo x >"$FS/pc-x1"
chmod 755 "$TMP"
"$PY" -c "
import os,sys,time
open('$FS/pc-p1').close()  # ringd knows this process before it forks
pid=os.fork()
if pid == 0:
    os.setuid(65534); open('$FS/pc-u1').close(); os._exit(0)
os.waitpid(pid, 0)
print(os.getpid(), pid)
" >"$TMP/pc.pids" 2>&1
read -r PYPID CHPID <"$TMP/pc.pids"
if wait_for 5 logged opener "AUTH_OPEN pid=$CHPID ppid=$PYPID uid=65534 exe=$PY_EXE target=$FS/pc-u1"; then ok process-cache-fork-setuid; else
        fail process-cache-fork-setuid "$(cat "$TMP/pc.pids"; grep "pc-u1" "$TMP/opener.log")"; fi
"$PY" -c "
import os,time
pid=os.fork()
if pid == 0:
    time.sleep(0.5); open('$FS/pc-x1').close(); os._exit(0)
print(os.getpid(), pid, flush=True)
os.execv('/bin/sleep', ['sleep', '1'])
" >"$TMP/pc.pids" 2>&1
read -r PYPID CHPID <"$TMP/pc.pids"
if wait_for 5 logged opener "AUTH_OPEN pid=$CHPID ppid=$PYPID uid=0 exe=$PY_EXE target=$FS/pc-x1"; then ok process-cache-parent-exec-after-fork; else
        fail process-cache-parent-exec-after-fork "$(cat "$TMP/pc.pids"; grep "pc-x1" "$TMP/opener.log")"; fi
chmod 700 "$TMP"
status_json
jcheck process-cache-used "j['endpoint_security']['process_cache_hits'] >= 2"
stop_client opener

# --- an exec is one AUTH_EXEC, not also an AUTH_OPEN of the same file (as on macOS) ---
cp /bin/true "$FS/both-a"
cp /bin/true "$FS/both-denied"
client both --subscribe AUTH_EXEC,AUTH_OPEN --deny "$FS/both-denied"
run_fs "$FS/both-a"
grep -q "rc=0" "$TMP/run" && ok exec-with-open-subscribed-runs || fail exec-with-open-subscribed-runs "$(cat "$TMP/run")"
if wait_for 5 logged both "AUTH_EXEC .*target=$FS/both-a "; then ok exec-asked-once; else fail exec-asked-once "$(cat "$TMP/both.log")"; fi
sleep 0.3
XPID=$(sed -n "s/^AUTH_EXEC pid=\([0-9]*\) .*target=$(printf '%s' "$FS" | sed 's/[\/.]/\\&/g')\/both-a .*/\1/p" "$TMP/both.log" | head -1)
if [ -n "$XPID" ] && ! logged both "AUTH_OPEN pid=$XPID "; then ok exec-own-open-not-asked; else
        fail exec-own-open-not-asked "pid '$XPID': $(cat "$TMP/both.log")"; fi
# a later open of the same file is asked as usual
cat "$FS/both-a" >/dev/null
if wait_for 5 logged both "AUTH_OPEN .*exe=$CAT_EXE target=$FS/both-a "; then ok later-open-asked; else fail later-open-asked "$(cat "$TMP/both.log")"; fi
# a denied exec leaves nothing behind: the next open of that file is asked (and denied)
run_fs "$FS/both-denied"
grep -q "rc=126" "$TMP/run" && ok both-exec-denied || fail both-exec-denied "$(cat "$TMP/run")"
run_fs cat "$FS/both-denied"
if grep -q "Operation not permitted" "$TMP/run" && ! grep -q "rc=0" "$TMP/run"; then ok open-after-denied-exec-asked; else
        fail open-after-denied-exec-asked "$(cat "$TMP/run"; cat "$TMP/both.log")"; fi
status_json
jcheck exec-own-opens-counted "j['endpoint_security']['exec_own_opens'] >= 1"
stop_client both

# --- a client of AUTH_OPEN alone is not asked for an exec's open (on macOS an exec is no AUTH_OPEN) ---
cp /bin/true "$FS/oo-bin"
client openonly --subscribe AUTH_OPEN --deny "$FS/oo-bin"
run_fs "$FS/oo-bin"
grep -q "rc=0" "$TMP/run" && ok open-only-exec-runs || fail open-only-exec-runs "$(cat "$TMP/run"; cat "$TMP/openonly.log")"
run_fs cat "$FS/oo-bin"
if grep -q "Operation not permitted" "$TMP/run" && ! grep -q "rc=0" "$TMP/run"; then ok open-only-open-denied; else
        fail open-only-open-denied "$(cat "$TMP/run"; cat "$TMP/openonly.log")"; fi
[ "$(grep -c "target=$FS/oo-bin " "$TMP/openonly.log")" = 1 ] && ok open-only-asked-once-for-the-open ||
        fail open-only-asked-once-for-the-open "$(cat "$TMP/openonly.log")"
stop_client openonly

# --- no clients: marks gone, nothing asked ---
status_json
jcheck no-clients "[c for c in j['endpoint_security']['clients'] if c['pid'] != $SUP] == [] and j['endpoint_security']['pending'] == 0"
run_fs "$FS/forbidden"
grep -q "rc=0" "$TMP/run" && ok no-client-no-deny || fail no-client-no-deny "$(cat "$TMP/run")"

ringd_shutdown
rc=$?
[ $rc = 0 ] && ok ringd-clean-exit || fail ringd-clean-exit "exit $rc; $(tail -20 "$TMP/ringd.log")"
[ "$_failed" -gt 0 ] && { echo "--- ringd's log (endpoint security) ---"; grep "endpoint security" "$TMP/ringd.log" | tail -40; } >&2
finish
