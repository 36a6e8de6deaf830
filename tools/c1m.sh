#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# How many concurrent connections ringer holds on this machine, what each
# costs, whether the idle ones cost the active ones, and whether its idle
# timeout holds at that scale. ringer --mode echo serves them all; ringer-load
# on the same machine is the client. Four parts:
#
# 1. Holding: ringer-load processes open the connections in stages up to each
#    count of COUNTS (a process each stage, from its own source addresses), and
#    at each count, once ringer holds them all, the script reads ringer's RSS
#    and the kernel's TCP slabs. Per connection: growth over the count, and the
#    slope of a least-squares line through every stage (the fixed costs drop
#    out of a slope).
# 2. Active latency beside the idle: ACTIVE connections of another ringer-load
#    at RATE msg/s open loop for SECS against ringer A, REPS times before any
#    idle connection exists; then, with the largest count held idle on A and
#    SETTLE seconds for the kernel to calm down after opening them, runs
#    against A alternate with runs against ringer B, the same configuration
#    holding none, on the same machine at the same time (the shared machine
#    drifts; alternation spreads the drift over both). Medians compared: A
#    with against B beside it is what ringer's idle connections cost its
#    active ones; A with against A before adds what a million sockets cost
#    the kernel. Each run also counts the kernel's TCP retransmissions: one
#    lost segment costs its request at least the 200 ms minimum RTO.
# 3. Idle timeout: a ringer with --idle-timeout IDLE_S, the largest count
#    opened by ringer-load --no-reconnect at IDLE_RATE connections/s (slow
#    enough that the client, on the same two cores, stamps each connect and
#    each FIN as it happens), which reports how long each connection ringer
#    closed had been idle, counted from the client's connect. Before any
#    connection comes due, ringer's CPU is read for TICK_S (perf stat's
#    task-clock when perf is here, else /proc) with the connections held
#    and, before they opened, with none: the timer tick's cost with nothing
#    to fire.
# 4. nginx: one worker, worker_connections raised, the same counts.
#
# The descriptor limit shapes the run: RLIMIT_NOFILE caps each process and
# each ring's fixed-file table. Where the hard limit allows N, one shard and
# one client thread would do; where it does not (here: 20,000), ringer runs
# ceil(N / PER) shards (--no-pin) and ringer-load a thread per PER
# connections, and the script says which path it took. Sources: every 10,000
# connections take one more source address: one (source, destination) pair
# holds at most the ephemeral port range, and well before that the kernel's
# search for a free port in connect() slows down as a source's ports fill
# (100,000 connections from 3 sources took 16 s to open, from 11 a few).
# Kernel settings: tools/c1m-tune.sh (run with --apply first).
#
# Not a test: it asserts nothing and prints figures. Every run is bounded.
# Usage: tools/c1m.sh [BUILD_DIR]
#   env: COUNTS="100000 500000 1000000" ACTIVE=100 RATE=2000 SECS=10 REPS=5
#        SETTLE=15 IDLE_S=150 IDLE_RATE=10k TICK_S=15 PER=18000 CONNECT_RATE=100k
#        PARTS="hold active idle nginx" (any of them) IDLE_TAIL=20 (part 3's client
#        runs IDLE_S + IDLE_TAIL after its connects) KEEPALIVE=off (ringer's
#        --keepalive; unset: ringer's default, 60,10,6)
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
REPS=${REPS:-5}
SETTLE=${SETTLE:-15}
IDLE_S=${IDLE_S:-150}
IDLE_RATE=${IDLE_RATE:-10k}
TICK_S=${TICK_S:-15}
PER=${PER:-18000}
CONNECT_RATE=${CONNECT_RATE:-100k}
PARTS=${PARTS:-hold active idle nginx}
[ -x "$LOAD" ] || { echo "build first: meson setup $BUILD && ninja -C $BUILD" >&2; exit 1; }
part() { case " $PARTS " in *" $1 "*) return 0 ;; esac; return 1; }

WORK=$(mktemp -d /tmp/c1m.XXXXXX)
SERVER_PID=
B_PID=
HOLDERS=
CLIENT_PID=
cleanup() {
	for p in $CLIENT_PID $HOLDERS $SERVER_PID $B_PID; do kill "$p" 2>/dev/null || true; done
	for p in $CLIENT_PID $HOLDERS $SERVER_PID $B_PID; do wait "$p" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT

NMAX=0
for n in $COUNTS; do [ "$n" -gt "$NMAX" ] && NMAX=$n; done
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -ge $((NMAX + 1024)) ]; then
	PER=$NMAX
	echo "c1m: RLIMIT_NOFILE hard limit $hard: one shard and one client thread hold everything"
else
	echo "c1m: RLIMIT_NOFILE hard limit $hard caps a process and a ring's fixed-file table:"
	echo "     $PER connections per ringer shard and per ringer-load thread, as many as N needs"
fi
SHARDS=$(((NMAX + PER - 1) / PER))

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
	awk 'NF >= 10 && $2 ~ /^[0-9]+$/ { e = $2 } END { print e + 0 }' "$WORK/${1:-ringer}.err"
}

# ringer NAME PORT [FLAGS...]: ringer --mode echo, SHARDS shards, in the background.
ringer() {
	local name=$1 port=$2
	shift 2
	"$RINGER" --mode echo --listen "127.0.0.1:$port" --shards "$SHARDS" --no-pin \
		--max-conns $((PER + 1000)) --buf-count 256 --buf-size 4096 --stats-interval 1 \
		${KEEPALIVE:+--keepalive "$KEEPALIVE"} --quiet "$@" \
		>"$WORK/$name.out" 2>"$WORK/$name.err" &
}

# start_ringer [FLAGS...]: the ringer the holders load, on a new port.
start_ringer() {
	PORT=$(free_port)
	ringer ringer "$PORT" "$@"
	SERVER_PID=$!
	wait_port "$PORT"
	sleep 0.5
}

stop_ringer() {
	kill "$SERVER_PID" 2>/dev/null || true
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=
}

# The source addresses of the k-th block of 256, as a --source range: each
# holder takes its own block, so holders never share a source's ports.
sources() {
	local n=$1 block=$2 nsrc
	nsrc=$((n / 10000 + 1))
	[ "$nsrc" -gt 254 ] && nsrc=254
	echo "127.0.$((block + 1)).1-127.0.$((block + 1)).$nsrc"
}

# hold N BLOCK OUT [FLAGS...]: a ringer-load holding N connections idle (one
# of them sends a message a second: --active takes at least one) in the
# background, for up to an hour or until SIGINT; adds its PID to HOLDERS.
hold() {
	local n=$1 block=$2 out=$3 threads
	shift 3
	threads=$(((n + PER - 1) / PER))
	"$LOAD" --mode echo --target "127.0.0.1:$PORT" --source "$(sources "$n" "$block")" \
		-c "$n" --threads "$threads" --active 1 --rate 1 --duration "${HOLD_S:-3600}s" \
		--connect-rate "$CONNECT_RATE" --timeout 30s --connect-timeout 10s --json "$@" \
		>"$out" 2>"$out.err" &
	HOLDERS="$HOLDERS $!"
}

# wait_held N: until ringer holds at least N (or the holders are gone, or 300 s);
# prints the seconds it took.
wait_held() {
	local n=$1 t0 alive
	t0=$(date +%s.%N)
	for _ in $(seq 600); do
		[ "$(established)" -ge "$n" ] && break
		alive=0
		for p in $HOLDERS; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ "$alive" = 1 ] || break
		sleep 0.5
	done
	awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "%.1f\n", a - b }'
}

# release: SIGINT to the holders (each closes its connections and reports),
# then until ringer holds no more than the baseline (or 120 s).
release() {
	for p in $HOLDERS; do kill -INT "$p" 2>/dev/null || true; done
	for p in $HOLDERS; do wait "$p" 2>/dev/null || true; done
	HOLDERS=
	for _ in $(seq 240); do
		[ "$(established)" -le "${1:-0}" ] && break
		sleep 0.5
	done
}

# The kernel's TCP segments retransmitted so far (/proc/net/snmp).
retrans() {
	awk '/^Tcp:/ && !h { for (i = 1; i <= NF; i++) k[i] = $i; h = 1; next }
		/^Tcp:/ { for (i = 1; i <= NF; i++) if (k[i] == "RetransSegs") print $i }' /proc/net/snmp
}

# active TAG PORT: the active connections' open-loop run against PORT; appends
# "p50 p99 requests errors retransmissions" (ms) to $WORK/TAG and prints it.
active() {
	local r0
	r0=$(retrans)
	"$LOAD" --mode echo --target "127.0.0.1:$2" --source 127.0.250.1 -c "$ACTIVE" \
		--rate "$RATE" --duration "${SECS}s" --json >"$WORK/active.json" 2>/dev/null || true
	python3 - "$WORK/active.json" "$(($(retrans) - r0))" <<'EOF' | tee -a "$WORK/$1"
import json, sys
try:
    d = json.load(open(sys.argv[1]))
    print(f"{d['latency_us']['p50'] / 1000:.3f} {d['latency_us']['p99'] / 1000:.3f} "
          f"{d['requests']} {d['errors']['total']} {sys.argv[2]}")
except Exception as e:
    print(f"nan nan 0 0 {sys.argv[2]}  # {e}")
EOF
}

if part hold || part active; then
	start_ringer
fi
# Part 2's runs before any idle connection exists: while the machine is clean.
if part active; then
	for rep in $(seq "$REPS"); do
		active before.early "$PORT" >/dev/null
	done
fi
# After those: the receive buffers they touched are not the idle connections' cost.
if part hold || part active; then
	rss0=$(rss_kb "$SERVER_PID")
	slab0=$(slab_bytes)
fi

if part hold; then
	echo "== 1. holding: ringer --mode echo, $SHARDS shard(s); ringer-load opens the connections in stages"
	echo "   (--connect-rate $CONNECT_RATE; RSS: ringer's growth; slabs: TCP slabs of both ends)"
	printf '  %9s %9s %9s %12s %12s\n' N held "open s" "RSS/conn" "slabs/conn"
	prev=0
	block=0
	: >"$WORK/points"
	for n in $COUNTS; do
		hold $((n - prev)) "$block" "$WORK/hold.$block.json"
		took=$(wait_held "$n")
		sleep 2
		held=$(established)
		rss=$(rss_kb "$SERVER_PID")
		slab=$(slab_bytes)
		echo "$held $(((rss - rss0) * 1024)) $((slab - slab0))" >>"$WORK/points"
		awk -v n="$n" -v h="$held" -v t="$took" -v r="$(((rss - rss0) * 1024))" \
			-v s="$((slab - slab0))" 'BEGIN { printf "  %9d %9d %9.1f %10.0f B %10.0f B\n",
				n, h, t, r / (h ? h : 1), s / (h ? h : 1) }'
		prev=$n
		block=$((block + 1))
	done
	# Least squares through (0, 0) and every stage: bytes per connection.
	awk 'BEGIN { n = 1 } { x[n] = $1; r[n] = $2; s[n] = $3; n++ }
		END { for (i = 0; i < n; i++) { mx += x[i]; mr += r[i]; ms += s[i] }
			mx /= n; mr /= n; ms /= n
			for (i = 0; i < n; i++) { d = x[i] - mx; sxx += d * d; sxr += d * (r[i] - mr); sxs += d * (s[i] - ms) }
			printf "  slope over %d points: ringer RSS %.0f B per connection, kernel slabs %.0f B per connection (both ends)\n",
				n, sxr / sxx, sxs / sxx }' "$WORK/points"
	# The holders stay for part 2's first run with the connections idle.
fi

if part active; then
	echo "== 2. $ACTIVE active connections at $RATE msg/s for ${SECS}s, open loop (p50 ms, p99 ms,"
	echo "   requests, errors, TCP retransmissions during the run)"
	PORT_B=$(free_port)
	ringer b "$PORT_B"
	B_PID=$!
	wait_port "$PORT_B"
	: >"$WORK/with"
	: >"$WORK/beside"
	cp "$WORK/before.early" "$WORK/before" 2>/dev/null || true
	sed 's/^/  A before, holding none:     /' "$WORK/before"
	if [ -z "$HOLDERS" ]; then
		hold "$NMAX" 0 "$WORK/hold.all.json"
		wait_held "$NMAX" >/dev/null
	fi
	sleep "$SETTLE"
	held=$(established)
	for rep in $(seq "$REPS"); do
		printf '  A holding %s idle:   ' "$held"
		active with "$PORT"
		printf '  B beside it, holding none:  '
		active beside "$PORT_B"
	done
	for tag in before with beside; do
		[ -s "$WORK/$tag" ] || continue
		echo "$tag $(cut -d' ' -f1 "$WORK/$tag" | median) $(cut -d' ' -f2 "$WORK/$tag" | median)"
	done | awk '{ p50[$1] = $2; p99[$1] = $3; printf "  median %-7s p50 %.3f ms, p99 %.3f ms\n", $1, $2, $3 }
		END { printf "  with / beside: p50 %.2fx, p99 %.2fx", p50["with"] / p50["beside"], p99["with"] / p99["beside"]
			if ("before" in p99) printf "; with / before: p50 %.2fx, p99 %.2fx", p50["with"] / p50["before"], p99["with"] / p99["before"]
			printf "\n" }'
	kill "$B_PID"
	wait "$B_PID" 2>/dev/null || true
	B_PID=
fi
if part hold || part active; then
	release 0
	stop_ringer
fi

# cpu_ms PID SECONDS: the process's CPU time over SECONDS, in ms (perf's task-clock when here).
cpu_ms() {
	local pid=$1 secs=$2 t0 t1
	if command -v perf >/dev/null 2>&1 &&
		perf stat -x, -e task-clock -p "$pid" -o "$WORK/perf" -- sleep "$secs" 2>/dev/null; then
		awk -F, '$3 == "task-clock" || $3 ~ /task-clock/ { printf "%.0f\n", $1 }' "$WORK/perf"
	else
		t0=$(cpu_ticks "$pid")
		sleep "$secs"
		t1=$(cpu_ticks "$pid")
		echo $(((t1 - t0) * 1000 / $(getconf CLK_TCK)))
	fi
}

if part idle; then
	echo "== 3. idle timeout at $NMAX: ringer --idle-timeout $((IDLE_S * 1000)), ringer-load --no-reconnect"
	start_ringer --idle-timeout $((IDLE_S * 1000))
	echo "  ringer's CPU over ${TICK_S}s holding nothing: $(cpu_ms "$SERVER_PID" "$TICK_S") ms ($SHARDS shard(s))"
	HOLD_S=$((IDLE_S + ${IDLE_TAIL:-20})) CONNECT_RATE=$IDLE_RATE hold "$NMAX" 0 "$WORK/idle.json" --no-reconnect
	t0=$(date +%s)
	took=$(wait_held "$NMAX")
	held=$(established)
	if [ $(($(date +%s) - t0 + TICK_S + 2)) -lt "$IDLE_S" ]; then
		sleep 1
		echo "  ringer's CPU over ${TICK_S}s holding $held idle, none due: $(cpu_ms "$SERVER_PID" "$TICK_S") ms"
	else
		echo "  (opening took ${took}s: no window of ${TICK_S}s before the first timeout; raise IDLE_S)"
	fi
	for p in $HOLDERS; do wait "$p" 2>/dev/null || true; done
	HOLDERS=
	python3 - "$WORK/idle.json" "$held" "$IDLE_S" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
sc, held, idle = d["server_closes"], int(sys.argv[2]), float(sys.argv[3])
i = sc.get("idle_s", {})
print(f"  {held} held; ringer closed {sc['count']} of them (the one active: not idle), "
      f"errors {d['errors']['total']}")
if i:
    print(f"  seen by ringer-load, idle before ringer's FIN (s): min {i['min']:.3f}, "
          f"p50 {i['p50']:.3f}, p99 {i['p99']:.3f}, max {i['max']:.3f}")
EOF
	# ringer's own clock: its idle closes by how late they came (SIGUSR2's figures).
	# The dump it asks for is waited for (up to 10 s), not slept on: a loaded
	# machine may take longer to print it.
	kill -USR2 "$SERVER_PID"
	for _ in $(seq 100); do
		grep -q 'idle closes by ms after the timeout$' "$WORK/ringer.out" && break
		sleep 0.1
	done
	awk '$1 == "idle_late_ms" { n = 0; line = ""
			for (i = 2; i <= NF && $i ~ /:/; i++) { split($i, kv, ":"); n += kv[2]
				line = line " " kv[1] " " kv[2] ","; if (kv[1] == "<=100") in_tick = n }
			printf "  seen by ringer, ms late after the timeout:%s of %d; within one tick (100 ms): %d\n",
				line, n, in_tick }' "$WORK/ringer.out" | tail -1
	stop_ringer
fi

part nginx || exit 0
# nginx: one worker process, every connection a descriptor of it.
echo "== 4. nginx $(nginx -v 2>&1 | sed 's/.*\///'), one worker, worker_connections 1048576 (HTTP keep-alive: the same idle/active shape)"
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
if nginx -t -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" >/dev/null 2>&1; then
	nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" -g 'daemon off;' &
	SERVER_PID=$!
	wait_port "$nport"
	for n in $COUNTS; do
		threads=$(((n + PER - 1) / PER))
		"$LOAD" --target "127.0.0.1:$nport" --source "$(sources "$n" 0)" \
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
