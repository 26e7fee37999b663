#!/usr/bin/env bash
# fanoutd -t catches what could not start or could not work (listen addresses,
# groups, duplicate branch names, a join reserve that leaves the branches no
# time, a quorum above the branch count); -T prints the effective
# configuration; --version; error messages that name what is wrong once.
. "$SRCDIR/tests/integration/lib.sh"

out=$("$FANOUTD" --version) || fail "--version exited $?"
grep -Eq '^fanoutd [0-9]+\.[0-9]+' <<<"$out" || fail "--version: $out"
pass "--version: $out"

# check_refused WHAT PATTERN [fanoutd args...] -- SED-EXPRESSIONS: -t exits 1 saying PATTERN
check_refused() {
	local what=$1 pattern=$2 args=() conf out
	shift 2
	while [ "$1" != -- ]; do args+=("$1"); shift; done
	shift
	conf=$(make_config "$@")
	out=$("$FANOUTD" -t -c "$conf" --modules "$MODULES" "${args[@]}" 2>&1) && fail "$what: accepted: $out"
	grep -Eq "$pattern" <<<"$out" || fail "$what: '$out' does not match '$pattern'"
	pass "$what refused: $out"
}
check_ok() { # WHAT [fanoutd args...] -- SED-EXPRESSIONS: -t exits 0
	local what=$1 args=() conf out
	shift
	while [ "$1" != -- ]; do args+=("$1"); shift; done
	shift
	conf=$(make_config "$@")
	out=$("$FANOUTD" -t -c "$conf" --modules "$MODULES" "${args[@]}" 2>&1) || fail "$what: refused: $out"
	grep -q "configuration OK" <<<"$out" || fail "$what: $out"
	pass "$what accepted"
}
listen_is() { echo "s|listen = \"127.0.0.1:8080\";|listen = \"$1\";|"; }

# ---- listen addresses: ADDR:PORT, the port 1..65535, resolvable, bindable
at='fanoutd.conf:[0-9]+: listen'
check_refused "a listen address without a port" "$at '127.0.0.1': needs ADDR:PORT" -- -e "$(listen_is 127.0.0.1)"
check_refused "port 99999" "$at '127.0.0.1:99999': the port must be a number from 1 to 65535" -- -e "$(listen_is 127.0.0.1:99999)"
check_refused "port 0" "the port must be a number from 1 to 65535" -- -e "$(listen_is 127.0.0.1:0)"
check_refused "a port that is not a number" "the port must be a number" -- -e "$(listen_is 127.0.0.1:http)"
check_refused "IPv6 without brackets" "$at '::1:8080': an IPv6 address is written \[ADDR\]:PORT" -- -e "$(listen_is ::1:8080)"
check_refused "an unclosed bracket" "an IPv6 address is written \[ADDR\]:PORT" -- -e "$(listen_is '[::1:8080')"
# A label over 63 bytes: the resolver refuses the name itself, no query leaves the host.
bad=$(printf 'x%.0s' $(seq 70)).invalid
check_refused "a name that does not resolve" "$at '$bad:8080': cannot resolve '$bad'" -- -e "$(listen_is "$bad:8080")"
# An address no interface here has (TEST-NET-1): bind fails, nothing is sent.
check_refused "an address of another host" "$at '192.0.2.1:8080': cannot bind: Cannot assign requested address" \
	-- -e "$(listen_is 192.0.2.1:8080)"
# --listen is checked as well (it has no line in the file).
check_refused "--listen without a port" "fanoutd.conf: listen '127.0.0.1': needs ADDR:PORT" --listen 127.0.0.1 -- -e ''
port=$(free_port)
check_ok "a host name that resolves (localhost:$port)" -- -e "$(listen_is "localhost:$port")"
if python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; then
	check_ok "[::1]:$port" -- -e "$(listen_is "[::1]:$port")"
else
	# No IPv6 loopback here: the syntax is taken, the trial bind says why it cannot work.
	check_refused "[::1]:$port without IPv6" "listen '\[::1\]:$port': cannot (bind|resolve)" -- -e "$(listen_is "[::1]:$port")"
fi

# A port a running instance holds: said (a second instance could not start there), but
# not refused: -t runs beside the instance whose reload it checks, and before a
# socket-activated start while systemd holds the port.
start_fanoutd "$(make_config -e '')"
out=$("$FANOUTD" -t -c "$TMP/fanoutd.conf" --modules "$MODULES" --listen "127.0.0.1:$PORT" 2>&1) ||
	fail "-t beside the running instance refused: $out"
grep -q "listen '127.0.0.1:$PORT': the address is in use (by a running fanoutd, or another program)" <<<"$out" ||
	fail "-t beside the running instance does not say the port is in use: $out"
grep -q "configuration OK" <<<"$out" || fail "$out"
pass "a port in use is reported: $(echo "$out" | head -1)"
stop_fanoutd

# ---- groups that do not exist (the socket's group, and each level's)
for g in group admin_group operator_group job_group; do
	check_refused "api.$g that does not exist" "fanoutd.conf:[0-9]+: api.$g: no group named 'no-such-group-fod'" \
		-- -e "s|^  $g = \"\";|  $g = \"no-such-group-fod\";|"
done
grp=$(id -gn)
check_ok "existing groups ($grp)" -- -e "s|^  group = \"\";|  group = \"$grp\";|" \
	-e "s|^  admin_group = \"\";|  admin_group = \"$grp\";|"

# ---- branch names: the joined JSON's keys, so each once per route
check_refused "two branches of one name" "fanoutd.conf:[0-9]+: route 'product' has two branches named 'price'" \
	-- -e 's/name = "inventory";/name = "price";/'
check_refused "a replica named like another branch" "route 'product' has two branches named 'price#1'" \
	-- -e 's/{ name = "price";           downstream = "sim"; timeout_ms = 250; }/{ name = "price"; downstream = "sim"; replicas = 2; }/' \
	-e 's/name = "inventory";/name = "price#1";/'
check_ok "the same branch name in two routes" -- -e 's/name = "geo";/name = "price";/'

# ---- the join reserve must leave the branches time
check_refused "join_reserve_ms = budget_ms" \
	"fanoutd.conf:[0-9]+: 'join_reserve_ms' = 300 is not below 'budget_ms' = 300" -- -e 's/join_reserve_ms = 2;/join_reserve_ms = 300;/'
check_refused "join_reserve_ms > budget_ms" "'join_reserve_ms' = 500 is not below 'budget_ms' = 300" \
	-- -e 's/join_reserve_ms = 2;/join_reserve_ms = 500;/'
# the default reserve (2 ms) counts too
check_refused "budget_ms = 2 with the default reserve" "'join_reserve_ms' = 2 is not below 'budget_ms' = 2" \
	-- -e 's/join_reserve_ms = 2;//' -e 's/budget_ms = 300;/budget_ms = 2;/'
# and leaves the branches min_branch_ms (1) and 1 ms to start them
check_refused "join_reserve_ms = budget_ms - 1" \
	"fanoutd.conf:[0-9]+: 'budget_ms' = 300 leaves no branch time to start: it must be at least 'join_reserve_ms' \+ 'min_branch_ms' \+ 1 = 301" \
	-- -e 's/join_reserve_ms = 2;/join_reserve_ms = 299;/'
check_ok "join_reserve_ms = budget_ms - 2" -- -e 's/join_reserve_ms = 2;/join_reserve_ms = 298;/'

# ---- a quorum larger than the route's branches (5)
check_refused "a quorum of 6 of 5 branches" "fanoutd.conf:[0-9]+: 'quorum' = 6 is out of range \[1, 5\]" \
	-- -e 's/policy = "besteffort";/policy = "quorum"; quorum = 6;/'
check_ok "a quorum of 5 of 5 branches" -- -e 's/policy = "besteffort";/policy = "quorum"; quorum = 5;/'

# ---- error messages
check_refused "a policy typo" \
	"fanoutd.conf:[0-9]+: no policy named 'besteffrot' \(failfast, collectall, besteffort, or a policy module: quorum\)$" \
	-- -e 's/policy = "besteffort";/policy = "besteffrot";/'
mkdir "$TMP/nopolicy"
cp -L "$MODULES/aimd.so" "$MODULES/sim.so" "$TMP/nopolicy/"
conf=$(make_config -e 's/policy = "besteffort";/policy = "besteffrot";/')
out=$("$FANOUTD" -t -c "$conf" --modules "$TMP/nopolicy" 2>&1) && fail "a policy typo accepted"
grep -q "no policy named 'besteffrot' (failfast, collectall or besteffort; no policy module in $TMP/nopolicy)" <<<"$out" ||
	fail "a policy typo without policy modules: $out"
pass "a policy typo with no policy module there: $out"

# A module dlopen refuses: its path once, then why.
need cc "building a module with an undefined symbol"
mkdir "$TMP/mods"
cp -L "$MODULES"/*.so "$TMP/mods/"
printf 'extern int fo_no_such_symbol(void);\nint f(void) { return fo_no_such_symbol(); }\n' >"$TMP/undef.c"
cc -shared -fPIC -o "$TMP/mods/undef.so" "$TMP/undef.c"
conf=$(make_config -e 's/module = "aimd";/module = "undef";/')
out=$("$FANOUTD" -t -c "$conf" --modules "$TMP/mods" 2>&1) && fail "a module with an undefined symbol accepted"
grep -q "cannot load module $TMP/mods/undef.so: undefined symbol: fo_no_such_symbol" <<<"$out" || fail "$out"
[ "$(echo "$out" | grep -o "undef.so" | wc -l)" = 1 ] || fail "the module path is printed more than once: $out"
pass "a module that cannot be loaded: $out"

# A missing @include file is named (libconfig says only "cannot open include file").
sed '/^routes = (/,$d' "$SRCDIR/etc/fanoutd.conf" >"$TMP/main.conf"
echo '@include "routes.conf"' >>"$TMP/main.conf"
out=$("$FANOUTD" -t -c "$TMP/main.conf" --modules "$MODULES" 2>&1) && fail "a missing @include accepted"
grep -Eq "main.conf:[0-9]+: cannot open include file $TMP/routes.conf: No such file or directory" <<<"$out" ||
	fail "missing @include: $out"
pass "a missing @include names the file: $out"

# ---- -T: every setting with the value in effect, in libconfig syntax
conf=$(make_config -e '/header_timeout_ms = /d' -e '/^  pool = /d' -e 's/{ name = "geo";     downstream = "sim"; timeout_ms = 500; }/{ name = "geo"; downstream = "sim"; replicas = 2; }/')
"$FANOUTD" -T -c "$conf" --modules "$MODULES" --listen 127.0.0.1:1 >"$TMP/effective.conf" 2>"$TMP/T.err" ||
	fail "-T exited $?: $(cat "$TMP/T.err")"
grep -q "configuration OK" "$TMP/T.err" || fail "-T: no verdict on stderr: $(cat "$TMP/T.err")"
grep -q "configuration OK" "$TMP/effective.conf" && fail "-T: the verdict is mixed into the configuration"
has() { grep -Eq "$1" "$TMP/effective.conf" || fail "-T does not print $1: $(cat "$TMP/effective.conf")"; }
has '^  header_timeout_ms = 10000;$' # defaults of settings the file leaves out
has '^  pool = 4;$'
has '^  listen = "127.0.0.1:1";$' # --listen over the file's
has '^  drain_ms = 10000;$'
has '^log_level = "info";$'
has '^    ready_window_ms = 10000;$'
has '^    join_reserve_ms = 2;$' # the enrich route has none written
has '^        replicas = 2;$'
has '^        timeout_ms = 250;$' # the geo branch's default
has '^        weight = 1;$'
has '^    initial = 2000;$' # a module's settings as written
has '^      tail_rate = 0.001;$'
[ "$(grep -c 'timeout_ms = 250;' "$TMP/effective.conf")" = 6 ] || fail "-T: not every branch has its timeout"
out=$("$FANOUTD" -t -c "$TMP/effective.conf" --modules "$MODULES" 2>&1) || fail "-T's output is refused: $out"
"$FANOUTD" -T -c "$TMP/effective.conf" --modules "$MODULES" --listen 127.0.0.1:1 2>/dev/null >"$TMP/again.conf"
diff <(tail -n +2 "$TMP/effective.conf") <(tail -n +2 "$TMP/again.conf") >/dev/null ||
	fail "-T of -T's output differs: $(diff "$TMP/effective.conf" "$TMP/again.conf")"
pass "-T prints the effective configuration; it is valid and -T of it is the same"
conf=$(make_config -e 's/budget_ms = 300;/budget_ms = -1;/')
"$FANOUTD" -T -c "$conf" --modules "$MODULES" >"$TMP/bad.out" 2>&1 && fail "-T of a bad config exited 0"
grep -q "'budget_ms' = -1 is out of range" "$TMP/bad.out" || fail "-T of a bad config: $(cat "$TMP/bad.out")"
pass "-T of a bad configuration exits 1 with the error"
