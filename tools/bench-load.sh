#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# ringer-load against wrk, same server, same run: the server pinned to CPU 0,
# the load generator to CPU 1, repetitions interleaved (wrk, ringer-load,
# ringer-load --pipeline 16, wrk, ...) and medians reported, so drift of the
# machine hits every tool alike. For each run: requests/s and the client's
# own CPU time per request (user + system of the client process, from
# /usr/bin/time, divided by the requests it completed).
#
# Then the latency-honesty experiment: the server is stopped for 1 s in the
# middle of a run (SIGSTOP/SIGCONT by PID). An open-loop run measures from
# each request's intended send time and its p99.9 shows the stall; a
# closed-loop run only measures requests it managed to send and hides it.
#
# Not a test: it asserts nothing, it prints figures and the targets next to them.
# Usage: tools/bench-load.sh [BUILD_DIR]   (env: REPS=5 SECS=5 CONNS=50 RATE=20000
#        PARTS="floor http nginx")
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/bench-lib.sh
BUILD=${1:-build}
LOAD=$BUILD/src/load/ringer-load
RINGER=$BUILD/src/server/ringer
REPS=${REPS:-5}
SECS=${SECS:-5}
CONNS=${CONNS:-50}
RATE=${RATE:-20000}
PARTS=${PARTS:-floor http nginx} # which comparisons to run
STALL_SECS=${STALL_SECS:-6}
SERVER_CPU=0
CLIENT_CPU=1

[ -x "$LOAD" ] || { echo "build first: meson setup $BUILD && ninja -C $BUILD" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is not installed" >&2; exit 1; }

WORK=$(mktemp -d /tmp/bench-load.XXXXXX)
SERVER_PID=
cleanup() {
	if [ -n "$SERVER_PID" ]; then
		kill -CONT "$SERVER_PID" 2>/dev/null || true
		kill "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

start_nginx() {
	start_nginx_on "$WORK" "$SERVER_CPU"
	SERVER_PID=$NGINX_PID
	PORT=$NGINX_PORT
}

# start_ringer MODE: ringer --mode MODE pinned to the server's CPU; returns 1
# when it does not start (a build without that mode).
start_ringer() {
	taskset -c $SERVER_CPU "$RINGER" --mode "$1" --listen 127.0.0.1:0 --shards 1 --quiet \
		>"$WORK/ringer.out" 2>"$WORK/ringer.err" &
	SERVER_PID=$!
	for _ in $(seq 100); do
		PORT=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$WORK/ringer.out" | head -1)
		[ -n "$PORT" ] && return 0
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.05
	done
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=
	return 1
}

stop_server() {
	kill "$SERVER_PID" 2>/dev/null || true
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=
}

# run_client NAME CMD...: prints "reqs_per_s cpu_us_per_req server_us_per_req
# server_busy" for one run: the client's CPU from /usr/bin/time, the server's
# from its /proc ticks over the same run (busy: the share of one core).
run_client() {
	local name=$1 out=$WORK/out.$1 tm=$WORK/time.$1 reqs rps cpu s0 s1 t0 t1
	shift
	s0=$(cpu_ticks "$SERVER_PID")
	t0=$(date +%s.%N)
	/usr/bin/time -o "$tm" -f "%U %S" timeout $((SECS + 15)) taskset -c $CLIENT_CPU "$@" \
		>"$out" 2>"$WORK/err.$name" || true
	s1=$(cpu_ticks "$SERVER_PID")
	t1=$(date +%s.%N)
	if [ "$name" = wrk ]; then
		reqs=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$out")
		rps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\)/\1/p' "$out")
	else
		reqs=$(grep -o '"requests":[0-9]*' "$out" | cut -d: -f2)
		rps=$(grep -o '"requests_per_s":[0-9.]*' "$out" | cut -d: -f2)
	fi
	cpu=$(awk -v r="${reqs:-0}" '{ if (r > 0) printf "%.3f", ($1 + $2) * 1e6 / r; else print "nan" }' "$tm")
	awk -v r="${reqs:-0}" -v a="$s0" -v b="$s1" -v t0="$t0" -v t1="$t1" -v hz="$(getconf CLK_TCK)" \
		-v rps="${rps:-0}" -v cpu="$cpu" 'BEGIN {
		s = (b - a) / hz
		printf "%s %s %s %.2f\n", rps, cpu, (r > 0 ? sprintf("%.3f", s * 1e6 / r) : "nan"), s / (t1 - t0) }'
}

# fields N: the Nth field of each of the lines on standard input.
fields() { awk -v n="$1" '{ print $n }'; }

compare() {
	local label=$1 url="http://127.0.0.1:$PORT/" target="127.0.0.1:$PORT"
	local -a wrk rl pl
	local i

	echo "== $label on CPU $SERVER_CPU, clients on CPU $CLIENT_CPU, $CONNS connections, ${SECS}s runs, $REPS repetitions"
	echo "   (each: req/s, client us/req, server us/req, server busy)"
	for i in $(seq "$REPS"); do
		wrk+=("$(run_client wrk wrk -t1 -c"$CONNS" -d"${SECS}s" "$url")")
		rl+=("$(run_client rl "$LOAD" --target "$target" --threads 1 --connections "$CONNS" \
			--duration "$SECS" --json)")
		pl+=("$(run_client pl "$LOAD" --target "$target" --threads 1 --connections "$CONNS" \
			--pipeline 16 --duration "$SECS" --json)")
		echo "  rep $i: wrk ${wrk[-1]} | ringer-load ${rl[-1]} | ringer-load --pipeline 16 ${pl[-1]}"
	done
	summarize wrk "${wrk[@]}"
	summarize ringer-load "${rl[@]}"
	summarize "ringer-load --pipeline 16" "${pl[@]}"
	awk -v a="$(printf '%s\n' "${rl[@]}" | fields 2 | median)" \
		-v b="$(printf '%s\n' "${wrk[@]}" | fields 2 | median)" \
		-v ra="$(printf '%s\n' "${pl[@]}" | fields 1 | median)" \
		-v rb="$(printf '%s\n' "${wrk[@]}" | fields 1 | median)" \
		-v busy="$(printf '%s\n' "${pl[@]}" | fields 4 | median)" 'BEGIN {
		printf "  client CPU per request, ringer-load / wrk: %.2fx\n", a / b
		printf "  rate, ringer-load --pipeline 16 / wrk: %.2fx (target >= 3x)\n", ra / rb
		printf "  server busy under one ringer-load thread with --pipeline 16: %.0f %% of its core\n", busy * 100 }'
}

# summarize NAME RUN...: medians of the runs' four figures.
summarize() {
	local name=$1
	shift
	printf '  median  %-28s %12s req/s %9s us/req  server %7s us/req  busy %s\n' "$name" \
		"$(printf '%s\n' "$@" | fields 1 | median)" "$(printf '%s\n' "$@" | fields 2 | median)" \
		"$(printf '%s\n' "$@" | fields 3 | median)" "$(printf '%s\n' "$@" | fields 4 | median)"
}

# The floor: a client does per request the kernel work an echo server does
# per message (one send, one receive). ringer-load --mode echo against
# ringer --mode echo, each on its own core: the client's CPU per message
# against the server's, from the same runs.
floor() {
	local target="127.0.0.1:$PORT" size
	local -a runs

	for size in 64 4096; do
		runs=()
		echo "== the floor: ringer-load --mode echo --size $size against ringer --mode echo, $CONNS connections, ${SECS}s runs, $REPS repetitions"
		for i in $(seq "$REPS"); do
			runs+=("$(run_client echo "$LOAD" --mode echo --size "$size" --target "$target" \
				--threads 1 --connections "$CONNS" --duration "$SECS" --json)")
			echo "  rep $i: ${runs[-1]}"
		done
		summarize "ringer-load echo $size B" "${runs[@]}"
		printf '%s\n' "${runs[@]}" | awk '{ printf "%.4f\n", $2 / $3 }' | median | awk '{
			printf "  client CPU per message / server CPU per message: median of the runs %.2fx (target <= 1.10x)\n", $1 }'
	done
}

want() { [[ " $PARTS " == *" $1 "* ]]; }

if want floor; then
	start_ringer echo || { echo "ringer --mode echo did not start" >&2; exit 1; }
	floor
	stop_server
fi
if ! want http; then
	:
elif start_ringer http; then
	compare "ringer --mode http"
	stall "ringer --mode http"
	stop_server
else
	echo "== ringer --mode http: not in this build ($(tail -1 "$WORK/ringer.err")), skipped"
fi
if want nginx; then
	start_nginx
	compare "nginx $(nginx -v 2>&1 | sed 's/.*\///')"
	stall "nginx"
	stop_server
fi
