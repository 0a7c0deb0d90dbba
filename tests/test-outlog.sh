#!/bin/bash
# SPDX-License-Identifier: MIT
# Output logs (src/ringd/outlog.c, docs/system-extensions.md "Its output"):
# what the processes ringd launches write to their standard output and
# error.  A real ringd in a private root runs signed system extensions
# (/bin/sh running a script from $TMP) and signed dexts (tests/dexts/test-dext
# with RKTestPrint); `ringctl log BUNDLE` shows their lines, in order, with
# their tags, also after a crash; ringd's log has them as "TAG: line"; a
# long line is split, control bytes and invalid UTF-8 are sanitized and the
# JSON parses; -n N gives the last N; more lines than one reply holds are
# fetched in pieces; a flood of 5000 lines leaves ringd answering, keeps the
# last 256, and ringd's log says how many lines it did not log; a ringd
# restarted with --no-sandbox starts with nothing kept, and its unconfined
# extensions' output arrives the same way.  `ringctl log -f` follows a
# bundle (started before it prints, or midway with -n): every line once,
# in order, text or JSON lines, and ends when ringd stops.
. "$RK_TEST_SRCDIR/tests/cli-lib.sh"
private_root
: "${RINGD:?}" "${RINGKIT_SIGN:?}" "${TEST_DEXT:?}" "${RINGKIT_BUILTIN:?}"
chmod 0755 "$TMP"
mkdir -p "$APPS" "$TRUST" "$EXT"

signing_setup TEAMLOG123 "Log Dev" 'com.apple.developer.driverkit.transport.*'
write_entitlements "$TMP/dext.entitlements" com.apple.developer.driverkit org.ringkit.developer.virtual-devices

# sysext NAME ID SCRIPT-BODY: an app carrying a system extension that runs
# /bin/sh on $TMP/NAME.sh (readable in the sandbox: --sandbox-rw $TMP), then activated and approved
sysext() {
        printf '%s\n' "$3" >"$TMP/$1.sh"
        chmod 644 "$TMP/$1.sh"
        make_app_with "$1" "$2" /bin/sh sh "" \
                "<key>NSSystemExtensionUsageDescription</key><string>log test</string>
<key>RKArguments</key><array><string>$TMP/$1.sh</string></array>"
        quiet ringctl activate "$APPS/$1.app" "$2"
        quiet ringctl approve "$2"
}
# dext ID PROVIDERCLASS EXTRA-XML: a signed dext bundle running test-dext
dext() {
        make_bundle "$EXT/$1.dext" "$1" DEXT "$TEST_DEXT" test-dext "<key>IOKitPersonalities</key><dict>
<key>Main</key><dict><key>IOClass</key><string>IOUserService</string>
<key>IOUserClass</key><string>RKTestDriver</string>
<key>IOProviderClass</key><string>$2</string>$3</dict>
</dict>"
        sign_bundle dev "$TMP/dext.entitlements" "$EXT/$1.dext"
}
# logj BUNDLE [ARGS...]: `ringctl log --json` into $TMP/out (for jcheck)
logj() { local b=$1; shift; ringctl log --json "$@" "$b" >"$TMP/out" 2>&1; }
total_is() { logj "$1" && "$PY" -c "import json,sys; sys.exit(json.load(open('$TMP/out'))['total'] != $2)"; }
total_ge() { logj "$1" && "$PY" -c "import json,sys; sys.exit(json.load(open('$TMP/out'))['total'] < $2)"; }
log_has() { grep -qF -- "$1" "$TMP/ringd.log"; }

dext com.test.log.printer RKLogPrintDevice "<key>RKTestPrint</key><string>hello from a dext</string>"
dext com.test.log.crasher RKLogCrashDevice \
        "<key>RKTestPrint</key><string>last words</string><key>RKTestCrashAfter</key><integer>100</integer>"

if ringd_start --builtin "$RINGKIT_BUILTIN" --no-linux --sandbox-rw "$TMP" -v; then ok ringd-starts; else
        fail ringd-starts "$(tail -20 "$TMP/ringd.log")"; finish; exit 1; fi

# --- a system extension's stdout and stderr, in order, with its tag ---
SXTAG="com.test.log.sx (system extension 1.0)"
sysext Printer com.test.log.sx 'echo "out 1"
echo "err 1" >&2
echo "out 2"
printf "%02000d\n" 0
printf "ctl\001\033[1mbold\ttab\r\n"
printf "bad \377\376 utf8 \303\251 ok \302\205 c1\n"
printf "no newline at the end"
exec sleep 1000'
if wait_for 10 sx_is com.test.log.sx running && wait_for 10 total_ge com.test.log.sx 7; then ok sx-lines-kept; else
        fail sx-lines-kept "$(cat "$TMP/out"; ringctl list; tail -5 "$TMP/ringd.log")"; fi
logj com.test.log.sx
jcheck sx-json-ordered "[l['text'] for l in j['lines']][:3] == ['out 1', 'err 1', 'out 2']"
jcheck sx-json-tagged "all(l['tag'] == '$SXTAG' for l in j['lines']) and j['bundle'] == 'com.test.log.sx'"
jcheck sx-json-times "all(abs(l['time_usec'] / 1e6 - __import__('time').time()) < 3600 for l in j['lines'])"
jcheck long-line-split "[l['text'] for l in j['lines']][3:5] == ['0' * 1024, '0' * 976]"
jcheck control-bytes-sanitized "j['lines'][5]['text'] == 'ctl??[1mbold\ttab'"
jcheck invalid-utf8-sanitized "j['lines'][6]['text'] == 'bad ?? utf8 \u00e9 ok ? c1'"
jcheck partial-line-waits "j['total'] == 7"
# the JSON is valid UTF-8 end to end (json.load above read it as text; this reads the bytes strictly)
"$PY" -c "import json,sys; json.loads(open('$TMP/out','rb').read().decode('utf-8','strict'))" && ok json-strict-utf8 ||
        fail json-strict-utf8 "$(head -c 600 "$TMP/out" | od -c | head)"
log_has "$SXTAG: out 1" && log_has "$SXTAG: err 1" && ok sx-in-ringd-log ||
        fail sx-in-ringd-log "$(grep -F 'com.test.log.sx' "$TMP/ringd.log" | tail -5)"
ringctl log com.test.log.sx >"$TMP/out" 2>&1
expect_grep text-format "^[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3} com\.test\.log\.sx \(system extension 1\.0\): out 1$"
logj com.test.log.sx -n 2
jcheck last-two "[l['text'] for l in j['lines']] == ['ctl??[1mbold\ttab', 'bad ?? utf8 \u00e9 ok ? c1'] and j['total'] == 7"
ringctl log -n 2 com.test.log.sx >"$TMP/out" 2>&1
[ "$(wc -l <"$TMP/out")" = 2 ] && ok last-two-text || fail last-two-text "$(cat "$TMP/out")"

# --- deactivated: the pipe closes, the partial last line is a line, and the lines stay ---
SXPID=$(sx_field com.test.log.sx pid)
quiet ringctl deactivate com.test.log.sx
if wait_for 10 gone "$SXPID" && wait_for 10 total_is com.test.log.sx 8; then ok partial-line-at-eof; else
        fail partial-line-at-eof "$(cat "$TMP/out")"; fi
jcheck partial-line-text "j['lines'][-1]['text'] == 'no newline at the end'"

# --- an extension that crashes after printing: its lines are there after the crash ---
sysext Crashy com.test.log.crashy 'echo "about to crash"
echo "on stderr before the crash" >&2
kill -SEGV $$'
if wait_for 20 sx_is com.test.log.crashy failed; then ok crashy-crash-loop; else fail crashy-crash-loop "$(ringctl list)"; fi
if wait_for 10 total_is com.test.log.crashy 10; then ok crashy-lines-after-crash; else fail crashy-lines-after-crash "$(cat "$TMP/out")"; fi
jcheck crashy-lines-text "[l['text'] for l in j['lines']][-2:] == ['about to crash', 'on stderr before the crash']"

# --- a dext: its tag is the instance's, also after it crashed ---
ringctl virt add --class RKLogPrintDevice --property IOName=logprint0 >/dev/null
if wait_for 10 total_is com.test.log.printer 3; then ok dext-lines-kept; else
        fail dext-lines-kept "$(cat "$TMP/out"; grep log.printer "$TMP/ringd.log" | tail -5)"; fi
# printed lines (the pipe) in their order; the SDK's log message (the channel) may come before or between them
jcheck dext-json "[l['text'] for l in j['lines'] if not l['text'].startswith('log: ')] == ['out: hello from a dext', 'err: hello from a dext'] and all(__import__('re').fullmatch(r'com\.test\.log\.printer#[0-9]+', l['tag']) for l in j['lines'])"
jcheck dext-sdk-log-kept "[l['text'] for l in j['lines'] if l['text'].startswith('log: ')] == ['log: hello from a dext']"
DTAG=$("$PY" -c "import json; print(json.load(open('$TMP/out'))['lines'][0]['tag'])" 2>/dev/null)
log_has "$DTAG: out: hello from a dext" && log_has "$DTAG: err: hello from a dext" && ok dext-in-ringd-log ||
        fail dext-in-ringd-log "$(grep -F 'com.test.log.printer' "$TMP/ringd.log" | tail -5)"
ringctl virt add --class RKLogCrashDevice --property IOName=logcrash0 >/dev/null
if wait_for 20 sh -c "\"$RINGCTL\" --root \"$ROOT\" list | grep -q FAILED"; then ok dext-crash-loop; else fail dext-crash-loop "$(ringctl list)"; fi
logj com.test.log.crasher
# (a sanitizer build's dext may add its own lines after ours: only ours are compared)
jcheck dext-lines-after-crash "[l['text'] for l in j['lines'] if l['text'] in ('out: last words', 'err: last words')][-2:] == ['out: last words', 'err: last words'] and 'log: last words' in [l['text'] for l in j['lines']] and len({l['tag'] for l in j['lines']}) > 1"

# --- errors ---
expect_rc unknown-bundle-fails 1 ringctl log com.test.log.nothing
expect_grep unknown-bundle-why 'nothing recorded for com\.test\.log\.nothing'
expect_rc usage-no-bundle 2 ringctl log
expect_rc usage-bad-n 2 ringctl log -n many com.test.log.sx
printf '<?xml version="1.0" encoding="UTF-8"?>\n<plist version="1.0"><dict><key>command</key><string>log</string></dict></plist>\n' >"$TMP/req.plist"
expect_rc missing-key-refused 1 ringctl request "$TMP/req.plist"
jcheck missing-key-named "j['ok'] == False and j['errno'] == 22 and 'bundle' in j['error']"
# administrative, like the other commands that are not an app's: another user is refused
expect_rc other-user-refused 1 setpriv --reuid=65534 --regid=65534 --clear-groups "$RINGCTL" --root "$ROOT" log com.test.log.printer
expect_grep other-user-why 'administrative command: root only'

# --- more lines than one reply holds: fetched in pieces, oldest first ---
sysext Big com.test.log.big 'i=0
while [ $i -lt 300 ]; do printf "big %03d %01000d\n" $i 0; i=$((i + 1)); done
exec sleep 1000'
if wait_for 20 total_is com.test.log.big 300; then ok big-lines-kept; else fail big-lines-kept "$(head -c 300 "$TMP/out")"; fi
jcheck big-last-256 "[l['text'][:7] for l in j['lines']] == ['big %03d' % k for k in range(44, 300)]"
logj com.test.log.big -n 100
jcheck big-last-100 "[l['text'][:7] for l in j['lines']] == ['big %03d' % k for k in range(200, 300)]"

# --- a flood: ringd answers, keeps the last 256, and says what it did not log ---
sysext Flood com.test.log.flood 'i=0
while [ $i -lt 5000 ]; do echo "flood $i"; i=$((i + 1)); done
exec sleep 1000'
expect_rc flood-ringd-answers 0 ringctl status
if wait_for 60 total_is com.test.log.flood 5000; then ok flood-all-counted; else fail flood-all-counted "$(head -c 300 "$TMP/out")"; fi
jcheck flood-last-256 "[l['text'] for l in j['lines']] == ['flood %d' % k for k in range(4744, 5000)]"
if wait_for 10 grep -qE "com\.test\.log\.flood \(system extension 1\.0\): [0-9]+ lines not logged \(over 100 a second\); ringctl log com\.test\.log\.flood" "$TMP/ringd.log"
then ok flood-summary-logged; else fail flood-summary-logged "$(grep -F 'com.test.log.flood' "$TMP/ringd.log" | tail -3)"; fi
logged=$(grep -cF "com.test.log.flood (system extension 1.0): flood " "$TMP/ringd.log")
notlogged=$(grep -oE "com\.test\.log\.flood \(system extension 1\.0\): [0-9]+ lines not logged" "$TMP/ringd.log" | awk '{s += $5} END {print s + 0}')
[ $((logged + notlogged)) = 5000 ] && [ "$logged" -lt 5000 ] && ok flood-counts-add-up ||
        fail flood-counts-add-up "logged $logged + not logged $notlogged != 5000"
expect_rc flood-ringd-still-answers 0 ringctl status

# --- ringctl log -f: the kept lines, then each new one as it comes, each once; it may start before the bundle prints ---
"$RINGCTL" --root "$ROOT" log -f com.test.log.ticker >"$TMP/follow.out" 2>"$TMP/follow.err" &
FOL=$!
"$RINGCTL" --root "$ROOT" log --follow --json com.test.log.ticker >"$TMP/followj.out" 2>&1 &
FOLJ=$!
PIDS+=("$FOL" "$FOLJ")
sysext Ticker com.test.log.ticker 'i=1
while [ $i -le 30 ]; do echo "tick $i"; i=$((i + 1)); sleep 0.1; done
exec sleep 1000'
ticks() { [ "$(grep -c "^[0-9:.]* com\.test\.log\.ticker (system extension 1\.0): tick " "$1")" -ge "$2" ]; }
tick_numbers() { grep -o "tick [0-9]*" "$1" | awk '{print $2}' | paste -sd' '; }
# a third follower joins in the middle: the last 3 kept lines, then the new ones
if wait_for 20 ticks "$TMP/follow.out" 8; then ok follow-gets-lines; else
        fail follow-gets-lines "$(cat "$TMP/follow.out" "$TMP/follow.err"; ringctl list)"; fi
"$RINGCTL" --root "$ROOT" log -f -n 3 com.test.log.ticker >"$TMP/follow3.out" 2>&1 &
FOL3=$!
PIDS+=("$FOL3")
if wait_for 20 ticks "$TMP/follow.out" 30 && wait_for 10 ticks "$TMP/follow3.out" 3 &&
        wait_for 10 grep -q "tick 30$" "$TMP/follow3.out"; then ok follow-to-the-end; else
        fail follow-to-the-end "$(tail -3 "$TMP/follow.out"; tail -3 "$TMP/follow3.out")"; fi
[ "$(tick_numbers "$TMP/follow.out")" = "$(seq -s' ' 1 30)" ] && ok follow-each-once-in-order ||
        fail follow-each-once-in-order "$(tick_numbers "$TMP/follow.out")"
"$PY" - "$TMP/follow3.out" <<'PYEOF' && ok follow-midway-contiguous || fail follow-midway-contiguous "$(tick_numbers "$TMP/follow3.out")"
import re, sys
n = [int(m) for m in re.findall(r'tick (\d+)$', open(sys.argv[1]).read(), re.M)]
sys.exit(not (len(n) >= 3 and n == list(range(n[0], 31)) and n[0] > 1))
PYEOF
"$PY" - "$TMP/followj.out" <<'PYEOF' && ok follow-json-lines || fail follow-json-lines "$(head -3 "$TMP/followj.out")"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ticks = [r for r in rows if r['text'].startswith('tick ')]
sys.exit(not (ticks and [r['text'] for r in ticks] == ['tick %d' % k for k in range(1, 31)]
              and [r['n'] for r in ticks] == list(range(ticks[0]['n'], ticks[0]['n'] + 30))
              and all(r['tag'] == 'com.test.log.ticker (system extension 1.0)' for r in ticks)))
PYEOF
kill "$FOL" "$FOLJ" "$FOL3" 2>/dev/null
wait "$FOL" "$FOLJ" "$FOL3" 2>/dev/null
expect_rc followers-gone-ringd-answers 0 ringctl log -n 1 com.test.log.ticker
expect_rc follow-usage 2 ringctl log -f
# ringd stopping ends a follow with status 0
"$RINGCTL" --root "$ROOT" log -f com.test.log.ticker >"$TMP/follow4.out" 2>&1 &
FOL4=$!
PIDS+=("$FOL4")
wait_for 10 ticks "$TMP/follow4.out" 1

# --- shutdown: ringd exits 0 (what is still in the pipes is read, and freed: no leak in ASan builds) ---
if ringd_shutdown; then ok shutdown; else fail shutdown "nonzero exit"; fi
if wait_for 10 gone "$FOL4" && wait "$FOL4"; then ok follow-ends-with-ringd; else
        fail follow-ends-with-ringd "$(cat "$TMP/follow4.out")"; fi
grep -q "ringctl log: ringd stopped" "$TMP/follow4.out" && ok follow-says-ringd-stopped ||
        fail follow-says-ringd-stopped "$(cat "$TMP/follow4.out")"

# --- a new ringd, --no-sandbox: the kept lines went with the old one; unconfined processes get their pipe too ---
if ringd_start --builtin "$RINGKIT_BUILTIN" --no-linux --no-sandbox --sandbox-rw "$TMP" -v &&
        wait_for 10 sx_is com.test.log.flood running; then ok unconfined-runs; else
        fail unconfined-runs "$(ringctl list; tail -5 "$TMP/ringd.log")"; fi
expect_rc kept-lines-gone-with-ringd 1 ringctl log com.test.log.sx
if wait_for 60 total_is com.test.log.flood 5000; then ok unconfined-lines-kept; else fail unconfined-lines-kept "$(head -c 300 "$TMP/out")"; fi
jcheck unconfined-last-256 "[l['text'] for l in j['lines']] == ['flood %d' % k for k in range(4744, 5000)]"
if ringd_shutdown; then ok unconfined-shutdown; else fail unconfined-shutdown "nonzero exit"; fi
expect_no_sanitizer_report sanitizers-clean
finish
