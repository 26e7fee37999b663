#!/usr/bin/env bash
# Batch-job benchmarks (doc/FINDINGS.md, "Batch jobs over the socket"). Loopback and a
# Unix socket in a temp dir only; every run is bounded by its row count.
#   tools/job-bench.sh [--rows N] [--sim-rows N] [--sim-limits "L..."] [--no-echo] [--runs R]
#                      [--seed S] [--out DIR]
#   tools/job-bench.sh --stage1 [--rows N] [--seed S] [--out DIR]
# echo: N rows (default 50,000,000) of kind enrich served by the instant echo downstream,
#       job limit 4096: rows/s end to end through the socket; fanoutd's threads and RSS
#       sampled every 100 ms.
# sim:  N rows (default 2,000,000) of the shipped enrich (sim latencies), the global
#       limiter out of the way, at each job limit L (default 2,000 and 10,000; experiment
#       "sim-L"): steady rows/s (10 %..90 % done) against Little's bound, L / the mean
#       slowest-branch latency of those rows (sim-model).
# stage1: the brief's batch run on the shipped configuration, unchanged (sim latencies,
#       AIMD limiter): N rows (default 50,000,000) of enrich at job limit 10,000, once.
# Each R times (default 3), one fresh fanoutd per run. Per-run JSON lines go to
# OUT/jobs.jsonl (default doc/bench), the first run's samples to OUT/jobs-*.csv and plots.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rows=50000000 sim_rows=2000000 runs=3 seed=42 out=$top/doc/bench stage1= sim_limits="2000 10000" echo=1
while [ $# -gt 0 ]; do
	case $1 in
	--rows) rows=$2; shift 2 ;;
	--sim-rows) sim_rows=$2; shift 2 ;;
	--runs) runs=$2; shift 2 ;;
	--seed) seed=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--stage1) stage1=1; shift ;;
	--sim-limits) sim_limits=$2; shift 2 ;;
	--no-echo) echo=; shift ;;
	*) echo "usage: see the head of tools/job-bench.sh" >&2; exit 2 ;;
	esac
done
b=$top/build
[ -x "$b/daemon/fanoutd" ] && [ -x "$b/tools/sim-model" ] || "$top/tools/setup.sh" build
"$top/tools/need-packages.sh" python3-matplotlib
tmp=$(mktemp -d /tmp/fanoutd-jobbench.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
mkdir -p "$out"

# The shipped config with a fixed limiter far above any job limit (the limiter is not what
# is measured); for echo, enrich's three branches answer at once.
cp "$top/etc/fanoutd.conf" "$tmp/stage1.conf"
sed -e 's/module = "aimd";/module = "fixed"; limit = 1000000;/' "$top/etc/fanoutd.conf" >"$tmp/sim.conf"
sed -e 's/downstream = "sim"; timeout_ms = 500;/downstream = "echo"; timeout_ms = 500;/' \
	"$tmp/sim.conf" >"$tmp/echo.conf"

one() { # one CONF RUN ROWS LIMIT [LITTLE]
	local conf=$1 run=$2 n=$3 limit=$4 little=${5:-} exp=$1
	[ "$conf" != sim ] || exp=sim-$limit
	rm -f "$tmp/api.sock" "$tmp/stop"
	"$b/daemon/fanoutd" -c "$tmp/$conf.conf" --modules "$b/modules/dir" --listen 127.0.0.1:0 \
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
			"batch job: enrich ($conf config), $n rows, limit $limit, seed $seed" \
			"$tmp/$exp.csv"
	fi
}

if [ -n "$stage1" ]; then
	one stage1 1 "$rows" 10000
	exit 0
fi
mean_ms=$("$b/tools/sim-model" --count "$sim_rows" | python3 -c 'import json,sys; print(json.load(sys.stdin)["mean_row_ms"])')
echo "sim-model: mean slowest-branch latency of rows 1..$sim_rows: $mean_ms ms" >&2
for run in $(seq "$runs"); do
	[ -z "$echo" ] || one echo "$run" "$rows" 4096
	for l in $sim_limits; do
		one sim "$run" "$sim_rows" "$l" "$(python3 -c "print($l / ($mean_ms / 1000))")"
	done
done
"$top/tools/job-summary.py" report "$out/jobs.jsonl"
