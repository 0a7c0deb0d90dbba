# SPDX-License-Identifier: MIT
# A dext killed while it drives the device is restarted by ringd, and the
# device still works afterwards.
PID1=$(rec_pid start "$TAG1")
starts=$(rec_count start)
if [ -z "$PID1" ] || ! kill -9 "$PID1"; then
        fail killed-dext-restarted "no pid for $TAG1 in record: $(cat "$REC")"
else
        check killed-dext-restarted 'record: $(cat "$REC"); log: $(tail -n 10 "$RINGD_LOG")' \
                wait_for 20 rec_has_n start $((starts + 1))
        TAG1=$(grep '^start ' "$REC" | tail -n1 | awk '{print $2}')
        rctl list >/tmp/out 2>&1
        check restarted-dext-listed '$(cat /tmp/out)' grep -q "$TAG1" /tmp/out
        keys_arrive keys-after-restart "$(event_node_of "$KBD1")" b 48
fi
