#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# What an idle TLS keep-alive connection costs a server in memory: ringer
# (--mode http, one shard) and nginx (one worker, no master), side by side,
# each holding N TLS 1.3 connections that made one request and went quiet
# (ringer-load --active 1: one connection keeps working, the others are held).
# The server's RSS is read before the connections and once they are all
# held; the difference over N is the figure. Kernel socket memory is not in
# it (the same for both).
#
# Not a test: it prints figures.
# Usage: tools/tls-idle-mem.sh [BUILD_DIR]   (env: N=10000 REPS=3 SERVERS="ringer nginx")
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/bench-lib.sh
BUILD=${1:-build}
RINGER=$BUILD/src/server/ringer
LOAD=$BUILD/src/load/ringer-load
N=${N:-10000}
REPS=${REPS:-3}
SERVERS=${SERVERS:-ringer nginx}
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

[ -x "$RINGER" ] && [ -x "$LOAD" ] || { echo "build first: ninja -C $BUILD" >&2; exit 1; }
WORK=$(mktemp -d /tmp/tls-idle-mem.XXXXXX)
SPID=
cleanup() {
	[ -n "$SPID" ] && { kill "$SPID" 2>/dev/null || true; wait "$SPID" 2>/dev/null || true; }
	rm -rf "$WORK"
}
trap cleanup EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$WORK/key.pem" \
	-out "$WORK/cert.pem" -days 30 -subj /CN=localhost -addext subjectAltName=DNS:localhost 2>/dev/null

rss_kb() {
	awk '/^VmRSS/ { print $2 }' "/proc/$1/status"
}

start() {
	PORT=$(free_port)
	case $1 in
	ringer)
		taskset -c 0 "$RINGER" --mode http --listen "127.0.0.1:$PORT" --shards 1 --quiet \
			--tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem" >/dev/null 2>"$WORK/ringer.err" &
		;;
	nginx)
		mkdir -p "$WORK/nginx"
		cat >"$WORK/nginx/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 65536;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 16384; }
http {
  access_log off;
  keepalive_timeout 300s;
  keepalive_requests 1000000;
  client_body_temp_path $WORK/nginx; proxy_temp_path $WORK/nginx;
  fastcgi_temp_path $WORK/nginx; uwsgi_temp_path $WORK/nginx; scgi_temp_path $WORK/nginx;
  server {
    listen 127.0.0.1:$PORT ssl;
    ssl_certificate $WORK/cert.pem;
    ssl_certificate_key $WORK/key.pem;
    location / { default_type text/plain; return 200 "Hello, World!"; }
  }
}
CONF
		taskset -c 0 "$NGINX" -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" -e "$WORK/nginx/error.log" &
		;;
	esac
	SPID=$!
	wait_port "$PORT"
}

echo "== $N idle TLS 1.3 keep-alive connections (ECDSA P-256), server on CPU 0, ringer-load on CPU 1"
for rep in $(seq "$REPS"); do
	for s in $SERVERS; do
		start "$s"
		curl -sk --max-time 5 "https://127.0.0.1:$PORT/" >/dev/null || true
		before=$(rss_kb "$SPID")
		# Held for 12 s: opened at 4,000 a second, measured at the end.
		taskset -c 1 "$LOAD" "https://127.0.0.1:$PORT/" --connections "$N" --active 1 \
			--connect-rate 4000 --duration 12s --rate 10 >"$WORK/load.out" 2>&1 &
		lpid=$!
		sleep 10
		open=$(ss -Htn state established "( sport = :$PORT )" | wc -l)
		after=$(rss_kb "$SPID")
		wait "$lpid" || true
		kill "$SPID"
		wait "$SPID" 2>/dev/null || true
		SPID=
		awk -v s="$s" -v b="$before" -v a="$after" -v o="$open" 'BEGIN {
			printf "  %-7s %6d connections open  RSS %7.1f MiB -> %7.1f MiB  %6.0f bytes a connection\n",
				s, o, b / 1024, a / 1024, o ? (a - b) * 1024 / o : 0 }'
		sleep 2
	done
done
