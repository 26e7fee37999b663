/* SPDX-License-Identifier: MIT */
/*
 * The canonical simulated downstream (DESIGN.md section 6) and the Go peer's
 * digest: deterministic draws shared by the sim module, the benchmarks and
 * the tests, so the same seed gives the same latencies and failures
 * everywhere. Part of libfanout, apart from the executor's API (fanout.h).
 */
#ifndef FANOUTD_SIM_H
#define FANOUTD_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The canonical deterministic downstream model (DESIGN.md section 6). */
struct fo_sim_params {
	uint64_t seed;
	int64_t base_ns;    /* default 5 ms */
	int64_t p99_ns;	    /* default 200 ms */
	double tail_rate;   /* default 0.001 */
	int64_t tail_ns;    /* default 2 s */
	double err_rate;    /* 0, 0.01, 0.1 */
	uint64_t fail_mask; /* branches (by index < 64) that always fail */
};
struct fo_sim_draw {
	int64_t latency_ns;
	bool fail;
	bool tail;
};
void fo_sim_defaults(struct fo_sim_params *p);
/* One draw for (unit id, branch index): a pure function of the parameters. */
struct fo_sim_draw fo_sim_draw(const struct fo_sim_params *p, uint64_t id, unsigned branch);
/* The model's analytic mean latency in nanoseconds. */
double fo_sim_mean_ns(const struct fo_sim_params *p);
/* splitmix64: advances *state and returns the next output (inline: it is the hot loop). */
static inline uint64_t fo_splitmix_next(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}
/* One splitmix64 step from x: a 64-bit hash of x. */
static inline uint64_t fo_splitmix_mix(uint64_t x)
{
	return fo_splitmix_next(&x);
}
/* The Go peer's Digest16: a 16-byte hash of buf (the "noop" task's work). */
void fo_digest16(const void *buf, size_t len, uint8_t out[16]);

#ifdef __cplusplus
}
#endif
#endif
