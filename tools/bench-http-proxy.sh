#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# ringer --mode http-proxy against nginx (proxy_pass to an upstream block with keepalive 32,
# proxy_http_version 1.1, Connection "") and HAProxy (mode http, nbthread 1, http-reuse
# always), in the same run, in front of the same backends: ringer --mode http with one shard
# (its default small response, and --body-size 16384). Every proxy is pinned to CPU 0 with
# one worker (ringer --shards 1; nginx without a master, so its PID is the worker; HAProxy in
# the foreground, nbthread 1, so its PID does the work); wrk is pinned to CPU 1, and so are
# the backends (BACKEND_CPU; 0 puts them beside the proxies, as bench-proxy.sh's cpu0).
#
# Rows (SHAPES):
#   small      wrk -t1 -cCONNS, keep-alive, GET / to the small-response backend
#   16k        the same to the 16 KiB-response backend
#   pipelined  the small one with tools/pipeline.lua (16 requests in flight per connection)
#
# Columns, per run and as medians of ROUNDS interleaved rounds (the order of the proxies
# alternates from round to round, so drift of the machine hits all alike):
#   req/s, p50 and p99 (wrk --latency; under pipelining wrk samples one request a batch and
#   its percentiles often read 0, shown as nan), the proxy's CPU per request (utime + stime of the
#   proxy process from /proc/PID/stat before and after the run, over the requests wrk
#   completed), its system calls per request (perf stat -e raw_syscalls:sys_enter attached
#   to it for the run, as bench-proxy.sh does; without perf: nan), and upstream connections
#   opened per 1,000 requests (the backend's ringer_accepts_total from its admin port,
#   before and after the run). Each measured run follows a WARMUP-second run of the same
#   shape, so the figures are of steady load: pools filled, nothing opened for the start.
#
# Not a test: it asserts nothing, it prints figures. The machine must be quiet.
# Usage: tools/bench-http-proxy.sh [--quick | --check] [BUILD_DIR]
#   --quick  ROUNDS=1 DURATION=2 WARMUP=1: a smoke run of everything
#   --check  start everything, one request through each proxy to each backend, "check ok";
#            no figures (a few seconds; tests/integration/test_http_proxy.py runs it)
#   env: ROUNDS=5 DURATION=5 WARMUP=1 CONNS=100 SHAPES="small 16k pipelined"
#        PROXIES="ringer nginx haproxy" BACKEND_CPU=1 PERF=1 RINGER_FLAGS=
# With the defaults a round is 9 runs of WARMUP + DURATION seconds (about a minute).
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/bench-lib.sh
MODE=full
case ${1:-} in
--quick) MODE=quick; shift ;;
--check) MODE=check; shift ;;
-*) echo "usage: tools/bench-http-proxy.sh [--quick | --check] [BUILD_DIR]" >&2; exit 2 ;;
esac
BUILD=${1:-build}
RINGER=$BUILD/src/server/ringer
if [ $MODE = quick ]; then
	ROUNDS=${ROUNDS:-1} DURATION=${DURATION:-2} WARMUP=${WARMUP:-1}
fi
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-100}
SHAPES=${SHAPES:-small 16k pipelined}
PROXIES=${PROXIES:-ringer nginx haproxy}
BACKEND_CPU=${BACKEND_CPU:-1}
PERF=${PERF:-1}
RINGER_FLAGS=${RINGER_FLAGS:-}
PROXY_CPU=0
CLIENT_CPU=1
HZ=$(getconf CLK_TCK)

[ -x "$RINGER" ] || { echo "build first: meson setup $BUILD && ninja -C $BUILD" >&2; exit 1; }
for tool in wrk nginx haproxy curl; do
	command -v $tool >/dev/null || [ -x /usr/sbin/$tool ] ||
		{ echo "$tool is not installed (tools/install-deps.sh)" >&2; exit 1; }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
if [ "$PERF" = 1 ] && ! perf stat -e raw_syscalls:sys_enter -x, -o /dev/null -- true 2>/dev/null; then
	echo "perf cannot count raw_syscalls:sys_enter here: no syscall counts" >&2
	PERF=0
fi

WORK=$(mktemp -d /tmp/bench-http-proxy.XXXXXX)
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

# Waits for "PREFIX ADDR:PORT" in FILE from PID; prints the port.
ringer_line_port() { # FILE PID PREFIX
	local port
	for _ in $(seq 100); do
		port=$(sed -n "s/^$3 .*:\([0-9]*\)\$/\1/p" "$1" | head -1)
		[ -n "$port" ] && { echo "$port"; return 0; }
		kill -0 "$2" 2>/dev/null || break
		sleep 0.05
	done
	echo "ringer did not start: $(cat "${1%.out}.err")" >&2
	return 1
}

# start_ringer NAME CPU ARGS...: sets PID_<NAME>, PORT_<NAME> and ADMIN_<NAME>.
start_ringer() {
	local name=$1 cpu=$2 pid port admin
	shift 2
	taskset -c "$cpu" "$RINGER" --listen 127.0.0.1:0 --admin 127.0.0.1:0 --shards 1 --quiet "$@" \
		>"$WORK/$name.out" 2>"$WORK/$name.err" &
	pid=$!
	PIDS+=("$pid")
	port=$(ringer_line_port "$WORK/$name.out" "$pid" listening) || exit 1
	admin=$(ringer_line_port "$WORK/$name.out" "$pid" admin) || exit 1
	printf -v "PID_$name" %s "$pid"
	printf -v "PORT_$name" %s "$port"
	printf -v "ADMIN_$name" %s "$admin"
}

# nginx as the proxy: one worker, no master, no access log; the upstream block keeps 32 idle
# connections to the backend (its documented way to pool them).
start_nginx_proxy() { # NAME BACKEND_PORT
	local name=$1 backend=$2 dir=$WORK/$1 port
	port=$(free_port)
	mkdir -p "$dir"
	cat >"$dir/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 65536;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 16384; multi_accept on; }
http {
  access_log off;
  keepalive_timeout 75s;
  keepalive_requests 1000000;
  client_body_temp_path $dir; proxy_temp_path $dir;
  fastcgi_temp_path $dir; uwsgi_temp_path $dir; scgi_temp_path $dir;
  upstream backend {
    server 127.0.0.1:$backend;
    keepalive 32;
  }
  server {
    listen 127.0.0.1:$port;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
CONF
	taskset -c $PROXY_CPU "$NGINX" -c "$dir/nginx.conf" -p "$dir" -e "$dir/error.log" \
		>"$WORK/$name.out" 2>"$WORK/$name.err" &
	PIDS+=("$!")
	printf -v "PID_$name" %s "$!"
	printf -v "PORT_$name" %s "$port"
	wait_port "$port" || { cat "$dir/error.log" >&2; exit 1; }
}

# HAProxy as the proxy: HTTP mode, one thread, server connections shared by every client.
start_haproxy() { # NAME BACKEND_PORT
	local name=$1 backend=$2 port
	port=$(free_port)
	cat >"$WORK/$name.cfg" <<CONF
global
  nbthread 1
  maxconn 4096
  tune.maxaccept 64
defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 3s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 75s
listen web
  bind 127.0.0.1:$port
  server backend 127.0.0.1:$backend
CONF
	"$HAPROXY" -c -q -f "$WORK/$name.cfg" || { echo "bad haproxy configuration" >&2; exit 1; }
	taskset -c $PROXY_CPU "$HAPROXY" -db -f "$WORK/$name.cfg" >"$WORK/$name.out" 2>"$WORK/$name.err" &
	PIDS+=("$!")
	printf -v "PID_$name" %s "$!"
	printf -v "PORT_$name" %s "$port"
	wait_port "$port" || { cat "$WORK/$name.err" >&2; exit 1; }
}

backend_of() { # SHAPE
	case $1 in 16k) echo b16k ;; *) echo bsmall ;; esac
}

# The two backends, and each proxy in front of each; the idle ones cost nothing while
# another is measured.
start_ringer bsmall "$BACKEND_CPU" --mode http
start_ringer b16k "$BACKEND_CPU" --mode http --body-size 16384
for b in bsmall b16k; do
	bport=PORT_$b
	for proxy in $PROXIES; do
		# shellcheck disable=SC2086 # RINGER_FLAGS are words
		case $proxy in
		ringer) start_ringer "ringer_$b" $PROXY_CPU --mode http-proxy --upstream "127.0.0.1:${!bport}" \
			$RINGER_FLAGS ;;
		nginx) start_nginx_proxy "nginx_$b" "${!bport}" ;;
		haproxy) start_haproxy "haproxy_$b" "${!bport}" ;;
		*) echo "PROXIES: ringer, nginx, haproxy" >&2; exit 2 ;;
		esac
	done
done

if [ $MODE = check ]; then
	for b in bsmall b16k; do
		want=13
		[ $b = b16k ] && want=16384
		for proxy in $PROXIES; do
			portv=PORT_${proxy}_$b
			got=$(curl -s --max-time 5 -o /dev/null -w '%{http_code} %{size_download}' \
				"http://127.0.0.1:${!portv}/") || true
			[ "$got" = "200 $want" ] || { echo "$proxy in front of $b: '$got', want '200 $want'" >&2; exit 1; }
		done
	done
	echo "check ok: $PROXIES in front of both backends"
	exit 0
fi

accepts() { # ADMIN_PORT
	curl -s --max-time 5 "http://127.0.0.1:$1/metrics" | awk '$1 == "ringer_accepts_total" { print $2 }'
}

# wrk's latency percentiles come as 125.00us, 1.20ms or 1.01s: microseconds out.
to_us() {
	awk '{ v = $1 + 0; if ($1 ~ /ms$/) v *= 1000; else if ($1 ~ /us$/) v *= 1; else if ($1 ~ /s$/) v *= 1e6; printf "%.1f\n", v }'
}

wrk_run() { # SHAPE PORT SECONDS OUT
	local -a script=()
	[ "$1" = pipelined ] && script=(-s tools/pipeline.lua)
	timeout $(($3 + 30)) taskset -c $CLIENT_CPU wrk -t1 -c"$CONNS" -d"$3s" --latency \
		${script[@]+"${script[@]}"} "http://127.0.0.1:$2/" >"$4" 2>&1 || true
}

# run PROXY SHAPE: a warm-up, then one measured run; appends
# "rps p50 p99 cpu_us_per_req syscalls_per_req conns_per_1k" to $WORK/res.PROXY.SHAPE.
run() {
	local proxy=$1 shape=$2 b pid port admin out=$WORK/wrk.out perf_pid=
	local t0 t1 a0 a1 n rps p50 p99 errs sys cpu conns
	b=$(backend_of "$shape")
	pid=PID_${proxy}_$b port=PORT_${proxy}_$b admin=ADMIN_$b
	pid=${!pid} port=${!port} admin=${!admin}
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "  !! $proxy in front of $b is not running; not counted"
		return 0
	fi
	[ "$WARMUP" -gt 0 ] && wrk_run "$shape" "$port" "$WARMUP" "$WORK/warmup.out"
	a0=$(accepts "$admin")
	t0=$(cpu_ticks "$pid")
	rm -f "$WORK/perf.csv"
	if [ "$PERF" = 1 ]; then
		perf stat -e raw_syscalls:sys_enter -x, -o "$WORK/perf.csv" -p "$pid" 2>/dev/null &
		perf_pid=$!
		sleep 0.2
	fi
	wrk_run "$shape" "$port" "$DURATION" "$out"
	if [ -n "$perf_pid" ]; then
		kill -INT "$perf_pid" 2>/dev/null || true
		wait "$perf_pid" 2>/dev/null || true
	fi
	t1=$(cpu_ticks "$pid")
	a1=$(accepts "$admin")
	[ -n "$t1" ] || { echo "  !! $proxy died during the run; not counted"; return 0; }
	n=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$out")
	n=${n:-0}
	rps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\)/\1/p' "$out")
	p50=$(awk '$1 == "50%" { print $2 }' "$out" | to_us)
	p99=$(awk '$1 == "99%" { print $2 }' "$out" | to_us)
	# wrk samples latency once per batch under pipelining, and then often reads 0: no figure
	[ "$p50" = 0.0 ] && p50=nan
	[ "$p99" = 0.0 ] && p99=nan
	errs=$(awk '/Socket errors/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 } /Non-2xx/ { print $NF }' "$out" |
		awk '{ s += $1 } END { print s + 0 }')
	sys=nan
	if [ -s "$WORK/perf.csv" ]; then
		sys=$(awk -F, -v n="$n" '/raw_syscalls:sys_enter/ { if (n > 0 && $1 ~ /^[0-9]+$/) printf "%.3f", $1 / n; else print "nan" }' "$WORK/perf.csv")
	fi
	cpu=$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v n="$n" 'BEGIN { if (n > 0) printf "%.2f", d / hz * 1e6 / n; else print "nan" }')
	conns=nan
	[ -n "$a0" ] && [ -n "$a1" ] &&
		conns=$(awk -v d=$((a1 - a0)) -v n="$n" 'BEGIN { if (n > 0) printf "%.3f", d * 1000 / n; else print "nan" }')
	echo "${rps:-0} ${p50:-nan} ${p99:-nan} $cpu ${sys:-nan} $conns" >>"$WORK/res.$proxy.$shape"
	printf '  %-7s %-9s %10s req/s  p50 %8s us  p99 %9s us  cpu %7s us/req  sys %7s/req  conns %7s/1k%s\n' \
		"$proxy" "$shape" "${rps:-0}" "${p50:-nan}" "${p99:-nan}" "$cpu" "${sys:-nan}" "$conns" \
		"$([ "${errs:-0}" != 0 ] && echo "  ($errs errors)")"
	sleep 0.5 # let the previous run's sockets settle
}

median_col() { # COLUMN FILE
	local vals=
	[ -s "$2" ] && vals=$(awk -v c="$1" '$c != "nan" && $c != "" { print $c }' "$2")
	if [ -n "$vals" ]; then echo "$vals" | median; else echo nan; fi
}

echo "== ringer $("$RINGER" --version 2>&1 | head -1) vs $("$NGINX" -v 2>&1 | cut -d' ' -f3) vs" \
	"$("$HAPROXY" -v | head -1 | cut -d' ' -f1-3)"
echo "== proxies on CPU $PROXY_CPU, wrk on CPU $CLIENT_CPU, backends (ringer --mode http) on CPU" \
	"$BACKEND_CPU; $CONNS connections, ${WARMUP}s warm-up + ${DURATION}s runs, $ROUNDS rounds interleaved"
for round in $(seq "$ROUNDS"); do
	echo "round $round"
	for shape in $SHAPES; do
		if [ $((round % 2)) = 1 ]; then order=$PROXIES; else order=$(echo "$PROXIES" | awk '{ for (i = NF; i > 0; i--) printf "%s ", $i }'); fi
		for proxy in $order; do
			run "$proxy" "$shape"
		done
	done
done

echo
echo "== medians of $ROUNDS runs (latency in us; CPU = the proxy's utime+stime per request;"
echo "   syscalls per request of the proxy; upstream connections the backend accepted per 1,000 requests)"
echo
echo "| row | proxy | req/s | p50 us | p99 us | proxy CPU us/req | syscalls/req | upstream conns/1k req |"
echo "|---|---|---|---|---|---|---|---|"
for shape in $SHAPES; do
	for proxy in $PROXIES; do
		f=$WORK/res.$proxy.$shape
		printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$shape" "$proxy" "$(median_col 1 "$f")" \
			"$(median_col 2 "$f")" "$(median_col 3 "$f")" "$(median_col 4 "$f")" \
			"$(median_col 5 "$f")" "$(median_col 6 "$f")"
	done
done
echo
# ratios of ringer's medians over another proxy's; the issue's targets: CPU per request at
# most 0.6x nginx's and 0.7x HAProxy's, at most 2 upstream connections per 1,000 requests.
for other in nginx haproxy; do
	[[ " $PROXIES " == *" ringer "* && " $PROXIES " == *" $other "* ]] || continue
	echo "== ringer / $other (req/s: higher is better; p99, CPU and syscalls: lower is better)"
	echo
	echo "| row | req/s | p99 | proxy CPU/req | syscalls/req |"
	echo "|---|---|---|---|---|"
	for shape in $SHAPES; do
		r=$WORK/res.ringer.$shape o=$WORK/res.$other.$shape
		awk -v s="$shape" \
			-v r1="$(median_col 1 "$r")" -v o1="$(median_col 1 "$o")" \
			-v r3="$(median_col 3 "$r")" -v o3="$(median_col 3 "$o")" \
			-v r4="$(median_col 4 "$r")" -v o4="$(median_col 4 "$o")" \
			-v r5="$(median_col 5 "$r")" -v o5="$(median_col 5 "$o")" '
			function ratio(x, y) { return (x == "nan" || y == "nan" || y + 0 == 0) ? "n/a" : sprintf("%.2fx", x / y) }
			BEGIN { printf "| %s | %s | %s | %s | %s |\n", s, ratio(r1, o1), ratio(r3, o3), ratio(r4, o4), ratio(r5, o5) }'
	done
	echo
done
