#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# How many concurrent connections ringer holds on this machine, what each
# costs, and whether the idle ones cost the active ones: for each count N
# (COUNTS), ringer --mode echo holds N connections from ringer-load on the
# same machine, ACTIVE of them carrying an open-loop load at RATE msg/s,
# the rest idle. Per N it reports the time to open them, ringer's RSS and
# the kernel's TCP slabs per connection, and the active connections'
# p50/p99, beside the same run with no idle connections. Then nginx (one
# worker, worker_connections raised) gets the same attempt.
#
# The descriptor limit shapes the run: RLIMIT_NOFILE caps each process and
# each ring's fixed-file table. Where the hard limit allows N, one shard and
# one client thread would do; where it does not (here: 20,000), ringer runs
# ceil(N / PER) shards (--no-pin) and ringer-load as many threads, PER each,
# and the script says which path it took. Sources: every 10,000 connections
# take one more source address from 127.0.0.2 on: one (source, destination)
# pair holds at most the ephemeral port range, and well before that the
# kernel's search for a free port in connect() slows down as a source's
# ports fill (100,000 connections from 3 sources took 16 s to open, from 11
# sources a few). Kernel settings: see
# tools/c1m-tune.sh (run with --apply first for the large counts).
#
# Not a test: it asserts nothing and prints figures. Every run is bounded.
# Usage: tools/c1m.sh [BUILD_DIR]
#   env: COUNTS="100000 500000 1000000" ACTIVE=100 RATE=2000 SECS=10 PER=18000
#        CONNECT_RATE=100k NGINX=0 (skip nginx)
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/bench-lib.sh
BUILD=${1:-build}
RINGER=$BUILD/src/server/ringer
LOAD=$BUILD/src/load/ringer-load
COUNTS=${COUNTS:-100000 500000 1000000}
ACTIVE=${ACTIVE:-100}
RATE=${RATE:-2000}
SECS=${SECS:-10}
PER=${PER:-18000}
CONNECT_RATE=${CONNECT_RATE:-100k}
[ -x "$LOAD" ] || { echo "build first: meson setup $BUILD && ninja -C $BUILD" >&2; exit 1; }

WORK=$(mktemp -d /tmp/c1m.XXXXXX)
SERVER_PID=
CLIENT_PID=
cleanup() {
	for p in $CLIENT_PID $SERVER_PID; do kill "$p" 2>/dev/null || true; done
	for p in $CLIENT_PID $SERVER_PID; do wait "$p" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT

hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -ge 1048640 ]; then
	PER=1048576
	echo "c1m: RLIMIT_NOFILE hard limit $hard: one shard and one client thread hold everything"
else
	echo "c1m: RLIMIT_NOFILE hard limit $hard caps a process and a ring's fixed-file table:"
	echo "     $PER connections per ringer shard and per ringer-load thread, as many as N needs"
fi

# Bytes the kernel's TCP socket slabs hold: TCP, sock_inode_cache, and the
# file and dentry each socket carries.
slab_bytes() {
	awk '$1 == "TCP" || $1 == "sock_inode_cache" || $1 == "filp" || $1 == "dentry" ||
		$1 == "tw_sock_TCP" || $1 == "request_sock_TCP" { s += $3 * $4 } END { printf "%.0f\n", s }' \
		/proc/slabinfo
}

rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# established: ringer's own count of ESTABLISHED connections, the newest line
# of its --stats-interval figures (the admin port would do too, but it makes
# the engine keep per-connection facts, which is memory this measures).
established() {
	awk 'NF >= 10 && $2 ~ /^[0-9]+$/ { e = $2 } END { print e + 0 }' "$WORK/ringer.err"
}

# run_one N: ringer holds N; prints the figures of one line.
run_one() {
	local n=$1 shards threads nsrc last port rss0 rss1 slab0 slab1 held t0 t1 out
	shards=$(((n + PER - 1) / PER))
	threads=$shards
	nsrc=$((n / 10000 + 1))
	last=$((1 + nsrc))
	port=$(free_port)
	"$RINGER" --mode echo --listen "127.0.0.1:$port" --shards "$shards" --no-pin \
		--max-conns $((PER + 1000)) --buf-count 256 --buf-size 4096 --stats-interval 1 \
		--quiet >"$WORK/ringer.out" 2>"$WORK/ringer.err" &
	SERVER_PID=$!
	wait_port "$port"
	sleep 0.5
	rss0=$(rss_kb "$SERVER_PID")
	slab0=$(slab_bytes)
	out=$WORK/load.$n.json
	"$LOAD" --mode echo --target "127.0.0.1:$port" --source "127.0.0.2-127.0.0.$last" \
		-c "$n" --threads "$threads" --active "$ACTIVE" --rate "$RATE" --duration "${SECS}s" \
		--connect-rate "$CONNECT_RATE" --timeout 30s --connect-timeout 10s --json \
		>"$out" 2>"$WORK/load.err" &
	CLIENT_PID=$!
	t0=$(date +%s.%N)
	held=0
	while kill -0 "$CLIENT_PID" 2>/dev/null; do
		held=$(established)
		[ "$held" -ge "$n" ] && break
		sleep 0.5
	done
	t1=$(date +%s.%N)
	sleep 1.5
	rss1=$(rss_kb "$SERVER_PID")
	slab1=$(slab_bytes)
	held=$(established)
	wait "$CLIENT_PID" || true
	CLIENT_PID=
	kill "$SERVER_PID"
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=
	python3 - "$out" "$n" "$held" "$rss0" "$rss1" "$slab0" "$slab1" "$t0" "$t1" "$shards" <<'EOF'
import json, sys
out, n, held, rss0, rss1, slab0, slab1, t0, t1, shards = sys.argv[1:]
n, held = int(n), int(held)
try:
    d = json.load(open(out))
except Exception as e:
    print(f"  {n:>8}: ringer-load gave no result ({e}); ringer held {held}")
    sys.exit(0)
lat = d["latency_us"]
per_rss = (int(rss1) - int(rss0)) * 1024 / max(held, 1)
# Both ends of every connection live on this machine: two sockets per connection.
per_slab = (int(slab1) - int(slab0)) / max(held, 1)
print(f"  {n:>8} {held:>8} {shards:>6} {float(t1) - float(t0):>7.1f} s {d['connect_s']:>7.2f} s "
      f"{per_rss:>7.0f} B {per_slab:>8.0f} B {d['requests']:>8} {lat['p50'] / 1000:>8.3f} "
      f"{lat['p99'] / 1000:>8.3f} {d['errors']['total']:>6}")
EOF
}

header() {
	printf '  %8s %8s %6s %9s %9s %9s %10s %8s %8s %8s %6s\n' N held shards "to hold" \
		"connect" "RSS/conn" "slab/conn" requests "p50 ms" "p99 ms" errors
}

echo "== ringer --mode echo: N connections, $ACTIVE active at $RATE msg/s for ${SECS}s, the rest idle"
echo "   (RSS/conn: ringer's RSS growth over held; slab/conn: TCP slabs of both ends over held)"
header
run_one "$ACTIVE"
for n in $COUNTS; do
	run_one "$n"
done

# nginx: one worker process, every connection a descriptor of it.
echo "== nginx $(nginx -v 2>&1 | sed 's/.*\///'), one worker, worker_connections 1048576 (HTTP keep-alive: the same idle/active shape)"
nport=$(free_port)
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<EOF
master_process off;
worker_processes 1;
worker_rlimit_nofile $hard;
error_log $WORK/nginx/error.log;
pid $WORK/nginx/nginx.pid;
events { worker_connections 1048576; }
http { access_log off; server { listen 127.0.0.1:$nport backlog=65535;
	keepalive_timeout 600s; keepalive_requests 100000000; location / { return 200 "ok"; } } }
EOF
if [ "${NGINX:-1}" = 0 ]; then
	echo "  skipped (NGINX=0)"
elif nginx -t -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" >/dev/null 2>&1; then
	nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" -g 'daemon off;' &
	SERVER_PID=$!
	wait_port "$nport"
	for n in $COUNTS; do
		threads=$(((n + PER - 1) / PER))
		nsrc=$((n / 10000 + 1))
		"$LOAD" --target "127.0.0.1:$nport" --source "127.0.0.2-127.0.0.$((1 + nsrc))" \
			-c "$n" --threads "$threads" --active "$ACTIVE" --rate "$RATE" \
			--duration "${SECS}s" --connect-rate "$CONNECT_RATE" --json \
			>"$WORK/nginx.$n.json" 2>/dev/null &
		CLIENT_PID=$!
		# Halfway through the measured run: what nginx accepted is what it holds (a
		# descriptor each); the rest wait in its listener's accept queue (Recv-Q, up to the
		# backlog), handshaken by the kernel alone, or were never answered.
		sleep $((SECS / 2 + 2))
		held=$(find "/proc/$SERVER_PID/fd" -lname 'socket:*' 2>/dev/null | wc -l)
		queued=$(ss -Hltn "( sport = :$nport )" | awk '{ print $2; exit }')
		wait "$CLIENT_PID" || true
		CLIENT_PID=
		echo "  $n: nginx holds $held sockets ($queued more waiting in its accept queue)"
		sleep 5 # its connections close before the next count starts
		python3 - "$WORK/nginx.$n.json" "$n" "$WORK/nginx/error.log" <<'EOF'
import json, sys
path, n, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
try:
    d = json.load(open(path))
except Exception:
    print(f"  {n:>8}: ringer-load gave no result")
    sys.exit(0)
why = [l.strip() for l in open(log) if "worker_connections" in l or "Too many open" in l]
print(f"  {n:>8}: {d['connects']} opened, connect errors {d['errors']['connect']}, "
      f"resets {d['errors']['reset']}, {d['requests']} requests, p99 "
      f"{d['latency_us']['p99'] / 1000:.3f} ms")
if why:
    print(f"            nginx: {why[-1][:160]}")
EOF
	done
	kill "$SERVER_PID"
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=
else
	echo "  nginx -t refused the configuration: $(nginx -t -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" 2>&1 | tail -1)"
fi
