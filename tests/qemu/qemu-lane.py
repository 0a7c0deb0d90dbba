#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The QEMU real-hardware lane: boot Debian's kernel with ringkit in a busybox
initramfs, with emulated USB devices, and run the guest tests in
tests/qemu/guest/ against real sysfs, uevents and evdev.

Host and guest talk in lines on the serial console (the guest's only
output); the host drives the emulated hardware through QMP:

  guest -> host   "@@RK BOOTED <uptime>"        /init is running
                  "@@RK REQ plug DRIVER ID"     device_add DRIVER,id=ID,bus=xhci.0
                  "@@RK REQ unplug ID"          device_del ID
                  "@@RK REQ keys KEY..."        send-key (qcodes: a, b, ret, ...)
                  "@@RK FILE NAME" ... "@@RK EOF NAME"   a file for the log dir
                  "ok   NAME" / "FAIL NAME: why"       a guest test result
                  "@@RK DONE rc=N"              the guest tests finished
  host -> guest   nothing but the hardware: the guest waits for what it
                  asked for (a device in sysfs, an input event) with timeouts.

Files the guest sends whose name has a check in HOST_CHECKS (registry dumps
as JSON) are checked here, where JSON is easy.  Everything is logged under
--logdir (serial.log and the files); the path is printed on failure.  QEMU
is killed at the end whatever happens.  Exit 0 all passed, 1 a failure, 77
skipped (no qemu-system-x86_64, no kernel with its modules, no static
busybox).  The last line is "N passed, N failed".

Python 3 standard library only.
"""
import argparse
import glob
import gzip
import json
import lzma
import os
import re
import select
import shutil
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time

SKIP = 77
HERE = os.path.dirname(os.path.abspath(__file__))

# Kernel modules the guest loads, in this order (their dependencies first,
# from modules.dep).  Input and HID before the host controller, so the boot
# devices bind as they enumerate.  Built-in ones are skipped.
MODULES = ["evdev", "uinput", "uhid", "hid", "hid_generic", "usbhid", "ftdi_sio", "xhci_pci"]
# usb-storage and sd before the host controller too, for the boot-time stick (64-usbsdk-storage.sh)
MODULES[MODULES.index("xhci_pci"):MODULES.index("xhci_pci")] = ["sd_mod", "usb_storage"]
# the sticks' disk images: the 32-bit little-endian word at byte offset o is o / 4
STICK_MIB = 64

# a CDC-ACM device made in the guest: a configfs gadget on dummy_hcd (76-usbserial-acm.sh)
MODULES += ["cdc_acm", "dummy_hcd", "usb_f_acm"]


def log(msg):
    print(msg, flush=True)


# ---------------------------------------------------------------- initramfs

class Cpio:
    """A newc cpio archive built in memory, owned by root whoever runs us."""

    def __init__(self):
        self.out = bytearray()
        self.ino = 1
        self.seen = set()

    def _entry(self, name, mode, data=b"", rdev=(0, 0)):
        name = name.lstrip("/")
        if name in self.seen:
            return
        self.seen.add(name)
        fields = [self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name) + 1, 0]
        self.ino += 1
        hdr = b"070701" + b"".join(b"%08x" % f for f in fields)
        self.out += hdr + name.encode() + b"\0"
        self.out += b"\0" * (-len(self.out) % 4)
        self.out += data
        self.out += b"\0" * (-len(self.out) % 4)

    def dir(self, path):
        parts = path.strip("/").split("/")
        for k in range(1, len(parts) + 1):
            self._entry("/".join(parts[:k]), stat.S_IFDIR | 0o755)

    def file(self, path, data, mode=0o644):
        self.dir(os.path.dirname(path))
        self._entry(path, stat.S_IFREG | mode, data)

    def copy(self, src, dst, mode=None):
        with open(src, "rb") as f:
            data = f.read()
        if mode is None:
            mode = 0o755 if os.access(src, os.X_OK) else 0o644
        self.file(dst, data, mode)

    def symlink(self, path, target):
        self.dir(os.path.dirname(path))
        self._entry(path, stat.S_IFLNK | 0o777, target.encode())

    def chardev(self, path, major, minor, mode=0o600):
        self.dir(os.path.dirname(path))
        self._entry(path, stat.S_IFCHR | mode, rdev=(major, minor))

    def finish(self):
        self._entry("TRAILER!!!", 0)
        self.out += b"\0" * (-len(self.out) % 512)
        return bytes(self.out)


def shared_libs(binary):
    """The shared objects `binary` loads, as ldd resolves them: [(path in guest, host file)]."""
    r = subprocess.run(["ldd", binary], capture_output=True, text=True)
    if r.returncode != 0:  # "not a dynamic executable"
        return []
    libs = []
    for line in r.stdout.splitlines():
        m = re.match(r"\s*(\S+)\s+=>\s+(/\S+)", line) or re.match(r"\s*(/\S+)\s+\(", line)
        if m:
            path = m.group(m.lastindex)
            libs.append((path, os.path.realpath(path)))
    return libs


def decompress_module(path):
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith(".xz"):
        return lzma.decompress(data)
    if path.endswith(".gz"):
        return gzip.decompress(data)
    if path.endswith(".zst"):
        return subprocess.run(["zstd", "-dc", path], check=True, capture_output=True).stdout
    return data


def module_name(path):
    base = os.path.basename(path)
    base = re.sub(r"\.ko(\.(xz|gz|zst))?$", "", base)
    return base.replace("-", "_")


def resolve_modules(moddir, wanted):
    """Module files to load, dependencies first: [(name, host path)]."""
    deps, paths = {}, {}
    with open(os.path.join(moddir, "modules.dep")) as f:
        for line in f:
            if ":" not in line:
                continue
            mod, rest = line.split(":", 1)
            name = module_name(mod)
            paths[name] = os.path.join(moddir, mod)
            deps[name] = [module_name(d) for d in rest.split()]
    builtin = set()
    try:
        with open(os.path.join(moddir, "modules.builtin")) as f:
            builtin = {module_name(line.strip()) for line in f}
    except OSError:
        pass
    order = []

    def visit(name):
        if name in order or name in builtin:
            return
        if name not in paths:
            raise RuntimeError(f"module {name} is neither in {moddir}/modules.dep nor built in")
        # modules.dep lists a module's dependencies with the ones needed by
        # the others last; load from the end.
        for d in reversed(deps[name]):
            visit(d)
        order.append(name)

    for w in wanted:
        visit(w)
    return [(n, paths[n]) for n in order]


def make_stick(path, mib):
    """A stick's image: word k of MiB m (little-endian) is m << 18 | k; bytes 2 and 3 carry m."""
    base = struct.pack(f"<{1 << 18}I", *range(1 << 18))
    with open(path, "wb") as f:
        for m in range(mib):
            blk = bytearray(base)
            blk[2::4] = base[2::4].translate(bytes(b | (m & 63) << 2 for b in range(256)))
            blk[3::4] = bytes([m >> 6]) * (1 << 18)
            f.write(blk)
    return path


def build_initramfs(args, kver, out):
    a = Cpio()
    for d in ["bin", "sbin", "dev", "proc", "sys", "tmp", "run", "etc", "ringkit/bin", "tests", "modules"]:
        a.dir(d)
    a.chardev("dev/console", 5, 1)
    a.chardev("dev/null", 1, 3, 0o666)
    binaries = {
        "busybox": args.busybox,
        "ringd": args.ringd,
        "ringctl": args.ringctl,
        "ringkit-builtin": args.builtin,
        "test-dext": args.test_dext,
        "rk-evread": args.evread,
        "rk-usbkbd-dext": args.usbkbd_dext,
    }
    if args.hidlat:
        binaries["rk-hidlat"] = args.hidlat
    if args.sandbox_exec:  # ringd finds it beside itself
        binaries["ringkit-sandbox-exec"] = args.sandbox_exec
    for spec in args.extra_bin:  # NAME=PATH: more programs for /ringkit/bin
        name, _, path = spec.partition("=")
        binaries[name] = path
    libs = {}
    for name, path in binaries.items():
        a.copy(path, "bin/busybox" if name == "busybox" else f"ringkit/bin/{name}", 0o755)
        for guest, host in shared_libs(path):
            libs[guest] = host
    for guest, host in sorted(libs.items()):
        a.copy(host, guest, 0o755)

    moddir = f"/lib/modules/{kver}"
    order = []
    for k, (name, path) in enumerate(resolve_modules(moddir, MODULES)):
        fname = f"{k:02d}-{name}.ko"
        a.file(f"modules/{fname}", decompress_module(path))
        order.append(fname)
    a.file("modules/order", ("\n".join(order) + "\n").encode())

    guest = os.path.join(HERE, "guest")
    a.copy(os.path.join(guest, "init"), "init", 0o755)
    for f in sorted(os.listdir(guest)):
        p = os.path.join(guest, f)
        if f != "init" and os.path.isfile(p):
            a.copy(p, f"tests/{f}", 0o755)
    tdir = os.path.join(guest, "tests")
    for f in sorted(os.listdir(tdir)):
        if f.endswith(".sh"):
            a.copy(os.path.join(tdir, f), f"tests/tests/{f}", 0o644)
    # the sample bundles, for guest tests that install them (80-hid.sh)
    sdir = os.path.join(HERE, "..", "..", "samples", "extensions")
    for root, _, files in os.walk(sdir):
        for f in sorted(files):
            p = os.path.join(root, f)
            a.copy(p, f"ringkit/samples/{os.path.relpath(p, sdir)}", 0o644)
    if args.filter:
        a.file("tests/filter", (args.filter + "\n").encode())
    with open(out, "wb") as f:
        f.write(gzip.compress(a.finish(), compresslevel=1))
    return order, sorted(libs)


# ---------------------------------------------------------------- QMP

class QMP:
    def __init__(self, path, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.settimeout(timeout)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.buf = b""
        self._read()  # greeting
        self.execute("qmp_capabilities")

    def _read(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("QMP socket closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def execute(self, cmd, **arguments):
        msg = {"execute": cmd}
        if arguments:
            msg["arguments"] = arguments
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            reply = self._read()
            if "event" in reply:
                continue
            if "error" in reply:
                raise RuntimeError(f"{cmd}: {reply['error'].get('desc')}")
            return reply.get("return")

    def close(self):
        self.sock.close()


# ---------------------------------------------------------------- host-side checks of guest dumps

def walk(node, parent=None):
    yield node, parent
    for c in node.get("children", []):
        yield from walk(c, node)


def keyboards(tree):
    return [n for n, _ in walk(tree)
            if "IOUSBHostDevice" in n.get("classes", [])
            and n.get("properties", {}).get("idVendor") == 0x0627
            and n.get("properties", {}).get("USB Product Name") == "QEMU USB Keyboard"]


def check_registry_boot(data, res):
    tree = json.loads(data)
    kb = keyboards(tree)
    res.check("registry-usb-keyboard-nub", len(kb) == 1,
              f"{len(kb)} IOUSBHostDevice nubs with idVendor 0x627 and product 'QEMU USB Keyboard'")
    if not kb:
        return
    props = kb[0]["properties"]
    res.check("registry-usb-device-properties",
              all(k in props for k in ("idProduct", "bcdDevice", "locationID", "USBSpeed", "busnum", "devnum",
                                       "bcdUSB", "bMaxPacketSize0", "iProduct"))
              and props.get("PortNum") == 1,
              f"missing keys in {sorted(props)}")
    ifs = [c for c in kb[0]["children"] if "IOUSBHostInterface" in c.get("classes", [])]
    ok = any(c["properties"].get("bInterfaceNumber") == 0 and c["properties"].get("bInterfaceClass") == 3
             and c["properties"].get("bInterfaceSubClass") == 1 and c["properties"].get("bInterfaceProtocol") == 1
             for c in ifs)
    res.check("registry-usb-interface-under-device", ok,
              f"interface children: {[c['properties'] for c in ifs]}")
    hid = [n for n, _ in walk(ifs[0]) if "IOHIDDevice" in n.get("classes", [])] if ifs else []
    raw = [c for c in hid[0]["children"] if "RKHIDRawDevice" in c.get("classes", [])] if hid else []
    res.check("registry-hid-stack-under-interface",
              len(hid) == 1 and hid[0]["properties"].get("PrimaryUsagePage") == 1
              and hid[0]["properties"].get("PrimaryUsage") == 6 and len(raw) == 1
              and raw[0]["properties"].get("RKDevNode", "").startswith("/dev/hidraw"),
              f"IOHIDDevice under the interface: {[h['properties'] for h in hid]}; "
              f"its RKHIDRawDevice children: {[r['properties'] for r in raw]}")
    tablets = [n for n, _ in walk(tree)
               if n.get("properties", {}).get("USB Product Name") == "QEMU USB Tablet"]
    res.check("registry-usb-tablet-nub", len(tablets) == 1, f"{len(tablets)} tablets")
    drivers = [c for c in kb[0]["children"] if c.get("state") == "started"]
    res.check("registry-driver-on-keyboard", len(drivers) == 1,
              f"started children of the keyboard nub: {[(c['name'], c['classes']) for c in drivers]}")


def check_registry_two(data, res):
    kb = keyboards(json.loads(data))
    res.check("registry-hotplugged-keyboard-nub", len(kb) == 2, f"{len(kb)} keyboards after device_add")


def check_registry_unplugged(data, res):
    kb = keyboards(json.loads(data))
    res.check("registry-unplugged-keyboard-gone", len(kb) == 1, f"{len(kb)} keyboards after device_del")


HOST_CHECKS = {
    "registry-boot.json": check_registry_boot,
    "registry-two.json": check_registry_two,
    "registry-unplugged.json": check_registry_unplugged,
}


class Results:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.failures = []

    def ok(self, name):
        self.passed += 1
        log(f"ok   {name}")

    def fail(self, name, why):
        self.failed += 1
        self.failures.append(name)
        log(f"FAIL {name}: {why}")

    def check(self, name, cond, why):
        self.ok(name) if cond else self.fail(name, why)


# ---------------------------------------------------------------- the run

def find_kernel(explicit):
    cands = [explicit] if explicit else sorted(glob.glob("/boot/vmlinuz-*"), reverse=True)
    for k in cands:
        kver = os.path.basename(k)[len("vmlinuz-"):]
        if os.access(k, os.R_OK) and os.path.exists(f"/lib/modules/{kver}/modules.dep"):
            return k, kver
    return None, None


class SerialPeer:
    """The far end of QEMU's usb-serial: its socket chardev (75-usbserial.sh)."""

    def __init__(self, path, trace):
        self.path, self.trace, self.sock, self.received = path, trace, None, bytearray()

    def connect(self, timeout=10):
        deadline = time.monotonic() + timeout
        while self.sock is None and time.monotonic() < deadline:
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(self.path)
                s.setblocking(False)
                self.sock = s
            except OSError:
                s.close()
                time.sleep(0.05)
        return self.sock is not None

    def pump(self):
        while self.sock:
            try:
                chunk = self.sock.recv(65536)
            except BlockingIOError:
                return
            if not chunk:
                self.sock.close()
                self.sock = None
                return
            self.received += chunk

    def wait(self, cond, timeout=15):
        deadline = time.monotonic() + timeout
        while not cond() and time.monotonic() < deadline:
            time.sleep(0.05)
            self.pump()
        return cond()

    def baud_set(self, baud):
        """QEMU's FT232 was set to `baud`, within the chip's divisor rounding (57600 runs at 57553)."""
        try:
            with open(self.trace) as f:
                rates = [int(m.group(1)) for m in re.finditer(r"usb_serial_set_baud .* (\d+)\s*$", f.read(), re.M)]
        except OSError:
            return False
        return any(abs(r - int(baud)) * 100 <= int(baud) for r in rates)


def serial_request(verb, words, serial, res):
    if verb in ("serial-send", "serial-send-seq"):
        data = " ".join(words).encode() + b"\n"
        if verb == "serial-send-seq":  # the lines 1..N, as seq(1) prints them
            data = "".join(f"{i}\n" for i in range(1, int(words[0]) + 1)).encode()
        serial.sock.setblocking(True)
        serial.sock.sendall(data)
        serial.sock.setblocking(False)
    elif verb == "serial-expect":
        want = " ".join(words[1:]).encode()
        res.check(words[0], serial.wait(lambda: want in serial.received),
                  f"{want[:60]!r}... not among the {len(serial.received)} bytes from the chardev: "
                  f"{bytes(serial.received[-120:])!r}")
    elif verb == "serial-baud":
        res.check(words[0], serial.wait(lambda: serial.baud_set(words[1])),
                  f"no usb_serial_set_baud {words[1]} in {serial.trace}")


def handle_request(words, qmp, res, serial=None):
    verb = words[0] if words else ""
    try:
        if verb.startswith("serial-") and len(words) >= 2 and serial and serial.sock:
            serial_request(verb, words[1:], serial, res)
        elif verb == "plug" and len(words) == 3:
            qmp.execute("device_add", driver=words[1], id=words[2], bus="xhci.0")
        elif verb == "unplug" and len(words) == 2:
            qmp.execute("device_del", id=words[1])
        elif verb == "keys" and len(words) >= 2:
            for key in words[1:]:
                qmp.execute("send-key", keys=[{"type": "qcode", "data": key}], **{"hold-time": 50})
        else:
            res.fail("qmp-request", f"unknown request {' '.join(words)!r}")
            return
    except Exception as e:  # a failed request fails the guest test waiting for it, too
        res.fail(f"qmp-{verb}", str(e))


def run(args):
    res = Results()
    qemu = shutil.which(args.qemu)
    kernel, kver = find_kernel(args.kernel)
    if not qemu:
        log(f"SKIP: {args.qemu} not found (apt-get install qemu-system-x86)")
        return SKIP
    if not kernel:
        log("SKIP: no readable /boot/vmlinuz-* with /lib/modules/<version>/modules.dep (apt-get install linux-image-amd64)")
        return SKIP
    if not args.busybox or not os.path.exists(args.busybox):
        log("SKIP: no busybox (apt-get install busybox-static)")
        return SKIP

    os.makedirs(args.logdir, exist_ok=True)
    for f in glob.glob(os.path.join(args.logdir, "*")):
        os.unlink(f)
    t0 = time.monotonic()
    work = tempfile.mkdtemp(prefix="rk-qemu-")
    try:
        initrd = os.path.join(work, "initrd.gz")
        try:
            mods, _ = build_initramfs(args, kver, initrd)
        except (OSError, RuntimeError, subprocess.CalledProcessError) as e:
            res.fail("initramfs-builds", str(e))
            log(f"{res.passed} passed, {res.failed} failed")
            return 1
        t_initrd = time.monotonic() - t0
        log(f"# kernel {kernel}; modules: {' '.join(mods)}; initramfs {os.path.getsize(initrd) // 1024} KiB "
            f"built in {t_initrd:.1f} s")
        qmp_path = os.path.join(work, "qmp.sock")
        cmd = [qemu, "-M", "q35", "-m", "512", "-nodefaults", "-display", "none", "-no-reboot",
               "-serial", "stdio", "-kernel", kernel, "-initrd", initrd,
               "-append", "console=ttyS0 loglevel=1 panic=-1 rdinit=/init",
               "-device", "qemu-xhci,id=xhci",
               "-device", "usb-kbd,id=kbd1,bus=xhci.0",
               "-device", "usb-tablet,id=tablet1,bus=xhci.0",
               "-chardev", f"socket,id=ser0,path={os.path.join(work, 'serial.sock')},server=on,wait=off",
               "-device", "usb-serial,id=serial1,chardev=ser0,bus=xhci.0,always-plugged=on",
               "-trace", "enable=usb_serial_set_*", "-D", os.path.join(args.logdir, "qemu-trace.log"),
               "-qmp", f"unix:{qmp_path},server=on,wait=off"]
        # two usb-storage sticks (6x-usb*.sh): a fast one, and one whose reads QEMU throttles to 2 MiB/s,
        # so that transfers are still in flight when a test cancels them or unplugs the stick
        stick = make_stick(os.path.join(work, "stick.img"), STICK_MIB)
        slow = make_stick(os.path.join(work, "slow.img"), 16)
        cmd += ["-drive", f"if=none,id=stick,format=raw,file={stick}",
                "-device", "usb-storage,id=stick1,drive=stick,bus=xhci.0,serial=RKSTICK",
                "-drive", f"if=none,id=slow,format=raw,file={slow},throttling.bps-read={2 << 20}",
                "-device", "usb-storage,id=stick2,drive=slow,bus=xhci.0,serial=RKSLOW",
                # a device with alternate settings, no kernel driver loaded for it (69-usbsdk-alt.sh)
                "-audiodev", "none,id=snd0", "-device", "usb-audio,id=audio1,audiodev=snd0,bus=xhci.0"]
        if os.environ.get("RK_BENCH"):  # the guest's benches run their long versions
            cmd[cmd.index("-append") + 1] += " rk.bench=1"
        with open(os.path.join(args.logdir, "qemu-command"), "w") as f:
            f.write(" ".join(cmd) + "\n")
        peer = SerialPeer(os.path.join(work, "serial.sock"), os.path.join(args.logdir, "qemu-trace.log"))
        return boot_and_run(args, cmd, qmp_path, res, t0, peer)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def boot_and_run(args, cmd, qmp_path, res, t0, peer):
    serial = open(os.path.join(args.logdir, "serial.log"), "w")
    t_start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    qmp = None
    booted = done = None
    capture, captured = None, []
    buf = b""
    try:
        try:
            qmp = QMP(qmp_path, timeout=30)
            res.ok("qmp-connects")
        except Exception as e:
            res.fail("qmp-connects", str(e))
        res.check("serial-chardev-connects", peer.connect(), f"cannot connect to {peer.path}")
        deadline = t_start + args.timeout
        os.set_blocking(proc.stdout.fileno(), False)
        while done is None:
            now = time.monotonic()
            limit = deadline if booted is not None else min(deadline, t_start + args.boot_timeout)
            if now > limit:
                res.fail("guest-boots" if booted is None else "guest-finishes",
                         f"no {'@@RK BOOTED' if booted is None else '@@RK DONE'} after {now - t_start:.0f} s")
                break
            peer.pump()
            r, _, _ = select.select([proc.stdout], [], [], min(1.0, limit - now))
            if not r:
                if proc.poll() is not None:
                    res.fail("qemu-runs", f"QEMU exited with {proc.returncode} before the guest finished")
                    break
                continue
            chunk = proc.stdout.read()
            if not chunk:
                if proc.poll() is not None or chunk == b"":
                    proc.wait(timeout=5)
                    res.fail("qemu-runs", f"QEMU exited with {proc.returncode} before the guest finished")
                    break
                continue
            buf += chunk
            while b"\n" in buf:
                raw, buf = buf.split(b"\n", 1)
                line = raw.decode("utf-8", "replace").rstrip("\r")
                serial.write(line + "\n")
                if capture is not None:
                    if line == f"@@RK EOF {capture[0]}":
                        save_capture(args, capture, res)
                        capture = None
                    else:
                        capture[1].append(line)
                    continue
                if line.startswith("@@RK BOOTED"):
                    booted = time.monotonic() - t_start
                    res.ok("guest-boots")
                    log(f"# guest /init after {booted:.1f} s (guest uptime {line.split()[-1]} s)")
                elif line.startswith("@@RK REQ "):
                    if qmp:
                        handle_request(line.split()[2:], qmp, res, peer)
                elif line.startswith("@@RK FILE "):
                    capture = (line.split(None, 2)[2], [])
                    captured.append(capture[0])
                elif line.startswith("@@RK DONE"):
                    done = time.monotonic() - t_start
                elif line.startswith("@@RK "):
                    log(f"# {line[5:]}")
                elif line.startswith("ok   "):
                    res.ok(line[5:].strip())
                elif line.startswith("FAIL "):
                    name, _, why = line[5:].partition(":")
                    res.fail(name.strip(), why.strip())
                elif args.verbose:
                    log(f"| {line}")
    finally:
        if qmp:
            qmp.close()
        proc.kill()
        try:
            rest, _ = proc.communicate(timeout=10)
            if rest:
                serial.write(rest.decode("utf-8", "replace"))
        except Exception:
            pass
        serial.close()
    if done is not None:
        res.ok("guest-finishes")
        log(f"# guest tests ran {done - (booted or 0):.1f} s; whole lane {time.monotonic() - t0:.1f} s")
    if res.failed:
        log(f"# logs: {args.logdir} (serial.log is the whole console; ringd.log, dmesg.log, ... the guest's files)")
    log(f"{res.passed} passed, {res.failed} failed")
    return 0 if res.failed == 0 and res.passed > 0 else 1


def save_capture(args, capture, res):
    name, lines = capture
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    data = "\n".join(lines) + "\n"
    with open(os.path.join(args.logdir, safe), "w") as f:
        f.write(data)
    check = HOST_CHECKS.get(name)
    if check:
        try:
            check(data, res)
        except Exception as e:
            res.fail(f"host-check-{name}", f"{type(e).__name__}: {e}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ringd", required=True)
    p.add_argument("--ringctl", required=True)
    p.add_argument("--builtin", required=True)
    p.add_argument("--test-dext", required=True)
    p.add_argument("--evread", required=True)
    p.add_argument("--usbkbd-dext", required=True)
    p.add_argument("--sandbox-exec", help="ringkit-sandbox-exec, when the tree has it")
    p.add_argument("--hidlat", help="rk-hidlat, the HID latency probe (80-hid.sh)")
    p.add_argument("--extra-bin", action="append", default=[], metavar="NAME=PATH",
                   help="another program for the guest's /ringkit/bin (with its shared libraries)")
    p.add_argument("--logdir", default="qemu-lane-logs")
    p.add_argument("--kernel", help="default: the newest /boot/vmlinuz-* with its modules installed")
    p.add_argument("--qemu", default="qemu-system-x86_64")
    p.add_argument("--busybox", default=shutil.which("busybox") or "/bin/busybox")
    p.add_argument("--timeout", type=float, default=300, help="seconds for the whole guest run")
    p.add_argument("--boot-timeout", type=float, default=90, help="seconds until /init must speak")
    p.add_argument("--filter", help="run only guest tests whose file name contains this")
    p.add_argument("-v", "--verbose", action="store_true", help="echo the guest console")
    args = p.parse_args()
    args.logdir = os.path.abspath(args.logdir)
    sys.exit(run(args))


if __name__ == "__main__":
    main()
