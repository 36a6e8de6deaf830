#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# ringer --mode proxy against HAProxy, in the same run, in front of the same
# backends. Both proxies are pinned to CPU 0 (ringer with one shard; HAProxy
# with nbthread 1, TCP mode, no logging, no master process, so its PID is the
# one doing the work); the load generator is pinned to CPU 1. Each backend is
# a ringer with one shard, in one of two placements:
#
#   cpu0  the backend on CPU 0, beside the proxy (the proxy shares its core)
#   cpu1  the backend on CPU 1, beside the client (the proxy has a core)
#
# Rows (SHAPES):
#
#   echo64  ringer-load --mode echo --size 64 -c CONNS (ping-pong, every byte verified)
#   echo4k  the same with 4 KiB messages
#   stream  ringer-load --mode echo --size 256k --pipeline 4 -c STREAM_CONNS (MB/s)
#   http    wrk -t1 -cCONNS --latency through the proxy to ringer --mode http
#
# Each row also runs with no proxy ("direct": the client straight to the
# backend) so the floor is visible: the backend's own CPU per message.
#
# For each run: messages (or requests) per second, p50 and p99, the proxy's
# CPU time per message (utime + stime of the proxy process from /proc/PID/stat
# before and after the run, divided by the messages the client completed),
# the backend's CPU per message, and the proxy's system calls per message
# (`perf stat -e raw_syscalls:sys_enter` attached to it for the run, when perf
# is installed; PERF=0 turns it off). Repetitions are interleaved (ringer,
# haproxy, direct; the order of the two proxies alternates) so drift of the
# machine hits all alike, and medians are quoted, with ratios ringer/HAProxy.
#
# TLS=term: the client speaks TLS to the proxies, which terminate it (ringer --tls-cert,
# HAProxy bind ... ssl crt) in front of the plaintext backend; "direct" is then the client
# straight to a TLS echo backend. TLS=orig: the client speaks plaintext and the proxies speak
# TLS to a TLS echo backend (--upstream ...,tls; HAProxy server ... ssl); "direct" is the
# client to it over TLS. Both with the same ECDSA P-256 certificate, TLS 1.3 and
# TLS_AES_128_GCM_SHA256; the floor, `openssl speed -evp aes-128-gcm` on the proxy's CPU, is
# printed first. The default SHAPES are then "echo64 stream".
#
# Not a test: it asserts nothing, it prints figures.
# Usage: tools/bench-proxy.sh [BUILD_DIR]
#   env: REPS=5 SECS=5 CONNS=100 STREAM_CONNS=4 SHAPES="echo64 echo4k stream http"
#        PLACEMENTS="cpu0 cpu1" PERF=1 RINGER_B_FLAGS= TLS=
# With the defaults a repetition is 24 runs of SECS seconds (about 3 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/bench-lib.sh
BUILD=${1:-build}
RINGER=$BUILD/src/server/ringer
# RINGER_B_FLAGS="--recv-bundle on": also run a second ringer proxy with these
# flags in the same repetitions, and compare the two.
RINGER_B_FLAGS=${RINGER_B_FLAGS:-}
TARGETS="ringer haproxy direct"
[ -n "$RINGER_B_FLAGS" ] && TARGETS="ringer ringerB haproxy direct"
LOAD=$BUILD/src/load/ringer-load
REPS=${REPS:-5}
SECS=${SECS:-5}
CONNS=${CONNS:-100}
STREAM_CONNS=${STREAM_CONNS:-4}
TLS=${TLS:-}
case $TLS in
'') SHAPES=${SHAPES:-echo64 echo4k stream http} ;;
term | orig) SHAPES=${SHAPES:-echo64 stream} ;;
*) echo "TLS=$TLS: term or orig" >&2; exit 2 ;;
esac
[[ -n "$TLS" && " $SHAPES " == *" http "* ]] && { echo "TLS=$TLS: the shapes are echo64, echo4k, stream" >&2; exit 2; }
PLACEMENTS=${PLACEMENTS:-cpu0 cpu1}
PERF=${PERF:-1}
PROXY_CPU=0
CLIENT_CPU=1
HZ=$(getconf CLK_TCK)

[ -x "$RINGER" ] && [ -x "$LOAD" ] || { echo "build first: meson setup $BUILD && ninja -C $BUILD" >&2; exit 1; }
if [[ " $SHAPES " == *" http "* ]] && ! command -v wrk >/dev/null; then
	echo "wrk is not installed (tools/install-deps.sh)" >&2
	exit 1
fi
if [ "$PERF" = 1 ] && ! command -v perf >/dev/null; then
	echo "perf is not installed (apt-get install linux-perf): no syscall counts" >&2
	PERF=0
fi

# HAProxy from Debian, installed on first use. Its postinst would start the
# system service; a policy-rc.d of our own (if there is none) prevents that.
ensure_haproxy() {
	command -v haproxy >/dev/null && return 0
	[ "$(id -u)" -eq 0 ] || { echo "haproxy is not installed and we are not root" >&2; exit 1; }
	local policy=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod +x /usr/sbin/policy-rc.d
		policy=/usr/sbin/policy-rc.d
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq --no-install-recommends haproxy >/dev/null 2>&1 ||
		{ apt-get update -qq && apt-get install -y -qq --no-install-recommends haproxy >/dev/null; }
	[ -n "$policy" ] && rm -f "$policy"
	command -v haproxy >/dev/null || { echo "could not install haproxy" >&2; exit 1; }
}
ensure_haproxy
HAPROXY=$(command -v haproxy)

WORK=$(mktemp -d /tmp/bench-proxy.XXXXXX)
PIDS=()
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
if [ -n "$TLS" ]; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj /CN=localhost -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
	cat "$WORK/cert.pem" "$WORK/key.pem" >"$WORK/both.pem"
	TLS_ARGS=(--tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem" --tls-ciphersuites TLS_AES_128_GCM_SHA256)
fi

# Waits for "listening on ADDR:PORT" in FILE from PID; prints the port.
ringer_port() { # FILE PID
	local port
	for _ in $(seq 100); do
		port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$1" | head -1)
		[ -n "$port" ] && { echo "$port"; return 0; }
		kill -0 "$2" 2>/dev/null || break
		sleep 0.05
	done
	echo "ringer did not start: $(cat "${1%.out}.err")" >&2
	return 1
}

# start_ringer NAME CPU ARGS...: sets PID_<NAME> and PORT_<NAME>.
start_ringer() {
	local name=$1 cpu=$2 pid port
	shift 2
	taskset -c "$cpu" "$RINGER" --listen 127.0.0.1:0 --shards 1 "$@" \
		>"$WORK/$name.out" 2>"$WORK/$name.err" &
	pid=$!
	PIDS+=("$pid")
	port=$(ringer_port "$WORK/$name.out" "$pid") || exit 1
	printf -v "PID_$name" %s "$pid"
	printf -v "PORT_$name" %s "$port"
}

# start_haproxy NAME BACKEND_PORT: HAProxy in TCP mode, one thread, pinned
# to the proxy's CPU, no logs. Sets PID_<NAME> and PORT_<NAME>.
start_haproxy() {
	local name=$1 backend=$2 port pid
	port=$(free_port)
	cat >"$WORK/$name.cfg" <<CONF
global
  nbthread 1
  maxconn 4096
  tune.maxaccept 64
defaults
  mode tcp
  timeout connect 3s
  timeout client 60s
  timeout server 60s
listen relay
  bind 127.0.0.1:$port$([ "$TLS" = term ] && echo " ssl crt $WORK/both.pem ciphersuites TLS_AES_128_GCM_SHA256")
  server backend 127.0.0.1:$backend$([ "$TLS" = orig ] && echo " ssl verify none ciphersuites TLS_AES_128_GCM_SHA256")
CONF
	"$HAPROXY" -c -q -f "$WORK/$name.cfg" || { echo "bad haproxy configuration" >&2; exit 1; }
	taskset -c $PROXY_CPU "$HAPROXY" -db -f "$WORK/$name.cfg" >"$WORK/$name.out" 2>"$WORK/$name.err" &
	pid=$!
	PIDS+=("$pid")
	wait_port "$port" || { cat "$WORK/$name.err" >&2; exit 1; }
	printf -v "PID_$name" %s "$pid"
	printf -v "PORT_$name" %s "$port"
}

# Backends for both placements (echo and http), and both proxies in front of
# each; the idle ones cost nothing while another is measured.
for pl in $PLACEMENTS; do
	cpu=${pl#cpu}
	kinds="echo http"
	front=() up=
	case $TLS in
	term) # the proxies' backend is plaintext; direct runs go to a TLS echo backend
		start_ringer "echo_$pl" "$cpu" --mode echo --quiet
		start_ringer "techo_$pl" "$cpu" --mode echo --quiet "${TLS_ARGS[@]}"
		front=("${TLS_ARGS[@]}") kinds=echo ;;
	orig)
		start_ringer "echo_$pl" "$cpu" --mode echo --quiet "${TLS_ARGS[@]}"
		up=,tls,verify=none kinds=echo ;;
	*)
		start_ringer "echo_$pl" "$cpu" --mode echo --quiet
		start_ringer "http_$pl" "$cpu" --mode http --quiet ;;
	esac
	for kind in $kinds; do
		bport=PORT_${kind}_$pl
		start_ringer "ringer_${kind}_$pl" $PROXY_CPU --mode proxy --quiet --upstream "127.0.0.1:${!bport}$up" \
			${front[@]+"${front[@]}"}
		if [ -n "$RINGER_B_FLAGS" ]; then
			# shellcheck disable=SC2086 # the flags are words
			start_ringer "ringerB_${kind}_$pl" $PROXY_CPU --mode proxy --quiet \
				--upstream "127.0.0.1:${!bport}" $RINGER_B_FLAGS
		fi
		start_haproxy "haproxy_${kind}_$pl" "${!bport}"
	done
done

# wrk's latency percentiles come as 125.00us, 1.20ms or 1.01s: microseconds out.
to_us() {
	awk '{ v = $1 + 0; if ($1 ~ /ms$/) v *= 1000; else if ($1 ~ /us$/) v *= 1; else if ($1 ~ /s$/) v *= 1e6; printf "%.1f\n", v }'
}

# The client for SHAPE against PORT; its output in $WORK/client.out. Prints
# "messages rate p50_us p99_us errors", rate being msg/s, or MB/s for stream.
client() { # SHAPE PORT
	local shape=$1 port=$2 out=$WORK/client.out st=0
	local conns=$CONNS
	[ "$shape" = stream ] && conns=$STREAM_CONNS
	local -a args=(--target "127.0.0.1:$port" --mode echo --connections "$conns" --duration "${SECS}s"
		--cpus $CLIENT_CPU --json)
	# The client speaks TLS to a terminating proxy, and straight to a TLS backend.
	if [ "$TLS" = term ] || { [ "$TLS" = orig ] && [ "$DIRECT" = 1 ]; }; then
		args+=(--tls --insecure)
	fi
	case $shape in
	echo64) args+=(--size 64) ;;
	echo4k) args+=(--size 4096) ;;
	stream) args+=(--size 256k --pipeline 4) ;;
	http)
		timeout $((SECS + 30)) taskset -c $CLIENT_CPU wrk -t1 -c"$CONNS" -d"${SECS}s" --latency \
			"http://127.0.0.1:$port/" >"$out" 2>&1 || true
		local n rps p50 p99 errs
		n=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$out")
		rps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\)/\1/p' "$out")
		p50=$(awk '$1 == "50%" { print $2 }' "$out" | to_us)
		p99=$(awk '$1 == "99%" { print $2 }' "$out" | to_us)
		errs=$(awk '/Socket errors/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 } /Non-2xx/ { print $NF }' "$out" |
			awk '{ s += $1 } END { print s + 0 }')
		echo "${n:-0} ${rps:-0} ${p50:-nan} ${p99:-nan} $errs"
		return 0
		;;
	esac
	timeout $((SECS + 30)) taskset -c $CLIENT_CPU "$LOAD" "${args[@]}" >"$out" 2>"$WORK/client.err" || st=$?
	python3 - "$out" "$shape" "$st" <<'PY'
import json, sys
path, shape, status = sys.argv[1], sys.argv[2], int(sys.argv[3])
try:
    d = json.load(open(path))
except Exception:
    print("0 0 nan nan 1")
    sys.exit(0)
rate = d["mb_per_s_rx"] if shape == "stream" else d["requests_per_s"]
lat = d["latency_us"]
errs = d["errors"]["total"] + (1 if status == 3 else 0)
print(d["requests"], round(rate, 3), lat["p50"], lat["p99"], errs)
PY
}

# run TARGET PLACEMENT SHAPE: one run; appends
# "rate p50 p99 proxy_cpu_us backend_cpu_us syscalls" to $WORK/res.TARGET.PLACEMENT.SHAPE.
run() {
	local target=$1 pl=$2 shape=$3 kind=echo pidv portv pid port bpid perf_pid=
	local t0 t1 b0 b1 n rate p50 p99 errs sys pcpu bcpu
	[ "$shape" = http ] && kind=http
	bpid=PID_${kind}_$pl
	bpid=${!bpid}
	DIRECT=0
	if [ "$target" = direct ]; then
		DIRECT=1
		pidv=PID_${kind}_$pl portv=PORT_${kind}_$pl
		if [ "$TLS" = term ]; then
			pidv=PID_techo_$pl portv=PORT_techo_$pl bpid=PID_techo_$pl
			bpid=${!bpid}
		fi
	else
		pidv=PID_${target}_${kind}_$pl portv=PORT_${target}_${kind}_$pl
	fi
	pid=${!pidv} port=${!portv}
	if ! kill -0 "$pid" 2>/dev/null || ! kill -0 "$bpid" 2>/dev/null; then
		echo "  !! $target/$kind/$pl is not running; not counted"
		return 0
	fi
	t0=$(cpu_ticks "$pid")
	b0=$(cpu_ticks "$bpid")
	rm -f "$WORK/perf.csv"
	if [ "$PERF" = 1 ]; then
		perf stat -e raw_syscalls:sys_enter -x, -o "$WORK/perf.csv" -p "$pid" 2>/dev/null &
		perf_pid=$!
		sleep 0.2
	fi
	read -r n rate p50 p99 errs < <(client "$shape" "$port")
	if [ -n "$perf_pid" ]; then
		kill -INT "$perf_pid" 2>/dev/null || true
		wait "$perf_pid" 2>/dev/null || true
	fi
	t1=$(cpu_ticks "$pid")
	b1=$(cpu_ticks "$bpid")
	[ -n "$t1" ] && [ -n "$b1" ] || { echo "  !! $target/$kind/$pl died during the run; not counted"; return 0; }
	sys=nan
	if [ -s "$WORK/perf.csv" ]; then
		sys=$(awk -F, -v n="$n" '/raw_syscalls:sys_enter/ { if (n > 0 && $1 ~ /^[0-9]+$/) printf "%.4f", $1 / n; else print "nan" }' "$WORK/perf.csv")
	fi
	if [ "$target" = direct ]; then
		pcpu=nan
	else
		pcpu=$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v n="$n" 'BEGIN { if (n > 0) printf "%.3f", d / hz * 1e6 / n; else print "nan" }')
	fi
	bcpu=$(awk -v d=$((b1 - b0)) -v hz="$HZ" -v n="$n" 'BEGIN { if (n > 0) printf "%.3f", d / hz * 1e6 / n; else print "nan" }')
	# A direct run counts syscalls of the backend itself (it is the measured process).
	echo "$rate $p50 $p99 $pcpu $bcpu ${sys:-nan}" >>"$WORK/res.$target.$pl.$shape"
	printf '  %-7s %-4s %-6s %12s %-5s  p50 %9s us  p99 %9s us  proxy %8s us  backend %8s us  sys %7s%s\n' \
		"$target" "$pl" "$shape" "$rate" "$(unit "$shape")" "$p50" "$p99" "$pcpu" "$bcpu" "${sys:-nan}" \
		"$([ "${errs:-0}" != 0 ] && echo "  ($errs errors)")"
	sleep 0.5 # let the previous run's sockets settle
}

unit() {
	case $1 in
	stream) echo "MB/s" ;;
	http) echo "req/s" ;;
	*) echo "msg/s" ;;
	esac
}

median_col() { # COLUMN FILE
	local vals=
	[ -s "$2" ] && vals=$(awk -v c="$1" '$c != "nan" && $c != "" { print $c }' "$2")
	if [ -n "$vals" ]; then echo "$vals" | median; else echo nan; fi
}

echo "== ringer $("$RINGER" --version 2>&1 | head -1) vs $("$HAPROXY" -v | head -1 | cut -d' ' -f1-3)${TLS:+, TLS=$TLS}"
if [ -n "$TLS" ]; then
	echo "== the floor: AES-128-GCM on CPU $PROXY_CPU (openssl speed, bytes per second by block size)"
	taskset -c $PROXY_CPU openssl speed -evp aes-128-gcm -seconds 1 2>/dev/null | tail -2
fi
echo "== proxies on CPU $PROXY_CPU, client on CPU $CLIENT_CPU, backends on $PLACEMENTS;" \
	"$CONNS connections ($STREAM_CONNS for stream), ${SECS}s runs, $REPS repetitions interleaved"
for rep in $(seq "$REPS"); do
	echo "rep $rep"
	for shape in $SHAPES; do
		for pl in $PLACEMENTS; do
			if [ $((rep % 2)) = 1 ]; then order=$TARGETS; else order=$(echo "$TARGETS" | awk '{ for (i = NF; i > 0; i--) printf "%s ", $i }'); fi
			for target in $order; do
				run "$target" "$pl" "$shape"
			done
		done
	done
done

echo
echo "== medians of $REPS runs (latency in us; CPU = utime+stime per message, stream: per 256 KiB message;"
echo "   syscalls per message of the proxy, or of the backend in a direct run)"
echo
echo "| shape | backend | path | rate | p50 us | p99 us | proxy CPU us/msg | backend CPU us/msg | syscalls/msg |"
echo "|---|---|---|---|---|---|---|---|---|"
for shape in $SHAPES; do
	for pl in $PLACEMENTS; do
		for target in $TARGETS; do
			f=$WORK/res.$target.$pl.$shape
			printf '| %s | %s | %s | %s %s | %s | %s | %s | %s | %s |\n' "$shape" "$pl" "$target" \
				"$(median_col 1 "$f")" "$(unit "$shape")" "$(median_col 2 "$f")" "$(median_col 3 "$f")" \
				"$(median_col 4 "$f")" "$(median_col 5 "$f")" "$(median_col 6 "$f")"
		done
	done
done
echo
# ratio_table A B: medians of path A over path B, per shape and placement.
ratio_table() {
	local a=$1 b=$2 shape pl r h
	echo
	echo "| shape | backend | rate | p99 | proxy CPU/msg | syscalls/msg |"
	echo "|---|---|---|---|---|---|"
	for shape in $SHAPES; do
		for pl in $PLACEMENTS; do
			r=$WORK/res.$a.$pl.$shape h=$WORK/res.$b.$pl.$shape
			awk -v s="$shape" -v p="$pl" \
				-v r1="$(median_col 1 "$r")" -v h1="$(median_col 1 "$h")" \
				-v r3="$(median_col 3 "$r")" -v h3="$(median_col 3 "$h")" \
				-v r4="$(median_col 4 "$r")" -v h4="$(median_col 4 "$h")" \
				-v r6="$(median_col 6 "$r")" -v h6="$(median_col 6 "$h")" '
				function ratio(x, y) { return (x == "nan" || y == "nan" || y + 0 == 0) ? "n/a" : sprintf("%.2fx", x / y) }
				BEGIN { printf "| %s | %s | %s | %s | %s | %s |\n", s, p, ratio(r1, h1), ratio(r3, h3), ratio(r4, h4), ratio(r6, h6) }'
		done
	done
}

echo "== ringer / HAProxy (rate: higher is better; p99, CPU and syscalls: lower is better)"
ratio_table ringer haproxy
if [ -n "$RINGER_B_FLAGS" ]; then
	echo
	echo "== ringer with '$RINGER_B_FLAGS' (ringerB) / ringer as built (same run)"
	ratio_table ringerB ringer
fi
