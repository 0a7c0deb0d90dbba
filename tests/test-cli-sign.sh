#!/bin/bash
# SPDX-License-Identifier: MIT
# ringkit-sign end to end: a local CA and developer certificates made by the
# tool, a sample bundle signed, then every kind of tampering refused with the
# right message (docs/signing.md lists them).  openssl(1), when present, only
# cross-checks the CMS signature the tool wrote.
: "${RINGKIT_SIGN:?RINGKIT_SIGN not set}"
RINGCTL=${RINGCTL:-$RINGKIT_SIGN}
. "$(dirname "$0")/cli-lib.sh"
S=$RINGKIT_SIGN
SRC=$RK_TEST_SRCDIR/samples/catalogue/AcmeKeyboard.dext
B=AcmeKeyboard.dext

quiet() { "$@" >"$TMP/setup.log" 2>&1 || { echo "setup failed: $*"; cat "$TMP/setup.log"; exit 1; }; }

# --- certificates -----------------------------------------------------------
quiet $S ca create --out "$TMP/ca" --name "Test Root"
quiet $S ca create --out "$TMP/ca2" --name "Other Root"
quiet $S cert create --ca "$TMP/ca" --team ABCDE12345 --name "Jo Dev" --out "$TMP/dev"
quiet $S cert create --ca "$TMP/ca" --team ZZZZZ99999 --name "Mallory" --out "$TMP/other"
quiet $S cert create --ca "$TMP/ca" --team ABCDE12345 --name "Old Dev" --out "$TMP/expired" --expired
quiet $S cert create --ca "$TMP/ca" --team ABCDE12345 --name "Future Dev" --out "$TMP/future" --not-yet-valid
quiet $S cert create --ca "$TMP/ca" --team ABCDE12345 --name "Later Dev" --out "$TMP/later" --not-before 3
quiet $S cert create --ca "$TMP/ca2" --team ABCDE12345 --name "Stranger" --out "$TMP/stranger"
quiet $S cert create --ca "$TMP/ca" --team ABCDE12345 --name "Gone Dev" --out "$TMP/revoked"
cat >"$TMP/grants.plist" <<'P'
<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><array><string>com.apple.developer.driverkit.transport.*</string></array></plist>
P
quiet $S cert create --ca "$TMP/ca" --team ABCDE12345 --name "Usb Dev" --out "$TMP/granted" --entitlements-allowed "$TMP/grants.plist"
mkdir -p "$TMP/trust" "$TMP/trust-crl"
cp "$TMP/ca/ca.pem" "$TMP/trust/root.pem"
cp "$TMP/ca/ca.pem" "$TMP/trust-crl/root.pem"
quiet $S ca crl --ca "$TMP/ca" --revoke "$TMP/revoked/developer.pem" --out "$TMP/trust-crl/revoked.crl.pem"

# --- a sample bundle with a resource and a symlink ---------------------------
make_bundle() {
        rm -rf "$1"
        cp -r "$SRC" "$1"
        mkdir -p "$1/Contents/Resources"
        echo "read me" >"$1/Contents/Resources/readme.txt"
        ln -s readme.txt "$1/Contents/Resources/link"
}
signit() { # signit CERTDIR BUNDLE [extra sign args]
        local d=$1 b=$2
        shift 2
        $S sign --key "$TMP/$d/developer.key" --cert "$TMP/$d/developer.pem" "$@" "$b"
}
make_bundle "$TMP/signed.dext"
expect_rc "sign" 0 signit dev "$TMP/signed.dext"
expect_rc "verify signed" 0 $S verify --trust "$TMP/trust" "$TMP/signed.dext"
expect_grep "verify says valid" ": valid$"
expect_rc "verify with CRL store (not revoked)" 0 $S verify --trust "$TMP/trust-crl" "$TMP/signed.dext"
expect_rc "verify expected team" 0 $S verify --trust "$TMP/trust" --team ABCDE12345 "$TMP/signed.dext"
expect_rc "info json" 0 $S info --json "$TMP/signed.dext"
expect_grep "info team" '"team":"ABCDE12345"'
expect_grep "info identifier" '"identifier":"com.acme.driver.keyboard"'
expect_grep "info signer" '"signer":"CN = ringkit Developer: Jo Dev \(ABCDE12345\)'
expect_grep "info file count" '"files":4'
expect_rc "info text" 0 $S info "$TMP/signed.dext"
expect_grep "info text team" "team: ABCDE12345"

if command -v openssl >/dev/null; then
        expect_rc "openssl cms cross-check" 0 openssl cms -verify -binary -inform DER \
                -in "$TMP/signed.dext/Contents/_CodeSignature/CodeSignature" \
                -content "$TMP/signed.dext/Contents/_CodeSignature/CodeDirectory" \
                -CAfile "$TMP/ca/ca.pem" -purpose any -out /dev/null
        expect_rc "openssl sees codeSigning EKU" 0 openssl x509 -in "$TMP/dev/developer.pem" -noout -ext extendedKeyUsage
        expect_grep "EKU code signing" "Code Signing"
fi

# --- tampering: each on a fresh copy of the signed bundle ----------------------
fresh() { rm -rf "$TMP/t.dext"; cp -a "$TMP/signed.dext" "$TMP/t.dext"; }
refused() { # refused NAME PATTERN
        expect_rc "$1 refused" 1 $S verify --trust "${TRUST:-$TMP/trust}" "$TMP/t.dext"
        expect_grep "$1 named" "$2"
}
fresh; echo "evil" >>"$TMP/t.dext/Contents/MacOS/AcmeKeyboard"
refused "changed executable" "file changed: Contents/MacOS/AcmeKeyboard"
fresh; echo "x" >"$TMP/t.dext/Contents/Resources/extra"
refused "added file" "file added: Contents/Resources/extra"
fresh; rm "$TMP/t.dext/Contents/Resources/readme.txt"
refused "removed file" "file removed: Contents/Resources/readme.txt"
fresh; echo "x" >"$TMP/t.dext/Contents/_CodeSignature/extra"
refused "file added to the signature directory" "file added: Contents/_CodeSignature/extra"
fresh; ln -sfn /etc/passwd "$TMP/t.dext/Contents/Resources/link"
refused "retargeted symlink" "symlink changed: Contents/Resources/link \(now -> /etc/passwd"
fresh; sed -i 's/com.acme.driver.keyboard/com.evil.keyboard/' "$TMP/t.dext/Contents/Info.plist"
refused "changed identifier" "identifier changed: signed for com.acme.driver.keyboard, bundle is com.evil.keyboard"
expect_grep "changed Info.plist named" "file changed: Contents/Info.plist"

make_bundle "$TMP/another.dext"
sed -i 's/com.acme.driver.keyboard/com.acme.driver.other/' "$TMP/another.dext/Contents/Info.plist"
quiet signit dev "$TMP/another.dext"
fresh; cp "$TMP/another.dext/Contents/_CodeSignature/CodeSignature" "$TMP/t.dext/Contents/_CodeSignature/"
refused "swapped signature" "CodeSignature does not sign Contents/_CodeSignature/CodeDirectory"
fresh; cp "$TMP/another.dext/Contents/_CodeSignature/"* "$TMP/t.dext/Contents/_CodeSignature/"
refused "swapped signature and directory" "identifier changed: signed for com.acme.driver.other"
fresh; rm "$TMP/t.dext/Contents/_CodeSignature/CodeSignature"
refused "unsigned" "not signed: Contents/_CodeSignature/CodeSignature missing"
expect_rc "no bundle" 1 $S verify --trust "$TMP/trust" "$TMP/nonexistent.dext"
expect_grep "no bundle named" "cannot open bundle: No such file or directory"
expect_rc "unsigned bundle" 1 $S verify --trust "$TMP/trust" "$SRC"
expect_grep "unsigned named" "not signed"

expect_rc "wrong team refused" 1 $S verify --trust "$TMP/trust" --team ZZZZZ99999 "$TMP/signed.dext"
expect_grep "wrong team named" "signed by team ABCDE12345, expected team ZZZZZ99999"

# --- certificates ---------------------------------------------------------------
fresh; quiet signit expired "$TMP/t.dext"
refused "expired certificate" "certificate expired: CN = ringkit Developer: Old Dev \(ABCDE12345\).*not after"
fresh; quiet signit future "$TMP/t.dext"
refused "not-yet-valid certificate" "certificate not yet valid: CN = ringkit Developer: Future Dev"
fresh; quiet signit later "$TMP/t.dext"
refused "--not-before in the future" "certificate not yet valid: CN = ringkit Developer: Later Dev"
fresh; quiet signit stranger "$TMP/t.dext"
refused "untrusted root" "certificate untrusted: CN = ringkit Developer: Stranger \(ABCDE12345\)"
fresh; quiet signit revoked "$TMP/t.dext"
expect_rc "revoked cert valid without CRL" 0 $S verify --trust "$TMP/trust" "$TMP/t.dext"
TRUST=$TMP/trust-crl refused "revoked certificate" "certificate revoked: CN = ringkit Developer: Gone Dev"
expect_rc "json verify refused" 1 $S verify --json --trust "$TMP/trust-crl" "$TMP/t.dext"
expect_grep "json verdict revoked" '"verdict":"revoked"'
expect_grep "json problem text" '"problems":\["certificate revoked: CN = ringkit Developer: Gone Dev'

# --- entitlements ------------------------------------------------------------------
cat >"$TMP/usb.plist" <<'P'
<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
<key>com.apple.developer.driverkit</key><true/>
<key>com.apple.developer.driverkit.transport.usb</key><array><dict><key>idVendor</key><integer>1452</integer></dict></array>
</dict></plist>
P
cat >"$TMP/bad.plist" <<'P'
<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
<key>com.apple.developer.driverkit.transport.usb</key><string>all of them</string>
</dict></plist>
P
fresh
expect_rc "escalation refused at signing" 1 signit dev "$TMP/t.dext" --entitlements "$TMP/usb.plist"
expect_grep "escalation named at signing" "entitlement escalation: com.apple.developer.driverkit.transport.usb is not granted by certificate CN = ringkit Developer: Jo Dev"
expect_rc "malformed entitlements refused" 1 signit granted "$TMP/t.dext" --entitlements "$TMP/bad.plist"
expect_grep "malformed entitlement named" "com.apple.developer.driverkit.transport.usb must be an array"
expect_rc "escalation forced" 0 signit dev "$TMP/t.dext" --entitlements "$TMP/usb.plist" --allow-ungranted
refused "escalation" "bundle com.acme.driver.keyboard: key com.apple.developer.driverkit.transport.usb: entitlement escalation: com.apple.developer.driverkit.transport.usb is not granted"
expect_rc "granted entitlements sign" 0 signit granted "$TMP/t.dext" --entitlements "$TMP/usb.plist"
expect_rc "granted entitlements verify" 0 $S verify --trust "$TMP/trust" "$TMP/t.dext"
expect_rc "entitlements in info" 0 $S info --json "$TMP/t.dext"
expect_grep "entitlements listed" '"com.apple.developer.driverkit.transport.usb":\[\{"idVendor":1452\}\]'
sed -i 's/1452/1133/' "$TMP/t.dext/Contents/_CodeSignature/Entitlements.plist"
refused "changed entitlements" "entitlements changed: Contents/_CodeSignature/Entitlements.plist"

# --- nested bundles: sealed by their own signature ------------------------------------
APP=$TMP/Host.app
mkdir -p "$APP/Contents/MacOS" "$APP/Contents/Library/SystemExtensions"
cat >"$APP/Contents/Info.plist" <<'P'
<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
<key>CFBundleIdentifier</key><string>com.acme.host</string>
<key>CFBundleVersion</key><string>1.0</string>
<key>CFBundlePackageType</key><string>APPL</string>
<key>CFBundleExecutable</key><string>host</string>
</dict></plist>
P
printf '#!/bin/sh\n' >"$APP/Contents/MacOS/host"; chmod +x "$APP/Contents/MacOS/host"
make_bundle "$APP/Contents/Library/SystemExtensions/$B"
expect_rc "app with unsigned nested refused" 1 signit dev "$APP"
expect_grep "unsigned nested named" "nested bundle Contents/Library/SystemExtensions/$B is not signed: sign it first"
quiet signit dev "$APP/Contents/Library/SystemExtensions/$B"
expect_rc "sign app" 0 signit dev "$APP"
expect_rc "verify app" 0 $S verify --trust "$TMP/trust" "$APP"
expect_rc "app info" 0 $S info --json "$APP"
expect_grep "app seals the nested code directory only" '"files":3'
echo "evil" >>"$APP/Contents/Library/SystemExtensions/$B/Contents/Resources/readme.txt"
expect_rc "nested file changed refused" 1 $S verify --trust "$TMP/trust" "$APP"
expect_grep "nested file named" "bundle com.acme.driver.keyboard: file changed: Contents/Resources/readme.txt"
quiet signit dev "$APP/Contents/Library/SystemExtensions/$B"
expect_rc "nested re-signed refused in parent" 1 $S verify --trust "$TMP/trust" "$APP"
expect_grep "nested re-sign named" "file changed: Contents/Library/SystemExtensions/$B/Contents/_CodeSignature/CodeDirectory"

# --- an intermediate CA: the chain travels in the signature ---------------------------
quiet $S ca create --out "$TMP/inter" --issuer "$TMP/ca" --name "Test Intermediate"
quiet $S cert create --ca "$TMP/inter" --team ABCDE12345 --name "Chained Dev" --out "$TMP/chained"
fresh; quiet signit chained "$TMP/t.dext"
refused "intermediate missing" "certificate untrusted: CN = ringkit Developer: Chained Dev"
quiet signit chained "$TMP/t.dext" --chain "$TMP/inter/ca.pem"
expect_rc "intermediate embedded" 0 $S verify --trust "$TMP/trust" "$TMP/t.dext"
quiet $S ca crl --ca "$TMP/inter" --revoke "$TMP/chained/developer.pem" --out "$TMP/trust-crl/inter.crl.pem"
TRUST=$TMP/trust-crl refused "revoked by the intermediate's CRL" "certificate revoked: CN = ringkit Developer: Chained Dev"

# --- usage -----------------------------------------------------------------------------------
expect_rc "help" 0 $S --help
expect_grep "help lists verify" "verify --trust DIR"
expect_rc "verify --help" 0 $S verify --help
expect_rc "usage error" 2 $S verify "$TMP/signed.dext"
expect_rc "unknown command" 2 $S frobnicate
expect_rc "bad team id" 2 $S cert create --ca "$TMP/ca" --team "ab, CN=x" --name N --out "$TMP/bad"
expect_grep "bad team id named" "a Team ID is 1 to 32 upper-case letters and digits"
finish
