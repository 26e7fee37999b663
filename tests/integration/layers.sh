#!/usr/bin/env bash
# The daemon's layering, read from what each object of daemon/libfanoutd.a
# leaves undefined (nm -u): the socket API (api.c) calls no job, control,
# gateway or HTTP function (it sees handler ops and a command table that
# job.c and control.c fill); the socket API, wire format, job engine and
# control.c call nothing of the HTTP server or the gateway (main.c gives
# control.c the HTTP side's hooks), so they link without it; and building a
# generation reads the HTTP and sim-endpoint settings through their config
# readers (http-conf.c, simsrv-conf.c), not through the servers, so the fuzz
# harnesses and api.test link without the HTTP server too.
. "$SRCDIR/tests/integration/lib.sh"

need nm "reading the daemon objects' undefined symbols"
need ar "listing the daemon library's objects"
lib=$BUILDDIR/daemon/libfanoutd.a
[ -f "$lib" ] || fail "$lib is not built"
# "member symbol" for every undefined symbol of every member.
undefined=$(nm -u "$lib" | awk '/:$/ {m = $0; sub(/:$/, "", m); next} NF {print m, $NF}')
[ -n "$undefined" ] || fail "nm -u $lib listed nothing"
uses() { # member-suffix pattern: the member's undefined symbols matching pattern
	awk -v m="$1" -v p="$2" '$1 ~ ("-" m "\\.o$") && $2 ~ p {print $2}' <<<"$undefined"
}
members=0
for m in api wire job control; do
	ar t "$lib" | grep -q -- "-$m\.o$" || fail "no $m.o member in $lib"
	members=$((members + 1))
	bad=$(uses "$m" '^fod_(http|gateway)_')
	[ -z "$bad" ] || fail "$m.c calls the HTTP side: $(echo $bad)"
done
bad=$(uses api '^fod_(job|jobs|control)_')
[ -z "$bad" ] || fail "api.c calls the job engine or control.c: $(echo $bad)"
# And the positive side: the socket reaches its owners only through what they registered.
[ -n "$(uses job '^fod_api_register$')" ] || fail "job.c does not register its ops"
[ -n "$(uses control '^fod_api_register$')" ] || fail "control.c does not register its ops"
[ -n "$(uses job '^fod_api_take$')" ] || fail "job.c does not take its connection through fod_api_take"
pass "api.c names no job, control or HTTP function; api, wire, job and control name no HTTP or gateway function ($members objects)"
bad=$(uses generation '^fod_(http|simsrv|gateway|router|endpoints)_' | grep -vx 'fod_http_conf_listen\|fod_simsrv_conf' || true)
[ -z "$bad" ] || fail "generation.c calls the HTTP side beyond its config readers: $(echo $bad)"
for m in http-conf simsrv-conf; do
	bad=$(uses "$m" '^fod_(http|simsrv|gateway|router|endpoints|loop)_')
	[ -z "$bad" ] || fail "$m.c, a config reader, calls a server: $(echo $bad)"
done
pass "generation.c reaches the HTTP side only through http-conf.c and simsrv-conf.c, which call no server"
