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
	# what the tests run (CI=true makes a missing one fail its test, see tests/integration/lib.sh):
	# setpriv and nsenter (util-linux), script (bsdutils), pgrep (procps), promtool (prometheus),
	# systemd-analyze and systemd-socket-activate (systemd), systemd-nspawn (systemd-container),
	# the man page lint (mandoc, groff-base; col from bsdextrautils); nginx (nginx-light: a real
	# downstream for the http module); ip (iproute2: loopback in http-dns.sh's network namespace)
	python3 curl coreutils util-linux bsdutils procps systemd systemd-container prometheus iproute2
	mandoc groff-base bsdextrautils nginx-light
	# lcov: tools/coverage.sh
	lcov)
"$top/tools/need-packages.sh" "${packages[@]}"
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
