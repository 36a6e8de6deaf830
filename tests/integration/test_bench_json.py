#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Checks that our benchmark harness speaks Google Benchmark's JSON.

The point of bench/bench.c printing Google Benchmark 1.7's formats is that
Google Benchmark's compare.py can compare two builds of ringer. This test
holds the harness to that: it runs a benchmark binary (argv[1]) twice with
repetitions, checks the JSON carries every field compare.py reads with
finite numbers, checks a few flags behave as Google Benchmark's do, and then
runs compare.py itself on the two files.

Run by meson with Debian's /usr/bin/python3, which is where compare.py's
scipy and numpy live. Exit 77 (skip) only when compare.py is not installed
at all; anything else that goes wrong is a failure.
"""
import json
import math
import os
import subprocess
import sys
import tempfile

COMPARE = os.environ.get("COMPARE_PY", "/usr/share/benchmark/compare.py")
UNITS = ("ns", "us", "ms", "s")
STATS = ("mean", "median", "stddev", "cv")
REPS = 3

# Failures of the test case running now; a case passes when it collects none.
# The count at the end is of test cases, not of the field checks inside them.
case_failures = []


def check(ok, what):
    if not ok:
        case_failures.append(what)
        print("FAIL: " + what)


def finite(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def run_bench(exe, *flags):
    return subprocess.run([exe, *flags], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=120)


def check_context(ctx, path):
    for key in ("date", "host_name", "executable", "library_build_type"):
        check(isinstance(ctx.get(key), str) and ctx[key] != "",
              "%s: context.%s is a non-empty string" % (path, key))
    check(isinstance(ctx.get("num_cpus"), int) and ctx["num_cpus"] > 0,
          "%s: context.num_cpus is a positive integer" % path)
    check(finite(ctx.get("mhz_per_cpu")), "%s: context.mhz_per_cpu is a number" % path)
    check(isinstance(ctx.get("cpu_scaling_enabled"), bool),
          "%s: context.cpu_scaling_enabled is a boolean" % path)
    caches = ctx.get("caches")
    check(isinstance(caches, list), "%s: context.caches is a list" % path)
    for c in caches or []:
        check(isinstance(c.get("type"), str) and all(
            isinstance(c.get(k), int) for k in ("level", "size", "num_sharing")),
            "%s: cache entry %r has type, level, size, num_sharing" % (path, c))
    load = ctx.get("load_avg")
    check(isinstance(load, list) and all(finite(x) for x in load),
          "%s: context.load_avg is a list of numbers" % path)
    check(ctx.get("library_build_type") in ("debug", "release"),
          "%s: library_build_type is debug or release" % path)


def check_run(b, path):
    name = b.get("name", "?")
    where = "%s: %s" % (path, name)
    for key in ("name", "run_name"):
        check(isinstance(b.get(key), str) and b[key], "%s: %s is a string" % (where, key))
    check(b.get("run_type") in ("iteration", "aggregate"), "%s: run_type" % where)
    for key in ("family_index", "per_family_instance_index", "repetitions", "threads",
                "iterations"):
        check(isinstance(b.get(key), int) and b[key] >= 0, "%s: %s is an integer" % (where, key))
    check(b.get("repetitions") == REPS, "%s: repetitions is %d" % (where, REPS))
    check(b.get("threads") == 1, "%s: threads is 1" % where)
    for key in ("real_time", "cpu_time"):
        check(finite(b.get(key)) and b[key] >= 0, "%s: %s is finite" % (where, key))
    check(b.get("time_unit") in UNITS, "%s: time_unit is one of %s" % (where, UNITS))
    check(not b.get("error_occurred"), "%s: no error" % where)
    rates = [k for k in ("bytes_per_second", "items_per_second") if k in b]
    check(rates, "%s: reports bytes_per_second or items_per_second" % where)
    for k in rates:
        check(finite(b[k]), "%s: %s is finite" % (where, k))
    if b.get("run_type") == "iteration":
        check(b.get("name") == b.get("run_name"), "%s: name equals run_name" % where)
        check(isinstance(b.get("repetition_index"), int) and 0 <= b["repetition_index"] < REPS,
              "%s: repetition_index in range" % where)
        check(b.get("iterations", 0) > 0, "%s: iterations > 0" % where)
    else:
        agg = b.get("aggregate_name")
        check(agg in STATS, "%s: aggregate_name is one of %s" % (where, STATS))
        check(b.get("name") == "%s_%s" % (b.get("run_name"), agg),
              "%s: aggregate name is run_name_aggregate" % where)
        check(b.get("aggregate_unit") == ("percentage" if agg == "cv" else "time"),
              "%s: aggregate_unit" % where)
        check(b.get("iterations") == REPS, "%s: aggregate iterations = repetitions" % where)


def check_document(path):
    with open(path) as f:
        doc = json.load(f)
    check_context(doc.get("context", {}), path)
    runs = doc.get("benchmarks", [])
    check(len(runs) > 0, "%s: has benchmarks" % path)
    for b in runs:
        check_run(b, path)
    # Each benchmark: REPS iteration runs, indices 0..REPS-1, then the four aggregates.
    by_name = {}
    for b in runs:
        by_name.setdefault(b.get("run_name"), []).append(b)
    for name, group in by_name.items():
        its = sorted(b.get("repetition_index") for b in group if b.get("run_type") == "iteration")
        aggs = sorted(b.get("aggregate_name") for b in group if b.get("run_type") == "aggregate")
        check(its == list(range(REPS)), "%s: %s has repetitions 0..%d" % (path, name, REPS - 1))
        check(aggs == sorted(STATS), "%s: %s has mean/median/stddev/cv" % (path, name))
    return doc


def test_unknown_flag_exits_2(exe, tmp, state):
    r = run_bench(exe, "--benchmark_no_such_flag")
    check(r.returncode == 2, "an unknown flag exits 2 (got %d)" % r.returncode)


def test_list_tests(exe, tmp, state):
    r = run_bench(exe, "--benchmark_list_tests")
    state["names"] = r.stdout.split()
    check(r.returncode == 0 and state["names"], "--benchmark_list_tests lists names")


def test_min_time_forms(exe, tmp, state):
    names = state.get("names") or run_bench(exe, "--benchmark_list_tests").stdout.split()
    check(bool(names), "there is a benchmark to filter for")
    for value in ("0.01", "0.01s", "10x"):
        if not names:
            break
        out = os.path.join(tmp, "min_time.json")
        r = run_bench(exe, "--benchmark_min_time=" + value, "--benchmark_filter=" + names[0],
                      "--benchmark_out=" + out)
        ok = r.returncode == 0
        if ok:
            with open(out) as f:
                runs = json.load(f)["benchmarks"]
            ok = len(runs) == 1 and (value != "10x" or runs[0]["iterations"] == 10)
        check(ok, "--benchmark_min_time=%s runs (10x runs exactly 10 iterations)" % value)


def test_csv_header(exe, tmp, state):
    r = run_bench(exe, "--benchmark_min_time=10x", "--benchmark_format=csv")
    check(r.returncode == 0 and r.stdout.startswith(
        "name,iterations,real_time,cpu_time,time_unit,bytes_per_second,items_per_second,"
        "label,error_occurred,error_message\n"), "CSV header is Google Benchmark's")


def test_time_unit(exe, tmp, state):
    r = run_bench(exe, "--benchmark_min_time=10x", "--benchmark_time_unit=us",
                  "--benchmark_format=json")
    ok = r.returncode == 0
    if ok:
        ok = all(b["time_unit"] == "us" for b in json.loads(r.stdout)["benchmarks"])
    check(ok, "--benchmark_time_unit=us reaches the JSON")


def test_json_documents(exe, tmp, state):
    """Two runs with repetitions; every field compare.py reads, in both files."""
    state["files"] = []
    for tag in ("a", "b"):
        path = os.path.join(tmp, tag + ".json")
        r = run_bench(exe, "--benchmark_repetitions=%d" % REPS, "--benchmark_min_time=0.02",
                      "--benchmark_out=" + path)
        check(r.returncode == 0, "%s exits 0 (stderr: %s)" % (exe, r.stderr.strip()))
        if r.returncode != 0:
            return
        state["files"].append(path)
        state["doc"] = check_document(path)


def test_compare_py(exe, tmp, state):
    """Google Benchmark's own compare.py reads the two files of test_json_documents."""
    files = state.get("files", [])
    check(len(files) == 2, "two JSON files to compare")
    if len(files) != 2:
        return
    r = subprocess.run(["/usr/bin/python3", COMPARE, "benchmarks", files[0], files[1]],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=120)
    check(r.returncode == 0, "compare.py exits 0:\n" + r.stdout)
    for b in state["doc"]["benchmarks"]:
        if b["run_type"] == "iteration":
            check(b["name"] in r.stdout, "compare.py reports %s" % b["name"])
    check("_pvalue" in r.stdout, "compare.py ran its U test")
    check("OVERALL_GEOMEAN" in r.stdout, "compare.py printed its geomean")
    if case_failures:
        print(r.stdout)


CASES = [test_json_documents, test_compare_py, test_unknown_flag_exits_2, test_list_tests,
         test_min_time_forms, test_csv_header, test_time_unit]


def main():
    if len(sys.argv) != 2:
        print("usage: test_bench_json.py BENCH_BINARY", file=sys.stderr)
        return 2
    exe = sys.argv[1]
    if not os.path.isfile(COMPARE):
        print("skip: %s not installed (package libbenchmark-tools)" % COMPARE)
        return 77

    passed = failed = 0
    state = {}
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            del case_failures[:]
            try:
                case(exe, tmp, state)
            except Exception as e:  # a crash inside a case fails that case only
                check(False, "%s raised %r" % (case.__name__, e))
            if case_failures:
                failed += 1
                print("[  FAILED  ] %s (%d checks)" % (case.__name__, len(case_failures)))
            else:
                passed += 1
                print("[       OK ] %s" % case.__name__)

    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
