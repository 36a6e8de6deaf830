#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Two builds of ringer side by side, for a change that must not cost speed:
# the same shapes against build A and build B in one run, repetitions
# interleaved (A, B, B, A, ...), medians quoted with their ratio B/A.
#
#   echo       ringer-load --mode echo, CONNS connections, 64-byte ping-pong
#   keepalive  wrk -t1 -cCONNS, HTTP keep-alive
#   pipeline   wrk with tools/pipeline.lua (16 requests in flight per connection)
#   close      wrk with Connection: close (a new connection per request)
#
# Per run: requests (or messages) per second, the server's CPU time per
# request (utime+stime of the server process / requests), and its syscalls
# per request (perf stat -e raw_syscalls:sys_enter attached for the run).
# Servers on CPU 0 with one shard, the client on CPU 1. It asserts nothing.
#
# Usage: tools/bench-compare.sh RINGER_A RINGER_B
#   env: REPS=5 SECS=5 CONNS=100 SHAPES="echo keepalive pipeline close"
#        LOAD=build/src/load/ringer-load (one client for both builds)
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/bench-lib.sh
[ $# -eq 2 ] || { echo "usage: $0 RINGER_A RINGER_B" >&2; exit 2; }
A=$1
B=$2
REPS=${REPS:-5}
SECS=${SECS:-5}
CONNS=${CONNS:-100}
SHAPES=${SHAPES:-echo keepalive pipeline close}
LOAD=${LOAD:-build/src/load/ringer-load}
HZ=$(getconf CLK_TCK)
for bin in "$A" "$B" "$LOAD"; do
	[ -x "$bin" ] || { echo "not an executable: $bin" >&2; exit 2; }
done
command -v wrk >/dev/null || { echo "wrk is not installed" >&2; exit 1; }
command -v perf >/dev/null || { echo "perf is not installed (apt-get install linux-perf)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/bench-compare.XXXXXX)
SERVER_PID=
cleanup() {
	if [ -n "$SERVER_PID" ]; then
		kill "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

start_server() { # BINARY MODE
	taskset -c 0 "$1" --mode "$2" --listen 127.0.0.1:0 --shards 1 --quiet \
		>"$WORK/server.out" 2>"$WORK/server.err" &
	SERVER_PID=$!
	PORT=
	for _ in $(seq 100); do
		PORT=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$WORK/server.out")
		[ -n "$PORT" ] && return 0
		sleep 0.05
	done
	echo "$1 did not start: $(cat "$WORK/server.err")" >&2
	exit 1
}

stop_server() {
	kill "$SERVER_PID"
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=
}

# run LABEL BINARY SHAPE: appends "rps cpu_us syscalls_per_req" to $WORK/res.LABEL.SHAPE
run() {
	local label=$1 bin=$2 shape=$3 mode=http t0 t1 reqs rps sys
	local -a extra=()
	[ "$shape" = echo ] && mode=echo
	start_server "$bin" "$mode"
	perf stat -e raw_syscalls:sys_enter -x, -o "$WORK/perf.csv" -p "$SERVER_PID" &
	local perf_pid=$!
	sleep 0.3
	t0=$(cpu_ticks "$SERVER_PID")
	if [ "$shape" = echo ]; then
		timeout $((SECS + 30)) taskset -c 1 "$LOAD" --target "127.0.0.1:$PORT" --mode echo \
			--size 64 --connections "$CONNS" --duration "${SECS}s" --json >"$WORK/out" || true
		t1=$(cpu_ticks "$SERVER_PID")
		rps=$(grep -o '"requests_per_s":[0-9.]*' "$WORK/out" | grep -o '[0-9.]*$' || echo 0)
		reqs=$(grep -o '"requests":[0-9]*' "$WORK/out" | head -1 | grep -o '[0-9]*$' || echo 0)
	else
		case $shape in
		pipeline) extra=(-s tools/pipeline.lua) ;;
		close) extra=(-H 'Connection: close') ;;
		esac
		timeout $((SECS + 30)) taskset -c 1 wrk -t1 -c"$CONNS" -d"${SECS}s" "${extra[@]}" \
			"http://127.0.0.1:$PORT/" >"$WORK/out" 2>&1 || true
		t1=$(cpu_ticks "$SERVER_PID")
		reqs=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$WORK/out")
		rps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\)/\1/p' "$WORK/out")
	fi
	kill -INT "$perf_pid"
	wait "$perf_pid" 2>/dev/null || true
	if [ "${reqs:-0}" = 0 ]; then
		echo "  !! $label $shape: no requests; the client said:" >&2
		tail -5 "$WORK/out" >&2
		kill -USR2 "$SERVER_PID" 2>/dev/null && sleep 0.2
		grep -E '^  (accepts|refused|accept_errors|errors|closed) ' "$WORK/server.out" >&2 || true
	fi
	stop_server
	sys=$(awk -F, '/raw_syscalls:sys_enter/ {print $1}' "$WORK/perf.csv")
	awk -v r="${reqs:-0}" -v rps="${rps:-0}" -v d=$((t1 - t0)) -v hz="$HZ" -v s="${sys:-0}" 'BEGIN {
		if (r > 0) printf "%s %.3f %.4f\n", rps, d / hz * 1e6 / r, s / r; else print "0 nan nan" }' \
		>>"$WORK/res.$label.$shape"
	printf '  %-2s %-9s %s\n' "$label" "$shape" "$(tail -1 "$WORK/res.$label.$shape")"
}

echo "== A: $A"
echo "== B: $B"
echo "== server on CPU 0 (one shard), client on CPU 1, $REPS repetitions interleaved, ${SECS}s each"
echo "   per run: req/s, server CPU us/req, server syscalls/req"
for rep in $(seq "$REPS"); do
	echo "rep $rep"
	for shape in $SHAPES; do
		if [ $((rep % 2)) = 1 ]; then order="A B"; else order="B A"; fi
		for label in $order; do
			if [ "$label" = A ]; then run A "$A" "$shape"; else run B "$B" "$shape"; fi
			sleep 1
		done
	done
done

col() { awk -v c="$1" '{ print $c }' "$2" | median; }
echo
echo "== medians of $REPS (B/A: below 1 is better for CPU and syscalls, above 1 for req/s)"
printf '%-10s %12s %12s %7s %10s %10s %7s %10s %10s %7s\n' shape "A req/s" "B req/s" B/A \
	"A cpu/req" "B cpu/req" B/A "A sys/req" "B sys/req" B/A
for shape in $SHAPES; do
	ar=$(col 1 "$WORK/res.A.$shape") br=$(col 1 "$WORK/res.B.$shape")
	ac=$(col 2 "$WORK/res.A.$shape") bc=$(col 2 "$WORK/res.B.$shape")
	as=$(col 3 "$WORK/res.A.$shape") bs=$(col 3 "$WORK/res.B.$shape")
	awk -v s="$shape" -v ar="$ar" -v br="$br" -v ac="$ac" -v bc="$bc" -v as="$as" -v bs="$bs" \
		'function q(x, y) { return y > 0 ? sprintf("%.2f", x / y) : "n/a" }
		BEGIN { printf "%-10s %12s %12s %7s %10s %10s %7s %10s %10s %7s\n", s, ar, br, q(br, ar),
			ac, bc, q(bc, ac), as, bs, q(bs, as) }'
done
echo
echo "== spread: each run's req/s and CPU/req, min..max per build and shape"
for shape in $SHAPES; do
	for label in A B; do
		awk -v s="$shape" -v l="$label" 'NR == 1 { r0 = r1 = $1; c0 = c1 = $2 }
			{ if ($1 < r0) r0 = $1; if ($1 > r1) r1 = $1; if ($2 < c0) c0 = $2; if ($2 > c1) c1 = $2 }
			END { printf "%-10s %s  req/s %s..%s  cpu/req %s..%s\n", s, l, r0, r1, c0, c1 }' \
			"$WORK/res.$label.$shape"
	done
done
