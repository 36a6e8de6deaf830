#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# ringer --mode http --echo-body under wrk: 1 KiB uploads (tools/post.lua:
# POST with a 1,024-byte body, answered with the same bytes) against GETs
# (the fixed 13-byte response), on one ringer in the same run. ringer runs
# with one shard pinned to CPU 0, wrk (-t1 -c100 --latency) on CPU 1; the
# shapes alternate (get, post, get, post, ...) so drift of the machine hits
# both alike, and medians are quoted: req/s, p50, p99 and ringer's CPU time
# per request (utime + stime from /proc/PID/stat around the run, divided by
# the requests wrk saw). A short check run first makes sure every upload
# came back byte for byte (WRK_CHECK, see tools/post.lua).
#
# Not a test: it asserts nothing but the check, it prints figures.
# Usage: tools/bench-upload.sh [BUILD_DIR]   (env: REPS=5 SECS=5 CONNS=100 SIZE=1024)
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/bench-lib.sh
BUILD=${1:-build}
RINGER=$BUILD/src/server/ringer
REPS=${REPS:-5}
SECS=${SECS:-5}
CONNS=${CONNS:-100}
SIZE=${SIZE:-1024}
HZ=$(getconf CLK_TCK)

[ -x "$RINGER" ] || { echo "build first: meson setup $BUILD && ninja -C $BUILD" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is not installed" >&2; exit 1; }

WORK=$(mktemp -d /tmp/bench-upload.XXXXXX)
RINGER_PID=
cleanup() {
	if [ -n "$RINGER_PID" ]; then
		kill "$RINGER_PID" 2>/dev/null || true
		wait "$RINGER_PID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

taskset -c 0 "$RINGER" --mode http --echo-body --listen 127.0.0.1:0 --shards 1 --quiet \
	>"$WORK/ringer.out" 2>"$WORK/ringer.err" &
RINGER_PID=$!
PORT=
for _ in $(seq 100); do
	PORT=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$WORK/ringer.out" | head -1)
	[ -n "$PORT" ] && break
	sleep 0.05
done
[ -n "$PORT" ] || { echo "ringer did not start: $(cat "$WORK/ringer.err")" >&2; exit 1; }

to_us() {
	awk '{ v = $1 + 0; if ($1 ~ /ms$/) v *= 1000; else if ($1 ~ /us$/) v *= 1; else if ($1 ~ /s$/) v *= 1e6; printf "%.1f\n", v }'
}

WRK_CHECK=1 timeout 30 taskset -c 1 wrk -t1 -c"$CONNS" -d2s -s tools/post.lua \
	"http://127.0.0.1:$PORT/" -- "$SIZE" >"$WORK/check.out" 2>&1 || true
if grep -q 'echo check' "$WORK/check.out" || ! grep -q 'requests in' "$WORK/check.out"; then
	echo "the check run failed:" >&2
	cat "$WORK/check.out" >&2
	exit 1
fi
echo "check: $(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$WORK/check.out") uploads of $SIZE bytes came back byte for byte"

# run SHAPE: one wrk run; appends "rps p50 p99 cpu_us_per_req" to $WORK/res.SHAPE.
run() {
	local shape=$1 out=$WORK/wrk.out t0 t1 reqs rps p50 p99 cpu errs
	local -a extra=()
	[ "$shape" = post ] && extra=(-s tools/post.lua)
	t0=$(cpu_ticks "$RINGER_PID")
	timeout $((SECS + 30)) taskset -c 1 wrk -t1 -c"$CONNS" -d"${SECS}s" --latency \
		"${extra[@]}" "http://127.0.0.1:$PORT/" -- "$SIZE" >"$out" 2>&1 || true
	t1=$(cpu_ticks "$RINGER_PID")
	[ -n "$t1" ] || { echo "ringer died: $(tail -3 "$WORK/ringer.err")" >&2; exit 1; }
	reqs=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$out")
	rps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\)/\1/p' "$out")
	p50=$(awk '$1 == "50%" { print $2 }' "$out" | to_us)
	p99=$(awk '$1 == "99%" { print $2 }' "$out" | to_us)
	cpu=$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v r="${reqs:-0}" \
		'BEGIN { if (r > 0) printf "%.3f", d / hz * 1e6 / r; else print "nan" }')
	errs=$(grep -E 'Socket errors|Non-2xx' "$out" | tr -s ' ' | tr '\n' ';' || true)
	echo "${rps:-0} ${p50:-nan} ${p99:-nan} $cpu" >>"$WORK/res.$shape"
	printf '  %-5s %10s req/s  p50 %8s us  p99 %9s us  %7s us CPU/req %s\n' \
		"$shape" "${rps:-0}" "${p50:-nan}" "${p99:-nan}" "$cpu" "${errs:+($errs)}"
}

for rep in $(seq "$REPS"); do
	echo "repetition $rep of $REPS"
	run get
	run post
done

median_col() {
	awk -v c="$1" '{ print $c }' "$2" | median
}

echo
printf '%-22s %12s %10s %10s %14s\n' shape "req/s" "p50 us" "p99 us" "CPU us/req"
for shape in get post; do
	label=$([ "$shape" = get ] && echo "GET (13 B response)" || echo "POST $SIZE B, echoed")
	printf '%-22s %12s %10s %10s %14s\n' "$label" "$(median_col 1 "$WORK/res.$shape")" \
		"$(median_col 2 "$WORK/res.$shape")" "$(median_col 3 "$WORK/res.$shape")" \
		"$(median_col 4 "$WORK/res.$shape")"
done
