#!/usr/bin/env bash
# Batch-job benchmarks (doc/FINDINGS.md, "Batch jobs over the socket"). Loopback and a
# Unix socket in a temp dir only; every run is bounded by its row count.
#   tools/job-bench.sh [--rows N] [--sim-rows N] [--runs R] [--seed S] [--out DIR]
# echo: N rows (default 50,000,000) of kind enrich served by the instant echo downstream,
#       job limit 4096: rows/s end to end through the socket; fanoutd's threads and RSS
#       sampled every 100 ms.
# sim:  N rows (default 2,000,000) of the shipped enrich (sim latencies), job limit
#       10,000, the global limiter out of the way: steady rows/s (10 %..90 % done) against
#       Little's bound, 10,000 / the mean slowest-branch latency of those rows (sim-model).
# Each R times (default 3), one fresh fanoutd per run. Per-run JSON lines go to
# OUT/jobs.jsonl (default doc/bench), the first run's samples to OUT/jobs-*.csv and plots.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rows=50000000 sim_rows=2000000 runs=3 seed=42 out=$top/doc/bench
while [ $# -gt 0 ]; do
	case $1 in
	--rows) rows=$2; shift 2 ;;
	--sim-rows) sim_rows=$2; shift 2 ;;
	--runs) runs=$2; shift 2 ;;
	--seed) seed=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	*) echo "usage: tools/job-bench.sh [--rows N] [--sim-rows N] [--runs R] [--seed S] [--out DIR]" >&2; exit 2 ;;
	esac
done
b=$top/build
[ -x "$b/daemon/fanoutd" ] && [ -x "$b/tools/sim-model" ] || "$top/tools/setup.sh" build
dpkg-query -W -f='${Status}' python3-matplotlib 2>/dev/null | grep -q "install ok installed" ||
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-matplotlib >/dev/null; }
tmp=$(mktemp -d /tmp/fanoutd-jobbench.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
mkdir -p "$out"

# The shipped config with a fixed limiter far above any job limit (the limiter is not what
# is measured); for echo, enrich's three branches answer at once.
sed -e 's/module = "aimd";/module = "fixed"; limit = 1000000;/' "$top/etc/fanoutd.conf" >"$tmp/sim.conf"
sed -e 's/downstream = "sim"; timeout_ms = 500;/downstream = "echo"; timeout_ms = 500;/' \
	"$tmp/sim.conf" >"$tmp/echo.conf"

one() { # one EXP RUN ROWS LIMIT [LITTLE]
	local exp=$1 run=$2 n=$3 limit=$4 little=${5:-}
	rm -f "$tmp/api.sock" "$tmp/stop"
	"$b/daemon/fanoutd" -c "$tmp/$exp.conf" --modules "$b/modules/dir" --listen 127.0.0.1:0 \
		--socket "$tmp/api.sock" >"$tmp/fanoutd.log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do [ -S "$tmp/api.sock" ] && break; sleep 0.1; done
	"$top/tools/job-sampler.py" "$pid" "$b/tools/fanoutctl" "$tmp/api.sock" "$tmp/$exp.csv" "$tmp/stop" &
	local sampler=$!
	"$b/tools/fanout-gen" --seed "$seed" --count "$n" --kind enrich |
		"$b/tools/fanoutctl" -s "$tmp/api.sock" submit --limit "$limit" -o /dev/null 2>"$tmp/err" || true
	touch "$tmp/stop"
	wait "$sampler"
	kill "$pid"; wait "$pid" || true; pid=
	"$top/tools/job-summary.py" run "$exp" "$run" "$n" "$limit" "$tmp/$exp.csv" "$tmp/err" $little |
		tee -a "$out/jobs.jsonl"
	if [ "$run" = 1 ]; then
		cp "$tmp/$exp.csv" "$out/jobs-$exp-threads-rss.csv"
		/usr/bin/python3 "$top/tools/plot-stream.py" "$out/jobs-$exp.png" \
			"fanoutd batch job, kind enrich ($exp downstream): $n rows, limit $limit, seed $seed" \
			"$tmp/$exp.csv"
	fi
}

little=$("$b/tools/sim-model" --count "$sim_rows" | python3 -c 'import json,sys; print(10000 / (json.load(sys.stdin)["mean_row_ms"] / 1000))')
echo "Little's bound for $sim_rows rows at limit 10,000: $little rows/s" >&2
for run in $(seq "$runs"); do
	one echo "$run" "$rows" 4096
	one sim "$run" "$sim_rows" 10000 "$little"
done
"$top/tools/job-summary.py" report "$out/jobs.jsonl"
