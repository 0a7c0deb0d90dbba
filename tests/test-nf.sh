#!/bin/bash
# SPDX-License-Identifier: MIT
# The network filter end to end (docs/network-filter.md).  Two network
# namespaces joined by a veth pair: A (10.201.0.1), where ringd runs, and
# B (10.201.0.2), the far end (tests/nf/nf-peer.py: TCP listeners, UDP
# echo).  A filter system extension (samples/nf-block; arguments and
# policy in its signed Info.plist), activated and approved, is launched by
# ringd, which installs the rules and hands it the new flows: a TCP connect
# to the dropped port fails while another port works; the flow's facts
# reach the filter; killed, it is restarted; a flow it cannot answer
# (it crashes on it, or is stopped past its deadline) gets the stated
# policy -- fail-open lets it through, fail-closed drops it; deactivation
# and shutdown remove the rules; rules left by a ringd killed with SIGKILL
# are removed at its next start.
. "$RK_TEST_SRCDIR/tests/cli-lib.sh"
private_root
: "${RINGD:?}" "${RINGKIT_SIGN:?}" "${NF_BLOCK:?}"
PEER=$RK_TEST_SRCDIR/tests/nf/nf-peer.py
chmod 0755 "$TMP"
OUT=$TMP/out-nf
mkdir -p "$APPS" "$TRUST" "$EXT" "$OUT"
chmod 1777 "$OUT"   # the filter runs as its own uid and writes its log here
NSA=rknf-a-$$
NSB=rknf-b-$$
A=10.201.0.1
B=10.201.0.2
QUEUE=$((6300 + $$ % 1000))
at_exit ip netns del "$NSA"
at_exit ip netns del "$NSB"
if ! command -v iptables-restore >/dev/null || ! command -v ip >/dev/null || ! command -v nsenter >/dev/null; then
        echo "needs iptables and iproute2 (scripts/deps.sh test)"; exit 77
fi
if ! ip netns add "$NSA" 2>/dev/null || ! ip netns add "$NSB"; then
        echo "cannot make network namespaces (needs root)"; exit 77
fi
ip link add "va$$" netns "$NSA" type veth peer name "vb$$" netns "$NSB" || { echo "no veth"; exit 77; }
inA() { ip netns exec "$NSA" "$@"; }
inB() { ip netns exec "$NSB" "$@"; }
inA ip addr add "$A/24" dev "va$$" && inA ip link set "va$$" up && inA ip link set lo up
inB ip addr add "$B/24" dev "vb$$" && inB ip link set "vb$$" up && inB ip link set lo up
if ! inA iptables -w 5 -S >/dev/null 2>&1; then echo "iptables does not work here"; exit 77; fi

signing_setup TEAMNF1234 "Nf Dev" com.apple.developer.networking.networkextension
write_entitlements "$TMP/nf.entitlements" \
        'com.apple.developer.networking.networkextension=<array><string>content-filter-provider</string></array>'

# make_app NAME ID POLICY: an app carrying a filter extension (nf-block) with that fail policy
make_app() {
        local name=$1 policy=$3
        make_app_with "$name" "$2" "$NF_BLOCK" nf-block "$TMP/nf.entitlements" "\
<key>NSSystemExtensionUsageDescription</key><string>test network filter</string>
<key>RKArguments</key><array><string>--drop-port</string><string>7001</string><string>--crash-port</string>
<string>7003</string><string>--log</string><string>$OUT/$name.log</string><string>--ready</string><string>$OUT/$name.ready</string></array>
<key>RKNetworkFilter</key><dict><key>FailPolicy</key><string>$policy</string><key>DeadlineMs</key><integer>400</integer></dict>"
}

rules_present() { inA iptables -w 5 -S 2>/dev/null | grep -q RINGKIT-NF; }
rules_absent() { ! rules_present && ! inA ip6tables -w 5 -S 2>/dev/null | grep -q RINGKIT-NF; }
tcp() { inA "$PY" "$PEER" tcp "$B" "$1"; }
udp() { inA "$PY" "$PEER" udp "$B" "$1"; }
expect_ok() { if "${@:2}"; then ok "$1"; else fail "$1" "$* failed"; fi; }
expect_fail() { if "${@:2}"; then fail "$1" "$* worked"; else ok "$1"; fi; }
# nsenter execs ringd itself (ip netns exec forks): $RINGD_PID is ringd's
RINGD_WRAP=(nsenter --net="/run/netns/$NSA" --)
start_ringd() { ringd_start --no-linux --nf-queue "$QUEUE" --sandbox-rw "$TMP" -v; }

# the far end in B, and a listener in A for an inbound flow
inB "$PY" "$PEER" serve "$B" 7001,7002 7003,7004 >"$TMP/peerB.out" 2>&1 &
PIDS+=($!)
inA "$PY" "$PEER" serve "$A" 7005 "" >"$TMP/peerA.out" 2>&1 &
PIDS+=($!)
wait_for 10 grep -q ready "$TMP/peerB.out" && wait_for 10 grep -q ready "$TMP/peerA.out" || { echo "peers did not start"; exit 1; }
expect_ok no-filter-tcp-7001 tcp 7001

if start_ringd; then ok ringd-starts; else fail ringd-starts "$(tail -20 "$TMP/ringd.log")"; finish; exit 1; fi
status_json
jcheck no-filter-no-queue "j['network_filter']['bound'] == False and j['network_filter']['rules'] == False and j['network_filter']['filters'] == []"
rules_absent && ok no-filter-no-rules || fail no-filter-no-rules "$(inA iptables -S)"

# --- a fail-open filter: approved, it runs, rules installed ---
make_app Open com.test.nf.open fail-open
quiet ringctl activate "$APPS/Open.app" com.test.nf.open
quiet ringctl approve com.test.nf.open
if wait_for 10 sx_is com.test.nf.open running && wait_for 10 test -e "$OUT/Open.ready"; then ok filter-runs; else
        fail filter-runs "$(ringctl list; tail -20 "$TMP/ringd.log")"; fi
PID1=$(sx_field com.test.nf.open pid)
status_json
jcheck filter-listed "j['network_filter']['bound'] == True and j['network_filter']['rules'] == True and [(f['bundle'], f['policy'], f['deadline_ms'], f['connected'], f['pid']) for f in j['network_filter']['filters']] == [('com.test.nf.open', 'fail-open', 400, True, $PID1)]"
rules_present && ok rules-installed || fail rules-installed "$(inA iptables -S)"
inA iptables -w 5 -S RINGKIT-NF | grep -q -- "--ctstate NEW -j NFQUEUE --queue-num $QUEUE --queue-bypass" && ok rule-text ||
        fail rule-text "$(inA iptables -S RINGKIT-NF)"

# --- the filter drops the chosen port, lets another through ---
expect_fail drop-tcp-7001 tcp 7001
expect_ok allow-tcp-7002 tcp 7002
expect_ok allow-udp-7004 udp 7004
expect_ok inbound-tcp-7005 inB "$PY" "$PEER" tcp "$A" 7005
grep -q "^drop tcp out src=$A sport=[0-9]* dst=$B dport=7001 if=va$$ uid=0" "$OUT/Open.log" && ok flow-facts-drop ||
        fail flow-facts-drop "$(cat "$OUT/Open.log")"
grep -q "^allow tcp out src=$A sport=[0-9]* dst=$B dport=7002 if=va$$ uid=0" "$OUT/Open.log" && ok flow-facts-allow ||
        fail flow-facts-allow "$(cat "$OUT/Open.log")"
grep -q "^allow udp out src=$A .*dport=7004" "$OUT/Open.log" && ok flow-facts-udp || fail flow-facts-udp "$(cat "$OUT/Open.log")"
grep -q "^allow tcp in src=$B sport=[0-9]* dst=$A dport=7005 if=va$$" "$OUT/Open.log" && ok flow-facts-inbound ||
        fail flow-facts-inbound "$(cat "$OUT/Open.log")"
status_json
jcheck counted "j['network_filter']['dropped'] >= 1 and j['network_filter']['filters'][0]['dropped'] >= 1 and j['network_filter']['filters'][0]['allowed'] >= 3 and j['network_filter']['pending'] == 0"

# --- killed: restarted by supervision, filtering again ---
rm -f "$OUT/Open.ready"
kill -9 "$PID1"
new_pid() { p=$(sx_field com.test.nf.open pid); [ -n "$p" ] && [ "$p" != 0 ] && [ "$p" != "$PID1" ]; }
if wait_for 10 new_pid && wait_for 10 test -e "$OUT/Open.ready"; then ok filter-restarted; else fail filter-restarted "$(ringctl list)"; fi
PID2=$(sx_field com.test.nf.open pid)
expect_fail drop-after-restart tcp 7001
expect_ok allow-after-restart tcp 7002

# --- fail-open: the filter dies on a flow; the flow gets through ---
rm -f "$OUT/Open.ready"
expect_ok fail-open-crash-udp-7003 udp 7003
grep -q "^crash udp out .*dport=7003" "$OUT/Open.log" && ok filter-saw-crash-flow || fail filter-saw-crash-flow "$(cat "$OUT/Open.log")"
wait_for 10 test -e "$OUT/Open.ready" && ok restarted-after-crash || fail restarted-after-crash "$(ringctl list)"
status_json
jcheck fail-open-counted "j['network_filter']['policy_allowed'] >= 1 and j['network_filter']['policy_dropped'] == 0 and j['network_filter']['filters'][0]['policy_applied'] >= 1"
grep -q "network filter: com.test.nf.open went away: fail-open, allowed udp $A:[0-9]* -> $B:7003" "$TMP/ringd.log" &&
        ok fail-open-logged || fail fail-open-logged "$(grep 'network filter' "$TMP/ringd.log" | tail -5)"

# --- fail-open: stopped past its deadline ---
PID3=$(sx_field com.test.nf.open pid)
kill -STOP "$PID3"
expect_ok fail-open-deadline-tcp-7001 tcp 7001   # the filter would drop it, but cannot answer
kill -CONT "$PID3"
status_json
jcheck deadline-missed-counted "j['network_filter']['filters'][0]['missed_deadlines'] >= 1"
expect_fail drop-after-continue tcp 7001

# --- deactivated: stopped, rules removed, nothing filtered ---
quiet ringctl deactivate com.test.nf.open
if wait_for 10 gone "$PID3"; then ok deactivated-stopped; else fail deactivated-stopped "pid $PID3"; fi
wait_for 10 rules_absent && ok deactivated-rules-removed || fail deactivated-rules-removed "$(inA iptables -S)"
expect_ok deactivated-tcp-7001 tcp 7001
status_json
jcheck deactivated-no-filter "j['network_filter']['filters'] == [] and j['network_filter']['bound'] == False"

# --- a fail-closed filter ---
make_app Closed com.test.nf.closed fail-closed
quiet ringctl activate "$APPS/Closed.app" com.test.nf.closed
quiet ringctl approve com.test.nf.closed
if wait_for 10 test -e "$OUT/Closed.ready"; then ok closed-runs; else fail closed-runs "$(ringctl list; tail -20 "$TMP/ringd.log")"; fi
expect_ok closed-allow-tcp-7002 tcp 7002
expect_fail closed-drop-tcp-7001 tcp 7001
rm -f "$OUT/Closed.ready"
expect_fail fail-closed-crash-udp-7003 udp 7003
wait_for 10 test -e "$OUT/Closed.ready" && ok closed-restarted || fail closed-restarted "$(ringctl list)"
expect_ok closed-udp-7004-after-restart udp 7004
status_json
jcheck fail-closed-counted "j['network_filter']['policy_dropped'] >= 1 and [f['policy'] for f in j['network_filter']['filters']] == ['fail-closed']"
grep -q "network filter: com.test.nf.closed went away: fail-closed, dropped udp $A:[0-9]* -> $B:7003" "$TMP/ringd.log" &&
        ok fail-closed-logged || fail fail-closed-logged "$(grep 'network filter' "$TMP/ringd.log" | tail -5)"
PID4=$(sx_field com.test.nf.closed pid)
kill -STOP "$PID4"
expect_fail fail-closed-deadline-tcp-7002 tcp 7002
kill -CONT "$PID4"
expect_ok closed-after-continue tcp 7002

# --- ringd killed: its rules stay (the queue is bypassed), the next start removes them ---
kill -9 "$RINGD_PID"
wait "$RINGD_PID" 2>/dev/null
RINGD_PID=
rules_present && ok crash-leaves-rules || fail crash-leaves-rules "$(inA iptables -S)"
expect_ok bypass-while-down tcp 7001
wait_for 10 gone "$PID4" && ok filter-exits-with-ringd || fail filter-exits-with-ringd "pid $PID4"
rm -f "$OUT/Closed.ready"
if start_ringd; then ok ringd-restarts; else fail ringd-restarts "$(tail -20 "$TMP/ringd.log")"; fi
grep -q "network filter: removing the rules a previous ringd left" "$TMP/ringd.log" && ok stale-rules-removed ||
        fail stale-rules-removed "$(grep 'network filter' "$TMP/ringd.log" | tail -5)"
wait_for 10 test -e "$OUT/Closed.ready" && ok filter-back || fail filter-back "$(ringctl list)"
expect_fail filtering-again tcp 7001
[ "$(inA iptables -w 5 -S | grep -c -- '-j RINGKIT-NF')" = 3 ] && ok rules-once || fail rules-once "$(inA iptables -S)"

# --- shutdown: no rules left ---
ringctl shutdown >/dev/null 2>&1
if wait_for 15 gone "$RINGD_PID"; then ok shutdown; else fail shutdown "still running"; fi
wait "$RINGD_PID"
RINGD_PID=
rules_absent && ok no-rules-after-shutdown || fail no-rules-after-shutdown "$(inA iptables -S)"
inA nft list ruleset 2>/dev/null | grep -q RINGKIT && fail no-nft-leftovers "$(inA nft list ruleset)" || ok no-nft-leftovers
expect_ok after-shutdown-tcp-7001 tcp 7001
# ringd's log: no sanitizer report (ASan/UBSan builds) from ringd or the extensions it ran
expect_no_sanitizer_report sanitizers-clean
finish
