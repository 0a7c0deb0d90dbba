# SPDX-License-Identifier: MIT
# Hostile datagrams for tests/test-hostile.sh, on one of ringd's SOCK_SEQPACKET
# sockets: ctl.py SOCKET KIND [N].  Exit 0 when ringd behaved as the kind
# expects (for one datagram: it closed the connection within 5 s), else 1.
import array
import os
import random
import socket
import struct
import sys

HDR = struct.Struct("=IIHHII")  # type, len, flags, reserved, peer, pid (ipc/msg.h)
REQUEST = 1  # RK_CTL_REQUEST (ipc/proto.h)
rng = random.Random(1234)


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(path)
    return s


def closed_by_peer(s):
    """True when the peer closes within 5 s (what it sent before is skipped)."""
    s.settimeout(5)
    try:
        while True:
            if not s.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def one(path, kind):
    s = connect(path)
    if kind == "random":
        s.send(bytes(rng.getrandbits(8) for _ in range(200)))
    elif kind == "truncated":
        s.send(HDR.pack(REQUEST, 40, 0, 0, 1, os.getpid())[:7])
    elif kind == "oversized":
        s.send(HDR.pack(REQUEST, 1 << 30, 0, 0, 1, os.getpid()))
    elif kind == "short-payload":
        s.send(HDR.pack(REQUEST, 100, 0, 0, 1, os.getpid()) + b"p" * 50)
    elif kind == "not-plist":
        body = b"this is not a property list \x00\xff\xfe"
        s.send(HDR.pack(REQUEST, len(body), 0, 0, 1, os.getpid()) + body)
    elif kind == "wrong-type":
        s.send(HDR.pack(99, 1, 0, 0, 1, os.getpid()) + b"x")
    elif kind == "fd":  # an fd the header does not announce
        fd = os.open("/dev/null", os.O_RDONLY)
        s.sendmsg([HDR.pack(REQUEST, 1, 0, 0, 1, os.getpid()) + b"x"],
                  [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))])
        os.close(fd)
    else:
        raise SystemExit("unknown kind " + kind)
    ok = closed_by_peer(s)
    s.close()
    if not ok:
        print(kind + ": ringd kept the connection")
    return ok


def flood(path, n):
    for k in range(n):
        s = connect(path)
        if k % 3 == 0:
            try:  # es.sock refuses an unadmitted peer at once: its end may be gone already
                s.send(bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 64))))
            except (BrokenPipeError, ConnectionResetError):
                pass
        s.close()
    return True


def es_garbage(path):
    # not an admitted client: ringd refuses at the door (REFUSED, then closes), whatever is sent
    for k in range(20):
        s = connect(path)
        try:
            s.send(bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 300))))
        except (BrokenPipeError, ConnectionResetError):
            pass
        if not closed_by_peer(s):
            print("es.sock kept an unadmitted peer")
            return False
        s.close()
    return True


def main():
    path, kind = sys.argv[1], sys.argv[2]
    if kind == "flood":
        ok = flood(path, int(sys.argv[3]))
    elif kind == "es-garbage":
        ok = es_garbage(path)
    else:
        ok = one(path, kind)
    sys.exit(0 if ok else 1)


main()
