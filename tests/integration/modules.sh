#!/usr/bin/env bash
# The module loader: a good module loads, a wrong ABI and a failing init are
# refused with the file named, nothing half-loaded stays; a damaged (truncated,
# non-ELF, empty) module file is refused at -t, at start and at reload.
. "$SRCDIR/tests/integration/lib.sh"

# Test modules live in TEST_MODULES; the real ones (sim) in MODULES: link both into one dir.
mkdir -p "$TMP/mods"
ln -s "$MODULES"/*.so "$TMP/mods/"
for m in good badabi badsize failinit; do ln -s "$TEST_MODULES/$m.so" "$TMP/mods/$m.so"; done

# The limiter entry of the shipped config with another module, and without
# aimd's own settings (nothing else reads them: they would be unknown).
conf_with_limiter() {
	make_config -e "s/module = \"aimd\";/module = \"$1\";/" -e '/^    initial = /d' \
		-e '/^    min = /d' -e '/^    max = /d' -e '/^    backoff = /d' -e '/^    latency_threshold_ms = /d'
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

# A damaged module file is refused before dlopen maps it: a truncated one used
# to kill the daemon with SIGBUS, at -t, at start and at reload.
mkdir -p "$TMP/good" "$TMP/bad" "$TMP/live"
cp -L "$MODULES"/*.so "$TMP/good/"
cp "$TMP/good"/*.so "$TMP/bad/"
cp "$TMP/good"/*.so "$TMP/live/"
size=$(stat -c %s "$TMP/good/aimd.so")
[ "$size" -gt 4096 ] || fail "aimd.so is only $size bytes"

# damaged CASE FILE: writes a damaged aimd.so into FILE
damaged() {
	local src="$TMP/good/aimd.so"
	case $1 in
	empty) : >"$2" ;;
	text) seq 1000 >"$2" ;; # long enough for a header: the magic tells
	noshdr)
		# the first 1,000 bytes, and no section header table: only the
		# segment check can tell (ELF64: e_shoff at 0x28, e_shnum at 0x3c)
		python3 - "$src" "$2" <<'PY'
import sys
d = bytearray(open(sys.argv[1], 'rb').read()[:1000])
assert d[4] == 2, "not ELF64"
d[0x28:0x30] = bytes(8)
d[0x3c:0x3e] = bytes(2)
open(sys.argv[2], 'wb').write(d)
PY
		;;
	*) head -c "$1" "$src" >"$2" ;;
	esac
}

cases="empty text 100 1000 $((size / 2)) $((size - 1)) noshdr"
conf=$(make_config -e "s|^#! never matches||")
for c in $cases; do
	damaged "$c" "$TMP/bad/aimd.so"
	rc=0
	out=$(timeout 20 "$FANOUTD" -t -c "$conf" --modules "$TMP/bad" 2>&1) || rc=$?
	[ "$rc" -eq 1 ] || fail "-t with aimd.so damaged ($c) exited $rc, want 1: $out"
	echo "$out" | grep -q "fanoutd.conf:[0-9]*: .*/bad/aimd.so: truncated or not a shared object" ||
		fail "-t with aimd.so damaged ($c): $out"
	rc=0
	out=$(timeout 20 "$FANOUTD" -c "$conf" --modules "$TMP/bad" --listen 127.0.0.1:1 \
		--socket "$TMP/start.sock" 2>&1) || rc=$?
	[ "$rc" -eq 1 ] || fail "start with aimd.so damaged ($c) exited $rc, want 1: $out"
	echo "$out" | grep -q "/bad/aimd.so: truncated or not a shared object" ||
		fail "start with aimd.so damaged ($c): $out"
done
pass "damaged module files ($cases) are refused at -t and at start: $out"

# At reload: the refused reload keeps the running generation serving. Both a
# module the running generation has loaded (replaced by rename, as an install
# would) and one not loaded yet (the config switched to it).
start_fanoutd "$conf" --modules "$TMP/live"
gen=$(metric fanoutd_config_generation)
failed=0
reload_refused() { # what: SIGHUP, wait for the failed count, check the log and /product/42
	failed=$((failed + 1))
	kill -HUP "$FOD_PID"
	for _ in $(seq 500); do
		[ "$(metric 'fanoutd_reloads_total{result="failed"}')" = "$failed" ] && break
		kill -0 "$FOD_PID" 2>/dev/null || fail "$1: the daemon died at reload"
		sleep 0.02
	done
	[ "$(metric 'fanoutd_reloads_total{result="failed"}')" = "$failed" ] ||
		fail "$1: reload not refused"
	[ "$(grep -c "reload refused, keeping the running configuration: .*truncated or not a shared object" \
		"$TMP/fanoutd.log")" = "$failed" ] || fail "$1: refusal not logged"
	[ "$(metric fanoutd_config_generation)" = "$gen" ] || fail "$1: the generation changed"
	read -r code _ <<<"$(get /product/42)"
	[ "$code" = 200 ] || fail "$1: /product/42 answered $code after the refused reload"
}
for c in 1000 $((size / 2)) noshdr; do
	damaged "$c" "$TMP/live/aimd.so.new"
	mv "$TMP/live/aimd.so.new" "$TMP/live/aimd.so"
	reload_refused "loaded aimd.so replaced by a damaged one ($c)"
done
cp "$TMP/good/aimd.so" "$TMP/live/aimd.so.new"
mv "$TMP/live/aimd.so.new" "$TMP/live/aimd.so"
damaged 1000 "$TMP/live/fixed.so.new"
mv "$TMP/live/fixed.so.new" "$TMP/live/fixed.so"
sed -i -e 's/module = "aimd";/module = "fixed"; limit = 100;/' "$conf"
reload_refused "a switch to a truncated fixed.so"
pass "$failed reloads onto damaged modules refused, generation $gen still serving"
stop_fanoutd
