#!/usr/bin/env bash
# The hedging benchmark (issue #9; doc/FINDINGS.md): the shipped product route
# (F = 5 sim branches, seed 1: base 5 ms, p99 200 ms, 1/1000 stragglers of 2 s)
# with no per-branch deadline (budget and timeouts 5 s, so a straggler sets the
# request's latency), driven open-model by fanout-load at RATE, three variants
# alternated REPS times, each on its own fanoutd:
#   baseline   no stragglers (tail_rate 0): the p99.9 the target is relative to
#   stragglers the stragglers, no hedging
#   hedged     the stragglers, every branch hedge = { delay_ms = "p95"; }
#              (defaults: max_attempts 2, tokens 10 / 0.1, max_share 0.05)
# Each run's extra load is hedges sent / branch calls, from /metrics before and
# after. Medians per variant and the hedged / baseline p99.9 ratio at the end.
#   tools/hedge-bench.sh [BUILD]   env: RATE (800), DURATION (15), REPS (3), OUT (bench-out)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
rate=${RATE:-800} duration=${DURATION:-15} reps=${REPS:-3}
out=${OUT:-$top/bench-out}
mkdir -p "$out"
res="$out/hedge.jsonl"
: >"$res"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

base=(-e 's/budget_ms = 300;/budget_ms = 5000;/' -e 's/timeout_ms = 250;/timeout_ms = 5000;/g')
sed "${base[@]}" -e 's/tail_rate = 0.001; tail_ms = 2000;/tail_rate = 0.0; tail_ms = 2000;/' \
	"$top/etc/fanoutd.conf" >"$out/hedge-baseline.conf"
sed "${base[@]}" "$top/etc/fanoutd.conf" >"$out/hedge-stragglers.conf"
sed "${base[@]}" -e '/name = "\(price\|inventory\|reviews\|recommendations\|shipping\)"/s/timeout_ms = 5000; }/timeout_ms = 5000; hedge = { delay_ms = "p95"; }; }/' \
	"$top/etc/fanoutd.conf" >"$out/hedge-hedged.conf"
grep -c 'delay_ms = "p95"' "$out/hedge-hedged.conf" | grep -qx 5 || { echo "hedge-bench: the hedge sed missed" >&2; exit 1; }

pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
declare -A port pid
variants=(baseline stragglers hedged)
for v in "${variants[@]}"; do
	port[$v]=$(free_port)
	"$build/daemon/fanoutd" -c "$out/hedge-$v.conf" --modules "$build/modules/dir" \
		--listen "127.0.0.1:${port[$v]}" --socket "$out/hedge-$v.sock" 2>"$out/hedge-$v.log" &
	pid[$v]=$!
	pids+=("${pid[$v]}")
done
for v in "${variants[@]}"; do
	for _ in $(seq 100); do
		curl -fs "http://127.0.0.1:${port[$v]}/healthz" >/dev/null 2>&1 && break
		sleep 0.1
	done
	# Warm: connection pools, and the hedged branches' first p95 window.
	"$build/tools/fanout-load" --port "${port[$v]}" --rate "$rate" --duration 3 --first-id 900000000 \
		--timeout-ms 5000 --budget-ms 5000 >/dev/null || true
done

# hedges and branch calls of the product route so far: "HEDGES CALLS"
counts() {
	curl -fs "http://127.0.0.1:$1/metrics" | awk '
		/^fanoutd_branch_hedges_total\{route="product"/ { h += $2 }
		/^fanoutd_branch_outcomes_total\{route="product"/ { c += $2 }
		END { printf "%d %d\n", h, c }'
}

first=1
n=$(awk -v r="$rate" -v d="$duration" 'BEGIN { printf "%d", r * d }')
for i in $(seq "$reps"); do
	for v in "${variants[@]}"; do
		echo "== $v rep $i" >&2
		read -r h0 c0 < <(counts "${port[$v]}")
		# The same ids for every variant within a repetition.
		line=$("$build/tools/fanout-load" --port "${port[$v]}" --pid "${pid[$v]}" --rate "$rate" \
			--duration "$duration" --first-id "$first" --timeout-ms 5000 --budget-ms 5000) || true
		read -r h1 c1 < <(counts "${port[$v]}")
		echo "$line" | sed "s/^{/{\"variant\":\"$v\",\"rep\":$i,\"hedges\":$((h1 - h0)),\"calls\":$((c1 - c0)),/" |
			tee -a "$res"
	done
	first=$((first + n))
done

python3 - "$res" <<'PY'
import json, statistics, sys
from collections import defaultdict
runs = defaultdict(list)
for line in open(sys.argv[1]):
    if line.startswith("{"):
        r = json.loads(line)
        r["extra_pct"] = 100.0 * r["hedges"] / r["calls"] if r["calls"] else 0.0
        runs[r["variant"]].append(r)
F = ["achieved_rate", "p50_ms", "p99_ms", "p999_ms", "max_ms", "extra_pct", "server_cpu_pct", "errors", "dropped"]
med = {v: {f: statistics.median(r.get(f, 0) for r in rs) for f in F} for v, rs in runs.items()}
print("| variant | runs | " + " | ".join(F) + " |")
print("|" + "---|" * (2 + len(F)))
for v in ("baseline", "stragglers", "hedged"):
    if v in med:
        print(f"| {v} | {len(runs[v])} | " + " | ".join(f"{med[v][f]:,.2f}" for f in F) + " |")
if "baseline" in med and "hedged" in med and "stragglers" in med:
    b = med["baseline"]["p999_ms"]
    print(f"\np99.9: stragglers {med['stragglers']['p999_ms'] / b:.2f} x baseline, "
          f"hedged {med['hedged']['p999_ms'] / b:.2f} x baseline (target < 3); "
          f"extra calls hedged {med['hedged']['extra_pct']:.2f} % (target <= 5 %)")
PY
