#!/usr/bin/env bash
# Config checking: the shipped file is valid; bad ones are refused with file:line;
# integers are 64-bit and range-checked with the range named.
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

# Integers are 64-bit and range-checked: libconfig 1.5 wraps a literal without
# L at 32 bits (4294967312 read back as 16), which must not slip through.
expect_range() { # key, value as written, range, sed expression
	expect_refused "$1 = $2" "fanoutd.conf:[0-9]+: '$1' = $2 is out of range \\[$3\\]$" -e "$4"
}
expect_range max_url 4294967312 "16, 65536" 's/max_url = 2048;/max_url = 4294967312;/'
expect_range max_url 0x100000010 "16, 65536" 's/max_url = 2048;/max_url = 0x100000010;/'
expect_range max_url 4294967312 "16, 65536" 's/max_url = 2048;/max_url = 4294967312L;/'
expect_range timeout_ms 4294967546 "1, 3600000" '0,/timeout_ms = 250;/s//timeout_ms = 4294967546;/'
expect_range budget_ms -4294967291 "1, 3600000" 's/budget_ms = 300;/budget_ms = -4294967291;/'
expect_range max_connections -1 "1, 1000000" 's/max_connections = 10000;/max_connections = -1;/'
expect_range pool 4294967297 "1, 4096" 's/pool = 4;/pool = 4294967297;/'
expect_range max_body 99999999999999999999 "0, 1073741824" 's/max_body = 0;/max_body = 99999999999999999999;/'
expect_range drain_ms 18446744073709551617 "0, 3600000" 's/drain_ms = 10000;/drain_ms = 18446744073709551617;/'
expect_range replicas 4294967297 "1, 100000" '0,/timeout_ms = 250;/s//timeout_ms = 250; replicas = 4294967297;/'
# ...through the modules' readers too (the core API's conf_int / conf_double)
expect_range initial 4294969296 "1, 100000000" 's/initial = 2000;/initial = 4294969296;/'
expect_range tail_rate 4294967296 "0, 1" '0,/tail_rate = 0.001;/s//tail_rate = 4294967296;/'
# a comment on the line that would read as a valid value does not fool the check
expect_range max_url 4294967312 "16, 65536" 's/max_url = 2048;.*/max_url = 4294967312; # max_url = 16;/'
expect_refused "a string for a number" "'max_url' must be an integer in \\[16, 65536\\]" -e 's/max_url = 2048;/max_url = "2048";/'
# a 64-bit value in range is taken as written
conf=$(make_config -e 's/max_url = 2048;/max_url = 4096L;/' -e 's/seed = 1;/seed = 4294967297;/')
out=$("$FANOUTD" -t -c "$conf" --modules "$MODULES" 2>&1) || fail "in-range 64-bit values refused: $out"
pass "in-range values with L and past 32 bits are accepted"

# An empty file, one with only comments, a directory: a message that says so.
: >"$TMP/empty.conf"
out=$("$FANOUTD" -t -c "$TMP/empty.conf" --modules "$MODULES" 2>&1) && fail "an empty file was accepted"
echo "$out" | grep -q "empty.conf: no settings at all (an empty file?): at least a 'routes' list is needed" ||
	fail "empty file: $out"
pass "an empty file is refused: $out"
printf '# nothing but a comment\n\n' >"$TMP/comments.conf"
out=$("$FANOUTD" -t -c "$TMP/comments.conf" --modules "$MODULES" 2>&1) && fail "a comment-only file was accepted"
echo "$out" | grep -q "comments.conf: no settings at all" || fail "comment-only file: $out"
echo 'http = { max_url = 4096; };' >"$TMP/noroutes.conf"
out=$("$FANOUTD" -t -c "$TMP/noroutes.conf" --modules "$MODULES" 2>&1) && fail "a file without routes was accepted"
echo "$out" | grep -q "noroutes.conf: no 'routes': a non-empty list of routes is needed" || fail "no routes: $out"
pass "a file without routes is refused: $out"
mkdir "$TMP/conf.d"
out=$("$FANOUTD" -t -c "$TMP/conf.d" --modules "$MODULES" 2>&1) && fail "a directory was accepted"
echo "$out" | grep -q "conf.d: is a directory, not a configuration file" || fail "directory: $out"
echo "$out" | grep -q "Success" && fail "directory: $out"
pass "a directory is refused: $out"

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
# ...and a wrapped integer in an included file is caught there, naming that file.
sed -i '0,/timeout_ms = 250;/s//timeout_ms = 4294967546;/' "$TMP/routes.conf"
out=$("$FANOUTD" -t -c "$TMP/main.conf" --modules "$MODULES" 2>&1) && fail "@include: wrapped value accepted"
echo "$out" | grep -Eq "routes.conf:[0-9]+: 'timeout_ms' = 4294967546 is out of range \[1, 3600000\]" ||
	fail "@include: $out"
pass "a wrapped value in an included file is refused: $out"

# Unknown or misspelt settings are refused in every section, at their file:line,
# with the closest name a reader asked for (fanoutd -t said "configuration OK" to all of these).
check_unknown() { # SED-EXPRESSION EXPECTED-MESSAGE
	local conf out
	conf=$(make_config -e "$1")
	out=$("$FANOUTD" -t -c "$conf" --modules "$MODULES" 2>&1) && fail "accepted: $1"
	echo "$out" | grep -Eq "fanoutd.conf:[0-9]+: $2" || fail "$1: $out"
	echo "  $out"
}
check_unknown 's|max_connections = 10000;|max_conections = 10000;|' \
	"unknown setting 'max_conections' in 'http': did you mean 'max_connections'\?"
check_unknown '0,/budget_ms = 300;/s//budget_msec = 300;/' \
	"unknown setting 'budget_msec': did you mean 'budget_ms'\?"
check_unknown '0,/timeout_ms = 250;/s//timeout = 250;/' \
	"unknown setting 'timeout': did you mean 'timeout_ms'\?"
check_unknown 's|^shutdown = {|shutdwn = {|' "unknown setting 'shutdwn': did you mean 'shutdown'\?"
check_unknown 's|backoff = 0.9;|backof = 0.9;|' \
	"unknown setting 'backof': did you mean 'backoff'\?"
check_unknown '0,/err_rate = 0.0;/s//eror_rate = 0.0;/' \
	"unknown setting 'eror_rate' in 'sim': did you mean 'err_rate'\?"
check_unknown 's|^http = {|colour = "blue";\nhttp = {|' "unknown setting 'colour'$"
pass "unknown settings refused with file:line and a suggestion (http, routes, branches, top level, limiter module, sim module)"

# An @include naming a directory, however its name is spelt, is refused: libconfig 1.5
# reads it and ends the process (its flex scanner's fatal error), at a start or a
# reload. A backslash before an ordinary character is dropped by its scanner, so
# "\conf.d" is conf.d (the check before it missed that: fanoutd exited 2).
for name in 'conf.d' '\conf.d' 'conf\.d' 'conf.d/'; do
	{ sed '/^routes = (/,$d' "$SRCDIR/etc/fanoutd.conf"; echo "@include \"$name\""; } >"$TMP/incdir.conf"
	rc=0
	out=$("$FANOUTD" -t -c "$TMP/incdir.conf" --modules "$MODULES" 2>&1) || rc=$?
	[ "$rc" = 1 ] || fail "@include \"$name\": exit $rc, not 1: $out"
	echo "$out" | grep -q "incdir.conf:[0-9]*: @include \".*\" is a directory" || fail "@include \"$name\": $out"
done
pass "an @include naming a directory is refused, however it is spelt: $out"
conf=$(make_config -e "")
start_fanoutd "$conf"
cp "$TMP/incdir.conf" "$conf"
sed -i 's|^@include "conf.d/"|@include "\\conf.d"|' "$conf"
rc=0
out=$("$FANOUTCTL" -s "$TMP/api.sock" reload 2>&1) || rc=$?
[ "$rc" != 0 ] || fail "a reload onto an @include of a directory was accepted: $out"
echo "$out" | grep -q 'is a directory' || fail "reload: $out"
read -r code _ <<<"$(get /product/1)"
[ "$code" = 200 ] || fail "after the refused reload /product answered $code"
stop_fanoutd
pass "a reload onto @include \"\\conf.d\" is refused and the daemon keeps serving: $out"

# A configuration read from a pipe (-c <(...)) is read once, checked, and parsed from
# that copy: its @includes resolve against /dev/fd, where "." is a directory.
rc=0
out=$("$FANOUTD" -t -c <(echo '@include "."') --modules "$MODULES" 2>&1) || rc=$?
[ "$rc" = 1 ] && echo "$out" | grep -q '@include "." is a directory' || fail "piped @include \".\": exit $rc: $out"
out=$("$FANOUTD" -t -c <(cat "$SRCDIR/etc/fanoutd.conf") --modules "$MODULES" 2>&1) || fail "piped config: $out"
echo "$out" | grep -q "configuration OK (2 routes, 1 limiters)" || fail "piped config: $out"
pass "a piped configuration is checked and read once: $out"

# A route of more than 100,000 branches, replicas counted, is refused naming the count.
conf=$(make_config -e 's|^routes = (|routes = (\n  { name = "wide"; http = "/wide/{id}"; branches = ( { name = "a"; downstream = "sim"; replicas = 60000; }, { name = "b"; downstream = "sim"; replicas = 40001; } ); },|')
out=$("$FANOUTD" -t -c "$conf" --modules "$MODULES" 2>&1) && fail "100,001 branches accepted"
echo "$out" | grep -q "route 'wide' has 100001 branches (max 100000)" || fail "100,001 branches: $out"
pass "a route of 100,001 branches is refused: $out"

# A configuration that never ends (a device) is refused after 64 MiB, unread past that.
rc=0
out=$(timeout 60 "$FANOUTD" -t -c /dev/zero --modules "$MODULES" 2>&1) || rc=$?
[ "$rc" = 1 ] && echo "$out" | grep -q "/dev/zero: larger than 64 MiB" || fail "-c /dev/zero: exit $rc: $out"
pass "-c /dev/zero is refused: $out"
