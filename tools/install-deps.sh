#!/usr/bin/env bash
# Installs what ringer needs on Debian 12: `install-deps.sh build` only what building and
# running it need (tools/run.sh), `install-deps.sh` (all) that and what the tests and tools need
# (tools/test.sh); RINGER_DEPS_EXTRA=bench adds the benchmarks' extras to all.
# Idempotent: packages already present are skipped without touching apt.
set -euo pipefail
deps=${1:-all}
case $deps in
build | all) ;;
*) echo "usage: install-deps.sh [build|all]" >&2; exit 2 ;;
esac

# Building and running: a compiler, Meson, the libraries ringer links (zlib, OpenSSL, liburing)
# and python3 for a generated source. A package the build cannot do without goes here.
build_pkgs=(gcc libc6-dev meson ninja-build pkg-config liburing-dev libssl-dev zlib1g-dev python3)
# Unit tests, and the build's optional parts (USDT probes from sys/sdt.h, clang for fuzzing).
pkgs=("${build_pkgs[@]}" build-essential libcmocka-dev systemtap-sdt-dev
	clang-format clang libclang-rt-14-dev)
# The man pages (src/server/ringer.1.md, src/load/ringer-load.1.md) and the check that renders them.
pkgs+=(go-md2man man-db)
# Observability tests: promtool (prometheus), headless chromium, perf for USDT and profiles;
# HAProxy for the PROXY protocol interoperability tests.
pkgs+=(prometheus chromium linux-perf haproxy)
# Integration tests and tools: peers we did not write, and Google Benchmark's compare.py.
pkgs+=(curl socat wrk nginx-light libbenchmark-tools python3-scipy python3-numpy procps
	iproute2 openssl nghttp2-client)
# Network faults in namespaces (tests/integration/netfault.py): iptables' DROP, REJECT,
# statistic, hashlimit and TCPMSS.
pkgs+=(iptables)
# The unit and the logrotate snippet (tools/dist/, tests/integration/test_systemd.py):
# systemd-analyze security and verify, logrotate -d and a forced rotation.
pkgs+=(systemd logrotate)
# The interval log's reader (tests/hlog/HlogRead.java): HdrHistogram's own Java code, run from
# source by the JRE (Debian's runtime image has the compiler module).
pkgs+=(libhdrhistogram-java default-jre-headless)
# Least privilege (tests/integration/test_privs.py): the seccomp profile loaded by libseccomp
# as a container runtime would, and the system calls strace sees checked against it.
pkgs+=(python3-seccomp strace)
if [ "${RINGER_DEPS_EXTRA:-}" = bench ]; then
	pkgs+=(strace valgrind bpftrace)
	# nginx's stream module, for tools/netfault.py --compare's L4 proxy row.
	pkgs+=(libnginx-mod-stream)
fi
[ "$deps" = all ] || pkgs=("${build_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	[ "$(id -u)" -eq 0 ] || { echo "install-deps: need root to install: ${missing[*]}" >&2; exit 1; }
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# Postinst scripts would start system services (nginx on port 80, prometheus on
	# 9090); tests run their own. policy-rc.d forbids starting any during the install.
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod +x /usr/sbin/policy-rc.d
		trap 'rm -f /usr/sbin/policy-rc.d' EXIT
	fi
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
