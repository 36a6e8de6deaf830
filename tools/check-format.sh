#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Every tracked C source and header is formatted as .clang-format says
# (Debian's clang-format 14). Lists the files that are not and exits 1;
# `clang-format -i FILE` fixes one. Run by `meson test` (suite lint).
set -uo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "clang-format is not installed"; exit 1; }
bad=0
while IFS= read -r f; do
	if clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
		continue
	fi
	echo "not formatted per .clang-format: $f"
	bad=$((bad + 1))
done < <(git ls-files '*.c' '*.h' 2>/dev/null || find src include tests bench -name '*.[ch]')
if [ "$bad" -gt 0 ]; then
	echo "0 passed, 1 failed"
	exit 1
fi
echo "1 passed, 0 failed"
