#!/usr/bin/env bash
# Installs what ringer needs (Debian 12, as root), builds it twice (the normal
# -O2 build and an ASan+UBSan build), runs the whole suite in both (and, in a
# fault-injection build, the engine's fault cases and a fault soak), fuzzes
# each parser for a minute (a third, clang build), and ends with one line that
# says what it counted (tools/count-tests.py: every case each program lists,
# one it never ran counted failed), e.g.
# 527 distinct cases x 2 builds + 1 in asan+ubsan only + 30 cases in fault + 7 fuzz runs: 1092 passed, 0 failed, 0 skipped
set -uo pipefail
cd "$(dirname "$0")/.."

bash tools/install-deps.sh || exit 1

build() { # dir [meson options...]
	local dir=$1
	shift
	# A build configured before (tools/run.sh's, with the build set of packages alone) is
	# configured again, so what install-deps.sh added since (cmocka, sys/sdt.h, go-md2man) counts.
	if [ -f "$dir/build.ninja" ]; then
		meson setup --reconfigure "$dir" "$@" >/dev/null || return 1
	else
		meson setup "$dir" "$@" >/dev/null || return 1
	fi
	ninja -C "$dir" >/dev/null
}

status=0
build build || { echo "build failed"; exit 1; }
build build-san -Db_sanitize=address,undefined -Db_lundef=false || { echo "sanitizer build failed"; exit 1; }
# The ring failing on purpose (include/ringer/fault.h), under ASan+UBSan: only the
# engine's fault cases and a minute of soak with errors injected run in it.
build build-fault -Dfault_injection=true -Db_sanitize=address,undefined -Db_lundef=false ||
	{ echo "fault-injection build failed"; exit 1; }

# Meson 1.0.1 does not set UBSAN_OPTIONS; the 'san' test setup (meson.build) does.
meson test -C build --print-errorlogs --num-processes 2 >build/test-output.txt 2>&1 || status=1
meson test -C build-san --setup san --print-errorlogs --num-processes 2 \
	>build-san/test-output.txt 2>&1 || status=1
meson test -C build-fault --setup san --print-errorlogs engine_faults soak_fault \
	>build-fault/test-output.txt 2>&1 || status=1
grep -E '^ *[0-9]+/[0-9]+ ' build/test-output.txt build-san/test-output.txt \
	build-fault/test-output.txt | sed 's/^[^:]*://'
# The parsers under libFuzzer (clang, ASan+UBSan), 60 s each; tools/fuzz.sh runs longer.
bash tools/fuzz.sh "${RINGER_FUZZ_SECONDS:-60}" >build/fuzz-output.txt 2>&1 || status=1
grep -E 'runs in|kept|fails again|exited|failed' build/fuzz-output.txt | grep -v ' passed, '

python3 tools/count-tests.py build=build/meson-logs/testlog.json \
	asan+ubsan=build-san/meson-logs/testlog-san.json \
	fault=build-fault/meson-logs/testlog-san.json \
	fuzz=build-fuzz/meson-logs/testlog-san.json || status=1
if [ $status -ne 0 ]; then
	echo "--- failures (full logs: build*/meson-logs/) ---"
	grep -h -B2 -A20 -E 'FAIL|ERROR|runtime error' build/test-output.txt build-san/test-output.txt \
		build-fault/test-output.txt build/fuzz-output.txt | tail -150
fi
exit $status
