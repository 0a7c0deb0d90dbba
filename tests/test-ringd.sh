#!/bin/bash
# SPDX-License-Identifier: MIT
# ringd end to end: a real daemon in a private root, real dext processes
# built with libringdriver, driven through ringctl as a user would.
# Covers lifecycle order, probe and start fall-through, categories, a
# three-layer stack torn down top-down, a codeless bundle whose built-in
# driver does real work, crash restart and crash-loop failure, hostile
# dexts, debugging, and Linux hot-plug (a TAP interface).
. "$RK_TEST_SRCDIR/tests/cli-lib.sh"
: "${RINGD:?}" "${TEST_DEXT:?}" "${RINGKIT_BUILTIN:?}"

ROOT=$TMP/root
EXT=$ROOT/extensions
REC=$TMP/record
mkdir -p "$EXT"
# dexts run sandboxed as their own uid: they may write the record (ringd --sandbox-rw "$TMP")
chmod 755 "$TMP"
: >"$REC"
chmod 666 "$REC"

# bundle ID CLASSES... : a dext bundle whose executable is the test dext;
# personalities come from $TMP/pers-ID.xml
bundle() {
        local id=$1 dir=$EXT/$1.dext
        mkdir -p "$dir/Contents/MacOS"
        cp "$TEST_DEXT" "$dir/Contents/MacOS/test-dext"
        cat >"$dir/Contents/Info.plist" <<PL
<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
<key>CFBundleIdentifier</key><string>$id</string>
<key>CFBundleVersion</key><string>1.0</string>
<key>CFBundlePackageType</key><string>DEXT</string>
<key>CFBundleExecutable</key><string>test-dext</string>
<key>IOKitPersonalities</key><dict>$(cat)</dict>
</dict></plist>
PL
}

# pers NAME PROVIDERCLASS EXTRA-XML
pers() {
        printf '<key>%s</key><dict><key>IOClass</key><string>IOUserService</string><key>IOUserClass</key><string>RKTestDriver</string><key>IOProviderClass</key><string>%s</string><key>RKTestRecord</key><string>%s</string>%s</dict>' \
                "$1" "$2" "$REC" "$3"
}
S() { printf '<key>%s</key><string>%s</string>' "$1" "$2"; }
I() { printf '<key>%s</key><integer>%s</integer>' "$1" "$2"; }
T() { printf '<key>%s</key><true/>' "$1"; }

{ pers Basic RKTestDevice ""; } | bundle com.test.basic
{ pers High RKFallDevice "$(I IOProbeScore 2000)$(S RKTestProbe decline)"
  pers Mid RKFallDevice "$(I IOProbeScore 1500)$(S RKTestStart fail)"
  pers Low RKFallDevice "$(I IOProbeScore 1000)"; } | bundle com.test.fall
{ pers Main RKCatDevice ""
  pers Logger RKCatDevice "$(S IOMatchCategory RKTestLogger)"; } | bundle com.test.cat
{ pers Layer1 RKStackDevice "$(S RKTestPublish RKLayer2Nub)"
  pers Layer2 RKLayer2Nub "$(S RKTestPublish RKLayer3Nub)"
  pers Layer3 RKLayer3Nub ""; } | bundle com.test.stack
{ pers Crasher RKCrashDevice "$(I RKTestCrashAfter 100)"; } | bundle com.test.crash
{ pers Garbage RKGarbageDevice "$(T RKTestGarbage)"
  pers Closer RKCloseDevice "$(T RKTestCloseChannel)"
  pers Hanger RKHangDevice "$(I IOProbeScore 10)$(S RKTestStart hang)"
  pers AfterHang RKHangDevice "$(I IOProbeScore 1)"
  pers Echo RKEchoDevice "$(T RKTestEcho)"
  pers Forker RKForkDevice "$(I RKTestForks 200)"; } | bundle com.test.hostile
{ pers Debuggee RKDebugDevice ""; } | bundle com.test.debug
{ pers Interactive RKInteractiveDevice "$(T RKInteractive)"; } | bundle com.test.interactive
{ pers Uinput RKUinputDevice "$(S RKTestOpenDevice uinput)"; } | bundle com.test.uinput
{ pers Prober RKSandboxDevice "$(T RKTestSandboxProbe)$(T RKTestDataWrite)$(S RKTestBundleFile "$EXT/com.test.sbx.dext/Contents/Info.plist")"; } |
        bundle com.test.sbx
# a codeless bundle: personalities only, mapped to a built-in driver
mkdir -p "$EXT/UART.dext/Contents"
cat >"$EXT/UART.dext/Contents/Info.plist" <<'PL'
<plist version="1.0"><dict>
<key>CFBundleIdentifier</key><string>com.test.uart</string>
<key>CFBundleVersion</key><string>1.0</string>
<key>CFBundlePackageType</key><string>DEXT</string>
<key>IOKitPersonalities</key><dict>
<key>UART</key><dict><key>IOClass</key><string>RKSerialPTYDriver</string>
<key>IOProviderClass</key><string>RKVirtualUART</string></dict>
</dict></dict></plist>
PL

ringctl() { "$RINGCTL" --root "$ROOT" "$@"; }

# vremove ID: remove a virtual device and wait until its driver is gone
vremove() {
        ringctl virt remove "$1" || return 1
        wait_for 10 sh -c "! \"$RINGCTL\" --root \"$ROOT\" list --json | grep -q '\"provider\":$(($1)),'"
}
rec_has() { grep -q -- "$1" "$REC"; }
rec_count() { grep -c -- "$1" "$REC"; }
rec_ge() { [ "$(grep -c -- "$2" "$REC")" -ge "$1" ]; }   # rec_ge N PATTERN, evaluated at each poll

start_ringd() {
        "$RINGD" --root "$ROOT" --builtin "$RINGKIT_BUILTIN" --no-linux --crash-limit 3 --crash-window 5 \
                --step-timeout 1500 --max-tasks 16 --sandbox-rw "$TMP" -v "$@" 2>>"$TMP/ringd.log" &
        RINGD_PID=$!
        wait_for 10 test -S "$ROOT/run/ringd.sock" && wait_for 10 ringctl status
}

# a cgroup a killed ringd left behind (ringkit-<a pid that is gone>, with an orphan in it) is swept at start
# (the hierarchy ringd picks, in its order: v1 pids, then v2 with the pids controller)
STALE= ORPHAN= base=
if [ -d /sys/fs/cgroup/pids ]; then base=/sys/fs/cgroup/pids
elif grep -qw pids /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null; then base=/sys/fs/cgroup/unified
elif grep -qw pids /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then base=/sys/fs/cgroup; fi
if [ -n "$base" ]; then
        sh -c 'exit 0' & DEAD=$!
        wait "$DEAD"
        if mkdir "$base/ringkit-$DEAD" 2>/dev/null && mkdir "$base/ringkit-$DEAD/i1" 2>/dev/null; then
                sleep 1000 & ORPHAN=$!
                echo "$ORPHAN" >"$base/ringkit-$DEAD/i1/cgroup.procs" && STALE=$base/ringkit-$DEAD
        fi
fi
if start_ringd; then ok ringd-starts; else fail ringd-starts "$(tail -20 "$TMP/ringd.log")"; finish; exit 1; fi
if [ -z "$STALE" ]; then
        ok "stale-cgroup-swept # SKIP no pids cgroup to write to"
elif [ ! -d "$STALE" ] && wait_for 5 eval '! kill -0 "$ORPHAN" 2>/dev/null'; then
        ok stale-cgroup-swept
else
        fail stale-cgroup-swept "$STALE still there or orphan $ORPHAN alive: $(grep limits "$TMP/ringd.log")"
        kill "$ORPHAN" 2>/dev/null
fi
[ -n "$ORPHAN" ] && wait "$ORPHAN" 2>/dev/null

expect_rc status 0 ringctl status --json
expect_grep status-json '"personalities":[1-9][0-9]'
expect_grep developer-off-by-default '"developer_mode":false'

# --- unsigned bundles run only in developer mode, which says so ---
id=$(ringctl virt add --class RKTestDevice --property IOName=unsigned0)
wait_for 10 grep -q "unsigned0: com.test.basic (personality Basic) not tried: not signed" "$TMP/ringd.log" &&
        ok unsigned-not-tried || fail unsigned-not-tried "$(tail -5 "$TMP/ringd.log")"
rec_has "com.test.basic" && fail unsigned-not-started "$(cat "$REC")" || ok unsigned-not-started
expect_rc developer-on-first 0 ringctl developer on
if wait_for 10 rec_has "start com.test.basic"; then ok unsigned-started-in-developer-mode
else fail unsigned-started-in-developer-mode "$(tail -5 "$TMP/ringd.log")"; fi
ringctl status --json >"$TMP/out"
expect_grep unsigned-relaxation-shown 'com.test.basic: launched unsigned \(allowed in developer mode\)'
# --- and sandboxed: their own uid, not root ---
pid=$(awk '/^start com.test.basic/ {print $4; exit}' "$REC")
uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
[ -n "$uid" ] && [ "$uid" -ge 810000 ] && ok dext-own-uid || fail dext-own-uid "pid $pid uid '$uid'"
grep -q "NoNewPrivs:.*1" "/proc/$pid/status" && ok dext-no-new-privs || fail dext-no-new-privs "$(grep NoNewPrivs "/proc/$pid/status")"
grep -q "Seccomp:.*2" "/proc/$pid/status" && ok dext-seccomp || fail dext-seccomp "$(grep Seccomp "/proc/$pid/status")"
vremove "$id"
wait_for 10 rec_has "free com.test.basic"
: >"$REC"

# --- lifecycle order ---
id=$(ringctl virt add --class RKTestDevice --property IOName=basic0)
if wait_for 10 rec_has "start com.test.basic"; then ok lifecycle-started; else fail lifecycle-started "$(cat "$REC")"; fi
expect_rc list 0 ringctl list --json
expect_grep list-running '"state":"running"'
expect_rc registry 0 ringctl registry -l
expect_grep registry-driver 'RKTestDriver'
expect_grep registry-config-key 'RKTestRecord'
vremove "$id"
if wait_for 10 rec_has "free com.test.basic"; then ok lifecycle-freed; else fail lifecycle-freed "$(cat "$REC")"; fi
order=$(grep "com.test.basic" "$REC" | awk '{print $1}' | tr '\n' ' ')
[ "$order" = "init probe start stop free " ] && ok lifecycle-order || fail lifecycle-order "$order"

# --- warm spares: once a bundle has run, its next instance is already spawned ---
basic_pids() { pgrep -f "$EXT/com.test.basic.dext/Contents/MacOS/test-dext" | tr '\n' ' '; }
wait_for 10 sh -c "\"$RINGCTL\" --root \"$ROOT\" status --json | grep -q '\"spares\":1'" && ok spare-kept ||
        fail spare-kept "$(ringctl status)"
spare=$(basic_pids)
: >"$REC"
id=$(ringctl virt add --class RKTestDevice --property IOName=basic1)
wait_for 10 rec_has "start com.test.basic"
started=$(awk '/^start com.test.basic/ {print $4}' "$REC")
[ -n "$started" ] && [ "$spare" = "$started " ] && ok spare-adopted || fail spare-adopted "spare '$spare', started '$started'"
grep -q "warm spare (pid $started) takes Basic 'basic1'" "$TMP/ringd.log" && ok spare-adopted-logged ||
        fail spare-adopted-logged "$(grep spare "$TMP/ringd.log" | tail -5)"
vremove "$id"
wait_for 10 rec_has "free com.test.basic"
# a spare that dies is dropped, and the next instance starts cold
wait_for 10 sh -c "[ \$(pgrep -f '$EXT/com.test.basic.dext/Contents/MacOS/[t]est-dext' | wc -l) -eq 1 ]"
spare=$(basic_pids)
kill -9 $spare
wait_for 10 grep -q "com.test.basic#[0-9]*: spare dropped" "$TMP/ringd.log" && ok spare-death-dropped ||
        fail spare-death-dropped "$(grep spare "$TMP/ringd.log" | tail -5)"
: >"$REC"
id=$(ringctl virt add --class RKTestDevice --property IOName=basic2)
wait_for 10 rec_has "start com.test.basic" && ok spare-death-cold-start || fail spare-death-cold-start "$(cat "$REC")"
vremove "$id"
wait_for 10 rec_has "free com.test.basic"
# the executable replaced on disk: the spare running the old file is not used
wait_for 10 sh -c "[ \$(pgrep -f '$EXT/com.test.basic.dext/Contents/MacOS/[t]est-dext' | wc -l) -eq 1 ]"
spare=$(basic_pids)
cp "$TEST_DEXT" "$EXT/com.test.basic.dext/Contents/MacOS/test-dext.new"
mv "$EXT/com.test.basic.dext/Contents/MacOS/test-dext.new" "$EXT/com.test.basic.dext/Contents/MacOS/test-dext"
: >"$REC"
id=$(ringctl virt add --class RKTestDevice --property IOName=basic3)
wait_for 10 rec_has "start com.test.basic"
started=$(awk '/^start com.test.basic/ {print $4}' "$REC")
[ -n "$started" ] && [ "$spare" != "$started " ] && ! kill -0 $spare 2>/dev/null && ok spare-stale-exe-dropped ||
        fail spare-stale-exe-dropped "spare '$spare', started '$started'; $(grep spare "$TMP/ringd.log" | tail -3)"
vremove "$id"
wait_for 10 rec_has "free com.test.basic"

# --- RKInteractive: the driver runs ahead of ordinary processes (nice -10); others do not ---
id=$(ringctl virt add --class RKInteractiveDevice --property IOName=inter0)
wait_for 10 rec_has "start com.test.interactive"
ipid=$(ringctl list --json | python3 -c 'import json,sys; print([i["pid"] for i in json.load(sys.stdin)["instances"] if i["personality"]=="Interactive"][0])')
[ "$(ps -o ni= -p "$ipid" | tr -d ' ')" = "-10" ] && ok interactive-nice || fail interactive-nice "pid $ipid nice $(ps -o ni= -p "$ipid")"
grep -q "interactive driver: pid $ipid runs at nice -10" "$TMP/ringd.log" && ok interactive-logged || fail interactive-logged "$(grep -i interactive "$TMP/ringd.log")"
vremove "$id"
wait_for 10 rec_has "free com.test.interactive"
id=$(ringctl virt add --class RKTestDevice --property IOName=basic4)
wait_for 10 rec_has "start com.test.basic"
bpid=$(ringctl list --json | python3 -c 'import json,sys; print([i["pid"] for i in json.load(sys.stdin)["instances"] if i["personality"]=="Basic"][0])')
[ "$(ps -o ni= -p "$bpid" | tr -d ' ')" = "0" ] && ok ordinary-nice || fail ordinary-nice "pid $bpid nice $(ps -o ni= -p "$bpid")"
vremove "$id"
wait_for 10 rec_has "free com.test.basic"

# --- ringd opens uinput for a dext (developer mode: unsigned); the sandbox alone would not let it ---
id=$(ringctl virt add --class RKUinputDevice --property IOName=uinput0)
wait_for 10 rec_has "devopen uinput"
if grep -q "^devopen uinput OK" "$REC"; then
        grep -q "com.test.uinput#[0-9]*: hands /dev/uinput to its driver" "$TMP/ringd.log" && ok devopen-uinput ||
                fail devopen-uinput "$(grep uinput "$TMP/ringd.log" | tail -2)"
elif grep -q "^devopen uinput ENOENT" "$REC" && [ ! -e /dev/uinput ]; then
        grep -q "/dev/uinput: No such file or directory (is the kernel module loaded?)" "$TMP/ringd.log" &&
                ok devopen-uinput-absent-said || fail devopen-uinput-absent-said "$(grep uinput "$TMP/ringd.log" | tail -2)"
else
        fail devopen-uinput "$(grep devopen "$REC")"
fi
vremove "$id"

# --- a sandboxed dext tries what it must not; each attempt fails, and ringd's log says so ---
id=$(ringctl virt add --class RKSandboxDevice --property IOName=sbx0)
wait_for 15 grep -q "com.test.sbx#[0-9]*: sandbox probe: fork past" "$TMP/ringd.log"
probe() { # probe NAME WHAT ERRNO
        if grep -q "com.test.sbx#[0-9]*: sandbox probe: $2: refused ($3)" "$TMP/ringd.log"; then ok "$1"
        else fail "$1" "$(grep "sandbox probe: $2" "$TMP/ringd.log" | tail -1)"; fi
}
probe sandbox-open-file-outside "open /etc/shadow" EACCES
probe sandbox-open-system-config "open /etc/passwd" EACCES
probe sandbox-create-in-tmp "create /tmp/rk-sandbox-probe" EACCES
probe sandbox-other-device-node "open /dev/zero" EACCES
probe sandbox-kmsg "open /dev/kmsg" EACCES
probe sandbox-inet-socket "inet socket" EPERM
probe sandbox-netlink-socket "netlink socket" EPERM
probe sandbox-ptrace "ptrace its parent" EPERM
probe sandbox-setuid-root "setuid(0)" EPERM
probe sandbox-write-bundle "write its bundle" EACCES
probe sandbox-fork-limit "fork past its task limit (after [0-9]* children)" EAGAIN
grep -q "sandbox probe: .*ALLOWED" "$TMP/ringd.log" && fail sandbox-nothing-allowed "$(grep ALLOWED "$TMP/ringd.log")" ||
        ok sandbox-nothing-allowed
[ ! -e /tmp/rk-sandbox-probe ] && ok sandbox-no-file-left || fail sandbox-no-file-left "/tmp/rk-sandbox-probe exists"
# ...but it has its private data directory, its own
note=$ROOT/var/lib/ringkit/data/com.test.sbx/note
grep -q "^datadir OK $note" "$REC" && ok sandbox-data-dir-writable || fail sandbox-data-dir-writable "$(grep datadir "$REC")"
[ "$(stat -c %u "$note" 2>/dev/null || echo 0)" -ge 810000 ] && [ "$(stat -c %a "$ROOT/var/lib/ringkit/data/com.test.sbx")" = 700 ] &&
        ok sandbox-data-dir-private || fail sandbox-data-dir-private "$(ls -la "$ROOT/var/lib/ringkit/data/com.test.sbx" 2>&1)"
[ "$(stat -c %a "$ROOT/var/lib/ringkit/extensions.db")" = 600 ] && ok extension-db-private ||
        fail extension-db-private "$(stat -c %a "$ROOT/var/lib/ringkit/extensions.db")"
vremove "$id"

# --- probe and start fall-through ---
: >"$REC"
id=$(ringctl virt add --class RKFallDevice)
if wait_for 10 rec_has "start com.test.fall.*" && wait_for 5 rec_ge 2 '^start'; then
        ok fallthrough-started
else
        fail fallthrough-started "$(cat "$REC")"
fi
sleep 0.3
ringctl list --json >"$TMP/out"
expect_grep fallthrough-winner '"personality":"Low","class":"RKTestDriver","category":"IODefaultMatchCategory","state":"running"'
probes=$(grep -c '^probe' "$REC"); starts=$(grep -c '^start' "$REC")
[ "$probes" -eq 3 ] && [ "$starts" -eq 2 ] && ok fallthrough-counts || fail fallthrough-counts "$(cat "$REC")"
vremove "$id"

# --- categories ---
: >"$REC"
id=$(ringctl virt add --class RKCatDevice)
wait_for 10 rec_ge 2 '^start' && ok categories-both-start || fail categories-both-start "$(cat "$REC")"
ringctl list --json >"$TMP/out"
expect_grep categories-logger '"category":"RKTestLogger","state":"running"'
vremove "$id"

# --- a three-layer stack, torn down top-down ---
: >"$REC"
id=$(ringctl virt add --class RKStackDevice --property IOName=stack0)
if wait_for 10 rec_ge 3 '^start'; then ok stack-three-layers; else fail stack-three-layers "$(cat "$REC")"; fi
pids=$(grep '^start' "$REC" | awk '{print $4}' | sort -u | wc -l)
[ "$pids" -eq 3 ] && ok stack-three-processes || fail stack-three-processes "$(cat "$REC")"
ringctl registry >"$TMP/out"
expect_grep stack-registry 'RKLayer3Nub'
vremove "$id"
wait_for 10 rec_ge 3 '^free' || true
stops=$(grep '^stop' "$REC" | awk '{print $3}' | tr '\n' ' ')
[ "$stops" = "RKLayer3Nub RKLayer2Nub stack0 " ] && ok stack-teardown-order || fail stack-teardown-order "stops: $stops"

# --- codeless: the built-in serial driver does real work on a virtual UART ---
id=$(ringctl virt add --class RKVirtualUART --property RKVirtualModel=upper)
if wait_for 10 sh -c "\"$RINGCTL\" --root \"$ROOT\" registry -l | grep -q IOTTYDevice"; then
        ok codeless-started
        tty=$(ringctl registry -l --json | python3 -c '
import json,sys
def walk(n):
    p = n.get("properties", {})
    if "IOTTYDevice" in p: print(p["IOTTYDevice"]); sys.exit()
    for c in n.get("children", []): walk(c)
walk(json.load(sys.stdin))')
        got=$(python3 - "$tty" <<'PY'
import os, sys, select, termios, tty
fd = os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY)
tty.setraw(fd)
os.write(fd, b"hello ringkit\n")
out = b""
while len(out) < 14:
    r, _, _ = select.select([fd], [], [], 3)
    if not r: break
    out += os.read(fd, 64)
print(out.decode().strip())
PY
)
        [ "$got" = "HELLO RINGKIT" ] && ok codeless-serial-roundtrip || fail codeless-serial-roundtrip "got '$got' via $tty"
else
        fail codeless-started "$(tail -20 "$TMP/ringd.log")"
fi
vremove "$id"

# --- the handle reaches the driver ---
id=$(ringctl virt add --class RKEchoDevice)
wait_for 10 sh -c "\"$RINGCTL\" --root \"$ROOT\" registry -l | grep -q RKTestEchoed" && ok handle-echo ||
        fail handle-echo "$(ringctl registry -l)"
vremove "$id"

# --- crash restart, then crash-loop failure ---
: >"$REC"
id=$(ringctl virt add --class RKCrashDevice --property IOName=crashy)
if wait_for 15 sh -c "\"$RINGCTL\" --root \"$ROOT\" list | grep -q FAILED"; then ok crash-loop-failed; else fail crash-loop-failed "$(ringctl list)"; fi
[ "$(rec_count '^start')" -eq 3 ] && ok crash-restarted-until-limit || fail crash-restarted-until-limit "$(cat "$REC")"
ringctl list --json >"$TMP/out"
expect_grep crash-list-json '"failed":"com.test.crash#[0-9]+ crashed 3 times'
left=$(pgrep -f "com.test.crash.dext" | wc -l)
[ "$left" -eq 0 ] && ok crash-no-process-left || fail crash-no-process-left "$left processes"
vremove "$id"

# --- hostile dexts: garbage, closed channel, a hang; ringd stays up ---
id1=$(ringctl virt add --class RKGarbageDevice)
id2=$(ringctl virt add --class RKCloseDevice)
id3=$(ringctl virt add --class RKHangDevice --property IOName=hang0)
sleep 2.5
grep -q "sent a malformed message" "$TMP/ringd.log" && ok hostile-garbage-detected || fail hostile-garbage-detected "$(tail "$TMP/ringd.log")"
grep -q "closed its channel" "$TMP/ringd.log" && ok hostile-close-detected || fail hostile-close-detected "$(tail "$TMP/ringd.log")"
grep -q "missed its deadline" "$TMP/ringd.log" && ok hostile-hang-deadline || fail hostile-hang-deadline "$(tail "$TMP/ringd.log")"
ringctl list --json >"$TMP/out"
expect_grep hostile-hang-fallthrough '"personality":"AfterHang"'
expect_rc hostile-ringd-alive 0 ringctl status
for i in $id1 $id2 $id3; do vremove "$i"; done

# --- a fork bomb is capped, and nothing it forked outlives it ---
id=$(ringctl virt add --class RKForkDevice)
wait_for 10 sh -c "\"$RINGCTL\" --root \"$ROOT\" list | grep -q Forker" && ok forkbomb-started || fail forkbomb-started "$(ringctl list)"
sleep 0.5
dext=$(ringctl list --json | python3 -c 'import json,sys; print([i["pid"] for i in json.load(sys.stdin)["instances"] if i["personality"]=="Forker"][0])')
kids=$(pgrep -g "$dext" | wc -l)
if [ -d /sys/fs/cgroup/pids ] || grep -qw pids /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
        [ "$kids" -le 16 ] && ok forkbomb-capped || fail forkbomb-capped "$kids processes in the group"
fi
expect_rc forkbomb-ringd-alive 0 ringctl status
vremove "$id"
alive() { ps -o stat= -g "$dext" 2>/dev/null | grep -qv '^Z'; }   # zombies wait for init; they hold nothing
wait_for 5 sh -c "! ps -o stat= -g $dext 2>/dev/null | grep -qv '^Z'" && ok forkbomb-children-killed ||
        fail forkbomb-children-killed "$(ps -o pid,stat,cmd -g "$dext")"

# --- garbage on the control socket does not hurt ringd ---
python3 - "$ROOT/run/ringd.sock" <<'PY'
import socket, sys
for junk in [b"", b"\x00" * 3, b"\xff" * 100, b"\x01\x00\x00\x00\xff\xff\xff\x7f" + b"\x00" * 12]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(sys.argv[1]); s.send(junk); s.close()
PY
expect_rc control-garbage-survived 0 ringctl status

# --- debugging: the next instance starts stopped ---
ringctl debug com.test.debug >"$TMP/debug.out" 2>"$TMP/debug.err" &
dbg=$!
sleep 0.3
id=$(ringctl virt add --class RKDebugDevice)
if wait "$dbg"; then
        pid=$(head -1 "$TMP/debug.out")
        state=$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
        [ "$state" = "T" ] && ok debug-stopped || fail debug-stopped "pid $pid state '$state'"
        gdb -q -batch -p "$pid" -ex 'info inferiors' >"$TMP/gdb.out" 2>&1 && ok debug-gdb-attaches ||
                fail debug-gdb-attaches "$(cat "$TMP/gdb.out")"
        kill -CONT "$pid" 2>/dev/null
        wait_for 10 sh -c "\"$RINGCTL\" --root \"$ROOT\" list | grep -q 'Debuggee.*'" && ok debug-continues ||
                fail debug-continues "$(ringctl list)"
else
        fail debug-stopped "$(cat "$TMP/debug.out" "$TMP/debug.err")"
fi
vremove "$id"

# --- developer mode: persisted in the activation database, switched off and on ---
expect_rc developer-off-first 0 ringctl developer off
ringctl status --json >"$TMP/out"
expect_grep developer-off-status '"developer_mode":false'
expect_grep extension-db-open '"extension_db":".*/var/lib/ringkit/extensions.db"'
expect_rc developer-on 0 ringctl developer on
ringctl status --json >"$TMP/out"
expect_grep developer-on-status '"developer_mode":true'
grep -q "developer mode on" "$TMP/ringd.log" && ok developer-on-logged || fail developer-on-logged "$(tail -3 "$TMP/ringd.log")"
expect_rc developer-off 0 ringctl developer off
expect_grep developer-off-said "developer mode: off"
expect_rc developer-bad-arg 2 ringctl developer maybe
ringctl developer on >/dev/null

# --- bad requests get clear errors ---
expect_rc virt-add-no-class 2 ringctl virt add
expect_rc virt-remove-unknown 1 ringctl virt remove 0x1234
expect_grep virt-remove-unknown-msg "no virtual device with id 0x1234"
expect_rc virt-bad-model 1 ringctl virt add --class X --property RKVirtualModel=bogus
expect_grep virt-bad-model-msg "unknown RKVirtualModel 'bogus'"

# --- a bundle removed while its driver runs: the driver stops ---
: >"$REC"
id=$(ringctl virt add --class RKTestDevice)
wait_for 10 rec_has "start com.test.basic"
rm -rf "$EXT/com.test.basic.dext"
wait_for 10 rec_has "free com.test.basic" && ok bundle-removed-stops-driver || fail bundle-removed-stops-driver "$(cat "$REC")"
vremove "$id"
wait_for 10 sh -c "! pgrep -f '$EXT/com.test.basic.dext/Contents/MacOS/[t]est-dext' >/dev/null" && ok bundle-removed-no-spare-left ||
        fail bundle-removed-no-spare-left "$(pgrep -af com.test.basic.dext)"

# --- clean shutdown stops everything ---
ringctl developer on >/dev/null
: >"$REC"
id=$(ringctl virt add --class RKStackDevice --property IOName=stack1)
wait_for 10 rec_ge 3 '^start'
ringctl shutdown
if wait_for 10 sh -c "! kill -0 $RINGD_PID"; then ok shutdown-exits; else fail shutdown-exits "still running"; kill -9 $RINGD_PID; fi
stops=$(grep -E '^stop .* (RKLayer3Nub|RKLayer2Nub|stack1) ' "$REC" | awk '{print $3}' | tr '\n' ' ')
[ "$stops" = "RKLayer3Nub RKLayer2Nub stack1 " ] && ok shutdown-top-down || fail shutdown-top-down "stops: $stops"
wait "$RINGD_PID"
rc=$?
[ $rc -eq 0 ] && ok shutdown-status || fail shutdown-status "exit $rc; $(tail -5 "$TMP/ringd.log")"
grep -q "runtime error\|ERROR: AddressSanitizer\|ERROR: LeakSanitizer: detected" "$TMP/ringd.log" && fail ringd-sanitizers "$(grep -A5 'runtime error\|Sanitizer' "$TMP/ringd.log" | head -30)" || ok ringd-sanitizers

# --- the activation database survives a restart: developer mode is still on ---
if start_ringd; then
        ringctl status --json >"$TMP/out"
        expect_grep developer-mode-persisted '"developer_mode":true'
        grep -q "developer mode is on" "$TMP/ringd.log" && ok developer-mode-announced-at-start ||
                fail developer-mode-announced-at-start "$(tail -5 "$TMP/ringd.log")"
        ringctl shutdown
        wait "$RINGD_PID"
else
        fail ringd-restarts "$(tail -20 "$TMP/ringd.log")"
fi

# keep ringd's log where the build can show it
cp "$TMP/ringd.log" "${RK_TEST_LOGDIR:-$TMP}/ringd-test.log" 2>/dev/null
finish
