# SPDX-License-Identifier: MIT
# Cancelling bulk transfers in flight: on the slow stick (QEMU throttles its
# reads to 2 MiB/s) rk-usbsdk-dext queues a READ(10) of 4 MiB as 32 URBs and
# aborts the pipe at once.  The URBs the device had not filled complete
# with -ECANCELED, the ones before with the image's data; after BOT reset
# recovery (class reset, ClearStall on both pipes) the stick reads again.
. /tests/usbsdk.sh
REP=$RW/usbsdk-cancel
: >"$REP"
chmod 666 "$REP"
STICK_SERIAL=RKSLOW
if [ ! -x /ringkit/bin/rk-usbsdk-dext ] || ! wait_for 30 stick_dev; then
        fail usbsdk-cancel "no rk-usbsdk-dext in the initramfs or no slow stick"
else
        usbsdk_bundle UsbSdkCancel.dext rk-usbsdk-dext RKUSBSDKStorage IOUSBHostDevice "$(usbsdk_stick_match RKSLOW)" \
                "<key>RKStoragePlan</key><string>cancel</string>"
        check usbsdk-cancel-plan-done 'report: $(cat "$REP"); log: $(tail -n 10 "$RINGD_LOG")' wait_for 60 rep_has plan-done
        check usbsdk-cancel-claims '$(rep_line claimed)' rep_has "claimed [0-9]+ interface=0 detached=usb-storage"
        check usbsdk-cancel-cancelled '$(grep -E "^(async-cancel|async urb)" "$REP")' sh -c \
                "grep -q '^async-cancel-submitted rc=0 pending=32' $REP && \
                 grep -Eq '^async-cancel urbs=32 ok=[0-9]+ cancelled=[0-9]+ bad=0 abort=[0-9]+ reset=0' $REP && \
                 l=\$(grep '^async-cancel urbs' $REP) && ok=\${l#*ok=} && ok=\${ok%% *} && c=\${l#*cancelled=} && c=\${c%% *} && \
                 a=\${l#*abort=} && a=\${a%% *} && [ \$((ok + c)) -eq 32 ] && [ \$c -ge 1 ] && [ \$a -eq \$c ]"
        note "usbsdk cancel on the slow stick: $(rep_line 'async-cancel urbs')"
        check usbsdk-cancel-recovered '$(rep_line after-cancel)' rep_has "after-cancel lba=4096 blocks=64 ok"
        check usbsdk-cancel-no-errors '$(grep -E "^(error|async urb)" "$REP")' sh -c "! grep -Eq '^(error|async urb)' $REP"
        SPID=$(rep_line claimed | awk '{print $2}')
        rm -rf "$ROOT/extensions/UsbSdkCancel.dext"
        check usbsdk-cancel-releases 'report: $(tail -n 3 "$REP")' wait_for 20 rep_has "released $SPID"
        check usbsdk-cancel-usb-storage-rebinds 'driver: $(stick_driver)' wait_for 20 stick_driver_is usb-storage
fi
STICK_SERIAL=
sendfile usbsdk-cancel.report "$REP"
