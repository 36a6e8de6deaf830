#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""ringer-load over time: per-interval rows (--interval, --json-stream), rate
plans (steps, ramps) and --find-max.

Usage: test_load_series.py RINGER RINGER_LOAD

Each test function starts what it loads on 127.0.0.1 (ringer in echo mode, or
a deliberately slow Python echo server for --find-max), runs ringer-load and
checks its JSON. Prints one line per test function and exits 1 if any failed.
"""
import json
import socket
import subprocess
import sys
import threading
import time

from cases import check, free_port, ringer_ended, run, wait_for

RINGER = sys.argv[1] if len(sys.argv) > 1 else "build/src/server/ringer"
LOAD = sys.argv[2] if len(sys.argv) > 2 else "build/src/load/ringer-load"


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


class Server:
    """ringer --mode echo on a free port, stopped by PID; stop() judges how it ended."""

    def __init__(self, *args):
        self.port = free_port()
        # Both pipes are read at the end: ringer writes a few lines before its stats at exit.
        self.proc = subprocess.Popen([RINGER, "--no-pin", "--mode", "echo", "--listen",
                                      f"127.0.0.1:{self.port}", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        check(wait_for(lambda: listening(self.port)), "ringer listens")

    def stop(self):
        self.proc.terminate()
        try:
            out, err = self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        ringer_ended("ringer --mode echo", self.proc.returncode, out, err)


def load(port, *args, timeout=60):
    """ringer-load against port; (exit status, stdout, stderr)."""
    p = subprocess.run([LOAD, "--mode", "echo", "--target", f"127.0.0.1:{port}", *args],
                       capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def load_json(port, *args):
    status, out, err = load(port, "--json", *args)
    check(status == 0, f"ringer-load exits 0 (got {status}: {err.strip()})")
    return json.loads(out) if status == 0 else None


# How far behind its plan the open loop may fall before the checks below
# fail: the time its thread or the server may lose to other processes on a
# loaded machine. A bound on waiting, generous, not a margin on a measured
# figure: ahead of the plan is exact (nothing is sent before it is due).
LAG_S = 0.25


def check_follows_plan(rows, interval, due, ahead=0):
    """What was answered by each row's end against the plan's count due(t) of
    requests due in the first t measured seconds: at most due(t) (+1, the
    request at t = 0; + ahead, the warmup's requests sent after it ended), at
    least due(t - LAG_S) (-1)."""
    answered = 0
    for i, r in enumerate(rows):
        answered += r["requests"]
        t = (i + 1) * interval
        low, high = due(max(t - LAG_S, 0)) - 1, due(t) + 1 + ahead
        check(low <= answered <= high,
              f"{answered} answered by {t} s, the plan has {due(t):.0f} due (bounds {low:.0f}, "
              f"{high:.0f})")


def check_rows_add_up(doc, interval, conns):
    """The rows cover the run: their requests and errors sum to the totals, in order."""
    rows = doc["intervals"]
    check(doc["interval_s"] == interval, f"interval_s {doc['interval_s']} == {interval}")
    check(sum(r["requests"] for r in rows) == doc["requests"],
          f"rows sum to the total: {sum(r['requests'] for r in rows)} == {doc['requests']}")
    check(sum(r["errors"] for r in rows) == doc["errors"]["total"], "rows' errors sum")
    for i, r in enumerate(rows):
        check(abs(r["t_s"] - i * interval) < 1e-6, f"row {i} starts at {i * interval}")
        check(r["connections"] == conns, f"row {i}: {r['connections']} connections open")
        lat = r["latency_us"]
        if r["requests"]:
            check(0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p99.9"],
                  f"row {i}: percentiles ordered {lat}")
    return rows


def test_interval_rows_add_up():
    s = Server()
    doc = load_json(s.port, "--duration", "2s", "--interval", "250ms", "-c", "4")
    s.stop()
    if not doc:
        return
    rows = check_rows_add_up(doc, 0.25, 4)
    check(len(rows) == 8, f"8 rows of 250 ms in 2 s, got {len(rows)}")
    check(all(abs(r["duration_s"] - 0.25) < 0.02 for r in rows), "each row is 250 ms long")
    check(all(r["requests"] > 0 and r["target_rate"] == 0 for r in rows),
          "closed loop: every row has requests, no target")


def test_text_rows():
    s = Server()
    status, out, err = load(s.port, "--duration", "1s", "--interval", "500ms", "-c", "2")
    s.stop()
    check(status == 0, f"exit 0 ({err.strip()})")
    lines = out.splitlines()
    head = [i for i, l in enumerate(lines) if l.split()[:3] == ["time(s)", "requests", "req/s"]]
    check(len(head) == 1, "one row header")
    if head:
        rows = lines[head[0] + 1:head[0] + 3]
        check([r.split()[0] for r in rows] == ["0.500", "1.000"], f"two rows: {rows}")


def test_json_stream_lines():
    s = Server()
    status, out, err = load(s.port, "--duration", "1500ms", "--interval", "500ms",
                            "--json-stream", "-c", "3")
    s.stop()
    check(status == 0, f"exit 0 ({err.strip()})")
    docs = [json.loads(l) for l in out.splitlines()]
    types = [d["type"] for d in docs]
    check(types == ["interval"] * 3 + ["summary"], f"three intervals, then the summary: {types}")
    if types and types[-1] == "summary":
        check(docs[-1]["intervals"] == [{k: v for k, v in d.items() if k != "type"}
                                        for d in docs[:-1]],
              "the summary holds the rows streamed")
        check_rows_add_up(docs[-1], 0.5, 3)


def test_step_plan():
    """500/s for 1 s, then 2,000/s for 1 s: each half-second row runs at its step's rate."""
    s = Server()
    doc = load_json(s.port, "--rate", "500:1s,2k:1s", "--interval", "500ms", "-c", "4")
    s.stop()
    if not doc:
        return
    rows = check_rows_add_up(doc, 0.5, 4)
    check(abs(doc["duration_s"] - 2.0) < 0.01, f"the plan sets 2 s: {doc['duration_s']}")
    check([round(r["target_rate"]) for r in rows] == [500, 500, 2000, 2000],
          f"targets follow the steps: {[r['target_rate'] for r in rows]}")
    planned = sum(r["target_rate"] * r["duration_s"] for r in rows)
    check(abs(planned - 2500) < 1, f"the rows' targets plan 2,500 requests in all: {planned}")
    check_follows_plan(rows, 0.5, lambda t: 500 * t if t <= 1 else 500 + 2000 * (t - 1))
    check(doc["rate_plan"] == "500:1s,2k:1s", "the plan is in the report")


def test_ramp():
    """A ramp from 200/s to 3,000/s over 2 s: rows climb, the total is the area under it."""
    s = Server()
    doc = load_json(s.port, "--ramp", "200..3k:2s", "--interval", "500ms", "-c", "5",
                    "--warmup", "200ms")
    s.stop()
    if not doc:
        return
    rows = check_rows_add_up(doc, 0.5, 5)
    targets = [r["target_rate"] for r in rows]
    want = [200 + 2800 * (i + 0.5) / 4 for i in range(4)]
    check(len(targets) == 4 and all(abs(a - b) <= 2 for a, b in zip(targets, want)),
          f"the targets are the ramp's mean rate in each row: {targets} vs {want}")
    planned = sum(r["target_rate"] * r["duration_s"] for r in rows)
    check(abs(planned - 3200) < 1, f"the rows' targets plan (200 + 3000) / 2 * 2 s = 3,200: "
          f"{planned}")
    # 200 t + 2800 t^2 / (2 * 2 s) requests due t s into the ramp; the warmup's
    # at 200/s that fell behind are sent, and counted, after it.
    check_follows_plan(rows, 0.5, lambda t: 200 * t + 700 * t * t, ahead=200 * LAG_S)


class SlowEcho:
    """An echo server that takes 1 ms per 64-byte message: about 900 messages/s at most."""

    def __init__(self):
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(64)
        self.port = self.ls.getsockname()[1]
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while self.running:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        buf = b""
        with c:
            while self.running:
                try:
                    data = c.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                buf += data
                while len(buf) >= 64:
                    time.sleep(0.001)
                    try:
                        c.sendall(buf[:64])
                    except OSError:
                        return
                    buf = buf[64:]

    def stop(self):
        self.running = False
        self.ls.close()


def test_find_max():
    """Against a server of about 900/s the search settles between its doubling steps."""
    srv = SlowEcho()
    status, out, err = load(srv.port, "--find-max", "p99=100ms", "--rate", "200", "-c", "1",
                            "--duration", "600ms", "--warmup", "100ms", "--json",
                            "--timeout", "3s", timeout=120)
    srv.stop()
    check(status == 0, f"exit 0 ({err.strip()})")
    if status:
        return
    fm = json.loads(out)["find_max"]
    steps = fm["steps"]
    rates = [s["rate"] for s in steps]
    for s in steps:
        print(f"  step {s['rate']}/s: achieved {s['achieved']:.1f}/s, p99 "
              f"{s['value_us'] / 1000:.1f} ms, {s['errors']} errors, held {s['held']}")
    check(rates[:3] == [200, 400, 800] or rates[:2] == [200, 400],
          f"doubles from the start: {rates}")
    check(200 <= fm["max_rate"] < 1200, f"the highest rate held {fm['max_rate']} is near 900/s")
    held = [s["rate"] for s in steps if s["held"]]
    failed = [s["rate"] for s in steps if not s["held"]]
    check(held and max(held) == fm["max_rate"], "the answer is the highest step that held")
    check(failed and min(failed) > fm["max_rate"], "every rate that failed is above it")
    check((min(failed) - fm["max_rate"]) * 20 <= min(failed) if failed else False,
          "bisected to within 5 %")
    for s in steps:
        check(s["held"] == (s["value_us"] <= 100000 and s["errors"] == 0
                            and s["achieved"] >= 0.95 * s["rate"]),
              f"step {s['rate']}: held says what its figures say")


def test_bad_plans_exit_2():
    bad = [
        ["--rate", "10k:30s,abc"],
        ["--rate", "10k,20k"],
        ["--rate", "1k..5k"],
        ["--rate", "0"],
        ["--rate", "10k:0s"],
        ["--ramp", "10k:5s"],
        ["--rate", "1k", "--ramp", "1..2:1s"],
        ["--find-max", "p99"],
        ["--find-max", "p100=5ms"],
        ["--find-max", "p99=5ms", "--interval", "1s"],
        ["--find-max", "p99=5ms", "--rate", "1k:1s,2k:1s"],
        ["--find-max", "p99=5ms", "--requests", "100"],
        ["--interval", "1ms"],
        ["--rate", ",".join(["1:1s"] * 64)],
    ]
    for args in bad:
        p = subprocess.run([LOAD, "--target", "127.0.0.1:9", *args], capture_output=True,
                           text=True, timeout=10)
        lines = p.stderr.strip().splitlines()
        check(p.returncode == 2 and len(lines) == 1 and lines[0].startswith("ringer-load: "),
              f"{args}: exit 2 with one line (got {p.returncode}: {p.stderr.strip()})")


run([test_interval_rows_add_up, test_text_rows, test_json_stream_lines, test_step_plan,
     test_ramp, test_find_max, test_bad_plans_exit_2])
