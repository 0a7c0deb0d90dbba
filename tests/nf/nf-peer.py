#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# The far end of tests/test-nf.sh, run inside a network namespace:
#   nf-peer.py serve ADDR TCPPORTS UDPPORTS   accept TCP connections (closed at once), echo UDP datagrams
#   nf-peer.py tcp ADDR PORT                  connect within 2 s: exit 0, else 1
#   nf-peer.py udp ADDR PORT                  one datagram, its echo within 2 s: exit 0, else 1
import selectors, socket, sys

def serve(addr, tcp_ports, udp_ports):
    sel = selectors.DefaultSelector()
    for p in filter(None, tcp_ports.split(',')):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, int(p)))
        s.listen(64)
        sel.register(s, selectors.EVENT_READ, 'tcp')
    for p in filter(None, udp_ports.split(',')):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((addr, int(p)))
        sel.register(s, selectors.EVENT_READ, 'udp')
    print('ready', flush=True)
    while True:
        for key, _ in sel.select():
            if key.data == 'tcp':
                c, _ = key.fileobj.accept()
                c.close()
            else:
                data, peer = key.fileobj.recvfrom(2048)
                key.fileobj.sendto(data, peer)

def main():
    mode, addr = sys.argv[1], sys.argv[2]
    if mode == 'serve':
        serve(addr, sys.argv[3], sys.argv[4])
    elif mode == 'tcp':
        try:
            socket.create_connection((addr, int(sys.argv[3])), timeout=2).close()
        except OSError:
            sys.exit(1)
    elif mode == 'udp':
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(2)
        s.sendto(b'ping', (addr, int(sys.argv[3])))
        try:
            sys.exit(0 if s.recv(16) == b'ping' else 1)
        except OSError:
            sys.exit(1)

main()
