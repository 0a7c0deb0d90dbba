# SPDX-License-Identifier: MIT
# bench-usb (bench/bench-usb.c): bulk read throughput from the stick through
# the USB family SDK (sync, and 8 URBs queued per command) against the
# kernel's usb-storage + sd path (O_DIRECT), in alternating rounds in this
# one guest.  Figures are printed as NOTEs (the lane log); only the data
# check counts as a result.  8 MiB x 2 rounds normally; with RK_BENCH=1 on
# the host (kernel argument rk.bench=1) 64 MiB x 3 rounds:
#   meson test -C BUILD --benchmark bench-usb -v
. /tests/usbsdk.sh
MIB=8 ROUNDS=2
grep -q 'rk.bench=1' /proc/cmdline && MIB=64 ROUNDS=3
OUT=/tmp/bench-usb.out
: >"$OUT"
echo 0 >/sys/module/usb_storage/parameters/delay_use 2>/dev/null
if [ ! -x /ringkit/bin/bench-usb ]; then
        fail usb-bench "no bench-usb in the initramfs"
elif ! wait_for 30 stick_block; then
        fail usb-bench "no block device for the stick (driver: $(stick_driver))"
else
        BRC=0
        KIB=$(cat /sys/block/$(stick_block)/queue/max_sectors_kb)  # usb-storage's READ(10) size
        note "usb-bench: ${MIB} MiB per mode, $ROUNDS rounds, stick at $(stick_usbfs), $(cat "$(stick_dev)/speed") Mb/s, max_sectors_kb $(cat /sys/block/$(stick_block)/queue/max_sectors_kb)"
        r=1
        while [ $r -le $ROUNDS ]; do
                SDX=$(stick_block)
                bench-usb kernel "/dev/$SDX" "$MIB" >>"$OUT" 2>&1 || BRC=1
                bench-usb sdk "$(stick_usbfs)" "$MIB" "$KIB" >>"$OUT" 2>&1 || BRC=1
                wait_for 30 stick_block || BRC=1
                r=$((r + 1))
        done
        while read -r line; do note "usb-bench $line"; done <"$OUT"
        # best of the rounds per mode, and the ratios to the kernel's
        best() { grep "^$1 " "$OUT" | awk '{ if ($2 > m) m = $2 } END { printf "%.2f", m }'; }
        ratio() { awk "BEGIN { if ($1 > 0) printf \"%.2f\", $2 / $1 }"; }
        K=$(best kernel) SS=$(best sdk-sync) SA=$(best sdk-async) SK=$(best sdk-sync-kernel-size)
        note "usb-bench best MiB/s: kernel $K; sdk-sync 1 MiB commands $SS ($(ratio "$K" "$SS")x kernel), sdk-async 8x128 KiB URBs $SA ($(ratio "$K" "$SA")x), sdk-sync ${KIB} KiB commands as the kernel's $SK ($(ratio "$K" "$SK")x)"
        check usb-bench-runs 'exit status / output: $(cat "$OUT")' [ $BRC -eq 0 ]
fi
sendfile bench-usb.out "$OUT"
