#!/usr/bin/env bash
# fanoutd under a real systemd: `make install DESTDIR=` into an overlay of /,
# boot it with systemd-nspawn, then systemctl start / a request / systemctl
# reload / systemctl stop, and read journalctl -u fanoutd. Skipped, saying
# why, where this cannot run (not root, no nspawn, no overlayfs, sanitizer build).
. "$SRCDIR/tests/integration/lib.sh"
. "$SRCDIR/tests/integration/nspawn-lib.sh"
nspawn_require "the installed, hardened unit is tested in the plain build"

mkvar() { sed -n "s/^$1 = //p" "$BUILDDIR/Makefile" | sed 's/\$(\([a-z_]*\))/${\1}/g'; }
prefix=$(mkvar prefix)
eval "sysconfdir=$(mkvar sysconfdir)"
eval "unitdir=$(mkvar systemdsystemunitdir)"
case "$unitdir" in
/lib/systemd/system | /usr/lib/systemd/system | /etc/systemd/system) ;;
*) skip "units install to $unitdir, outside systemd's search path (make distcheck)" ;;
esac

nspawn_overlay

make -s -C "$BUILDDIR" install DESTDIR="$NSROOT" >"$TMP/install.log" 2>&1 ||
	fail "make install: $(tail -5 "$TMP/install.log")"

PORT=$(free_port)
sed -i "s/listen = \"127.0.0.1:8080\";/listen = \"127.0.0.1:$PORT\";/" "$NSROOT$sysconfdir/fanoutd.conf"
ldconfig -r "$NSROOT" 2>/dev/null || true

nspawn_boot

inside systemctl daemon-reload
inside systemctl start fanoutd || fail "systemctl start: $(inside journalctl -u fanoutd --no-pager | tail -20)"
[ "$(inside systemctl is-active fanoutd)" = active ] || fail "not active"
read -r code body <<<"$(get /product/42)"
[ "$code" = 200 ] || fail "request to the systemd-run fanoutd: $code $body"
pass "systemctl start fanoutd; GET /product/42: 200"
inside systemctl reload fanoutd || fail "systemctl reload"
# ExecReload runs `fanoutctl reload`: synchronous, so the generation is 2 at once.
for _ in $(seq 100); do
	gen=$(curl -fs "$(url /healthz)" | sed 's/.*"generation":\([0-9]*\).*/\1/')
	[ "$gen" = 2 ] && break
	sleep 0.05
done
[ "$gen" = 2 ] || fail "reload did not make generation 2 (generation $gen)"
pass "systemctl reload fanoutd: generation 2"
inside systemctl stop fanoutd || fail "systemctl stop"
[ "$(inside systemctl is-active fanoutd || true)" = inactive ] || fail "still active after stop"
journal=$(inside journalctl -u fanoutd --no-pager -o cat)
echo "$journal" | grep -q "ready:" || fail "journal lacks the ready line: $journal"
echo "$journal" | grep -q "reloaded .*generation 2" || fail "journal lacks the reload: $journal"
echo "$journal" | grep -q "stopped" || fail "journal lacks the stop: $journal"
pass "systemctl stop fanoutd; journalctl -u fanoutd has ready, reloaded, stopped"
