#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# HTTPS: ringer --mode http against nginx (ssl) and HAProxy (bind ... ssl crt,
# mode http, http-request return), with wrk over TLS, in the same run, and
# the crypto floor from `openssl speed` beside them. The same certificate for
# all three (ECDSA P-256 by default; CERT=rsa for RSA-2048); each server
# pinned to CPU 0 with one worker/thread/shard, wrk pinned to CPU 1:
#
#   keepalive   wrk -t1 -c100, 13-byte body           (records and buffers)
#   big         the same with a 16 KiB body           (the cipher per byte)
#   full        -H 'Connection: close' with session tickets and caches off
#               on every server: a full handshake per request (signature +
#               key exchange)
#   resumed     -H 'Connection: close' with tickets on: wrk offers the last
#               session, so a resumed (PSK) handshake per request
#
# Repetitions are interleaved (the server order rotates each repetition) and
# medians are quoted: req/s, p50, p99 and the server's CPU per request
# (utime + stime from /proc/PID/stat around the run, over the requests wrk
# saw). TLS 1.3, X25519, AES-128-GCM on every side (the servers' defaults
# would differ: nginx prefers AES-256-GCM).
#
# Not a test: it asserts nothing, it prints figures and the targets beside them.
# Usage: tools/bench-tls.sh [BUILD_DIR]
#   env: REPS=5 SECS=8 CONNS=100 SHAPES="keepalive big full resumed" SERVERS="ringer nginx haproxy" CERT=ec|rsa
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/bench-lib.sh
BUILD=${1:-build}
RINGER=$BUILD/src/server/ringer
REPS=${REPS:-5}
SECS=${SECS:-8}
CONNS=${CONNS:-100}
SHAPES=${SHAPES:-keepalive big full resumed}
SERVERS=${SERVERS:-ringer nginx haproxy}
CERT=${CERT:-ec}
SERVER_CPU=0
CLIENT_CPU=1
HZ=$(getconf CLK_TCK)
SUITE=TLS_AES_128_GCM_SHA256

[ -x "$RINGER" ] || { echo "build first: meson setup $BUILD && ninja -C $BUILD" >&2; exit 1; }
for t in wrk openssl nginx haproxy; do
	command -v $t >/dev/null || [ -x /usr/sbin/$t ] || { echo "$t is not installed" >&2; exit 1; }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)

WORK=$(mktemp -d /tmp/bench-tls.XXXXXX)
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

# The certificate every server presents.
if [ "$CERT" = rsa ]; then
	newkey=(-newkey rsa:2048)
else
	newkey=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1)
fi
openssl req -x509 "${newkey[@]}" -nodes -keyout "$WORK/key.pem" -out "$WORK/cert.pem" -days 30 \
	-subj /CN=localhost -addext subjectAltName=DNS:localhost 2>/dev/null
cat "$WORK/cert.pem" "$WORK/key.pem" >"$WORK/both.pem"
BIG=$(head -c 16384 /dev/zero | tr '\0' x)
printf %s "$BIG" >"$WORK/big.txt"

# start SERVER SHAPE: one server for the shape (its body; tickets off for full) on a free port.
start() {
	local s=$1 shape=$2 port tickets=on
	port=$(free_port)
	[ "$shape" = full ] && tickets=off
	case $s in
	ringer)
		local -a b=()
		[ "$shape" = big ] && b=(--body-size 16384)
		[ $tickets = off ] && b+=(--tls-tickets 0)
		taskset -c $SERVER_CPU "$RINGER" --mode http --listen "127.0.0.1:$port" --shards 1 --quiet \
			--tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem" --tls-ciphersuites $SUITE \
			--tls-groups X25519 "${b[@]}" >"$WORK/ringer.out" 2>"$WORK/ringer.err" &
		;;
	nginx)
		local d=$WORK/nginx ret='return 200 "Hello, World!";'
		mkdir -p "$d"
		# nginx takes no 16 KiB string in its configuration: the file, its descriptor cached.
		[ "$shape" = big ] && ret="root $WORK; open_file_cache max=16 inactive=600s; open_file_cache_valid 600s;"
		cat >"$d/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 65536;
pid $d/nginx.pid;
error_log $d/error.log;
events { worker_connections 16384; multi_accept on; }
http {
  access_log off;
  keepalive_timeout 75s;
  keepalive_requests 1000000;
  client_body_temp_path $d; proxy_temp_path $d;
  fastcgi_temp_path $d; uwsgi_temp_path $d; scgi_temp_path $d;
  ssl_protocols TLSv1.2 TLSv1.3;
  ssl_conf_command Ciphersuites $SUITE;
  ssl_ecdh_curve X25519;
  ssl_session_tickets $tickets;
  server {
    listen 127.0.0.1:$port ssl;
    ssl_certificate $WORK/cert.pem;
    ssl_certificate_key $WORK/key.pem;
    location / { default_type text/plain; $ret }
  }
}
CONF
		taskset -c $SERVER_CPU "$NGINX" -c "$d/nginx.conf" -p "$d" -e "$d/error.log" &
		;;
	haproxy)
		local ret='string "Hello, World!"' bindopt="" cache=20000
		[ "$shape" = big ] && ret="string \"$BIG\""
		[ $tickets = off ] && bindopt=no-tls-tickets cache=0
		cat >"$WORK/haproxy.cfg" <<CONF
global
  nbthread 1
  cpu-map 1/1 $SERVER_CPU
  maxconn 9000
  tune.bufsize 32768
  tune.ssl.cachesize $cache
  ssl-default-bind-ciphersuites $SUITE
  ssl-default-bind-curves X25519
defaults
  mode http
  timeout client 60s
  timeout server 60s
  timeout connect 5s
  timeout http-keep-alive 75s
frontend fe
  bind 127.0.0.1:$port ssl crt $WORK/both.pem $bindopt
  http-request return status 200 content-type text/plain $ret
CONF
		taskset -c $SERVER_CPU "$HAPROXY" -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
		;;
	esac
	PID[$s]=$!
	PORT[$s]=$port
	wait_port "$port"
}

stop() {
	kill "${PID[$1]}" 2>/dev/null || true
	wait "${PID[$1]}" 2>/dev/null || true
	unset "PID[$1]"
}

# wrk's latency percentiles come as 125.00us, 1.20ms or 1.01s: microseconds out.
to_us() {
	awk '{ v = $1 + 0; if ($1 ~ /ms$/) v *= 1000; else if ($1 ~ /us$/) v *= 1; else if ($1 ~ /s$/) v *= 1e6; printf "%.1f\n", v }'
}

# run SERVER SHAPE: a fresh server, one wrk run; appends "rps p50 p99 cpu_us_per_req".
run() {
	local s=$1 shape=$2 out=$WORK/wrk.out t0 t1 reqs rps p50 p99 cpu errs want path
	local -a extra=()
	case $shape in full | resumed) extra=(-H 'Connection: close') ;; esac
	start "$s" "$shape"
	# One request first: the handshake path and the response are warm and checked.
	path=/
	[ "$shape" = big ] && path=/big.txt
	curl -sk --max-time 5 "https://127.0.0.1:${PORT[$s]}$path" -o "$WORK/first" || true
	want=13
	[ "$shape" = big ] && want=16384
	[ "$(stat -c %s "$WORK/first" 2>/dev/null)" = $want ] ||
		echo "  !! $s answered $(stat -c %s "$WORK/first" 2>/dev/null) bytes, not $want"
	t0=$(cpu_ticks "${PID[$s]}")
	timeout $((SECS + 30)) taskset -c $CLIENT_CPU wrk -t1 -c"$CONNS" -d"${SECS}s" --latency \
		"${extra[@]}" "https://127.0.0.1:${PORT[$s]}$path" >"$out" 2>&1 || true
	t1=$(cpu_ticks "${PID[$s]}")
	stop "$s"
	[ -n "$t1" ] || { echo "  !! $s died during the run; not counted"; return 0; }
	reqs=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$out")
	rps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\)/\1/p' "$out")
	p50=$(awk '$1 == "50%" { print $2 }' "$out" | to_us)
	p99=$(awk '$1 == "99%" { print $2 }' "$out" | to_us)
	cpu=$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v r="${reqs:-0}" \
		'BEGIN { if (r > 0) printf "%.3f", d / hz * 1e6 / r; else print "nan" }')
	errs=$(grep -E 'Socket errors|Non-2xx' "$out" | tr -s ' ' | tr '\n' ';' || true)
	echo "${rps:-0} ${p50:-nan} ${p99:-nan} $cpu" >>"$WORK/res.$s.$shape"
	printf '  %-8s %-9s %10s req/s  p50 %8s us  p99 %9s us  %8s us CPU/req %s\n' \
		"$s" "$shape" "${rps:-0}" "${p50:-nan}" "${p99:-nan}" "$cpu" "${errs:+($errs)}"
}

median_col() {
	awk -v c="$1" '{ print $c }' "$2" | median
}

# The floor: what the crypto alone costs on this core.
floor() {
	local sig kx gcm
	if [ "$CERT" = rsa ]; then
		sig=$(taskset -c $SERVER_CPU openssl speed -seconds 2 rsa2048 2>/dev/null |
			awk '/^rsa 2048 bits/ { print 1e6 / $6 }')
	else
		sig=$(taskset -c $SERVER_CPU openssl speed -seconds 2 ecdsap256 2>/dev/null |
			awk '/256 bits ecdsa/ { print 1e6 / $7 }')
	fi
	kx=$(taskset -c $SERVER_CPU openssl speed -seconds 2 ecdhx25519 2>/dev/null |
		awk '/X25519/ && /op\/s|bits/ { v = $NF } END { print 1e6 / v }')
	gcm=$(taskset -c $SERVER_CPU openssl speed -seconds 2 -evp aes-128-gcm 2>/dev/null |
		awk '/^AES-128-GCM/ { print $4 + 0, $6 + 0 }')
	echo "== floor on CPU $SERVER_CPU (openssl speed): signature ${sig} us ($CERT), X25519 ${kx} us"
	echo "   per full handshake (1 signature + 2 X25519 operations): about $(awk -v s="$sig" -v k="$kx" 'BEGIN { printf "%.0f", s + 2 * k }') us"
	echo "   aes-128-gcm, 256-byte and 8192-byte blocks (kB/s): $gcm"
}

echo "== ringer $("$RINGER" --version 2>&1 | head -1), $("$NGINX" -v 2>&1 | sed 's/.*: //'), $("$HAPROXY" -v | head -1 | cut -d' ' -f1-3)"
echo "== $CERT certificate, TLS 1.3 $SUITE X25519; servers on CPU $SERVER_CPU, wrk -t1 -c$CONNS -d${SECS}s on CPU $CLIENT_CPU, $REPS repetitions interleaved"
floor
set -- $SERVERS
for rep in $(seq "$REPS"); do
	echo "rep $rep"
	for shape in $SHAPES; do
		# Rotate who goes first, so none always runs on a warmer machine.
		order=("$@")
		k=$(((rep - 1) % ${#order[@]}))
		order=("${order[@]:k}" "${order[@]:0:k}")
		for s in "${order[@]}"; do
			run "$s" "$shape"
			sleep 1 # TIME_WAIT and the previous run's sockets settle
		done
	done
done

echo
echo "== medians of $REPS runs (latency in us, CPU = server utime+stime per request)"
printf '%-10s %-8s %12s %10s %10s %10s\n' shape server req/s p50 p99 cpu/req
for shape in $SHAPES; do
	for s in $SERVERS; do
		printf '%-10s %-8s %12s %10s %10s %10s\n' "$shape" "$s" \
			"$(median_col 1 "$WORK/res.$s.$shape")" "$(median_col 2 "$WORK/res.$s.$shape")" \
			"$(median_col 3 "$WORK/res.$s.$shape")" "$(median_col 4 "$WORK/res.$s.$shape")"
	done
done
echo
echo "== ringer against the others (CPU/req ratios below 1: ringer spends less)"
for shape in $SHAPES; do
	rc=$(median_col 4 "$WORK/res.ringer.$shape")
	rr=$(median_col 1 "$WORK/res.ringer.$shape")
	for s in $SERVERS; do
		[ "$s" = ringer ] && continue
		oc=$(median_col 4 "$WORK/res.$s.$shape") or=$(median_col 1 "$WORK/res.$s.$shape")
		case $shape in
		keepalive | big) target="target: CPU/req <= 0.75x nginx" ;;
		full) target="target: CPU/handshake <= 0.8x nginx" ;;
		resumed) target="target: at most 0.5x ringer's full handshake" ;;
		esac
		awk -v sh="$shape" -v s="$s" -v rr="$rr" -v or="$or" -v rc="$rc" -v oc="$oc" -v t="$target" 'BEGIN {
			printf "%-10s vs %-8s req/s %.2fx   CPU/req %.2fx   (%s)\n", sh, s, rr / or, rc / oc, t }'
	done
done
if [ -s "$WORK/res.ringer.full" ] && [ -s "$WORK/res.ringer.resumed" ]; then
	awk -v f="$(median_col 4 "$WORK/res.ringer.full")" -v r="$(median_col 4 "$WORK/res.ringer.resumed")" \
		'BEGIN { printf "ringer: a resumed handshake costs %.2fx a full one (target: at most 0.5x)\n", r / f }'
fi
