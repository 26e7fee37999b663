/* SPDX-License-Identifier: MIT */
/*
 * aimd: an adaptive limit, in the spirit of Netflix concurrency-limits' AIMD.
 * The limit grows by one per successful branch while at least half of it is
 * in use (no point growing an idle limit), and shrinks to limit x backoff on
 * a timeout, a shed branch or a latency over the threshold. It stays within
 * [min, max]. Branches cancelled for someone else's reason (a sibling failed,
 * the client left) never reach the feedback: the engine filters them.
 *
 * At most one decrease per round (a limit's worth of completions), as TCP
 * backs off once per window, not once per lost packet: with deadline-cut
 * stragglers a steady fraction of all branches (0.6 % of calls exceed 250 ms
 * in the brief's distribution), a decrease per event would drive the limit
 * to its minimum at any rate (measured: 2000 -> 200 within 3 s at 9,000
 * req/s) although nothing is overloaded.
 *
 * Settings: initial (required), min (1), max (initial x 10), backoff (0.9),
 * latency_threshold_ms (0 = latency is not a signal).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "fanoutd/module.h"

struct aimd {
	struct fo_sem *sem;
	pthread_mutex_t lock;
	double limit;	       /* fractional: backoff multiplies it */
	double since_decrease; /* completions since the last decrease */
	int64_t min, max;
	double backoff;
	int64_t threshold_ns;
};

static struct fo_sem *sem_of(struct fo_mod *self)
{
	return ((struct aimd *)self->state)->sem;
}

static void feedback(struct fo_mod *self, enum fo_outcome o, int64_t dur_ns)
{
	struct aimd *a = self->state;
	bool drop = o == FO_TIMEOUT || o == FO_SHED || o == FO_LOST ||
		    (a->threshold_ns && dur_ns > a->threshold_ns);
	pthread_mutex_lock(&a->lock);
	double before = a->limit;
	a->since_decrease += 1;
	if (drop) {
		if (a->since_decrease >= a->limit) {
			a->limit *= a->backoff;
			a->since_decrease = 0;
		}
	} else if (o == FO_OK && (double)fo_sem_in_use(a->sem) * 2 >= a->limit) {
		a->limit += 1; /* Netflix AIMDLimit: +1 per success while at least half is in use */
	}
	if (a->limit < (double)a->min)
		a->limit = (double)a->min;
	if (a->limit > (double)a->max)
		a->limit = (double)a->max;
	long long next = (long long)a->limit, prev = (long long)before;
	pthread_mutex_unlock(&a->lock);
	if (next != prev)
		fo_sem_resize(a->sem, next);
}

/* Outside [min, max] the limit is clamped into it; the caller hears what was taken. */
static int set_limit(struct fo_mod *self, int64_t limit, int64_t *taken)
{
	struct aimd *a = self->state;
	int64_t took = limit < a->min ? a->min : limit > a->max ? a->max : limit;
	pthread_mutex_lock(&a->lock);
	a->limit = (double)took;
	pthread_mutex_unlock(&a->lock);
	*taken = took;
	return fo_sem_resize(a->sem, took);
}

static int init(struct fo_mod *self)
{
	const struct fo_conf *conf = self->conf;
	int64_t initial = 0, min = 1, max = 0, threshold_ns = 0;
	double backoff = 0.9;
	if (fo_conf_int(self, conf, "initial", 1, 100000000, true, &initial) < 0 ||
	    fo_conf_int(self, conf, "min", 1, 100000000, false, &min) < 0)
		return -EINVAL;
	max = initial * 10;
	if (fo_conf_int(self, conf, "max", 1, 1000000000, false, &max) < 0 ||
	    fo_conf_double(self, conf, "backoff", 0.1, 0.99, false, &backoff) < 0 ||
	    fo_conf_ms(self, conf, "latency_threshold_ms", 0, 3600000, false, &threshold_ns) < 0)
		return -EINVAL;
	if (min > initial || initial > max) {
		fo_conf_error(self, conf, "aimd needs min <= initial <= max (%lld, %lld, %lld)",
			      (long long)min, (long long)initial, (long long)max);
		return -EINVAL;
	}
	struct aimd *a = calloc(1, sizeof(*a));
	if (!a || !(a->sem = fo_sem_new(initial))) {
		free(a);
		return -ENOMEM;
	}
	pthread_mutex_init(&a->lock, NULL);
	a->limit = (double)initial;
	a->since_decrease = (double)initial;
	a->min = min;
	a->max = max;
	a->backoff = backoff;
	a->threshold_ns = threshold_ns;
	self->state = a;
	return 0;
}

static void fini(struct fo_mod *self)
{
	struct aimd *a = self->state;
	fo_sem_free(a->sem);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

static const struct fo_limiter_ops ops = {
	.sem = sem_of,
	.weighted = false,
	.feedback = feedback,
	.set_limit = set_limit,
};

FO_MODULE_DEFINE(.type = FO_MODULE_LIMITER, .name = "aimd", .version = "1", .init = init,
		 .fini = fini, .ops = &ops);
