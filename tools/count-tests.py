#!/usr/bin/env python3
"""Counts every test case in one or more meson testlog.json files.

`meson test` counts test programs; a cmocka program holds many cases and
prints its own summary, and a script may print 'N passed, N failed'. This
reads those summaries so the closing line counts cases, and falls back to
the program's own result where it printed neither. A program that crashed
after its summary, or timed out, counts as one more failure.

Usage: count-tests.py LABEL=testlog.json [LABEL=testlog.json ...]
Prints one line per program, the failed and skipped ones by name, and last
'N passed, N failed, N skipped'. Exits 1 if anything failed or nothing ran.
"""
import json
import re
import sys

CMOCKA = re.compile(r"^\[  (PASSED|FAILED|SKIPPED) *\] (\d+) test\(s\)", re.M)
CMOCKA_NAMED = re.compile(r"^\[  (FAILED|SKIPPED) *\] (?!\d+ test\(s\))(\S+)", re.M)
PLAIN = re.compile(r"^(?:\w+: )?(\d+) passed, (\d+) failed(?:, (\d+) skipped)?\s*$", re.M)


def count(entry):
    text = (entry.get("stdout") or "") + "\n" + (entry.get("stderr") or "")
    result = entry["result"]
    ok = result in ("OK", "EXPECTEDFAIL")
    p = f = s = 0
    names = []
    found = CMOCKA.findall(text)
    if found:
        for kind, n in found:
            n = int(n)
            if kind == "PASSED":
                p += n
            elif kind == "FAILED":
                f += n
            else:
                s += n
        names = [(k, n) for k, n in CMOCKA_NAMED.findall(text)]
    else:
        plain = PLAIN.findall(text)
        if plain:
            a, b, c = plain[-1]
            p, f, s = int(a), int(b), int(c or 0)
        elif result == "SKIP":
            s = 1
        elif ok:
            p = 1
    if not ok and result != "SKIP" and f == 0:
        f += 1  # crashed, timed out, or failed without saying which case
        names.append(("FAILED", f"(program: {result.lower()})"))
    if result == "SKIP" and s == 0:
        s = 1
    return p, f, s, names


def main(argv):
    total = [0, 0, 0]
    problems = []
    for arg in argv[1:]:
        label, _, path = arg.rpartition("=")
        try:
            lines = open(path).read().splitlines()
        except OSError as e:
            print(f"{label or path}: cannot read {path}: {e}")
            total[1] += 1
            continue
        for line in lines:
            if not line.strip():
                continue
            entry = json.loads(line)
            p, f, s, names = count(entry)
            name = f"{label + ' ' if label else ''}{entry['name']}"
            print(f"  {name}: {p} passed, {f} failed, {s} skipped")
            total[0] += p
            total[1] += f
            total[2] += s
            for kind, case in names:
                problems.append(f"  {kind.lower()}: {name}: {case}")
            if entry["result"] == "SKIP":
                problems.append(f"  skipped: {name} (exit 77)")
    for line in problems:
        print(line)
    print(f"{total[0]} passed, {total[1]} failed, {total[2]} skipped")
    return 1 if total[1] or total[0] == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
