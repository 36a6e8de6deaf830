#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Records where ringer spends its time under load: ringer (--shards 1, CPU 0)
# loaded by ringer-load (CPU 1) for SECS seconds while `perf record -g`
# samples the server (frame pointers are on in every build, so stacks are
# whole). Prints the top symbols, and writes folded stacks (one line per
# stack, "frame;frame;frame count") that flamegraph.pl, speedscope or
# inferno render as a flame graph.
#
# Debian's liburing is built without frame pointers, so with the default
# frame-pointer unwinding the frame between the thread start and the
# io_uring_enter syscall shows as [unknown]; CALLGRAPH=dwarf recovers it, at
# the price of much larger recordings.
#
# During the same load `perf stat` counts the server's software events
# (task-clock, context-switches, cpu-migrations, page-faults: a guest has no
# cycles or instructions), and the folded stacks become an interactive flame
# graph: tools/flamegraph.html with the data inlined, one file that needs no
# network (click a frame to zoom, Esc or "Reset zoom" to go back, search with
# a regular expression for the share of samples that pass through a function;
# #search=REGEX&zoom=NAME in the address opens it searched or zoomed).
#
# Usage: tools/profile.sh [BUILD_DIR] [-- ringer-load flags]
#   default load: --mode http --connections 100 (ringer in --mode http);
#   MODE=echo profiles echo mode with --mode echo --size 64.
# Env: SECS=5 OUT=/tmp/ringer-profile CALLGRAPH=fp
# Writes to OUT: perf.data, stacks.folded, flamegraph.html, perf-stat.txt,
#   frames.kinds (each frame's kernel/ringer/library class, for the colours),
#   ringer.out (the server's output) and perf.log (perf's messages).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=build
if [ $# -gt 0 ] && [ "$1" != "--" ]; then BUILD=$1; shift; fi
[ "${1:-}" = "--" ] && shift
SECS=${SECS:-5}
MODE=${MODE:-http}
OUT=${OUT:-/tmp/ringer-profile}
CALLGRAPH=${CALLGRAPH:-fp}
RINGER=$BUILD/src/server/ringer
LOAD=$BUILD/src/load/ringer-load
[ -x "$RINGER" ] && [ -x "$LOAD" ] || { echo "build first: tools/build.sh" >&2; exit 1; }
command -v perf >/dev/null || { echo "perf is not installed (apt-get install linux-perf)" >&2; exit 1; }
mkdir -p "$OUT"

# Everything started here is stopped by its PID on the way out.
PIDS=()
FIFOS=$(mktemp -d)
trap 'kill "${PIDS[@]}" 2>/dev/null || true; rm -rf "$FIFOS"' EXIT

"$RINGER" --mode "$MODE" --listen 127.0.0.1:0 --shards 1 --quiet >"$OUT/ringer.out" 2>&1 &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
for _ in $(seq 100); do
	grep -q '^listening on' "$OUT/ringer.out" 2>/dev/null && break
	sleep 0.05
done
PORT=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$OUT/ringer.out")
[ -n "$PORT" ] || { echo "ringer did not start" >&2; exit 1; }

load_args=("$@")
if [ ${#load_args[@]} -eq 0 ]; then
	if [ "$MODE" = echo ]; then
		load_args=(--mode echo --size 64 --connections 100)
	else
		load_args=(--mode http --connections 100)
	fi
fi

# perf record and perf stat start with their events off (-D -1) and answer
# "ack" on a FIFO once told to enable them; the load starts after both have,
# and they stop (SIGINT) when it ends. On a busy machine perf's own start-up
# can take longer than a short run: started together with the load, a
# SECS=1 run once recorded nothing. (-D -1 and --control: perf 5.10 or newer.)
mkfifo "$FIFOS/record.ctl" "$FIFOS/record.ack" "$FIFOS/stat.ctl" "$FIFOS/stat.ack"
exec {REC_CTL}<>"$FIFOS/record.ctl" {REC_ACK}<>"$FIFOS/record.ack" \
	{STAT_CTL}<>"$FIFOS/stat.ctl" {STAT_ACK}<>"$FIFOS/stat.ack"
: >"$OUT/perf.log"
perf record --call-graph "$CALLGRAPH" -o "$OUT/perf.data" -p "$SERVER_PID" -D -1 \
	--control "fifo:$FIFOS/record.ctl,$FIFOS/record.ack" >/dev/null 2>>"$OUT/perf.log" &
PERF_PID=$!
PIDS+=("$PERF_PID")
perf stat -e task-clock,context-switches,cpu-migrations,page-faults -o "$OUT/perf-stat.txt" \
	-p "$SERVER_PID" -D -1 --control "fifo:$FIFOS/stat.ctl,$FIFOS/stat.ack" >/dev/null 2>>"$OUT/perf.log" &
STAT_PID=$!
PIDS+=("$STAT_PID")

# Waits up to 30 s for perf's "ack" on fd $1; fails early if perf ($2) died.
perf_enabled() {
	local _
	for _ in $(seq 30); do
		read -r -t 1 -u "$1" _ && return 0
		kill -0 "$2" 2>/dev/null || return 1
	done
	return 1
}
echo enable >&"$REC_CTL"
echo enable >&"$STAT_CTL"
perf_enabled "$REC_ACK" "$PERF_PID" && perf_enabled "$STAT_ACK" "$STAT_PID" ||
	{ echo "perf did not start recording; see $OUT/perf.log" >&2; exit 1; }
"$LOAD" --target "127.0.0.1:$PORT" --cpus 1 --duration "${SECS}s" "${load_args[@]}" |
	grep -E '^  (requests|errors|latency)' || true
kill -INT "$PERF_PID" "$STAT_PID" 2>/dev/null || true
wait "$PERF_PID" || true
wait "$STAT_PID" || true
PIDS=("$SERVER_PID") # the others are reaped: their PIDs may be someone else's now

echo "== top symbols (self time)"
perf report -i "$OUT/perf.data" --no-children --sort sym --stdio -g none 2>/dev/null |
	grep -E '^ +[0-9]' | head -25 || true
echo "== user space vs kernel"
perf report -i "$OUT/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null |
	grep -E '^ +[0-9]' | head -5 || true

echo "== perf stat of the server (${SECS} s)"
grep -E '^ +[0-9.,]+ +(msec )?[a-z-]+' "$OUT/perf-stat.txt" || echo "perf stat counted nothing (see $OUT/perf-stat.txt)"

# Folded stacks: perf script prints each sample as a header line, then one
# frame per line (innermost first), then a blank line. Each frame's class
# goes to frames.kinds for the page's colours: kernel by its address (the
# upper half), ringer by its binary's name, anything else a library.
perf script -i "$OUT/perf.data" 2>/dev/null | awk -v kinds="$OUT/frames.kinds" -v own="${RINGER##*/}" '
	/^[^ \t]/ { n = 0; next }
	/^[ \t]+[0-9a-f]+ / { addr = $1; dso = ""
		if (match($0, / \([^()]*\)$/)) dso = substr($0, RSTART + 2, RLENGTH - 3)
		sub(/^[ \t]+[0-9a-f]+ /, ""); sub(/\+0x[0-9a-f]+.*$/, ""); sub(/ \(.*$/, "");
		if ($0 in kind) {
		} else if (length(addr) == 16 && addr ~ /^ffff/) { kind[$0] = "k"
		} else if ($0 != "[unknown]" && (dso == own || dso ~ ("/" own "$"))) { kind[$0] = "r"
		} else { kind[$0] = "l" }
		frames[n++] = $0; next }
	/^$/ { if (n) { s = frames[n - 1]; for (i = n - 2; i >= 0; i--) s = s ";" frames[i];
		count[s]++ } n = 0 }
	END { for (s in count) print s, count[s]
		for (f in kind) print f "\t" kind[f] >kinds }' | sort >"$OUT/stacks.folded"
echo "== wrote $OUT/perf.data and $OUT/stacks.folded ($(wc -l <"$OUT/stacks.folded") distinct stacks)"

# The flame graph: the template with each @NAME@ line replaced by its data.
# "</" and "<!" are escaped so no frame name can end the <script> block it
# sits in; the page undoes that when it reads the block.
info="ringer --mode $MODE --shards 1 under ringer-load ${load_args[*]}, ${SECS} s,"
info="$info perf record --call-graph $CALLGRAPH, $(uname -r), $(date '+%Y-%m-%d %H:%M')"
awk -v info="$info" -v folded="$OUT/stacks.folded" -v kinds="$OUT/frames.kinds" \
	-v stat="$OUT/perf-stat.txt" '
	function emit(f,   l) {
		while ((getline l <f) > 0) { gsub(/<\//, "<\\/", l); gsub(/<!/, "<\\!", l); print l }
		close(f)
	}
	$0 == "@INFO@" { gsub(/</, "", info); print info; next }
	$0 == "@FOLDED@" { emit(folded); next }
	$0 == "@KINDS@" { emit(kinds); next }
	$0 == "@STAT@" { emit(stat); next }
	{ print }' tools/flamegraph.html >"$OUT/flamegraph.html"
echo "== wrote $OUT/flamegraph.html and $OUT/perf-stat.txt"
