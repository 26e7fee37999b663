#!/usr/bin/env bash
# What a job really costs in memory: tools/job-memory.sh [BUILDDIR] [PAYLOAD_BYTES...]
#
# For each payload size: a fresh fanoutd (from BUILDDIR, default build/) with a job
# kind whose rows take ~60 s (two sim branches), one job at limit 100,000 fed
# until the daemon stops reading it (the job holds its bound), then its client
# leaves. Prints the daemon's RSS (VmRSS) before, while the job holds its bound
# and after the job has ended, with the rows held and what they count
# (held_bytes). Not part of `make check`: tests/integration/job-memory.sh
# asserts the bounds. The numbers in doc/PROTOCOL.md ("Memory") and job.c came
# from this and that test.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
shift || true
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100 1000 16000)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/job-memory.XXXXXX")
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
sed -e 's|mode = "0660";|mode = "0600";|' -e 's|^routes = (|routes = (\
  { name = "hold"; job = "hold"; policy = "collectall"; budget_ms = 120000;\
    sim = { base_ms = 30000; p99_ms = 30000; tail_rate = 0.0; };\
    branches = ( { name = "x"; downstream = "sim"; timeout_ms = 120000; }, { name = "y"; downstream = "sim"; timeout_ms = 120000; } ); },|' \
	"$top/etc/fanoutd.conf" >"$tmp/fanoutd.conf"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
for size in "${sizes[@]}"; do
	rm -f "$tmp/api.sock"
	"$build/daemon/fanoutd" -c "$tmp/fanoutd.conf" --modules "$build/modules/dir" \
		--listen "127.0.0.1:$port" --socket "$tmp/api.sock" 2>"$tmp/log" &
	pid=$!
	for _ in $(seq 200); do [ -S "$tmp/api.sock" ] && break; sleep 0.05; done
	PYTHONPATH="$top/tests/integration" timeout 120 python3 - "$tmp/api.sock" "$pid" "$size" <<'PY'
import sys, time
from jobclient import Conn, call, rss_kib, frame
sock, pid, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
time.sleep(0.3)
base = rss_kib(pid)
c = Conn(sock)
assert c.call({"op": "job.open", "kind": "hold", "limit": 100000})["status"] == 0
c.s.setblocking(False)
payload, i, buf, stalled = bytes(size), 1, b"", None
while True:   # write until the daemon has not read for 1.5 s
    if not buf:
        buf = b"".join(frame({"id": i + k, "payload": payload}) for k in range(64))
        i += 64
    try:
        buf = buf[c.s.send(buf):]
        stalled = None
    except BlockingIOError:
        stalled = stalled or time.monotonic()
        if time.monotonic() - stalled > 1.5:
            break
        time.sleep(0.02)
held = rss_kib(pid)
job = call(sock, {"op": "jobs"})["data"][0]
c.close()
while call(sock, {"op": "jobs"})["data"]:
    time.sleep(0.02)
time.sleep(0.5)
after = rss_kib(pid)
print(f"payload {size:6d} B: {job['held']:6d} rows held, {job.get('held_bytes', '?')} bytes counted; "
      f"RSS {base} KiB before, +{(held - base) / 1024:.1f} MiB holding, "
      f"+{(after - base) / 1024:.1f} MiB after")
PY
	kill "$pid"
	wait "$pid" || true
	pid=
done
