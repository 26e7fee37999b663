/* SPDX-License-Identifier: MIT */
/*
 * Hedged branches (fanoutd.conf(5), a branch's `hedge` group): what a branch
 * hedges with and the budgets a hedge must pass. call.c sends the hedges;
 * this file holds their settings, the per-target token counts and the
 * branch's recent p95.
 *
 * A branch's call that has not answered by the hedge delay gets a copy (an
 * attempt) if the budgets allow, and another after each further delay, up to
 * max_attempts in all; the first good answer wins and the others are
 * cancelled. The delay is fixed (delay_ms) or the branch's recent p95: the
 * metrics histogram of its latency (fod_metrics_branch.latency) read as a
 * difference against a snapshot, over the last window of at least
 * FOD_HEDGE_WINDOW_NS and FOD_HEDGE_MIN_SAMPLES answers, refreshed by one
 * thread at a time (a trylock; the others read the last value, an atomic).
 */
#ifndef FOD_HEDGE_H
#define FOD_HEDGE_H

#include <libconfig.h>
#include <pthread.h>
#include <stdatomic.h>

#include "budget.h"
#include "metrics.h"

#define FOD_HEDGE_MAX_ATTEMPTS 5 /* gRPC's cap on maxAttempts */
#define FOD_HEDGE_WINDOW_NS    (1 * FO_SEC)
#define FOD_HEDGE_MIN_SAMPLES  100

struct fod_gen;
struct fod_route;
struct fod_branch;
struct fod_downstream;

/* One token count per downstream target (an http host:port, else the instance) and generation. */
struct fod_hedge_target {
	struct fod_hedge_target *next;
	const struct fod_downstream *ds;
	char *name; /* NULL: the instance */
	double max_tokens, token_ratio;
	const char *first_branch; /* the branch whose settings made it */
	struct fod_tokens tokens;
};

struct fod_hedge {
	int64_t delay_ns; /* 0: the recent p95 */
	unsigned max_attempts;
	struct fod_hedge_target *target;
	struct fod_share share;
	const struct fod_route *rt;
	/* The recent p95: the histogram at the window's start, and the last result. */
	pthread_mutex_t lock;
	unsigned long base[FOD_HIST_BUCKETS];
	int64_t base_ns;
	atomic_llong p95_ns; /* 0: not known yet (no hedge) */
	atomic_llong next_ns;
};

/*
 * Reads branch b's `hedge` group (entry e of rt's branches), if any, into
 * b->hedge, finding or making its target in g->hedge_targets. 0 or -EINVAL
 * (the error said through g's sink) or -ENOMEM.
 */
int fod_hedge_init(struct fod_gen *g, const struct fod_route *rt, struct fod_branch *b,
		   const config_setting_t *e);
void fod_hedge_free(struct fod_hedge *h);
void fod_hedge_targets_free(struct fod_gen *g);
/* The delay before the next hedge of a call of the branch, or -1 when none (p95 not known). */
int64_t fod_hedge_delay(struct fod_hedge *h, struct fod_metrics_branch *m, int64_t now);

#endif
