#!/usr/bin/env bash
# What one /metrics scrape costs when a route has N replicas (each a branch
# with its own series: latency histogram, outcomes, hedges), for each build
# given, in the same invocation: ROUNDS rounds, each starting every build's
# fanoutd in turn (loopback, a free port) and timing SCRAPES scrapes
# with curl. Prints each build's median scrape time and body size, and its
# ratio to the first build's.
#   tools/scrape-bench.sh [-n N] [-s SCRAPES] [-r ROUNDS] BUILD-DIR...
set -euo pipefail
n=10000 scrapes=20 rounds=3
while getopts n:s:r: o; do
	case $o in
	n) n=$OPTARG ;; s) scrapes=$OPTARG ;; r) rounds=$OPTARG ;;
	*) echo "usage: tools/scrape-bench.sh [-n N] [-s SCRAPES] [-r ROUNDS] BUILD-DIR..." >&2 && exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || { echo "scrape-bench: name at least one build directory" >&2; exit 2; }
for t in curl python3; do command -v $t >/dev/null || { echo "scrape-bench: needs $t" >&2; exit 1; }; done
tmp=$(mktemp -d /tmp/fanoutd-scrape.XXXXXX)
pid=
cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
"$(dirname "$0")/wide-conf.sh" "$n" >"$tmp/wide.conf"
# The middle value, or the mean of the two middle ones.
median() { sort -g | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for _ in $(seq "$rounds"); do
	for i in $(seq $#); do
		build=${!i}
		port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
		"$build/daemon/fanoutd" -c "$tmp/wide.conf" --modules "$build/modules/dir" \
			--listen "127.0.0.1:$port" --socket "$tmp/s.sock" >"$tmp/log" 2>&1 &
		pid=$!
		for try in $(seq 601); do # up within 60 s
			curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" && break
			kill -0 "$pid" 2>/dev/null && [ "$try" -le 600 ] ||
				{ echo "scrape-bench: $build: fanoutd did not come up" >&2; cat "$tmp/log" >&2; exit 1; }
			sleep 0.1
		done
		url=http://127.0.0.1:$port/metrics
		curl -sf -o "$tmp/body" "$url"
		for _ in $(seq "$scrapes"); do
			curl -sf -o /dev/null -w '%{time_total}\n' "$url"
		done | median >>"$tmp/times.$i"
		wc -c <"$tmp/body" >"$tmp/size.$i"
		kill "$pid" && wait "$pid" 2>/dev/null || true
		pid=
	done
done
base=$(median <"$tmp/times.1")
for i in $(seq $#); do
	t=$(median <"$tmp/times.$i")
	awk -v b="${!i}" -v n="$n" -v t="$t" -v base="$base" -v size="$(cat "$tmp/size.$i")" -v r="$rounds" -v s="$scrapes" \
		'BEGIN { printf "%s: replicas %d: scrape median %.2f ms (%d rounds x %d scrapes), %d bytes, %.2f x the first\n", b, n, t * 1000, r, s, size, t / base }'
done
