# SPDX-License-Identifier: MIT
# The guest test runner: sources tests/NN-name.sh in order in one shell (so
# later tests see what earlier ones set up), then sends the logs to the host.
# With /tests/filter, only tests whose file name contains it run, plus the
# set-up (below 30) and tear-down (90 and above) ones.  A test that sets
# ABORT (to a reason) skips the rest but the tear-down.
. /tests/lib.sh
export LD_LIBRARY_PATH=/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu
filter=$(cat /tests/filter 2>/dev/null)
for t in /tests/tests/*.sh; do
        name=${t##*/}
        num=${name%%-*}
        if [ -n "${ABORT:-}" ] && [ "$num" -lt 90 ]; then
                fail "$name" "skipped: $ABORT"
                continue
        fi
        if [ -n "$filter" ] && [ "$num" -ge 30 ] && [ "$num" -lt 90 ]; then
                case "$name" in *"$filter"*) ;; *) continue ;; esac
        fi
        note "test file $name at $(cut -d' ' -f1 /proc/uptime) s"
        . "$t"
done

[ -n "${RINGD_PID:-}" ] && kill "$RINGD_PID" 2>/dev/null
sendfile ringd.log "$RINGD_LOG"
sendfile record "$REC"
sendfile insmod.log /tmp/insmod.log
dmesg >/tmp/dmesg.log
sendfile dmesg.log /tmp/dmesg.log
