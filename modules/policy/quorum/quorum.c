/* SPDX-License-Identifier: MIT */
/*
 * quorum: a loadable partial-failure policy. The unit succeeds as soon as
 * `quorum` branches (a route setting, default a majority) have succeeded;
 * the rest are cancelled at that moment. It fails (502) once so many
 * branches have failed that the quorum can no longer be reached, and
 * cancels the rest then too. Results of failed branches are dropped.
 */
#include <errno.h>
#include <stdlib.h>

#include "fanoutd/module.h"

/* Parsed once per route by init(): every unit of the route gets it as params. */
struct params {
	size_t need; /* 0: a majority of the unit's branches */
};

struct state {
	size_t n, need, ok, failed;
};

static int pinit(void *state, size_t n, const void *params)
{
	struct state *st = state;
	const struct params *p = params;
	size_t need = p && p->need ? p->need : n / 2 + 1;
	if (need > n && n > 0)
		return -EINVAL; /* validated at load against the route; a defensive check */
	st->n = n;
	st->need = need;
	return 0;
}

static enum fo_verdict on_result(void *state, const struct fo_result *r)
{
	struct state *st = state;
	if (r->outcome == FO_OK) {
		if (++st->ok == st->need)
			return FO_CANCEL_REST;
	} else if (r->outcome != FO_CANCELLED || st->ok < st->need) {
		/* cancellations after the quorum are ours, not failures */
		if (++st->failed == st->n - st->need + 1 && st->ok < st->need)
			return FO_CANCEL_REST;
	}
	return FO_CONTINUE;
}

static int finish(void *state, const struct fo_report *rep)
{
	(void)rep;
	struct state *st = state;
	return st->ok >= st->need ? 0 : -EIO;
}

static const struct fo_policy policy = {
	.name = "quorum",
	.state_size = sizeof(struct state),
	.init = pinit,
	.on_result = on_result,
	.finish = finish,
	.deliver_failures = false,
};

/* The route's `quorum`: 1..its branch count, so a bad one is refused at (re)load. */
static int init(struct fo_mod *self)
{
	int64_t q = 0;
	int64_t max = self->route_branches ? (int64_t)self->route_branches : 1000000;
	if (fo_conf_int(self, self->conf, "quorum", 1, max, false, &q) < 0)
		return -EINVAL;
	struct params *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->need = (size_t)q;
	self->state = p;
	return 0;
}

static void fini(struct fo_mod *self)
{
	free(self->state);
}

FO_MODULE_DEFINE(.type = FO_MODULE_POLICY, .name = "quorum", .version = "2", .init = init,
		 .fini = fini, .ops = &policy);
