#!/bin/bash
# SPDX-License-Identifier: MIT
# Crash consistency of activation (docs/activation.md, "Crash consistency"):
# ringd is killed with SIGKILL at $KILLS points (default 200) while a
# client runs random activations, approvals, replacements (accepted,
# refused, forced downgrades), denials and deactivations of two extensions
# with drivers running on virtual devices.  Half the kills come at a random
# moment (kill -9 after a random delay); the other half from inside ringd at
# a random crash point (RINGD_ACTIVATION_CRASH_AT=N: copying, stored,
# requested, accepted, rescanned, finished, removing from the store, also
# during the reconciliation at start).  After every restart:
#   - ringd's database check at start found nothing (no errors logged);
#   - `ringctl list --json` shows no half-done transition (no replaced or
#     terminating row, no pending replacement) and at most one active
#     version per identifier;
#   - every row the client last saw is still there with its team, version
#     and store path, its state moved only forward, and at most one row is
#     new (the request in flight);
#   - the store holds exactly the copies of the active rows (each complete,
#     with its Info.plist and executable) and nothing under .tmp;
#   - the catalogue holds exactly the enabled extensions (status: bundles).
# The kills are shared among $LANES independent ringds (default 2), each in
# its own root, to keep the run short under sanitizers.  KILLS=20 for a
# quick run.
. "$RK_TEST_SRCDIR/tests/cli-lib.sh"
# the system interpreter when there is one: a version-manager shim costs a second per call
PY=$(command -v /usr/bin/python3 || command -v python3)
: "${RINGD:?}" "${TEST_DEXT:?}" "${RINGKIT_SIGN:?}" "${RINGKIT_BUILTIN:?}"
KILLS=${KILLS:-200}
LANES=${LANES:-2}
S=$RINGKIT_SIGN
APPS=$TMP/template/Applications
TRUST=$TMP/template/etc/ringkit/trust
mkdir -p "$APPS" "$TRUST"
quiet() { "$@" >"$TMP/setup.log" 2>&1 || { echo "setup failed: $*"; cat "$TMP/setup.log"; exit 1; }; }

quiet $S ca create --out "$TMP/ca" --name "Kill Root"
quiet $S cert create --ca "$TMP/ca" --team KILLTEAM01 --name "Kill Dev" --out "$TMP/dev"
cp "$TMP/ca/ca.pem" "$TRUST/root.pem"
printf '<plist version="1.0"><dict><key>com.apple.developer.driverkit</key><true/><key>org.ringkit.developer.virtual-devices</key><true/></dict></plist>\n' >"$TMP/dext.ent"
printf '<plist version="1.0"><dict><key>com.apple.developer.system-extension.install</key><true/></dict></plist>\n' >"$TMP/app.ent"

# make_app ID N: APPS/ID-N.app carrying ID version N.0, matching RKKillDevice in its own category
make_app() {
        local id=$1 n=$2 app=$APPS/$1-$2.app
        local ext=$app/Contents/Library/SystemExtensions/$id.dext
        mkdir -p "$app/Contents/MacOS" "$ext/Contents/MacOS"
        printf '#!/bin/sh\n' >"$app/Contents/MacOS/app"
        chmod +x "$app/Contents/MacOS/app"
        printf '<plist version="1.0"><dict><key>CFBundleIdentifier</key><string>com.test.killapp%s</string><key>CFBundleVersion</key><string>1</string><key>CFBundlePackageType</key><string>APPL</string><key>CFBundleExecutable</key><string>app</string></dict></plist>\n' "$n" >"$app/Contents/Info.plist"
        cp "$TEST_DEXT" "$ext/Contents/MacOS/test-dext"
        printf '<plist version="1.0"><dict><key>CFBundleIdentifier</key><string>%s</string><key>CFBundleVersion</key><string>%s.0</string><key>CFBundlePackageType</key><string>DEXT</string><key>CFBundleExecutable</key><string>test-dext</string><key>IOKitPersonalities</key><dict><key>Main</key><dict><key>IOClass</key><string>IOUserService</string><key>IOUserClass</key><string>RKTestDriver</string><key>IOProviderClass</key><string>RKKillDevice</string><key>IOMatchCategory</key><string>%s</string></dict></dict></dict></plist>\n' "$id" "$n" "$id" >"$ext/Contents/Info.plist"
        quiet $S sign --key "$TMP/dev/developer.key" --cert "$TMP/dev/developer.pem" --entitlements "$TMP/dext.ent" "$ext"
        quiet $S sign --key "$TMP/dev/developer.key" --cert "$TMP/dev/developer.pem" --entitlements "$TMP/app.ent" "$app"
}
for n in 1 2 3 4; do
        make_app com.test.kill "$n"
        make_app com.test.kill2 "$n"
done

# ringctl's own leaks are checked elsewhere; here its sanitizer exit check only costs time
rc() { ASAN_OPTIONS=detect_leaks=0 "$RINGCTL" --root "$ROOT" "$@"; }

# The client: random requests until ringd is gone; after each, what it saw.
client() {
        local pid=$1 id v args
        while kill -0 "$pid" 2>/dev/null; do
                id=com.test.kill
                [ $((RANDOM % 3)) -eq 0 ] && id=com.test.kill2
                v=$((RANDOM % 4 + 1))
                case $((RANDOM % 12)) in
                0 | 1 | 2 | 3) args=(activate "$ROOT/Applications/$id-$v.app" "$id") ;;
                4) args=(activate --replace refuse "$ROOT/Applications/$id-$v.app" "$id") ;;
                5) args=(activate --force "$ROOT/Applications/$id-$v.app" "$id") ;;
                6 | 7 | 8) args=(approve "$id") ;;
                9) args=(deny "$id") ;;
                *) args=(deactivate "$ROOT/Applications/$id-$v.app" "$id") ;;
                esac
                rc "${args[@]}" >>"$T/client.log" 2>&1 || true
                rc list --json >"$T/seen.tmp" 2>/dev/null && mv "$T/seen.tmp" "$T/seen.json"
        done
}

RINGD_PID=
start_ringd() { # start_ringd [CRASH_AT]: 0 when it answers, 1 when it died first
        echo "=== start ${1:+(crash at $1)}" >>"$T/ringd.log"
        rm -f "$ROOT/run/ringd.sock" # a killed ringd leaves it
        RINGD_ACTIVATION_CRASH_AT=${1:-} "$RINGD" --root "$ROOT" --builtin "$RINGKIT_BUILTIN" --no-linux \
                --step-timeout 3000 2>>"$T/ringd.log" &
        RINGD_PID=$!
        local n=0
        while [ ! -S "$ROOT/run/ringd.sock" ] || ! rc status >/dev/null 2>&1; do
                kill -0 "$RINGD_PID" 2>/dev/null || return 1
                n=$((n + 1))
                [ $n -ge 300 ] && return 1
                sleep 0.05
        done
}

# check N: the state after a restart (see the header)
check() {
        echo '{}' >"$T/status.json"
        # the catalogue (status) at every fourth restart: each ringctl call costs ~0.1 s under sanitizers
        rc list --json >"$T/list.json" 2>"$T/check.err" &&
                { [ "$1" != final ] && [ $(($1 % 4)) -ne 0 ] || rc status --json >"$T/status.json" 2>>"$T/check.err"; } ||
                { fail "lane$L-restart-$1" "ringctl: $(cat "$T/check.err")"; return; }
        # database problems logged at this start (rk_extdb_check, reconciliation errors)
        sed -n '/^=== start/h; /^=== start/!H; ${x;p}' "$T/ringd.log" >"$T/last-start.log"
        "$PY" - "$T/list.json" "$T/status.json" "$T/seen.json" "$STORE" "$T/last-start.log" >"$T/check.out" 2>&1 <<'PY'
import json, os, sys
lst, status = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
seen = json.load(open(sys.argv[3]))['extensions'] if os.path.exists(sys.argv[3]) else []
store, log = sys.argv[4], open(sys.argv[5]).read()
rows, bad = lst['extensions'], []
ACTIVE = ('activated_waiting_for_user', 'activated_enabled')
for line in log.splitlines():
    if 'extensions.db:' in line or 'activation database unavailable' in line or 'activation: cannot' in line:
        bad.append('log: ' + line)
if status.get('extension_db') == 'unavailable':
    bad.append('database unavailable')
for e in rows:
    if e['state_id'] not in ACTIVE + ('uninstalled',):
        bad.append('half-done: row %d %s %s is %s' % (e['row'], e['identifier'], e['version'], e['state']))
    if 'pending' in e:
        bad.append('pending replacement left for %s' % e['identifier'])
for ident in set(e['identifier'] for e in rows):
    if sum(1 for e in rows if e['identifier'] == ident and e['state_id'] in ACTIVE) > 1:
        bad.append('two active versions of ' + ident)
# what the client last saw survives, and only moves forward
now = {e['row']: e for e in rows}
forward = {'activated_waiting_for_user': ACTIVE + ('uninstalled',), 'activated_enabled': ('activated_enabled', 'uninstalled'),
           'terminated_waiting_to_uninstall': ('uninstalled',), 'replaced': ('uninstalled',), 'uninstalled': ('uninstalled',)}
for e in seen:
    n = now.get(e['row'])
    if not n:
        bad.append('row %d (%s %s) lost' % (e['row'], e['identifier'], e['version']))
        continue
    for k in ('identifier', 'team', 'version', 'store_path', 'cdhash'):
        if n[k] != e[k]:
            bad.append('row %d: %s changed from %s to %s' % (e['row'], k, e[k], n[k]))
    if n['state_id'] not in forward[e['state_id']]:
        bad.append('row %d: %s -> %s' % (e['row'], e['state'], n['state']))
new = [r for r in now if r > max([e['row'] for e in seen] or [0])]
if len(new) > 1:
    bad.append('%d new rows, one request was in flight' % len(new))
# the store: exactly the active rows' copies, complete; nothing in .tmp
want = set(os.path.dirname(e['store_path']) for e in rows if e['state_id'] in ACTIVE)
have = set()
for team in os.listdir(store):
    if team == '.tmp':
        if os.listdir(os.path.join(store, team)):
            bad.append('leftovers in .tmp: %s' % os.listdir(os.path.join(store, team)))
        continue
    for ident in os.listdir(os.path.join(store, team)):
        for v in os.listdir(os.path.join(store, team, ident)):
            have.add(os.path.join(store, team, ident, v))
if want != have:
    bad.append('store %s, database %s' % (sorted(have - want), sorted(want - have)))
for e in rows:
    if e['state_id'] in ACTIVE:
        for f in ('Contents/Info.plist', 'Contents/MacOS/test-dext', 'Contents/_CodeSignature/CodeSignature'):
            if not os.path.isfile(os.path.join(e['store_path'], f)):
                bad.append('%s: %s missing from the store copy' % (e['identifier'], f))
enabled = sum(1 for e in rows if e['state_id'] == 'activated_enabled')
if 'bundles' in status and status['bundles'] != enabled:
    bad.append('catalogue has %d bundles, %d enabled' % (status['bundles'], enabled))
print('\n'.join(bad))
sys.exit(1 if bad else 0)
PY
        if [ $? -eq 0 ]; then ok "lane$L-restart-$1"; else fail "lane$L-restart-$1" "$(cat "$T/check.out")"; fi
        cp "$T/list.json" "$T/seen.json"
}

# lane L COUNT: one ringd in its own root, killed COUNT times; prints its counts to $TMP/laneL.result
lane() {
        L=$1
        T=$TMP/lane$L
        ROOT=$T/root
        STORE=$ROOT/var/lib/ringkit/store
        mkdir -p "$ROOT/extensions"
        cp -a "$TMP/template/." "$ROOT/"
        local random_kills=0 point_kills=0 startup_kills=0 k=0 crash n client_pid
        while [ $k -lt "$2" ]; do
                k=$((k + 1))
                crash=
                [ $((k % 2)) -eq 0 ] && crash=$((RANDOM % 14 + 1))
                if ! start_ringd $crash; then
                        # killed at a crash point during the reconciliation at start
                        { wait "$RINGD_PID"; } 2>/dev/null
                        startup_kills=$((startup_kills + 1))
                        continue
                fi
                check $k
                if [ $((k % 3)) -ne 0 ]; then
                        # devices (so that drivers run and replacements stop them) in two lives of three:
                        # each spawns dexts, which under sanitizers is most of a life's cost
                        rc virt add --class RKKillDevice >/dev/null 2>&1
                fi
                client "$RINGD_PID" &
                client_pid=$!
                if [ -n "$crash" ]; then
                        # wait (at most 5 s) for ringd to reach its crash point, else kill it
                        n=0
                        while kill -0 "$RINGD_PID" 2>/dev/null && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
                        if kill -0 "$RINGD_PID" 2>/dev/null; then
                                kill -9 "$RINGD_PID"
                                random_kills=$((random_kills + 1))
                        else
                                point_kills=$((point_kills + 1))
                        fi
                else
                        sleep "0.$(printf '%03d' $((RANDOM % 500)))"
                        kill -9 "$RINGD_PID"
                        random_kills=$((random_kills + 1))
                fi
                { wait "$RINGD_PID"; } 2>/dev/null
                { wait "$client_pid"; } 2>/dev/null
        done
        # the last state, after a clean start; then the drivers of enabled extensions run
        start_ringd || fail "lane$L-final-start" "$(tail -20 "$T/ringd.log")"
        check final
        rc virt add --class RKKillDevice >/dev/null
        for id in com.test.kill com.test.kill2; do
                if grep -q "\"identifier\":\"$id\",[^}]*\"state_id\":\"activated_enabled\"" "$T/list.json"; then
                        if wait_for 15 sh -c "ASAN_OPTIONS=detect_leaks=0 \"$RINGCTL\" --root \"$ROOT\" list --json | grep -q '\"bundle\":\"$id\",[^}]*\"state\":\"running\"'"; then
                                ok "lane$L-final-$id-runs"
                        else
                                fail "lane$L-final-$id-runs" "$(rc list)"
                        fi
                fi
        done
        rc shutdown >/dev/null 2>&1
        wait "$RINGD_PID"
        [ $? -eq 0 ] && ok "lane$L-final-clean-exit" || fail "lane$L-final-clean-exit" "$(tail -20 "$T/ringd.log")"
        grep -q "ERROR: \(Address\|Leak\)Sanitizer\|runtime error" "$T/ringd.log" &&
                fail "lane$L-sanitizers" "$(grep -B2 -A20 'Sanitizer\|runtime error' "$T/ringd.log" | head -40)" ||
                ok "lane$L-sanitizers"
        echo "$_passed $_failed $random_kills $point_kills $startup_kills $(grep -c . "$T/client.log")" \
                "$("$PY" -c "import json; print(len(json.load(open('$T/list.json'))['extensions']))")" >"$TMP/lane$L.result"
}

t0=$(date +%s)
pids=()
for l in $(seq 1 "$LANES"); do
        # (bash reports each killed ringd on stderr: kept in the lane's file)
        lane "$l" $(((KILLS + LANES - l) / LANES)) 2>"$TMP/lane$l.stderr" &
        pids+=($!)
done
wait "${pids[@]}"
grep -hv ' Killed  ' "$TMP"/lane*.stderr >&2
echo "client replies by outcome:"
cat "$TMP"/lane*/client.log | sed -E 's/^ringctl: (error [0-9]+ \([a-zA-Z]+\)).*/\1/; s/^com[^:]*: (version [^ ]+ )?//; s/version [0-9.]+/version V/g' |
        sort | uniq -c | sort -rn | head -20
total=(0 0 0 0 0 0 0)
for l in $(seq 1 "$LANES"); do
        read -r -a got <"$TMP/lane$l.result" || got=(0 1 0 0 0 0 0)
        for i in 0 1 2 3 4 5 6; do total[i]=$((total[i] + got[i])); done
done
_passed=${total[0]}
_failed=${total[1]}
echo "kills: $((total[2] + total[3] + total[4])) in $LANES lanes (${total[2]} at random moments, ${total[3]} at crash" \
        "points during requests, ${total[4]} during the reconciliation at start); ${total[5]} client replies;" \
        "${total[6]} database rows; $(($(date +%s) - t0)) s"
finish
