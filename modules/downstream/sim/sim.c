/* SPDX-License-Identifier: MIT */
/*
 * sim: the canonical simulated downstream (DESIGN.md section 6). Each call
 * waits its drawn latency on a libev timer of the request's own loop (no
 * thread per call), capped at the branch deadline, and answers with a
 * deterministic JSON value, or fails if the draw says so. Draws are a pure
 * function of (seed, unit id, branch index): the Go peer's gateway draws the
 * same.
 *
 * Settings, per branch in a `sim` group, else the route's `sim` group, else
 * defaults: seed (1), base_ms (5), p99_ms (200), tail_rate (0.001),
 * tail_ms (2000), err_rate (0). The route's `always_fail` list names
 * branches whose every call fails.
 */
#include <errno.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fanoutd/module.h"
#include "fanoutd/sim.h"

/*
 * The core table lives in the instance and each branch: a module-wide static
 * rewritten by every reload's init would race with the loops reading it.
 */
struct branch {
	const struct fo_core_api *core;
	struct fo_sim_params p;
};

struct call {
	ev_timer timer; /* first: the timer callback finds its call */
	struct fo_ds_call *dc;
	bool fail;
	bool cut; /* the deadline comes before the drawn latency */
};

static int read_group(const struct fo_core_api *core, const config_setting_t *g,
		      struct fo_sim_params *p)
{
	if (!g)
		return 0;
	long long seed = (long long)p->seed, base = p->base_ns / FO_MSEC, p99 = p->p99_ns / FO_MSEC,
		  tail = p->tail_ns / FO_MSEC;
	if (core->conf_int(g, "seed", 0, INT64_MAX, false, &seed) < 0 ||
	    core->conf_int(g, "base_ms", 0, 3600000, false, &base) < 0 ||
	    core->conf_int(g, "p99_ms", 0, 3600000, false, &p99) < 0 ||
	    core->conf_int(g, "tail_ms", 0, 3600000, false, &tail) < 0 ||
	    core->conf_double(g, "tail_rate", 0, 1, false, &p->tail_rate) < 0 ||
	    core->conf_double(g, "err_rate", 0, 1, false, &p->err_rate) < 0)
		return -EINVAL;
	p->seed = (uint64_t)seed;
	p->base_ns = base * FO_MSEC;
	p->p99_ns = p99 * FO_MSEC;
	p->tail_ns = tail * FO_MSEC;
	return 0;
}

static int branch_init(void *state, const config_setting_t *branch, unsigned index, void **out)
{
	const struct fo_core_api *core = state;
	struct branch *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->core = core;
	fo_sim_defaults(&b->p);
	/* branch -> branches list -> route */
	const config_setting_t *route = config_setting_parent(config_setting_parent(branch));
	if (read_group(core, route ? config_setting_get_member(route, "sim") : NULL, &b->p) < 0 ||
	    read_group(core, config_setting_get_member(branch, "sim"), &b->p) < 0) {
		free(b);
		return -EINVAL;
	}
	const config_setting_t *fails =
		route ? config_setting_get_member(route, "always_fail") : NULL;
	const char *name = NULL;
	config_setting_lookup_string(branch, "name", &name);
	for (int i = 0; fails && name && i < config_setting_length(fails); i++) {
		const char *f = config_setting_get_string_elem(fails, i);
		if (f && strcmp(f, name) == 0 && index < 64)
			b->p.fail_mask |= UINT64_C(1) << index;
	}
	*out = b;
	return 0;
}

static void branch_fini(void *bs)
{
	free(bs);
}

/* The deterministic value a branch "returns": a small JSON object. */
static int value(char *buf, size_t len, uint64_t id, unsigned branch)
{
	uint64_t h = fo_splitmix_mix(id ^ ((uint64_t)branch << 56));
	return snprintf(buf, len, "{\"v\":%llu}", (unsigned long long)(h % 1000000));
}

static void fired(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	struct call *k = (struct call *)w;
	struct fo_ds_call *dc = k->dc;
	const struct fo_core_api *core = ((struct branch *)dc->branch_state)->core;
	ev_timer_stop(loop, w);
	if (k->cut) {
		core->call_done(dc, -ETIMEDOUT, NULL, 0, "sim: deadline before the answer");
	} else if (k->fail) {
		core->call_done(dc, -EIO, NULL, 0, "sim: injected downstream error");
	} else {
		char v[64];
		int n = value(v, sizeof(v), dc->task->id, dc->branch);
		core->call_done(dc, 0, v, (size_t)n, NULL);
	}
}

static void start(struct fo_ds_call *c)
{
	struct branch *b = c->branch_state;
	struct call *k = c->priv;
	struct fo_sim_draw d = fo_sim_draw(&b->p, c->task->id, c->branch);
	int64_t wait = d.latency_ns;
	int64_t left = c->deadline_ns == FO_NO_DEADLINE ? INT64_MAX : c->deadline_ns - fo_now_ns();
	k->dc = c;
	k->fail = d.fail;
	if (left < wait) {
		wait = left > 0 ? left : 0;
		k->cut = true;
	}
	ev_now_update(c->loop);
	ev_timer_init(&k->timer, fired, (double)wait / 1e9, 0.);
	ev_timer_start(c->loop, &k->timer);
}

static void cancel(struct fo_ds_call *c)
{
	struct call *k = c->priv;
	ev_timer_stop(c->loop, &k->timer);
	((struct branch *)c->branch_state)
		->core->call_done(c, -ECANCELED, NULL, 0, "sim: cancelled");
}

static int init(const struct fo_core_api *api, const config_setting_t *conf, void **state)
{
	(void)conf;
	*state = (void *)api; /* the instance state: the core table, for branch_init */
	return 0;
}

static const struct fo_downstream_ops ops = {
	.call_size = sizeof(struct call),
	.branch_init = branch_init,
	.branch_fini = branch_fini,
	.start = start,
	.cancel = cancel,
};

FO_MODULE_DEFINE(.type = FO_MODULE_DOWNSTREAM, .name = "sim", .version = "1", .init = init,
		 .ops = &ops);
