#!/usr/bin/env bash
# How long `fanoutd -t` takes to load a route of N replicas (each a branch with
# its own /metrics series), median of RUNS runs. Before the registries were
# hashed (linear search), this was quadratic in N: compare with an older build.
#   tools/replicas-load-bench.sh [BUILD-DIR] [N] [RUNS]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
n=${2:-100000}
runs=${3:-5}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$(dirname "$0")/wide-conf.sh" "$n" >"$tmp/wide.conf"
times=()
for _ in $(seq "$runs"); do
	t0=$(date +%s.%N)
	"$build/daemon/fanoutd" -t -c "$tmp/wide.conf" --modules "$build/modules/dir" >"$tmp/out" 2>&1 ||
		{ cat "$tmp/out" >&2; exit 1; }
	t1=$(date +%s.%N)
	times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')")
done
printf '%s\n' "${times[@]}" | sort -g | awk -v n="$n" '{ t[NR] = $1 }
	END { printf "replicas %d: load median %.3f s (runs: %d, min %.3f, max %.3f)\n", n, t[int((NR + 1) / 2)], NR, t[1], t[NR] }'
