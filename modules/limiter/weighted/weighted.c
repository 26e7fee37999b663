/* SPDX-License-Identifier: MIT */
/*
 * weighted: a FIFO-fair weighted semaphore; each branch holds its route's
 * `weight` while it runs (a 4 MB task should not count like a 4 KB one).
 * A heavy branch at the head of the queue is not overtaken by light ones.
 * Settings: limit (required, in weight units).
 */
#include <errno.h>
#include <stdlib.h>

#include "fanoutd/module.h"

static struct fo_sem *sem_of(void *state)
{
	return state;
}

static int set_limit(void *state, int64_t limit)
{
	return fo_sem_resize(state, limit);
}

static int init(const struct fo_core_api *core, const config_setting_t *conf, void **state)
{
	long long limit = 0;
	if (core->conf_int(conf, "limit", 1, 100000000, true, &limit) < 0)
		return -EINVAL;
	*state = fo_sem_new(limit);
	return *state ? 0 : -ENOMEM;
}

static void fini(void *state)
{
	fo_sem_free(state);
}

static const struct fo_limiter_ops ops = {
	.sem = sem_of,
	.weighted = true,
	.set_limit = set_limit,
};

FO_MODULE_DEFINE(.type = FO_MODULE_LIMITER, .name = "weighted", .version = "1", .init = init,
		 .fini = fini, .ops = &ops);
