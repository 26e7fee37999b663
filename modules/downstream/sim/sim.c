/* SPDX-License-Identifier: MIT */
/*
 * sim: the canonical simulated downstream (DESIGN.md section 6). Each call
 * waits its drawn latency on a core timer of the call's own loop (no thread
 * per call), capped at the branch deadline, and answers with a
 * deterministic JSON value, or fails if the draw says so. Draws are a pure
 * function of (seed, unit id, branch index, attempt): a call's first attempt
 * draws the canonical (seed, id, branch), as the Go peer's gateway does; a
 * hedge (attempt n > 0) draws the same way under a seed of its own, so its
 * latency and failure are independent of the first's (a straggler's hedge is
 * usually fast), and it answers the same value.
 *
 * Settings, per branch in a `sim` group, else the route's `sim` group, else
 * defaults: seed (1), base_ms (5), p99_ms (200), tail_rate (0.001),
 * tail_ms (2000), err_rate (0). The route's `always_fail` list names
 * branches whose every call fails.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fanoutd/module.h"
#include "fanoutd/sim.h"

struct branch {
	struct fo_sim_params p;
};

struct call {
	struct fo_timer timer;
	struct fo_ds_call *dc;
	bool fail;
	bool cut; /* the deadline comes before the drawn latency */
};

static int read_group(struct fo_mod *self, const struct fo_conf *g, struct fo_sim_params *p)
{
	if (!g)
		return 0;
	int64_t seed = (int64_t)p->seed;
	if (fo_conf_int(self, g, "seed", 0, INT64_MAX, false, &seed) < 0 ||
	    fo_conf_ms(self, g, "base_ms", 0, 3600000, false, &p->base_ns) < 0 ||
	    fo_conf_ms(self, g, "p99_ms", 0, 3600000, false, &p->p99_ns) < 0 ||
	    fo_conf_ms(self, g, "tail_ms", 0, 3600000, false, &p->tail_ns) < 0 ||
	    fo_conf_double(self, g, "tail_rate", 0, 1, false, &p->tail_rate) < 0 ||
	    fo_conf_double(self, g, "err_rate", 0, 1, false, &p->err_rate) < 0)
		return -EINVAL;
	p->seed = (uint64_t)seed;
	return 0;
}

static int branch_init(struct fo_mod *self, const struct fo_conf *branch, unsigned index,
		       void **out)
{
	struct branch *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	fo_sim_defaults(&b->p);
	/* branch -> branches list -> route */
	const struct fo_conf *route = fo_conf_parent(self, fo_conf_parent(self, branch));
	if (read_group(self, fo_conf_child(self, route, "sim"), &b->p) < 0 ||
	    read_group(self, fo_conf_child(self, branch, "sim"), &b->p) < 0) {
		free(b);
		return -EINVAL;
	}
	const struct fo_conf *fails = fo_conf_child(self, route, "always_fail");
	const char *name = NULL;
	if (fo_conf_string(self, branch, "name", 0, true, &name) < 0) {
		free(b);
		return -EINVAL;
	}
	for (unsigned i = 0; fails && i < fo_conf_length(self, fails); i++) {
		const char *f = NULL;
		if (fo_conf_string(self, fo_conf_elem(self, fails, i), NULL, 0, true, &f) < 0) {
			free(b);
			return -EINVAL;
		}
		if (strcmp(f, name) == 0 && index < 64)
			b->p.fail_mask |= UINT64_C(1) << index;
	}
	*out = b;
	return 0;
}

static void branch_fini(struct fo_mod *self, void *bs)
{
	(void)self;
	free(bs);
}

/* The deterministic value a branch "returns": a small JSON object. */
static int value(char *buf, size_t len, uint64_t id, unsigned branch)
{
	uint64_t h = fo_splitmix_mix(id ^ ((uint64_t)branch << 56));
	return snprintf(buf, len, "{\"v\":%llu}", (unsigned long long)(h % 1000000));
}

static void fired(struct fo_mod *self, struct fo_timer *t)
{
	(void)self;
	struct call *k = t->udata;
	struct fo_ds_call *dc = k->dc;
	if (k->cut) {
		fo_call_done(dc, -ETIMEDOUT, NULL, 0, "sim: deadline before the answer");
	} else if (k->fail) {
		fo_call_done(dc, -EIO, NULL, 0, "sim: injected downstream error");
	} else {
		char v[64];
		int n = value(v, sizeof(v), dc->task->id, dc->branch);
		fo_call_done(dc, 0, v, (size_t)n, NULL);
	}
}

static void start(struct fo_mod *self, struct fo_ds_call *c)
{
	struct branch *b = c->branch_state;
	struct call *k = c->priv;
	struct fo_sim_params p = b->p;
	if (c->attempt > 0) /* the golden-ratio step keeps (seed, attempt) pairs apart */
		p.seed = fo_splitmix_mix(b->p.seed ^ (UINT64_C(0x9e3779b97f4a7c15) * c->attempt));
	struct fo_sim_draw d = fo_sim_draw(&p, c->task->id, c->branch);
	int64_t now = fo_now_ns(), at = now + d.latency_ns;
	k->dc = c;
	k->fail = d.fail;
	if (c->deadline_ns != FO_NO_DEADLINE && c->deadline_ns < at) {
		at = c->deadline_ns;
		k->cut = true;
	}
	k->timer.udata = k;
	fo_timer_start(self, c->loop, &k->timer, at, fired);
}

static void cancel(struct fo_mod *self, struct fo_ds_call *c)
{
	struct call *k = c->priv;
	fo_timer_stop(self, &k->timer);
	fo_call_done(c, -ECANCELED, NULL, 0, "sim: cancelled");
}

static const struct fo_downstream_ops ops = {
	.call_size = sizeof(struct call),
	.branch_init = branch_init,
	.branch_fini = branch_fini,
	.start = start,
	.cancel = cancel,
};

FO_MODULE_DEFINE(.type = FO_MODULE_DOWNSTREAM, .name = "sim", .version = "3", .ops = &ops);
