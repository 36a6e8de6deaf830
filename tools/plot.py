#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Draws load runs as one self-contained SVG, to compare them side by side.

    tools/plot.py -o OUT.svg [--title T] [--log-y] RUN [RUN ...]
    RUN = FILE[=LABEL]

FILE is one of:
  - ringer-load --json output: one JSON document; its "hdr_percentiles_ms"
    (HdrHistogram's percentile text) gives the percentile line, its
    "intervals" (with --interval) the time series;
  - ringer-load --json-stream output: JSON lines, {"type":"interval", ...}
    per interval and a final {"type":"summary", ...} (the --json document);
  - HdrHistogram percentile-distribution text (.hgrm): what ringer-load
    --hdr-out writes, wrk2 -U prints, HdrHistogram's
    outputPercentileDistribution writes (also its CSV form).
LABEL names the run in the legend (default: the file name without its
extension). A FILE that exists is taken whole even if its name holds '='.

Panels:
  1. latency by percentile, HdrHistogram's chart: x is 1/(1-percentile) on a
     log scale (0%, 90%, 99%, 99.9%, ...), y the latency in ms (--log-y for a
     log scale); the 100% row (1/(1-p) = inf) is drawn at the right edge;
  2. requests/s over time, with the target rate dashed where the run was
     open loop (target_rate > 0);
  3. p99 latency over time.
Panels 2 and 3 are drawn only when some run has intervals. Each interval is
a step: its value holds from t_s to t_s + duration_s.

The SVG has no script and loads nothing: fonts are named (DejaVu Sans first,
the browser's sans-serif last), colours are inline. Python 3.11's standard
library only.

Exit status: 0 written, 2 bad arguments or an input that cannot be read or
is not one of the formats above (one line on stderr says which and why),
1 the output could not be written.
"""
import argparse
import html
import json
import math
import os
import re
import sys

# Tableau's 10 colours with red moved second: the usual two runs are blue and
# red, which most colour-blind readers tell apart too.
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
           "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"]
FONT = "DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif"
WIDTH = 960
LEFT, RIGHT = 84, 40  # room for the y tick labels and title; for half the last x label
PCT_HEIGHT, TIME_HEIGHT = 360, 220  # plot areas, without titles and ticks
TICK_FONT, AXIS_FONT, PANEL_FONT, TITLE_FONT = 12, 13, 15, 18
LINE_WIDTH = 2.2


class InputError(Exception):
    """A RUN that cannot be plotted; the message names the file."""


class Run:
    def __init__(self, path, label):
        self.path = path
        self.label = label
        self.pct = []        # (percentile as a fraction 0..1, value in ms)
        self.total = None    # samples behind self.pct, when the text says
        self.max_ms = None
        self.intervals = []  # the interval rows, in time order
        self.summary = None  # the --json document, when there is one


# HdrHistogram's percentile text. The header names the columns; a data row
# is value, percentile (a fraction), total count, 1/(1-percentile), the last
# 'inf' (Java prints 'Infinity'); the CSV form puts commas between them.
HGRM_HEADER = re.compile(r'^\s*"?Value"?\s*[,\s]\s*"?Percentile"?', re.I)
HGRM_ROW = re.compile(r"^\s*([-+0-9.eE]+)\s*[,\s]\s*([-+0-9.eE]+)\s*[,\s]\s*(\d+)"
                      r"\s*[,\s]\s*([-+0-9.eE]+|inf|Infinity)\s*$")
HGRM_MAX = re.compile(r"#\[Max\s*=\s*([-+0-9.eE]+),\s*Total count\s*=\s*(\d+)\]")


def parse_hgrm(text, where):
    """(rows, total, max) of a percentile distribution; rows sorted by
    percentile. Lines before the header (wrk2 prints its report first) and
    after the rows are skipped."""
    rows, header, total, vmax, last = [], False, None, None, None
    for line in text.splitlines():
        if not header:
            header = bool(HGRM_HEADER.match(line))
            continue
        m = HGRM_ROW.match(line)
        if m:
            try:
                value, p = float(m.group(1)), float(m.group(2))
            except ValueError:
                raise InputError(f"{where}: bad percentile row: {line.strip()!r}") from None
            if not (0.0 <= p <= 1.0) or not math.isfinite(value) or value < 0:
                raise InputError(f"{where}: percentile row out of range: {line.strip()!r}")
            rows.append((p, value))
            last = (int(m.group(3)), value)
            continue
        m = HGRM_MAX.search(line)
        if m:
            vmax, total = float(m.group(1)), int(m.group(2))
    if not header:
        raise InputError(f"{where}: not ringer-load JSON, JSON lines or HdrHistogram "
                         "percentile text (no 'Value Percentile TotalCount' header)")
    if not rows and total != 0:
        raise InputError(f"{where}: no percentile rows under the header")
    if total is None and last:  # the CSV form has no footer: its last row says as much
        total, vmax = last
    rows.sort()
    return rows, total, vmax


def number(row, key, where):
    v = row.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise InputError(f"{where}: \"{key}\" is missing or not a number")
    return float(v)


def check_interval(row, where):
    """The fields an interval row must have, as numbers; p99 may be absent
    (an interval without responses)."""
    if not isinstance(row, dict):
        raise InputError(f"{where}: an interval is not a JSON object")
    out = {k: number(row, k, where) for k in ("t_s", "duration_s", "requests_per_s")}
    out["requests"] = number(row, "requests", where) if "requests" in row else None
    out["target_rate"] = number(row, "target_rate", where) if "target_rate" in row else 0.0
    lat = row.get("latency_us")
    p99 = lat.get("p99") if isinstance(lat, dict) else None
    out["p99_ms"] = p99 / 1e3 if isinstance(p99, (int, float)) and math.isfinite(p99) else None
    if out["duration_s"] <= 0:
        raise InputError(f"{where}: an interval's duration_s is not positive")
    return out


def stream_lines(text, where, whole_error):
    """(summary documents, interval rows) of JSON lines."""
    docs, stream = [], []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            # A file of one line that is not JSON: say what json.loads said
            # of the whole file (a document cut short), else of that line.
            if whole_error and "\n" not in text.strip():
                e = whole_error
            raise InputError(f"{where}: line {n}: not JSON at column {e.colno}: {e.msg}") \
                from None
        if not isinstance(obj, dict):
            raise InputError(f"{where}: line {n}: not a JSON object")
        kind = obj.get("type")
        if kind == "interval":
            stream.append(check_interval(obj, f"{where}: line {n}"))
        elif kind == "summary" or kind is None:
            docs.append(obj)
        # Other types are records a newer ringer-load may add: skipped.
    return docs, stream


def parse_json(text, where):
    """(document or None, interval rows) of --json or --json-stream output."""
    whole, error = None, None
    try:
        whole = json.loads(text)
    except json.JSONDecodeError as e:
        error = e
    if isinstance(whole, dict) and "type" not in whole:
        docs, stream = [whole], []
    else:
        docs, stream = stream_lines(text, where, error)
    if len(docs) > 1:
        raise InputError(f"{where}: {len(docs)} summary documents; give one run per file")
    doc = docs[0] if docs else None
    if doc is not None and not isinstance(doc, dict):
        raise InputError(f"{where}: not a JSON object")
    if doc is None and not stream:
        raise InputError(f"{where}: no summary and no interval lines: "
                         "not ringer-load --json-stream output")
    if doc is not None and "find_max" in doc and not stream:
        raise InputError(f"{where}: a --find-max result: its steps carry no latency "
                         "distribution or intervals to plot")
    if doc is not None and "hdr_percentiles_ms" not in doc and "intervals" not in doc \
            and not stream:
        raise InputError(f"{where}: no \"hdr_percentiles_ms\" or \"intervals\": "
                         "not ringer-load --json output")
    return doc, stream


def load(path, label):
    where = path
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise InputError(f"{where}: not text (not UTF-8)") from None
    run = Run(path, label)
    if not text.lstrip().startswith(("{", "[")):
        run.pct, run.total, run.max_ms = parse_hgrm(text, where)
        return run
    doc, stream = parse_json(text, where)
    run.summary = doc
    if doc is not None and "hdr_percentiles_ms" in doc:
        hdr = doc["hdr_percentiles_ms"]
        if not isinstance(hdr, str):
            raise InputError(f"{where}: \"hdr_percentiles_ms\" is not a string")
        run.pct, run.total, run.max_ms = parse_hgrm(hdr, where + ": hdr_percentiles_ms")
    rows = stream
    if not rows and doc is not None and doc.get("intervals") is not None:
        if not isinstance(doc["intervals"], list):
            raise InputError(f"{where}: \"intervals\" is not a list")
        rows = [check_interval(r, f"{where}: intervals[{i}]")
                for i, r in enumerate(doc["intervals"])]
    run.intervals = sorted(rows, key=lambda r: r["t_s"])
    return run


def parse_run_arg(arg):
    """FILE[=LABEL]: the label defaults to the file name without extension."""
    path, label = arg, None
    if not os.path.exists(arg) and "=" in arg:
        path, label = arg.split("=", 1)
    if not label:
        label = os.path.splitext(os.path.basename(path))[0] or path
    return path, label


# ---- scales and ticks -------------------------------------------------------

class Scale:
    """Maps data values in [lo, hi] onto pixels [a, b], linearly or by log10."""

    def __init__(self, lo, hi, a, b, log=False):
        self.log = log
        self.lo, self.hi = (math.log10(lo), math.log10(hi)) if log else (lo, hi)
        self.a, self.b = a, b

    def __call__(self, v):
        if self.log:
            v = math.log10(v) if v > 0 else self.lo - 1
        v = min(max(v, self.lo - 1), self.hi + 1)  # clip far outliers; the clip path does the rest
        return self.a + (v - self.lo) / (self.hi - self.lo) * (self.b - self.a)


def nice_step(span, n):
    """The 1-2-5 step that cuts span into about n parts."""
    raw = span / n
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * mag >= raw * (1 - 1e-9):
            return m * mag
    return 10 * mag


def linear_ticks(hi, n):
    """Ticks from 0 to a nice top at or above hi: (top, ticks, step)."""
    if not hi > 0:
        hi = 1.0
    step = nice_step(hi, n)
    k = math.ceil(hi / step - 1e-9)
    return k * step, [i * step for i in range(k + 1)], step


def log_ticks(lo, hi):
    """A log axis from the 1-2-5 value at or below lo to the one at or above
    hi: (bottom, top, ticks). Ticks are every 1-2-5 value when the axis spans
    three decades or less, else the decades."""
    def nice(v, up):
        e = math.floor(math.log10(v) + 1e-9)
        steps = [m * 10.0 ** k for k in (e - 1, e, e + 1) for m in (1, 2, 5)]
        return min(x for x in steps if x >= v * (1 - 1e-9)) if up else \
            max(x for x in steps if x <= v * (1 + 1e-9))
    bottom, top = nice(lo, False), nice(hi, True)
    if top <= bottom:
        top = nice(bottom * 1.5, True)
    few = math.log10(top / bottom) <= 3 + 1e-9
    a, b = math.floor(math.log10(bottom) + 1e-9), math.ceil(math.log10(top) - 1e-9)
    ticks = [m * 10.0 ** e for e in range(a, b + 1) for m in ((1, 2, 5) if few else (1,))]
    return bottom, top, [v for v in ticks if bottom * (1 - 1e-9) <= v <= top * (1 + 1e-9)]


def fmt(v, step, si=False):
    """A tick label: as many decimals as the step needs; with si, k and M
    for big round numbers (100k, 1.5M requests/s)."""
    if v == 0:
        return "0"
    for div, suffix in ((1e6, "M"), (1e3, "k")) if si else ():
        if abs(v) >= div and step >= div / 10:
            return fmt(v / div, step / div) + suffix
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return f"{v:.{decimals}f}"


def pct_label(decade):
    """The percentile at 1/(1-p) = 10^decade: 0%, 90%, 99%, 99.9%, ..."""
    if decade == 0:
        return "0%"
    return f"{100 - 100 / 10 ** decade:.{max(0, decade - 2)}f}%"


def sig3(v):
    """3 significant digits, no exponent for the values latency takes."""
    if v == 0:
        return "0"
    decimals = max(0, 2 - math.floor(math.log10(abs(v))))
    return f"{v:.{decimals}f}"


# ---- SVG --------------------------------------------------------------------

def esc(s):
    return html.escape(str(s), quote=True)


def text_width(s, size):
    """A rough width of s at this font size (DejaVu Sans averages a little
    under 0.6 em a character in mixed text)."""
    return 0.58 * size * len(s)


class Svg:
    def __init__(self):
        self.parts = []
        self.clips = 0

    def add(self, s):
        self.parts.append(s)

    def text(self, x, y, s, size=TICK_FONT, anchor="start", fill="#333", cls=None,
             weight=None, rotate=False):
        attrs = f'x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{fill}"'
        if anchor != "start":
            attrs += f' text-anchor="{anchor}"'
        if weight:
            attrs += f' font-weight="{weight}"'
        if cls:
            attrs += f' class="{cls}"'
        if rotate:
            attrs += f' transform="rotate(-90 {x:.1f} {y:.1f})"'
        self.add(f"<text {attrs}>{esc(s)}</text>")

    def line(self, x1, y1, x2, y2, stroke, width=1.0, dash=None):
        d = f' stroke-dasharray="{dash}"' if dash else ""
        self.add(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
                 f'stroke="{stroke}" stroke-width="{width}"{d}/>')

    def clip(self, x, y, w, h):
        self.clips += 1
        cid = f"plot{self.clips}"
        self.add(f'<clipPath id="{cid}"><rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" '
                 f'height="{h:.1f}"/></clipPath>')
        return cid


def path_d(subpaths):
    """An SVG path's d from lists of (x, y) pixels; repeated points dropped."""
    out = []
    for pts in subpaths:
        last = None
        for i, (x, y) in enumerate(pts):
            p = (round(x, 1), round(y, 1))
            if p == last:
                continue
            out.append(f"{'M' if i == 0 else 'L'}{p[0]:g} {p[1]:g}")
            last = p
    return " ".join(out)


def shade(colour, k):
    """#rrggbb with each channel scaled by k (k < 1: darker)."""
    return "#" + "".join(f"{round(int(colour[i:i + 2], 16) * k):02x}" for i in (1, 3, 5))


def series(svg, subpaths, colour, label, cid, cls="series", dash=None, width=LINE_WIDTH):
    d = path_d([s for s in subpaths if s])
    if not d:
        return
    dash = f' stroke-dasharray="{dash}"' if dash else ""
    svg.add(f'<path class="{cls}" d="{d}" fill="none" stroke="{colour}" '
            f'stroke-width="{width}" stroke-linejoin="round" stroke-linecap="round"'
            f'{dash} clip-path="url(#{cid})"><title>{esc(label)}</title></path>')


def frame(svg, x0, y0, w, h, xticks, yticks, xtitle, ytitle):
    """Grid, frame, tick labels and axis titles of one plot area.
    xticks, yticks: (pixel, label or None for a grid line only)."""
    for px, label in yticks:
        svg.line(x0, px, x0 + w, px, "#e3e3e3")
        if label is not None:
            svg.line(x0 - 4, px, x0, px, "#888")
            svg.text(x0 - 7, px + TICK_FONT * 0.35, label, anchor="end", cls="tick")
    for px, label in xticks:
        svg.line(px, y0, px, y0 + h, "#e3e3e3")
        if label is not None:
            svg.line(px, y0 + h, px, y0 + h + 4, "#888")
            svg.text(px, y0 + h + 6 + TICK_FONT, label, anchor="middle", cls="tick")
    svg.add(f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{w:.1f}" height="{h:.1f}" '
            'fill="none" stroke="#888"/>')
    svg.text(x0 + w / 2, y0 + h + 14 + TICK_FONT + AXIS_FONT, xtitle, size=AXIS_FONT,
             anchor="middle", fill="#222", cls="axis-title")
    svg.text(LEFT - 58, y0 + h / 2, ytitle, size=AXIS_FONT, anchor="middle", fill="#222",
             cls="axis-title", rotate=True)


def legend_box(svg, x, y, entries):
    """A framed legend, one entry a row: (colour, label, note, dash); the
    notes line up in a column after the longest label."""
    row, size = 19, TICK_FONT + 1
    label_w = max(text_width(lab, size) for _, lab, _, _ in entries)
    note_w = max(text_width(note or "", TICK_FONT) for _, _, note, _ in entries)
    w = 38 + label_w + (14 + note_w if note_w else 0) + 10
    h = row * len(entries) + 10
    svg.add(f'<g class="legend"><rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" '
            f'height="{h:.1f}" fill="#fff" fill-opacity="0.9" stroke="#ccc"/>')
    for i, (colour, label, note, dash) in enumerate(entries):
        cy = y + 5 + row * i + row / 2
        svg.line(x + 8, cy, x + 32, cy, colour, LINE_WIDTH + 0.8, dash)
        svg.text(x + 38, cy + 4.5, label, size=size, fill="#222", cls="legend-label")
        if note:
            svg.text(x + 38 + label_w + 14, cy + 4.5, note, fill="#666", cls="legend-note")
    svg.add("</g>")


def legend_row(svg, x, y, entries, width):
    """Legend entries side by side, wrapping at width; returns the height used."""
    cx, cy, row = x, y, 19
    svg.add('<g class="legend">')
    for colour, label, _, dash in entries:
        w = 32 + text_width(label, TICK_FONT + 1) + 18
        if cx > x and cx + w > x + width:
            cx, cy = x, cy + row
        svg.line(cx, cy, cx + 24, cy, colour, LINE_WIDTH + 0.8, dash)
        svg.text(cx + 30, cy + 4.5, label, size=TICK_FONT + 1, fill="#222", cls="legend-label")
        cx += w
    svg.add("</g>")
    return cy - y + row


def run_note(run):
    """What the legend says of a run beside its label: throughput and tail."""
    s = run.summary or {}
    lat = s.get("latency_us") if isinstance(s.get("latency_us"), dict) else {}
    bits = []
    if isinstance(s.get("requests_per_s"), (int, float)):
        bits.append(f"{s['requests_per_s']:,.0f} req/s")
    if isinstance(lat.get("p99"), (int, float)):
        bits.append(f"p99 {sig3(lat['p99'] / 1e3)} ms")
    if isinstance(lat.get("max"), (int, float)):
        bits.append(f"max {sig3(lat['max'] / 1e3)} ms")
    elif run.max_ms is not None:
        bits.append(f"max {sig3(run.max_ms)} ms")
    if not s and run.total is not None:
        bits.insert(0, f"{run.total:,} samples")
    return ", ".join(bits)


def panel_percentiles(svg, top, runs, colours, log_y):
    """Latency by percentile; returns the y below the panel."""
    drawn = [(r, c) for r, c in zip(runs, colours) if r.pct]
    x0, w = LEFT, WIDTH - LEFT - RIGHT
    svg.add('<g class="panel" id="percentiles">')
    svg.text(x0, top + PANEL_FONT, "Latency by percentile", size=PANEL_FONT, weight="bold",
             fill="#222", cls="panel-title")
    y0, h = top + PANEL_FONT + 12, PCT_HEIGHT
    finite = [1 / (1 - p) for r, _ in drawn for p, _ in r.pct if p < 1]
    decades = max(5, math.ceil(math.log10(max(finite + [1.0])) - 1e-9))
    xmax = 10.0 ** decades
    xs = Scale(1, xmax, x0, x0 + w, log=True)
    values = [v for r, _ in drawn for _, v in r.pct]
    if log_y:
        positive = [v for v in values if v > 0] or [1.0]
        lo, hi, ticks = log_ticks(min(positive), max(positive))
        ys = Scale(lo, hi, y0 + h, y0, log=True)
        yticks = [(ys(v), fmt(v, v)) for v in ticks]
    else:
        hi, ticks, step = linear_ticks(max(values + [0.0]) * 1.02, 8)
        ys = Scale(0, hi, y0 + h, y0)
        yticks = [(ys(v), fmt(v, step)) for v in ticks]
    xticks = [(xs(10.0 ** d), pct_label(d)) for d in range(decades + 1)]
    frame(svg, x0, y0, w, h, xticks, yticks, "Percentile", "Latency (ms)")
    cid = svg.clip(x0, y0, w, h)
    for run, colour in drawn:
        pts = [(xs(1 / (1 - p)) if p < 1 else xs(xmax), ys(v)) for p, v in run.pct]
        series(svg, [pts], colour, run.label, cid)
    legend_box(svg, x0 + 10, y0 + 10,
               [(c, r.label, run_note(r), None) for r, c in zip(runs, colours)])
    svg.add("</g>")
    return y0 + h + 14 + TICK_FONT + AXIS_FONT + 26


def steps(rows, key, xs, ys):
    """A step line: each row's value held over its interval; a row without
    the value breaks the line."""
    subpaths, cur = [], []
    for r in rows:
        v = r[key]
        if v is None:
            if cur:
                subpaths.append(cur)
            cur = []
            continue
        cur += [(xs(r["t_s"]), ys(v)), (xs(r["t_s"] + r["duration_s"]), ys(v))]
    if cur:
        subpaths.append(cur)
    return subpaths


def panel_time(svg, top, runs, colours, pid, title, ytitle, key, tend):
    """One time-series panel; returns the y below it."""
    drawn = [(r, c) for r, c in zip(runs, colours) if r.intervals]
    x0, w = LEFT, WIDTH - LEFT - RIGHT
    svg.add(f'<g class="panel" id="{pid}">')
    svg.text(x0, top + PANEL_FONT, title, size=PANEL_FONT, weight="bold", fill="#222",
             cls="panel-title")
    targets = key == "requests_per_s" and any(i["target_rate"] > 0
                                              for r, _ in drawn for i in r.intervals)
    entries = [(c, r.label, None, None) for r, c in drawn]
    if targets:
        entries.append(("#555", "target rate", None, "7 5"))
    # The legend sits under the title, so it never hides a line.
    lx = x0 + text_width(title, PANEL_FONT) + 40
    lh = legend_row(svg, lx, top + PANEL_FONT - 5, entries, x0 + w - lx)
    y0, h = top + max(PANEL_FONT + 12, lh + 8), TIME_HEIGHT
    xtop, xt, xstep = linear_ticks(tend, 10)
    xs = Scale(0, xtop, x0, x0 + w)
    vals = [i[key] for r, _ in drawn for i in r.intervals if i[key] is not None]
    if targets:
        vals += [i["target_rate"] for r, _ in drawn for i in r.intervals]
    ytop, yt, ystep = linear_ticks(max(vals + [0.0]) * 1.05, 5)
    ys = Scale(0, ytop, y0 + h, y0)
    frame(svg, x0, y0, w, h, [(xs(v), fmt(v, xstep)) for v in xt],
          [(ys(v), fmt(v, ystep, si=key == "requests_per_s")) for v in yt], "Time (s)", ytitle)
    cid = svg.clip(x0, y0, w, h)
    for run, colour in drawn:
        rows = run.intervals
        if key == "p99_ms":
            # An interval that completed nothing has no p99 to show.
            rows = [dict(i, p99_ms=None) if i["requests"] == 0 else i for i in rows]
        series(svg, steps(rows, key, xs, ys), colour, run.label, cid)
        if key == "requests_per_s":
            tr = [dict(i, target_rate=i["target_rate"] if i["target_rate"] > 0 else None)
                  for i in rows]
            # Darker than the run's line: a run that holds its target draws
            # both in one place, and the dashes must still show.
            series(svg, steps(tr, "target_rate", xs, ys), shade(colour, 0.55),
                   run.label + " target rate", cid, cls="target", dash="7 5", width=1.6)
    svg.add("</g>")
    return y0 + h + 14 + TICK_FONT + AXIS_FONT + 26


def render(runs, title, log_y):
    colours = [PALETTE[i % len(PALETTE)] for i in range(len(runs))]
    body = Svg()
    y = 14
    if title:
        body.text(WIDTH / 2, y + TITLE_FONT, title, size=TITLE_FONT, anchor="middle",
                  weight="bold", fill="#111", cls="title")
        y += TITLE_FONT + 22
    if any(r.pct for r in runs):
        y = panel_percentiles(body, y, runs, colours, log_y)
    if any(r.intervals for r in runs):
        tend = max(i["t_s"] + i["duration_s"] for r in runs for i in r.intervals)
        y = panel_time(body, y, runs, colours, "rate", "Requests/s over time", "Requests/s",
                       "requests_per_s", tend)
        y = panel_time(body, y, runs, colours, "p99", "p99 latency over time", "p99 (ms)",
                       "p99_ms", tend)
    height = math.ceil(y - 6)
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
            f'viewBox="0 0 {WIDTH} {height}" font-family="{FONT}">\n'
            f'<rect width="{WIDTH}" height="{height}" fill="#fff"/>\n')
    return head + "\n".join(body.parts) + "\n</svg>\n"


def main(argv):
    ap = argparse.ArgumentParser(
        prog="plot.py", description="Draws ringer-load runs (or .hgrm files) as one SVG.",
        epilog="RUN = FILE[=LABEL]: ringer-load --json or --json-stream output, or "
               "HdrHistogram percentile text (.hgrm).")
    ap.add_argument("-o", "--output", required=True, help="the SVG to write ('-': stdout)")
    ap.add_argument("--title", help="a title above the panels (default: the labels)")
    ap.add_argument("--log-y", action="store_true", help="latency by percentile on a log y axis")
    ap.add_argument("runs", nargs="+", metavar="RUN")
    args = ap.parse_args(argv)
    runs = []
    try:
        for arg in args.runs:
            path, label = parse_run_arg(arg)
            runs.append(load(path, label))
    except InputError as e:
        print(f"plot.py: {e}", file=sys.stderr)
        return 2
    if not any(r.pct or r.intervals for r in runs):
        print("plot.py: nothing to draw: no run has samples", file=sys.stderr)
        return 2
    for r in runs:
        if not (r.pct or r.intervals):
            print(f"plot.py: {r.path}: no samples; only its legend entry is drawn",
                  file=sys.stderr)
    title = args.title if args.title is not None else " vs ".join(r.label for r in runs)
    svg = render(runs, title, args.log_y)
    try:
        if args.output == "-":
            sys.stdout.write(svg)
        else:
            with open(args.output, "w", encoding="utf-8") as f:
                f.write(svg)
    except OSError as e:
        print(f"plot.py: cannot write {args.output}: {e.strerror or e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
