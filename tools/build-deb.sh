#!/usr/bin/env bash
# Builds ringer's Debian package (Debian 12) and checks it with lintian.
# Usage: tools/build-deb.sh [OUTDIR]   (default: build-deb/ in the project's root)
#
# The package's source is the committed tree (git archive HEAD: what is not committed is not
# in it) with tools/debian/ as its debian/; its version is meson.build's project version, with
# the Debian revision of tools/debian/changelog's first entry (a new upstream version gets an
# entry of its own, -1). Build dependencies missing are installed first (apt-get: root).
# dpkg-buildpackage -us -uc -b builds it in OUTDIR (its log: OUTDIR/build.log), lintian
# checks the .deb and fails on an error, and the last line printed is the .deb's path.
# DEB_BUILD_OPTIONS=nocheck skips the unit tests the build runs. tools/README.md, "Packaging".
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-$root/build-deb}" && cd "${1:-$root/build-deb}" && pwd)

# The source tree: the committed tree and the packaging, in OUTDIR/ringer/.
src=$out/ringer
rm -rf "$src" "$out"/ringer_* "$out"/ringer-dbgsym_*
mkdir -p "$src"
git -C "$root" archive HEAD | tar -x -C "$src"
cp -a "$root/tools/debian" "$src/debian"

# What building a package needs, then the package's own Build-Depends (apt-get build-dep reads
# debian/control); apt only when something is missing.
tools=(dpkg-dev debhelper lintian build-essential)
missing=()
for p in "${tools[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] || ! (cd "$src" && dpkg-checkbuilddeps >/dev/null 2>&1); then
	[ "$(id -u)" -eq 0 ] || { echo "build-deb: need root to install build dependencies" >&2; exit 1; }
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${tools[@]}" >/dev/null
	apt-get build-dep -y -qq --no-install-recommends "$src" >/dev/null
fi

# The version: meson.build's, and the changelog's Debian revision when its upstream part is
# the same; otherwise a new entry for VERSION-1 on top.
version=$(cd "$src" && meson introspect --projectinfo meson.build |
	python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')
top=$(cd "$src" && dpkg-parsechangelog -S Version)
if [ "${top%-*}" != "$version" ]; then
	maint=$(cd "$src" && dpkg-parsechangelog -S Maintainer)
	{
		printf 'ringer (%s-1) unstable; urgency=medium\n\n' "$version"
		printf '  * New upstream version %s.\n\n' "$version"
		printf ' -- %s  %s\n\n' "$maint" "$(date -R)"
		cat "$root/tools/debian/changelog"
	} >"$src/debian/changelog"
	echo "build-deb: meson.build says $version, tools/debian/changelog $top: packaged as $version-1"
fi
full=$(cd "$src" && dpkg-parsechangelog -S Version)

echo "build-deb: building ringer $full in $out (log: $out/build.log)"
if ! (cd "$src" && dpkg-buildpackage -us -uc -b) >"$out/build.log" 2>&1; then
	tail -40 "$out/build.log"
	echo "build-deb: dpkg-buildpackage failed (log: $out/build.log)" >&2
	exit 1
fi
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
deb=$out/ringer_${full}_${arch}.deb
[ -f "$deb" ] || { echo "build-deb: no $deb" >&2; exit 1; }

# lintian: every tag it has is shown; an error fails the build.
echo "build-deb: lintian $deb"
if ! lintian --fail-on error --display-info --tag-display-limit 0 "$deb"; then
	echo "build-deb: lintian found errors" >&2
	exit 1
fi
echo "$deb"
