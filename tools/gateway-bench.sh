#!/usr/bin/env bash
# The gateway benchmark: fanoutd (shipped config) and the Go peer gateway, same
# distribution (seed 1: base 5 ms, p99 200 ms, 1/1000 stragglers of 2 s,
# besteffort, budget 300 ms, branch timeout 250 ms), driven by fanout-load at
# each rate in turn, alternating the two, REPS times. Medians and ratios at the end.
# The peer gets a global limit of 4,096 (its default 1,024 would queue admissions at
# 10,000/s x F=5 x ~35 ms); fanoutd runs its shipped AIMD limiter (initial 2,000).
#   tools/gateway-bench.sh [BUILD]   env: RATES ("2000 5000 10000 20000"), DURATION (10),
#                                         REPS (3), OUT (bench-out), PEER (1)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
rates=${RATES:-2000 5000 10000 20000} duration=${DURATION:-10} reps=${REPS:-3}
out=${OUT:-$top/bench-out}
mkdir -p "$out"
res="$out/gateway.jsonl"
: >"$res"
peer=
if [ "${PEER:-1}" = 1 ]; then peer=$("$top/tools/peer.sh" "$top/peer-bin") || peer=; fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
fport=$(free_port)
"$build/daemon/fanoutd" -c "$top/etc/fanoutd.conf" --modules "$build/modules/dir" \
	--listen "127.0.0.1:$fport" 2>"$out/fanoutd.log" &
fpid=$!
pids+=("$fpid")
if [ -n "$peer" ]; then
	gport=$(free_port)
	"$peer/gateway" -addr "127.0.0.1:$gport" -seed 1 -global-limit "${PEER_GLOBAL_LIMIT:-4096}" \
		2>"$out/gateway.log" &
	gpid=$!
	pids+=("$gpid")
fi
for _ in $(seq 100); do
	curl -fs "http://127.0.0.1:$fport/healthz" >/dev/null 2>&1 && break
	sleep 0.1
done
# Warm both (and fill the connection pools) before measuring.
"$build/tools/fanout-load" --port "$fport" --rate 1000 --duration 2 --first-id 900000000 >/dev/null || true
[ -n "$peer" ] && { "$build/tools/fanout-load" --port "$gport" --rate 1000 --duration 2 --first-id 900000000 >/dev/null || true; }

# Rates ascending, each with all its repetitions, so an overloaded rate (whose
# connection storm leaves memory behind in both servers) comes after the others.
first=1
for rate in $rates; do
	n=$(awk -v r="$rate" -v d="$duration" 'BEGIN { printf "%d", r * d }')
	for i in $(seq "$reps"); do
		for impl in fanoutd go-peer; do
			if [ "$impl" = fanoutd ]; then port=$fport pid=$fpid; else
				[ -n "$peer" ] || continue
				port=$gport pid=$gpid
			fi
			echo "== $impl rate $rate rep $i" >&2
			# Fresh ids per run, the same for both implementations.
			"$build/tools/fanout-load" --port "$port" --pid "$pid" --rate "$rate" \
				--duration "$duration" --first-id "$first" |
				sed "s/^{/{\"impl\":\"$impl\",\"rep\":$i,/" | tee -a "$res" || true
		done
		first=$((first + n))
	done
done

# The straggler experiment (brief, experiment 4): the same load at 2,000/s
# (a) without a per-branch deadline (budget and timeouts 5 s: the 2 s
# stragglers set the tail) and (b) with the shipped 250 ms deadline + besteffort.
if [ "${STRAGGLER:-1}" = 1 ]; then
	sport=$(free_port)
	sed -e 's/budget_ms = 300;/budget_ms = 5000;/' -e 's/timeout_ms = 250;/timeout_ms = 5000;/g' \
		"$top/etc/fanoutd.conf" >"$out/no-deadline.conf"
	"$build/daemon/fanoutd" -c "$out/no-deadline.conf" --modules "$build/modules/dir" \
		--listen "127.0.0.1:$sport" 2>>"$out/fanoutd.log" &
	spid=$!
	pids+=("$spid")
	for _ in $(seq 100); do curl -fs "http://127.0.0.1:$sport/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
	for i in $(seq "$reps"); do
		for variant in no-deadline deadline-250ms; do
			if [ "$variant" = no-deadline ]; then port=$sport pid=$spid extra=(--timeout-ms 5000 --budget-ms 5000)
			else port=$fport pid=$fpid extra=(); fi
			echo "== straggler $variant rep $i" >&2
			"$build/tools/fanout-load" --port "$port" --pid "$pid" --rate 2000 --duration "$duration" \
				--first-id "$first" "${extra[@]}" |
				sed "s/^{/{\"impl\":\"straggler-$variant\",\"rep\":$i,/" | tee -a "$res" || true
		done
		first=$((first + 2000 * ${duration%.*}))
	done
fi
python3 "$top/tools/gateway-summary.py" "$res"
