#!/usr/bin/env python3
"""Medians per (impl, rate) of fanout-load JSON lines, and fanoutd / Go peer ratios."""
import json
import statistics
import sys
from collections import defaultdict

F = ["achieved_rate", "p50_ms", "p99_ms", "p999_ms", "overhead_p50_ms", "overhead_p99_ms",
     "server_cpu_pct", "server_cpu_us_per_req", "server_peak_rss_mb", "server_peak_threads",
     "errors", "5xx", "dropped", "abandoned"]


def main(path):
    runs = defaultdict(list)
    for line in open(path):
        if line.startswith("{"):
            r = json.loads(line)
            runs[(r["impl"], int(r["target_rate"]))].append(r)
    med = {k: {f: statistics.median(r[f] for r in v) for f in F} for k, v in runs.items()}
    print("| impl | rate | runs | " + " | ".join(F) + " |")
    print("|" + "---|" * (3 + len(F)))
    for (impl, rate), m in sorted(med.items()):
        print(f"| {impl} | {rate} | {len(runs[(impl, rate)])} | "
              + " | ".join(f"{m[f]:,.2f}" for f in F) + " |")
    print()
    best = {}
    for (impl, rate), m in med.items():
        if m["overhead_p99_ms"] <= 5 and m["errors"] == 0 and m["dropped"] == 0 and m["abandoned"] == 0 and m["achieved_rate"] >= 0.95 * rate:
            best[impl] = max(best.get(impl, 0), rate)
    for rate in sorted({r for _, r in med}):
        a, b = med.get(("fanoutd", rate)), med.get(("go-peer", rate))
        if a and b and b["server_cpu_us_per_req"] > 0:
            print(f"{rate}/s: CPU per request fanoutd/go = "
                  f"{a['server_cpu_us_per_req'] / b['server_cpu_us_per_req']:.2f}, overhead p99 "
                  f"{a['overhead_p99_ms']:.2f} vs {b['overhead_p99_ms']:.2f} ms, RSS "
                  f"{a['server_peak_rss_mb']:.1f} vs {b['server_peak_rss_mb']:.1f} MiB")
    print("highest rate held with overhead p99 <= 5 ms, no errors:", best)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "bench-out/gateway.jsonl")
