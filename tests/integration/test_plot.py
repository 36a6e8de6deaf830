#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""tools/plot.py: the SVG it draws, checked as a document and as a picture.

Usage: test_plot.py RINGER RINGER_LOAD [OUTPUT_DIR]

(RINGER and RINGER_LOAD default to $RINGER_BIN and $RINGER_LOAD_BIN, then to
build/.) The cases:

  fixtures     three runs the test writes (ringer-load --json with intervals,
               --json-stream lines of an open-loop run, an .hgrm file): the
               SVG parses as XML, has the three panels, their axis titles and
               percentile ticks as <text>, one line per run per panel, the
               target rate dashed, the legend labels, nothing external
  log_y        --log-y: the latency axis is labelled in 1-2-5 decades
  picture      that SVG rendered by headless Chromium into a PNG (kept in
               OUTPUT_DIR as plot.png): decoded here with zlib, the three run
               colours each cover a plausible share, and most is still white
  real_run     ringer --mode http under ringer-load for 2 s (--json, and
               --hdr-out; --interval 1s too where ringer-load has it, and a
               --json-stream run): the chart of its JSON and the one of its
               .hgrm draw the same line
  bad_input    a missing file, text that is no format, broken JSON, JSON
               that is not ringer-load's: one line on stderr, exit 2

Exit 77 (skip) when Chromium is not installed and every other case passed.
"""
import json
import math
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
import zlib

from cases import check, free_port, ringer_ended, run

HERE = os.path.dirname(os.path.abspath(__file__))
PLOT = os.path.join(HERE, "..", "..", "tools", "plot.py")
RINGER = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("RINGER_BIN",
                                                                "build/src/server/ringer")
LOAD = sys.argv[2] if len(sys.argv) > 2 else os.environ.get("RINGER_LOAD_BIN",
                                                              "build/src/load/ringer-load")
OUT = sys.argv[3] if len(sys.argv) > 3 else tempfile.mkdtemp(prefix="ringer-plot-")
os.makedirs(OUT, exist_ok=True)
TMP = tempfile.mkdtemp(prefix="ringer-plot-test-")  # removed at the end
NS = "{http://www.w3.org/2000/svg}"
PCT_TICKS = ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]


def chromium_binary():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


# ---- fixtures ---------------------------------------------------------------

def hgrm(value_ms, total):
    """HdrHistogram's percentile text for a latency curve value_ms(p), p a
    fraction, at its levels for 5 ticks per half distance, as ringer-load
    writes it."""
    lines = ["%12s %14s %10s %14s" % ("Value", "Percentile", "TotalCount", "1/(1-Percentile)"),
             ""]
    p = 0.0
    while 1 / (1 - p) <= total:
        lines.append("%12.3f %2.12f %10d %14.2f" % (value_ms(p), p, max(1, round(p * total)),
                                                     1 / (1 - p)))
        half = 2 ** (math.floor(math.log2(1 / (1 - p))) + 1)
        p += 1 / (5 * half)
    lines.append("%12.3f %2.12f %10d %14s" % (value_ms(1.0), 1.0, total, "inf"))
    lines += ["#[Mean    = %12.3f, StdDeviation   = %12.3f]" % (value_ms(0.5), 0.1),
              "#[Max     = %12.3f, Total count    = %12d]" % (value_ms(1.0), total),
              "#[Buckets = %12d, SubBuckets     = %12d]" % (26, 2048)]
    return "\n".join(lines) + "\n"


def curve(base, tail):
    """A latency curve: base ms at the median, rising with the log of
    1/(1-p) to tail ms at 100%."""
    return lambda p: base + (tail - base) * (min(math.log10(1 / (1 - p)), 6) / 6
                                             if p < 1 else 1.0)


def intervals(n, rps, p99_ms, target=0):
    rows = []
    for i in range(n):
        r = rps * (1 + 0.08 * math.sin(i * 1.3))
        rows.append({"t_s": float(i), "duration_s": 1.0, "requests": round(r),
                     "requests_per_s": r, "errors": 0, "connections": 50,
                     "target_rate": target,
                     "latency_us": {"p50": p99_ms * 300, "p90": p99_ms * 600,
                                    "p99": p99_ms * 1000 * (1 + 0.3 * math.cos(i)),
                                    "p99.9": p99_ms * 1500, "max": p99_ms * 3000}})
    return rows


def summary(rows, value_ms, target=0):
    total = sum(r["requests"] for r in rows)
    return {"mode": "http", "target": "127.0.0.1:8080", "path": "/",
            "loop": "open" if target else "closed", "rate": target, "pipeline": 1,
            "connections": 50, "threads": 1, "churn": 0, "warmup_s": 0.0,
            "duration_s": float(len(rows)), "requests": total,
            "requests_per_s": total / len(rows),
            "latency_us": {"count": total, "min": 40.0, "mean": 200.0, "stddev": 80.0,
                           "p50": value_ms(0.5) * 1e3, "p90": value_ms(0.9) * 1e3,
                           "p99": value_ms(0.99) * 1e3, "p99.9": value_ms(0.999) * 1e3,
                           "p99.99": value_ms(0.9999) * 1e3, "max": value_ms(1.0) * 1e3},
            "hdr_percentiles_ms": hgrm(value_ms, total), "interval_s": 1.0}


def write(name, text):
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def fixtures():
    """Three runs: --json with intervals (closed loop), --json-stream (open
    loop at 30,000/s), an .hgrm. Their paths with labels, as RUN arguments."""
    a_rows, a_lat = intervals(10, 42000, 2.0), curve(0.25, 9.0)
    a = dict(summary(a_rows, a_lat), intervals=a_rows)
    b_rows, b_lat = intervals(10, 30000, 1.0, target=30000), curve(0.15, 4.0)
    b = [json.dumps(dict(r, type="interval")) for r in b_rows]
    b.append(json.dumps(dict(summary(b_rows, b_lat, 30000), type="summary")))
    return [write("before.json", json.dumps(a) + "\n") + "=before",
            write("after.jsonl", "\n".join(b) + "\n") + "=after (open loop)",
            write("nginx.hgrm", hgrm(curve(0.35, 12.0), 400000)) + "=nginx"]


# ---- the SVG as a document --------------------------------------------------

def plot(*args):
    return subprocess.run([sys.executable, PLOT, *args], capture_output=True, text=True,
                          timeout=60)


def texts(el):
    return ["".join(t.itertext()) for t in el.iter(NS + "text")]


def points(d):
    return [(float(x), float(y)) for x, y in re.findall(r"[ML]([-\d.]+) ([-\d.]+)", d)]


def parse_svg(path):
    try:
        return ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        check(False, f"{path} parses as XML ({e})")
        return None


def panels(root):
    return {g.get("id"): g for g in root.iter(NS + "g") if g.get("class") == "panel"}


def series(panel, cls="series"):
    return [p for p in panel.iter(NS + "path") if p.get("class") == cls]


def test_fixtures():
    runs = fixtures()
    svg = os.path.join(OUT, "plot.svg")
    r = plot("-o", svg, "--title", "before vs after", *runs)
    if not check(r.returncode == 0, f"plot.py exits 0 (exit {r.returncode}: {r.stderr.strip()})"):
        return
    root = parse_svg(svg)
    if root is None:
        return
    check(root.tag == NS + "svg", f"the root is an svg element ({root.tag})")
    width, height = float(root.get("width")), float(root.get("height"))
    ps = panels(root)
    check(sorted(ps) == ["p99", "percentiles", "rate"], f"three panels ({sorted(ps)})")
    if len(ps) != 3:
        return
    labels = ["before", "after (open loop)", "nginx"]
    want = {"percentiles": (["Percentile", "Latency (ms)"] + PCT_TICKS, labels, 3),
            "rate": (["Time (s)", "Requests/s"], labels[:2] + ["target rate"], 2),
            "p99": (["Time (s)", "p99 (ms)"], labels[:2], 2)}
    colours = {}
    for pid, (titles, legend, n) in want.items():
        t = texts(ps[pid])
        for s in titles:
            check(s in t, f"{pid}: <text>{s}</text>")
        for s in legend:
            check(s in t, f"{pid}: the legend names {s!r}")
        lines = series(ps[pid])
        check(len(lines) == n, f"{pid}: {n} lines, one per run ({len(lines)})")
        for p in lines:
            label = "".join(p.find(NS + "title").itertext())
            colours.setdefault(label, set()).add(p.get("stroke"))
            pts = points(p.get("d"))
            check(len(pts) >= 10 and all(0 <= x <= width and 0 <= y <= height for x, y in pts),
                  f"{pid}: {label}'s line has points, all inside the picture")
    check(all(len(c) == 1 for c in colours.values()), f"a run keeps its colour ({colours})")
    check(len({c for cs in colours.values() for c in cs}) == 3, f"three colours ({colours})")
    targets = series(ps["rate"], "target")
    check(len(targets) == 1 and targets[0].get("stroke-dasharray"),
          f"one dashed target-rate line, the open-loop run's ({len(targets)})")
    # nginx.hgrm has 400,000 samples: its 1/(1-p) passes 10^5, so one tick more.
    ticks = [t for t in texts(ps["percentiles"]) if t.endswith("%")]
    check(ticks == PCT_TICKS + ["99.9999%"], f"percentile ticks 0% .. 99.9999% ({ticks})")
    # The percentile lines: left to right, and the 100% row at the right edge.
    for p in series(ps["percentiles"]):
        xs = [x for x, _ in points(p.get("d"))]
        check(xs == sorted(xs), "a percentile line runs left to right")
        right = max(float(t.get("x")) for t in ps["percentiles"].iter(NS + "text")
                    if "".join(t.itertext()).endswith("%"))
        check(abs(xs[-1] - right) < 1, f"a percentile line ends at the right edge "
              f"({xs[-1]}, the last tick at {right})")
    with open(svg) as f:
        doc = f.read()
    check(not re.search(r"(?i)href|<script|@import|url\((?!#)", doc) and
          doc.count("http://") == 1, "the SVG refers to nothing outside itself")
    print(f"  {svg}: {width:.0f}x{height:.0f}, {len(doc)} bytes")


def test_log_y():
    svg = os.path.join(TMP, "log.svg")
    r = plot("-o", svg, "--log-y", *fixtures())
    if not check(r.returncode == 0, f"--log-y: exit {r.returncode}: {r.stderr.strip()}"):
        return
    root = parse_svg(svg)
    if root is None:
        return
    ticks = [t for t in texts(panels(root)["percentiles"]) if re.fullmatch(r"[\d.]+", t)]
    check(ticks[:1] == ["0.1"] and "1" in ticks and "10" in ticks and "2" in ticks,
          f"--log-y: latency ticks 0.1 ... 1, 2, 5, 10, ... ({ticks})")


# ---- the SVG as a picture ---------------------------------------------------

def png_pixels(path):
    """(width, height, rows of RGB bytes) of an 8-bit RGB or RGBA,
    non-interlaced PNG, decoded with zlib: IDAT inflated, filters undone."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, ihdr = 8, [], None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", data[pos + 8:pos + 8 + n])
        elif kind == b"IDAT":
            idat.append(data[pos + 8:pos + 8 + n])
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = ihdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise ValueError(f"PNG format {ihdr} not handled")
    bpp = 3 if ctype == 2 else 4
    raw, stride = zlib.decompress(b"".join(idat)), w * bpp
    prev, rows = bytearray(stride), []
    for y in range(h):
        ft = raw[y * (stride + 1)]
        cur = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if ft == 1:
            for i in range(bpp, stride):
                cur[i] = (cur[i] + cur[i - bpp]) & 255
        elif ft == 2:
            cur = bytearray((a + b) & 255 for a, b in zip(cur, prev))
        elif ft == 3:
            for i in range(stride):
                cur[i] = (cur[i] + (((cur[i - bpp] if i >= bpp else 0) + prev[i]) >> 1)) & 255
        elif ft == 4:
            for i in range(stride):
                a = cur[i - bpp] if i >= bpp else 0
                b, c = prev[i], prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                cur[i] = (cur[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(cur if bpp == 3 else bytes(v for i, v in enumerate(cur) if i % 4 != 3)))
        prev = cur
    return w, h, rows


def test_picture():
    browser = chromium_binary()
    if not browser:
        print("SKIP: chromium is not installed")
        return
    svg, png = os.path.join(OUT, "plot.svg"), os.path.join(OUT, "plot.png")
    if not os.path.exists(svg):
        check(plot("-o", svg, *fixtures()).returncode == 0, "plot.py draws the fixtures")
    root = parse_svg(svg)
    if root is None:
        return
    w, h = int(float(root.get("width"))), int(float(root.get("height")))
    colours = {}
    for p in root.iter(NS + "path"):
        if p.get("class") == "series":
            colours["".join(p.find(NS + "title").itertext())] = p.get("stroke")
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--hide-scrollbars", "--user-data-dir=" + os.path.join(TMP, "chromium-profile"),
           f"--window-size={w},{h}", f"--screenshot={png}", "file://" + os.path.abspath(svg)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True)
    try:
        _, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)  # Chromium's helpers too
        _, err = p.communicate()
    if not check(p.returncode == 0 and os.path.exists(png),
                 f"chromium wrote the screenshot (exit {p.returncode}: {err[-500:]!r})"):
        return
    check(os.path.getsize(png) > 10000, f"the PNG is over 10 kB ({os.path.getsize(png)})")
    try:
        pw, ph, rows = png_pixels(png)
    except (ValueError, zlib.error, struct.error, TypeError) as e:
        check(False, f"the screenshot decodes as a PNG ({e})")
        return
    check((pw, ph) == (w, h), f"the PNG is {w}x{h} ({pw}x{ph})")
    want = {label: tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for label, c in colours.items()}
    near = dict.fromkeys(want, 0)
    white = dark = 0
    for row in rows:
        for i in range(0, len(row), 3):
            px = row[i:i + 3]
            if px == b"\xff\xff\xff":
                white += 1
                continue
            if max(px) < 90:
                dark += 1
            for label, c in want.items():
                if abs(px[0] - c[0]) + abs(px[1] - c[1]) + abs(px[2] - c[2]) <= 60:
                    near[label] += 1
    total = pw * ph
    print(f"  {png}: {pw}x{ph}, white {100 * white / total:.1f}%, dark (text, frames) "
          f"{100 * dark / total:.2f}%, run colours "
          + ", ".join(f"{k} {v}" for k, v in near.items()))
    check(len(want) == 3, f"three run colours in the SVG ({want})")
    # A line across the 840 px plot, 2.2 px wide, has about 1,000 pixels of
    # its own colour or near it (the rest blends into the white); each run
    # has a line in one to three panels, and the legend's samples.
    for label, n in near.items():
        check(1000 <= n <= 0.08 * total, f"{label}'s colour covers {n} pixels (1,000 .. 8%)")
    check(0.75 * total <= white <= 0.98 * total,
          f"mostly white, not blank ({100 * white / total:.1f}% white)")
    check(dark >= 0.002 * total, f"text and frames drawn ({dark} dark pixels)")


# ---- a real run ---------------------------------------------------------------

def test_real_run():
    port = free_port()
    server = subprocess.Popen([RINGER, "--mode", "http", "--listen", f"127.0.0.1:{port}",
                               "--shards", "1", "--no-pin"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        if not check(line.startswith("listening on"), f"ringer listens ({line!r})"):
            return
        hgrm_out = os.path.join(TMP, "real.hgrm")
        flags = subprocess.run([LOAD, "--help"], capture_output=True, text=True).stdout
        interval = "--interval" in flags
        stream = interval and "--json-stream" in flags
        target = ["--target", f"127.0.0.1:{port}", "--duration", "2s"]
        cmd = [LOAD, *target, "--json", "--hdr-out", hgrm_out]
        load = subprocess.run(cmd + (["--interval", "1s"] if interval else []),
                              capture_output=True, text=True, timeout=30)
        if not check(load.returncode == 0, f"ringer-load exits 0 ({load.stderr.strip()})"):
            return
        if stream:
            streamed = subprocess.run([LOAD, *target, "--json-stream", "--interval", "1s"],
                                      capture_output=True, text=True, timeout=30)
            check(streamed.returncode == 0, f"ringer-load --json-stream exits 0 "
                  f"({streamed.stderr.strip()})")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            out, err = server.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            out, err = server.communicate()
        ringer_ended("ringer --mode http", server.returncode, out, err)
    js = write("real.json", load.stdout)
    svg = os.path.join(OUT, "real.svg")
    runs = [js + "=ringer --json", hgrm_out + "=ringer --hdr-out"]
    if stream:
        runs.append(write("real.jsonl", streamed.stdout) + "=ringer --json-stream")
    r = plot("-o", svg, *runs)
    if not check(r.returncode == 0, f"plot.py exits 0 ({r.stderr.strip()})"):
        return
    root = parse_svg(svg)
    if root is None:
        return
    ps = panels(root)
    check(sorted(ps) == (["p99", "percentiles", "rate"] if interval else ["percentiles"]),
          f"panels {sorted(ps)} (ringer-load {'has' if interval else 'lacks'} --interval)")
    lines = series(ps["percentiles"])
    if check(len(lines) == len(runs), f"{len(runs)} percentile lines ({len(lines)})"):
        a, b = (points(p.get("d")) for p in lines[:2])
        check(len(a) >= 20 and a == b,
              f"the JSON's hdr_percentiles_ms and the .hgrm draw one line ({len(a)} points)")
    for pid in ("rate", "p99") if interval and len(ps) == 3 else ():
        n = len(series(ps[pid]))
        check(n == len(runs) - 1, f"{pid}: a line for each JSON run ({n})")
    note = [t for t in texts(ps["percentiles"]) if "req/s" in t]
    check(note and re.search(r"[\d,]+ req/s, p99 [\d.]+ ms, max [\d.]+ ms", note[0]),
          f"the legend gives the run's rate and tail ({note})")
    print(f"  {svg}: {note[0] if note else ''}, intervals: {interval}")


# ---- bad input ------------------------------------------------------------------

def test_bad_input():
    good = fixtures()[0]
    cases = [
        ("a missing file", [os.path.join(TMP, "missing.json")], "missing.json"),
        ("text in no format", [write("notes.txt", "hello\nworld\n")], "notes.txt"),
        ("truncated JSON", [write("cut.json", '{"mode":"http","requests_per_s":1')],
         "cut.json"),
        ("broken JSON line", [write("cut.jsonl", json.dumps(dict(
            intervals(1, 10, 1)[0], type="interval")) + '\n{"ty')], "cut.jsonl"),
        ("JSON of another tool", [write("other.json", '{"benchmarks": []}\n')], "other.json"),
        ("a --find-max result", [write("max.json", '{"find_max":{"max_rate":1000,"steps":[]}}')],
         "max.json"),
        ("an interval without its time", [write("row.jsonl", '{"type":"interval"}\n')],
         "row.jsonl"),
        ("a good run then a missing one", [good, os.path.join(TMP, "gone.hgrm")], "gone.hgrm"),
    ]
    out = os.path.join(TMP, "bad.svg")
    for what, args, name in cases:
        r = plot("-o", out, *args)
        err = r.stderr.strip()
        check(r.returncode == 2, f"{what}: exit 2 ({r.returncode})")
        check(err.count("\n") == 0 and name in err and err.startswith("plot.py: "),
              f"{what}: one line on stderr naming {name} ({err!r})")
        print(f"  {what}: {err}")
    check(not os.path.exists(out), "no SVG written for bad input")
    r = plot(good)
    check(r.returncode == 2, f"no -o: exit 2 ({r.returncode})")


def cleanup():
    shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    try:
        run([test_fixtures, test_log_y, test_picture, test_real_run, test_bad_input], cleanup)
    except SystemExit as e:
        if e.code == 0 and not chromium_binary():
            sys.exit(77)  # every case passed, but the picture was not looked at
        raise
