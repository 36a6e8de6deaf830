#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# ringer-load over TLS against the clients everyone uses, on the same server:
# nginx with ssl (one worker, no master, pinned to CPU 0; TLS 1.3,
# TLS_AES_128_GCM_SHA256, X25519, an ECDSA P-256 certificate, tickets and the
# session cache off so no client can resume), every client pinned to CPU 1
# with one thread, repetitions interleaved and medians quoted:
#
#   keepalive  ringer-load against wrk, 100 connections kept open, the same
#              duration: req/s and the client's CPU per request
#   full       a connection and a full handshake per request: ringer-load
#              --churn 1 --tls-resume off against h2load --h1 with
#              'Connection: close' (nginx closes after each response, h2load
#              reconnects; -n is what ringer-load did in the same repetition),
#              client CPU per handshake, beside the floor: one ECDSA P-256
#              verification and one X25519 operation from `openssl speed` on
#              the client's core
#
# Client CPU is utime + stime of the client process (its rusage, from
# /usr/bin/time: every thread, io_uring's workers included) over the requests
# it completed. Then, against a second nginx with tickets on that logs
# $ssl_session_reused, whether each client's reconnects resume.
#
# Not a test: it asserts nothing, it prints figures and the targets beside them.
# Usage: tools/bench-load-tls.sh [BUILD_DIR]   (env: REPS=5 SECS=5 CONNS=100)
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/bench-lib.sh
BUILD=${1:-build}
LOAD=$BUILD/src/load/ringer-load
REPS=${REPS:-5}
SECS=${SECS:-5}
CONNS=${CONNS:-100}
SERVER_CPU=0
CLIENT_CPU=1
SUITE=TLS_AES_128_GCM_SHA256

[ -x "$LOAD" ] || { echo "build first: meson setup $BUILD && ninja -C $BUILD" >&2; exit 1; }
for t in wrk h2load openssl; do
	command -v $t >/dev/null || { echo "$t is not installed" >&2; exit 1; }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || { echo "nginx is not installed" >&2; exit 1; }

WORK=$(mktemp -d /tmp/bench-load-tls.XXXXXX)
declare -A PID PORT
cleanup() {
	local pid
	for pid in "${PID[@]}"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$WORK/key.pem" \
	-out "$WORK/cert.pem" -days 30 -subj /CN=localhost -addext subjectAltName=DNS:localhost 2>/dev/null

# start_nginx NAME TICKETS LOG: nginx with ssl on a free port, pinned to the
# server's CPU. TICKETS on|off (off: no tickets and no session cache, so
# nothing resumes); LOG on: one line per request with $ssl_session_reused.
start_nginx() {
	local name=$1 tickets=$2 log="access_log off;" d=$WORK/$1 port
	port=$(free_port)
	mkdir -p "$d"
	[ "$3" = on ] && log="log_format r '\$ssl_session_reused \$connection'; access_log $d/access.log r;"
	cat >"$d/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 65536;
pid $d/nginx.pid;
error_log $d/error.log;
events { worker_connections 16384; multi_accept on; }
http {
  $log
  keepalive_timeout 75s;
  keepalive_requests 1000000;
  client_body_temp_path $d; proxy_temp_path $d;
  fastcgi_temp_path $d; uwsgi_temp_path $d; scgi_temp_path $d;
  ssl_protocols TLSv1.2 TLSv1.3;
  ssl_conf_command Ciphersuites $SUITE;
  ssl_ecdh_curve X25519;
  ssl_session_tickets $tickets;
  ssl_session_cache off;
  server {
    listen 127.0.0.1:$port ssl;
    ssl_certificate $WORK/cert.pem;
    ssl_certificate_key $WORK/key.pem;
    location / { default_type text/plain; return 200 "Hello, World!"; }
  }
}
CONF
	[ "$tickets" = on ] && sed -i 's/ssl_session_cache off;/ssl_session_cache shared:S:1m;/' "$d/nginx.conf"
	taskset -c $SERVER_CPU "$NGINX" -c "$d/nginx.conf" -p "$d" -e "$d/error.log" &
	PID[$name]=$!
	PORT[$name]=$port
	wait_port "$port"
}

# run KIND CMD...: one client run on the client's CPU; prints "reqs_per_s
# client_us_per_req requests errors server_busy". KIND tells how to read its
# output: wrk, h2load or rl (ringer-load --json).
run() {
	local kind=$1 out=$WORK/out tm=$WORK/time s0 s1 t0 t1 reqs rps errs
	shift
	s0=$(cpu_ticks "${PID[bench]}")
	t0=$(date +%s.%N)
	/usr/bin/time -o "$tm" -f "%U %S" timeout $((SECS + 30)) taskset -c $CLIENT_CPU "$@" \
		>"$out" 2>"$WORK/err" || true
	s1=$(cpu_ticks "${PID[bench]}")
	t1=$(date +%s.%N)
	case $kind in
	wrk)
		reqs=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$out")
		rps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\)/\1/p' "$out")
		errs=$(grep -E 'Socket errors|Non-2xx' "$out" | grep -oE '[0-9]+' | paste -sd+ | bc || true)
		;;
	h2load)
		# requests: N total, N started, N done, N succeeded, N failed, ...
		reqs=$(sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p' "$out")
		rps=$(sed -n 's/^finished in [0-9.]*s, \([0-9.]*\) req\/s.*/\1/p' "$out")
		errs=$(sed -n 's/^requests: .* \([0-9]*\) failed, \([0-9]*\) errored.*/\1+\2/p' "$out" | bc)
		;;
	rl)
		reqs=$(grep -o '"requests":[0-9]*' "$out" | head -1 | cut -d: -f2)
		rps=$(grep -o '"requests_per_s":[0-9.]*' "$out" | head -1 | cut -d: -f2)
		errs=$(grep -o '"errors":{"total":[0-9]*' "$out" | grep -o '[0-9]*$')
		;;
	esac
	awk -v r="${reqs:-0}" -v rps="${rps:-0}" -v e="${errs:-0}" -v a="$s0" -v b="$s1" -v t0="$t0" \
		-v t1="$t1" -v hz="$(getconf CLK_TCK)" '{
		printf "%s %s %d %d %.2f\n", rps, (r > 0 ? sprintf("%.3f", ($1 + $2) * 1e6 / r) : "nan"),
			r, e, (b - a) / hz / (t1 - t0) }' "$tm"
}

fields() { awk -v n="$1" '{ print $n }'; }

# summarize LABEL FILE: the medians of a client's runs, one table row.
summarize() {
	printf '%-10s %-34s %12s %12s %8s %6s\n' "$1" "$2" "$(fields 1 <"$3" | median)" \
		"$(fields 2 <"$3" | median)" "$(fields 4 <"$3" | median)" "$(fields 5 <"$3" | median)"
}

# The floor on the client's core: what a client's full handshake cannot do without.
floor() {
	local v k
	v=$(taskset -c $CLIENT_CPU openssl speed -seconds 2 ecdsap256 2>/dev/null |
		awk '/256 bits ecdsa/ { print 1e6 / $NF }')
	k=$(taskset -c $CLIENT_CPU openssl speed -seconds 2 ecdhx25519 2>/dev/null |
		awk '/X25519/ { print 1e6 / $NF }')
	FLOOR=$(awk -v v="$v" -v k="$k" 'BEGIN { printf "%.1f", v + k }')
	echo "== floor on CPU $CLIENT_CPU (openssl speed): ECDSA P-256 verify $v us, X25519 $k us:" \
		"$FLOOR us per full handshake (a second X25519 operation, the key share's, would add $k)"
}

echo "== ringer-load ($LOAD), $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)," \
	"$(h2load --version | head -1), $("$NGINX" -v 2>&1 | sed 's/.*: //')"
echo "== nginx (ssl, tickets and cache off) on CPU $SERVER_CPU; clients on CPU $CLIENT_CPU, one" \
	"thread, $CONNS connections, ${SECS}s runs, $REPS repetitions interleaved"
echo "   each run: req/s, client us/req, requests, errors, server busy"
floor
start_nginx bench off off
URL="https://127.0.0.1:${PORT[bench]}/"
for rep in $(seq "$REPS"); do
	echo "rep $rep"
	# keep-alive: who goes first alternates, so neither always runs on a warmer machine
	order=(wrk rl)
	[ $((rep % 2)) = 0 ] && order=(rl wrk)
	for c in "${order[@]}"; do
		if [ "$c" = wrk ]; then
			run wrk wrk -t1 -c"$CONNS" -d"${SECS}s" "$URL" >>"$WORK/keepalive.wrk"
		else
			run rl "$LOAD" "$URL" --threads 1 --connections "$CONNS" --duration "${SECS}s" \
				--json >>"$WORK/keepalive.rl"
		fi
		echo "  keepalive $c: $(tail -1 "$WORK/keepalive.$c")"
		sleep 1
	done
	# full handshakes: ringer-load first, h2load then makes as many requests
	run rl "$LOAD" "$URL" --threads 1 --connections "$CONNS" --duration "${SECS}s" --churn 1 \
		--tls-resume off --json >>"$WORK/full.rl"
	echo "  full rl: $(tail -1 "$WORK/full.rl")"
	n=$(tail -1 "$WORK/full.rl" | fields 3)
	n=$(((n / CONNS + 1) * CONNS))
	sleep 1
	run h2load h2load --h1 -t1 -c"$CONNS" -n"$n" -H 'Connection: close' "$URL" >>"$WORK/full.h2load"
	echo "  full h2load: $(tail -1 "$WORK/full.h2load")"
	sleep 1
done
kill "${PID[bench]}"
wait "${PID[bench]}" 2>/dev/null || true
unset "PID[bench]"

# Resumption: nginx with tickets on logs whether each request's session was reused.
start_nginx probe on on
PURL="https://127.0.0.1:${PORT[probe]}/"
LOG=$WORK/probe/access.log
reused() {
	awk '{ n++; if ($1 == "r") r++; c[$2] = 1 } END {
		printf "%d requests on %d connections, %d resumed (%.1f %%)", n, length(c), r, n ? 100 * r / n : 0 }' "$LOG"
	: >"$LOG"
}
echo
echo "== do reconnects resume? nginx with tickets on, \$ssl_session_reused per request, 2 s each"
: >"$LOG"
timeout 20 taskset -c $CLIENT_CPU wrk -t1 -c10 -d2s -H 'Connection: close' "$PURL" >/dev/null 2>&1 || true
echo "  wrk -H 'Connection: close':             $(reused)"
timeout 20 taskset -c $CLIENT_CPU h2load --h1 -t1 -c10 -n2000 -H 'Connection: close' "$PURL" \
	>/dev/null 2>&1 || true
echo "  h2load --h1 -H 'Connection: close':     $(reused)"
timeout 20 taskset -c $CLIENT_CPU "$LOAD" "$PURL" --connections 10 --duration 2s --churn 1 --tls-resume tickets \
	>/dev/null 2>&1 || true
echo "  ringer-load --churn 1 --tls-resume tickets: $(reused)"
timeout 20 taskset -c $CLIENT_CPU "$LOAD" "$PURL" --connections 10 --duration 2s --churn 1 --tls-resume off \
	>/dev/null 2>&1 || true
echo "  ringer-load --churn 1 --tls-resume off: $(reused)"

echo
echo "== medians of $REPS runs (client CPU = utime+stime per request; server busy = share of its core)"
printf '%-10s %-34s %12s %12s %8s %6s\n' part client req/s us/req errors busy
summarize keepalive "wrk -t1 -c$CONNS" "$WORK/keepalive.wrk"
summarize keepalive "ringer-load -c$CONNS" "$WORK/keepalive.rl"
summarize full "h2load --h1 -c$CONNS, Connection: close" "$WORK/full.h2load"
summarize full "ringer-load --churn 1 --tls-resume off" "$WORK/full.rl"
med() { fields "$1" <"$WORK/$2" | median; }
awk -v a="$(med 2 keepalive.rl)" -v b="$(med 2 keepalive.wrk)" -v ra="$(med 1 keepalive.rl)" \
	-v rb="$(med 1 keepalive.wrk)" -v fa="$(med 2 full.rl)" -v fb="$(med 2 full.h2load)" \
	-v fra="$(med 1 full.rl)" -v frb="$(med 1 full.h2load)" -v fl="$FLOOR" 'BEGIN {
	printf "keepalive: ringer-load / wrk: client CPU per request %.2fx (target <= 0.8x), req/s %.2fx\n", a / b, ra / rb
	printf "full: ringer-load / h2load: client CPU per handshake %.2fx (target <= 0.9x), req/s %.2fx\n", fa / fb, fra / frb
	printf "full: against the floor (%s us): ringer-load %.2fx, h2load %.2fx\n", fl, fa / fl, fb / fl }'
