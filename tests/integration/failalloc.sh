#!/usr/bin/env bash
# Allocation failures (issue 8): tests/faults/failalloc.so fails one
# allocation at a time inside a generation build, a job.open, then the start
# of an HTTP request, walking N over every allocation the operation makes
# (one daemon, one reload, job.open or request per N). Each run: the reload is refused and fanoutctl
# and the log say "out of memory", or the failure was absorbed and the reload
# took; the old generation keeps serving; the daemon never dies; a refused
# build leaves no allocation behind (the shim's live count), and under ASan
# LeakSanitizer finds nothing at the end (stop_fanoutd fails on its exit code).
. "$SRCDIR/tests/integration/lib.sh"

shim=$BUILDDIR/tests/faults/.libs/failalloc.so
[ -f "$shim" ] || fail "no $shim (make check builds it)"
case "$SANITIZED" in
*thread*)
	echo "SKIP: TSan owns malloc: an LD_PRELOAD allocator cannot sit in front of it (the walk runs in the plain and ASan builds)"
	exit 77
	;;
esac
# Under ASan the shim comes before ASan's runtime in the library list, on purpose.
# Leaks are reported with whole stacks: the shim and libc keep no frame-pointer chain.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0:fast_unwind_on_malloc=0"
ctl() { "$FANOUTCTL" -s "$TMP/api.sock" "$@"; }

# Every kind of thing a build makes: the three limiter modules (one partitioned),
# the sim and echo downstreams, a policy module, replicas, job and HTTP routes, an @include.
conf=$(make_config -e 's/loops = 0;/loops = 2;/' \
	-e 's/policy = "besteffort";/policy = "quorum"; quorum = 3;/' \
	-e 's|^limiters = (|@include "extra.conf"\nlimiters = (\n  { name = "fixed1"; module = "fixed"; limit = 10; },\n  { name = "weighted1"; module = "weighted"; limit = 10; },|' \
	-e 's|^routes = (|routes = (\n  { name = "echoes"; http = "/echo/{id}"; limiter = "weighted1"; branches = ( { name = "e"; downstream = "echo"; replicas = 3; weight = 2; } ); },\n  { name = "fixedjob"; job = "fixedjob"; limiter = "fixed1"; policy = "failfast"; branches = ( { name = "f"; downstream = "echo"; } ); },|')
echo 'log_level = "info";' >"$TMP/extra.conf"

# walk WINDOW ONE-RUN: starts fanoutd with the shim walking WINDOW, then runs ONE-RUN
# (which does the operation once and checks its outcome) until the shim says the walk is done.
walk() {
	local window=$1 run=$2 i=0
	# $log: the shim's lines, read by the runs
	log=$TMP/walk-$window.log
	: >"$log"
	# The first $from windows only count (a build: the start's, then a warm-up reload
	# that fills the caches, NSS and dlopen's; a job.open: the first one).
	LD_PRELOAD=$shim FAILALLOC_WINDOW=$window FAILALLOC_LOG=$log FAILALLOC_FROM=$from \
		FAILALLOC_SKIP=libconfig start_fanoutd "$conf"
	while ! grep -q ' done$' "$log"; do
		i=$((i + 1))
		[ "$i" -le 5000 ] || fail "$window: the walk did not end in 5000 runs"
		"$run" "$i"
		kill -0 "$FOD_PID" 2>/dev/null || fail "$window run $i: fanoutd died: $(tail -1 "$log")"
	done
	stop_fanoutd
}

# ---- generation builds
bin=$(dirname "$FANOUTD")/.libs/$(basename "$FANOUTD")
[ -f "$bin" ] || bin=$FANOUTD
# registered LINE: what a refused build left is only metrics it registered (kept
# by name across builds, freed by the next registration once no generation uses them),
# or the registry's own hash index grown to hold them (strmap.c: kept for the next ones).
registered() {
	local sites site fn
	have addr2line "naming what a refused build left allocated" || return 1
	sites=$(sed 's/.*live=[0-9]* \[\([^]]*\)\].*/\1/' <<<"$1")
	[ -n "$sites" ] || return 1
	for site in $sites; do
		[[ "$site" == fanoutd+0x* ]] || return 1
		fn=$(addr2line -f -e "$bin" "${site#fanoutd+}" | head -1)
		case $fn in fod_metrics_branch | fod_metrics_route | fod_strmap_add) ;; *) return 1 ;; esac
	done
}
refused=0 absorbed=0
reload_once() {
	local line out rc=0
	# A route and a branch named anew each time: their metrics are registered in the build.
	sed -i -e "s/name = \"echoes[0-9]*\"/name = \"echoes$1\"/" \
		-e "s/name = \"e[0-9]*\"; downstream = \"echo\"/name = \"e$1\"; downstream = \"echo\"/" "$conf"
	out=$(ctl reload 2>&1) || rc=$?
	line=$(tail -1 "$log")
	case "$line" in
	*" result=0 "*)
		[ "$rc" = 0 ] || fail "reload run $1: built ($line) but fanoutctl said: $out"
		absorbed=$((absorbed + 1))
		;;
	*" result=-"*)
		[ "$rc" != 0 ] || fail "reload run $1: refused ($line) but fanoutctl said ok: $out"
		grep -qiE 'out of memory|cannot allocate memory' <<<"$out" ||
			fail "reload run $1: refused without saying why: '$out' ($line)"
		[[ "$line" == *" live=0 "* ]] || registered "$line" ||
			fail "reload run $1: the refused build leaked: $line"
		refused=$((refused + 1))
		;;
	*) fail "reload run $1: no window line after the reload: '$line'" ;;
	esac
	read -r code _ <<<"$(get /product/"$1")"
	[ "$code" = 200 ] || fail "reload run $1: /product answered $code ($line)"
}
from=2
walk gen reload_once
grep -q "reload refused, keeping the running configuration: .*out of memory" "$TMP/fanoutd.log" ||
	fail "the log does not name the refusals"
[ "$refused" -gt 0 ] || fail "no reload was refused: the shim failed nothing"
# An absorbed failure must be one the code means to absorb: conf.c's extras (the
# names kept for suggestions, the re-read of integer literals) when fanoutd asked,
# libc's own fallbacks (stdio buffers, asprintf's final shrink) when libc did;
# the metrics registry's pruning of unused entries (its new hash index: out of
# memory, everything stays until the next registration tries again; every other
# caller of fod_strmap_add refuses); never a module's, never elsewhere in fanoutd.
if have addr2line "naming the functions whose failures were absorbed"; then
	while read -r site; do
		case $site in
		libc.so*) ;;
		fanoutd+0x*)
			fn=$(addr2line -f -e "$bin" "${site#fanoutd+}" | head -1)
			case $fn in
			remember_asked | source_of | read_whole | fod_strmap_add) ;;
			*) fail "an allocation failure in $fn ($site) was absorbed: the reload took without it" ;;
			esac
			;;
		*) fail "an allocation failure at $site was absorbed: the reload took without it" ;;
		esac
	done < <(grep ' result=0 ' "$log" | grep -v ' n=0 ' | grep -v 'failed=none' |
		sed 's/.*failed=[^ ]* from \([^ <]*\).*/\1/' | sort -u)
fi
pass "generation build: every allocation failed once ($(grep -c . "$log") windows): $refused reloads refused (out of memory, nothing left behind but metrics registrations), $absorbed absorbed the failure and took; /product answered 200 after each"

# ---- job.open: every allocation of opening a job, then (if it opened) one row through it
jobs_walk() {
	PYTHONPATH=$SRCDIR/tests/integration python3 - "$TMP/api.sock" "$log" "$(url /product/1)" >"$TMP/jobs.out" 2>&1 <<'PY' ||
import sys, time, urllib.request
from jobclient import Conn, call
sock, walklog, product = sys.argv[1:4]
def last():
    with open(walklog) as f:
        return f.read().splitlines()[-1]
refused = opened = closed = 0
for run in range(1, 5001):
    c = Conn(sock, timeout=20)
    try:
        r = c.call({"op": "job.open", "kind": "enrich"})
    except EOFError:
        r = None  # no memory to queue the reply: the connection is closed, never cut
    line = last()
    if r is None:
        closed += 1
    elif " result=0 " in line:
        assert r["status"] == 0, (run, r, line)
        c.send({"id": 1, "payload": b"p"})
        c.send({"op": "job.close"})
        rows = []
        while "status" not in (f := c.recv()):
            rows.append(f)
        assert f["status"] == 0 and len(rows) == 1, (run, f, rows, line)
        opened += 1
    else:
        assert r["status"] != 0, (run, r, line)
        assert "out of memory" in str(r).lower(), ("refused without saying why", run, r, line)
        # the connection and the daemon carry on
        assert c.call({"op": "jobs"})["status"] == 0, (run, line)
        refused += 1
    c.close()
    # no job is left open, whatever happened (a closed connection's job ends with it)
    deadline = time.monotonic() + 10
    while (jobs := call(sock, {"op": "jobs"})["data"]):
        assert time.monotonic() < deadline, ("a job was left open", run, jobs, line)
        time.sleep(0.01)
    assert urllib.request.urlopen(product, timeout=10).status == 200, (run, line)
    if line.endswith(" done"):
        print(f"{run} runs: {refused} job.opens refused (out of memory), {opened} absorbed the failure and ran a row, {closed} closed the connection (no memory for the reply)")
        break
else:
    raise SystemExit("the walk did not end in 5000 runs")
PY
		fail "job.open walk: $(tail -5 "$TMP/jobs.out") / $(tail -1 "$log")"
}
from=1
walk job.open jobs_walk
grep -q " done$" "$log" || fail "job.open walk did not finish: $(tail -1 "$log")"
pass "job.open: every allocation failed once, no job left open after any: $(tail -1 "$TMP/jobs.out")"

# ---- HTTP requests: every allocation of starting one (the gateway, the unit), one request per run
# window_line W: the shim's line for window W (written as the handler returns, so
# possibly just after the answer reached the client).
window_line() {
	local i
	for i in $(seq 1000); do
		grep -m1 "^window request $1 " "$log" && return 0
		kill -0 "$FOD_PID" 2>/dev/null || return 1
		sleep 0.01
	done
	return 1
}
started=0 refused=0
request_once() {
	local code body line
	# Bounded: a request left unanswered must fail here, not at the test's time bound.
	rm -f "$TMP/body"
	code=$(curl -s -m 10 -o "$TMP/body" -w '%{http_code}' "$(url /product/"$1")") || true
	body=$(cat "$TMP/body" 2>/dev/null)
	line=$(window_line "$1") || fail "request run $1: no window line (answered $code $body)"
	case "$line" in
	*" result=0 "*)
		# Started: answered, or a branch that could not start failed as its own
		# error (the route's policy decides the status).
		[ "$code" = 200 ] || { [[ "$code" =~ ^5 ]] && grep -q '"outcome":"error","error":"out of memory' <<<"$body"; } ||
			fail "request run $1: started ($line) but answered $code $body"
		started=$((started + 1))
		;;
	*" result=-12 "*)
		[[ "$line" == *" live=0 "* ]] || fail "request run $1: the refused request leaked: $line"
		[ "$code" = 503 ] && grep -q '^{"error":"out of memory"' <<<"$body" ||
			fail "request run $1: refused ($line) but answered $code '$body'"
		refused=$((refused + 1))
		;;
	*) fail "request run $1: neither started nor refused for memory: $line (answered $code $body)" ;;
	esac
	read -r code _ <<<"$(get /healthz)"
	[ "$code" = 200 ] || fail "request run $1: /healthz answered $code afterwards"
}
from=1
walk request request_once
[ "$refused" -gt 0 ] || fail "no request was refused: the shim failed nothing"
pass "HTTP request start: every allocation failed once ($(grep -c . "$log") windows): $refused answered 503 out of memory and left nothing allocated, $started started (answered, a branch failing for memory at worst)"
