/* SPDX-License-Identifier: MIT */
/* A module whose init fails: the config must be refused and nothing stay half-loaded. */
#include <errno.h>

#include "fanoutd/module.h"

static int init(struct fo_mod *self)
{
	(void)self;
	return -EIO;
}

static const struct fo_limiter_ops ops;

FO_MODULE_DEFINE(.type = FO_MODULE_LIMITER, .name = "failinit", .version = "1", .init = init,
		 .ops = &ops);
