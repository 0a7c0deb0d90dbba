# SPDX-License-Identifier: MIT
# The USB serial family's built-in driver from a codeless personality: the
# sample bundle samples/extensions/USBSerial.dext maps QEMU's usb-serial (an
# FTDI FT232, 0403:6001, whose far end is a socket chardev the host reads
# and writes) to RKUSBSerialDriver.  It takes interface 0 from ftdi_sio,
# publishes a pty (IOTTYDevice); bytes written to the pty come out on the
# host's chardev and bytes the host sends come out of the pty; a speed set
# on the pty reaches the chip (the host checks QEMU's usb_serial_set_baud
# trace); unplugging the device removes the pty, the nub and the instance.
#
# Requests to the host (qemu-lane.py):
#   serial-send TEXT            write TEXT and a newline into the chardev
#   serial-expect NAME TEXT     ok NAME when TEXT arrives on the chardev
#   serial-baud NAME BAUD       ok NAME when QEMU's FT232 was set to BAUD
ringkit-builtin --self-test-usbserial | grep -E '^(ok   |FAIL )'

SER=$(usb_by_product "QEMU USB SERIAL" | head -n1)
ser_if=${SER##*/}:1.0
# the driver's pty (the Linux provider's tty nubs carry IOTTYDevice too, without /dev/pts/)
tty_path() { rctl registry -l --json | grep -o '"IOTTYDevice":"/dev/pts/[0-9]*"' | head -n1 | cut -d'"' -f4; }
have_tty() { [ -n "$(tty_path)" ]; }
if_driver() { _l=$(readlink "/sys/bus/usb/devices/$ser_if/driver" 2>/dev/null) && echo "${_l##*/}"; }
no_serial_instance() { rctl registry -l --json >/tmp/reg.json && ! grep -q -e RKUSBSerialProtocol -e '"IOTTYDevice":"/dev/pts/' /tmp/reg.json; }

if [ -z "$SER" ]; then
        fail usbserial-device "no QEMU USB SERIAL in /sys/bus/usb/devices (usb-serial not attached?)"
else
        ok usbserial-device
        # ftdi_sio takes it at boot, when the module is in the guest
        if [ -d /sys/bus/usb/drivers/ftdi_sio ]; then
                driver_is() { [ "$(if_driver)" = "$1" ]; }
                check usbserial-ftdi-sio-bound-first 'interface driver: $(if_driver)' wait_for 10 driver_is ftdi_sio
        fi
        rm -rf /tmp/USBSerial.dext
        cp -r /ringkit/samples/USBSerial.dext /tmp/USBSerial.dext
        install_bundle USBSerial.dext /tmp/USBSerial.dext
        check usbserial-pty-published 'registry: $(rctl registry | grep -i -E "serial|usb" | head -n 12); log: $(grep -i -E "serial|usbser" "$RINGD_LOG" | tail -n 8)' \
                wait_for 20 have_tty
        PTY=$(tty_path)
        check usbserial-pty-exists 'pty "$PTY": $(ls -l /dev/pts 2>&1 | tr "\n" " ")' [ -c "$PTY" ]
        check usbserial-interface-taken-from-kernel-driver 'interface driver: $(if_driver)' [ "$(if_driver)" = usbfs ]
        rctl registry -l --json >/tmp/registry-usbserial.json 2>&1
        check usbserial-protocol-published '$(grep -o "\"RKUSBSerialProtocol\":\"[^\"]*\"" /tmp/registry-usbserial.json)' \
                grep -q '"RKUSBSerialProtocol":"FTDI FT232"' /tmp/registry-usbserial.json

        if [ -c "$PTY" ]; then
                # guest -> host: a line written to the pty comes out on the chardev
                stty raw -echo 57600 <"$PTY"
                printf 'ringkit-to-host-1\n' >"$PTY"
                req serial-expect usbserial-guest-to-host ringkit-to-host-1
                # the speed the program set reached the chip (QEMU's trace), and the registry
                req serial-baud usbserial-baud-57600-reaches-chip 57600
                baud_is() { rctl registry -l --json | grep -q "\"RKSerialBaudRate\":$1[,}]"; }
                check usbserial-baud-published 'registry: $(rctl registry -l --json | grep -o "\"RKSerial[A-Za-z]*\":[0-9a-z]*" | tr "\n" " ")' \
                        wait_for 10 baud_is 57600
                # a change not followed by data is seen by the driver's poll
                stty 19200 <"$PTY"
                req serial-baud usbserial-baud-19200-without-data 19200
                check usbserial-baud-19200-published 'registry: $(rctl registry -l --json | grep -o "\"RKSerial[A-Za-z]*\":[0-9a-z]*" | tr "\n" " ")' \
                        wait_for 10 baud_is 19200
                # host -> guest: what the host sends comes out of the pty
                : >/tmp/serial.in
                cat "$PTY" >/tmp/serial.in 2>&1 &
                _cat=$!
                sleep 0.5
                req serial-send host-to-ringkit-1
                check usbserial-host-to-guest 'read from $PTY: $(od -c /tmp/serial.in | head -n 5)' \
                        wait_for 15 grep -q host-to-ringkit-1 /tmp/serial.in
                # a block larger than the URBs and the chip's buffer, both ways
                req serial-send "$(printf '%0400d' 7)"
                count7() { [ "$(tr -cd 7 </tmp/serial.in | wc -c)" -ge 1 ] && [ "$(tr -cd 0 </tmp/serial.in | wc -c)" -ge 399 ]; }
                check usbserial-host-to-guest-400-bytes 'got $(wc -c </tmp/serial.in) bytes' wait_for 15 count7
                kill $_cat 2>/dev/null
                wait $_cat 2>/dev/null
                # 30000 lines (169 KB) while nobody reads the pty: more than the
                # pty, the driver and the chip hold, so the driver stops reading
                # the device and the host's chardev is held back; then a reader
                # gets every line, in order (awk stops at a gap)
                req serial-send-seq 30000
                throttled() { rctl registry -l --json | grep -q '"RKSerialThrottled":[1-9]'; }
                check usbserial-device-held-back-while-pty-full 'registry: $(rctl registry -l --json | grep -o "\"RKSerial[A-Za-z]*\":[0-9a-z]*" | tr "\n" " ")' \
                        wait_for 60 throttled
                : >/tmp/seq.out
                awk -v N=30000 '$0 == n + 1 { n++; if (n == N) { print "all " N; exit 0 } next }
                        n > 0 { print "gap after " n ": " $0; exit 1 }' <"$PTY" >/tmp/seq.out 2>&1 &
                _awk=$!
                check usbserial-host-to-guest-169k-held-back-nothing-lost '$(cat /tmp/seq.out); log: $(grep -i "serial" "$RINGD_LOG" | tail -n 3)' \
                        wait_for 90 grep -q "^all 30000" /tmp/seq.out
                kill $_awk 2>/dev/null
                printf '%02000d\n' 5 >"$PTY"
                req serial-expect usbserial-guest-to-host-2000-bytes "$(printf '%01999d' 5)"
        fi
        rctl registry -l --json >/tmp/registry-usbserial.json 2>&1
        sendfile registry-usbserial.json /tmp/registry-usbserial.json

        # hot-unplug: the pty, the IOSerialBSDClient nub and the instance go
        req unplug serial1
        check usbserial-unplug-device-gone 'usb devices: $(count_product "QEMU USB SERIAL")' \
                wait_for 20 has_n_product "QEMU USB SERIAL" 0
        check usbserial-unplug-instance-gone 'registry: $(rctl registry | grep -i -E "serial" | head -n 8)' \
                wait_for 20 no_serial_instance
        [ -n "$PTY" ] && check usbserial-unplug-pty-gone '$(ls -l "$PTY" 2>&1)' wait_for 10 test ! -e "$PTY"
        check usbserial-unplug-driver-stopped 'log: $(grep -i "serial port" "$RINGD_LOG" | tail -n 4)' \
                grep -q "serial port $PTY closing" "$RINGD_LOG"
        rm -rf "$ROOT/extensions/USBSerial.dext"
fi
