#!/usr/bin/env bash
# fanout-gen: deterministic (same seed, byte-identical), framed as the socket
# API, N tasks after a header, ids 1..N, the Go peer's payloads.
. "$SRCDIR/tests/integration/lib.sh"

"$FANOUT_GEN" --seed 42 --count 100000 | sha256sum >"$TMP/a"
"$FANOUT_GEN" --seed 42 --count 100000 | sha256sum >"$TMP/b"
"$FANOUT_GEN" --seed 43 --count 100000 | sha256sum >"$TMP/c"
cmp -s "$TMP/a" "$TMP/b" || fail "same seed, different bytes"
cmp -s "$TMP/a" "$TMP/c" && fail "different seeds, same bytes"
pass "same seed: byte-identical; another seed: different"

"$FANOUT_GEN" --seed 7 --count 1000 --kind enrich --payload-bytes 32 >"$TMP/tasks"
python3 - "$TMP/tasks" <<'PY' || fail "stream content"
import struct, sys
data = open(sys.argv[1], "rb").read()
def mp(b, i):  # the tiny msgpack subset fanout-gen writes
    t = b[i]
    if 0x80 <= t <= 0x8f: return ("map", t & 15), i + 1
    if 0xa0 <= t <= 0xbf: n = t & 31; return b[i+1:i+1+n].decode(), i + 1 + n
    if t <= 0x7f: return t, i + 1
    if t == 0xcc: return b[i+1], i + 2
    if t == 0xcd: return struct.unpack(">H", b[i+1:i+3])[0], i + 3
    if t == 0xce: return struct.unpack(">I", b[i+1:i+5])[0], i + 5
    if t == 0xcf: return struct.unpack(">Q", b[i+1:i+9])[0], i + 9
    if t == 0xc4: n = b[i+1]; return b[i+2:i+2+n], i + 2 + n
    raise ValueError(hex(t))
def frame(b, i):
    n = struct.unpack(">I", b[i:i+4])[0]; body = b[i+4:i+4+n]
    (kind, size), j = mp(body, 0); out = {}
    for _ in range(size):
        k, j = mp(body, j); v, j = mp(body, j); out[k] = v
    assert j == n; return out, i + 4 + n
M = (1 << 64) - 1
def mix(x):
    x = (x + 0x9e3779b97f4a7c15) & M; z = x
    z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M
    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M
    return z ^ (z >> 31), x
head, i = frame(data, 0)
assert head == {"kind": "enrich", "count": 1000, "seed": 7}, head
n = 0
while i < len(data):
    t, i = frame(data, i); n += 1
    assert t["id"] == n
    s = mix(7 ^ n)[0]; words = b""
    for _ in range(4):
        w, s = mix(s); words += struct.pack("<Q", w)
    assert t["payload"] == words, n
assert n == 1000
PY
pass "header {kind, count, seed}, then ids 1..1000 with the peer's payload words"
rc=0; "$FANOUT_GEN" --count 0 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "--count 0 accepted"
pass "bad arguments: exit 2"
# Bad numbers are refused, naming the option, and nothing is written: "-5" is not 2^64-5 (a
# stream without end), "1e3" not 1, "x" not seed 0. (timeout: a generator that takes -5 as
# 2^64-5 would write for hours.)
for args in "--count -5" "--count 1e3" "--count 12x" "--count 99999999999999999999" \
	"--seed x --count 3" "--seed -1 --count 3" "--count 3 --payload-bytes 1e2" \
	"--count 3 --payload-bytes 65537" "--count 3 --first-id -1" "--count 3 --first-id +1"; do
	rc=0
	# shellcheck disable=SC2086
	timeout 5 "$FANOUT_GEN" $args >"$TMP/out" 2>"$TMP/err" || rc=$?
	opt=$(echo "$args" | sed 's/.*\(--[a-z-]*\) [^ ]*$/\1/')
	case $args in --seed*) opt=--seed ;; esac
	[ "$rc" = 2 ] && [ ! -s "$TMP/out" ] && grep -q -- "$opt" "$TMP/err" ||
		fail "fanout-gen $args: exit $rc, $(wc -c <"$TMP/out") bytes out, $(head -1 "$TMP/err")"
done
pass "bad numbers (-5, 1e3, 12x, 2^64+, x, -1, +1, 65537) refused with exit 2, naming the option"
# The defaults the man page states: seed 1, kind enrich, 32-byte payloads.
"$FANOUT_GEN" --count 1 >"$TMP/d1"
"$FANOUT_GEN" --count 1 --seed 1 --kind enrich --payload-bytes 32 >"$TMP/d2"
cmp -s "$TMP/d1" "$TMP/d2" || fail "defaults are not seed 1, kind enrich, 32 bytes"
pass "defaults: seed 1, kind enrich, 32-byte payloads"
