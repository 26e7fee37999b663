#!/usr/bin/env bash
# Sets everything up and runs fanoutd in the foreground with the shipped default
# config (simulated downstreams: no external service needed), from the build tree.
# Try: curl http://127.0.0.1:8080/product/42 ; curl http://127.0.0.1:8080/metrics
# Extra arguments go to fanoutd (e.g. --listen 127.0.0.1:9090).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/tools/setup.sh" build >&2
# Not root: the admin socket's default directory (/run/fanoutd) is not ours to make.
sock=()
[ "$(id -u)" = 0 ] || sock=(--socket "${XDG_RUNTIME_DIR:-/tmp}/fanoutd.sock")
exec "$top/build/daemon/fanoutd" -c "$top/etc/fanoutd.conf" --modules "$top/build/modules/dir" \
	"${sock[@]}" "$@"
