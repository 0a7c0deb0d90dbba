# SPDX-License-Identifier: MIT
# The slow stick (reads throttled) unplugged (QMP device_del) while
# rk-usbsdk-dext streams READ(10)s from it with 8 URBs queued: the completions report -ENODEV ("gone"), the dext does
# not crash, ringd stops it (stop runs: "released") and it exits.  Last of
# the stick's tests: the stick does not come back.
. /tests/usbsdk.sh
REP=$RW/usbsdk-unplug
: >"$REP"
chmod 666 "$REP"
STICK_SERIAL=RKSLOW
if [ ! -x /ringkit/bin/rk-usbsdk-dext ] || [ -z "$(stick_dev)" ]; then
        fail usbsdk-unplug "no rk-usbsdk-dext in the initramfs or no stick"
else
        usbsdk_bundle UsbSdkStream.dext rk-usbsdk-dext RKUSBSDKStorage IOUSBHostDevice "$(usbsdk_stick_match RKSLOW)" \
                "<key>RKStoragePlan</key><string>stream</string>"
        check usbsdk-unplug-streaming 'report: $(tail -n 5 "$REP"); log: $(tail -n 10 "$RINGD_LOG")' wait_for 60 rep_has "streaming "
        UPID=$(rep_line streaming | awk '{print $2}')
        req unplug stick2
        check usbsdk-unplug-enodev 'report: $(tail -n 5 "$REP")' wait_for 20 rep_has "gone status=-19"
        check usbsdk-unplug-stopped 'report: $(tail -n 3 "$REP"); log: $(grep -i "$UPID" "$RINGD_LOG" | tail -n 5)' \
                wait_for 20 rep_has "released $UPID"
        check usbsdk-unplug-exits 'ps: $(ps | grep usbsdk)' wait_for 20 sh -c "! kill -0 $UPID 2>/dev/null"
        check usbsdk-unplug-no-errors '$(grep -E "^(error|stream )" "$REP")' sh -c "! grep -Eq '^(error|stream )' $REP"
        check usbsdk-unplug-stick-gone 'usb: $(stick_dev)' wait_for 10 no_stick
        rm -rf "$ROOT/extensions/UsbSdkStream.dext"
fi
STICK_SERIAL=
sendfile usbsdk-unplug.report "$REP"
