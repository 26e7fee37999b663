#!/usr/bin/env bash
# fanoutd under a real systemd: `make install DESTDIR=` into an overlay of /,
# boot it with systemd-nspawn, then systemctl start / a request / systemctl
# reload / systemctl stop, and read journalctl -u fanoutd. Skipped, saying
# why, where this cannot run (not root, no nspawn, no overlayfs, sanitizer build).
. "$SRCDIR/tests/integration/lib.sh"

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (overlay mount, systemd-nspawn)"
[ -z "${SANITIZED:-}" ] || skip "sanitizer build: the installed, hardened unit is tested in the plain build"
need systemd-nspawn "booting the installed unit under systemd (Debian package systemd-container)"
need nsenter "running systemctl inside the container (util-linux)"
need pgrep "finding the container's init (procps)"
grep -qw overlay /proc/filesystems || skip "no overlayfs in this kernel"

mkvar() { sed -n "s/^$1 = //p" "$BUILDDIR/Makefile" | sed 's/\$(\([a-z_]*\))/${\1}/g'; }
prefix=$(mkvar prefix)
eval "sysconfdir=$(mkvar sysconfdir)"
eval "unitdir=$(mkvar systemdsystemunitdir)"
case "$unitdir" in
/lib/systemd/system | /usr/lib/systemd/system | /etc/systemd/system) ;;
*) skip "units install to $unitdir, outside systemd's search path (make distcheck)" ;;
esac

ns=$TMP/ns
mkdir -p "$ns/upper" "$ns/work" "$ns/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$ns/upper,workdir=$ns/work" "$ns/root" ||
	skip "cannot mount an overlay of / here"
NSPAWN=
teardown() {
	[ -n "$NSPAWN" ] && kill "$NSPAWN" 2>/dev/null && wait "$NSPAWN" 2>/dev/null
	umount "$ns/root" 2>/dev/null || umount -l "$ns/root" 2>/dev/null || true
}
at_exit teardown

make -s -C "$BUILDDIR" install DESTDIR="$ns/root" >"$TMP/install.log" 2>&1 ||
	fail "make install: $(tail -5 "$TMP/install.log")"

PORT=$(free_port)
sed -i "s/listen = \"127.0.0.1:8080\";/listen = \"127.0.0.1:$PORT\";/" "$ns/root$sysconfdir/fanoutd.conf"
ldconfig -r "$ns/root" 2>/dev/null || true

# basic.target only: the host image's own services (databases, ...) need not boot.
systemd-nspawn -D "$ns/root" --register=no --keep-unit --boot systemd.firstboot=off \
	systemd.unit=basic.target \
	>"$TMP/nspawn.log" 2>&1 </dev/null &
NSPAWN=$!
# The container's init is the first "systemd" below nspawn.
init=
for _ in $(seq 200); do
	for p in $(pgrep -P "$NSPAWN") $(for c in $(pgrep -P "$NSPAWN"); do pgrep -P "$c"; done); do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = systemd ] && init=$p
	done
	[ -n "$init" ] && break
	sleep 0.1
done
[ -n "$init" ] || fail "no systemd in the container: $(tail -5 "$TMP/nspawn.log")"
inside() { nsenter -t "$init" -a "$@"; }
for _ in $(seq 1800); do
	state=$(inside systemctl is-active basic.target 2>/dev/null || true)
	[ "$state" = active ] && break
	sleep 0.1
done
[ "$state" = active ] || fail "the container did not reach basic.target in 180 s: $state"
pass "systemd booted in the container (basic.target active)"

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
