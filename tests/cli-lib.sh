# SPDX-License-Identifier: MIT
# Helpers for command-line tests: source this, call check/check_output, end with finish.
# $RINGCTL is the built ringctl; $RK_TEST_SRCDIR the source tree.
: "${RINGCTL:?RINGCTL not set}"
: "${RK_TEST_SRCDIR:=.}"
_passed=0
_failed=0
TMP=$(mktemp -d)
trap cleanup_test EXIT
# the system interpreter when there is one: a version-manager shim costs a second per call
PY=$(command -v /usr/bin/python3 || command -v python3)

# ok NAME  /  fail NAME MESSAGE
ok() { echo "ok   $1"; _passed=$((_passed + 1)); }
fail() { echo "FAIL $1: $2" >&2; echo "FAIL $1"; _failed=$((_failed + 1)); }

# expect_rc NAME WANT_RC CMD...   (stdout+stderr into $TMP/out)
expect_rc() {
        local name=$1 want=$2
        shift 2
        "$@" >"$TMP/out" 2>&1
        local rc=$?
        if [ "$rc" -eq "$want" ]; then ok "$name"; else fail "$name" "exit $rc, wanted $want; output: $(head -c 2000 "$TMP/out")"; fi
}

# expect_grep NAME PATTERN  (in $TMP/out, extended regex)
expect_grep() {
        if grep -Eq -- "$2" "$TMP/out"; then ok "$1"; else fail "$1" "no /$2/ in: $(head -c 2000 "$TMP/out")"; fi
}
expect_no_grep() {
        if grep -Eq -- "$2" "$TMP/out"; then fail "$1" "unexpected /$2/ in: $(head -c 2000 "$TMP/out")"; else ok "$1"; fi
}

# wait_for SECONDS COMMAND...: poll every 0.1 s until the command succeeds
wait_for() {
        local limit=$(($1 * 10)) n=0
        shift
        while ! "$@" >/dev/null 2>&1; do
                n=$((n + 1))
                [ $n -ge $limit ] && return 1
                sleep 0.1
        done
}

# quiet CMD...: a set-up step; its output only when it fails, which ends the test
quiet() { "$@" >"$TMP/setup.log" 2>&1 || { echo "setup failed: $*"; cat "$TMP/setup.log"; exit 1; }; }

# jcheck NAME PYTHON-EXPR: evaluate against the JSON in $TMP/out as j (os and sys imported)
jcheck() {
        if "$PY" -c "import json,os,sys; j=json.load(open('$TMP/out')); sys.exit(0 if ($2) else 1)" 2>/dev/null; then
                ok "$1"
        else
                fail "$1" "not ($2): $(head -c 3000 "$TMP/out")"
        fi
}

# ---- cleanup at exit ----
# PIDS: background processes to kill; RINGD_PID: ringd, killed and waited for;
# at_exit CMD...: run before $TMP is removed (unmount, delete namespaces...)
PIDS=()
RINGD_PID=
_at_exit=()
at_exit() { _at_exit+=("$(printf '%q ' "$@")"); }
cleanup_test() {
        local p c
        for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
        [ -n "$RINGD_PID" ] && kill "$RINGD_PID" 2>/dev/null && wait "$RINGD_PID" 2>/dev/null
        for c in "${_at_exit[@]}"; do eval "$c" 2>/dev/null; done
        rm -rf "$TMP"
}

# ---- a private root, signing identities, bundles (tests that start ringd) ----
# private_root: ROOT, ringd's root under $TMP; APPS its application
# directory, EXT its extensions directory, TRUST its trust store (the test
# makes the ones it uses).  $RINGKIT_SIGN signs.
private_root() {
        ROOT=$TMP/root
        APPS=$ROOT/Applications
        EXT=$ROOT/extensions
        TRUST=$ROOT/etc/ringkit/trust
}

# write_grants FILE ENTITLEMENT...: a certificate's allowed entitlements (an array plist)
write_grants() {
        local f=$1 e
        shift
        { echo '<?xml version="1.0" encoding="UTF-8"?>'; printf '<plist version="1.0"><array>'
          for e in "$@"; do printf '<string>%s</string>' "$e"; done; echo '</array></plist>'; } >"$f"
}
# write_entitlements FILE KEY[=VALUE-XML]...: an entitlements plist, each KEY true or VALUE-XML
write_entitlements() {
        local f=$1 e
        shift
        { echo '<?xml version="1.0" encoding="UTF-8"?>'; printf '<plist version="1.0"><dict>'
          for e in "$@"; do
                  case $e in
                  *=*) printf '<key>%s</key>%s' "${e%%=*}" "${e#*=}" ;;
                  *) printf '<key>%s</key><true/>' "$e" ;;
                  esac
          done; echo '</dict></plist>'; } >"$f"
}
# signing_setup TEAM NAME [GRANT...]: root CA $TMP/ca ("Test Root", installed as
# $TRUST/root.pem) and developer certificate $TMP/dev for TEAM, allowed GRANTs
# ($TMP/grants.plist) when given; $TMP/app.entitlements lets an app install
# system extensions
signing_setup() {
        local team=$1 name=$2
        shift 2
        mkdir -p "$TRUST"
        quiet "$RINGKIT_SIGN" ca create --out "$TMP/ca" --name "Test Root"
        if [ $# -gt 0 ]; then
                write_grants "$TMP/grants.plist" "$@"
                quiet "$RINGKIT_SIGN" cert create --ca "$TMP/ca" --team "$team" --name "$name" --out "$TMP/dev" \
                        --entitlements-allowed "$TMP/grants.plist"
        else
                quiet "$RINGKIT_SIGN" cert create --ca "$TMP/ca" --team "$team" --name "$name" --out "$TMP/dev"
        fi
        cp "$TMP/ca/ca.pem" "$TRUST/root.pem"
        write_entitlements "$TMP/app.entitlements" com.apple.developer.system-extension.install
}
# sign_bundle CERT ENTITLEMENTS DIR: sign DIR with the developer identity $TMP/CERT (ENTITLEMENTS empty: none)
sign_bundle() {
        quiet "$RINGKIT_SIGN" sign --key "$TMP/$1/developer.key" --cert "$TMP/$1/developer.pem" ${2:+--entitlements "$2"} "$3"
}
# make_bundle DIR ID TYPE EXECUTABLE-FILE EXECUTABLE-NAME [INFO-XML]: a bundle
# DIR (replaced) whose Contents/MacOS/EXECUTABLE-NAME is a copy of
# EXECUTABLE-FILE, Info.plist: ID, version $BUNDLE_VERSION (1.0), package TYPE,
# the executable, INFO-XML
make_bundle() {
        local dir=$1
        rm -rf "$dir"
        mkdir -p "$dir/Contents/MacOS"
        cp "$4" "$dir/Contents/MacOS/$5"
        cat >"$dir/Contents/Info.plist" <<PL
<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
<key>CFBundleIdentifier</key><string>$2</string>
<key>CFBundleVersion</key><string>${BUNDLE_VERSION:-1.0}</string>
<key>CFBundlePackageType</key><string>$3</string>
<key>CFBundleExecutable</key><string>$5</string>
$6
</dict></plist>
PL
}
# make_app_with NAME ID EXECUTABLE-FILE EXECUTABLE-NAME ENTITLEMENTS [INFO-XML]:
# the app $APP_DIR/NAME.app ($APPS) carrying one extension ID: a system
# extension, or with EXT_KIND=dext a driver extension, made by make_bundle (its
# version $BUNDLE_VERSION, 1.0, also its short version) and signed with
# ENTITLEMENTS.  The app's version is $APP_VERSION (1.0).  Both are signed
# by $TMP/dev; EXT_CERT and APP_CERT name another identity under $TMP, or
# none (unsigned); APP_ENTITLEMENTS (default $TMP/app.entitlements) empty: none.
make_app_with() {
        local name=$1 id=$2 exe=$3 exe_name=$4 ent=$5 info=$6
        local app=${APP_DIR:-$APPS}/$name.app ver=${BUNDLE_VERSION:-1.0} suffix=systemextension type=SYSX
        local aent=${APP_ENTITLEMENTS-$TMP/app.entitlements}
        [ "${EXT_KIND:-}" = dext ] && suffix=dext type=DEXT
        rm -rf "$app"
        mkdir -p "$app/Contents/MacOS"
        printf '#!/bin/sh\nexit 0\n' >"$app/Contents/MacOS/$name"
        chmod +x "$app/Contents/MacOS/$name"
        cat >"$app/Contents/Info.plist" <<PL
<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
<key>CFBundleIdentifier</key><string>com.test.app.$name</string>
<key>CFBundleVersion</key><string>${APP_VERSION:-1.0}</string>
<key>CFBundlePackageType</key><string>APPL</string>
<key>CFBundleExecutable</key><string>$name</string>
</dict></plist>
PL
        make_bundle "$app/Contents/Library/SystemExtensions/$id.$suffix" "$id" "$type" "$exe" "$exe_name" \
                "<key>CFBundleShortVersionString</key><string>$ver</string>
$info"
        [ "${EXT_CERT:-dev}" != none ] && sign_bundle "${EXT_CERT:-dev}" "$ent" "$app/Contents/Library/SystemExtensions/$id.$suffix"
        [ "${APP_CERT:-dev}" != none ] && sign_bundle "${APP_CERT:-dev}" "$aent" "$app"
        return 0
}

# ---- ringd ----
ringctl() { "$RINGCTL" --root "$ROOT" "$@"; }
# ringd_start ARGS...: $RINGD --root $ROOT ARGS... in the background (run
# through the command in the array RINGD_WRAP when set; it must exec ringd),
# stderr appended to $TMP/ringd.log, RINGD_PID; 0 once ringctl gets an answer
ringd_start() {
        "${RINGD_WRAP[@]}" "$RINGD" --root "$ROOT" "$@" 2>>"$TMP/ringd.log" &
        RINGD_PID=$!
        wait_for 20 ringctl status
}
# ringd_shutdown: `ringctl shutdown`, wait for ringd; returns its exit status
ringd_shutdown() {
        local rc
        ringctl shutdown >/dev/null 2>&1
        wait "$RINGD_PID"
        rc=$?
        RINGD_PID=
        return $rc
}
# status_json: `ringctl status --json` into $TMP/out (for jcheck)
status_json() { ringctl status --json >"$TMP/out" 2>&1; }
# sx_field ID FIELD: a field of the supervised system extension ID in `ringctl list --json`
sx_field() {
        ringctl list --json | "$PY" -c "
import json,sys; j=json.load(sys.stdin)
v=[e['$2'] for e in j.get('system_extensions', []) if e['bundle']=='$1' and e['state'] != 'stopping']
print(v[0] if v else '')"
}
sx_is() { [ "$(sx_field "$1" state)" = "$2" ]; }
gone() { ! kill -0 "$1" 2>/dev/null; }
# run_fs PROGRAM: run it, output and exit code into $TMP/run
run_fs() { "$@" >"$TMP/run" 2>&1; echo "rc=$?" >>"$TMP/run"; }
# expect_no_sanitizer_report NAME: no ASan/LSan/UBSan report in $TMP/ringd.log
# (LeakSanitizer cannot run inside the sandbox -- no ptrace, no /proc -- and
# says so at exit: not a report)
expect_no_sanitizer_report() {
        if grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error" "$TMP/ringd.log"; then
                fail "$1" "$(grep -E -A5 "ERROR: (Address|Leak)Sanitizer|runtime error" "$TMP/ringd.log" | head -30)"
        else
                ok "$1"
        fi
}

finish() {
        echo "$_passed passed, $_failed failed"
        [ "$_failed" -eq 0 ]
}
