#!/bin/bash
# SPDX-License-Identifier: MIT
# ringkit-sandbox-exec end to end.  The helper runs /usr/bin/python3 (its
# real path, verified by SHA-256) as an unprivileged uid with a probe script
# from the "bundle"; the probe tries each forbidden action and prints one
# "action errno" line, which this script checks.  Then: a changed executable
# is refused with a clear message, a sealed memfd passed by fd runs (the way
# ringd will pass it), an unsealed one is refused, dangerous syscalls kill,
# exit codes pass through.  Last, the cost of the set-up against a plain exec.
# Needs root (it drops to RK_UID); skips, saying why, without landlock.
: "${RINGKIT_SANDBOX_EXEC:?RINGKIT_SANDBOX_EXEC not set}"
RINGCTL=${RINGCTL:-$RINGKIT_SANDBOX_EXEC}
. "$(dirname "$0")/cli-lib.sh"
X=$RINGKIT_SANDBOX_EXEC
RK_UID=61235

if [ "$(id -u)" -ne 0 ]; then echo "skip: needs root to drop privileges"; echo "0 passed, 0 failed"; exit 0; fi
PY=$(readlink -f /usr/bin/python3 2>/dev/null)
if [ ! -x "$PY" ]; then echo "skip: no /usr/bin/python3 for the probe"; echo "0 passed, 0 failed"; exit 0; fi
ABI=$("$PY" -c 'import ctypes; print(ctypes.CDLL(None).syscall(444, None, 0, 1))')
if [ "$ABI" -lt 1 ]; then echo "skip: kernel without landlock"; echo "0 passed, 0 failed"; exit 0; fi
echo "landlock ABI $ABI"

sha() { sha256sum "$1" | cut -d' ' -f1; }
chmod 755 "$TMP"
mkdir -p "$TMP/bundle" "$TMP/data"
chmod 777 "$TMP/bundle" # so that only the sandbox can refuse writes there
chown $RK_UID:$RK_UID "$TMP/data"
echo secret >"$TMP/outside"
chmod 644 "$TMP/outside"
PYSHA=$(sha "$PY")
SB=(--uid $RK_UID --gid $RK_UID --bundle "$TMP/bundle" --data "$TMP/data" --dev /dev/full)

cat >"$TMP/bundle/probe.py" <<'EOF'
import ctypes, os, resource, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
bundle, data, outside = sys.argv[1:4]
def t(name, fn):
    try:
        r = fn()
        print(name, 0 if not isinstance(r, int) or r >= 0 else ctypes.get_errno())
    except OSError as e:
        print(name, e.errno)
    except MemoryError:
        print(name, 12)
    sys.stdout.flush()
def sock(fam, typ):
    return lambda: socket.socket(fam, typ).close()
def tcp_connect():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.connect(("127.0.0.1", 9))
def fork():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
t("read_bundle", lambda: open(bundle + "/probe.py").close())
t("write_data", lambda: open(data + "/state", "w").close())
t("write_bundle", lambda: open(bundle + "/evil", "w").close())
t("open_outside", lambda: open(outside).close())
t("open_etc_passwd", lambda: open("/etc/passwd").close())
t("list_tmp", lambda: os.listdir("/tmp"))
t("dev_null", lambda: open("/dev/null", "w").close())
t("dev_granted", lambda: open("/dev/full", "w").close())
t("dev_zero", lambda: open("/dev/zero", "rb").close())
t("dev_kmsg", lambda: open("/dev/kmsg", "rb").close())
t("socket_inet", sock(socket.AF_INET, socket.SOCK_STREAM))
t("socket_inet6", sock(socket.AF_INET6, socket.SOCK_DGRAM))
t("socket_netlink", sock(socket.AF_NETLINK, socket.SOCK_RAW))
t("socket_packet", sock(socket.AF_PACKET, socket.SOCK_RAW))
t("socket_unix", sock(socket.AF_UNIX, socket.SOCK_STREAM))
t("ptrace_traceme", lambda: libc.ptrace(0, 0, 0, 0))
t("ptrace_attach_parent", lambda: libc.ptrace(16, os.getppid(), 0, 0))
t("setuid_0", lambda: os.setuid(0))
t("unshare_user", lambda: libc.unshare(0x10000000))
t("fork", fork)
t("kept_fd", lambda: os.fstat(5))
t("stray_fd", lambda: os.fstat(6))
t("alloc_1g", lambda: bytearray(1 << 30))
t("no_new_privs", lambda: 0 if libc.prctl(39, 0, 0, 0, 0) == 1 else -1)
print("uid", os.getuid(), os.geteuid(), os.getgid())
print("groups", len(os.getgroups()))
print("nofile", resource.getrlimit(resource.RLIMIT_NOFILE)[0])
EOF

# probe ACTION ERRNO: the line in the probe's output
probe() { if grep -qx "$1 $2" "$TMP/out"; then ok "probe $1 = $2"; else fail "probe $1" "wanted '$1 $2'; got: $(grep "^$1 " "$TMP/out")"; fi; }

# --- forbidden and allowed actions, network off -----------------------------
expect_rc "sandboxed probe runs" 0 env -i "$X" --exec "$PY" --sha256 "$PYSHA" "${SB[@]}" --no-network \
        --rlimit-as $((512 << 20)) --rlimit-nofile 64 --rlimit-nproc 1 --keep-fd 5 \
        -- python3 "$TMP/bundle/probe.py" "$TMP/bundle" "$TMP/data" "$TMP/outside" 5>/dev/null 6>/dev/null
cat "$TMP/out"
probe read_bundle 0
probe write_data 0
probe write_bundle 13
probe open_outside 13
probe open_etc_passwd 13
probe list_tmp 13
probe dev_null 0
probe dev_granted 0
probe dev_zero 13
probe dev_kmsg 13
probe socket_inet 1
probe socket_inet6 1
probe socket_netlink 1
probe socket_packet 1
probe socket_unix 0
probe ptrace_traceme 1
probe ptrace_attach_parent 1
probe setuid_0 1
probe unshare_user 1
probe fork 11
probe kept_fd 0
probe stray_fd 9
probe alloc_1g 12
probe no_new_privs 0
probe uid "$RK_UID $RK_UID $RK_UID"
probe groups 0
probe nofile 64

# --- network on: sockets may be made, but landlock refuses TCP --------------
cat >"$TMP/bundle/tcp.py" <<'EOF'
import socket
for name, addr in (("tcp_connect", None), ("tcp_bind", ("127.0.0.1", 0))):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(addr) if addr else s.connect(("127.0.0.1", 9))
        print(name, 0)
    except OSError as e:
        print(name, e.errno)
EOF
if [ "$ABI" -ge 4 ]; then
        expect_rc "network-on probe runs" 0 env -i "$X" --exec "$PY" --sha256 "$PYSHA" "${SB[@]}" \
                -- python3 "$TMP/bundle/tcp.py"
        probe tcp_connect 13
        probe tcp_bind 13
else
        echo "skip: landlock ABI $ABI < 4 has no TCP rules"
fi

# --- verified exec -----------------------------------------------------------
SH=$(readlink -f /bin/sh)
cp "$SH" "$TMP/bundle/driver"
DSHA=$(sha "$TMP/bundle/driver")
expect_rc "verified driver runs" 0 "$X" --exec "$TMP/bundle/driver" --sha256 "$DSHA" "${SB[@]}" -- sh -c 'echo ran'
expect_grep "verified driver output" '^ran$'
printf 'X' | dd of="$TMP/bundle/driver" bs=1 seek=1000 conv=notrunc status=none
expect_rc "changed driver refused" 127 "$X" --exec "$TMP/bundle/driver" --sha256 "$DSHA" "${SB[@]}" -- sh -c 'echo ran'
expect_grep "changed driver message" "driver: error: executable changed on disk after activation"
expect_no_grep "changed driver did not run" '^ran$'
ln -s "$SH" "$TMP/bundle/link"
expect_rc "symlink refused" 127 "$X" --exec "$TMP/bundle/link" --sha256 "$DSHA" "${SB[@]}" -- sh
expect_grep "symlink message" "verified exec failed"

# A sealed memfd handed over by fd, as ringd will do; an unsealed one is refused.
memfd_run() { # SEAL(0|1) ARGS...
        "$PY" - "$SH" "$@" <<'EOF'
import fcntl, os, sys
src, seal, helper, args = sys.argv[1], sys.argv[2] == "1", sys.argv[3], sys.argv[4:]
fd = os.memfd_create("driver", os.MFD_ALLOW_SEALING)
os.write(fd, open(src, "rb").read())
if seal:
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_WRITE | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_SEAL)
os.execv(helper, [helper, "--exec-fd", str(fd)] + args)
EOF
}
expect_rc "sealed memfd runs" 0 memfd_run 1 "$X" "${SB[@]}" -- sh -c 'echo from-memfd'
expect_grep "sealed memfd output" '^from-memfd$'
expect_rc "unsealed memfd refused" 127 memfd_run 0 "$X" "${SB[@]}" -- sh -c 'echo from-memfd'
expect_grep "unsealed memfd message" "not a sealed memfd"

# --- a real libringdriver dext (the build's test-dext) under the sandbox ----------
# It must reach its channel and send its hello; closing our end makes it exit
# 1 on its own, not by SIGSYS (159) or a refused set-up (127).
DEXT=$(dirname "$X")/tests/test-dext
if [ -x "$DEXT" ]; then
        mkdir -p "$TMP/dext.bundle"
        cp "$DEXT" "$TMP/dext.bundle/test-dext"
        expect_rc "test-dext runs sandboxed" 0 "$PY" - "$TMP/dext.bundle/test-dext" "$X" "$(sha "$DEXT")" $RK_UID <<'EOF'
import os, socket, subprocess, sys
d, x, sha, uid = sys.argv[1:5]
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
a = socket.socket(fileno=os.dup2(a.detach(), 20))
os.dup2(b.fileno(), 3)
b.close()
p = subprocess.Popen([x, "--exec", d, "--sha256", sha, "--uid", uid, "--gid", uid, "--bundle",
                      os.path.dirname(d), "--no-network", "--keep-fd", "3", "--", "test-dext"], pass_fds=(3,))
os.close(3)
a.settimeout(10)
n = len(a.recv(65536))
a.close()
rc = p.wait()
print("hello bytes", n, "exit", rc)
sys.exit(0 if n > 0 and rc == 1 else 1)
EOF
        expect_grep "test-dext said hello and exited 1" "hello bytes [1-9][0-9]* exit 1"
else
        echo "skip: no $DEXT (the build's test dext) to run sandboxed"
fi

# --- --cgroup-procs: joined before the program runs, so what it forks at once is inside ---
CGP=
if [ -d /sys/fs/cgroup/pids ]; then CGP=/sys/fs/cgroup/pids/rk-sbx-test-$$
elif grep -qw pids /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then CGP=/sys/fs/cgroup/rk-sbx-test-$$; fi
if [ -n "$CGP" ] && mkdir "$CGP" 2>/dev/null; then
        at_exit rmdir "$CGP"
        "$X" --exec "$SH" --sha256 "$(sha "$SH")" "${SB[@]}" --cgroup-procs "$CGP/cgroup.procs" -- \
                sh -c 'sleep 5 & exec sleep 5' &
        sbx=$!
        PIDS+=("$sbx")
        in_cg() { [ "$(wc -l <"$CGP/cgroup.procs")" = 2 ] && grep -qx "$sbx" "$CGP/cgroup.procs"; }
        if wait_for 5 in_cg; then ok "cgroup joined, with what it forked"; else
                fail "cgroup joined, with what it forked" "pid $sbx; $CGP/cgroup.procs: $(cat "$CGP/cgroup.procs")"; fi
        while read -r p; do kill -9 "$p" 2>/dev/null; done <"$CGP/cgroup.procs"
        wait "$sbx" 2>/dev/null
else
        ok "cgroup joined, with what it forked # SKIP no pids cgroup to make"
fi
expect_rc "missing cgroup refused" 127 "$X" --exec "$SH" --sha256 "$(sha "$SH")" "${SB[@]}" \
        --cgroup-procs "$TMP/no-such-cgroup/cgroup.procs" -- sh -c 'exit 0'
expect_grep "missing cgroup message" "ringkit-sandbox-exec: cgroup: $TMP/no-such-cgroup/cgroup.procs: No such file or directory"

# --- exit codes and argument errors -------------------------------------------
expect_rc "program exit code passes through" 7 "$X" --exec "$SH" --sha256 "$(sha "$SH")" "${SB[@]}" -- sh -c 'exit 7'
expect_rc "dangerous syscall kills (SIGSYS)" $((128 + 31)) "$PY" -c '
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, st = os.waitpid(pid, 0)
sys.exit(128 + os.WTERMSIG(st) if os.WIFSIGNALED(st) else os.WEXITSTATUS(st))' \
        "$X" --exec "$PY" --sha256 "$PYSHA" "${SB[@]}" -- python3 -c 'import ctypes; ctypes.CDLL(None).syscall(321, 0, 0, 0)'
expect_rc "root refused without --uid" 127 "$X" --exec "$SH" --sha256 "$(sha "$SH")" -- sh -c 'exit 0'
expect_grep "root refused message" "refusing to run as root"
expect_rc "unknown user" 127 "$X" --user no-such-user-rk --exec "$SH" --sha256 "$(sha "$SH")" -- sh
expect_grep "unknown user message" "no such user: no-such-user-rk"
expect_rc "no program" 127 "$X" --exec "$SH" --sha256 "$(sha "$SH")" "${SB[@]}"
expect_rc "bad sha" 127 "$X" --exec "$SH" --sha256 abc "${SB[@]}" -- sh
expect_rc "missing data dir" 127 "$X" --exec "$SH" --sha256 "$(sha "$SH")" "${SB[@]}" --data "$TMP/nope" -- sh
expect_grep "missing data dir message" "nope: error: landlock rule: No such file"

# --- cost of the set-up, against a plain exec in the same run -------------------
TRUE=$(readlink -f /bin/true)
"$PY" - "$X" "$TRUE" "$(sha "$TRUE")" "$TMP" $RK_UID <<'EOF'
import os, subprocess, sys, time
x, true, sha, tmp, uid = sys.argv[1:6]
sb = ["--uid", uid, "--gid", uid, "--bundle", tmp + "/bundle", "--data", tmp + "/data", "--no-network"]
fd = os.memfd_create("true", os.MFD_ALLOW_SEALING)
os.write(fd, open(true, "rb").read())
import fcntl
fcntl.fcntl(fd, fcntl.F_ADD_SEALS, 15)
runs = {
    "plain exec of true": [true],
    "helper start-up only (exits 127)": [x, "--exec-fd", str(fd)],
    "helper, sealed memfd, sandbox": [x, "--exec-fd", str(fd)] + sb + ["--", "true"],
    "helper, verify+copy+sandbox": [x, "--exec", true, "--sha256", sha] + sb + ["--", "true"],
}
n = 300
for name, argv in runs.items():
    subprocess.run(argv, pass_fds=(fd,), stderr=subprocess.DEVNULL)
    t = time.perf_counter()
    for _ in range(n):
        subprocess.run(argv, pass_fds=(fd,), stderr=subprocess.DEVNULL)
    print("cost: %-32s %7.1f us per launch (%d runs)" % (name, (time.perf_counter() - t) / n * 1e6, n))
# Inside the helper, step by step (medians), cold verify of true vs a passed memfd
env = dict(os.environ, RINGKIT_SANDBOX_TIMING="1")
for name, argv in list(runs.items())[2:]:
    rows = []
    for _ in range(100):
        err = subprocess.run(argv, pass_fds=(fd,), env=env, stderr=subprocess.PIPE, text=True).stderr
        line = [l for l in err.splitlines() if "timing us:" in l][0].split("timing us:")[1].split()
        rows.append({line[i]: float(line[i + 1]) for i in range(0, len(line), 2)})
    med = {k: sorted(r[k] for r in rows)[len(rows) // 2] for k in rows[0]}
    print("steps: %-32s " % name + " ".join("%s %.1f" % kv for kv in med.items()) + " (us, median of 100)")
EOF

finish
