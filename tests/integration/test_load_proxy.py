#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""ringer-load --mode echo, unchanged, through an L4 proxy: ringer --mode proxy
and HAProxy (mode tcp), each in front of ringer --mode echo.

Usage: test_load_proxy.py RINGER RINGER_LOAD

Each test function starts what it needs on 127.0.0.1 (ephemeral ports, or a
free port picked for HAProxy's configuration), runs ringer-load with --json
and reads its figures: every message echoed and verified byte for byte (0
errors, 0 mismatches, requests > 0). The proxy's own counters, printed when
it exits, must show the bytes went through it. Everything is stopped by PID.
Prints one line per test function and exits 1 if any failed.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from cases import RingerProc, check, free_port, run

RINGER = sys.argv[1] if len(sys.argv) > 1 else "build/src/server/ringer"
LOAD = sys.argv[2] if len(sys.argv) > 2 else "build/src/load/ringer-load"
SIZES = {"64": 64, "4k": 4096, "64k": 65536}


class Ringer(RingerProc):
    """A ringer process; its port from the first stdout line, its output collected."""

    def __init__(self, *args):
        super().__init__([RINGER, "--listen", "127.0.0.1:0", "--shards", "1", "--no-pin", *args],
                         "ringer " + " ".join(args[:2]))

    def stop(self, timeout=15):
        """As RingerProc.stop; the exit status None if it had to be killed."""
        code = super().stop(timeout)
        return None if code == -signal.SIGKILL else code


class Haproxy:
    """Debian's HAProxy in the foreground, mode tcp, one backend server."""

    def __init__(self, upstream_port):
        self.dir = tempfile.mkdtemp(prefix="ringer-load-haproxy-")
        self.port = free_port()
        path = os.path.join(self.dir, "haproxy.cfg")
        with open(path, "w") as f:
            f.write("global\n  log stdout format raw local0 info\n"
                    "defaults\n  mode tcp\n  log global\n  option tcplog\n"
                    "  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n"
                    f"frontend fe\n  bind 127.0.0.1:{self.port}\n  default_backend be\n"
                    f"backend be\n  server s1 127.0.0.1:{upstream_port}\n")
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", path], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.out = []
        threading.Thread(target=lambda: self.out.extend(self.proc.stdout), daemon=True).start()

    def wait_ready(self):
        import socket
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def load(port, *args):
    """ringer-load --mode echo against port; (exit status, its JSON or None)."""
    p = subprocess.run([LOAD, "--target", f"127.0.0.1:{port}", "--mode", "echo", "--json",
                        *args], capture_output=True, text=True, timeout=60)
    try:
        return p.returncode, json.loads(p.stdout)
    except ValueError:
        print(f"  ringer-load said: {p.stderr[-600:]}")
        return p.returncode, None


def verified(what, rc, d):
    """Every message came back whole: exit 0, requests > 0, no error of any kind."""
    ok = check(rc == 0 and d is not None, f"{what}: ringer-load exit status {rc}")
    if not d:
        return False
    e = d["errors"]
    ok &= check(d["requests"] > 0, f"{what}: no requests")
    ok &= check(e["mismatch"] == 0, f"{what}: {e['mismatch']} echoes differed")
    ok &= check(e["total"] == 0, f"{what}: errors {e}")
    lat = d["latency_us"]
    print(f"  {what}: {d['requests']} requests, {d['requests_per_s']:.0f}/s, "
          f"{d['mb_per_s_rx']:.1f} MB/s back, p50 {lat['p50']:.0f} us, p99 {lat['p99']:.0f} us")
    return ok


def closed_loop_sizes(port, label):
    """The closed-loop runs: each size, 4 in flight per connection, 16 connections, 2 s."""
    sent = 0
    for name, size in SIZES.items():
        rc, d = load(port, "--size", name, "--pipeline", "4", "--connections", "16",
                     "--duration", "2s")
        if verified(f"{label}, {name}", rc, d):
            sent += d["requests"] * size
    return sent


def upstream_bytes(lines):
    """failures, bytes_in and bytes_out of the proxy's upstream line in its exit stats."""
    for line in lines:
        m = re.search(r"upstream \S+ +up .*failures=(\d+) bytes_in=(\d+) bytes_out=(\d+)", line)
        if m:
            return tuple(int(x) for x in m.groups())
    return None


def test_ringer_proxy_echo():
    """ringer-load echo of 64 B, 4 KiB and 64 KiB through ringer --mode proxy."""
    echo = Ringer("--mode", "echo")
    proxy = None
    try:
        proxy = Ringer("--mode", "proxy", "--upstream", f"127.0.0.1:{echo.port}")
        sent = closed_loop_sizes(proxy.port, "ringer proxy")
    finally:
        if proxy:
            check(proxy.stop() == 0, "proxy exit status")
        check(echo.stop() == 0, "echo server exit status")
    up = upstream_bytes(proxy.out) if proxy else None
    check(up is not None, "the proxy's exit stats have no upstream line")
    if up:
        failures, b_in, b_out = up
        check(failures == 0, f"upstream connect failures: {failures}")
        # Each verified message crossed the proxy both ways (and more that was in flight).
        check(b_out >= sent and b_in >= sent,
              f"the proxy relayed {b_out} bytes out and {b_in} back, < the {sent} verified")


def test_haproxy_echo():
    """The same runs through HAProxy (mode tcp) in front of ringer --mode echo."""
    if not shutil.which("haproxy"):
        check(False, "haproxy is not installed")
        return
    echo = Ringer("--mode", "echo")
    h = Haproxy(echo.port)
    try:
        if check(h.wait_ready(), f"haproxy did not start: {h.out[-5:]}"):
            closed_loop_sizes(h.port, "haproxy")
    finally:
        h.stop()
        check(echo.stop() == 0, "echo server exit status")


def test_open_loop_through_proxy():
    """--rate: the schedule is kept through ringer --mode proxy (1 KiB at 4,000/s, 64 KiB at 500/s):
    2 s of it (--requests), every one answered, in the schedule's time (no less, at most 1.5x)."""
    echo = Ringer("--mode", "echo")
    proxy = None
    try:
        proxy = Ringer("--mode", "proxy", "--upstream", f"127.0.0.1:{echo.port}")
        for size, rate, pipeline in (("1k", 4000, "4"), ("64k", 500, "1")):
            n = 2 * rate
            rc, d = load(proxy.port, "--size", size, "--rate", str(rate), "--pipeline", pipeline,
                         "--connections", "16", "--requests", str(n))
            what = f"open loop {size} at {rate}/s"
            if verified(what, rc, d):
                check(d["loop"] == "open", f"{what}: ran as {d['loop']}")
                check(d["requests"] == n, f"{what}: {d['requests']} requests answered of {n}")
                # The open loop cannot be faster than its schedule: the last is due at
                # (n - 1) / rate s. Slower is a loaded machine's lag: 1.5 times leaves a
                # third of the run for it, and a rate halved still fails.
                due = (n - 1) / rate
                check(due - 1e-6 <= d["duration_s"] <= 1.5 * due,
                      f"{what}: {n} in {d['duration_s']} s, the schedule's {due} s")
    finally:
        if proxy:
            check(proxy.stop() == 0, "proxy exit status")
        check(echo.stop() == 0, "echo server exit status")


TESTS = [test_ringer_proxy_echo, test_haproxy_echo, test_open_loop_through_proxy]

if __name__ == "__main__":
    run(TESTS)
