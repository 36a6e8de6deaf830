# SPDX-License-Identifier: MIT
"""What the Python integration tests share: test cases as functions, checks
that collect failures instead of stopping at the first, and the runner that
prints one line per case and the 'N passed, N failed' line tools/count-tests.py
reads (a case is a test function, not each check inside it). A case that
raises Skip before any check failed is counted as skipped (', N skipped').
"""
import os
import re
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
