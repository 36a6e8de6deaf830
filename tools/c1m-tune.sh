#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The kernel settings that a million loopback connections run into, shown
# and (with --apply, as root) set; nothing is changed silently: every line
# says the value found, the value wanted and why. Idempotent.
#
#   net.ipv4.ip_local_port_range  a connect picks its source port here: every
#       (source address, destination) pair holds at most this many connections,
#       so 1M to one server port needs ~16 source addresses at 64k ports each
#       (ringer-load --source 127.0.0.2-127.0.0.40)
#   net.ipv4.tcp_max_syn_backlog  half-open connections a listener keeps while
#       a connect burst lands
#   net.core.somaxconn            the accept queue's ceiling (ringer's listen
#       backlog is clamped to it)
#   net.core.netdev_max_backlog   packets queued per CPU on the loopback path
#       during a burst
#   net.ipv4.tcp_mem              pages all TCP sockets may hold before the
#       kernel presses them; idle sockets hold next to nothing, so the default
#       is reported, not raised
#   fs.nr_open / RLIMIT_NOFILE    the ceiling of a process's descriptor limit;
#       ringer and ringer-load raise their soft limit to the hard one
#       themselves, and where the hard limit may be raised (systemd
#       LimitNOFILE=1048576) one shard holds a million; where it may not,
#       more shards (one ring, one fixed-file table each) and more client
#       threads share the total
#   nf_conntrack_max              if connection tracking is loaded, loopback
#       connections are tracked too: it must exceed the total
#
# Usage: tools/c1m-tune.sh [--apply]
set -euo pipefail

apply=false
[ "${1:-}" = --apply ] && apply=true
[ $# -eq 0 ] || [ "$1" = --apply ] || { echo "usage: $0 [--apply]" >&2; exit 2; }
if $apply && [ "$(id -u)" -ne 0 ]; then
	echo "c1m-tune: --apply needs root" >&2
	exit 1
fi

# want NAME VALUE: report, and set with --apply when the value found is lower.
want() {
	local name=$1 value=$2 path have
	path=/proc/sys/${name//.//}
	if [ ! -e "$path" ]; then
		printf '  %-32s absent here\n' "$name"
		return
	fi
	have=$(tr -s '\t ' ' ' <"$path")
	if [ "$have" = "$value" ]; then
		printf '  %-32s %s (as wanted)\n' "$name" "$have"
	elif $apply; then
		printf '%s\n' "$value" >"$path"
		printf '  %-32s %s -> %s\n' "$name" "$have" "$(tr -s '\t ' ' ' <"$path")"
	else
		printf '  %-32s %s (wanted: %s; --apply sets it)\n' "$name" "$have" "$value"
	fi
}

echo "c1m-tune: kernel settings for a million loopback connections$($apply && echo ', applying')"
want net.ipv4.ip_local_port_range "1024 65535"
want net.ipv4.tcp_max_syn_backlog 65536
want net.core.somaxconn 65535
want net.core.netdev_max_backlog 16384
printf '  %-32s %s (pages; reported, not changed)\n' net.ipv4.tcp_mem \
	"$(tr -s '\t ' ' ' </proc/sys/net/ipv4/tcp_mem)"
printf '  %-32s %s\n' fs.nr_open "$(cat /proc/sys/fs/nr_open)"
printf '  %-32s soft %s, hard %s (a process; ringer raises soft to hard)\n' RLIMIT_NOFILE \
	"$(ulimit -Sn)" "$(ulimit -Hn)"
if [ -e /proc/sys/net/netfilter/nf_conntrack_max ]; then
	want net.netfilter.nf_conntrack_max 2097152
else
	printf '  %-32s not loaded: loopback connections are not tracked\n' nf_conntrack
fi
