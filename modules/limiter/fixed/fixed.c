/* SPDX-License-Identifier: MIT */
/*
 * fixed: a counting semaphore shared by every branch of the routes that name
 * it. Every branch weighs 1. Settings: limit (required).
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
	.weighted = false,
	.set_limit = set_limit,
};

FO_MODULE_DEFINE(.type = FO_MODULE_LIMITER, .name = "fixed", .version = "1", .init = init,
		 .fini = fini, .ops = &ops);
