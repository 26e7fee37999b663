#!/usr/bin/env bash
# The module loader: a good module loads, a wrong ABI and a failing init are
# refused with the file named, nothing half-loaded stays.
. "$SRCDIR/tests/integration/lib.sh"

# Test modules live in TEST_MODULES; the real ones (sim) in MODULES: link both into one dir.
mkdir -p "$TMP/mods"
ln -s "$MODULES"/*.so "$TMP/mods/"
for m in good badabi badsize failinit; do ln -s "$TEST_MODULES/$m.so" "$TMP/mods/$m.so"; done

conf_with_limiter() {
	make_config -e "s/module = \"aimd\";/module = \"$1\";/"
}

out=$("$FANOUTD" -t -c "$(conf_with_limiter good)" --modules "$TMP/mods" 2>&1) ||
	fail "good module refused: $out"
pass "a good module loads"

out=$("$FANOUTD" -t -c "$(conf_with_limiter badabi)" --modules "$TMP/mods" 2>&1) &&
	fail "a wrong-ABI module was accepted"
echo "$out" | grep -q "badabi.so: module ABI" || fail "ABI refusal does not name the file: $out"
echo "$out" | grep -q "fanoutd.conf:[0-9]*:" || fail "no file:line in: $out"
pass "a wrong ABI is refused, naming the file: $out"

out=$("$FANOUTD" -t -c "$(conf_with_limiter badsize)" --modules "$TMP/mods" 2>&1) &&
	fail "a module built with another struct fo_result was accepted"
echo "$out" | grep -q "badsize.so: built with sizeof(struct fo_result) = [0-9]*, this fanoutd has" ||
	fail "size refusal does not name the file and the struct: $out"
pass "a module compiled against another fo_result is refused, naming the struct: $out"

out=$("$FANOUTD" -t -c "$(conf_with_limiter failinit)" --modules "$TMP/mods" 2>&1) &&
	fail "a module whose init fails was accepted"
echo "$out" | grep -q "module failinit failed to initialise" || fail "bad message: $out"
pass "a failing init is refused: $out"

out=$("$FANOUTD" -t -c "$(conf_with_limiter nosuch)" --modules "$TMP/mods" 2>&1) &&
	fail "a missing module was accepted"
echo "$out" | grep -q "cannot load module .*nosuch.so" || fail "bad message: $out"
pass "a missing module is refused: $out"

# A downstream module asked for as a limiter: wrong type.
out=$("$FANOUTD" -t -c "$(conf_with_limiter sim)" --modules "$TMP/mods" 2>&1) &&
	fail "a downstream module was accepted as a limiter"
echo "$out" | grep -q "a downstream module, a limiter module was asked for" || fail "bad message: $out"
pass "a module of the wrong type is refused"

# The daemon refuses to start on a bad module, exit 1.
rc=0
"$FANOUTD" -c "$(conf_with_limiter badabi)" --modules "$TMP/mods" --listen 127.0.0.1:1 >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "start with a bad module exited $rc, want 1"
pass "start with a bad module exits 1"
