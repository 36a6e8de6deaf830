#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Timeouts at scale: 20,000 idle connections, each closed on time.

Usage: test_timers.py RINGER [--idle-ms MS] [--slack-ms MS]

ringer (echo, two shards) runs with --idle-timeout. Four client processes
of 5,000 connections each (a process may hold at most 20,000 descriptors
here; ringer's sockets live in its fixed-file tables), each from its own
loopback address, open their connections over two seconds, each sending
one byte and reading its echo: from then on the connection is idle. Each
watches for ringer's FIN on all of them (epoll; an event's time is when
epoll_wait returned) and reports, per connection, when it sent the byte,
read the echo and saw the EOF. ringer's last traffic on it lies between
the first two, so every connection must end with a FIN no sooner than the
timeout after the send, and no later than the timeout plus one tick
(100 ms) plus the slack this shared machine needs (--slack-ms) after the
read. The figures are printed: when ringer scanned a tenth of its table
per tick instead of keeping a timing wheel, closes came up to 1.5 s late.

Stops what it started by PID; prints one line per test and exits 1 if any
failed.
"""
import multiprocessing
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time

from cases import check, run

RINGER = sys.argv[1] if len(sys.argv) > 1 else "build/src/server/ringer"
ARGS = sys.argv[2:]
IDLE_MS = int(ARGS[ARGS.index("--idle-ms") + 1]) if "--idle-ms" in ARGS else 3000
SLACK_MS = int(ARGS[ARGS.index("--slack-ms") + 1]) if "--slack-ms" in ARGS else 400
TICK_MS = 100
EARLY_MS = 10  # ringer's clock is CLOCK_MONOTONIC_COARSE: up to a jiffy behind the clients'
CLIENTS = 4
PER_CLIENT = 5000
SPREAD_S = 2.0
IP_BIND_ADDRESS_NO_PORT = 24  # linux/in.h


def client(k, port, n, start_at, out):
    """Opens n connections, one echo each, spread over SPREAD_S; reports (idle, eof) per connection.

    EOFs are watched from the first connection on, so a slow start cannot make them look late.
    Client k connects from 127.0.0.(k + 2), the port picked at connect (IP_BIND_ADDRESS_NO_PORT):
    from one address, connect() scans ever longer for a free port once most are taken.
    """
    socks, sent_at, idle_at, eof_at, how = [], [], [], [], []
    ep = select.epoll()
    by_fd = {}

    def watch(timeout):
        events = ep.poll(timeout)
        now = time.monotonic()
        for fd, _ in events:
            i = by_fd.pop(fd)
            try:
                data = socks[i].recv(64)
                how[i] = "fin" if data == b"" else "data"
            except ConnectionResetError:
                how[i] = "reset"
            eof_at[i] = now
            ep.unregister(fd)
            socks[i].close()
        return len(events)

    try:
        for i in range(n):
            due = start_at + SPREAD_S * i / n
            watch(0)
            while time.monotonic() < due:
                watch(due - time.monotonic())
            s = socket.socket()
            s.settimeout(10)
            s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            s.bind((f"127.0.0.{k + 2}", 0))
            s.connect(("127.0.0.1", port))
            sent_at.append(time.monotonic())
            s.sendall(b"x")
            if s.recv(1) != b"x":
                raise RuntimeError("no echo")
            idle_at.append(time.monotonic())
            socks.append(s)
            eof_at.append(None)
            how.append("open")
            by_fd[s.fileno()] = i
            ep.register(s.fileno(), select.EPOLLIN)
        deadline = time.monotonic() + (IDLE_MS + 10000) / 1000
        while by_fd and time.monotonic() < deadline:
            watch(1.0)
        out.put((sent_at, idle_at, eof_at, how, None))
    except Exception as e:  # reported as the case's failure
        out.put(([], [], [], [], f"{type(e).__name__}: {e} after {len(socks)} connections"))
    finally:
        for s in socks:
            s.close()


class Ringer:
    def __init__(self, *args):
        self.proc = subprocess.Popen([RINGER, "--listen", "127.0.0.1:0", "--no-pin", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.match(r"listening on 127\.0\.0\.1:(\d+)", line)
        if not m:
            self.proc.kill()
            raise RuntimeError("ringer did not start: " + line + self.proc.stderr.read()[-1000:])
        self.port = int(m.group(1))
        self.err = []
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        threading.Thread(target=lambda: self.err.extend(self.proc.stderr), daemon=True).start()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def percentile(values, p):
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def test_idle_20k_on_time():
    # Two shards of at most 12,000: each fixed-file table fits under the descriptor limit.
    r = Ringer("--shards", "2", "--max-conns", "12000", "--idle-timeout", str(IDLE_MS))
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    start_at = time.monotonic() + 0.5
    procs = [ctx.Process(target=client, args=(k, r.port, PER_CLIENT, start_at, out))
             for k in range(CLIENTS)]
    for p in procs:
        p.start()
    results = []
    try:
        for _ in procs:
            results.append(out.get(timeout=SPREAD_S + IDLE_MS / 1000 + 60))
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
        status = r.stop()
    check(status == 0, f"ringer exited {status}")
    # ringer's last traffic on a connection lies between the echo's send and its read.
    late, early, kinds = [], [], {}
    for sent_at, idle_at, eof_at, how, err in results:
        check(err is None, f"a client failed: {err}")
        for i, t in enumerate(eof_at):
            kinds[how[i]] = kinds.get(how[i], 0) + 1
            if how[i] == "fin":
                late.append((t - idle_at[i]) * 1000 - IDLE_MS)
                early.append((t - sent_at[i]) * 1000 - IDLE_MS)
    total = CLIENTS * PER_CLIENT
    check(kinds.get("fin", 0) == total, f"ends by kind: {kinds}, {total} expected to end with a FIN")
    if not late:
        return
    late.sort()
    print(f"  {len(late)} connections, idle timeout {IDLE_MS} ms; EOF after the timeout counted "
          f"from the echo's read, ms: min {late[0]:.0f}, p50 {percentile(late, 50):.0f}, "
          f"p99 {percentile(late, 99):.0f}, max {late[-1]:.0f} (at most {TICK_MS + SLACK_MS}); "
          f"from its send: min {min(early):.0f} (at least {-EARLY_MS})", flush=True)
    check(min(early) >= -EARLY_MS,
          f"a connection closed {-min(early):.0f} ms before its idle timeout")
    check(late[-1] <= TICK_MS + SLACK_MS,
          f"a connection closed {late[-1]:.0f} ms after its idle timeout "
          f"(one tick is {TICK_MS} ms, slack {SLACK_MS} ms)")


if __name__ == "__main__":
    run([test_idle_20k_on_time])
