#!/usr/bin/env python3
"""The canonical sim draw (include/fanoutd/sim.h, lib/sim.c, DESIGN.md section 6)
written out again, for tests that predict what fanoutd's sim endpoint answers:
  simdraw.py SEED BASE_MS P99_MS TAIL_RATE TAIL_MS ERR_RATE FAIL_INDEX ID BRANCH...
prints one line per (ID, BRANCH INDEX): "latency_ms fail tail"."""
import math
import sys

M = (1 << 64) - 1


def nxt(s):
    s = (s + 0x9E3779B97F4A7C15) & M
    z = s
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    return s, z ^ (z >> 31)


def mix(x):
    return nxt(x)[1]


def uniform(x):
    return ((x >> 11) + 1) / 9007199254740992.0


def draw(seed, base, p99, tail_rate, tail, err_rate, fail_index, id_, branch):
    s = mix(mix(mix(seed) ^ id_) ^ branch)
    s, a = nxt(s)
    s, e = nxt(s)
    s, u1 = nxt(s)
    s, u2 = nxt(s)
    fail = uniform(e) <= err_rate or branch == fail_index
    if uniform(a) <= tail_rate:
        return tail, fail, True
    lat = base
    if base > 0:
        add = p99 - base
        sigma = math.log(add / base) / 2.3263478740408408 if add > base else 0.0
        z = math.sqrt(-2.0 * math.log(uniform(u1))) * math.cos(2.0 * math.pi * uniform(u2))
        lat += math.exp(math.log(base) + sigma * z)
    return lat, fail, False


if __name__ == "__main__":
    seed, base, p99, rate, tail, err, fidx = sys.argv[1:8]
    for id_ in map(int, sys.argv[8].split(",")):
        for b in map(int, sys.argv[9:]):
            lat, fail, t = draw(int(seed), float(base), float(p99), float(rate), float(tail),
                                float(err), int(fidx), id_, b)
            print(f"{id_} {b} {lat:.6f} {int(fail)} {int(t)}")
