#!/usr/bin/env python3
"""Batch-job benchmark summaries (tools/job-bench.sh).
   run:    tools/job-summary.py run EXP RUN ROWS LIMIT SAMPLES.csv SUBMIT.err [LITTLE_BOUND]
           -> one JSON line: end-to-end and steady (10 %..90 % done) rows/s, RSS and threads
              after the first second (flatness), ratio to Little's bound when given.
   report: tools/job-summary.py report JOBS.jsonl -> medians per experiment, as Markdown."""
import csv
import json
import re
import statistics
import sys


def run(exp, run_no, rows, limit, samples, err, little=None):
    rows, limit = int(rows), int(limit)
    t, done, threads, rss = [], [], [], []
    for r in csv.DictReader(open(samples)):
        t.append(float(r["t_s"]))
        done.append(int(r["done"]))
        threads.append(int(r["threads"]))
        rss.append(int(r["rss_kib"]))
    text = open(err).read()
    m = re.search(r"job \d+ (\w+): (\d+) rows: (\d+) ok, (\d+) degraded, (\d+) failed, (\d+) skipped, "
                  r"(\d+) cancelled, (\d+) rejected; ([\d.]+) s, (\d+) rows/s", text)
    if not m:
        sys.exit(f"job-summary: no summary line in {err}: {text[-300:]}")
    out = {"exp": exp, "run": int(run_no), "rows": rows, "limit": limit, "state": m.group(1),
           "rows_done": int(m.group(2)), "ok": int(m.group(3)), "degraded": int(m.group(4)),
           "failed": int(m.group(5)), "wall_s": float(m.group(9)), "rows_per_s": int(m.group(10))}
    i10 = next((i for i, d in enumerate(done) if d >= rows * 0.1), None)
    i90 = next((i for i, d in enumerate(done) if d >= rows * 0.9), None)
    if i10 is not None and i90 is not None and t[i90] > t[i10]:
        out["steady_per_s"] = round((done[i90] - done[i10]) / (t[i90] - t[i10]))
    after = [i for i, x in enumerate(t) if x >= 1.0] or list(range(len(t)))
    out["rss_mib_min"] = round(min(rss[i] for i in after) / 1024, 1)
    out["rss_mib_max"] = round(max(rss[i] for i in after) / 1024, 1)
    out["threads_min"] = min(threads[i] for i in after)
    out["threads_max"] = max(threads[i] for i in after)
    out["samples"] = len(t)
    if little:
        out["little_bound_per_s"] = round(float(little))
        if "steady_per_s" in out:
            out["of_little"] = round(out["steady_per_s"] / float(little), 4)
    print(json.dumps(out))


def report(path):
    runs = [json.loads(line) for line in open(path) if line.strip()]
    by = {}
    for r in runs:
        by.setdefault(r["exp"], []).append(r)
    print("| experiment | runs | rows | limit | rows/s end to end | steady rows/s (10-90 %) "
          "| of Little | RSS MiB (min-max after 1 s) | threads |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for exp, rs in by.items():
        med = lambda k: statistics.median(r[k] for r in rs if k in r) if any(k in r for r in rs) else None
        lit = med("of_little")
        print(f"| {exp} | {len(rs)} | {rs[0]['rows']:,} | {rs[0]['limit']:,} "
              f"| {med('rows_per_s'):,.0f} | {med('steady_per_s') or 0:,.0f} "
              f"| {'' if lit is None else f'{lit:.1%}'} "
              f"| {min(r['rss_mib_min'] for r in rs)}-{max(r['rss_mib_max'] for r in rs)} "
              f"| {min(r['threads_min'] for r in rs)}-{max(r['threads_max'] for r in rs)} |")


if __name__ == "__main__":
    if sys.argv[1] == "run":
        run(*sys.argv[2:])
    else:
        report(sys.argv[2])
