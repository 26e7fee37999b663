#!/usr/bin/env bash
# Installs what fanoutd builds with (Debian 12 packages, only those missing),
# then configures and builds into DIR (default build/) with extra configure ARGS.
#   tools/setup.sh [DIR] [CONFIGURE-ARGS...]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-build}
shift || true
packages=(build-essential autoconf automake libtool pkg-config
	libev-dev libconfig-dev libsystemd-dev libmsgpack-dev libhttp-parser-dev libcunit1-dev
	libcurl4-openssl-dev
	python3 curl systemd systemd-container prometheus lcov)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "setup: installing ${missing[*]}" >&2
	sudo=; [ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq
	# prometheus is here for promtool (the tests validate /metrics with it), lcov for tools/coverage.sh
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null
fi
cd "$top"
[ -x configure ] && [ configure -nt configure.ac ] && [ Makefile.in -nt Makefile.am ] || autoreconf -fi
mkdir -p "$dir"
cd "$dir"
want="$*"
if [ ! -f Makefile ] || [ "$(cat .configure-args 2>/dev/null)" != "$want" ]; then
	"$top/configure" --enable-werror "$@"
	echo "$want" >.configure-args
fi
make -j"$(nproc)"
