#!/usr/bin/env bash
# Runs one libFuzzer target: run.sh FUZZER CORPUS_DIR REGRESSIONS_DIR
#
# First every kept regression input (each must run clean), then FUZZ_SECONDS
# (default 60) of fuzzing from a copy of the seed corpus, so the repository's
# corpus stays as committed. A crash, leak, timeout or broken property is
# copied into REGRESSIONS_DIR (commit it: from then on every build replays
# it) and fails the run. Prints the fuzzer's figures on success.
set -uo pipefail
fuzzer=$1 corpus=$2 regressions=$3
name=$(basename "$fuzzer")
secs=${FUZZ_SECONDS:-60}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus"
cp "$corpus"/* "$work/corpus/" 2>/dev/null

regs=()
for f in "$regressions"/*; do
	[ -f "$f" ] && regs+=("$f")
done
if [ ${#regs[@]} -gt 0 ] && ! "$fuzzer" "${regs[@]}" >"$work/regressions.log" 2>&1; then
	tail -30 "$work/regressions.log"
	echo "$name: a kept regression input fails again"
	exit 1
fi

"$fuzzer" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
	-print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" >"$work/log" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
	tail -40 "$work/log"
	for a in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
		[ -f "$a" ] || continue
		cp "$a" "$regressions/"
		echo "$name: kept $regressions/$(basename "$a")"
	done
	echo "$name: fuzzer exited $rc"
	exit 1
fi
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
cov=$(grep -o 'cov: [0-9]*' "$work/log" | tail -1)
corp=$(ls "$work/corpus" | wc -l)
echo "$name: $runs runs in $secs s, $cov, corpus $corp inputs (seeds $(ls "$corpus" | wc -l)), no crash"
