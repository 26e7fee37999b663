/* SPDX-License-Identifier: MIT */
/*
 * The canonical simulated downstream (DESIGN.md section 6): every draw is a
 * pure function of (seed, unit id, branch index), so the same seed gives the
 * same stragglers and failures whatever the scheduling, and the same draws
 * as the Go peer (peers/go-ref/pkg/sim), so figures compare like for like.
 */
#include <math.h>
#include <string.h>

#include "internal.h"
#include "fanoutd/sim.h"

#define GOLDEN UINT64_C(0x9e3779b97f4a7c15)
/* The standard normal 99th percentile. */
#define Z99 2.3263478740408408

/* (0, 1]: never 0, so log(u) is finite. */
static double uniform(uint64_t x)
{
	return (double)((x >> 11) + 1) / 9007199254740992.0;
}

void fo_sim_defaults(struct fo_sim_params *p)
{
	memset(p, 0, sizeof(*p));
	p->base_ns = 5 * FO_MSEC;
	p->p99_ns = 200 * FO_MSEC;
	p->tail_rate = 0.001;
	p->tail_ns = 2 * FO_SEC;
}

static double sigma(const struct fo_sim_params *p)
{
	int64_t add = p->p99_ns - p->base_ns;
	if (p->base_ns <= 0 || add <= p->base_ns)
		return 0.0;
	return log((double)add / (double)p->base_ns) / Z99;
}

struct fo_sim_draw fo_sim_draw(const struct fo_sim_params *p, uint64_t id, unsigned branch)
{
	uint64_t s = fo_splitmix_mix(fo_splitmix_mix(fo_splitmix_mix(p->seed) ^ id) ^ branch);
	double u_tail = uniform(fo_splitmix_next(&s));
	double u_err = uniform(fo_splitmix_next(&s));
	double u1 = uniform(fo_splitmix_next(&s));
	double u2 = uniform(fo_splitmix_next(&s));
	struct fo_sim_draw d = {
		.fail = u_err <= p->err_rate || (branch < 64 && (p->fail_mask >> branch) & 1),
	};
	if (u_tail <= p->tail_rate) {
		d.latency_ns = p->tail_ns;
		d.tail = true;
		return d;
	}
	double lat = (double)p->base_ns;
	if (p->base_ns > 0) {
		double z = sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2); /* Box-Muller */
		lat += exp(log((double)p->base_ns) + sigma(p) * z);
	}
	d.latency_ns = (int64_t)lat;
	return d;
}

double fo_sim_mean_ns(const struct fo_sim_params *p)
{
	double body = (double)p->base_ns;
	if (p->base_ns > 0) {
		double sg = sigma(p);
		body += exp(log((double)p->base_ns) + sg * sg / 2.0);
	}
	return (1.0 - p->tail_rate) * body + p->tail_rate * (double)p->tail_ns;
}

void fo_digest16(const void *buf, size_t len, uint8_t out[16])
{
	const unsigned char *b = buf;
	uint64_t h = (uint64_t)len ^ GOLDEN;
	for (; len >= 8; b += 8, len -= 8) {
		uint64_t w;
		memcpy(&w, b, 8); /* little-endian hosts only, as the Go peer's encoding */
		h = fo_splitmix_mix(h ^ w);
	}
	for (; len > 0; b++, len--)
		h = fo_splitmix_mix(h ^ *b);
	uint64_t h2 = fo_splitmix_mix(h);
	memcpy(out, &h, 8);
	memcpy(out + 8, &h2, 8);
}
