#!/usr/bin/env bash
# The Debian packages under a real systemd: tools/deb.sh builds them from a
# copy of the tree, systemd-nspawn boots an overlay of / (its own network
# namespace, so the packaged 127.0.0.1:8080 is free), and apt-get installs
# them there as an administrator would. Then: the service is active and
# answers; fanoutctl works as root, not for a user outside the socket's
# group, read-only for one in it; /etc/fanoutd.conf is a conffile whose edit
# survives a reinstall (which reloads: same code) and an upgrade (dpkg keeps
# it and says so); systemctl reload applies an edit; an upgrade that changes
# the binary restarts it, letting the request in flight (16 s) finish;
# apt-get purge stops it and leaves none of its files. Skipped, saying why, where this
# cannot run (not root, no nspawn, no overlayfs, sanitizer build).
. "$SRCDIR/tests/integration/lib.sh"
. "$SRCDIR/tests/integration/nspawn-lib.sh"
nspawn_require "the packages are built and tested in the plain build"
need dpkg-buildpackage "building the packages (Debian package dpkg-dev)"

# The CUnit tests run in this same `make check`: the package build skips them.
DEB_BUILD_OPTIONS=nocheck timeout 300 "$SRCDIR/tools/deb.sh" "$TMP/debs" >"$TMP/deb.log" 2>&1 ||
	fail "tools/deb.sh: $(tail -30 "$TMP/deb.log")"
ls "$TMP"/debs/fanoutd_*.deb "$TMP"/debs/libfanout0_*.deb >/dev/null || fail "no packages: $(cat "$TMP/deb.log")"
pass "tools/deb.sh built $(cd "$TMP/debs" && echo ./*.deb) (lintian: no errors)"

# The upgrade below: the same package with a changed binary (one byte more
# after the ELF data, still runnable), a changed shipped conffile and a newer version.
version=$(dpkg-deb -f "$TMP"/debs/fanoutd_*.deb Version)
arch=$(dpkg --print-architecture)
up=$TMP/up
dpkg-deb -R "$TMP"/debs/fanoutd_*.deb "$up"
sed -i "s/^Version: .*/Version: $version+up1/" "$up/DEBIAN/control"
printf '\0' >>"$up/usr/sbin/fanoutd"
echo "# shipped by $version+up1" >>"$up/etc/fanoutd.conf"
(cd "$up" && find etc usr lib -type f ! -path 'etc/*' -exec md5sum {} + >DEBIAN/md5sums)
dpkg-deb -b "$up" "$TMP/debs/fanoutd_$version+up1.deb" >/dev/null

nspawn_overlay
mkdir -p "$NSROOT/root/debs"
cp "$TMP"/debs/*.deb "$NSROOT/root/debs/"
# A container image's policy-rc.d (exit 101: no service starts from maintainer
# scripts) is not a Debian system's: the container gets Debian's default, none.
rm -f "$NSROOT/usr/sbin/policy-rc.d"
nspawn_boot --private-network

journal() { inside journalctl -u fanoutd --no-pager -o cat | tail -20; }
apt() {
	inside env DEBIAN_FRONTEND=noninteractive timeout 120 \
		apt-get -y -q -o Dpkg::Options::=--force-confold "$@" >"$TMP/apt.log" 2>&1 ||
		fail "apt-get $*: $(tail -20 "$TMP/apt.log"; journal)"
}
cget() {
	inside curl -s -m 20 -o /dev/null -w '%{http_code}' "http://127.0.0.1:8080$1" || true
}
body() { inside curl -s -m 20 "http://127.0.0.1:8080$1"; }
generation() { body /metrics | awk '$1 == "fanoutd_config_generation" {print $2}'; }
mainpid() { inside systemctl show --property=MainPID --value fanoutd; }

# ---- install: enabled and started the Debian way
apt install "/root/debs/fanoutd_${version}_$arch.deb" "/root/debs/libfanout0_${version}_$arch.deb"
[ "$(inside systemctl is-active fanoutd)" = active ] || fail "not active after install: $(cat "$TMP/apt.log"; inside systemctl status fanoutd; journal)"
[ "$(inside systemctl is-enabled fanoutd)" = enabled ] || fail "not enabled after install"
[ "$(cget /product/42)" = 200 ] || fail "GET /product/42 after install: $(cget /product/42)"
pass "apt-get install ./fanoutd_*.deb ./libfanout0_*.deb: enabled, active, GET /product/42: 200"

# ---- the admin socket: root, a user outside the socket's group, one in it
inside fanoutctl status | grep -q "^generation *1$" || fail "fanoutctl status as root: $(inside fanoutctl status 2>&1)"
inside useradd --no-create-home --shell /usr/sbin/nologin fotest
rc=0
inside runuser -u fotest -- fanoutctl status >"$TMP/out" 2>&1 || rc=$?
[ "$rc" = 3 ] && grep -qi "permission denied" "$TMP/out" ||
	fail "fanoutctl status by a user outside group fanoutd: exit $rc, $(cat "$TMP/out")"
inside usermod -a -G fanoutd fotest
inside runuser -u fotest -- fanoutctl status >"$TMP/out" 2>&1 ||
	fail "fanoutctl status by a member of group fanoutd: $(cat "$TMP/out")"
rc=0
inside runuser -u fotest -- fanoutctl reload >"$TMP/out" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "fanoutctl reload by a read-only member: exit $rc, $(cat "$TMP/out")"
pass "fanoutctl status: root yes; outside group fanoutd refused (permission denied); member reads, may not reload"

# ---- conffile, reload, reinstall
inside dpkg-query -W -f='${Conffiles}\n' fanoutd | grep -q "^ /etc/fanoutd.conf " ||
	fail "/etc/fanoutd.conf is not a conffile: $(inside dpkg-query -W -f='${Conffiles}' fanoutd)"
sed -i 's/always_fail = \[\];/always_fail = ["reviews"];/' "$NSROOT/etc/fanoutd.conf"
# The admin's edit also adds a slow route, to have a request in flight across a
# restart: 16 s (2 x base_ms), for apt-get to reach the restart well within it
# on a loaded machine (8 s was not always enough), and a drain long enough for
# the rest of it (18 s, within the unit's TimeoutStopSec=20s).
sed -i '/^routes = (/r /dev/stdin' "$NSROOT/etc/fanoutd.conf" <<'CONF'
  { name = "slow"; http = "/slow/{id}"; policy = "collectall"; budget_ms = 30000;
    sim = { seed = 1; base_ms = 8000; p99_ms = 8000; tail_rate = 0.0; tail_ms = 0; err_rate = 0.0; };
    branches = ({ name = "a"; downstream = "sim"; timeout_ms = 20000; }); },
CONF
sed -i 's/drain_ms = 10000;/drain_ms = 18000;/' "$NSROOT/etc/fanoutd.conf"
grep -q 'drain_ms = 18000;' "$NSROOT/etc/fanoutd.conf" || fail "the drain_ms edit did not apply"
inside systemctl reload fanoutd || fail "systemctl reload: $(journal)"
[ "$(generation)" = 2 ] || fail "reload: generation $(generation)"
body /product/42 | grep -q '"degraded":\[{"branch":"reviews"' || fail "reload did not apply the edit: $(body /product/42)"
pass "systemctl reload fanoutd applied the edited /etc/fanoutd.conf (generation 2, reviews failing)"
pid=$(mainpid)
apt install --reinstall "/root/debs/fanoutd_${version}_$arch.deb"
grep -q 'always_fail = \["reviews"\];' "$NSROOT/etc/fanoutd.conf" || fail "the reinstall lost the admin's edit"
[ "$(mainpid)" = "$pid" ] || fail "the reinstall restarted fanoutd (same code: expected a reload)"
[ "$(generation)" = 3 ] || fail "the reinstall did not reload: generation $(generation)"
pass "apt-get install --reinstall: the edit survives; same code, so reloaded (same PID, generation 3)"

# ---- upgrade with a changed binary: a graceful restart
inside sh -c 'curl -s -m 60 -o /dev/null -w "%{http_code}" http://127.0.0.1:8080/slow/1 >/root/slow.code' &
slow=$!
for _ in $(seq 100); do
	[ "$(body /metrics | awk '$1 == "fanoutd_branches_in_flight" {print $2}')" = 1 ] && break
	sleep 0.05
done
[ "$(body /metrics | awk '$1 == "fanoutd_branches_in_flight" {print $2}')" = 1 ] || fail "the slow request is not in flight"
apt install "/root/debs/fanoutd_$version+up1.deb"
wait "$slow" || true
# This sandbox's cgroup v1 hierarchy can fail the first start after a stop
# (219/CGROUP); Restart=on-failure starts it again. A booted Debian 12 does not.
for _ in $(seq 100); do
	[ "$(inside systemctl is-active fanoutd || true)" = active ] && break
	sleep 0.1
done
[ "$(cat "$NSROOT/root/slow.code")" = 200 ] || fail "the request in flight across the upgrade: $(cat "$NSROOT/root/slow.code")"
[ "$(mainpid)" != "$pid" ] && [ "$(inside systemctl is-active fanoutd)" = active ] ||
	fail "the upgrade did not restart fanoutd: $(journal)"
inside journalctl -u fanoutd --no-pager -o cat | grep -q "draining 1 requests in flight" ||
	fail "the request was not in flight at the restart's SIGTERM: $(journal)"
grep -q "Modified (by you or by a script) since installation" "$TMP/apt.log" ||
	fail "dpkg did not raise the conffile question: $(cat "$TMP/apt.log")"
grep -q 'always_fail = \["reviews"\];' "$NSROOT/etc/fanoutd.conf" && [ -f "$NSROOT/etc/fanoutd.conf.dpkg-dist" ] ||
	fail "the upgrade did not keep the admin's conffile beside the shipped one"
[ "$(cget /slow/2)" = 200 ] || fail "after the upgrade"
pass "upgrade with a new binary: restarted, the request in flight answered 200; dpkg asked, the edit kept (.dpkg-dist beside)"

# ---- purge: stopped, nothing left
inside dpkg-query -L fanoutd libfanout0 >"$TMP/files"
apt purge fanoutd libfanout0
[ "$(inside systemctl is-active fanoutd || true)" = inactive ] || fail "still active after purge"
if inside pgrep -x fanoutd >/dev/null; then fail "a fanoutd process is left"; fi
# What the packages listed, but not shared directories (/etc, /usr/bin, ...),
# and what their scripts made: the conffile's sibling, the enablement links.
left=$(inside sh -c 'while read -r f; do
	[ -n "$f" ] || continue
	[ -d "$f" ] && continue
	[ -e "$f" ] || [ -L "$f" ] && echo "$f"
done
ls -d /etc/fanoutd.conf* /run/fanoutd /usr/lib/*/fanoutd /etc/systemd/system/*/fanoutd.* \
	/var/lib/systemd/deb-systemd-helper-enabled/*fanoutd* \
	/var/lib/systemd/deb-systemd-helper-enabled/*/fanoutd.* 2>/dev/null
true' <"$TMP/files")
[ -z "$left" ] || fail "left behind by purge: $left"
[ "$(wc -l <"$TMP/files")" -gt 20 ] || fail "dpkg -L listed too little: $(cat "$TMP/files")"
pass "apt-get purge: stopped, no file of the packages left (conffile included)"
