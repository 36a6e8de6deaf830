# SPDX-License-Identifier: MIT
"""What the Python integration tests share: test cases as functions, checks
that collect failures instead of stopping at the first, and the runner that
prints one line per case and the 'N passed, N failed' line tools/count-tests.py
reads (a case is a test function, not each check inside it). A case that
raises Skip before any check failed is counted as skipped (', N skipped').
"""
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

failures = []


class Skip(Exception):
    """Raised by a case that cannot run here; counted apart, never as passed."""


def check(ok, what):
    """A failed check fails the running case; the case goes on to its next checks."""
    if not ok:
        failures.append(what)
        print("FAIL: " + what, flush=True)
    return ok


def wait_for(fn, timeout=5.0):
    """fn() until it is true or timeout seconds have passed; its last value."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.05)
    return fn()


def free_port():
    """A loopback port nobody listens on now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


SANITIZER = re.compile(r"ERROR: AddressSanitizer|runtime error:|LeakSanitizer")


def stats_at_exit(out):
    """The counters of the last stats dump in ringer's stdout ('ringer stats (N shards)' and
    lines of '  name  value  help', src/core/stats.c), by name; {} when there is none."""
    at = out.rfind("ringer stats (")
    if at < 0:
        return {}
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"^  (\w+) +(\d+)  ", out[at:], re.M)}


def ringer_ended(what, status, out, err, want=0, stale=0):
    """Judges how a ringer process ended, by check(): its exit status is want (0: it stopped
    on SIGTERM and drained; None: not judged, the caller says why: it was killed on purpose,
    or its status is not ours to see); no sanitizer report in its stdout or stderr; and its
    stats dump at exit (stdout) shows no illegal TCP transition and stale completions as the
    test expects (an int; None: not judged, the caller says why). A ringer that exited 0
    must have printed the dump. Returns the dump's counters ({} without one)."""
    if want is not None:
        check(status == want, f"{what}: exit status {status}, want {want}"
              + (" (killed: it did not stop in time)" if status == -9 else ""))
    text = out + err
    bad = SANITIZER.search(text)
    check(bad is None, f"{what}: a sanitizer report: " +
          (text[bad.start():bad.start() + 1500] if bad else ""))
    stats = stats_at_exit(out)
    if status == 0 or (want is None and status is None):
        check("illegal" in stats, f"{what}: no stats dump at exit: {out[-300:]!r}")
    if "illegal" in stats:
        check(stats["illegal"] == 0, f"{what}: {stats['illegal']} illegal TCP transitions")
        if stale is not None:
            check(stats.get("stale") == stale,
                  f"{what}: {stats.get('stale')} stale completions, want {stale}")
    return stats


class RingerProc:
    """A ringer whose stdout names its ports: argv started with stdout and stderr piped, .port
    from its 'listening on 127.0.0.1:PORT' line and, when admin, .admin from 'admin on
    127.0.0.1:PORT'; from then on reader threads collect its output, a line an item, in .out
    (the lines read at the start included) and .err. what names it in every check."""

    LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+)")
    ADMIN = re.compile(r"admin on 127\.0\.0\.1:(\d+)")

    def __init__(self, argv, what, admin=False):
        self.what = what
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.port = self.admin = None
        self.out, self.err = [], []
        while self.port is None or (admin and self.admin is None):
            line = self.proc.stdout.readline()
            if not line:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError(f"{what} did not start (exit {self.proc.returncode}): "
                                   f"{''.join(self.out)[-300:]}{self.proc.stderr.read()[-800:]}")
            self.out.append(line)
            m = self.LISTENING.match(line)
            if m and self.port is None:
                self.port = int(m.group(1))
            m = self.ADMIN.match(line)
            if m:
                self.admin = int(m.group(1))
        self.readers = [threading.Thread(target=self._read, args=(f, into), daemon=True)
                        for f, into in ((self.proc.stdout, self.out),
                                        (self.proc.stderr, self.err))]
        for t in self.readers:
            t.start()

    @staticmethod
    def _read(f, into):
        for line in f:
            into.append(line)

    def metrics(self):
        """The admin port's /metrics, as text."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/metrics", timeout=5) as r:
            return r.read().decode()

    def metric(self, name):
        """The value of the first series whose name and labels are name; None if absent."""
        for line in self.metrics().splitlines():
            if line.startswith(name + " "):
                return float(line.rsplit(" ", 1)[1])
        return None

    def stop(self, timeout=15):
        """SIGTERM (killed past timeout seconds); judges how it ended (ringer_ended) and
        returns its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for t in self.readers:
            t.join(5)
        ringer_ended(self.what, self.proc.returncode, "".join(self.out), "".join(self.err))
        return self.proc.returncode


def listing():
    """The runner is asked to name its cases, not run them: --list, or RINGER_LIST_CASES in
    the environment (as tools/count-tests.py asks every test program)."""
    return "--list" in sys.argv[1:] or bool(os.environ.get("RINGER_LIST_CASES"))


def run(tests, cleanup=None):
    """Runs every case, prints the summary, exits 1 if any failed. Listing (listing()):
    prints each case's name, one a line, and runs none."""
    if listing():
        print("\n".join(t.__name__ for t in tests), flush=True)
        if cleanup:
            cleanup()
        sys.exit(0)
    bad = skipped = 0
    for t in tests:
        before = len(failures)
        start = time.time()
        try:
            t()
        except Skip as e:
            if len(failures) == before:
                skipped += 1
                print(f"skip {t.__name__}: {e}", flush=True)
                continue
        except Exception as e:  # a crash in a case is that case's failure
            check(False, f"{t.__name__}: {type(e).__name__}: {e}")
        ok = len(failures) == before
        bad += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {t.__name__} ({time.time() - start:.1f} s)", flush=True)
    passed = len(tests) - bad - skipped
    print(f"{passed} passed, {bad} failed" + (f", {skipped} skipped" if skipped else ""))
    if cleanup:
        cleanup()
    sys.exit(1 if bad else 0)
