#!/usr/bin/env bash
# Header and symbol hygiene (issue 8): every include guard closes at the end of
# its header, and no daemon or library symbol used in one file only is global
# (tools/check-hygiene.sh, over this build's objects).
. "$SRCDIR/tests/integration/lib.sh"
need nm "listing the objects' symbols (binutils)"
out=$("$SRCDIR/tools/check-hygiene.sh" "$SRCDIR" "$BUILDDIR" 2>&1) || fail "hygiene: $out"
pass "include guards close at the end; every global symbol of daemon/ and lib/ is used by another file"
