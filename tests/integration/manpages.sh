#!/usr/bin/env bash
# Every man page lints clean (mandoc -T lint, every level down to style; groff -ww) and
# renders as meant: fanoutctl(8)'s top and submit synopses stay in their tag lines,
# fanoutd(8) lists its FILES and SEE ALSO, fanout-gen(1) documents its defaults.
# mandoc is installed by tools/setup.sh; without it this test fails (never skips).
. "$SRCDIR/tests/integration/lib.sh"

command -v mandoc >/dev/null || fail "mandoc is not installed (tools/setup.sh installs it)"
command -v groff >/dev/null || fail "groff is not installed (tools/setup.sh installs it)"
command -v col >/dev/null || fail "col is not installed (tools/setup.sh installs it)"
pages=("$SRCDIR"/doc/*.[158])
[ "${#pages[@]}" -ge 5 ] || fail "only ${#pages[@]} man pages found in $SRCDIR/doc"
for m in "${pages[@]}"; do
	out=$(mandoc -T lint -W style "$m" 2>&1) || true
	[ -z "$out" ] || fail "mandoc -T lint $(basename "$m"):
$out"
	out=$(groff -man -ww -z -T utf8 "$m" 2>&1)
	[ -z "$out" ] || fail "groff -ww $(basename "$m"):
$out"
done
pass "${#pages[@]} man pages: mandoc -T lint and groff -ww clean"

# Rendered text, plain (no overstriking), wide enough that nothing wraps by width alone.
render() { MANWIDTH=200 mandoc -T ascii -O width=200 "$SRCDIR/doc/$1" | col -b; }

render fanoutctl.8 >"$TMP/ctl"
# A .TP tag is one line: the whole synopsis of top and submit must be on it, and the body after.
grep -qE '^ +top \[-d seconds\] \[-n count\] \[--json\]$' "$TMP/ctl" ||
	fail "fanoutctl(8): top's synopsis is not one tag line: $(grep -n -A3 '^ *top' "$TMP/ctl")"
grep -qE '^ +submit \[--kind kind\] \[--policy p\] \[--limit n\] \[--window n\] \[--ordered\] \[-i file\|-\] \[-o file\|-\] \[--raw\] \[--quiet\]$' "$TMP/ctl" ||
	fail "fanoutctl(8): submit's synopsis is not one tag line: $(grep -n -A3 '^ *submit' "$TMP/ctl")"
grep -A1 -E '^ +modules$' "$TMP/ctl" | grep -q 'path' || fail "fanoutctl(8): the modules column is path"
pass "fanoutctl(8): top and submit synopses on their tag lines; modules lists path"

render fanoutd.8 >"$TMP/fod"
files=$(sed -n '/^FILES/,/^[A-Z]/p' "$TMP/fod")
echo "$files" | grep -q "/run/fanoutd/fanoutd.sock" || fail "fanoutd(8) FILES: no socket: $files"
echo "$files" | grep -q "modules" || fail "fanoutd(8) FILES: no modules dir: $files"
see=$(sed -n '/^SEE ALSO/,$p' "$TMP/fod")
for p in 'fanoutctl(8)' 'fanoutd.conf(5)' 'fanout-gen(1)' 'fanout-load(1)'; do
	echo "$see" | grep -qF "$p" || fail "fanoutd(8) SEE ALSO lacks $p: $see"
done
pass "fanoutd(8): FILES has the socket and the modules dir; SEE ALSO its siblings"

render fanout-gen.1 >"$TMP/gen"
syn=$(sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' "$TMP/gen" | tr -s ' \n' ' ')
echo "$syn" | grep -qF '[--seed s]' || fail "fanout-gen(1): --seed is not optional in the synopsis: $syn"
opts=$(sed -n '/^OPTIONS/,/^EXAMPLE/p' "$TMP/gen" | tr -s ' \n' ' ')
for d in 'default 1)' 'default enrich' 'default 32'; do
	echo "$opts" | grep -qF "$d" || fail "fanout-gen(1) does not say '$d': $opts"
done
pass "fanout-gen(1): --seed optional; defaults seed 1, kind enrich, 32-byte payloads"
