/* SPDX-License-Identifier: MIT */
/* A module whose init fails: the config must be refused and nothing stay half-loaded. */
#include <errno.h>

#include "fanoutd/module.h"

static int init(const struct fo_core_api *core, const config_setting_t *conf, void **state)
{
	(void)core;
	(void)conf;
	(void)state;
	return -EIO;
}

static const struct fo_limiter_ops ops;

FO_MODULE_DEFINE(.type = FO_MODULE_LIMITER, .name = "failinit", .version = "1", .init = init,
		 .ops = &ops);
