#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Echo-mode figures, measured rather than asserted:
#  1. syscalls per echoed message: ringer (--shards 1, CPU 0) under ringer-load
#     (CPU 1, CONNS connections, SIZE-byte messages, ping-pong), with
#     `perf stat -e raw_syscalls:sys_enter` attached to the server for the run;
#     also the server's CPU time per message (utime+stime from /proc).
#  2. memory: RSS of the server with IDLE idle connections open, per connection.
# Usage: tools/bench-echo.sh [BUILD_DIR]   (env: SECS=5 CONNS=100 SIZE=64 IDLE=10000)
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/bench-lib.sh
BUILD=${1:-build}
SECS=${SECS:-5}
CONNS=${CONNS:-100}
SIZE=${SIZE:-64}
IDLE=${IDLE:-10000}
RINGER=$BUILD/src/server/ringer
LOAD=$BUILD/src/load/ringer-load
[ -x "$RINGER" ] && [ -x "$LOAD" ] || { echo "build first: tools/build.sh" >&2; exit 1; }
command -v perf >/dev/null || { echo "perf is not installed (apt-get install linux-perf)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/bench-echo.XXXXXX)
SERVER_PID=
cleanup() {
	[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT

start_ringer() { # extra flags...
	"$RINGER" --listen 127.0.0.1:0 --shards 1 --quiet "$@" >"$WORK/ringer.out" 2>"$WORK/ringer.err" &
	SERVER_PID=$!
	for _ in $(seq 100); do
		grep -q '^listening on' "$WORK/ringer.out" 2>/dev/null && break
		sleep 0.05
	done
	PORT=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$WORK/ringer.out")
	[ -n "$PORT" ] || { echo "ringer did not start" >&2; cat "$WORK/ringer.err" >&2; exit 1; }
}

stop_ringer() {
	kill "$SERVER_PID"
	wait "$SERVER_PID" || true
	SERVER_PID=
}


echo "== syscalls per echoed message: $CONNS connections, $SIZE-byte messages, ${SECS}s"
start_ringer
t0=$(cpu_ticks "$SERVER_PID")
perf stat -e raw_syscalls:sys_enter -x, -o "$WORK/perf.csv" -p "$SERVER_PID" &
PERF_PID=$!
sleep 0.2
"$LOAD" --target "127.0.0.1:$PORT" --mode echo --size "$SIZE" --connections "$CONNS" \
	--duration "${SECS}s" --cpus 1 --json >"$WORK/load.json"
kill -INT "$PERF_PID"
wait "$PERF_PID" || true
t1=$(cpu_ticks "$SERVER_PID")
stop_ringer
# The server's own count: bytes echoed / message size (includes the perf window's edges).
msgs=$(awk -v s="$SIZE" '/^  bytes_out/ {printf "%d", $2 / s}' "$WORK/ringer.out")
loops=$(awk '/^  loops/ {print $2}' "$WORK/ringer.out")
sys=$(awk -F, '/raw_syscalls:sys_enter/ {print $1}' "$WORK/perf.csv")
hz=$(getconf CLK_TCK)
rps=$(grep -o '"requests_per_s":[0-9.]*' "$WORK/load.json" | grep -o '[0-9.]*$' || echo "?")
awk -v m="$msgs" -v s="$sys" -v l="$loops" -v t=$((t1 - t0)) -v hz="$hz" -v r="$rps" 'BEGIN {
	printf "messages echoed       %d (client: %s msg/s)\n", m, r
	printf "server syscalls       %d (%.4f per message)\n", s, s / m
	printf "loop iterations       %d (%.2f messages per io_uring_enter)\n", l, m / l
	printf "server CPU            %.2f s (%.2f us per message)\n", t / hz, t / hz / m * 1e6
}'
grep -E '^  (cqes_per_loop|enobufs|stale|errors)' "$WORK/ringer.out"

echo
echo "== memory: $IDLE idle connections"
start_ringer --max-conns $((IDLE + 100))
sleep 0.2
rss0=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER_PID/status")
python3 - "$PORT" "$IDLE" "$SERVER_PID" "$rss0" <<'PY'
import resource, socket, sys, time
port, n, pid, rss0 = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 1000), hard))
socks = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    socks.append(s)
time.sleep(1.0)
rss1 = int([l.split()[1] for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")][0])
print(f"server RSS            {rss0} KiB idle, {rss1} KiB with {n} connections")
print(f"per connection        {(rss1 - rss0) * 1024 / n:.0f} bytes (user space; the kernel's socket memory is not in RSS)")
for s in socks:
    s.close()
PY
stop_ringer
