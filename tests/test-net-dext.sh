#!/bin/bash
# SPDX-License-Identifier: MIT
# The network family end to end (needs root: TAP interfaces): ringd creates
# a TAP interface for the sample dext samples/tapnet, which answers ARP and
# ping in user space; the interface and its IOEthernetInterface nub go when
# the device goes, when the dext crashes (and come back with its restart),
# and at shutdown.  A signed bundle without the networking entitlement gets
# no interface.
. "$RK_TEST_SRCDIR/tests/cli-lib.sh"
: "${RINGD:?}" "${TAPNET:?}" "${RINGKIT_SIGN:?}"
if [ "$(id -u)" -ne 0 ] || [ ! -c /dev/net/tun ]; then echo "skipped: needs root and /dev/net/tun"; exit 77; fi

ROOT=$TMP/root
EXT=$ROOT/extensions
TRUST=$ROOT/etc/ringkit/trust
mkdir -p "$EXT" "$TRUST"
IFN=rkn$$                 # interface names are at most 15 characters
IFN=${IFN:0:15}
NET=10.213.77             # the host is .1, the dext answers for .2
PY=${PYTHON:-python3}

# tapnet_bundle DIR ID CLASS IFNAME : the sample dext, matching a virtual device of CLASS
tapnet_bundle() {
        make_bundle "$1" "$2" DEXT "$TAPNET" tapnet "<key>IOKitPersonalities</key><dict>
<key>TapNet</key><dict><key>IOClass</key><string>IOUserService</string>
<key>IOUserClass</key><string>TapNetDriver</string>
<key>IOProviderClass</key><string>$3</string>
<key>TapNetInterface</key><string>$4</string>
<key>TapNetAddress</key><string>$NET.2</string></dict>
</dict>"
}
tapnet_bundle "$EXT/TapNet.dext" org.ringkit.test.tapnet RKTapNetDevice "$IFN"

ringctl() { "$RINGCTL" --root "$ROOT" "$@"; }
link_up() { ip -o link show "$1" 2>/dev/null | grep -q '[<,]UP[,>]'; }
link_gone() { ! ip link show "$1" >/dev/null 2>&1; }
ifindex() { cat "/sys/class/net/$1/ifindex" 2>/dev/null; }
dext_pid() {
        ringctl list --json | "$PY" -c '
import json,sys
print(next((str(i["pid"]) for i in json.load(sys.stdin)["instances"] if i["personality"]=="TapNet" and i["state"]=="running"), ""))'
}
# prop KEY: a property of the TapNetDriver service ("" when absent)
prop() {
        ringctl registry -l --json | "$PY" -c '
import json,sys
def walk(n):
    if "TapNetDriver" in n.get("classes", [n.get("class")]) or n.get("class") == "TapNetDriver":
        v = n.get("properties", {}).get(sys.argv[1])
        if v is not None: print(v); sys.exit()
    for c in n.get("children", []): walk(c)
walk(json.load(sys.stdin))' "$1"
}
# pings ADDR N: echo replies received for N ICMP echo requests from the host's stack through $IFN
pings() {
        if command -v ping >/dev/null; then
                ping -n -c "$2" -i 0.2 -W 2 -I "$IFN" "$1" 2>&1 | awk '/received/ {print $4}'
                return
        fi
        "$PY" - "$1" "$2" "$IFN" <<'PY'
import os, socket, struct, sys, time
addr, n, ifname = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
ident, got = os.getpid() & 0xffff, 0
for seq in range(1, n + 1):
    body = struct.pack("!d", time.time()) + b"ringkit tapnet ping"
    hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    s.sendto(struct.pack("!BBHHH", 8, 0, csum(hdr + body), ident, seq) + body, (addr, 0))
    end = time.time() + 2
    while time.time() < end:
        s.settimeout(max(0.01, end - time.time()))
        try: pkt, src = s.recvfrom(2048)
        except socket.timeout: break
        ihl = (pkt[0] & 15) * 4
        t, _, _, i, q = struct.unpack("!BBHHH", pkt[ihl:ihl + 8])
        if src[0] == addr and t == 0 and i == ident and q == seq and pkt[ihl + 8:] == body:
            got += 1
            break
print(got)
PY
}

start_ringd() {
        "$RINGD" --root "$ROOT" --no-linux --step-timeout 3000 --trust-store "$TRUST" -v "$@" 2>>"$TMP/ringd.log" &
        RINGD_PID=$!
        wait_for 10 test -S "$ROOT/run/ringd.sock" && wait_for 10 ringctl status
}
if start_ringd; then ok ringd-starts; else fail ringd-starts "$(tail -20 "$TMP/ringd.log")"; finish; exit 1; fi
ringctl developer on >/dev/null

# --- the device appears: the dext gets its interface, up, published as a nub ---
id=$(ringctl virt add --class RKTapNetDevice --property IOName=tapnet-dev)
if wait_for 10 link_up "$IFN"; then ok net-interface-up; else fail net-interface-up "$(tail -20 "$TMP/ringd.log")"; fi
grep -q "org.ringkit.test.tapnet#[0-9]*: network interface $IFN created" "$TMP/ringd.log" && ok net-create-logged ||
        fail net-create-logged "$(grep -i network "$TMP/ringd.log" | tail -3)"
wait_for 5 sh -c "[ -n \"\$(\"$RINGCTL\" --root \"$ROOT\" registry -l --json | grep -o IOEthernetInterface)\" ]"
ringctl registry -l --json >"$TMP/out"
mac=$(cat "/sys/class/net/$IFN/address")
"$PY" - "$TMP/out" "$IFN" "$mac" "$(ifindex "$IFN")" <<'PY' && ok net-nub-published || fail net-nub-published "$(ringctl registry -l)"
import json, sys
out, ifn, mac, idx = sys.argv[1], sys.argv[2], sys.argv[3].replace(":", ""), int(sys.argv[4])
def walk(n, parent):
    p = n.get("properties", {})
    if p.get("BSD Name") == ifn and "IOEthernetInterface" in json.dumps(n.get("classes", n.get("class"))):
        ok = p.get("IOMACAddress") == mac and p.get("RKIfIndex") == idx and p.get("IOMaxTransferUnit", 0) > 0
        ok = ok and "TapNetDriver" in json.dumps(parent)
        sys.exit(0 if ok else 1)
    for c in n.get("children", []): walk(c, {k: v for k, v in n.items() if k != "children"})
walk(json.load(open(out)), {})
sys.exit(1)
PY
[ "$(prop TapNetInterfaceName)" = "$IFN" ] && ok net-driver-knows-name || fail net-driver-knows-name "$(prop TapNetInterfaceName)"

# --- ping through the interface: the replies come from the dext ---
ip addr add "$NET.1/24" dev "$IFN"
got=$(pings "$NET.2" 3)
[ "${got:-0}" -eq 3 ] && ok net-ping-replies || fail net-ping-replies "$got of 3 replies; $(tail -5 "$TMP/ringd.log")"
wait_for 3 sh -c "[ \"\$(\"$RINGCTL\" --root \"$ROOT\" registry -l --json | grep -o '\"TapNetEchoReplies\":[0-9]*' | cut -d: -f2)\" -ge 3 ]" &&
        ok net-replies-counted-by-dext || fail net-replies-counted-by-dext "TapNetEchoReplies=$(prop TapNetEchoReplies)"
[ "$(prop TapNetARPReplies)" -ge 1 ] 2>/dev/null && ok net-arp-answered || fail net-arp-answered "TapNetARPReplies=$(prop TapNetARPReplies)"
station=$(prop TapNetStationMAC)
ip neigh show "$NET.2" dev "$IFN" | grep -qi "lladdr $station" && ok net-neighbour-is-dext ||
        fail net-neighbour-is-dext "$(ip neigh show dev "$IFN") vs $station"

# --- the dext crashes: its interface is deleted, and comes back with the restart ---
old_idx=$(ifindex "$IFN")
pid=$(dext_pid)
kill -9 "$pid"
wait_for 10 grep -q "org.ringkit.test.tapnet#[0-9]*: crashed" "$TMP/ringd.log" && ok net-crash-seen || fail net-crash-seen "$(tail -5 "$TMP/ringd.log")"
wait_for 10 sh -c "grep -A30 'org.ringkit.test.tapnet#[0-9]*: crashed' '$TMP/ringd.log' | grep -q 'network interface $IFN deleted'" &&
        ok net-crash-interface-deleted || fail net-crash-interface-deleted "$(tail -10 "$TMP/ringd.log")"
[ ! -e "/sys/class/net/$IFN" ] || [ "$(ifindex "$IFN")" != "$old_idx" ] && ok net-crash-old-interface-gone ||
        fail net-crash-old-interface-gone "ifindex $old_idx still there"
if wait_for 10 link_up "$IFN" && [ "$(ifindex "$IFN")" != "$old_idx" ]; then ok net-restart-interface-back
else fail net-restart-interface-back "$(ip link show "$IFN" 2>&1)"; fi
newpid=$(dext_pid)
[ -n "$newpid" ] && [ "$newpid" != "$pid" ] && ok net-restarted-new-process || fail net-restarted-new-process "pid '$newpid'"
n=$(ringctl registry -l --json | grep -o "\"BSD Name\":\"$IFN\"" | wc -l)
[ "$n" -eq 1 ] && ok net-one-nub-after-restart || fail net-one-nub-after-restart "$n nubs named $IFN"
ip addr add "$NET.1/24" dev "$IFN"
got=$(pings "$NET.2" 2)
[ "${got:-0}" -eq 2 ] && ok net-ping-after-restart || fail net-ping-after-restart "$got of 2 replies"

# --- the device goes: the dext stops, the interface and its nub are gone ---
ringctl virt remove "$id" >/dev/null
wait_for 10 link_gone "$IFN" && ok net-remove-interface-gone || fail net-remove-interface-gone "$(ip link show "$IFN" 2>&1)"
wait_for 10 sh -c "! \"$RINGCTL\" --root \"$ROOT\" list --json | grep -q '\"personality\":\"TapNet\"'" && ok net-remove-dext-stopped ||
        fail net-remove-dext-stopped "$(ringctl list)"
ringctl registry -l --json >"$TMP/out"
expect_no_grep net-remove-nub-gone 'IOEthernetInterface'
grep -q "goodbye: [0-9]* frames in" "$TMP/ringd.log" && ok net-stop-called || fail net-stop-called "$(tail -5 "$TMP/ringd.log")"

# --- a name that is taken: refused, and the interface that has it is left alone ---
IFN4=${IFN:0:12}x
ip tuntap add dev "$IFN4" mode tap
trap 'ip link del "$IFN4" 2>/dev/null; rm -rf "$TMP"' EXIT
tapnet_bundle "$TMP/Taken.dext" org.ringkit.test.tapnet-taken RKTapNetTaken "$IFN4"
mv "$TMP/Taken.dext" "$EXT/"   # whole, at once: the catalogue never sees half a bundle
wait_for 10 sh -c "\"$RINGCTL\" --root \"$ROOT\" status --json | grep -q '\"personalities\":2'"
id4=$(ringctl virt add --class RKTapNetTaken --property IOName=taken-dev)
wait_for 15 grep -q "org.ringkit.test.tapnet-taken#[0-9]*: refused: network interface $IFN4 not created: an interface of that name exists" "$TMP/ringd.log" &&
        ok net-name-taken-refused || fail net-name-taken-refused "$(grep tapnet-taken "$TMP/ringd.log" | tail -5)"
ringctl virt remove "$id4" >/dev/null
sleep 0.5
ip -o link show "$IFN4" >/dev/null 2>&1 && ok net-foreign-interface-untouched || fail net-foreign-interface-untouched "$IFN4 is gone"
ip link del "$IFN4"
rm -rf "$EXT/Taken.dext"

# --- a signed bundle without the networking entitlement gets no interface ---
S=$RINGKIT_SIGN
quiet() { "$@" >"$TMP/setup.log" 2>&1 || { fail "setup: $*" "$(cat "$TMP/setup.log")"; }; }
quiet $S ca create --out "$TMP/ca" --name "Net Root"
cat >"$TMP/grants.plist" <<'P'
<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><array><string>com.apple.developer.driverkit.family.networking</string></array></plist>
P
quiet $S cert create --ca "$TMP/ca" --team NETTE12345 --name "Net Dev" --out "$TMP/dev" --entitlements-allowed "$TMP/grants.plist"
cp "$TMP/ca/ca.pem" "$TRUST/root.pem"
ents() { # ents FILE [networking]
        { echo '<?xml version="1.0" encoding="UTF-8"?><plist version="1.0"><dict>'
          echo '<key>com.apple.developer.driverkit</key><true/><key>org.ringkit.developer.virtual-devices</key><true/>'
          [ -n "$2" ] && echo '<key>com.apple.developer.driverkit.family.networking</key><true/>'
          echo '</dict></plist>'; } >"$1"
}
ents "$TMP/plain.ent"
ents "$TMP/net.ent" networking
IFN2=${IFN:0:12}s; IFN3=${IFN:0:12}e
tapnet_bundle "$TMP/Plain.dext" org.ringkit.test.tapnet-plain RKTapNetPlain "$IFN2"
tapnet_bundle "$TMP/Entitled.dext" org.ringkit.test.tapnet-entitled RKTapNetEntitled "$IFN3"
quiet $S sign --key "$TMP/dev/developer.key" --cert "$TMP/dev/developer.pem" --entitlements "$TMP/plain.ent" "$TMP/Plain.dext"
quiet $S sign --key "$TMP/dev/developer.key" --cert "$TMP/dev/developer.pem" --entitlements "$TMP/net.ent" "$TMP/Entitled.dext"
mv "$TMP/Plain.dext" "$TMP/Entitled.dext" "$EXT/"
ringctl developer off >/dev/null
wait_for 10 sh -c "\"$RINGCTL\" --root \"$ROOT\" status --json | grep -q '\"personalities\":3'"
id2=$(ringctl virt add --class RKTapNetPlain --property IOName=plain-dev)
wait_for 10 grep -q "org.ringkit.test.tapnet-plain#[0-9]*: refused: network interface not created: missing entitlement" "$TMP/ringd.log" &&
        ok net-not-entitled-refused || fail net-not-entitled-refused "$(grep tapnet-plain "$TMP/ringd.log" | tail -5)"
link_gone "$IFN2" && ok net-not-entitled-no-interface || fail net-not-entitled-no-interface "$(ip link show "$IFN2")"
id3=$(ringctl virt add --class RKTapNetEntitled --property IOName=entitled-dev)
wait_for 10 link_up "$IFN3" && ok net-entitled-signed-gets-interface || fail net-entitled-signed-gets-interface "$(grep tapnet-entitled "$TMP/ringd.log" | tail -5)"
ringctl virt remove "$id2" >/dev/null

# --- shutdown leaves nothing behind ---
ringctl shutdown >/dev/null
if wait_for 15 sh -c "! kill -0 $RINGD_PID 2>/dev/null"; then ok shutdown-exits; else fail shutdown-exits "still running"; kill -9 "$RINGD_PID"; fi
wait "$RINGD_PID"
rc=$?
[ $rc -eq 0 ] && ok shutdown-status || fail shutdown-status "exit $rc; $(tail -5 "$TMP/ringd.log")"
link_gone "$IFN3" && link_gone "$IFN" && ok shutdown-interfaces-gone || fail shutdown-interfaces-gone "$(ip -o link | grep "${IFN:0:12}")"
left=$(pgrep -f "$EXT/.*/Contents/MacOS/tapnet" | wc -l)
[ "$left" -eq 0 ] && ok shutdown-no-dext-left || fail shutdown-no-dext-left "$left processes"
grep -q "runtime error\|ERROR: AddressSanitizer\|ERROR: LeakSanitizer: detected" "$TMP/ringd.log" &&
        fail sanitizers "$(grep -A5 'runtime error\|Sanitizer' "$TMP/ringd.log" | head -30)" || ok sanitizers
cp "$TMP/ringd.log" "${RK_TEST_LOGDIR:-$TMP}/ringd-net-test.log" 2>/dev/null
finish
