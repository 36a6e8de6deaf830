# SPDX-License-Identifier: MIT
"""What the Python integration tests share: test cases as functions, checks
that collect failures instead of stopping at the first, and the runner that
prints one line per case and the 'N passed, N failed' line tools/count-tests.py
reads (a case is a test function, not each check inside it). A case that
raises Skip before any check failed is counted as skipped (', N skipped').
"""
import socket
import sys
import time

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


def run(tests, cleanup=None):
    """Runs every case, prints the summary, exits 1 if any failed."""
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
