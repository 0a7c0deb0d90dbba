# SPDX-License-Identifier: MIT
# ringctl shutdown stops every driver and ringd exits 0.
stop_ringd
check ringd-shutdown 'ringd exit $RINGD_RC' [ "$RINGD_RC" -eq 0 ]
check shutdown-stops-dext 'record: $(cat "$REC")' rec_has free "$TAG1"
