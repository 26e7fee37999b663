#!/usr/bin/env python3
"""Medians per (workload, implementation) of fo-bench / Go enrich JSON lines, and ratios."""
import json
import statistics
import sys
from collections import defaultdict

FIELDS = ["tasks_per_s", "tasks_per_s_to_99pct", "steady_per_s", "peak_rss_mb",
          "peak_threads", "peak_goroutines", "little_bound_per_s"]


def main(path):
    runs = defaultdict(list)
    checksums = defaultdict(set)
    for line in open(path):
        line = line.strip()
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        impl = r.get("impl", "go-peer")
        runs[(r["label"], impl)].append(r)
        checksums[r["label"]].add(r.get("checksum"))
    bad = [label for label, sums in checksums.items() if len(sums) != 1]
    med = {}
    print("| workload | impl | runs | " + " | ".join(FIELDS) + " |")
    print("|" + "---|" * (3 + len(FIELDS)))
    for (label, impl), rs in sorted(runs.items()):
        m = {}
        for f in FIELDS:
            vals = [r[f] for r in rs if f in r]
            m[f] = statistics.median(vals) if vals else None
        med[(label, impl)] = m
        cells = ["-" if m[f] is None else f"{m[f]:,.1f}" for f in FIELDS]
        print(f"| {label} | {impl} | {len(rs)} | " + " | ".join(cells) + " |")
    print()
    for label in sorted({l for l, _ in runs}):
        a, b = med.get((label, "fanoutd")), med.get((label, "go-peer"))
        same = "same" if len(checksums[label]) == 1 else "DIFFERENT"
        if a and b:
            print(f"{label}: fanoutd/go tasks_per_s = {a['tasks_per_s'] / b['tasks_per_s']:.2f}x, "
                  f"to_99pct = {a['tasks_per_s_to_99pct'] / b['tasks_per_s_to_99pct']:.2f}x, "
                  f"RSS = {a['peak_rss_mb'] / b['peak_rss_mb']:.2f}x; checksums {same}")
        if a and a.get("little_bound_per_s") and a.get("steady_per_s"):
            print(f"{label}: fanoutd steady {a['steady_per_s']:,.0f}/s = "
                  f"{a['steady_per_s'] / a['little_bound_per_s']:.1%} of Little's bound "
                  f"{a['little_bound_per_s']:,.0f}/s")
        if b and b.get("little_bound_per_s"):
            print(f"{label}: go-peer to_99pct {b['tasks_per_s_to_99pct']:,.0f}/s = "
                  f"{b['tasks_per_s_to_99pct'] / b['little_bound_per_s']:.1%} of Little's bound")
    if bad:
        print(f"CHECKSUM MISMATCH in {', '.join(bad)}: the runs did not compute the same results")
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "bench-out/stream.jsonl")
