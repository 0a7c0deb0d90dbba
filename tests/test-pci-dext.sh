#!/bin/bash
# SPDX-License-Identifier: MIT
# The PCI family end to end on this machine's real PCI functions (needs
# root): ringd with the Linux provider matches a test dext (developer mode)
# to a function bound to a kernel driver and, when there is one, to a
# function no kernel driver holds.  The dext reads vendor, device and class
# through config space (the sysfs config file ringd hands it) and they must
# equal the nub's properties and sysfs; config writes and BAR mapping are
# refused with -EBUSY while a kernel driver is bound, and the kernel driver
# stays bound.  Signed bundles: an entitlement naming another vendor is not
# tried, one naming the device's vendor runs with developer mode off.
. "$RK_TEST_SRCDIR/tests/cli-lib.sh"
: "${RINGD:?}" "${PCI_DEXT:?}" "${RINGKIT_SIGN:?}"
if [ "$(id -u)" -ne 0 ]; then echo "skipped: needs root"; exit 77; fi
PY=${PYTHON:-python3}

BOUND= UNBOUND=
for dev in /sys/bus/pci/devices/*; do
        [ -e "$dev/config" ] || continue
        if [ -L "$dev/driver" ]; then [ -n "$BOUND" ] || BOUND=${dev##*/}
        else [ -n "$UNBOUND" ] || UNBOUND=${dev##*/}; fi
done
if [ -z "$BOUND" ]; then echo "skipped: no PCI function bound to a kernel driver here"; exit 77; fi
sys() { cat "/sys/bus/pci/devices/$1/$2"; }
pcimatch() { printf '0x%04x%04x' "$(($(sys "$1" device)))" "$(($(sys "$1" vendor)))"; }
BOUND_DRIVER=$(basename "$(readlink "/sys/bus/pci/devices/$BOUND/driver")")
echo "# bound: $BOUND ($(pcimatch "$BOUND"), $BOUND_DRIVER); unbound: ${UNBOUND:-none}${UNBOUND:+ ($(pcimatch "$UNBOUND"))}"

ROOT=$TMP/root
EXT=$ROOT/extensions
TRUST=$ROOT/etc/ringkit/trust
mkdir -p "$EXT" "$TRUST"
chmod 755 "$TMP"    # dexts run as their own uid and append to records under $TMP (--sandbox-rw)
for r in rec rec-other rec-right; do : >"$TMP/$r"; chmod 666 "$TMP/$r"; done

# pers NAME PCIMATCH RECORD [CATEGORY]
pers() {
        printf '<key>%s</key><dict><key>IOClass</key><string>IOUserService</string><key>IOUserClass</key><string>RKTestPCIDriver</string><key>IOProviderClass</key><string>IOPCIDevice</string><key>IOPCIMatch</key><string>%s</string><key>RKTestRecord</key><string>%s</string>%s</dict>' \
                "$1" "$2" "$3" "${4:+<key>IOMatchCategory</key><string>$4</string>}"
}
# bundle DIR ID : personalities on stdin
bundle() {
        make_bundle "$1" "$2" DEXT "$PCI_DEXT" pci-dext "<key>IOKitPersonalities</key><dict>$(cat)</dict>"
}
{ pers Bound "$(pcimatch "$BOUND")" "$TMP/rec"
  [ -n "$UNBOUND" ] && pers Unbound "$(pcimatch "$UNBOUND")" "$TMP/rec"; } | bundle "$EXT/PCITest.dext" org.ringkit.test.pci

ringctl() { "$RINGCTL" --root "$ROOT" "$@"; }
rec_has() { grep -q -- "$2" "$TMP/$1"; }
start_ringd() {
        "$RINGD" --root "$ROOT" --step-timeout 3000 --trust-store "$TRUST" --sandbox-rw "$TMP" -v "$@" 2>>"$TMP/ringd.log" &
        RINGD_PID=$!
        wait_for 10 test -S "$ROOT/run/ringd.sock" && wait_for 10 ringctl status
}
if start_ringd; then ok ringd-starts; else fail ringd-starts "$(tail -20 "$TMP/ringd.log")"; finish; exit 1; fi
ringctl developer on >/dev/null

# check_identity NAME ADDR RECORD: the record's config line equals the nub's properties and sysfs
check_identity() {
        ringctl registry -l --json >"$TMP/reg.json"
        "$PY" - "$TMP/reg.json" "$2" "$TMP/$3" \
                "$(sys "$2" vendor)" "$(sys "$2" device)" "$(sys "$2" class)" <<'PY' && ok "$1" || fail "$1" "$(cat "$TMP/check.err")"
import json, re, sys
reg, addr, rec, sv, sd, sc = sys.argv[1:7]
line = next((l for l in open(rec) if l.startswith("config %s " % addr)), None)
def bad(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)
if not line: bad("no config line for %s in the record" % addr)
got = dict(kv.split("=") for kv in line.split()[2:])
def find(n):
    p = n.get("properties", {})
    if p.get("RKPCIAddress") == addr and "IOPCIDevice" in json.dumps(n): return p
    for c in n.get("children", []):
        r = find(c)
        if r: return r
p = find(json.load(open(reg)))
if not p: bad("no IOPCIDevice nub with RKPCIAddress %s" % addr)
le = lambda h: int.from_bytes(bytes.fromhex(h), "little")
want = {"vendor": le(p["vendor-id"]), "device": le(p["device-id"]), "class": le(p["class-code"])}
sysfs = {"vendor": int(sv, 16), "device": int(sd, 16), "class": int(sc, 16)}
for k in want:
    if int(got[k], 16) != want[k] or want[k] != sysfs[k]:
        bad("%s: config space %s, nub %#x, sysfs %#x" % (k, got[k], want[k], sysfs[k]))
PY
}

# --- a function bound to a kernel driver: reads work, writes and BARs are refused ---
if wait_for 15 rec_has rec "^bar0 $BOUND "; then ok pci-bound-dext-ran; else fail pci-bound-dext-ran "$(cat "$TMP/rec"; tail -20 "$TMP/ringd.log")"; fi
check_identity pci-bound-config-matches-nub "$BOUND" rec 2>"$TMP/check.err"
rec_has rec "^config $BOUND .* writable=0 " && ok pci-bound-config-read-only || fail pci-bound-config-read-only "$(grep "$BOUND" "$TMP/rec")"
rec_has rec "^cfgwrite $BOUND -16$" && ok pci-bound-config-write-ebusy || fail pci-bound-config-write-ebusy "$(grep "$BOUND" "$TMP/rec")"
rec_has rec "^bar0 $BOUND -16$" && ok pci-bound-bar-map-ebusy || fail pci-bound-bar-map-ebusy "$(grep "$BOUND" "$TMP/rec")"
grep -q "refused: BAR 0 of $BOUND not mapped: the device is bound to kernel driver $BOUND_DRIVER; ringkit never takes a device from its kernel driver: an administrator must unbind it first" "$TMP/ringd.log" &&
        ok pci-bound-refusal-explained || fail pci-bound-refusal-explained "$(grep -i "BAR 0" "$TMP/ringd.log" | tail -2)"
grep -q "hands /sys/.*/$BOUND/config to its driver read-only: the device is bound to kernel driver $BOUND_DRIVER" "$TMP/ringd.log" &&
        ok pci-bound-handle-logged || fail pci-bound-handle-logged "$(grep config "$TMP/ringd.log" | tail -2)"
[ "$(basename "$(readlink "/sys/bus/pci/devices/$BOUND/driver")")" = "$BOUND_DRIVER" ] && ok pci-kernel-driver-kept ||
        fail pci-kernel-driver-kept "driver now: $(readlink "/sys/bus/pci/devices/$BOUND/driver")"
ringctl registry -l --json >"$TMP/out"
expect_grep pci-driver-service-props "\"PCIVendor\":$(($(sys "$BOUND" vendor)))"

# --- a function no kernel driver holds: config space is writable; BAR 0 as the device has it ---
if [ -n "$UNBOUND" ]; then
        if wait_for 15 rec_has rec "^bar0 $UNBOUND "; then ok pci-unbound-dext-ran; else fail pci-unbound-dext-ran "$(cat "$TMP/rec")"; fi
        check_identity pci-unbound-config-matches-nub "$UNBOUND" rec 2>"$TMP/check.err"
        rec_has rec "^config $UNBOUND .* writable=1 " && ok pci-unbound-config-writable || fail pci-unbound-config-writable "$(grep "$UNBOUND" "$TMP/rec")"
        if grep -q '\[integrity\]\|\[confidentiality\]' /sys/kernel/security/lockdown 2>/dev/null; then
                # kernel lockdown refuses config writes from user space, root's included (EPERM)
                rec_has rec "^cfgwrite $UNBOUND -1$" && ok pci-unbound-config-write-lockdown-eperm ||
                        fail pci-unbound-config-write-lockdown-eperm "$(grep "$UNBOUND" "$TMP/rec")"
        else
                rec_has rec "^cfgwrite $UNBOUND 0$" && ok pci-unbound-config-write || fail pci-unbound-config-write "$(grep "$UNBOUND" "$TMP/rec")"
        fi
        read -r start end _ < <(head -1 "/sys/bus/pci/devices/$UNBOUND/resource")
        if [ $((end)) -le $((start)) ]; then
                rec_has rec "^bar0 $UNBOUND -6$" && ok pci-unbound-bar-absent-enxio || fail pci-unbound-bar-absent-enxio "$(grep "$UNBOUND" "$TMP/rec")"
        elif [ ! -e "/sys/bus/pci/devices/$UNBOUND/resource0" ]; then
                rec_has rec "^bar0 $UNBOUND -95$" && ok pci-unbound-bar-no-resource-file || fail pci-unbound-bar-no-resource-file "$(grep "$UNBOUND" "$TMP/rec")"
        else
                rec_has rec "^bar0 $UNBOUND 0 $((end - start + 1)) " && ok pci-unbound-bar-mapped || fail pci-unbound-bar-mapped "$(grep "$UNBOUND" "$TMP/rec")"
        fi
        [ ! -L "/sys/bus/pci/devices/$UNBOUND/driver" ] && ok pci-unbound-stays-unbound || fail pci-unbound-stays-unbound "bound now"
else
        echo "# no PCI function without a kernel driver here: the unbound cases are not run"
fi

# --- signed bundles: the transport entitlement's vendor decides ---
S=$RINGKIT_SIGN
quiet() { "$@" >"$TMP/setup.log" 2>&1 || fail "setup: $*" "$(cat "$TMP/setup.log")"; }
quiet $S ca create --out "$TMP/ca" --name "PCI Root"
cat >"$TMP/grants.plist" <<'P'
<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><array><string>com.apple.developer.driverkit.transport.pci</string></array></plist>
P
quiet $S cert create --ca "$TMP/ca" --team PCITE12345 --name "PCI Dev" --out "$TMP/dev" --entitlements-allowed "$TMP/grants.plist"
cp "$TMP/ca/ca.pem" "$TRUST/root.pem"
vendor=$(($(sys "$BOUND" vendor)))
other=$(( vendor == 0x1234 ? 0x4321 : 0x1234 ))
for v in other right; do
        vid=$([ $v = other ] && echo $other || echo $vendor)
        cat >"$TMP/$v.ent" <<P
<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict><key>com.apple.developer.driverkit</key><true/>
<key>com.apple.developer.driverkit.transport.pci</key><array><dict><key>vendor-id</key><integer>$vid</integer></dict></array>
</dict></plist>
P
        pers "Signed-$v" "$(pcimatch "$BOUND")" "$TMP/rec-$v" "RKPCI-$v" | bundle "$TMP/PCI-$v.dext" "org.ringkit.test.pci-$v"
        quiet $S sign --key "$TMP/dev/developer.key" --cert "$TMP/dev/developer.pem" --entitlements "$TMP/$v.ent" "$TMP/PCI-$v.dext"
done
ringctl developer off >/dev/null
mv "$TMP/PCI-other.dext" "$TMP/PCI-right.dext" "$EXT/"
wait_for 15 rec_has rec-right "^bar0 $BOUND " && ok pci-signed-right-vendor-runs || fail pci-signed-right-vendor-runs "$(grep pci-right "$TMP/ringd.log" | tail -5)"
rec_has rec-right "^bar0 $BOUND -16$" && ok pci-signed-bar-still-refused || fail pci-signed-bar-still-refused "$(cat "$TMP/rec-right")"
grep -q "org.ringkit.test.pci-other (personality Signed-other) not tried: vendor-id not in com.apple.developer.driverkit.transport.pci" "$TMP/ringd.log" &&
        ok pci-signed-other-vendor-not-tried || fail pci-signed-other-vendor-not-tried "$(grep pci-other "$TMP/ringd.log" | tail -3)"
[ ! -s "$TMP/rec-other" ] && ok pci-signed-other-vendor-never-ran || fail pci-signed-other-vendor-never-ran "$(cat "$TMP/rec-other")"

# --- shutdown ---
ringctl shutdown >/dev/null
if wait_for 15 sh -c "! kill -0 $RINGD_PID 2>/dev/null"; then ok shutdown-exits; else fail shutdown-exits "still running"; kill -9 "$RINGD_PID"; fi
wait "$RINGD_PID"
rc=$?
[ $rc -eq 0 ] && ok shutdown-status || fail shutdown-status "exit $rc; $(tail -5 "$TMP/ringd.log")"
[ "$(basename "$(readlink "/sys/bus/pci/devices/$BOUND/driver")")" = "$BOUND_DRIVER" ] && ok pci-kernel-driver-kept-after ||
        fail pci-kernel-driver-kept-after "driver now: $(readlink "/sys/bus/pci/devices/$BOUND/driver")"
grep -q "runtime error\|ERROR: AddressSanitizer\|ERROR: LeakSanitizer: detected" "$TMP/ringd.log" &&
        fail sanitizers "$(grep -A5 'runtime error\|Sanitizer' "$TMP/ringd.log" | head -30)" || ok sanitizers
cp "$TMP/ringd.log" "${RK_TEST_LOGDIR:-$TMP}/ringd-pci-test.log" 2>/dev/null
finish
