# SPDX-License-Identifier: MIT
# Hot-plug through QMP: a second keyboard starts a second dext instance;
# unplugging it stops that instance (stop, then free) and leaves the first.
req plug usb-kbd kbd2
check hotplug-keyboard-enumerates '$(count_product "$KBD") keyboards' wait_for 30 has_n_product "$KBD" 2
check hotplug-starts-second-instance 'record: $(cat "$REC")' wait_for 20 rec_has_n start 2
TAG2=$(rec_tags start | grep -v "^$TAG1\$" | head -n1)
rctl registry -l --json >/tmp/registry-two.json 2>&1
sendfile registry-two.json /tmp/registry-two.json
req unplug kbd2
check unplug-keyboard-goes '$(count_product "$KBD") keyboards' wait_for 30 has_n_product "$KBD" 1
check unplug-stops-instance 'record: $(cat "$REC")' wait_for 20 rec_has free "$TAG2"
check unplug-stop-before-free 'record: $(cat "$REC")' \
        sh -c "grep -E '^(stop|free) $TAG2 ' $REC | awk '{print \$1}' | tr '\n' ' ' | grep -qx 'stop free '"
check first-instance-untouched 'record: $(cat "$REC")' sh -c "! grep -qE '^(stop|free) $TAG1 ' $REC"
rctl registry -l --json >/tmp/registry-unplugged.json 2>&1
sendfile registry-unplugged.json /tmp/registry-unplugged.json
