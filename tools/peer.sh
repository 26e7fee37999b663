#!/usr/bin/env bash
# Builds the Go errgroup peer from ../shared/peers into OUTDIR (default ./peer-bin)
# so benchmarks can run it side by side. Prints the directory; exits 1 if it cannot.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/peer-bin}
src=${FO_PEER_SRC:-$top/../shared/peers}
if [ -x "$out/enrich" ] && [ -x "$out/gateway" ] && [ -x "$out/simserver" ]; then echo "$out"; exit 0; fi
[ -d "$src/go-ref" ] || { echo "peer.sh: no Go peer at $src" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r "$src/." "$tmp/"           # the shared copy may be read-only
"$tmp/build.sh" "$out" >&2
echo "$out"
