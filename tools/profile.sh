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
# Usage: tools/profile.sh [BUILD_DIR] [-- ringer-load flags]
#   default load: --mode http --connections 100 (ringer in --mode http);
#   MODE=echo profiles echo mode with --mode echo --size 64.
# Env: SECS=5 OUT=/tmp/ringer-profile CALLGRAPH=fp
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

"$RINGER" --mode "$MODE" --listen 127.0.0.1:0 --shards 1 --quiet >"$OUT/ringer.out" 2>&1 &
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null || true' EXIT
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

perf record --call-graph "$CALLGRAPH" -o "$OUT/perf.data" -p "$SERVER_PID" -- sleep "$SECS" >/dev/null 2>&1 &
PERF_PID=$!
"$LOAD" --target "127.0.0.1:$PORT" --cpus 1 --duration "${SECS}s" "${load_args[@]}" |
	grep -E '^  (requests|errors|latency)' || true
wait "$PERF_PID" || true

echo "== top symbols (self time)"
perf report -i "$OUT/perf.data" --no-children --sort sym --stdio -g none 2>/dev/null |
	grep -E '^ +[0-9]' | head -25 || true
echo "== user space vs kernel"
perf report -i "$OUT/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null |
	grep -E '^ +[0-9]' | head -5 || true

# Folded stacks: perf script prints each sample as a header line, then one
# frame per line (innermost first), then a blank line.
perf script -i "$OUT/perf.data" 2>/dev/null | awk '
	/^[^ \t]/ { n = 0; next }
	/^[ \t]+[0-9a-f]+ / { sub(/^[ \t]+[0-9a-f]+ /, ""); sub(/\+0x[0-9a-f]+.*$/, ""); sub(/ \(.*$/, "");
		frames[n++] = $0; next }
	/^$/ { if (n) { s = frames[n - 1]; for (i = n - 2; i >= 0; i--) s = s ";" frames[i];
		count[s]++ } n = 0 }
	END { for (s in count) print s, count[s] }' | sort >"$OUT/stacks.folded"
echo "== wrote $OUT/perf.data and $OUT/stacks.folded ($(wc -l <"$OUT/stacks.folded") distinct stacks)"
