#!/bin/bash
# SPDX-License-Identifier: MIT
# Hostile input on every socket a real ringd serves, and on a driver's user
# client (docs/hostile-input.md).  One ringd in a private root (and its own
# network namespace, for the filter's iptables rules) runs the sample
# user-client driver, an entitled endpoint security system extension and a
# network filter extension.  Probes, each followed by the same checks -- ringd still
# runs, answers `ringctl status --json`, logged a reason, and its state
# (extensions, system extensions, driver instances) is what it was:
#   control socket (run/ringd.sock): random bytes, a truncated header, a
#     length past the datagram, a short payload, a payload that is no plist,
#     a wrong message type, an fd passed where none is taken, 3000
#     connections opened and dropped (every third after a random datagram);
#     a service watcher that never reads while 300 services come and go;
#   run/es.sock: unadmitted peers sending garbage and 1000 connect/drops; an
#     admitted client (tests/hostile/hostile-peer.c from the extension's store
#     copy) sending requests with bad sizes, fields, kinds and types (each
#     ACKed with its errno), broken framing and an unexpected fd, then a good
#     request that still works; a client that subscribes and never reads
#     while thousands of events are sent to it;
#   the network filter connection: a filter extension (hostile-peer nf,
#     launched by ringd) sending short and unknown verdicts, wrong types,
#     broken framing and an unexpected fd: each refused, logged and counted,
#     the filter stays connected;
#   the user client: an app sending the sample driver garbage (random bytes,
#     truncated and lying call headers, unknown and reply types, memory
#     descriptors without fd, too large, unsealed): the driver closes those
#     connections (or refuses the descriptor) and keeps serving a new one,
#     without restarting.
. "$RK_TEST_SRCDIR/tests/cli-lib.sh"
private_root
: "${RINGD:?}" "${RINGKIT_SIGN:?}" "${RINGKIT_BUILTIN:?}" "${UC_SAMPLE_DEXT:?}" "${HOSTILE_PEER:?}"
FS=$TMP/fs
mkdir -p "$APPS" "$TRUST" "$EXT" "$FS"
chmod 0755 "$TMP"
NS=rkho-$$
QUEUE=$((7300 + $$ % 1000))
at_exit umount "$FS"
at_exit ip netns del "$NS"
if [ "$(id -u)" != 0 ] || ! mount -t tmpfs -o size=16m,mode=755 rk-hostile-test "$FS"; then
        echo "needs root (a tmpfs for the endpoint security scope)"; exit 77
fi
if ! command -v iptables-restore >/dev/null || ! command -v nsenter >/dev/null || ! ip netns add "$NS" 2>/dev/null; then
        echo "needs iptables, nsenter and network namespaces (scripts/deps.sh test)"; exit 77
fi
ip netns exec "$NS" ip link set lo up

# --- a system extension entitled to endpoint security, whose executable is the hostile peer ---
signing_setup TEAMHO1234 "Hostile Dev" com.apple.developer.endpoint-security.client \
        com.apple.developer.networking.networkextension
write_entitlements "$TMP/es.entitlements" com.apple.developer.endpoint-security.client
write_entitlements "$TMP/nf.entitlements" \
        'com.apple.developer.networking.networkextension=<array><string>content-filter-provider</string></array>'
# make_app NAME ID ENTITLEMENTS [INFO-XML]: an app carrying a system extension whose executable is hostile-peer
make_app() {
        make_app_with "$1" "$2" "$HOSTILE_PEER" hostile-peer "$3" \
                "<key>NSSystemExtensionUsageDescription</key><string>hostile peer</string>
$4"
}
ID=com.test.hostile.es
NFID=com.test.hostile.nf
make_app Hostile "$ID" "$TMP/es.entitlements"
make_app HostileNf "$NFID" "$TMP/nf.entitlements" "<key>RKArguments</key><array><string>nf</string></array>
<key>RKNetworkFilter</key><dict><key>FailPolicy</key><string>fail-open</string><key>DeadlineMs</key><integer>400</integer></dict>"
APP=$APPS/Hostile.app

# --- the sample user-client driver ---
B=$EXT/UCSample.dext
mkdir -p "$B/Contents/MacOS"
cp "$RK_TEST_SRCDIR/samples/userclient/Info.plist" "$B/Contents/"
cp "$UC_SAMPLE_DEXT" "$B/Contents/MacOS/uc-sample-dext"

log_has() { grep -q -- "$1" "$TMP/ringd.log"; }
# state: extensions and their states, supervised system extensions, running driver instances (with pids)
state() {
        ringctl list --json | "$PY" -c "
import json,sys; j=json.load(sys.stdin)
ex=sorted((e['identifier'], e['state_id']) for e in j.get('extensions', []))
sx=sorted((e['bundle'], e['state'], e.get('pid')) for e in j.get('system_extensions', []))
ins=sorted((i.get('bundle'), i.get('state'), i.get('pid')) for i in j.get('instances', []))
print(json.dumps([ex, sx, ins]))"
}
# alive NAME: ringd runs, answers status --json, and its state is the one taken before the probes
alive() {
        if ! kill -0 "$RINGD_PID" 2>/dev/null; then fail "$1-ringd-runs" "ringd exited: $(tail -20 "$TMP/ringd.log")"; return; fi
        if ringctl status --json >"$TMP/out" 2>&1 && "$PY" -c "import json; json.load(open('$TMP/out'))"; then
                ok "$1-status"
        else fail "$1-status" "$(head -c 2000 "$TMP/out")"; fi
        local now
        now=$(state)
        [ "$now" = "$STATE0" ] && ok "$1-state-intact" || fail "$1-state-intact" "was $STATE0, now $now"
}

# nsenter execs ringd itself: $RINGD_PID is ringd's
RINGD_WRAP=(nsenter --net="/run/netns/$NS" --)
if ringd_start --builtin "$RINGKIT_BUILTIN" --no-linux --es-scope "$FS" --nf-queue "$QUEUE" --sandbox-rw "$TMP" -v &&
        wait_for 20 test -S "$ROOT/run/es.sock"; then ok ringd-starts; else
        fail ringd-starts "$(tail -20 "$TMP/ringd.log")"; finish; exit 1; fi
quiet ringctl activate "$APP" "$ID"
quiet ringctl approve "$ID"
quiet ringctl activate "$APPS/HostileNf.app" "$NFID"
quiet ringctl approve "$NFID"
quiet ringctl developer on
quiet ringctl virt add --class RKUCSampleDevice --property IOName=ucs0
sx_running() { ringctl list --json | grep -q "\"bundle\":\"$ID\",\"state\":\"running\"" || ringctl list --json | "$PY" -c "
import json,sys; j=json.load(sys.stdin); sys.exit(0 if [e for e in j.get('system_extensions',[]) if e['bundle']=='$ID' and e['state']=='running'] else 1)"; }
dext_running() { ringctl list --json | "$PY" -c "
import json,sys; j=json.load(sys.stdin); sys.exit(0 if [i for i in j.get('instances',[]) if i.get('bundle')=='org.ringkit.sample.userclient' and i.get('state')=='running'] else 1)"; }
nf_connected() { ringctl status --json | "$PY" -c "
import json,sys; j=json.load(sys.stdin); sys.exit(0 if [f for f in j['network_filter']['filters'] if f['bundle']=='$NFID' and f['connected']] else 1)"; }
if wait_for 20 sx_running && wait_for 20 dext_running && wait_for 20 nf_connected; then ok setup-running; else
        fail setup-running "$(ringctl list; tail -20 "$TMP/ringd.log")"; finish; exit 1; fi
STATE0=$(state)
STORE_EXE=$(ringctl list --json | "$PY" -c "
import json,sys; j=json.load(sys.stdin)
print([e['store_path'] for e in j['extensions'] if e['identifier']=='$ID' and e['state_id']=='activated_enabled'][0] + '/Contents/MacOS/hostile-peer')")

# --- the control socket ---
# ctl KIND: one connection to run/ringd.sock, one hostile datagram (tests/hostile/ctl.py)
ctl() { "$PY" "$RK_TEST_SRCDIR/tests/hostile/ctl.py" "$ROOT/run/ringd.sock" "$@" >"$TMP/out" 2>&1; }
for kind in random truncated oversized short-payload not-plist wrong-type fd; do
        n_before=$(grep -c "control: dropping a client" "$TMP/ringd.log")
        if ctl "$kind"; then ok "ctl-$kind-dropped"; else fail "ctl-$kind-dropped" "$(cat "$TMP/out")"; fi
        if wait_for 5 sh -c "[ \$(grep -c 'control: dropping a client' '$TMP/ringd.log') -gt $n_before ]"; then
                ok "ctl-$kind-logged"
        else fail "ctl-$kind-logged" "$(tail -5 "$TMP/ringd.log")"; fi
        alive "ctl-$kind"
done
log_has "control: dropping a client (uid 0): a malformed datagram" && ok ctl-reason-framing || fail ctl-reason-framing "$(grep control: "$TMP/ringd.log" | tail -5)"
log_has "control: dropping a client (uid 0) that sent a malformed request: not a request" && ok ctl-reason-type ||
        fail ctl-reason-type "$(grep control: "$TMP/ringd.log" | tail -5)"
if ctl flood 3000; then ok ctl-flood; else fail ctl-flood "$(cat "$TMP/out")"; fi
alive ctl-flood

# --- the control socket: a watcher that never reads while services come and go ---
rm -f "$TMP/watch.ready"
"$HOSTILE_PEER" watch-stall "$ROOT" RKHostileNothing "$TMP/watch.ready" >"$TMP/watch.out" 2>&1 &
WATCH=$!
PIDS+=("$WATCH")
if wait_for 10 test -e "$TMP/watch.ready"; then ok ctl-watch-subscribed; else fail ctl-watch-subscribed "$(cat "$TMP/watch.out")"; fi
churn_ok=1
for k in $(seq 1 150); do
        vid=$(ringctl virt add --class RKHostileNothing --property IOName=nothing$k) && ringctl virt remove "$vid" >/dev/null ||
                { churn_ok=0; break; }
done
[ $churn_ok = 1 ] && ok ctl-watch-churn || fail ctl-watch-churn "virt add/remove failed at $k: $(tail -5 "$TMP/ringd.log")"
alive ctl-watch
kill "$WATCH"; wait "$WATCH" 2>/dev/null
alive ctl-watch-gone

# --- run/es.sock: peers that are not clients ---
if "$PY" "$RK_TEST_SRCDIR/tests/hostile/ctl.py" "$ROOT/run/es.sock" es-garbage >"$TMP/out" 2>&1; then ok es-unadmitted-garbage; else
        fail es-unadmitted-garbage "$(cat "$TMP/out")"; fi
if "$PY" "$RK_TEST_SRCDIR/tests/hostile/ctl.py" "$ROOT/run/es.sock" flood 1000 >"$TMP/out" 2>&1; then ok es-flood; else
        fail es-flood "$(cat "$TMP/out")"; fi
alive es-unadmitted

# --- run/es.sock: an admitted client that breaks the wire ---
"$STORE_EXE" es "$ROOT/run/es.sock" >"$TMP/out" 2>&1
rc=$?
[ $rc = 0 ] && ok es-client-probes || fail es-client-probes "rc $rc: $(cat "$TMP/out")"
for a in "subscribe-short -74" "subscribe-unknown-event -22" "mute-unterminated -22" "mute-unknown-kind -22" \
        "deadline-zero -22" "deadline-oversized -74" "unknown-type -95" "ringd-type -95" "deadline-after-garbage 0"; do
        grep -qx "ack $a" "$TMP/out" && ok "es-ack-${a% *}" || fail "es-ack-${a% *}" "$(cat "$TMP/out")"
done
if wait_for 5 log_has "endpoint security: client [0-9]* ($ID, pid [0-9]*): refused message type 0x4501 of 4 bytes: Bad message"; then
        ok es-refusal-logged; else fail es-refusal-logged "$(grep 'endpoint security' "$TMP/ringd.log" | tail -10)"; fi
log_has "endpoint security: client [0-9]* ($ID, pid [0-9]*): refused a malformed datagram" && ok es-framing-logged ||
        fail es-framing-logged "$(grep 'endpoint security' "$TMP/ringd.log" | tail -10)"
log_has "(further ones not logged)" && ok es-log-bounded || fail es-log-bounded "$(grep 'refused' "$TMP/ringd.log" | tail -10)"
alive es-client

# --- run/es.sock: a client that subscribes and never reads while events pour in ---
rm -f "$TMP/stall.ready"
"$STORE_EXE" es-stall "$ROOT/run/es.sock" "$TMP/stall.ready" >"$TMP/stall.out" 2>&1 &
STALL=$!
PIDS+=("$STALL")
if wait_for 10 test -e "$TMP/stall.ready"; then ok es-stall-subscribed; else fail es-stall-subscribed "$(cat "$TMP/stall.out")"; fi
echo x >"$FS/f"
"$PY" -c "
for k in range(20000):
    open('$FS/f').close()
"
ok es-stall-events-sent
status_json
if "$PY" -c "
import json,sys; j=json.load(open('$TMP/out'))
c=[c for c in j['endpoint_security']['clients'] if c['pid']==$STALL]
sys.exit(0 if c and c[0]['subscriptions'] == ['NOTIFY_OPEN'] and c[0]['dropped'] + c[0]['events'] > 0 else 1)"; then ok es-stall-client-listed; else fail es-stall-client-listed "$(head -c 3000 "$TMP/out")"; fi
alive es-stall
kill "$STALL"; wait "$STALL" 2>/dev/null
if wait_for 5 log_has "endpoint security: client [0-9]* ($ID, pid $STALL) gone"; then ok es-stall-gone-logged; else
        fail es-stall-gone-logged "$(grep 'endpoint security' "$TMP/ringd.log" | tail -5)"; fi
alive es-stall-gone

# --- the network filter connection: a filter that breaks the wire ---
if wait_for 10 log_has "network filter: $NFID (pid [0-9]*): refused message type 0x4e01 of 4 bytes: Bad message"; then
        ok nf-short-verdict-logged; else fail nf-short-verdict-logged "$(grep 'network filter' "$TMP/ringd.log" | tail -10)"; fi
log_has "network filter: $NFID (pid [0-9]*): refused message type 0x4e01 of 16 bytes: Invalid argument" && ok nf-bad-verdict-logged ||
        fail nf-bad-verdict-logged "$(grep 'network filter' "$TMP/ringd.log" | tail -10)"
log_has "network filter: $NFID (pid [0-9]*): refused a malformed datagram" && ok nf-framing-logged ||
        fail nf-framing-logged "$(grep 'network filter' "$TMP/ringd.log" | tail -10)"
nf_counts() { ringctl status --json >"$TMP/out" 2>&1 && "$PY" -c "
import json,sys; j=json.load(open('$TMP/out')); f=[f for f in j['network_filter']['filters'] if f['bundle']=='$NFID'][0]
sys.exit(0 if f['refused_messages'] == 7 and f['late_answers'] == 1 and f['connected'] else 1)"; }
if wait_for 10 nf_counts; then ok nf-refused-counted; else fail nf-refused-counted "$(head -c 3000 "$TMP/out")"; fi
alive nf

# --- the user client: an app sending the sample driver garbage ---
DEXT_PID0=$(echo "$STATE0" | "$PY" -c "
import json,sys; s=json.load(sys.stdin); print([i[2] for i in s[2] if i[0]=='org.ringkit.sample.userclient'][0])")
"$HOSTILE_PEER" uc "$ROOT" >"$TMP/out" 2>&1
rc=$?
[ $rc = 0 ] && ok uc-probes || fail uc-probes "rc $rc: $(cat "$TMP/out")"
for k in random-bytes truncated-header call-short call-too-many-scalars call-short-payload unknown-type app-sends-reply \
        memory-without-fd; do
        grep -qx "closed $k" "$TMP/out" && ok "uc-closed-$k" || fail "uc-closed-$k" "$(cat "$TMP/out")"
done
for k in memory-huge-pipe memory-unsealed; do
        grep -q "^refused $k -" "$TMP/out" && ok "uc-refused-$k" || fail "uc-refused-$k" "$(cat "$TMP/out")"
done
[ "$(grep -c '^call ok 42$' "$TMP/out")" = 2 ] && ok uc-serves-before-and-after || fail uc-serves-before-and-after "$(cat "$TMP/out")"
log_has "user client (type 0): closing: malformed message" && ok uc-driver-logged || fail uc-driver-logged "$(tail -10 "$TMP/ringd.log")"
[ -d "/proc/$DEXT_PID0" ] && ok uc-driver-not-restarted || fail uc-driver-not-restarted "pid $DEXT_PID0 gone"
alive uc

finish
