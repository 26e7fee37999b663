#!/usr/bin/env python3
"""Samples a fanoutd process every 100 ms while a job runs: its threads and
RSS (from /proc) and the job's rows done (fanoutctl jobs), as CSV
t_s,done,threads,rss_kib (tools/plot-stream.py plots it). Stops when PID
exits or when the file STOP appears.
   tools/job-sampler.py PID FANOUTCTL SOCKET OUT.csv STOPFILE"""
import json
import os
import subprocess
import sys
import time


def proc(pid):
    threads = rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                threads = int(line.split()[1])
            elif line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return threads, rss


def main(pid, fanoutctl, sock, out, stop):
    t0 = time.monotonic()
    done = 0
    with open(out, "w") as f:
        f.write("t_s,done,threads,rss_kib\n")
        while not os.path.exists(stop):
            t = time.monotonic()
            try:
                threads, rss = proc(pid)
            except OSError:
                break
            r = subprocess.run([fanoutctl, "-s", sock, "--json", "jobs"], capture_output=True,
                               text=True)
            if r.returncode == 0:
                jobs = json.loads(r.stdout)
                if jobs:
                    done = sum(j["rows_done"] for j in jobs)
            f.write(f"{t - t0:.3f},{done},{threads},{rss}\n")
            f.flush()
            time.sleep(max(0, 0.1 - (time.monotonic() - t)))


if __name__ == "__main__":
    main(*sys.argv[1:6])
