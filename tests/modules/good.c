/* SPDX-License-Identifier: MIT */
/* A well-formed limiter module for the loader tests. */
#include <errno.h>

#include "fanoutd/module.h"

static struct fo_sem *sem_of(void *state)
{
	return state;
}

static int init(const struct fo_core_api *core, const config_setting_t *conf, void **state)
{
	(void)core;
	(void)conf;
	*state = fo_sem_new(7);
	return *state ? 0 : -ENOMEM;
}

static void fini(void *state)
{
	fo_sem_free(state);
}

static const struct fo_limiter_ops ops = {.sem = sem_of};

FO_MODULE_DEFINE(.type = FO_MODULE_LIMITER, .name = "good", .version = "1", .init = init,
		 .fini = fini, .ops = &ops);
