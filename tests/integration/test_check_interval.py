#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The proxy's active health checks keep --check-interval, below a second too.

Usage: test_check_interval.py RINGER_BINARY

Each case starts a ringer --mode proxy in front of an upstream this script
runs, which counts the connections it accepts (each check is one connect),
and counts them over a bounded window. The bounds are wide for a shared
machine, and still apart from the wrong schedules: checks riding a
once-a-second tick give one a second whatever the interval, checks on every
100 ms tick ten. Prints one line per case and exits 1 if any failed.
"""
import signal
import socket
import subprocess
import sys
import threading
import time

from cases import check, ringer_ended, run, wait_for

RINGER = sys.argv[1] if len(sys.argv) > 1 else "build/src/server/ringer"
WINDOW = 3.0  # seconds counted


class Upstream:
    """Accepts and closes, counting the connections."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            c.close()


def checks_per_second(interval_ms, shards):
    """Checks a second an upstream sees from a ringer with --check-interval interval_ms."""
    up = Upstream()
    p = subprocess.Popen([RINGER, "--listen", "127.0.0.1:0", "--no-pin", "--shards", str(shards),
                          "--mode", "proxy", "--upstream", f"127.0.0.1:{up.port}",
                          "--check-interval", str(interval_ms)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    rate = None
    try:
        started = wait_for(lambda: up.accepted > 0, 5)
        check(started, f"--check-interval {interval_ms}: no check within 5 s")
        if started:
            n0, t0 = up.accepted, time.monotonic()
            time.sleep(WINDOW)
            n1, t1 = up.accepted, time.monotonic()
            rate = (n1 - n0) / (t1 - t0)
            print(f"  --check-interval {interval_ms} ms, {shards} shard(s): {n1 - n0} checks in "
                  f"{t1 - t0:.2f} s, {rate:.1f} a second (want {1000 / interval_ms:.1f})")
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        try:
            out, err = p.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        ringer_ended(f"--check-interval {interval_ms}", p.returncode, out, err)
        up.sock.close()
    return rate


def test_interval_200ms():
    """200 ms: about 5 checks a second (once a second would be 1, every tick 10)."""
    rate = checks_per_second(200, 2)
    check(rate is not None and 3.5 <= rate <= 7.0,
          f"--check-interval 200: {rate} checks a second, want about 5 (3.5 to 7)")


def test_interval_150ms():
    """150 ms, not a multiple of the 100 ms tick: about 6.7 a second on average (each check
    due 150 ms after the last was due, not after the tick that ran it: that would be 5)."""
    rate = checks_per_second(150, 1)
    check(rate is not None and 5.6 <= rate <= 8.5,
          f"--check-interval 150: {rate} checks a second, want about 6.7 (5.6 to 8.5)")


def test_interval_1s():
    """1000 ms stays once a second: the finer timer does not check more often."""
    rate = checks_per_second(1000, 1)
    check(rate is not None and 0.6 <= rate <= 1.4,
          f"--check-interval 1000: {rate} checks a second, want about 1 (0.6 to 1.4)")


TESTS = [test_interval_200ms, test_interval_150ms, test_interval_1s]


if __name__ == "__main__":
    run(TESTS)
