#!/usr/bin/env python3
"""Counts every test case in one or more meson testlog.json files, against the
cases each test program says it holds.

`meson test` counts programs; a program holds many cases. Each program that
can name its cases is asked to, before its output is read: the command meson
ran (from testlog.json, in the build directory, with meson's environment)
runs again with RINGER_LIST_CASES=1 in its environment, and prints one case
name a line without running any. Two kinds of program can:

  - cmocka programs: they link tests/cmocka_list.c, which answers for
    cmocka_run_group_tests() (found by the string RINGER_LIST_CASES in the
    binary);
  - Python scripts on tests/integration/cases.py (found by 'from cases
    import' in the script): cases.run() answers (also to --list).

Then each listed case is judged by the lines the run printed (cmocka's
'[       OK ] NAME', '[  FAILED  ] NAME', '[  SKIPPED ] NAME'; cases.py's
'ok   NAME (..)', 'FAIL NAME (..)', 'skip NAME: ..'). A listed case the run
never reached (the program crashed, was killed at meson's timeout, or left
early) is a failure, by name; if the program exited 77 (skip), it is
skipped. A program that failed with every case passed (a leak report at
exit, a crash after the last case) is one more failure, 'program'.

Programs with a count of their own, which cannot list: those printing
'N passed, N failed[, N skipped]' (test_bench_json.py's 7 cases, the format
check, the manual checks) are counted as they say; the rest are one case each
(a fuzz-replay program replaying its whole corpus, a fuzz run, the soak, the
USDT and profile scripts), passed, failed or skipped (exit 77) as meson saw
it.

Usage: count-tests.py LABEL=testlog.json [LABEL=testlog.json ...]
Prints a line per program, the failed, unrun and skipped cases by name, and
last one line saying what it counted:
  D distinct cases x K builds [+ N in LABEL only] [+ N fuzz runs] [+ N
  program failures]: N passed, N failed, N skipped
(a case is the same in two builds when its program and name are). Exits 1 if
anything failed or nothing ran.
"""
import json
import os
import re
import signal
import subprocess
import sys
from collections import Counter

CASE_LINES = [
    (re.compile(r"^\[       OK \] (\S+)\s*$", re.M), "passed"),
    (re.compile(r"^\[  FAILED  \] (?!\d+ test\(s\))(\S+)\s*$", re.M), "failed"),
    (re.compile(r"^\[  SKIPPED \] (?!\d+ test\(s\))(\S+)\s*$", re.M), "skipped"),
    (re.compile(r"^ok   ([A-Za-z_]\w*) \([\d.]+ s\)\s*$", re.M), "passed"),
    (re.compile(r"^FAIL ([A-Za-z_]\w*) \([\d.]+ s\)\s*$", re.M), "failed"),
    (re.compile(r"^skip ([A-Za-z_]\w*): ", re.M), "skipped"),
]
STARTED = re.compile(r"^\[ RUN      \] (\S+)\s*$", re.M)
CMOCKA = re.compile(r"^\[  (PASSED|FAILED|SKIPPED) *\] (\d+) test\(s\)", re.M)
PLAIN = re.compile(r"^(?:\w+: )?(\d+) passed, (\d+) failed(?:, (\d+) skipped)?\s*$", re.M)
# How a group of cases held by one label alone is named in the closing line.
NOUNS = {"fuzz": ("fuzz run", "fuzz runs")}
LIST_TIMEOUT = 60


def listable(command):
    """Whether the program meson ran can name its cases (see the top of this file)."""
    if not command:
        return False
    for arg in command[1:3]:
        if arg.endswith(".py"):
            try:
                with open(arg, errors="replace") as f:
                    return "from cases import" in f.read()
            except OSError:
                return False
    try:
        with open(command[0], "rb") as f:
            return b"RINGER_LIST_CASES" in f.read()
    except OSError:
        return False


def list_cases(entry, build):
    """(names, why): the cases the program holds, or None and why it could not say;
    names is [] when it skips (exit 77) here."""
    env = dict(entry.get("env") or os.environ, RINGER_LIST_CASES="1")
    try:
        p = subprocess.run(entry["command"], env=env, cwd=build, capture_output=True,
                           text=True, timeout=LIST_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, f"{type(e).__name__}: {e}"
    if p.returncode == 77:
        return [], None
    if p.returncode != 0:
        last = (p.stderr or p.stdout).strip().splitlines()[-1:] or [""]
        return None, f"exit {p.returncode}: {last[0][-300:]}"
    return [line.strip() for line in p.stdout.splitlines() if line.strip()], None


def how_ended(entry):
    """How meson saw the program end, in words."""
    rc = entry.get("returncode")
    if entry["result"] == "TIMEOUT":
        return "it timed out"
    if isinstance(rc, int) and rc < 0:
        try:
            return f"it was killed by {signal.Signals(-rc).name}"
        except ValueError:
            return f"it was killed by signal {-rc}"
    return f"it exited {rc}"


def judge_listed(names, text, result):
    """{case: outcome} for a program that listed its cases: what its output says of each,
    'not run' for a listed case it never reached."""
    seen = {}
    for regex, outcome in CASE_LINES:
        for case in regex.findall(text):
            # cmocka names a failed case twice (as it fails and in the closing list).
            if seen.get(case) != "failed":
                seen[case] = outcome
    cases = {}
    for case in names:
        cases[case] = seen.pop(case, "skipped" if result == "SKIP" else "not run")
    cases.update(seen)  # printed but not listed: counted as printed
    return cases


def judge_unlisted(text, result, ok):
    """(passed, failed, skipped, own) for a program that cannot list: its own count, if it
    printed one (own), else the program as one case."""
    found = CMOCKA.findall(text)
    if found:
        n = {"PASSED": 0, "FAILED": 0, "SKIPPED": 0}
        for kind, k in found:
            n[kind] += int(k)
        return n["PASSED"], n["FAILED"], n["SKIPPED"], True
    plain = PLAIN.findall(text)
    if plain:
        a, b, c = plain[-1]
        return int(a), int(b), int(c or 0), True
    if result == "SKIP":
        return 0, 0, 1, False
    return (1, 0, 0, False) if ok else (0, 1, 0, False)


def count(entry, build):
    """({case key: outcome}, problems, note) for one program's run."""
    text = (entry.get("stdout") or "") + "\n" + (entry.get("stderr") or "")
    result = entry["result"]
    ok = result in ("OK", "EXPECTEDFAIL")
    problems, cases, note = [], {}, ""
    names = why = None
    if listable(entry.get("command")):
        names, why = list_cases(entry, build)
        if names is None:
            cases["(cannot list)"] = "failed"
            problems.append(("failed", f"(cannot list its cases: {why})"))
    if names is not None:
        cases = judge_listed(names, text, result)
        unrun = [c for c, o in cases.items() if o == "not run"]
        if unrun:
            note = f" ({len(unrun)} never ran: {how_ended(entry)})"
    else:
        p, f, s, own = judge_unlisted(text, result, ok)
        cases.update({f"#{i}": "passed" for i in range(p)})
        cases.update({f"#{p + i}": "failed" for i in range(f)})
        cases.update({f"#{p + f + i}": "skipped" for i in range(s)})
        if f:
            problems.append(("failed", f"({f} of its own cases: its output names them)" if own
                             else f"(program: {how_ended(entry)})"))
    failed = sum(o in ("failed", "not run") for c, o in cases.items() if c != "(cannot list)")
    if not ok and result != "SKIP" and failed == 0:
        # Every case passed, yet the program failed: a report at exit, a late crash.
        cases["(program)"] = "failed"
        problems.append(("failed", f"(program: {how_ended(entry)} after its cases)"))
    if result == "SKIP" and not any(o == "skipped" for o in cases.values()):
        cases["(program)"] = "skipped"
        problems.append(("skipped", "(program: exit 77)"))
    started = set(STARTED.findall(text))
    for case, outcome in cases.items():
        if outcome == "not run":
            where = "started, never finished" if case in started else "never reached"
            problems.append(("not run", f"{case} ({where}: {how_ended(entry)})"))
        elif outcome in ("failed", "skipped") and not case.startswith(("#", "(")):
            problems.append((outcome, case))
    return cases, problems, note


def closing(held, labels):
    """The closing line's first half: what was counted, from {case key: labels}."""
    groups = Counter(frozenset(ls) for key, ls in held.items() if not key[1].startswith("("))
    programs = sum(len(ls) for key, ls in held.items() if key[1].startswith("("))
    shared = {label for ls in groups if len(ls) > 1 for label in ls}
    multi = sum(len(ls) > 1 for ls in groups)

    def order(group):  # shared cases first, then each build's own, in the order given
        ls, n = group
        first = min(labels.index(label) for label in ls)
        return (0 if len(ls) > 1 else 1 if first_label(ls) in shared else 2, -len(ls), first, -n)

    def first_label(ls):
        return next(iter(ls))

    terms = []
    for ls, n in sorted(groups.items(), key=order):
        if len(ls) > 1:
            # Named by their builds only when two groups could be taken for each other.
            which = f" ({', '.join(label for label in labels if label in ls)})" if multi > 1 else ""
            terms.append(f"{n} distinct case{'s' if n > 1 else ''} x {len(ls)} builds{which}")
        else:
            label = first_label(ls)
            one, many = NOUNS.get(label, (f"case in {label}", f"cases in {label}"))
            terms.append(f"{n} in {label} only" if label in shared
                         else f"{n} {one if n == 1 else many}")
    if programs:
        terms.append(f"{programs} program{'s' if programs > 1 else ''} failed or skipped "
                     f"beyond {'their' if programs > 1 else 'its'} cases")
    return " + ".join(terms) or "nothing"


def main(argv):
    total = Counter()
    held = {}
    problems = []
    labels = []
    for arg in argv[1:]:
        label, _, path = arg.rpartition("=")
        label = label or path
        labels.append(label)
        build = os.path.dirname(os.path.dirname(os.path.abspath(path)))
        try:
            lines = open(path).read().splitlines()
        except OSError as e:
            print(f"{label}: cannot read {path}: {e}")
            held.setdefault((f"{label}: {path}", "(program)"), set()).add(label)
            total["failed"] += 1
            continue
        for line in lines:
            if not line.strip():
                continue
            entry = json.loads(line)
            cases, probs, note = count(entry, build)
            name = f"{label} {entry['name']}"
            n = Counter("failed" if o == "not run" else o for o in cases.values())
            print(f"  {name}: {n['passed']} passed, {n['failed']} failed, "
                  f"{n['skipped']} skipped{note}")
            total.update(n)
            for case in cases:
                held.setdefault((entry["name"], case), set()).add(label)
            problems += [f"  {kind}: {name}: {case}" for kind, case in probs]
    for line in problems:
        print(line)
    print(f"{closing(held, labels)}: {total['passed']} passed, {total['failed']} failed, "
          f"{total['skipped']} skipped")
    return 1 if total["failed"] or total["passed"] == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
