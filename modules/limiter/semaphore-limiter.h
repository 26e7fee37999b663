/* SPDX-License-Identifier: MIT */
/*
 * The body of the `fixed` and `weighted` limiter modules: one fo_sem shared
 * by every branch of the routes that name the limiter. They differ only in
 * whether branch weights count, so each module is this file with
 * LIMITER_NAME and LIMITER_WEIGHTED defined. Settings: limit (required).
 */
#include <errno.h>
#include <stdlib.h>

#include "fanoutd/module.h"

static struct fo_sem *sem_of(struct fo_mod *self)
{
	return self->state;
}

static int set_limit(struct fo_mod *self, int64_t limit, int64_t *taken)
{
	int r = fo_sem_resize(self->state, limit);
	*taken = fo_sem_size(self->state);
	return r;
}

static int init(struct fo_mod *self)
{
	int64_t limit = 0;
	if (fo_conf_int(self, self->conf, "limit", 1, 100000000, true, &limit) < 0)
		return -EINVAL;
	self->state = fo_sem_new(limit);
	return self->state ? 0 : -ENOMEM;
}

static void fini(struct fo_mod *self)
{
	fo_sem_free(self->state);
}

static const struct fo_limiter_ops ops = {
	.sem = sem_of,
	.weighted = LIMITER_WEIGHTED,
	.set_limit = set_limit,
};

FO_MODULE_DEFINE(.type = FO_MODULE_LIMITER, .name = LIMITER_NAME, .version = "1", .init = init,
		 .fini = fini, .ops = &ops);
