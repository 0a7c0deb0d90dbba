# SPDX-License-Identifier: MIT
# The USB family SDK on QEMU's usb-storage stick (rk-usbsdk-dext, class
# RKUSBSDKStorage, matched to the stick's IOUSBHostDevice by its serial
# number: the two sticks differ only there): the dext
# detaches usb-storage, speaks Bulk-Only Transport + SCSI itself and reads
# the image's known pattern (word at byte offset o = o / 4); the
# descriptors it parsed are the ones sysfs shows; stalls on bulk OUT and IN
# come back as -EPIPE and are recovered; async reads complete in order and
# an aborted pipe's requests complete or report -ECANCELED.  Its bundle removed, usb-storage binds
# again and the kernel reads what the dext wrote back.
. /tests/usbsdk.sh
REP=$RW/usbsdk-storage
: >"$REP"
chmod 666 "$REP"
echo 0 >/sys/module/usb_storage/parameters/delay_use 2>/dev/null  # rebinds scan at once
check usb-stick-enumerates 'usb devices: $(cat /sys/bus/usb/devices/*/product 2>/dev/null | tr "\n" ",")' \
        wait_for 30 stick_dev
check usb-stick-block-device 'driver: $(stick_driver); block: $(ls /sys/block)' wait_for 30 stick_block
S=$(stick_dev)
SI=$S/${S##*/}:1.0
SDX=$(stick_block)
SECTORS=$(cat "/sys/block/$SDX/size" 2>/dev/null)
if [ ! -x /ringkit/bin/rk-usbsdk-dext ] || [ -z "$S" ]; then
        fail usbsdk-storage "no rk-usbsdk-dext in the initramfs or no stick"
else
        usbsdk_bundle UsbSdkStorage.dext rk-usbsdk-dext RKUSBSDKStorage IOUSBHostDevice "$(usbsdk_stick_match RKSTICK)"
        check usbsdk-storage-plan-done 'report: $(cat "$REP"); log: $(tail -n 10 "$RINGD_LOG")' wait_for 60 rep_has plan-done
        check usbsdk-storage-detaches-usb-storage '$(rep_line claimed)' rep_has "claimed [0-9]+ interface=0 detached=usb-storage"
        check usbsdk-storage-kernel-driver-gone 'driver: $(stick_driver)' wait_for 10 sh -c "! [ \"\$(basename \"\$(readlink $SI/driver)\")\" = usb-storage ]"
        check usbsdk-storage-block-device-gone 'block: $(ls /sys/block)' wait_for 10 sh -c "! [ -e /sys/block/$SDX ]"
        check usbsdk-storage-device-matches-sysfs '$(rep_line device)' sh -c \
                ". /tests/usbsdk.sh; REP=$REP; same_hex idVendor device $S/idVendor && same_hex idProduct device $S/idProduct \
                 && same_hex bcdDevice device $S/bcdDevice && [ \$(rep_field bNumConfigurations device) -eq \$((\$(cat $S/bNumConfigurations))) ] \
                 && [ \$(rep_field bMaxPacketSize0 device) -eq \$((\$(cat $S/bMaxPacketSize0))) ] \
                 && [ \"\$(rep_field bcdUSB device | sed 's/^0*//; s/\(..\)\$/.\1/')\" = \"\$(tr -d ' ' <$S/version | sed 's/^0*//')\" ]"
        check usbsdk-storage-strings-match-sysfs '$(rep_line strings)' \
                grep -qF "strings product=$(cat "$S/product")|manufacturer=$(cat "$S/manufacturer")|serial=$(cat "$S/serial")" "$REP"
        check usbsdk-storage-config-matches-sysfs '$(rep_line config)' sh -c \
                ". /tests/usbsdk.sh; REP=$REP; [ \$(rep_field bConfigurationValue config) -eq \$((\$(cat $S/bConfigurationValue))) ] \
                 && [ \$(rep_field bNumInterfaces config) -eq \$((\$(cat $S/bNumInterfaces))) ] && same_hex bmAttributes config $S/bmAttributes"
        EPS=""
        for e in "$SI"/ep_*; do
                EPS="$EPS ${e##*/}=$(sysdec "$e/bmAttributes"):$(sysdec "$e/wMaxPacketSize"):$(sysdec "$e/bInterval")"
        done
        check usbsdk-storage-interface-matches-sysfs '$(rep_line interface) vs$EPS' sh -c \
                ". /tests/usbsdk.sh; REP=$REP; same_hex bInterfaceClass interface $SI/bInterfaceClass \
                 && same_hex bInterfaceSubClass interface $SI/bInterfaceSubClass && same_hex bInterfaceProtocol interface $SI/bInterfaceProtocol \
                 && [ \$(rep_field bNumEndpoints interface) -eq \$(sysdec $SI/bNumEndpoints) ] \
                 && for x in $EPS; do rep_line interface | sed 's/\$/ /' | grep -qF \" \$x \" || exit 1; done"
        check usbsdk-storage-max-lun '$(rep_line max-lun)' rep_has "max-lun rc=1 lun=0"
        check usbsdk-storage-inquiry '$(rep_line inquiry)' rep_has "inquiry rc=0 type=0 vendor=QEMU"
        check usbsdk-storage-read-capacity '$(rep_line read-capacity) vs $SECTORS sectors in sysfs' \
                rep_has "read-capacity rc=0 blocks=$SECTORS block-size=512 "
        check usbsdk-storage-read-pattern '$(grep ^read-sync "$REP")' sh -c \
                "grep -q '^read-sync lba=0 blocks=64 ok' $REP && grep -q '^read-sync-end lba=[0-9]* blocks=64 ok' $REP"
        check usbsdk-storage-write-read-back '$(rep_line write) $(rep_line read-after-restore)' sh -c \
                "grep -q '^write rc=0 readback rc=0 same restore rc=0' $REP && grep -q '^read-after-restore .* ok' $REP"
        check usbsdk-storage-stall-out-epipe '$(rep_line stall-out)' rep_has "stall-out rc=-32 stalled=1"
        check usbsdk-storage-stalled-pipe-refuses '$(rep_line stalled-pipe)' rep_has "stalled-pipe-refuses-async rc=-32"
        check usbsdk-storage-stall-out-cleared '$(rep_line stall-out-cleared)' rep_has "stall-out-cleared rc=0 stalled=0"
        check usbsdk-storage-stall-out-recovered '$(rep_line stall-out-recovered)' rep_has "stall-out-recovered .* ok"
        check usbsdk-storage-stall-in-epipe '$(rep_line stall-in)' rep_has "stall-in rc=-32 stalled=1"
        check usbsdk-storage-stall-in-cleared '$(rep_line stall-in-cleared)' rep_has "stall-in-cleared rc=0 stalled=0"
        check usbsdk-storage-stall-in-recovered '$(rep_line stall-in-recovered)' rep_has "stall-in-recovered .* ok"
        check usbsdk-storage-async-read '$(grep ^async-read "$REP")' sh -c \
                "grep -q '^async-read-submitted rc=0 pending=8' $REP && grep -q '^async-read urbs=8 ok=8 bad=0 csw=0' $REP"
        # the pipe is aborted right after 32 URBs are queued; this stick is fast enough that they may all
        # have finished (65-usbsdk-cancel.sh cancels on the slow one): each one is either complete with the
        # right data or cancelled, none lost or wrong
        check usbsdk-storage-async-abort '$(grep -E "^(async-cancel|async urb)" "$REP")' sh -c \
                "grep -q '^async-cancel-submitted rc=0 pending=32' $REP && \
                 grep -Eq '^async-cancel urbs=32 ok=[0-9]+ cancelled=[0-9]+ bad=0 abort=[0-9]+ reset=0' $REP && \
                 l=\$(grep '^async-cancel urbs' $REP) && ok=\${l#*ok=} && ok=\${ok%% *} && c=\${l#*cancelled=} && c=\${c%% *} && \
                 [ \$((ok + c)) -eq 32 ]"
        check usbsdk-storage-after-cancel '$(rep_line after-cancel)' rep_has "after-cancel lba=4096 blocks=64 ok"
        check usbsdk-storage-no-errors '$(grep -E "^(error|async urb)" "$REP")' sh -c "! grep -Eq '^(error|async urb)' $REP"
        SPID=$(rep_line claimed | awk '{print $2}')
        rm -rf "$ROOT/extensions/UsbSdkStorage.dext"
        check usbsdk-storage-releases 'report: $(tail -n 3 "$REP")' wait_for 20 rep_has "released $SPID"
        check usbsdk-storage-usb-storage-rebinds 'driver: $(stick_driver)' wait_for 20 stick_driver_is usb-storage
        check usbsdk-storage-block-device-back 'block: $(ls /sys/block)' wait_for 30 stick_block
        SDX=$(stick_block)
        # block 100 was overwritten and restored through the SDK: the kernel reads the pattern (word 12800)
        check usbsdk-storage-kernel-reads-restored '$(dd if=/dev/$SDX bs=512 skip=100 count=1 2>/dev/null | od -An -tx4 -N8)' \
                sh -c "dd if=/dev/$SDX bs=512 skip=100 count=1 iflag=direct 2>/dev/null | od -An -tx4 -N8 | grep -q '00003200 *00003201'"
fi
sendfile usbsdk-storage.report "$REP"
