#!/usr/bin/env bash
# Config checking: the shipped file is valid; bad ones are refused with file:line.
. "$SRCDIR/tests/integration/lib.sh"

out=$("$FANOUTD" -t -c "$SRCDIR/etc/fanoutd.conf" --modules "$MODULES") || fail "shipped config: $out"
echo "$out" | grep -q "configuration OK (2 routes, 1 limiters)" || fail "unexpected: $out"
pass "the shipped config is valid: $out"

expect_refused() { # description, pattern, sed expression(s)
	local what=$1 pattern=$2
	shift 2
	local conf out
	conf=$(make_config "$@")
	out=$("$FANOUTD" -t -c "$conf" --modules "$MODULES" 2>&1) && fail "$what: accepted"
	echo "$out" | grep -Eq "$pattern" || fail "$what: '$out' does not match '$pattern'"
	pass "$what refused: $out"
}

expect_refused "a syntax error" "fanoutd.conf:[0-9]+: syntax error" -e 's/listen = "127.0.0.1:8080";/listen = ;/'
expect_refused "a negative budget" "fanoutd.conf:[0-9]+: 'budget_ms' = -5 is out of range" -e 's/budget_ms = 300;/budget_ms = -5;/'
expect_refused "an unknown limiter" "no limiter named 'nope'" -e 's/limiter = "downstreams";/limiter = "nope";/'
expect_refused "a bad http path" "'http' must be a path ending in \\{id\\}" -e 's|http = "/product/{id}";|http = "/product";|'
expect_refused "aimd min > initial" "aimd needs min <= initial <= max" -e 's/min = 200;/min = 5000;/'
expect_refused "a string for a number" "'timeout_ms' must be an integer" -e '0,/timeout_ms = 250;/s//timeout_ms = "soon";/'
rm -f "$TMP/fanoutd.conf"
out=$("$FANOUTD" -t -c "$TMP/nonexistent.conf" --modules "$MODULES" 2>&1) && fail "missing file accepted"
echo "$out" | grep -q "nonexistent.conf: cannot read" || fail "missing file: $out"
pass "a missing file is refused: $out"

# @include, relative to the including file.
sed -n '/^routes = (/,$p' "$SRCDIR/etc/fanoutd.conf" >"$TMP/routes.conf"
sed '/^routes = (/,$d' "$SRCDIR/etc/fanoutd.conf" >"$TMP/main.conf"
echo '@include "routes.conf"' >>"$TMP/main.conf"
out=$("$FANOUTD" -t -c "$TMP/main.conf" --modules "$MODULES") || fail "@include: $out"
pass "@include works: $out"
