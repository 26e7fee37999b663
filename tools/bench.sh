#!/usr/bin/env bash
# make bench: libfanout's streaming benchmarks beside the Go errgroup peer, in one
# invocation, each run REPS times alternating the two; medians and ratios at the end.
#   tools/bench.sh [FO_BENCH]   env: REPS (3), NOOP_N (50000000), SLEEP_N (1000000),
#                                    SEED (1), OUT (bench-out), PEER (1: run the Go peer)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bench=${1:-$top/build/tools/fo-bench}
reps=${REPS:-3} noop_n=${NOOP_N:-50000000} sleep_n=${SLEEP_N:-1000000} seed=${SEED:-1}
out=${OUT:-$top/bench-out}
mkdir -p "$out"
res="$out/stream.jsonl"
: >"$res"
peer=
if [ "${PEER:-1}" = 1 ]; then peer=$("$top/tools/peer.sh" "$top/peer-bin") || peer=; fi

run() { # label, command...
	local label=$1; shift
	echo "== $label: $*" >&2
	"$@" | sed "s/^{/{\"label\":\"$label\",/" | tee -a "$res"
}

for i in $(seq "$reps"); do
	run noop "$bench" noop -n "$noop_n" --seed "$seed" --limit 2 --pool 2 \
		--csv "$out/noop-$i.csv"
	[ -n "$peer" ] && run noop "$peer/enrich" -n "$noop_n" -seed "$seed" -kind noop -limit 8
	run noop-ordered "$bench" noop -n "$noop_n" --seed "$seed" --limit 2 --pool 2 --ordered
	[ -n "$peer" ] && run noop-ordered "$peer/enrich" -n "$noop_n" -seed "$seed" -kind noop \
		-limit 8 -ordered
	run sleep "$bench" sleep -n "$sleep_n" --seed "$seed" --limit 10000 --csv "$out/sleep-$i.csv"
	[ -n "$peer" ] && run sleep "$peer/enrich" -n "$sleep_n" -seed "$seed" -kind sleep -limit 10000
done
python3 "$top/tools/bench-summary.py" "$res"
