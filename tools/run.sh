#!/usr/bin/env bash
# Sets everything up and runs the demo: Stage 0 of the brief on libfanout
# (F = 5 simulated downstreams per product id, best-effort, 300 ms budget).
# Becomes `fanoutd -c etc/fanoutd.conf` when the daemon lands.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/tools/setup.sh" build >&2
exec "$top/build/tools/fo-demo" "$@"
