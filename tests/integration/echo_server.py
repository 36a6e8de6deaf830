#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""An echo server independent of ringer, for testing ringer-load.

Prints "listening on 127.0.0.1:PORT" once ready. On SIGTERM it prints
"stats bytes=B connections=C sources=S" (S: distinct client addresses) and exits, so a test can compare what the
server saw with what the client reports. --corrupt-at N flips one byte at
offset N of everything echoed (over all connections), to prove the client
notices.
"""
import argparse
import selectors
import signal
import socket
import sys

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--corrupt-at", type=int, default=-1)
    args = ap.parse_args()

    fam = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    ls = socket.socket(fam, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((args.host, 0))
    ls.listen(1024)
    ls.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(ls, selectors.EVENT_READ, None)
    stats = {"bytes": 0, "connections": 0}
    sources = set()
    corrupt = {"left": args.corrupt_at}
    running = [True]

    def stop(*_):
        running[0] = False
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    port = ls.getsockname()[1]
    shown = "[%s]" % args.host if fam == socket.AF_INET6 else args.host
    print("listening on %s:%d" % (shown, port), flush=True)

    while running[0]:
        for key, _ in sel.select(timeout=0.1):
            if key.data is None:
                try:
                    c, peer = ls.accept()
                except BlockingIOError:
                    continue
                c.setblocking(True)
                c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                stats["connections"] += 1
                sources.add(peer[0])
                sel.register(c, selectors.EVENT_READ, True)
                continue
            c = key.fileobj
            try:
                data = c.recv(65536)
            except OSError:
                data = b""
            if not data:
                sel.unregister(c)
                c.close()
                continue
            stats["bytes"] += len(data)
            left = corrupt["left"]
            if 0 <= left < len(data):
                data = bytearray(data)
                data[left] ^= 0x55
                data = bytes(data)
                corrupt["left"] = -1
            elif left >= 0:
                corrupt["left"] -= len(data)
            try:
                c.sendall(data)
            except OSError:
                sel.unregister(c)
                c.close()
    print("stats bytes=%d connections=%d sources=%d"
          % (stats["bytes"], stats["connections"], len(sources)), flush=True)

if __name__ == "__main__":
    sys.exit(main())
