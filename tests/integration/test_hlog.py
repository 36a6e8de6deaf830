#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""HdrHistogram interval logs (.hlog), read by HdrHistogram's own code.

Usage: test_hlog.py RINGER RINGER_LOAD HLOG_WRITE HLOG_READ_JAVA

The reader is HdrHistogram's Java implementation (Debian's
libhdrhistogram-java, run by default-jre-headless; tools/install-deps.sh
installs both, and a missing one is a failure, not a skip): HLOG_READ_JAVA
(tests/hlog/HlogRead.java) decodes and merges every interval and prints
JSON, and HdrHistogram's HistogramLogProcessor prints its percentile
distribution. The expected figures are computed here, in Python, from
HdrHistogram's definitions, not from ringer's code.

- test_known_log: tests/hlog/hlog_write writes intervals of known values
  through the hlog API; every count of every interval must come back.
- test_two_load_runs_merge: two ringer-load runs against one ringer, each
  with --interval 1s --hdr-log FILE (as from two load machines); the logs
  must hold the runs' exact request counts and merge into percentiles that
  lie between the runs'. Skipped while ringer-load has no --hdr-log.
"""
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections import Counter

from cases import Skip, check, ringer_ended, run

RINGER = sys.argv[1] if len(sys.argv) > 1 else "build/src/server/ringer"
LOAD = sys.argv[2] if len(sys.argv) > 2 else "build/src/load/ringer-load"
HLOG_WRITE = sys.argv[3] if len(sys.argv) > 3 else "build/tests/hlog/hlog_write"
READER = sys.argv[4] if len(sys.argv) > 4 else "tests/hlog/HlogRead.java"
JAR = "/usr/share/java/hdrhistogram.jar"
TMP = tempfile.mkdtemp(prefix="ringer-hlog-")  # removed at the end

# HdrHistogram (lowestDiscernibleValue 1, 3 digits): 2048 sub-buckets, so a
# value's bucket is how far its bit length exceeds 11.
HIST_MAX_NS = 60_000_000_000


def bucket(v):
    return max(0, v.bit_length() - 11)


def lowest_equivalent(v):
    b = bucket(v)
    return (v >> b) << b


def highest_equivalent(v):
    return lowest_equivalent(v) + (1 << bucket(v)) - 1


def value_at_percentile(counts, p, rule="java"):
    """The value at percentile p of {lowest equivalent: count}: the highest value
    equivalent to the sample of some rank. The two HdrHistograms differ on the
    rank: Java's getValueAtPercentile() (2.1.10 on) takes ceil(p * N / 100) of
    p less one ulp, HdrHistogram_c's hdr_value_at_percentile() and ringer's
    hist_percentile() round p / 100 * N half up ("c")."""
    total = sum(counts.values())
    if rule == "java":
        want = max(1, math.ceil(math.nextafter(p, -math.inf) * total / 100.0))
    else:
        want = max(1, int(p / 100.0 * total + 0.5))
    seen = 0
    for v in sorted(counts):
        seen += counts[v]
        if seen >= want:
            return highest_equivalent(v)
    return 0


def java():
    """The java command line for HdrHistogram's classes, or a failed check."""
    exe = shutil.which("java")
    if not check(exe is not None, "java is not installed (default-jre-headless)"):
        return None
    if not check(os.path.exists(JAR), f"{JAR} is missing (libhdrhistogram-java)"):
        return None
    return [exe, "-cp", JAR]


def read_logs(paths, intervals=False):
    """HlogRead.java's JSON for the logs, or None after a failed check."""
    cmd = java()
    if cmd is None:
        return None
    p = subprocess.run(cmd + [READER] + (["--intervals"] if intervals else []) + paths,
                       capture_output=True, text=True, timeout=120)
    if not check(p.returncode == 0, f"HlogRead failed ({p.returncode}): {p.stderr[-2000:]}"):
        return None
    return json.loads(p.stdout)


def log_processor(path):
    """HistogramLogProcessor's (total count, max) over the untagged intervals, in ns."""
    cmd = java()
    if cmd is None:
        return None, None
    p = subprocess.run(cmd + ["org.HdrHistogram.HistogramLogProcessor", "-i", path,
                              "-outputValueUnitRatio", "1"],
                       capture_output=True, text=True, timeout=120)
    m = re.search(r"#\[Max\s*=\s*([\d.]+), Total count\s*=\s*(\d+)\]", p.stdout)
    if not check(p.returncode == 0 and m is not None,
                 f"HistogramLogProcessor failed ({p.returncode}): {p.stderr[-2000:]}"):
        return None, None
    return int(m.group(2)), float(m.group(1))


def known_intervals():
    """tests/hlog/hlog_write.c's recipe: (start, length, tag, {value: count})."""
    lcg, x = Counter(), 42
    for _ in range(100000):
        x = (x * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        lcg[(x >> 33) >> ((x >> 27) & 31)] += 1
    return [
        (0.0, 1.0, None, Counter(range(1, 5001))),
        (1.0, 1.0, None, {1_000_000: 10**12, 60_000_000_000: 1, 0: 7}),
        (2.0, 1.0, None, {}),
        (3.0, 1.0, "B", {1 << k: k + 1 for k in range(36)}),
        (4.0, 0.5, None, lcg),
        (4.5, 0.5, None, {70_000_000_000: 3, 59_999_999_999: 1}),
        (5.0, 1.0, "huge", {1234: 1 << 61}),
    ]


def bucketed(values):
    """{value: count} as HdrHistogram holds it: values above 60 s clamped as ringer does."""
    out = Counter()
    for v, c in values.items():
        out[lowest_equivalent(min(v, HIST_MAX_NS))] += c
    return out


def test_known_log():
    path = os.path.join(TMP, "known.hlog")
    p = subprocess.run([HLOG_WRITE, path], capture_output=True, text=True, timeout=30,
                       env={**os.environ, "TZ": "UTC"})
    if not check(p.returncode == 0, f"hlog_write failed: {p.stderr}"):
        return
    want = known_intervals()
    text = open(path).read().splitlines()
    # The header as HdrHistogram 2.1's HistogramLogWriter prints it.
    check(text[:4] == [
        "#[Histogram log format version 1.3]",
        "#[StartTime: 1700000000.123 (seconds since epoch), Tue Nov 14 22:13:20 UTC 2023]",
        "#[BaseTime: 1700000000.123 (seconds since epoch)]",
        '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"',
    ], f"header: {text[:4]}")
    check(len(text) == 4 + len(want), f"{len(text) - 4} interval lines, want {len(want)}")
    for line, (start, length, tag, values) in zip(text[4:], want):
        b = bucketed(values)
        top = highest_equivalent(max(b)) if b else 0
        prefix = (f"Tag={tag}," if tag else "") + f"{start:.3f},{length:.3f},{top / 1e6:.3f},"
        check(line.startswith(prefix + "HISTF"), f"line {line[:60]!r}, want {prefix!r}")

    got = read_logs([path], intervals=True)
    if got is None:
        return
    f = got["files"][0]
    check(f["intervals"] == len(want), f"reader saw {f['intervals']} intervals")
    check(abs(f["start_time"] - 1700000000.123) < 1e-6, f"start_time {f['start_time']}")
    merged = Counter()
    for i, (iv, (start, length, tag, values)) in enumerate(zip(f["interval_list"], want)):
        b = bucketed(values)
        merged.update(b)
        check(iv["tag"] == tag, f"interval {i}: tag {iv['tag']}, want {tag}")
        check(abs(iv["start"] - start) < 0.0015, f"interval {i}: start {iv['start']}")
        check(abs(iv["length"] - length) < 0.0015, f"interval {i}: length {iv['length']}")
        check(iv["total_count"] == sum(b.values()),
              f"interval {i}: count {iv['total_count']}, want {sum(b.values())}")
        check(iv["max"] == (highest_equivalent(max(b)) if b else 0),
              f"interval {i}: max {iv['max']}")
        got_counts = {v: c for v, c in iv["counts"]}
        diff = {v for v in set(got_counts) | set(b) if got_counts.get(v, 0) != b.get(v, 0)}
        check(not diff, f"interval {i}: {len(diff)} values differ, e.g. "
              f"{[(v, got_counts.get(v, 0), b.get(v, 0)) for v in sorted(diff)[:5]]}")
    total = sum(merged.values())
    m = got["merged"]
    check(m["total_count"] == total, f"merged count {m['total_count']}, want {total}")
    check(f["total_count"] == total, f"file count {f['total_count']}, want {total}")
    check(m["max"] == highest_equivalent(HIST_MAX_NS), f"merged max {m['max']}")
    check(m["min"] == 0, f"merged min {m['min']}")

    # Percentiles need a spread-out distribution: a second log of the lines
    # for 1 .. 5000, the powers of two and the LCG (copied, header and all),
    # alone and merged with the whole first log.
    part = os.path.join(TMP, "part.hlog")
    with open(part, "w") as out:
        out.write("\n".join(text[:4] + [text[4 + k] for k in (0, 3, 4)]) + "\n")
    part_counts = Counter()
    for k in (0, 3, 4):
        part_counts.update(bucketed(want[k][3]))
    both = read_logs([part, path])
    if both:
        for name, counts, result in (("part", part_counts, both["files"][0]),
                                     ("part + known", part_counts + merged, both["merged"])):
            check(result["total_count"] == sum(counts.values()), f"{name}: count")
            for key, pct in (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p999", 99.9)):
                check(result[key] == value_at_percentile(counts, pct),
                      f"{name}: {key} {result[key]}, want {value_at_percentile(counts, pct)}")
            check(result["max"] == highest_equivalent(max(counts)), f"{name}: max")
        print(f"  part: p50 {both['files'][0]['p50']} p90 {both['files'][0]['p90']} "
              f"p99 {both['files'][0]['p99']} p99.9 {both['files'][0]['p999']} ns", flush=True)

    # HdrHistogram's own command-line tool: untagged intervals only, by default.
    count, top = log_processor(path)
    untagged = sum(sum(bucketed(v).values()) for _, _, tag, v in want if tag is None)
    check(count == untagged, f"HistogramLogProcessor count {count}, want {untagged}")
    check(top == highest_equivalent(HIST_MAX_NS), f"HistogramLogProcessor max {top}")
    print(f"  known log: {len(want)} intervals, {total} values", flush=True)


class Ringer:
    """ringer --mode echo on an ephemeral loopback port, stopped by PID; stop() judges how
    it ended (its output is collected as it comes)."""

    def __init__(self):
        self.proc = subprocess.Popen([RINGER, "--mode", "echo", "--listen", "127.0.0.1:0",
                                      "--shards", "1", "--no-pin"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.port = None
        for line in self.proc.stdout:
            m = re.match(r"listening on 127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                break
        if self.port is None:
            self.stop()
            raise RuntimeError("ringer did not start: " + self.proc.stderr.read()[-1000:])
        self.out, self.err = [], []
        self.readers = [threading.Thread(target=lambda: self.out.extend(self.proc.stdout)),
                        threading.Thread(target=lambda: self.err.extend(self.proc.stderr))]
        for t in self.readers:
            t.daemon = True
            t.start()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.port is None:
            return  # it did not start: the caller raises with its stderr
        for t in self.readers:
            t.join(5)
        ringer_ended("ringer --mode echo", self.proc.returncode, "".join(self.out),
                     "".join(self.err))


def test_two_load_runs_merge():
    help_text = subprocess.run([LOAD, "--help"], capture_output=True, text=True).stdout
    if "--hdr-log" not in help_text or "--interval" not in help_text:
        raise Skip("ringer-load has no --interval / --hdr-log yet")
    server = Ringer()
    try:
        logs = [os.path.join(TMP, f"load{i}.hlog") for i in range(2)]
        # Both at once, as two load machines would run.
        procs = [subprocess.Popen([LOAD, "--mode", "echo", "--target", f"127.0.0.1:{server.port}",
                                   "--connections", "2", "--duration", "3s", "--interval", "1s",
                                   "--hdr-log", log, "--json"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for log in logs]
        outs = [p.communicate(timeout=60) for p in procs]
    finally:
        server.stop()
    runs = []
    for i, (p, (out, err)) in enumerate(zip(procs, outs)):
        if not check(p.returncode == 0, f"ringer-load {i} exited {p.returncode}: {err[-1000:]}"):
            return
        runs.append(json.loads(out))
    got = read_logs(logs, intervals=True)
    if got is None:
        return
    for i, (r, f) in enumerate(zip(runs, got["files"])):
        req, lat = r["requests"], r["latency_us"]
        check(req > 0, f"run {i}: no requests")
        # Three 1 s intervals over 3 s; a last, partial one may carry the
        # responses that arrive after the window closes.
        check(3 <= f["intervals"] <= 4, f"run {i}: {f['intervals']} intervals")
        check(all(iv["tag"] is None for iv in f["interval_list"]), f"run {i}: tagged lines")
        starts = [iv["start"] for iv in f["interval_list"]]
        check(starts == sorted(starts), f"run {i}: interval starts out of order: {starts}")
        check(all(0.5 <= iv["length"] <= 1.5 for iv in f["interval_list"][:3]),
              f"run {i}: interval lengths {[iv['length'] for iv in f['interval_list']]}")
        # Every measured response is recorded once, in exactly one interval.
        check(f["total_count"] == req, f"run {i}: log holds {f['total_count']}, requests {req}")
        check(sum(iv["total_count"] for iv in f["interval_list"]) == req,
              f"run {i}: intervals sum to {sum(iv['total_count'] for iv in f['interval_list'])}")
        check(lat["count"] == req, f"run {i}: latency count {lat['count']} != requests {req}")
        # The log's histogram is the run's: the run's percentiles (ringer's
        # rank rule) and the reader's (Java's) both follow from its counts.
        counts = Counter()
        for iv in f["interval_list"]:
            counts.update({v: c for v, c in iv["counts"]})
        for key, jkey, pct in (("p50", "p50", 50.0), ("p90", "p90", 90.0), ("p99", "p99", 99.0),
                               ("p999", "p99.9", 99.9)):
            ns = round(lat[jkey] * 1000)
            check(ns == value_at_percentile(counts, pct, "c"),
                  f"run {i}: run's {key} {ns} ns, its log's counts give "
                  f"{value_at_percentile(counts, pct, 'c')} ns")
            check(f[key] == value_at_percentile(counts, pct),
                  f"run {i}: reader's {key} {f[key]} ns, want {value_at_percentile(counts, pct)}")
        check(f["max"] == highest_equivalent(round(lat["max"] * 1000)),
              f"run {i}: log max {f['max']}, run max {lat['max']} us")
    m = got["merged"]
    total = sum(r["requests"] for r in runs)
    check(m["total_count"] == total, f"merged count {m['total_count']}, want {total}")
    for key in ("p50", "p90", "p99", "p999"):
        lo, hi = sorted(f[key] for f in got["files"])
        check(lo * 0.999 <= m[key] <= hi * 1.001,
              f"merged {key} {m[key]} outside the runs' [{lo}, {hi}]")
    check(m["max"] == max(f["max"] for f in got["files"]), "merged max is not the larger max")
    # HdrHistogram's own tool agrees with the reader on each log.
    for i, log in enumerate(logs):
        count, top = log_processor(log)
        check(count == runs[i]["requests"], f"run {i}: HistogramLogProcessor count {count}")
        check(top == got["files"][i]["max"], f"run {i}: HistogramLogProcessor max {top}")
    print(f"  two runs: {[r['requests'] for r in runs]} requests, p99 "
          f"{[f['p99'] for f in got['files']]} -> merged {m['p99']} ns", flush=True)


if __name__ == "__main__":
    run([test_known_log, test_two_load_runs_merge],
        cleanup=lambda: shutil.rmtree(TMP, ignore_errors=True))
