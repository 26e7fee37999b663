# Shared by nspawn.sh and package.sh: a real systemd booted with systemd-nspawn
# in an overlay of / (writes go to $TMP, the host stays untouched). Sourced
# after lib.sh. Call nspawn_require (skips, saying why, where this cannot run),
# nspawn_overlay (mounts $NSROOT, the container's /), then nspawn_boot [ARGS]
# (extra systemd-nspawn arguments); `inside CMD...` runs CMD in the container.

skip() {
	echo "SKIP: $*"
	exit 77
}

nspawn_require() {
	[ "$(id -u)" = 0 ] || skip "needs root (overlay mount, systemd-nspawn)"
	[ -z "${SANITIZED:-}" ] || skip "sanitizer build: $1"
	need systemd-nspawn "booting a real systemd (Debian package systemd-container)"
	need nsenter "running systemctl inside the container (util-linux)"
	need pgrep "finding the container's init (procps)"
	grep -qw overlay /proc/filesystems || skip "no overlayfs in this kernel"
}

NSPAWN=
NSROOT=
nspawn_teardown() {
	[ -n "$NSPAWN" ] && kill "$NSPAWN" 2>/dev/null && wait "$NSPAWN" 2>/dev/null
	[ -n "$NSROOT" ] && { umount "$NSROOT" 2>/dev/null || umount -l "$NSROOT" 2>/dev/null || true; }
}

nspawn_overlay() {
	local ns=$TMP/ns
	mkdir -p "$ns/upper" "$ns/work" "$ns/root"
	mount -t overlay overlay -o "lowerdir=/,upperdir=$ns/upper,workdir=$ns/work" "$ns/root" ||
		skip "cannot mount an overlay of / here"
	NSROOT=$ns/root
	at_exit nspawn_teardown
}

# The container's init: the first "systemd" below nspawn (set by nspawn_boot).
NSINIT=
inside() { nsenter -t "$NSINIT" -a "$@"; }

nspawn_boot() {
	# basic.target only: the host image's own services (databases, ...) need not boot.
	systemd-nspawn -D "$NSROOT" --register=no --keep-unit "$@" --boot systemd.firstboot=off \
		systemd.unit=basic.target \
		>"$TMP/nspawn.log" 2>&1 </dev/null &
	NSPAWN=$!
	local p state=
	for _ in $(seq 200); do
		for p in $(pgrep -P "$NSPAWN") $(for c in $(pgrep -P "$NSPAWN"); do pgrep -P "$c"; done); do
			[ "$(cat "/proc/$p/comm" 2>/dev/null)" = systemd ] && NSINIT=$p
		done
		[ -n "$NSINIT" ] && break
		sleep 0.1
	done
	[ -n "$NSINIT" ] || fail "no systemd in the container: $(tail -5 "$TMP/nspawn.log")"
	for _ in $(seq 1800); do
		state=$(inside systemctl is-active basic.target 2>/dev/null || true)
		[ "$state" = active ] && break
		sleep 0.1
	done
	[ "$state" = active ] || fail "the container did not reach basic.target in 180 s: $state"
	pass "systemd booted in the container (basic.target active)"
}
