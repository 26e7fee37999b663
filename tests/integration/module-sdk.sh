#!/usr/bin/env bash
# The module SDK as a third party uses it: `make install` into a staging root,
# then doc/examples/hello.c (doc/MODULES.md's module) built out of tree with
# nothing but the installed headers and `pkg-config libfanout`, and loaded by
# the installed fanoutd: its answers appear under the branch's name and its
# settings are read (a bad one refused with file:line). The SDK header must
# compile without libconfig or libev.
. "$SRCDIR/tests/integration/lib.sh"
need cc "compiling the module"
need pkg-config "finding the installed libfanout"
[ -z "${SANITIZED:-}" ] || { echo "SKIP: sanitizer build: the installed tree is tested in the plain build"; exit 77; }

root=$TMP/root
make -s -C "$BUILDDIR" install DESTDIR="$root" >"$TMP/install.log" 2>&1 ||
	fail "make install: $(tail -5 "$TMP/install.log")"
mkvar() { sed -n "s/^$1 = //p" "$BUILDDIR/Makefile"; }
prefix=$(mkvar prefix)

# make install keeps an administrator's fanoutd.conf, shipping its own beside it.
conf_installed=$(find "$root" -name fanoutd.conf -path '*etc*' | head -1)
[ -n "$conf_installed" ] || fail "make install put no fanoutd.conf"
echo "# an administrator's edit" >>"$conf_installed"
make -s -C "$BUILDDIR" install DESTDIR="$root" >"$TMP/install.log" 2>&1 || fail "make install again"
tail -1 "$conf_installed" | grep -q "an administrator's edit" || fail "make install overwrote fanoutd.conf"
cmp -s "$SRCDIR/etc/fanoutd.conf" "$conf_installed.dist" || fail "no fanoutd.conf.dist beside it"
pass "a second make install keeps the edited fanoutd.conf, the shipped one as fanoutd.conf.dist"
pcdir=$(find "$root" -name libfanout.pc -printf '%h\n' | head -1)
[ -n "$pcdir" ] || fail "no libfanout.pc installed"
pc() { PKG_CONFIG_SYSROOT_DIR=$root PKG_CONFIG_PATH=$pcdir pkg-config "$@" libfanout; }
cflags=$(pc --cflags) && libs=$(pc --libs) || fail "pkg-config libfanout"

# The SDK header on its own: no third-party header may be needed.
echo '#include <fanoutd/module.h>
int main(void) { return sizeof(struct fo_mod) == 0; }' >"$TMP/sdk.c"
cc -std=c11 -Wall -Werror $cflags -o "$TMP/sdk" "$TMP/sdk.c" 2>"$TMP/cc.log" ||
	fail "fanoutd/module.h does not compile on its own: $(cat "$TMP/cc.log")"
grep -q "libconfig\|<ev.h>" "$root$prefix/include/fanoutd/module.h" &&
	fail "the installed module.h names libconfig or libev"
pass "the installed SDK header compiles alone, without libconfig or libev"

mkdir -p "$TMP/mods"
cc -std=c11 -Wall -Wextra -Werror -shared -fPIC -o "$TMP/mods/hello.so" \
	"$SRCDIR/doc/examples/hello.c" $cflags $libs 2>"$TMP/cc.log" ||
	fail "building hello.so out of tree: $(cat "$TMP/cc.log")"
ln -s "$(find "$root" -path '*fanoutd/modules' -type d | head -1)"/*.so "$TMP/mods/"
pass "hello.so built out of tree with pkg-config libfanout"

fanoutd=$root$prefix/sbin/fanoutd
# Installed programs are linked for their installed place, not the build tree.
if have readelf "the installed binaries' RUNPATH"; then
	for b in "$fanoutd" "$root$prefix/bin/fanout-load"; do
		readelf -d "$b" | grep -i "path" | grep -q "$BUILDDIR" &&
			fail "$b has the build tree in its RUNPATH: $(readelf -d "$b" | grep -i path)"
	done
	pass "installed fanoutd and fanout-load carry no build-tree RUNPATH"
fi
export LD_LIBRARY_PATH=$(dirname "$(find "$root" -name 'libfanout.so.0' | head -1)")
conf=$(make_config -e 's|^routes = (|downstreams = { hello = { greeting = "out of tree"; delay_ms = 20; }; };\nroutes = (\
  { name = "greet"; http = "/greet/{id}"; policy = "collectall"; budget_ms = 1000;\
    branches = ( { name = "hi"; downstream = "hello"; timeout_ms = 900; },\
                 { name = "slow"; downstream = "sim"; timeout_ms = 900; } );\
    sim = { base_ms = 5000; p99_ms = 5000; tail_rate = 0.0; }; },|')
FANOUTD=$fanoutd MODULES=$TMP/mods start_fanoutd "$conf"
read -r code body <<<"$(get '/greet/7?policy=besteffort&budget_ms=300')"
[ "$code" = 200 ] || fail "GET /greet/7: $code $body"
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["hi"] == {"hello": "out of tree", "id": 7}, d' \
	"$body" || fail "hello's answer is not in the joined result: $body"
pass "the installed fanoutd loads hello.so: $body"
stop_fanoutd

bad=$(make_config -e 's|^routes = (|downstreams = { hello = { delay_ms = 600000; }; };\nroutes = (\
  { name = "greet"; http = "/greet/{id}"; branches = ( { name = "hi"; downstream = "hello"; } ); },|')
out=$(LD_LIBRARY_PATH=$LD_LIBRARY_PATH "$fanoutd" -t -c "$bad" --modules "$TMP/mods" 2>&1) &&
	fail "a bad hello setting was accepted"
echo "$out" | grep -q "fanoutd.conf:[0-9]*: 'delay_ms' = 600000 is out of range \[0, 60000\]" ||
	fail "bad setting: $out"
pass "a bad module setting is refused through the SDK's reader: $out"
