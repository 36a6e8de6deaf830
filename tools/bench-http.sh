#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# ringer --mode http against nginx, with wrk, in the same run: each server
# pinned to CPU 0 (ringer with one shard; nginx with one worker and no master,
# so its PID is the worker), wrk pinned to CPU 1. Three shapes:
#
#   keepalive  wrk -t1 -c100 -dSECS --latency
#   pipeline   the same with tools/pipeline.lua (16 requests in flight per connection)
#   close      the same with -H 'Connection: close' (a new connection per request)
#
# Repetitions are interleaved (ringer, nginx, ringer, nginx, ...) so drift of
# the machine hits both alike, and medians are quoted: req/s, p50, p99, and
# the server's CPU time per request (utime + stime of the server process from
# /proc/PID/stat before and after the run, divided by the requests wrk saw).
#
# wrk's own latency percentiles under pipelining are unreliable: it takes one
# sample per batch of 16, and its p99 then often reads 0; such values show as
# "n/a" and the p99 of that shape should be read with care.
#
# Not a test: it asserts nothing, it prints figures and the targets beside them.
# Usage: tools/bench-http.sh [BUILD_DIR]   (env: REPS=3 SECS=10 CONNS=100 SHAPES="keepalive pipeline close")
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/bench-lib.sh
BUILD=${1:-build}
RINGER=$BUILD/src/server/ringer
REPS=${REPS:-3}
SECS=${SECS:-10}
CONNS=${CONNS:-100}
SHAPES=${SHAPES:-keepalive pipeline close}
SERVER_CPU=0
CLIENT_CPU=1
HZ=$(getconf CLK_TCK)

[ -x "$RINGER" ] || { echo "build first: meson setup $BUILD && ninja -C $BUILD" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is not installed" >&2; exit 1; }
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || { echo "nginx is not installed" >&2; exit 1; }

WORK=$(mktemp -d /tmp/bench-http.XXXXXX)
RINGER_PID=
NGINX_PID=
cleanup() {
	local pid
	for pid in $RINGER_PID $NGINX_PID; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT

start_ringer() {
	taskset -c $SERVER_CPU "$RINGER" --mode http --listen 127.0.0.1:0 --shards 1 --quiet \
		>"$WORK/ringer.out" 2>"$WORK/ringer.err" &
	RINGER_PID=$!
	for _ in $(seq 100); do
		RINGER_PORT=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$WORK/ringer.out" | head -1)
		[ -n "$RINGER_PORT" ] && return 0
		sleep 0.05
	done
	echo "ringer did not start: $(cat "$WORK/ringer.err")" >&2
	exit 1
}

start_nginx() {
	start_nginx_on "$WORK" "$SERVER_CPU"
}

# A server that died is reported with what it said, and started again.
ensure_up() {
	if [ "$1" = ringer ] && ! kill -0 "$RINGER_PID" 2>/dev/null; then
		wait "$RINGER_PID" 2>/dev/null && st=0 || st=$?
		echo "  !! ringer (pid $RINGER_PID) exited with status $st: $(tail -3 "$WORK/ringer.err")"
		start_ringer
	elif [ "$1" = nginx ] && ! kill -0 "$NGINX_PID" 2>/dev/null; then
		wait "$NGINX_PID" 2>/dev/null && st=0 || st=$?
		echo "  !! nginx (pid $NGINX_PID) exited with status $st: $(tail -3 "$WORK/nginx/error.log")"
		start_nginx
	fi
}

# wrk's latency percentiles come as 125.00us, 1.20ms or 1.01s: microseconds out.
to_us() {
	awk '{ v = $1 + 0; if ($1 ~ /ms$/) v *= 1000; else if ($1 ~ /us$/) v *= 1; else if ($1 ~ /s$/) v *= 1e6; printf "%.1f\n", v }'
}

# run SERVER SHAPE: one wrk run; appends "rps p50 p99 cpu_us_per_req" to $WORK/res.SERVER.SHAPE.
run() {
	local server=$1 shape=$2 pid port out=$WORK/wrk.out t0 t1 reqs rps p50 p99 cpu errs
	local -a extra=()
	ensure_up "$server"
	if [ "$server" = ringer ]; then pid=$RINGER_PID port=$RINGER_PORT; else pid=$NGINX_PID port=$NGINX_PORT; fi
	case $shape in
	pipeline) extra=(-s tools/pipeline.lua) ;;
	close) extra=(-H 'Connection: close') ;;
	esac
	t0=$(cpu_ticks "$pid")
	timeout $((SECS + 30)) taskset -c $CLIENT_CPU wrk -t1 -c"$CONNS" -d"${SECS}s" --latency \
		"${extra[@]}" "http://127.0.0.1:$port/" >"$out" 2>&1 || true
	t1=$(cpu_ticks "$pid")
	[ -n "$t1" ] || { echo "  !! $server died during the run; not counted"; return 0; }
	reqs=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$out")
	rps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\)/\1/p' "$out")
	p50=$(awk '$1 == "50%" { print $2 }' "$out" | to_us)
	p99=$(awk '$1 == "99%" { print $2 }' "$out" | to_us)
	[ "$p99" = "0.0" ] && p99=nan
	cpu=$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v r="${reqs:-0}" \
		'BEGIN { if (r > 0) printf "%.3f", d / hz * 1e6 / r; else print "nan" }')
	errs=$(grep -E 'Socket errors|Non-2xx' "$out" | tr -s ' ' | tr '\n' ';' || true)
	echo "${rps:-0} ${p50:-nan} ${p99:-nan} $cpu" >>"$WORK/res.$server.$shape"
	printf '  %-6s %-9s %10s req/s  p50 %8s us  p99 %9s us  %7s us CPU/req %s\n' \
		"$server" "$shape" "${rps:-0}" "${p50:-nan}" "${p99:-nan}" "$cpu" "${errs:+($errs)}"
}

# median COLUMN FILE
# median_col COLUMN FILE
median_col() {
	awk -v c="$1" '{ print $c }' "$2" | median
}

start_ringer
start_nginx
echo "== ringer $("$RINGER" --version 2>&1 | head -1) vs $("$NGINX" -v 2>&1 | sed 's/.*: //')"
echo "== servers on CPU $SERVER_CPU, wrk -t1 -c$CONNS -d${SECS}s on CPU $CLIENT_CPU, $REPS repetitions interleaved"
for rep in $(seq "$REPS"); do
	echo "rep $rep"
	for shape in $SHAPES; do
		# Alternate who goes first, so neither always runs on a warmer machine.
		if [ $((rep % 2)) = 1 ]; then order="ringer nginx"; else order="nginx ringer"; fi
		for server in $order; do
			run "$server" "$shape"
			sleep 1 # let TIME_WAIT and the previous run's sockets settle
		done
	done
done

echo
echo "== medians of $REPS runs (latency in us, CPU = server utime+stime per request)"
printf '%-10s %-7s %12s %10s %10s %10s\n' shape server req/s p50 p99 cpu/req
for shape in $SHAPES; do
	for server in ringer nginx; do
		printf '%-10s %-7s %12s %10s %10s %10s\n' "$shape" "$server" \
			"$(median_col 1 "$WORK/res.$server.$shape")" "$(median_col 2 "$WORK/res.$server.$shape")" \
			"$(median_col 3 "$WORK/res.$server.$shape")" "$(median_col 4 "$WORK/res.$server.$shape")"
	done
done
echo
echo "== ringer / nginx"
for shape in $SHAPES; do
	rr=$(median_col 1 "$WORK/res.ringer.$shape") nr=$(median_col 1 "$WORK/res.nginx.$shape")
	rc=$(median_col 4 "$WORK/res.ringer.$shape") nc=$(median_col 4 "$WORK/res.nginx.$shape")
	case $shape in
	keepalive) target="target: CPU/req < 1x" ;;
	pipeline) target="target: req/s >= 3x" ;;
	close) target="target: req/s >= 1.5x" ;;
	esac
	awk -v s="$shape" -v rr="$rr" -v nr="$nr" -v rc="$rc" -v nc="$nc" -v t="$target" 'BEGIN {
		printf "%-10s req/s %.2fx   CPU/req %.2fx   (%s)\n", s, rr / nr, rc / nc, t }'
done
