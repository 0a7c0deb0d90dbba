# SPDX-License-Identifier: MIT
# Keys the host sends through QMP arrive as input events on the keyboard's
# evdev node: the path a user-space HID driver will later take over.
EV1=$(event_node_of "$KBD1")
if [ -z "$EV1" ]; then
        fail keys-arrive-as-input-events "no event node under $KBD1: $(ls /sys/class/input)"
else
        keys_arrive keys-arrive-as-input-events "$EV1" a 30
fi
