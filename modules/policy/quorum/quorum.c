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

struct state {
	size_t n, need, ok, failed;
};

static int pinit(void *state, size_t n, const void *params)
{
	struct state *st = state;
	int need = (int)(n / 2 + 1);
	/* params: the route's setting (fanoutd passes it); validated at load by init() */
	if (params)
		config_setting_lookup_int(params, "quorum", &need);
	if (need < 1 || ((size_t)need > n && n > 0))
		return -EINVAL;
	st->n = n;
	st->need = (size_t)need;
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

static int init(const struct fo_core_api *core, const config_setting_t *conf, void **state)
{
	long long q = 1;
	/* Validate the route's setting now, so a bad quorum is refused at (re)load. */
	if (conf && core->conf_int(conf, "quorum", 1, 1000000, false, &q) < 0)
		return -EINVAL;
	*state = NULL;
	return 0;
}

FO_MODULE_DEFINE(.type = FO_MODULE_POLICY, .name = "quorum", .version = "1", .init = init,
		 .ops = &policy);
