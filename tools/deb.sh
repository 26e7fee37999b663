#!/usr/bin/env bash
# Builds the Debian packages (fanoutd, libfanout0, libfanout-dev, fanout-tools)
# into OUTDIR (default build-deb/) and checks them with lintian:
#   tools/deb.sh [OUTDIR]
# The build runs on a copy of the tree's files in a temporary directory:
# dpkg-buildpackage writes next to the source, so the tree and its parent
# stay clean. Missing build dependencies
# (debian/control's Build-Depends) are installed with apt-get when root, else
# named. DEB_BUILD_OPTIONS passes through (nocheck skips the CUnit tests).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/build-deb}
mkdir -p "$out"
out=$(cd "$out" && pwd)

need=(dpkg-dev debhelper lintian)
missing=()
for p in "${need[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	[ "$(id -u)" = 0 ] || { echo "deb: install ${missing[*]} (apt-get install ${missing[*]})" >&2; exit 1; }
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/fanoutd-deb.XXXXXX")
trap '[ -n "${DEB_KEEP:-}" ] || rm -rf "$work"' EXIT
src=$work/fanoutd
mkdir "$src"
# A git checkout: its tracked and untracked, not ignored, files. A release
# tarball (make dist, which carries debian/): all of it but build trees.
if [ "$(git -C "$top" rev-parse --show-toplevel 2>/dev/null)" = "$top" ]; then
	(cd "$top" && git ls-files -z --cached --others --exclude-standard |
		xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
		tar --null -T - -cf -) | tar -xf - -C "$src"
else
	tar -C "$top" --exclude='./build*' --exclude=./_build --exclude=./_inst -cf - . | tar -xf - -C "$src"
fi

# Build-Depends: what dpkg-checkbuilddeps names as missing, installed here.
cd "$src"
if ! unmet=$(dpkg-checkbuilddeps 2>&1); then
	pkgs=$(echo "$unmet" | sed -n 's/.*Unmet build dependencies: //p' | sed 's/([^)]*)//g; s/<[^>]*>//g; s/|[^ ]*//g')
	[ -n "$pkgs" ] || { echo "$unmet" >&2; exit 1; }
	[ "$(id -u)" = 0 ] || { echo "deb: missing build dependencies: $pkgs" >&2; exit 1; }
	# shellcheck disable=SC2086 # one word per package
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
fi

dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1 || {
	tail -40 "$work/build.log" >&2
	echo "deb: dpkg-buildpackage failed (log above)" >&2
	exit 1
}
changes=$(ls "$work"/fanoutd_*.changes)
# Errors fail the build; warnings are printed (the ones left: debian/README.source).
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
