#!/usr/bin/env python3
"""Plots threads and RSS over a fo-bench run from its --csv samples (t_s,done,threads,rss_kib).
   tools/plot-stream.py OUT.png TITLE FILE.csv"""
import csv
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(out, title, path):
    t, done, threads, rss = [], [], [], []
    for row in csv.DictReader(open(path)):
        t.append(float(row["t_s"]))
        done.append(int(row["done"]) / 1e6)
        threads.append(int(row["threads"]))
        rss.append(int(row["rss_kib"]) / 1024)
    fig, ax = plt.subplots(3, 1, sharex=True, figsize=(7, 6))
    ax[0].plot(t, done)
    ax[0].set_ylabel("tasks done (M)")
    ax[1].step(t, threads, where="post")
    ax[1].set_ylabel("threads")
    ax[1].set_ylim(0, max(threads) + 2)
    ax[2].plot(t, rss)
    ax[2].set_ylabel("RSS (MiB)")
    ax[2].set_ylim(0, max(rss) * 1.5)
    ax[2].set_xlabel("seconds")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=90)


if __name__ == "__main__":
    main(*sys.argv[1:4])
