# SPDX-License-Identifier: MIT
# ringctl shutdown stops every driver and ringd exits 0 (killed after 30 s).
rctl shutdown >/dev/null 2>&1
(sleep 30; kill -9 "$RINGD_PID") 2>/dev/null &
watchdog=$!
wait "$RINGD_PID"
rc=$?
kill "$watchdog" 2>/dev/null
RINGD_PID=
check ringd-shutdown 'ringd exit $rc' [ $rc -eq 0 ]
check shutdown-stops-dext 'record: $(cat "$REC")' rec_has free "$TAG1"
