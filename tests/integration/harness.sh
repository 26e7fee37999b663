#!/usr/bin/env bash
# The test harness itself: a missing tool FAILS a test in CI (naming it) and
# skips it elsewhere (77, saying why), a skipped part never hides a failure,
# and a test past its time bound is killed, with its children, and FAILS
# naming the bound (tests/bounded.sh).
. "$SRCDIR/tests/integration/lib.sh"

# in_child CI SNIPPET: runs SNIPPET in a script that sources lib.sh, with CI set so.
# Sets RC and OUT.
in_child() {
	RC=0
	OUT=$(CI=$1 bash -c ". \"\$SRCDIR/tests/integration/lib.sh\"; $2" 2>&1) || RC=$?
}
missing=fo-no-such-tool-$$

in_child true "need $missing 'the whole check'"
[ "$RC" = 1 ] && grep -q "FAIL: $missing is not installed, needed for: the whole check" <<<"$OUT" || fail "need, CI: $RC $OUT"
in_child "" "need $missing 'the whole check'"
[ "$RC" = 77 ] && grep -q "SKIP: $missing is not installed, needed for: the whole check" <<<"$OUT" ||
	fail "need, outside CI: $RC $OUT"
pass "need: a missing tool fails in CI (exit 1, naming it), skips elsewhere (77, saying why)"

in_child true "if have $missing 'a part'; then exit 3; fi; pass rest"
[ "$RC" = 1 ] && grep -q "FAIL: $missing is not installed, needed for: a part" <<<"$OUT" ||
	fail "have, CI: $RC $OUT"
in_child "" "if have $missing 'a part'; then exit 3; fi; pass rest"
[ "$RC" = 77 ] && grep -q "SKIP: everything else passed; not checked: a part ($missing missing)" <<<"$OUT" ||
	fail "have, outside CI: $RC $OUT"
in_child "" "have $missing 'a part' || true; fail broken"
[ "$RC" = 1 ] || fail "a skipped part turned a failure into $RC: $OUT"
in_child true "have bash 'a part' && pass ran"
[ "$RC" = 0 ] || fail "have, tool present: $RC $OUT"
pass "have: a missing tool fails in CI; elsewhere its part is left out and the test reports SKIP, never hiding a FAIL"

# A hung test and the child it started are both killed after the bound.
t0=$(date +%s)
RC=0
OUT=$(FO_TEST_TIMEOUT=1 sh "$SRCDIR/tests/bounded.sh" bash -c "sleep 600 & echo \$! >$TMP/child; wait") ||
	RC=$?
took=$(($(date +%s) - t0))
[ "$RC" = 1 ] && grep -q "FAIL: .* did not finish within its time bound of 1 s" <<<"$OUT" ||
	fail "bounded: $RC $OUT"
[ "$took" -lt 15 ] || fail "bounded took $took s for a 1 s bound"
child=$(cat "$TMP/child")
# The child got the group's SIGTERM; wait (bounded) for it to be gone or a zombie.
for _ in $(seq 100); do
	state=$(awk '{print $3}' "/proc/$child/stat" 2>/dev/null || true)
	[ -z "$state" ] || [ "$state" = Z ] && break
	sleep 0.05
done
[ -z "$state" ] || [ "$state" = Z ] || fail "the hung test's child $child outlived it (state $state)"
RC=0
FO_TEST_TIMEOUT=30 sh "$SRCDIR/tests/bounded.sh" sh -c 'exit 77' >/dev/null || RC=$?
[ "$RC" = 77 ] || fail "bounded changed a test's status 77 into $RC"
pass "bounded: a hung test fails after its bound (naming it), its children killed; other statuses pass through"
