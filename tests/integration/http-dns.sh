#!/usr/bin/env bash
# The http downstream never blocks its event loop on a name still being
# resolved. libcurl's threaded resolver (7.88) joins the resolver thread when
# a transfer leaves its multi in the middle of a resolve, unless the handle
# has CURLOPT_QUICK_EXIT: a branch cut at its deadline would freeze the whole
# loop (every request on it, /healthz included) until getaddrinfo gives up.
#
# fanoutd runs in network and mount namespaces of its own, whose resolv.conf
# names 127.0.0.1 (timeout 5 s, one attempt), where a UDP sink takes every
# query and answers none: nothing leaves the machine and the host's port 53
# is not touched. With a 300 ms branch timeout (500 ms budget) the request
# must be answered within 2 s, every /healthz probe on the daemon's only loop
# within 1 s while the resolve is pending (its resolver thread still there),
# and the orphaned resolver thread must end by itself once getaddrinfo times out.
. "$SRCDIR/tests/integration/lib.sh"
PATH=$PATH:/usr/sbin:/sbin
[ -e "$MODULES/http.so" ] || fail "$MODULES/http.so was not built (configure found no libcurl >= 7.87?)"

# ---- outside: run this script again inside new network and mount namespaces
if [ -z "${FO_HTTP_DNS_NS:-}" ]; then
	need unshare "network and mount namespaces for a silent resolver (util-linux)"
	need ip "bringing loopback up in the test's network namespace (iproute2)"
	# As root new namespaces directly; otherwise inside a user namespace mapping us to root.
	for opts in -mn -rmn; do
		if unshare "$opts" true 2>>"$TMP/unshare.err"; then
			rc=0
			FO_HTTP_DNS_NS=1 unshare "$opts" bash "$0" || rc=$?
			exit "$rc"
		fi
	done
	in_ci && fail "cannot make network and mount namespaces (unshare -mn, -rmn): $(cat "$TMP/unshare.err")"
	echo "SKIP: cannot make network and mount namespaces (unshare -mn, -rmn; not root, no user namespaces?): $(cat "$TMP/unshare.err")"
	exit 77
fi

# ---- inside: loopback, a resolver that never answers, fanoutd on one loop
ip link set lo up || fail "cannot bring lo up in the test's network namespace"
printf 'nameserver 127.0.0.1\noptions timeout:5 attempts:1\n' >"$TMP/resolv.conf"
mount --bind "$TMP/resolv.conf" /etc/resolv.conf || fail "cannot bind-mount resolv.conf"
cat >"$TMP/sink.py" <<'EOF'
# A DNS server that takes every query and answers none; the first query makes FILE.
import os, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
open(sys.argv[1] + ".ready", "w").close()
seen = False
end = time.monotonic() + 120  # bounded: a test that forgets it does not leave it running
s.settimeout(1)
while time.monotonic() < end:
    try:
        s.recvfrom(4096)
    except socket.timeout:
        continue
    if not seen:
        open(sys.argv[1], "w").close()
        seen = True
EOF
python3 "$TMP/sink.py" "$TMP/query" &
SINK_PID=$!
at_exit 'kill "$SINK_PID" 2>/dev/null; wait "$SINK_PID" 2>/dev/null'
for _ in $(seq 100); do
	[ -e "$TMP/query.ready" ] && break
	kill -0 "$SINK_PID" 2>/dev/null || fail "the DNS sink did not start"
	sleep 0.05
done
[ -e "$TMP/query.ready" ] || fail "the DNS sink did not start within 5 s"

NOPORT=$(free_port) # never connected to: the name never resolves
cat >"$TMP/fanoutd.conf" <<EOF
workers = { loops = 1; pool = 1; };
api = { mode = "0600"; };
routes = (
  { name = "dns"; http = "/dns/{id}"; policy = "besteffort"; budget_ms = 500;
    branches = ( { name = "b"; downstream = "http"; timeout_ms = 300;
                   http = { url = "http://slow.example.com:$NOPORT/json/{id}"; }; } ); },
  { name = "lit"; http = "/lit/{id}"; policy = "besteffort"; budget_ms = 500;
    branches = ( { name = "b"; downstream = "http"; timeout_ms = 300;
                   http = { url = "http://127.0.0.1:$NOPORT/json/{id}"; }; } ); }
);
EOF
start_fanoutd "$TMP/fanoutd.conf"
threads() { ls "/proc/$FOD_PID/task" | wc -l; }
# A first request starts the threads the daemon makes at its first use; an
# address needs no resolver thread.
read -r code body <<<"$(get /lit/1)"
grep -q '"branch":"b","outcome":"error","error":"http: connection refused' "$TMP/body" ||
	fail "/lit/1 (connection refused): $code $body"
[ -e "$TMP/query" ] && fail "an address went to the DNS server"
base=$(threads)

ms_since() { # START (an EPOCHREALTIME): milliseconds since
	local now=${EPOCHREALTIME//[.,]/} then=${1//[.,]/}
	echo $(((now - then) / 1000))
}
# probe: one /healthz, failing unless answered 200 within 1 s
probe() {
	local out
	out=$(curl -s -o /dev/null --max-time 3 -w '%{http_code} %{time_total}' "$(url /healthz)") || true
	awk -v o="$out" 'BEGIN {split(o, f, " "); exit !(f[1] == 200 && f[2] < 1.0)}' ||
		fail "/healthz $1: '$out' (status, seconds), not 200 within 1 s: the loop was blocked"
}

t0=$EPOCHREALTIME
curl -s -o "$TMP/dns.body" --max-time 20 -w '%{http_code} %{time_total}\n' "$(url /dns/1)" >"$TMP/dns.out" &
CURL_PID=$!
for _ in $(seq 250); do
	[ -e "$TMP/query" ] && break
	sleep 0.02
done
[ -e "$TMP/query" ] || fail "no DNS query reached the sink within 5 s"
seen=$EPOCHREALTIME
# /healthz back to back from the query until the answer: one is in flight when the branch is cut.
n=0
while kill -0 "$CURL_PID" 2>/dev/null; do
	probe "while /dns/1 was in flight"
	n=$((n + 1))
done
wait "$CURL_PID" || fail "curl /dns/1 failed: $(cat "$TMP/dns.out")"
read -r code secs <"$TMP/dns.out"
awk -v s="$secs" 'BEGIN {exit !(s < 2.0)}' ||
	fail "/dns/1 answered after $secs s (budget 0.5 s, resolver timeout 5 s): the loop waited for the resolver"
[ "$code" = 502 ] && grep -q '"branch":"b","outcome":"timeout"' "$TMP/dns.body" ||
	fail "/dns/1: $code $(cat "$TMP/dns.body")"
pass "a name that never resolves: /dns/1 answered $code in $secs s (budget 0.5 s, resolver timeout 5 s)"

# Still resolving (its thread is there, the sink never answers, 5 s not gone): the loop serves.
[ "$(threads)" -gt "$base" ] || fail "no resolver thread left: the resolve was not pending"
probe "after /dns/1, the resolve pending"
took=$(ms_since "$seen")
[ "$took" -lt 5000 ] || fail "the probe came ${took} ms after the query: not while it was pending"
pass "$((n + 1)) /healthz probes while the resolve was pending, each answered within 1 s (the last ${took} ms after the query)"

# The orphaned resolver thread ends by itself when getaddrinfo gives up (5 s).
for _ in $(seq 500); do
	[ "$(threads)" -le "$base" ] && break
	sleep 0.02
done
[ "$(threads)" -le "$base" ] || fail "threads: $(threads), not back to $base 10 s after the query"
read -r code body <<<"$(get /dns/2)"
[ "$code" = 502 ] || fail "/dns/2 after the resolver gave up: $code $body"
stop_fanoutd
pass "the resolver thread ended $(ms_since "$t0") ms after the request; fanoutd served on and stopped cleanly"
