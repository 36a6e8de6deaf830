#!/usr/bin/env bash
# A handshake flood beside a timed keep-alive client: how much 2,000 full TLS handshakes thrown
# at one ringer shard delay the requests of the connections it already serves.
#
#   REPS=5 SECS=8 FLOOD=2000 RATE=2000 bash tools/bench-tls-flood.sh [BUILD]
#
# ringer --mode http --shards 1 over TLS (ECDSA P-256, TLS 1.3, tickets off so every flood
# connection is a full handshake) pinned to CPU 0. The timed client: ringer-load open loop at
# RATE requests/s over 20 keep-alive connections for SECS seconds, on CPU 1. The flood: a second
# ringer-load on CPU 1, 2 s into the timed run, FLOOD connections of one request each (--churn 1,
# 50 at a time, as fast as the server takes them), under SCHED_IDLE: a TLS client spends more
# CPU per handshake than the server, and the timed client's figures must be the server's delays,
# not a wait for its own core. Runs with and without the flood alternate,
# REPS of each; prints each run and the medians of the timed client's p50 / p99 / p99.9 and their
# ratio, flood / quiet. The ratio is the figure: latency is judged at a fixed open-loop rate.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/bench-lib.sh
BUILD=${1:-build}
REPS=${REPS:-5} SECS=${SECS:-8} FLOOD=${FLOOD:-2000} RATE=${RATE:-2000}
RINGER=$BUILD/src/server/ringer LOAD=$BUILD/src/load/ringer-load
[ -x "$RINGER" ] && [ -x "$LOAD" ] || { echo "build $BUILD first (ninja -C $BUILD)" >&2; exit 1; }

work=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
	-keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null

taskset -c 0 "$RINGER" --mode http --listen 127.0.0.1:0 --shards 1 --no-pin --quiet \
	--tls-cert "$work/cert.pem" --tls-key "$work/key.pem" --tls-tickets 0 >"$work/ringer.out" &
pid=$!
for _ in $(seq 100); do
	port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$work/ringer.out" | head -1)
	[ -n "$port" ] && break
	sleep 0.05
done
[ -n "$port" ] || { echo "ringer did not start" >&2; exit 1; }
url=https://127.0.0.1:$port/

pcts() { # JSON file -> "p50 p99 p99.9" of latency, in us
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); l=d["latency_us"]
print(l["p50"], l["p99"], l["p99.9"])' "$1"
}

printf '%-6s %4s %10s %10s %10s %s\n' run rep p50_us p99_us p99.9_us flood
for rep in $(seq "$REPS"); do
	for kind in quiet flood; do
		taskset -c 1 "$LOAD" "$url" --rate "$RATE" --connections 20 --duration "${SECS}s" \
			--warmup 1s --json >"$work/timed.json" 2>/dev/null &
		timed=$!
		note=-
		if [ "$kind" = flood ]; then
			sleep 3 # the warmup, then 2 s of the measured run
			start=$(date +%s%N)
			taskset -c 1 chrt --idle 0 "$LOAD" "$url" --churn 1 --tls-resume off --connections 50 \
				--requests "$FLOOD" --json >"$work/flood.json" 2>/dev/null || true
			note=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
print("%d handshakes in %.2f s" % (d["tls"]["handshakes"], (int(sys.argv[2]) - int(sys.argv[3])) / 1e9))' \
				"$work/flood.json" "$(date +%s%N)" "$start" 2>/dev/null || echo "flood: no report")
		fi
		wait "$timed"
		read -r p50 p99 p999 < <(pcts "$work/timed.json")
		printf '%-6s %4s %10s %10s %10s %s\n' "$kind" "$rep" "$p50" "$p99" "$p999" "$note"
		echo "$kind $p50 $p99 $p999" >>"$work/all"
	done
done
echo
for kind in quiet flood; do
	for col in 2 3 4; do
		awk -v k="$kind" -v c="$col" '$1 == k { print $c }' "$work/all" | median >"$work/m.$kind.$col"
	done
	printf 'median %-6s p50 %s us, p99 %s us, p99.9 %s us\n' "$kind" "$(cat "$work/m.$kind.2")" \
		"$(cat "$work/m.$kind.3")" "$(cat "$work/m.$kind.4")"
done
python3 - "$work" <<'PY'
import sys
m = lambda k, c: float(open(f"{sys.argv[1]}/m.{k}.{c}").read())
print("flood / quiet: p50 %.2fx, p99 %.2fx, p99.9 %.2fx" % tuple(m("flood", c) / m("quiet", c) for c in (2, 3, 4)))
PY
