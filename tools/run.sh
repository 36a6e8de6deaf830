#!/usr/bin/env bash
# Installs what building and running ringer need (Debian 12, as root; not the
# tests' peers and tools: tools/test.sh adds those), builds it, and runs the
# server in the foreground: echo mode on 0.0.0.0:9000 unless flags say
# otherwise (e.g. tools/run.sh --mode http --listen 127.0.0.1:8080).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh build
bash tools/build.sh
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--mode echo --listen 0.0.0.0:9000)
exec build/src/server/ringer "${args[@]}"
