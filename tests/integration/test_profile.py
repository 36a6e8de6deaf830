#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Checks that tools/profile.sh draws a flame graph a browser can show.

    test_profile.py PROFILE_SH BUILD_DIR

Runs profile.sh on BUILD_DIR for 3 s (ringer in http mode under ringer-load,
perf attached; once more for 6 s if the server got under 100 ms of CPU, as
on a busy machine), then opens the page it wrote in headless Chromium three
times:

  plain            the DOM holds drawn frames (<g class="frame"> with a
                   <title>) of ringer's own code: a function defined in
                   src/engine/engine.c and one in src/proto/http.c; and the
                   kernel's io_uring_enter
  #zoom=&search=   zoomed on ringer's heaviest frame, which then spans the
                   width over its dimmed ancestors, with ringer's engine and
                   http functions highlighted and their share counted
  screenshot       a 1200x800 PNG that is not blank: many colours, and a
                   good part of it the kernel frames' orange

Also checks the page is one file with no external reference and that
perf-stat.txt has the four software events with numbers.

Exit 77 (skip) only when perf cannot record here (not installed, or not
allowed: perf_event_paranoid, a container without perf_event_open) or when
Chromium is not installed. Anything else that goes wrong is a failure.
"""
import html.parser
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
import zlib

SECS = 3
WIDTH, HEIGHT = 1200, 800
PAD = 4  # the page's margin around the graph (PAD in tools/flamegraph.html)
STAT_EVENTS = ("task-clock", "context-switches", "cpu-migrations", "page-faults")
SUFFIX = re.compile(r"(\.(part|isra|constprop|cold|lto_priv|localalias)(\.\d+)?)+$")

# Fewer samples than this (100 ms of the server's CPU at perf's 4000 Hz) and
# ringer's own frames (about 4 % of them) may be missing for lack of CPU, not
# for a fault in the page; the run is repeated once, twice as long.
MIN_SAMPLES = 400

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("FAIL: " + what)
    return ok


def skip(why):
    print("SKIP: " + why)
    sys.exit(77)


running = None  # the child process group run() is waiting for


def run(cmd, timeout, **kw):
    """Runs cmd in its own process group; on timeout kills that group (the
    server, perf and the load profile.sh started, or Chromium's helpers)."""
    global running
    p = running = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, start_new_session=True, **kw)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        return None, out, err
    finally:
        running = None
    return p.returncode, out, err


def stop(signum, _frame):
    """meson's timeout sends SIGTERM to our group, not to the child's own
    group: take the child's down with us."""
    if running is not None:
        os.killpg(running.pid, signal.SIGKILL)
    print("stopped by signal %d" % signum)
    sys.exit(1)


def perf_usable(tmp):
    """None if perf can record kernel stacks of our own processes here,
    else the reason it cannot."""
    if not shutil.which("perf"):
        return "perf is not installed (linux-perf)"
    try:
        with open("/proc/sys/kernel/perf_event_paranoid") as f:
            paranoid = int(f.read())
    except OSError:
        return "no /proc/sys/kernel/perf_event_paranoid: the kernel has no perf events"
    if os.geteuid() != 0 and paranoid > 1:
        return "perf_event_paranoid is %d: kernel stacks need root or a value <= 1" % paranoid
    rc, _, err = run(["perf", "record", "-e", "cpu-clock", "-g", "-o",
                      os.path.join(tmp, "probe.data"), "--", "true"], 30)
    if rc != 0 and re.search(r"permission|not permitted|paranoid|access to performance"
                             r"|perf_event_open|not found for kernel", err or "", re.I):
        return "perf cannot record here: " + " ".join((err or "").split())[:200]
    return None


def chromium_binary():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Frames(html.parser.HTMLParser):
    """The drawn frames of a dumped page: name, samples, classes, rect."""

    def __init__(self):
        super().__init__()
        self.svg = None
        self.frames = []
        self.matched = ""
        self._frame = None
        self._in_title = False
        self._in_matched = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "svg" and self.svg is None:
            self.svg = a
        elif tag == "g" and "frame" in (a.get("class") or "").split():
            self._frame = {"cls": a["class"].split(), "title": ""}
            self.frames.append(self._frame)
        elif tag == "title" and self._frame is not None:
            self._in_title = True
        elif tag == "rect" and self._frame is not None:
            self._frame["x"] = float(a.get("x", "nan"))
            self._frame["w"] = float(a.get("width", "nan"))
        elif tag == "span" and a.get("id") == "matched":
            self._in_matched = True

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False
        elif tag == "g":
            self._frame = None
        elif tag == "span":
            self._in_matched = False

    def handle_data(self, data):
        if self._in_title:
            self._frame["title"] += data
        elif self._in_matched:
            self.matched += data


def parse_dom(dom):
    p = Frames()
    p.feed(dom)
    for f in p.frames:
        m = re.match(r"^(.*) \((\d+) samples?, [\d.]+%\)$", f["title"])
        f["name"], f["samples"] = (m.group(1), int(m.group(2))) if m else (f["title"], -1)
        f["base"] = SUFFIX.sub("", f["name"])
        f["kind"] = next((c[2:] for c in f["cls"] if c.startswith("k-")), "?")
    return p


def folded_samples(path):
    n = 0
    try:
        with open(path) as f:
            for line in f:
                n += int(line.rsplit(" ", 1)[1])
    except (OSError, IndexError, ValueError):
        pass
    return n


def defined_functions(path):
    """Names of the functions a C file defines (a definition starts at
    column 0 and its line ends without a semicolon)."""
    names = set()
    with open(path) as f:
        for line in f:
            m = re.match(r"^[a-z][\w \*]*?\b(\w+)\(.*[^;]\s*$", line)
            if m and not line.startswith(("typedef", "return")):
                names.add(m.group(1))
    return names


def chromium(browser, tmp, url, *flags):
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--user-data-dir=" + os.path.join(tmp, "chromium-profile"),
           "--window-size=%d,%d" % (WIDTH, HEIGHT), "--virtual-time-budget=3000", *flags, url]
    rc, out, err = run(cmd, 30)
    if rc != 0:
        print("chromium %s: exit %s\n%s" % (" ".join(flags), rc, (err or "")[-2000:]))
    return out if rc == 0 else ""


def png_pixels(path):
    """Decodes an 8-bit RGB or RGBA, non-interlaced PNG: (width, height, rows
    of bytes). Only zlib and struct: no imaging library needed."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, ihdr = 8, [], None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = ihdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise ValueError("PNG format %s not handled" % (ihdr,))
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = w * bpp
    prev = bytearray(stride)
    rows = []
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
                left = cur[i - bpp] if i >= bpp else 0
                cur[i] = (cur[i] + ((left + prev[i]) >> 1)) & 255
        elif ft == 4:
            for i in range(stride):
                a = cur[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                cur[i] = (cur[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(cur))
        prev = cur
    return w, h, bpp, rows


def check_files(out):
    page = os.path.join(out, "flamegraph.html")
    if not check(os.path.isfile(page), "profile.sh wrote flamegraph.html"):
        return None
    with open(page) as f:
        text = f.read()
    ext = [u for u in re.findall(r"(?i)(?:https?:|[\"'(=])//[^\s\"'<>)]*", text)
           if u != "http://www.w3.org/2000/svg"]
    check(not ext, "the page has no external URL (found %s)" % ext[:3])
    check(not re.search(r"(?i)<(script|img|iframe)[^>]*\ssrc\s*=|<link\b|@import|url\(", text),
          "the page loads no script, style or image from another file")
    folded = os.path.join(out, "stacks.folded")
    check(os.path.isfile(folded) and os.path.getsize(folded) > 0,
          "profile.sh wrote non-empty stacks.folded")
    stat = ""
    try:
        with open(os.path.join(out, "perf-stat.txt")) as f:
            stat = f.read()
    except OSError:
        pass
    figures = {}
    for ev in STAT_EVENTS:
        m = re.search(r"^\s*([\d.,]+)\s+(?:msec\s+)?%s\b" % ev, stat, re.M)
        check(m is not None, "perf-stat.txt counts %s" % ev)
        if m:
            figures[ev] = m.group(1)
    print("perf stat: " + ", ".join("%s %s" % kv for kv in figures.items()))
    check(float(figures.get("task-clock", "0").replace(",", "")) > 0,
          "the server used some CPU during the load (task-clock > 0)")
    return page


def check_plain(p, engine_fns, mode_fns):
    svg = p.svg or {}
    total = int(svg.get("data-samples", "0"))
    check(total > 0, "the page draws an svg over the samples (data-samples %s)" % total)
    check(len(p.frames) >= 10, "at least 10 frames drawn (%d)" % len(p.frames))
    width = float(svg.get("width", "0"))
    bad = [f["name"] for f in p.frames
           if not (f["w"] > 0 and f["x"] >= 0 and f["x"] + f["w"] <= width + 0.5)]
    check(not bad, "every frame's rect lies inside the svg (%s)" % bad[:3])
    ours = sorted({f["base"] for f in p.frames if f["kind"] == "r"})
    engine = sorted(set(ours) & engine_fns)
    mode = sorted(set(ours) & mode_fns)
    kernel = sorted({f["name"] for f in p.frames if f["kind"] == "k" and "io_uring_enter" in f["name"]})
    print("drawn: %d frames over %d samples; ringer's: %s" % (len(p.frames), total, ", ".join(ours)))
    print("  from engine.c: %s; from http.c: %s; kernel: %s"
          % (", ".join(engine), ", ".join(mode), ", ".join(kernel)))
    check(engine, "a function of src/engine/engine.c is drawn as a ringer frame")
    check(mode, "a function of src/proto/http.c is drawn as a ringer frame")
    check(kernel, "the kernel's io_uring_enter is drawn as a kernel frame")


def check_zoomed(p, target, fns, plain_count):
    width = float((p.svg or {}).get("width", "0"))
    focus = [f for f in p.frames if f["name"] == target and "dim" not in f["cls"]]
    full = [f for f in focus if abs(f["w"] - (width - 2 * PAD)) < 1]
    dim = [f for f in p.frames if "dim" in f["cls"]]
    check(len(full) == 1, "zoomed on %s: it spans the width (%s of %s)"
          % (target, [f["w"] for f in focus], width - 2 * PAD))
    check(any(f["name"] == "all" for f in dim), "zoomed: the root 'all' is drawn dimmed")
    check(len(p.frames) < plain_count, "zoomed: fewer frames drawn (%d, plain %d)"
          % (len(p.frames), plain_count))
    hits = [f for f in p.frames if "match" in f["cls"]]
    wrong = [f["name"] for f in hits if f["base"] not in fns]
    missed = [f["name"] for f in p.frames if "match" not in f["cls"] and f["base"] in fns]
    check(hits and not wrong, "search highlights engine/http frames only (%d, wrong %s)"
          % (len(hits), wrong[:3]))
    check(not missed, "search misses no drawn engine/http frame (%s)" % missed[:3])
    m = re.search(r"matched ([\d.]+)% \((\d+) of (\d+) samples?\)", p.matched)
    check(m and 0 < int(m.group(2)) <= int(m.group(3)),
          "the page counts the matched samples (%r)" % p.matched)
    print("zoomed on %s: %d frames drawn, %d highlighted; %s"
          % (target, len(p.frames), len(hits), p.matched))


def check_screenshot(path):
    if not check(os.path.isfile(path), "chromium wrote the screenshot"):
        return
    size = os.path.getsize(path)
    check(size > 10000, "the screenshot is more than 10 kB (%d bytes)" % size)
    try:
        w, h, bpp, rows = png_pixels(path)
    except (ValueError, zlib.error, struct.error, TypeError) as e:
        check(False, "the screenshot decodes as a PNG (%s)" % e)
        return
    counts = {}
    orange = 0
    for row in rows:
        for i in range(0, len(row), bpp):
            px = row[i:i + 3]
            counts[px] = counts.get(px, 0) + 1
    for px, n in counts.items():
        r, g, b = px
        if r >= 195 and 95 <= g <= 185 and b <= 60:
            orange += n
    common = max(counts.values())
    print("screenshot: %dx%d, %d bytes, %d colours, commonest %.1f%%, kernel orange %.1f%%"
          % (w, h, size, len(counts), 100 * common / (w * h), 100 * orange / (w * h)))
    check((w, h) == (WIDTH, HEIGHT), "the screenshot is %dx%d" % (WIDTH, HEIGHT))
    check(len(counts) >= 16, "the screenshot has at least 16 colours (%d)" % len(counts))
    check(common < 0.9 * w * h, "no colour covers 90% of the screenshot")
    check(orange > 0.05 * w * h, "kernel frames cover over 5% of the screenshot")


def main():
    if len(sys.argv) != 3:
        print("usage: test_profile.py PROFILE_SH BUILD_DIR")
        return 1
    profile_sh, build = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    src = os.path.dirname(os.path.dirname(profile_sh))
    engine_fns = defined_functions(os.path.join(src, "src/engine/engine.c"))
    mode_fns = defined_functions(os.path.join(src, "src/proto/http.c"))
    if not (engine_fns and mode_fns):
        print("FAIL: no function definitions found in engine.c / http.c")
        return 1
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ringer-profile-test.") as tmp:
        why = perf_usable(tmp)
        if why:
            skip(why)
        browser = chromium_binary()
        if not browser:
            skip("chromium is not installed")

        out = os.path.join(tmp, "out")
        for secs in (SECS, 2 * SECS):
            env = dict(os.environ, SECS=str(secs), OUT=out, MODE="http")
            rc, stdout, stderr = run(["bash", profile_sh, build], 40, env=env)
            print("profile.sh, SECS=%d: exit %s after %.1f s"
                  % (secs, rc, time.monotonic() - t0))
            if not check(rc == 0, "profile.sh exits 0"):
                print(stdout[-3000:] + stderr[-3000:])
                return 1
            n = folded_samples(os.path.join(out, "stacks.folded"))
            if n >= MIN_SAMPLES:
                break
            # A starved server says nothing about the page: run once more.
            print("only %d samples (%.0f ms of the server's CPU): the machine is busy"
                  % (n, n * 0.25))
        page = check_files(out)
        if page is None:
            return 1
        url = "file://" + urllib.parse.quote(page)

        plain = parse_dom(chromium(browser, tmp, url, "--dump-dom"))
        check_plain(plain, engine_fns, mode_fns)

        heaviest = max((f for f in plain.frames if f["kind"] == "r"),
                       key=lambda f: f["samples"], default=None)
        if heaviest:
            fns = engine_fns | mode_fns
            regex = "^(%s)(\\..*)?$" % "|".join(sorted(fns))
            frag = "#zoom=%s&search=%s" % (urllib.parse.quote(heaviest["name"], safe=""),
                                           urllib.parse.quote(regex, safe=""))
            zoomed = parse_dom(chromium(browser, tmp, url + frag, "--dump-dom"))
            check_zoomed(zoomed, heaviest["name"], fns, len(plain.frames))

        shot = os.path.join(tmp, "flamegraph.png")
        chromium(browser, tmp, url, "--screenshot=" + shot, "--hide-scrollbars")
        check_screenshot(shot)
    print("took %.1f s" % (time.monotonic() - t0))
    if failures:
        print("%d check(s) did not hold" % len(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
