#!/usr/bin/env bash
# Installs those of the named Debian packages that are not installed yet, with
# apt-get (through sudo when not root), the package lists refreshed first.
# Does nothing when all are there; fails naming the packages when it cannot.
# --unmet: the packages are known unmet (dpkg-checkbuilddeps: missing, or
# installed at too old a version): all are installed, upgrading those there.
# The one place the build, test and benchmark scripts install from.
#   tools/need-packages.sh [--unmet] PACKAGE...
set -euo pipefail
all=
[ "${1:-}" = --unmet ] && { all=1; shift; }
missing=()
for p in "$@"; do
	[ -z "$all" ] && dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
[ ${#missing[@]} -gt 0 ] || exit 0
echo "need-packages: installing ${missing[*]}" >&2
sudo=
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null ||
		{ echo "need-packages: not root and no sudo: apt-get install ${missing[*]}" >&2; exit 1; }
	sudo=sudo
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
	{ echo "need-packages: apt-get install ${missing[*]} failed" >&2; exit 1; }
