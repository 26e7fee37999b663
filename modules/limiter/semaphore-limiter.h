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
	.weighted = LIMITER_WEIGHTED,
	.set_limit = set_limit,
};

FO_MODULE_DEFINE(.type = FO_MODULE_LIMITER, .name = LIMITER_NAME, .version = "1", .init = init,
		 .fini = fini, .ops = &ops);
