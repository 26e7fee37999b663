#!/usr/bin/env bash
# The real-HTTP gateway benchmark (issue 9): each of fanoutd's five /product
# branches is a real loopback HTTP call (the `http` downstream module, libcurl
# multi on the loops) to a downstream tier answering GET /sim/{branch}/{id}
# after the canonical draw (seed 1: base 5 ms, p99 200 ms, 1/1000 stragglers
# of 2 s); beside it the Go peer gateway in its HTTP-branch mode (one shared
# keep-alive http.Client) calls the same downstream. fanout-load drives each in
# turn at RATE req/s (open model), REPS times alternating; it reports latency,
# overhead against the ideal (the drawn latencies cut at each deadline) and
# the gateway's CPU. A sampler records the most connections each gateway held
# to the downstream. Medians and ratios at the end (tools/gateway-summary.py).
#   tools/http-bench.sh [BUILD]   env: RATE (5000), DURATION (10), REPS (3), OUT (bench-out),
#       DOWNSTREAM (simserver: the Go peer's; fanoutd: a second fanoutd's sim endpoint),
#       HOST_CONNS (256: fanoutd's per-host cap; the peer's -max-conns-per-host is 0, Go's default)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
rate=${RATE:-5000} duration=${DURATION:-10} reps=${REPS:-3} host_conns=${HOST_CONNS:-256}
out=${OUT:-$top/bench-out}
mkdir -p "$out"
res="$out/http.jsonl"
: >"$res"
peer=$("$top/tools/peer.sh" "$top/peer-bin")
[ -x "$build/modules/dir/http.so" ] || { echo "http-bench: $build has no http module (libcurl?)" >&2; exit 2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_http() { for _ in $(seq 100); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "http-bench: $1 does not answer" >&2; exit 1; }

pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
dport=$(free_port)
case ${DOWNSTREAM:-simserver} in
simserver)
	"$peer/simserver" -addr "127.0.0.1:$dport" -seed 1 2>"$out/downstream.log" &
	pids+=($!) ;;
fanoutd)
	"$build/daemon/fanoutd" -c "$top/etc/two-tier/back.conf" --modules "$build/modules/dir" \
		--listen "127.0.0.1:$dport" --socket "$out/back.sock" 2>"$out/downstream.log" &
	pids+=($!) ;;
*) echo "http-bench: DOWNSTREAM is simserver or fanoutd" >&2; exit 2 ;;
esac
wait_http "http://127.0.0.1:$dport/sim/price/1"

# fanoutd's shipped config with each sim branch made an HTTP call to the downstream
# (the route's sim settings go: the downstream tier draws now).
url="http://127.0.0.1:$dport/sim/{branch}/{id}"
sed -e '/^ *always_fail = /d' -e '/^ *sim = {/d' -e "s|downstream = \"sim\";|downstream = \"http\"; http = { url = \"$url\"; };|" \
	-e "/^limiters = (/i downstreams = { http = { max_host_connections = $host_conns; max_connections = $host_conns; }; };" \
	"$top/etc/fanoutd.conf" >"$out/front.conf"
grep -q 'downstream = "http"' "$out/front.conf" || { echo "http-bench: front config not made" >&2; exit 1; }
fport=$(free_port)
"$build/daemon/fanoutd" -c "$out/front.conf" --modules "$build/modules/dir" --listen "127.0.0.1:$fport" \
	--socket "$out/front.sock" 2>"$out/fanoutd.log" &
fpid=$!
pids+=("$fpid")
gport=$(free_port)
"$peer/gateway" -addr "127.0.0.1:$gport" -seed 1 -global-limit 4096 -downstream-url "$url" \
	2>"$out/gateway.log" &
gpid=$!
pids+=("$gpid")
wait_http "http://127.0.0.1:$fport/healthz"
wait_http "http://127.0.0.1:$gport/metrics"
for port in "$fport" "$gport"; do # warm both: connection pools filled before measuring
	"$build/tools/fanout-load" --port "$port" --rate 1000 --duration 2 --first-id 900000000 >/dev/null || true
done

# The most connections PID holds to the downstream port, sampled every 100 ms until killed.
sample_conns() {
	local pid=$1 max=0 n
	while :; do
		n=$(ss -Htnp state established "( dport = :$dport )" 2>/dev/null | grep -c "pid=$pid," || true)
		[ "$n" -gt "$max" ] && max=$n && echo "$max" >"$out/conns.$pid"
		sleep 0.1
	done
}
first=1
for i in $(seq "$reps"); do
	for impl in fanoutd go-peer; do
		if [ "$impl" = fanoutd ]; then port=$fport pid=$fpid; else port=$gport pid=$gpid; fi
		echo "== $impl rate $rate rep $i" >&2
		echo 0 >"$out/conns.$pid"
		sample_conns "$pid" &
		spid=$!
		line=$("$build/tools/fanout-load" --port "$port" --pid "$pid" --rate "$rate" \
			--duration "$duration" --first-id "$first") || true
		kill "$spid" 2>/dev/null || true
		wait "$spid" 2>/dev/null || true
		[ -n "$line" ] || continue
		echo "$line" | sed "s/^{/{\"impl\":\"$impl\",\"rep\":$i,\"downstream_conns_max\":$(cat "$out/conns.$pid"),/" |
			tee -a "$res"
	done
	first=$((first + rate * duration))
done
python3 "$top/tools/gateway-summary.py" "$res"
python3 - "$res" <<'PY'
import json, statistics, sys
from collections import defaultdict
c = defaultdict(list)
for line in open(sys.argv[1]):
    r = json.loads(line)
    c[r["impl"]].append(r["downstream_conns_max"])
for impl, v in sorted(c.items()):
    print(f"{impl}: most connections to the downstream, median of {len(v)} runs: {statistics.median(v):.0f}")
PY
