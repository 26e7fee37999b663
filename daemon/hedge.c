/* SPDX-License-Identifier: MIT */
#include "hedge.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "generation.h"

/* Finds or makes the token count of b's downstream target; NULL after an error. */
static struct fod_hedge_target *target_for(struct fod_gen *g, const struct fod_branch *b,
					   const config_setting_t *hs, double max_tokens,
					   double ratio)
{
	const struct fod_downstream *ds = b->ds;
	const char *name = ds->ops->target
				   ? ds->ops->target((struct fo_mod *)&ds->in.self, b->ds_state)
				   : NULL;
	for (struct fod_hedge_target *t = g->hedge_targets; t; t = t->next) {
		if (t->ds != ds || (t->name == NULL) != (name == NULL) ||
		    (name && strcmp(t->name, name) != 0))
			continue;
		if (t->max_tokens != max_tokens || t->token_ratio != ratio) {
			fod_conf_error(
				g->sink, hs,
				"branch '%s': hedge max_tokens and token_ratio differ from "
				"branch '%s', which calls the same downstream (%s): there is "
				"one token count per downstream",
				b->name, t->first_branch, name ? name : "the instance");
			return NULL;
		}
		return t;
	}
	struct fod_hedge_target *t = calloc(1, sizeof(*t));
	if (!t || (name && !(t->name = strdup(name)))) {
		free(t);
		fod_conf_error(g->sink, hs, "out of memory");
		return NULL;
	}
	t->ds = ds;
	t->max_tokens = max_tokens;
	t->token_ratio = ratio;
	t->first_branch = b->name;
	fod_tokens_init(&t->tokens, max_tokens, ratio);
	t->next = g->hedge_targets;
	g->hedge_targets = t;
	return t;
}

int fod_hedge_init(struct fod_gen *g, const struct fod_route *rt, struct fod_branch *b,
		   const config_setting_t *e)
{
	const config_setting_t *hs = fod_conf_child(g->sink, e, "hedge");
	if (!hs)
		return 0;
	if (!config_setting_is_group(hs)) {
		fod_conf_error(g->sink, hs,
			       "'hedge' must be a group, like hedge = { delay_ms = \"p95\"; }");
		return -EINVAL;
	}
	int64_t delay = 0, attempts = 2;
	double max_tokens = 10, ratio = 0.1, share = 0.05;
	const config_setting_t *d = fod_conf_child(g->sink, hs, "delay_ms");
	if (!d) {
		fod_conf_error(g->sink, hs,
			       "'hedge' needs 'delay_ms': milliseconds, or \"p95\" (the branch's "
			       "recent p95)");
		return -EINVAL;
	}
	if (config_setting_type(d) == CONFIG_TYPE_STRING) {
		if (strcmp(config_setting_get_string(d), "p95") != 0) {
			fod_conf_error(g->sink, d,
				       "'delay_ms' must be milliseconds or \"p95\", not \"%s\"",
				       config_setting_get_string(d));
			return -EINVAL;
		}
	} else if (fod_conf_ms(g->sink, hs, "delay_ms", 1, 3600000, true, &delay) < 0) {
		return -EINVAL;
	}
	if (fod_conf_int(g->sink, hs, "max_attempts", 2, FOD_HEDGE_MAX_ATTEMPTS, false, &attempts) <
		    0 ||
	    fod_conf_double(g->sink, hs, "max_tokens", 0.001, 1000, false, &max_tokens) < 0 ||
	    fod_conf_double(g->sink, hs, "token_ratio", 0.001, 1000, false, &ratio) < 0 ||
	    fod_conf_double(g->sink, hs, "max_share", 0, 1, false, &share) < 0)
		return -EINVAL;
	struct fod_hedge *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	if (!(h->target = target_for(g, b, hs, max_tokens, ratio))) {
		free(h);
		return -EINVAL;
	}
	h->delay_ns = delay;
	h->max_attempts = (unsigned)attempts;
	h->rt = rt;
	fod_share_init(&h->share, share);
	pthread_mutex_init(&h->lock, NULL);
	/* The p95 window starts now: what the branch's series held before is not recent. */
	for (int i = 0; b->metrics && i < FOD_HIST_BUCKETS; i++)
		h->base[i] = atomic_load(&b->metrics->latency.bucket[i]);
	atomic_init(&h->p95_ns, 0);
	atomic_init(&h->next_ns, fo_now_ns() + FOD_HEDGE_WINDOW_NS);
	b->hedge = h;
	return 0;
}

void fod_hedge_free(struct fod_hedge *h)
{
	if (!h)
		return;
	pthread_mutex_destroy(&h->lock);
	free(h);
}

void fod_hedge_targets_free(struct fod_gen *g)
{
	for (struct fod_hedge_target *t = g->hedge_targets, *next; t; t = next) {
		next = t->next;
		free(t->name);
		free(t);
	}
	g->hedge_targets = NULL;
}

/* The p95 of a histogram difference (counts per bucket, n in all), interpolated in its bucket. */
static int64_t hedge_p95(const unsigned long *counts, unsigned long n)
{
	const double *bounds = fod_hist_bounds();
	unsigned long rank = (n * 95 + 99) / 100, cum = 0; /* the ceil(0.95 n)-th answer */
	for (int i = 0; n && i < FOD_HIST_BUCKETS; i++) {
		if (counts[i] && cum + counts[i] >= rank) {
			double lo = i ? bounds[i - 1] : 0;
			double hi = i < FOD_HIST_BUCKETS - 1 ? bounds[i] : lo; /* +Inf: its floor */
			double at = lo + (hi - lo) * (double)(rank - cum) / (double)counts[i];
			return (int64_t)(at * 1e9);
		}
		cum += counts[i];
	}
	return 0;
}

int64_t fod_hedge_delay(struct fod_hedge *h, struct fod_metrics_branch *m, int64_t now)
{
	if (h->delay_ns)
		return h->delay_ns;
	/* One refresher at a time; the others go on with the last p95. */
	if (m && now >= atomic_load_explicit(&h->next_ns, memory_order_relaxed) &&
	    pthread_mutex_trylock(&h->lock) == 0) {
		if (now >= atomic_load_explicit(&h->next_ns, memory_order_relaxed)) {
			unsigned long cur[FOD_HIST_BUCKETS], diff[FOD_HIST_BUCKETS], n = 0;
			for (int i = 0; i < FOD_HIST_BUCKETS; i++) {
				cur[i] = atomic_load_explicit(&m->latency.bucket[i],
							      memory_order_relaxed);
				diff[i] = cur[i] - h->base[i];
				n += diff[i];
			}
			/* Too few answers yet: the window grows until it has enough. */
			if (n >= FOD_HEDGE_MIN_SAMPLES) {
				int64_t p = hedge_p95(diff, n);
				atomic_store(&h->p95_ns, p > 0 ? p : 1);
				memcpy(h->base, cur, sizeof(cur));
			}
			atomic_store(&h->next_ns, now + FOD_HEDGE_WINDOW_NS);
		}
		pthread_mutex_unlock(&h->lock);
	}
	int64_t p = atomic_load_explicit(&h->p95_ns, memory_order_relaxed);
	return p > 0 ? p : -1;
}
