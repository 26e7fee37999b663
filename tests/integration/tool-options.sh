#!/usr/bin/env bash
# The benchmark and model tools' options (fo-bench, fo-demo, sim-model; fanout-gen's
# are in gen.sh, fanout-load's in load-options.sh; all read by tools/options.c):
# a bad value exits 2 with one line naming the option and the value, before
# anything runs; good values are read (a different --seed changes the result).
. "$SRCDIR/tests/integration/lib.sh"
BENCH=$BUILDDIR/tools/fo-bench DEMO=$BUILDDIR/tools/fo-demo MODEL=$BUILDDIR/tools/sim-model

bad() { # OPTION VALUE COMMAND...: COMMAND with OPTION VALUE appended must be refused
	local opt=$1 val=$2 rc=0
	shift 2
	timeout 10 "$@" "$opt" "$val" >"$TMP/out" 2>"$TMP/err" || rc=$?
	[ "$rc" = 2 ] || fail "$* $opt '$val': exit $rc, want 2 ($(cat "$TMP/err"))"
	[ ! -s "$TMP/out" ] || fail "$* $opt '$val': printed a result: $(head -c 300 "$TMP/out")"
	[ "$(wc -l <"$TMP/err")" = 1 ] || fail "$* $opt '$val': want one line, got: $(cat "$TMP/err")"
	grep -qF -- "$opt '$val': not " "$TMP/err" || fail "$* $opt '$val': message does not name it: $(cat "$TMP/err")"
}
# (-n 0 would be a run that does nothing; the ranges stop a typo from
# sizing a ring of 2^64 payloads or running for hours.)
for v in 0 -1 abc 10x 1e3 ' 5' +5 18446744073709551616; do bad -n "$v" "$BENCH" noop; done
bad --limit 0 "$BENCH" noop
bad --limit 10000001 "$BENCH" sleep
bad --pool 1025 "$BENCH" noop
bad --payload 65537 "$BENCH" noop
bad --in-cap 0 "$BENCH" noop
bad --out-cap x "$BENCH" noop
bad --window -1 "$BENCH" noop
bad --err-rate 1.5 "$BENCH" noop
bad --tail-rate nan "$BENCH" sleep
bad --seed -1 "$BENCH" noop
bad -n 0 "$DEMO"
bad -n 2.5 "$DEMO"
bad --seed x "$DEMO"
bad --count 0 "$MODEL"
bad --branches 3x "$MODEL"
bad --timeout-ms abc "$MODEL"
bad --tail-rate -0.1 "$MODEL"
bad --base-ms inf "$MODEL"
bad --seed '' "$MODEL"
grep -qF "fo-bench: --limit '0': not an integer from 1 to 10000000" \
	<(timeout 10 "$BENCH" noop --limit 0 2>&1) || fail "fo-bench --limit 0: the message does not state the range"
for t in "$BENCH noop" "$DEMO" "$MODEL"; do
	rc=0
	# shellcheck disable=SC2086
	timeout 10 $t stray >"$TMP/out" 2>"$TMP/err" || rc=$?
	[ "$rc" = 2 ] && grep -q "unexpected argument 'stray'" "$TMP/err" ||
		fail "$t stray: exit $rc: $(cat "$TMP/err")"
done
pass "bad values and stray arguments: exit 2, one line naming the option and value"

# Good values are read, not ignored: the seed changes what is drawn. (Task i's
# payload is the Go peer's Mix(seed ^ i), and the checksum a sum over tasks: seeds
# that differ only in bits below n permute the same payloads among the ids and
# sum alike, so seed 2 is 1,000,000, whose XOR moves every id out of 0..n-1.)
checksum() { timeout 60 "$BENCH" noop -n 20000 --seed "$1" | sed -n 's/.*"checksum":"\([0-9a-f]*\)".*/\1/p'; }
a=$(checksum 1) b=$(checksum 1) c=$(checksum 1000000)
[ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" != "$c" ] || fail "fo-bench --seed: checksums $a, $b (seed 1), $c (seed 1000000)"
timeout 60 "$BENCH" noop -n 20000 --limit 3 --pool 1 --payload 64 >"$TMP/b" ||
	fail "fo-bench with good values: exit $?"
grep -q '"n":20000,"done":20000,"limit":3,"pool":1,' "$TMP/b" || fail "fo-bench did not run as asked: $(cat "$TMP/b")"
m1=$(timeout 60 "$MODEL" --count 2000 --seed 1) m2=$(timeout 60 "$MODEL" --count 2000 --seed 2)
echo "$m1" | grep -q '"rows":2000,"branches":3,' && [ "$m1" != "$m2" ] ||
	fail "sim-model --count/--seed not read: '$m1' / '$m2'"
timeout 60 "$DEMO" -n 3 --quiet >"$TMP/d" || fail "fo-demo -n 3: exit $?"
grep -q "^requests 3 " "$TMP/d" || fail "fo-demo -n 3: $(cat "$TMP/d")"
pass "good values are read: fo-bench (seed, n, limit, pool), sim-model (count, seed), fo-demo (-n)"
