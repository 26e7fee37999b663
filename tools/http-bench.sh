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
# Each run also records how contended the machine was (the driver, both
# gateways and the downstream share its cores): the driver's, the gateway's
# and the downstream's CPU and the time their threads waited runnable for a core
# (schedstat), the whole machine's busy share, the branches that timed out,
# and for fanoutd its mean admission wait and, with DOWNSTREAM=fanoutd, the
# connections the downstream accepted (keep-alive reuse: few per run; the
# /metrics scrape that reads the counter after the run is not counted).
#   tools/http-bench.sh [BUILD]   env: RATE (5000), DURATION (10), REPS (3), OUT (bench-out),
#       DOWNSTREAM (simserver: the Go peer's; fanoutd: a second fanoutd's sim endpoint),
#       HOST_CONNS (256: fanoutd's per-host cap; the peer's -max-conns-per-host is 0, Go's default)
set -euo pipefail
TIMEFORMAT='%U %S'
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
downstream=${DOWNSTREAM:-simserver}
case $downstream in
simserver)
	"$peer/simserver" -addr "127.0.0.1:$dport" -seed 1 2>"$out/downstream.log" &
	dpid=$! ;;
fanoutd)
	"$build/daemon/fanoutd" -c "$top/etc/two-tier/back.conf" --modules "$build/modules/dir" \
		--listen "127.0.0.1:$dport" --socket "$out/back.sock" 2>"$out/downstream.log" &
	dpid=$! ;;
*) echo "http-bench: DOWNSTREAM is simserver or fanoutd" >&2; exit 2 ;;
esac
pids+=("$dpid")
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

# The most connections PID holds to the downstream port, sampled every 250 ms
# into FILE until killed: the established sockets to the port (ss, no -p: its
# scan of every process costs ~50 ms of CPU a sample, on the cores measured)
# that are among PID's descriptors. Pools keep their connections, so the
# count only falls when connections close: the sampling rate hardly matters.
cat >"$out/conns.py" <<'PY'
import os, re, subprocess, sys, time
pid, port, path = sys.argv[1], sys.argv[2], sys.argv[3]
most = 0
while True:
    ss = subprocess.run(["ss", "-Htne", "state", "established", f"( dport = :{port} )"],
                        capture_output=True, text=True).stdout
    inodes = {f"socket:[{i}]" for i in re.findall(r"\bino:(\d+)", ss)}
    n = 0
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        sys.exit(0)  # the gateway is gone: the run reports it
    for fd in fds:
        try:
            n += os.readlink(f"/proc/{pid}/fd/{fd}") in inodes
        except OSError:
            pass
    if n > most:
        most = n
        with open(path + ".tmp", "w") as f:
            f.write(f"{most}\n")
        os.replace(path + ".tmp", path)
    time.sleep(0.25)
PY
# "run_ns wait_ns" of PID's threads: CPU time, and time runnable waiting for a core.
sched() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{r += $1; w += $2} END {printf "%.0f %.0f\n", r, w}'; }
# "busy total" jiffies of the whole machine.
machine() { awk '/^cpu / {t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6, t}' /proc/stat; }
# A counter of PORT's /metrics: the sum of the lines matching the regex RE.
metric() { { curl -fs "http://127.0.0.1:$1/metrics" 2>/dev/null || true; } | awk -v re="$2" '$0 ~ re {s += $NF} END {printf "%.6f\n", s}'; }
timeouts_re() { [ "$1" = fanoutd ] && echo '^fanoutd_branch_outcomes_total\{route="product".*outcome="timeout"' ||
	echo '^gateway_branch_errors_total\{.*reason="timeout"'; }
# Waits (at most 30 s) until the gateways and the downstream have been idle
# (under 5 % of a core together) for half a second: a gateway that fell behind
# still works off its backlog after the driver has stopped, and would take
# the cores from the next run, the other implementation's.
settle() {
	local a b
	for _ in $(seq 60); do
		a=$(for p in "$fpid" "$gpid" "$dpid"; do sched "$p"; done | awk '{s += $1} END {printf "%.0f", s}')
		sleep 0.5
		b=$(for p in "$fpid" "$gpid" "$dpid"; do sched "$p"; done | awk '{s += $1} END {printf "%.0f", s}')
		[ $((b - a)) -lt 25000000 ] && return 0
	done
	echo "http-bench: the servers are still busy after 30 s" >&2
}
first=1
for i in $(seq "$reps"); do
	for impl in fanoutd go-peer; do
		if [ "$impl" = fanoutd ]; then port=$fport pid=$fpid; else port=$gport pid=$gpid; fi
		settle
		echo "== $impl rate $rate rep $i" >&2
		echo 0 >"$out/conns.$pid"
		python3 "$out/conns.py" "$pid" "$dport" "$out/conns.$pid" &
		spid=$!
		t0=$(metric "$port" "$(timeouts_re "$impl")")
		aw0=$(metric "$fport" '^fanoutd_admission_wait_seconds_sum\{route="product"\}')
		ac0=$(metric "$fport" '^fanoutd_admission_wait_seconds_count\{route="product"\}')
		dc0=$(metric "$dport" '^fanoutd_http_connections_accepted_total')
		read -r _ gw0 < <(sched "$pid")
		read -r dr0 dw0 < <(sched "$dpid")
		read -r mb0 mt0 < <(machine)
		w0=$(date +%s%N)
		# The driver's own CPU (bash's time keyword: its user and system seconds).
		{ time "$build/tools/fanout-load" --port "$port" --pid "$pid" --rate "$rate" \
			--duration "$duration" --first-id "$first" >"$out/line" 2>"$out/driver.log" || true; } \
			2>"$out/driver.time"
		line=$(cat "$out/line")
		w1=$(date +%s%N)
		read -r mb1 mt1 < <(machine)
		read -r _ gw1 < <(sched "$pid")
		read -r dr1 dw1 < <(sched "$dpid")
		t1=$(metric "$port" "$(timeouts_re "$impl")")
		aw1=$(metric "$fport" '^fanoutd_admission_wait_seconds_sum\{route="product"\}')
		ac1=$(metric "$fport" '^fanoutd_admission_wait_seconds_count\{route="product"\}')
		dc1=$(metric "$dport" '^fanoutd_http_connections_accepted_total')
		kill "$spid" 2>/dev/null || true
		wait "$spid" 2>/dev/null || true
		[ -n "$line" ] || continue
		extra=$(awk -v wall=$((w1 - w0)) -v gw=$((gw1 - gw0)) -v dr=$((dr1 - dr0)) -v dw=$((dw1 - dw0)) \
			-v mb=$((mb1 - mb0)) -v mt=$((mt1 - mt0)) -v t="$((${t1%.*} - ${t0%.*}))" \
			-v calls=$((rate * duration * 5)) -v aws="$aw0 $aw1" -v acs="$ac0 $ac1" \
			-v dc=$((${dc1%.*} - ${dc0%.*} - 1)) -v impl="$impl" -v down="$downstream" \
			-v drv="$(cat "$out/driver.time")" 'BEGIN {
				split(drv, d, " ")
				split(aws, a, " "); split(acs, c, " ")
				printf "\"server_sched_wait_pct\":%.1f,\"downstream_cpu_pct\":%.1f,", 100 * gw / wall, 100 * dr / wall
				printf "\"downstream_sched_wait_pct\":%.1f,\"machine_busy_pct\":%.1f,", 100 * dw / wall, mt ? 100 * mb / mt : -1
				printf "\"driver_cpu_pct\":%.1f,", 100 * (d[1] + d[2]) / (wall / 1e9)
				printf "\"branch_timeouts_pct\":%.2f", 100 * t / calls
				if (impl == "fanoutd")
					printf ",\"admission_wait_ms_mean\":%.3f", (c[2] > c[1] ? 1000 * (a[2] - a[1]) / (c[2] - c[1]) : 0)
				if (down == "fanoutd")
					printf ",\"downstream_new_conns\":%d", dc
			}')
		echo "$line" | sed "s/^{/{\"impl\":\"$impl\",\"rep\":$i,\"downstream\":\"$downstream\",\"host_conns\":$host_conns,\"downstream_conns_max\":$(cat "$out/conns.$pid"),$extra,/" |
			tee -a "$res"
	done
	first=$((first + rate * duration))
done
python3 "$top/tools/gateway-summary.py" "$res"
python3 - "$res" <<'PY'
import json, statistics, sys
from collections import defaultdict
F = ["downstream_conns_max", "driver_cpu_pct", "server_sched_wait_pct", "downstream_cpu_pct", "downstream_sched_wait_pct",
     "machine_busy_pct", "branch_timeouts_pct", "admission_wait_ms_mean", "downstream_new_conns"]
c = defaultdict(list)
for line in open(sys.argv[1]):
    r = json.loads(line)
    c[r["impl"]].append(r)
for impl, runs in sorted(c.items()):
    med = {f: statistics.median(r[f] for r in runs) for f in F if all(f in r for r in runs)}
    print(f"{impl}, medians of {len(runs)} runs: " + ", ".join(f"{f} {v:g}" for f, v in med.items()))
    if impl == "fanoutd":
        most, cap = max(r["downstream_conns_max"] for r in runs), runs[0]["host_conns"]
        print(f"fanoutd: at most {most} connections to the downstream in any run, cap {cap}: "
              + ("within the cap" if most <= cap else "OVER THE CAP"))
PY
