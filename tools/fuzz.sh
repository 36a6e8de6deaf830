#!/usr/bin/env bash
# Fuzzes ringer's parsers with libFuzzer under ASan+UBSan:
#
#   tools/fuzz.sh [SECONDS] [TARGET ...]
#
# SECONDS per target (default 60), TARGET among http_parser, http_head, http_resp_parser,
# flags, proxy_proto, tls_transport, conffile (default all; two run at a time). Builds build-fuzz
# with clang (-Dfuzz=true) the first time. Each target first replays its kept
# regression inputs, then fuzzes from a copy of its seed corpus
# (tests/fuzz/corpus/TARGET); a crash is copied to tests/fuzz/regressions/TARGET
# to be committed. Ends with one line: N passed, N failed.
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true

bash tools/install-deps.sh || exit 1
if [ ! -f build-fuzz/build.ninja ]; then
	CC=clang meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined \
		-Db_lundef=false >/dev/null || { echo "fuzz build: setup failed"; exit 1; }
fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(http_parser http_head http_resp_parser flags proxy_proto tls_transport conffile)
tests=() bins=()
for t in "${targets[@]}"; do
	tests+=("fuzz-$t")
	bins+=("tests/fuzz/fuzz_$t")
done
# Only the fuzzers: the rest of the clang build is not needed here.
ninja -C build-fuzz "${bins[@]}" >/dev/null || { echo "fuzz build failed"; exit 1; }
FUZZ_SECONDS=$secs meson test -C build-fuzz --setup san --suite fuzz --no-rebuild \
	--num-processes 2 --print-errorlogs "${tests[@]}" >build-fuzz/fuzz-output.txt 2>&1
status=$?
grep -h -E ': [0-9]+ runs in|kept|fails again|exited' build-fuzz/meson-logs/testlog-san.txt
python3 tools/count-tests.py fuzz=build-fuzz/meson-logs/testlog-san.json | tail -1
exit $status
