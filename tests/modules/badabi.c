/* SPDX-License-Identifier: MIT */
/* A module built against another ABI: the loader must refuse it, naming the file. */
#include "fanoutd/module.h"

static int init(struct fo_mod *self)
{
	(void)self;
	return 0;
}

static const struct fo_limiter_ops ops;

__attribute__((visibility("default"))) const struct fo_module fo_module_descriptor = {
	.abi = FO_MODULE_ABI - 1,
	.signature = FO_MODULE_SIGNATURE,
	.size = sizeof(struct fo_module),
	.type = FO_MODULE_LIMITER,
	.name = "badabi",
	.version = "0",
	.init = init,
	.ops = &ops,
};
