#!/usr/bin/env bash
# shellcheck disable=SC2317 # the checks' functions run through check()
# The Debian package end to end, on the machine it runs on: builds it (tools/build-deb.sh),
# installs it with apt-get, checks what its user meets (files in Debian's places, conffiles, the
# ringer user, the log directory, the unit enabled and verified by systemd-analyze, the example
# configuration accepted by ringer -t, an echo round trip through the installed binary, a
# second install over the first), then purges it and checks what purge leaves.
#
# It changes the machine (packages, a system user, ports on 127.0.0.1): run it as root on a
# fresh Debian 12 you can throw away, a VM, container or chroot (tools/README.md, "Packaging").
# Usage: tools/test-deb.sh [OUTDIR]   (the package is built there; default build-deb/)
# One line a check, "ok NAME" or "FAIL NAME: why", then "N passed, N failed"; exit 1 on a failure.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/build-deb}
[ "$(id -u)" -eq 0 ] || { echo "test-deb: run as root (it installs the package)" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive

pass=0 fail=0
check() { # NAME COMMAND...: ok when COMMAND succeeds; its output says why when it does not
	local name=$1 why
	shift
	if why=$("$@" 2>&1); then
		echo "ok $name"
		pass=$((pass + 1))
	else
		echo "FAIL $name: $(tail -5 <<<"$why" | tr '\n' ' ')"
		fail=$((fail + 1))
	fi
}
finish() {
	echo "$pass passed, $fail failed"
	[ "$fail" -eq 0 ]
	exit
}

deb=$(bash "$root/tools/build-deb.sh" "$out" | tee /dev/stderr | tail -1)
if [ ! -f "$deb" ]; then
	check build false
	finish
fi
src=$out/ringer # the package's source tree, as build-deb.sh left it
upstream=$(cd "$src" && dpkg-parsechangelog -S Version)
upstream=${upstream%-*}

# For the unit's checks: systemd-analyze and systemctl (package systemd), and man (man-db),
# which systemd-analyze verify runs for each man: page in Documentation=; ip (iproute2) for
# the loopback of a network namespace.
for p in systemd man-db iproute2; do
	dpkg-query -W -f='${Status}' $p 2>/dev/null | grep -q 'install ok installed' ||
		apt-get install -y -qq --no-install-recommends $p >/dev/null 2>&1 ||
		echo "test-deb: could not install $p" >&2
done

check install apt-get install -y -qq "$deb"

# Files where Debian 12 keeps them, each dpkg's as ringer's. The man pages' names and sections
# come from their sources' names (ringer.8.md: man8/ringer.8.gz).
files=(/usr/sbin/ringer /usr/bin/ringer-load /lib/systemd/system/ringer.service
	/etc/ringer/ringer.conf /etc/logrotate.d/ringer /usr/share/ringer/seccomp-ringer.json
	/usr/share/doc/ringer/copyright)
for md in "$src"/src/server/ringer.*.md "$src"/src/load/ringer-load.*.md; do
	page=$(basename "$md" .md)
	files+=("/usr/share/man/man${page##*.}/$page.gz")
done
owned() { # PATH: there, and dpkg has it as ringer's
	[ -e "$1" ] || { echo "$1 missing"; return 1; }
	[ "$(dpkg-query -S "$1" 2>/dev/null | cut -d: -f1)" = ringer ] || { echo "$1 not ringer's"; return 1; }
}
for f in "${files[@]}"; do
	check "file $f" owned "$f"
done
conffile() { # PATH: one of the package's conffiles (dpkg keeps an edited one across upgrades)
	dpkg-query -W -f='${Conffiles}\n' ringer | awk '{print $1}' | grep -qx "$1" ||
		{ echo "$1 is no conffile"; return 1; }
}
check "conffile /etc/ringer/ringer.conf" conffile /etc/ringer/ringer.conf
check "conffile /etc/logrotate.d/ringer" conffile /etc/logrotate.d/ringer

# The service's user: a system user and group, no home, no login shell.
user_ok() {
	local pw
	pw=$(getent passwd ringer) || { echo "no user ringer"; return 1; }
	IFS=: read -r _ _ uid gid _ home shell <<<"$pw"
	if [ "$uid" -ge 1000 ] || [ "$home" != /nonexistent ] || [ "$shell" != /usr/sbin/nologin ] ||
		[ "$(getent group ringer | cut -d: -f3)" != "$gid" ]; then
		echo "$pw"
		return 1
	fi
}
check "user ringer" user_ok
logdir_ok() {
	local st
	st=$(stat -c %U:%G:%a /var/log/ringer) || return 1
	[ "$st" = ringer:adm:2750 ] || { echo "/var/log/ringer is $st"; return 1; }
}
check "log directory" logdir_ok

# The unit: enabled on install (dh_installsystemd's default), and well formed. Without systemd
# running (a chroot), the postinst only enables it; with it, the service is started too.
unit_enabled() { # enabled, not merely there: is-enabled succeeds for a static unit too
	local st
	st=$(systemctl is-enabled ringer.service 2>&1)
	[ "$st" = enabled ] || { echo "systemctl is-enabled: $st"; return 1; }
}
check "unit enabled" unit_enabled
verify() {
	command -v systemd-analyze >/dev/null || { echo "no systemd-analyze"; return 1; }
	local o
	o=$(systemd-analyze verify /lib/systemd/system/ringer.service 2>&1) || { echo "$o"; return 1; }
	# verify exits 0 on some complaints (an unknown directive, a bad value): none is allowed.
	[ -z "$o" ] || { echo "$o"; return 1; }
}
check "systemd-analyze verify" verify
if [ -d /run/systemd/system ]; then
	check "service active" systemctl is-active --quiet ringer.service
else
	echo "skip service active: systemd is not running here (a chroot or container)"
fi

check "ringer -t -c /etc/ringer/ringer.conf" /usr/sbin/ringer -t -c /etc/ringer/ringer.conf
version_ok() {
	local v
	v=$(/usr/sbin/ringer --version 2>&1) || return 1
	grep -qF "$upstream" <<<"$v" || { echo "ringer --version says '$v', the package $upstream"; return 1; }
}
check "ringer --version" version_ok

# An echo round trip through the installed binary, run as the service's user: COMMAND is
# started, its line "listening on 127.0.0.1:PORT" awaited (PORT as given, or the first: port 0
# lets the kernel pick), bytes sent there must come back, and SIGTERM must end it with 0.
echo_through() { # PORT|any LOG COMMAND...
	local want=$1 log=$2 pid ports port="" msg got rc
	shift 2
	setpriv --reuid=ringer --regid=ringer --init-groups "$@" >"$log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		ports=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log")
		if [ "$want" = any ]; then
			port=$(head -1 <<<"$ports")
		elif grep -qx "$want" <<<"$ports"; then
			port=$want
		fi
		[ -n "$port" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if [ -n "$port" ]; then
		msg="ringer package echo $RANDOM$RANDOM"
		if exec 3<>"/dev/tcp/127.0.0.1/$port"; then
			printf %s "$msg" >&3
			read -r -t 5 -N ${#msg} got <&3
			exec 3<&-
		fi
	fi
	kill -TERM "$pid" 2>/dev/null
	wait "$pid"
	rc=$?
	[ -n "$port" ] || { cat "$log"; echo "no 'listening on 127.0.0.1:$want'"; return 1; }
	[ "${got:-}" = "$msg" ] || { echo "sent '$msg', got '${got:-}'"; return 1; }
	[ "$rc" -eq 0 ] || { cat "$log"; echo "ringer exited $rc after SIGTERM"; return 1; }
}
check "echo round trip" echo_through any "$out/test-deb-echo.log" \
	/usr/sbin/ringer --mode echo --listen 127.0.0.1:0 --shards 1
# The example configuration served as the unit serves it (-c, as the user ringer), in a
# network namespace of its own, where its ports are free whatever this machine runs: its echo
# listener is 127.0.0.1:9000 (tools/dist/ringer.conf).
if unshare -n true 2>/dev/null; then
	export -f echo_through
	# shellcheck disable=SC2016 # $1 is the inner shell's
	check "example configuration serves echo" unshare -n bash -c \
		'ip link set lo up && echo_through 9000 "$1" /usr/sbin/ringer -c /etc/ringer/ringer.conf' \
		_ "$out/test-deb-conf.log"
else
	echo "skip example configuration serves echo: no network namespace here (unshare -n)"
fi

# Installed again over itself (an upgrade's path): the postinst meets the user it made.
check "install again" dpkg -i "$deb"
check "user ringer after install again" user_ok

# The service's user writes its logs; purge removes them (postrm: dpkg alone would leave a
# directory that is not empty), the binaries and the configuration; the user stays, as Debian
# keeps system users.
check "ringer writes /var/log/ringer" \
	setpriv --reuid=ringer --regid=ringer --init-groups touch /var/log/ringer/test-deb.log
check purge apt-get purge -y -qq ringer
gone() {
	local p
	for p in /usr/sbin/ringer /etc/ringer /var/log/ringer /lib/systemd/system/ringer.service; do
		[ ! -e "$p" ] || { echo "$p is still there"; return 1; }
	done
}
check "purge removes" gone
check "user ringer kept" getent passwd ringer
finish
