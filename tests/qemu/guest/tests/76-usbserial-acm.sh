# SPDX-License-Identifier: MIT
# RKUSBSerialDriver on a CDC-ACM device.  QEMU emulates none, so the guest
# makes one: a configfs USB gadget with an ACM function on dummy_hcd, whose
# host side enumerates it like a plugged device (cdc_acm binds as ttyACM0)
# and whose gadget side is the far end of the line, /dev/ttyGS0.  The sample
# bundle's CDC personality (class 2, subclass 2) takes the control
# interface; the driver claims the data interface too, publishes a pty;
# bytes go both ways between the pty and ttyGS0; a speed set on the pty is
# accepted by the function (SET_LINE_CODING); unbinding the gadget (an
# unplug) removes the pty and the instance.
ACM_PRODUCT="ringkit ACM"
G=/sys/kernel/config/usb_gadget/rkacm
acm_pty() { rctl registry -l --json | grep -o '"IOTTYDevice":"/dev/pts/[0-9]*"' | head -n1 | cut -d'"' -f4; }
have_acm_pty() { [ -n "$(acm_pty)" ]; }
drv_of() { _l=$(readlink "/sys/bus/usb/devices/$1/driver" 2>/dev/null) && echo "${_l##*/}"; }
no_acm_instance() { rctl registry -l --json >/tmp/reg.json && ! grep -q -e '"RKUSBSerialProtocol":"CDC-ACM"' -e '"IOTTYDevice":"/dev/pts/' /tmp/reg.json; }

mkdir -p /sys/kernel/config
[ -d /sys/kernel/config/usb_gadget ] || mount -t configfs none /sys/kernel/config 2>/dev/null
UDC=$(ls /sys/class/udc 2>/dev/null | head -n1)
if [ -z "$UDC" ] || ! mkdir -p "$G" 2>/dev/null; then
        fail usbserial-acm-gadget "no UDC ($(ls /sys/class/udc 2>&1)) or no configfs gadget support ($(ls /sys/kernel/config 2>&1))"
else
        echo 0x1d6b >"$G/idVendor"
        echo 0x0104 >"$G/idProduct"
        mkdir -p "$G/strings/0x409" "$G/configs/c.1" "$G/functions/acm.GS0"
        echo ringkit >"$G/strings/0x409/manufacturer"
        echo "$ACM_PRODUCT" >"$G/strings/0x409/product"
        echo 1 >"$G/strings/0x409/serialnumber"
        ln -s "$G/functions/acm.GS0" "$G/configs/c.1/"
        echo "$UDC" >"$G/UDC"
        check usbserial-acm-device-enumerates 'usb devices: $(cat /sys/bus/usb/devices/*/product 2>/dev/null | tr "\n" ",")' \
                wait_for 20 has_n_product "$ACM_PRODUCT" 1
        ACM=$(usb_by_product "$ACM_PRODUCT" | head -n1)
        ACM=${ACM##*/}
        drivers_are() { [ "$(drv_of "$ACM:1.0")" = "$1" ] && [ "$(drv_of "$ACM:1.1")" = "$1" ]; }
        check usbserial-acm-cdc-acm-bound-first 'drivers of $ACM:1.0, 1.1: $(drv_of $ACM:1.0) $(drv_of $ACM:1.1)' \
                wait_for 10 drivers_are cdc_acm
        rm -rf /tmp/USBSerial.dext
        cp -r /ringkit/samples/USBSerial.dext /tmp/USBSerial.dext
        install_bundle USBSerial.dext /tmp/USBSerial.dext
        check usbserial-acm-pty-published 'registry: $(rctl registry | grep -i -E "serial|ACM" | head -n 8); log: $(grep -i -E "usbserial|serial port" "$RINGD_LOG" | tail -n 6)' \
                wait_for 20 have_acm_pty
        PTY=$(acm_pty)
        rctl registry -l --json >/tmp/registry-acm.json 2>&1
        check usbserial-acm-protocol '$(grep -o "\"RKUSBSerial[A-Za-z]*\":[^,}]*" /tmp/registry-acm.json | tr "\n" " ")' \
                grep -q '"RKUSBSerialProtocol":"CDC-ACM"' /tmp/registry-acm.json
        check usbserial-acm-both-interfaces-claimed 'drivers: $(drv_of $ACM:1.0) $(drv_of $ACM:1.1)' drivers_are usbfs
        if [ -c "$PTY" ] && [ -c /dev/ttyGS0 ]; then
                stty raw -echo <"$PTY"
                stty raw -echo </dev/ttyGS0
                : >/tmp/gs.in
                : >/tmp/acm.in
                cat /dev/ttyGS0 >/tmp/gs.in 2>&1 &
                _gs=$!
                cat "$PTY" >/tmp/acm.in 2>&1 &
                _ac=$!
                sleep 0.5
                printf 'pty-to-gadget-1\n' >"$PTY"
                check usbserial-acm-pty-to-device 'ttyGS0 read: $(od -c /tmp/gs.in | head -n 4)' \
                        wait_for 10 grep -q pty-to-gadget-1 /tmp/gs.in
                printf 'gadget-to-pty-1\n' >/dev/ttyGS0
                check usbserial-acm-device-to-pty 'pty read: $(od -c /tmp/acm.in | head -n 4)' \
                        wait_for 10 grep -q gadget-to-pty-1 /tmp/acm.in
                # 3000 bytes each way: more than one URB, a high-speed bulk packet is 512
                printf '%03000d' 3 >/dev/ttyGS0
                big_in() { [ "$(tr -cd 0 </tmp/acm.in | wc -c)" -ge 2999 ]; }
                check usbserial-acm-device-to-pty-3000-bytes 'got $(wc -c </tmp/acm.in) bytes' wait_for 15 big_in
                printf '%03000d' 4 >"$PTY"
                big_out() { [ "$(tr -cd 0 </tmp/gs.in | wc -c)" -ge 2999 ]; }
                check usbserial-acm-pty-to-device-3000-bytes 'got $(wc -c </tmp/gs.in) bytes' wait_for 15 big_out
                kill $_gs $_ac 2>/dev/null
                wait $_gs $_ac 2>/dev/null
                # SET_LINE_CODING accepted: the driver publishes only what the device took
                stty 230400 cstopb <"$PTY"
                acm_baud() { rctl registry -l --json | grep -q '"RKSerialBaudRate":230400[,}]'; }
                check usbserial-acm-line-coding 'registry: $(rctl registry -l --json | grep -o "\"RKSerial[A-Za-z]*\":[0-9a-z]*" | tr "\n" " "); log: $(grep -i "line settings" "$RINGD_LOG" | tail -n 2)' \
                        wait_for 10 acm_baud
                stop2() { rctl registry -l --json | grep -q '"RKSerialStopBits":2[,}]'; }
                check usbserial-acm-stop-bits 'registry: $(rctl registry -l --json | grep -o "\"RKSerialStopBits\":[0-9]*")' stop2
        else
                fail usbserial-acm-ttys "pty \"$PTY\" or /dev/ttyGS0 missing: $(ls /dev | grep -E 'ttyGS|pts' | tr '\n' ' ')"
        fi
        # unplug: unbind the gadget from its UDC
        echo "" >"$G/UDC"
        check usbserial-acm-unplug-device-gone 'usb devices: $(count_product "$ACM_PRODUCT")' \
                wait_for 20 has_n_product "$ACM_PRODUCT" 0
        check usbserial-acm-unplug-instance-gone 'registry: $(grep -o "\"IOTTYDevice\":\"/dev/pts/[0-9]*\"" /tmp/reg.json)' \
                wait_for 20 no_acm_instance
        [ -n "$PTY" ] && check usbserial-acm-unplug-pty-gone '$(ls -l "$PTY" 2>&1)' wait_for 10 test ! -e "$PTY"
        rm -rf "$ROOT/extensions/USBSerial.dext"
        rm -f "$G/configs/c.1/acm.GS0"
        rmdir "$G/configs/c.1" "$G/functions/acm.GS0" "$G/strings/0x409" "$G" 2>/dev/null
fi
