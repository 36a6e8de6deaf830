#!/usr/bin/env bash
# Configures (once) and builds ringer in ./build: -O2, debug symbols, frame pointers.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
