# SPDX-License-Identifier: MIT
# Helpers for the QEMU lane's guest tests (busybox ash), sourced by run.sh.
# Results are lines on the console that the host counts: "ok   NAME" and
# "FAIL NAME: why".  Requests to the host ("@@RK REQ ...") change the
# emulated hardware; a test then waits for the effect with a timeout.

ROOT=/tmp/r
RW=/tmp/rw          # the one directory sandboxed dexts may write (records)
REC=$RW/record
RINGD_LOG=/tmp/ringd.log
mkdir -p "$RW" && chmod 1777 "$RW"

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

# uptime in tenths of a second (the guest's clock for deadlines)
# (/proc/uptime has two decimals; their first digit is the tenths, and a
# single digit cannot be misread as octal the way "08" would be)
now10() {
        _u=$(cut -d' ' -f1 /proc/uptime)
        _f=${_u#*.}
        echo $((${_u%.*} * 10 + ${_f%?}))
}

# wait_for SECONDS CMD...: run CMD every 0.1 s until it succeeds, for at
# most SECONDS of wall time (a command may itself take a while under TCG)
wait_for() {
        _end=$(($(now10) + $1 * 10))
        shift
        while ! "$@" >/dev/null 2>&1; do
                [ "$(now10)" -ge $_end ] && return 1
                sleep 0.1
        done
}

rctl() { ringctl --root "$ROOT" "$@"; }

# ringd_has OPTION: this ringd knows the option (the lane runs whatever
# the tree builds, so it follows features as they land)
ringd_has() { ringd --help 2>&1 | grep -q -- "$1"; }

# start_ringd [OPTION...]: start ringd on $ROOT with the Linux provider,
# wait until it answers, turn developer mode on (the test bundles are
# unsigned).  Sets RINGD_PID; 1 when it does not come up.
start_ringd() {
        _opts="--root $ROOT --builtin /ringkit/bin/ringkit-builtin -v"
        ringd_has --sandbox-rw && _opts="$_opts --sandbox-rw $RW"
        # shellcheck disable=SC2086
        ringd $_opts "$@" 2>>"$RINGD_LOG" &
        RINGD_PID=$!
        wait_for 30 rctl status || return 1
        rctl developer on >/dev/null 2>&1
        return 0
}

# stop_ringd: ringctl shutdown, then wait (SIGKILL after 30 s); ringd's
# exit status in RINGD_RC (not in $(...): only this shell can wait for it)
stop_ringd() {
        rctl shutdown >/dev/null 2>&1
        (sleep 30; kill -9 "$RINGD_PID") 2>/dev/null &
        _wd=$!
        wait "$RINGD_PID"
        RINGD_RC=$?
        kill "$_wd" 2>/dev/null
        RINGD_PID=
}

# install_bundle NAME.dext BUILD-DIR: move a staged bundle into the
# extension directory in one rename (ringd rescans on the change)
install_bundle() { mv "$2" "$ROOT/extensions/$1"; }

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
rec_last_tag() { grep "^$1 " "$REC" 2>/dev/null | tail -n1 | awk '{print $2}'; }
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

# The registry properties of the Linux nub for sysfs name $1 (e.g. 1-1:1.0),
# from `ringctl registry -l --json`: the text of its "properties" object
# from RKSysName on (scalar values only, as an interface nub has).
nub_props() { rctl registry -l --json | grep -o "\"RKSysName\":\"$1\"[^}]*"; }
nub_driver_is() { nub_props "$1" | grep -q "\"RKDriver\":\"$2\""; }
nub_has_no_driver() { nub_props "$1" >/tmp/nubp && [ -s /tmp/nubp ] && ! grep -q '"RKDriver"' /tmp/nubp; }
