#!/usr/bin/env bash
# Builds the Debian packages (fanoutd, libfanout0, libfanout-dev, fanout-tools)
# into OUTDIR (default build-deb/) and checks them with lintian:
#   tools/deb.sh [--clean-room] [OUTDIR]
# The build runs on a copy of the tree's files in a temporary directory:
# dpkg-buildpackage writes next to the source, so the tree and its parent
# stay clean. Missing build dependencies (debian/control's Build-Depends) are
# installed by tools/need-packages.sh. DEB_BUILD_OPTIONS passes through
# (nocheck skips the CUnit tests).
#
# --clean-room (root, about 5 minutes) proves Build-Depends complete without a
# network: it builds in a chroot on an overlay of / from which every package
# outside the Depends closure of Debian's required packages, build-essential,
# dpkg-dev, debhelper and debian/control's Build-Depends has been purged
# (what a debootstrap chroot plus those packages would hold).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
clean_room=
[ "${1:-}" = --clean-room ] && { clean_room=1; shift; }
out=${1:-$top/build-deb}
mkdir -p "$out"
out=$(cd "$out" && pwd)

"$top/tools/need-packages.sh" dpkg-dev debhelper lintian

work=$(mktemp -d "${TMPDIR:-/tmp}/fanoutd-deb.XXXXXX")
cr=$work/clean-room
finish() {
	if [ -n "$clean_room" ]; then
		umount "$cr/root/proc" 2>/dev/null || true
		umount "$cr/root" 2>/dev/null || umount -l "$cr/root" 2>/dev/null || true
		# Never delete through a still-mounted overlay of /.
		mountpoint -q "$cr/root" 2>/dev/null && { echo "deb: $cr/root still mounted: $work kept" >&2; return; }
	fi
	[ -n "${DEB_KEEP:-}" ] || rm -rf "$work"
}
trap finish EXIT
src=$work/fanoutd
mkdir "$src"
# A git checkout: its tracked and untracked, not ignored, files. A release
# tarball (make dist, which carries debian/): all of it but build trees.
if [ "$(git -C "$top" rev-parse --show-toplevel 2>/dev/null)" = "$top" ]; then
	(cd "$top" && git ls-files -z --cached --others --exclude-standard |
		xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
		tar --null -T - -cf -) | tar -xf - -C "$src"
else
	tar -C "$top" --exclude=./build --exclude=./build-deb --exclude=./_build --exclude=./_inst -cf - . | tar -xf - -C "$src"
fi

# Build-Depends: what dpkg-checkbuilddeps names as missing, installed here.
cd "$src"
if ! unmet=$(dpkg-checkbuilddeps 2>&1); then
	pkgs=$(echo "$unmet" | sed -n 's/.*Unmet build dependencies: //p' | sed 's/([^)]*)//g; s/<[^>]*>//g; s/|[^ ]*//g')
	[ -n "$pkgs" ] || { echo "$unmet" >&2; exit 1; }
	# shellcheck disable=SC2086 # one word per package
	"$top/tools/need-packages.sh" --unmet $pkgs
fi

build_failed() {
	tail -40 "$work/build.log" >&2
	echo "deb: dpkg-buildpackage failed (log above)" >&2
	exit 1
}

# The Depends closure of PACKAGES (alternatives included: a superset).
closure() {
	apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
		--no-replaces --no-enhances "$@" 2>/dev/null | grep -v '^[ <]' | sed 's/:.*//' | sort -u
}

build_in_clean_room() {
	[ "$(id -u)" = 0 ] || { echo "deb: --clean-room needs root" >&2; exit 1; }
	local build_deps required
	build_deps=$(sed -n '/^Build-Depends:/,/^[A-Z][-A-Za-z]*:/p' debian/control | sed '1s/^Build-Depends://; $d' |
		tr ',' '\n' | sed 's/([^)]*)//; s/<[^>]*>//; s/ //g' | grep -v '^debhelper-compat' | grep .)
	required=$(dpkg-query -W -f='${Package} ${Essential} ${Priority}\n' | awk '$2 == "yes" || $3 == "required" {print $1}')
	# shellcheck disable=SC2086 # one word per package
	closure $required build-essential dpkg-dev debhelper $build_deps >"$cr.keep"
	mkdir -p "$cr/upper" "$cr/work" "$cr/root"
	mount -t overlay overlay -o "lowerdir=/,upperdir=$cr/upper,workdir=$cr/work" "$cr/root" || exit 1
	mount -t proc proc "$cr/root/proc" || exit 1
	# Maintainer scripts of the purged packages must not touch the host's services.
	printf '#!/bin/sh\nexit 101\n' >"$cr/root/usr/sbin/policy-rc.d"
	chmod +x "$cr/root/usr/sbin/policy-rc.d"
	dpkg-query -W -f='${Package}\n' | sort -u | comm -23 - "$cr.keep" >"$cr.purge"
	echo "deb: clean room: purging $(wc -l <"$cr.purge") of $(dpkg-query -W -f='.\n' | wc -l) packages"
	# shellcheck disable=SC2046 # one word per package
	chroot "$cr/root" env DEBIAN_FRONTEND=noninteractive dpkg --purge --force-depends \
		--force-remove-protected $(cat "$cr.purge") >"$work/purge.log" 2>&1 ||
		{ tail -20 "$work/purge.log" >&2; echo "deb: the clean room's purge failed" >&2; exit 1; }
	echo "deb: clean room: $(chroot "$cr/root" dpkg-query -W -f='.\n' | wc -l) packages left"
	mkdir -p "$cr/root/build"
	cp -a "$src" "$cr/root/build/fanoutd"
	chroot "$cr/root" sh -c 'cd /build/fanoutd && dpkg-checkbuilddeps && dpkg-buildpackage -us -uc -b' \
		>"$work/build.log" 2>&1 || build_failed
	mv "$cr/root/build"/*.deb "$cr/root/build"/fanoutd_*.changes "$cr/root/build"/fanoutd_*.buildinfo "$work"/
}

if [ -n "$clean_room" ]; then
	build_in_clean_room
else
	dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1 || build_failed
fi
changes=$(ls "$work"/fanoutd_*.changes)
# Errors fail the build; warnings and the rest are printed.
lintian --fail-on error "$changes" >"$work/lintian.log" 2>&1 || {
	cat "$work/lintian.log" >&2
	echo "deb: lintian reported errors" >&2
	exit 1
}
[ -s "$work/lintian.log" ] && { echo "deb: lintian:"; cat "$work/lintian.log"; }
rm -f "$out"/*.deb "$out"/fanoutd_*.changes "$out"/fanoutd_*.buildinfo
mv "$work"/*.deb "$changes" "$work"/fanoutd_*.buildinfo "$out"/
echo "deb: packages in $out:"
(cd "$out" && ls -1 ./*.deb)
