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
# The socket's group and an admin group, as an administrator would set them
# up: the service joins the socket's group with a drop-in (it runs as a
# DynamicUser=, which no group can list as a member).
sed -i -e 's/^  group = "";/  group = "foapi";/' -e 's/^  admin_group = "";/  admin_group = "foadmin";/' \
	"$NSROOT$sysconfdir/fanoutd.conf"
grep -q '^  group = "foapi";' "$NSROOT$sysconfdir/fanoutd.conf" &&
	grep -q '^  admin_group = "foadmin";' "$NSROOT$sysconfdir/fanoutd.conf" || fail "the group edits did not apply"
mkdir -p "$NSROOT/etc/systemd/system/fanoutd.service.d"
printf '[Service]\nSupplementaryGroups=foapi\n' >"$NSROOT/etc/systemd/system/fanoutd.service.d/groups.conf"

nspawn_boot

inside groupadd foapi
inside groupadd foadmin
inside useradd --no-create-home --shell /usr/sbin/nologin -G foapi foread
inside useradd --no-create-home --shell /usr/sbin/nologin -G foapi,foadmin foadm
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

# ---- the unit: descriptors for max_connections, no address filter, groups that work
# The unit sets it: fanoutd raising its own soft limit works only up to the
# hard limit it was given, and warns at every start when that is short.
soft=$(inside systemctl show --property=LimitNOFILESoft --value fanoutd)
[ "$soft" -ge 10256 ] 2>/dev/null || fail "the unit's LimitNOFILE soft limit $soft: below max_connections 10000 + 256"
mainpid=$(inside systemctl show --property=MainPID --value fanoutd)
nofile=$(inside awk '/^Max open files/ {print $4}' "/proc/$mainpid/limits")
[ "$nofile" -ge 10256 ] 2>/dev/null || fail "open-file limit $nofile under systemd: below max_connections 10000 + 256"
inside journalctl -u fanoutd --no-pager -o cat | grep -q "open-file limit" &&
	fail "the start warned: $(inside journalctl -u fanoutd --no-pager -o cat | grep "open-file limit")"
pass "LimitNOFILE: the unit's soft limit $soft, fanoutd's $nofile open files, no open-file warning at start"
deny=$(inside systemctl show --property=IPAddressDeny --value fanoutd)
[ -z "$deny" ] || fail "the unit filters addresses (IPAddressDeny=$deny): a public http.listen would drop remote clients"
pass "no IPAddressDeny=/IPAddressAllow=: a public http.listen reaches its clients"
inside runuser -u foread -- fanoutctl status >"$TMP/out" 2>&1 ||
	fail "fanoutctl status by a member of api.group foapi: $(cat "$TMP/out"; inside ls -la /run/fanoutd)"
rc=0
inside runuser -u foread -- fanoutctl reload >"$TMP/out" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "fanoutctl reload by a read-only member of foapi: exit $rc, $(cat "$TMP/out")"
inside runuser -u foadm -- fanoutctl reload >"$TMP/out" 2>&1 ||
	fail "fanoutctl reload by a member of api.admin_group foadmin: $(cat "$TMP/out")"
pass "DynamicUser=: api.group foapi members reach the socket; api.admin_group foadmin members may reload, others not"

inside systemctl stop fanoutd || fail "systemctl stop"
[ "$(inside systemctl is-active fanoutd || true)" = inactive ] || fail "still active after stop"
journal=$(inside journalctl -u fanoutd --no-pager -o cat)
echo "$journal" | grep -q "ready:" || fail "journal lacks the ready line: $journal"
echo "$journal" | grep -q "reloaded .*generation 2" || fail "journal lacks the reload: $journal"
echo "$journal" | grep -q "stopped" || fail "journal lacks the stop: $journal"
pass "systemctl stop fanoutd; journalctl -u fanoutd has ready, reloaded, stopped"
