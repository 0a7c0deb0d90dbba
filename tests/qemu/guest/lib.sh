# SPDX-License-Identifier: MIT
# Helpers for the QEMU lane's guest tests (busybox ash), sourced by run.sh.
# Results are lines on the console that the host counts: "ok   NAME" and
# "FAIL NAME: why".  Requests to the host ("@@RK REQ ...") change the
# emulated hardware; a test then waits for the effect with a timeout.

ROOT=/tmp/r
REC=/tmp/record
RINGD_LOG=/tmp/ringd.log

ok() { echo "ok   $1"; }
fail() { echo "FAIL $1: $(echo "$2" | tr '\n' ' ' | cut -c1-600)"; }
# check NAME WHY CMD...: ok when CMD succeeds; WHY is evaluated only on
# failure, so pass it in single quotes to show the state at that moment
check() {
        _n=$1 _w=$2
        shift 2
        if "$@" >/dev/null 2>&1; then ok "$_n"; else fail "$_n" "$(eval "echo \"$_w\"")"; fi
}

# ask the host: plug DRIVER ID | unplug ID | keys QCODE...
req() { echo "@@RK REQ $*"; }

# send a file to the host's log dir: sendfile NAME PATH
sendfile() {
        echo "@@RK FILE $1"
        cat "$2" 2>&1
        echo "@@RK EOF $1"
}

note() { echo "@@RK NOTE $*"; }

# wait_for SECONDS CMD...: poll every 0.1 s until CMD succeeds
wait_for() {
        _lim=$(($1 * 10))
        shift
        while ! "$@" >/dev/null 2>&1; do
                _lim=$((_lim - 1))
                [ $_lim -le 0 ] && return 1
                sleep 0.1
        done
}

rctl() { ringctl --root "$ROOT" "$@"; }

# USB devices in sysfs whose product string is $1
usb_by_product() {
        for _d in /sys/bus/usb/devices/*; do
                [ -f "$_d/product" ] && [ "$(cat "$_d/product")" = "$1" ] && echo "$_d"
        done
        return 0
}
count_product() { usb_by_product "$1" | wc -l; }
has_n_product() { [ "$(count_product "$1")" -eq "$2" ]; }

# the evdev node (/dev/input/eventN) of the USB device at sysfs path $1
event_node_of() {
        _u=$(readlink -f "$1")
        for _e in /sys/class/input/event*; do
                case "$(readlink -f "$_e")" in
                "$_u"/*) echo "/dev/input/${_e##*/}"; return 0 ;;
                esac
        done
        return 1
}

# record lines of the test dext: "EVENT TAG PROVIDER-NAME... PID"
rec_count() { grep -c "^$1 " "$REC" 2>/dev/null || true; }
rec_has_n() { [ "$(rec_count "$1")" -ge "$2" ]; }
rec_tags() { grep "^$1 " "$REC" 2>/dev/null | awk '{print $2}'; }
rec_pid() { grep "^$1 $2 " "$REC" 2>/dev/null | tail -n1 | awk '{print $NF}'; }
rec_has() { grep -q "^$1 $2 " "$REC" 2>/dev/null; }

# keys_arrive NAME EVENT_NODE QCODE CODE: the key sent by the host is read on the node
keys_arrive() {
        _out=/tmp/evread.$$
        : >"$_out"
        rk-evread "$2" 2 10000 >"$_out" 2>&1 &
        _pid=$!
        if ! wait_for 5 grep -q ready "$_out"; then
                fail "$1" "rk-evread did not open $2: $(cat "$_out")"
                kill $_pid 2>/dev/null
                return 1
        fi
        req keys "$3"
        wait $_pid
        _rc=$?
        if [ $_rc -eq 0 ] && grep -q "^key $4 1" "$_out" && grep -q "^key $4 0" "$_out"; then
                ok "$1"
        else
                fail "$1" "rk-evread exit $_rc on $2, wanted key $4 press and release; got: $(cat "$_out")"
                return 1
        fi
}
