#!/bin/bash
# SPDX-License-Identifier: MIT
# `ringctl match-alias` driven as a user would: a small alias file with known
# answers (text and --json), usage and file errors, then the installed
# kernel's modules.alias on a few real modaliases, cross-checked with
# `modprobe --resolve-alias` when it is there.
. "$RK_TEST_SRCDIR/tests/cli-lib.sh"

# expect_out NAME FILE   ($TMP/out must equal FILE)
expect_out() {
        if cmp -s "$TMP/out" "$2"; then ok "$1"; else fail "$1" "$(diff "$2" "$TMP/out" | head -20)"; fi
}

cat >"$TMP/modules.alias" <<'EOF'
# Aliases extracted from modules themselves.
alias usb:v046DpC52Bd*dc*dsc*dp*ic*isc*ip*in* logitech_dj
alias usb:v*p*d*dc*dsc*dp*ic03isc01ip01in* usbhid
alias usb:v*p*d*dc*dsc*dp*ic03isc*ip*in* usbhid
alias pci:v00008086d000008B1sv*sd*bc*sc*i* iwlwifi
alias usb:v13FDp3940d0[0-2]*dc*dsc*dp*ic*isc*ip*in* uas
alias usb:v13FDp3940d0[0-2]*dc*dsc*dp*ic*isc*ip*in* usb_storage
alias crypto-twofish twofish_x86_64
alias of:N*T*Cfsl,imx6q-pcie* pci_imx6
EOF

cat >"$TMP/in" <<'EOF'
usb:v046DpC52Bd1200dc00dsc00dp00ic03isc01ip01in00
usb:v1234p5678d0100dc00dsc00dp00ic03isc01ip02in00
pci:v00008086d000008B1sv00008086sd00004070bc02sc80i00
usb:v13FDp3940d0210dc00dsc00dp00ic08isc06ip50in00
usb:v13FDp3940d0310dc00dsc00dp00ic08isc06ip50in00
crypto_twofish
of:NpcieT(null)Cfsl,imx6q_pcie

EOF
cat >"$TMP/want" <<'EOF'
usb:v046DpC52Bd1200dc00dsc00dp00ic03isc01ip01in00 logitech_dj usbhid
usb:v1234p5678d0100dc00dsc00dp00ic03isc01ip02in00 usbhid
pci:v00008086d000008B1sv00008086sd00004070bc02sc80i00 iwlwifi
usb:v13FDp3940d0210dc00dsc00dp00ic08isc06ip50in00 uas usb_storage
usb:v13FDp3940d0310dc00dsc00dp00ic08isc06ip50in00
crypto_twofish twofish_x86_64
of:NpcieT(null)Cfsl,imx6q_pcie pci_imx6

EOF
"$RINGCTL" match-alias --aliases "$TMP/modules.alias" <"$TMP/in" >"$TMP/out" 2>"$TMP/err"
rc=$?
if [ $rc -eq 0 ]; then ok text-rc; else fail text-rc "exit $rc: $(cat "$TMP/err")"; fi
expect_out text-output "$TMP/want"

# --aliases=FILE form, CRLF input, a module named by two patterns listed once
printf 'usb:v046DpC52Bd1200dc00dsc00dp00ic03isc01ip01in00\r\n' |
        "$RINGCTL" match-alias --aliases="$TMP/modules.alias" >"$TMP/out" 2>&1
echo 'usb:v046DpC52Bd1200dc00dsc00dp00ic03isc01ip01in00 logitech_dj usbhid' >"$TMP/want"
expect_out crlf-and-dedup "$TMP/want"

# --json: every matching alias with its pattern
echo 'usb:v046DpC52Bd1200dc00dsc00dp00ic03isc01ip01in00' |
        "$RINGCTL" match-alias --aliases "$TMP/modules.alias" --json >"$TMP/out" 2>&1
got=$(python3 -c "import json,sys; j=json.loads(open('$TMP/out').read()); print(j['modules'], sorted((a['module'], a['pattern']) for a in j['aliases']))" 2>&1)
want="['logitech_dj', 'usbhid'] [('logitech_dj', 'usb:v046DpC52Bd*dc*dsc*dp*ic*isc*ip*in*'), ('usbhid', 'usb:v*p*d*dc*dsc*dp*ic03isc*ip*in*'), ('usbhid', 'usb:v*p*d*dc*dsc*dp*ic03isc01ip01in*')]"
if [ "$got" = "$want" ]; then ok json; else fail json "got $got"; fi

# usage and errors
expect_rc help 0 "$RINGCTL" match-alias --help
expect_grep help-text 'usage: ringctl match-alias --aliases FILE'
expect_rc no-aliases 2 "$RINGCTL" match-alias
expect_grep no-aliases-msg 'aliases FILE is required'
expect_rc bad-option 2 "$RINGCTL" match-alias --aliases "$TMP/modules.alias" --frobnicate
expect_rc extra-arg 2 "$RINGCTL" match-alias --aliases "$TMP/modules.alias" usb:v1234
expect_rc missing-file 1 "$RINGCTL" match-alias --aliases "$TMP/nonexistent.alias"
expect_grep missing-file-msg "nonexistent\.alias: No such file or directory"
printf '# header\nalias usb:v*p* usbcore\nalias usb:v1234 \nalias x y\n' >"$TMP/bad.alias"
expect_rc malformed 1 "$RINGCTL" match-alias --aliases "$TMP/bad.alias"
expect_grep malformed-msg "bad\.alias:3: malformed line, expected 'alias PATTERN MODULE'"
expect_rc directory 1 "$RINGCTL" match-alias --aliases "$TMP"
expect_grep directory-msg "Is a directory"

# the installed kernel's aliases (Debian's linux-image-amd64 in CI)
real=$(ls -d /lib/modules/*/modules.alias 2>/dev/null | sort -V | tail -1)
if [ -n "$real" ]; then
        ver=$(basename "$(dirname "$real")")
        cat >"$TMP/real-in" <<'EOF'
usb:v046DpC52Bd1200dc00dsc00dp00ic03isc01ip01in00
usb:v13FDp3940d0210dc00dsc00dp00ic08isc06ip50in00
pci:v00008086d000008B1sv00008086sd00004070bc02sc80i00
pci:v00001033d00000194sv00000000sd00000000bc0Csc03i30
acpi:PNP0C0A:
hid:b0003g0001v0000046Dp0000C52B
EOF
        "$RINGCTL" match-alias --aliases "$real" <"$TMP/real-in" >"$TMP/out" 2>&1
        expect_grep real-usbhid '^usb:v046DpC52Bd1200dc00dsc00dp00ic03isc01ip01in00 .*usbhid'
        expect_grep real-uas '^usb:v13FDp3940d0210dc00dsc00dp00ic08isc06ip50in00 uas usb_storage$'
        expect_grep real-iwlwifi '^pci:v00008086d000008B1sv00008086sd00004070bc02sc80i00 iwlwifi$'
        expect_grep real-xhci '^pci:v00001033d00000194sv00000000sd00000000bc0Csc03i30 .*xhci_pci'
        expect_grep real-battery '^acpi:PNP0C0A: battery$'
        expect_grep real-hid '^hid:b0003g0001v0000046Dp0000C52B hid_generic hid_logitech_dj$'
        if [ "$(wc -l <"$TMP/out")" -eq 6 ]; then ok real-lines; else fail real-lines "$(cat "$TMP/out")"; fi

        modprobe=$(command -v modprobe || echo /usr/sbin/modprobe)
        if [ -x "$modprobe" ]; then
                # modprobe (libkmod) with no configuration, on the same kernel
                n=0
                while read -r alias; do
                        want=$("$modprobe" -C /dev/null -S "$ver" -R "$alias" 2>/dev/null | sort -u | tr '\n' ' ')
                        got=$(grep -F "$alias" "$TMP/out" | head -1 | cut -d' ' -f2- | tr ' ' '\n' | sort -u | tr '\n' ' ')
                        [ "$want" = "$got" ] || { fail "modprobe-$n" "$alias: modprobe '$want', ringctl '$got'"; n=$((n + 1)); }
                done <"$TMP/real-in"
                [ $n -eq 0 ] && ok modprobe-agrees
        fi
else
        echo "# no /lib/modules/*/modules.alias: real-file checks left out (test-alias-kmod requires it)"
fi

finish
