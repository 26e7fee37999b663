/* SPDX-License-Identifier: MIT */
/*
 * A module whose ABI date and signature match but whose fo_result is not the
 * daemon's (as when built against other headers or with other flags): the
 * loader must refuse it, naming the struct.
 */
#include "fanoutd/module.h"

static int init(struct fo_mod *self)
{
	(void)self;
	return 0;
}

static const struct fo_limiter_ops ops;

__attribute__((visibility("default"))) const struct fo_module fo_module_descriptor = {
	.abi = FO_MODULE_ABI,
	.signature = FO_MODULE_SIGNATURE,
	.size = sizeof(struct fo_module),
	.sizes = {sizeof(time_t), sizeof(struct fo_result) + 8, sizeof(struct fo_task),
		  sizeof(struct fo_report), sizeof(struct fo_config), sizeof(struct fo_policy),
		  sizeof(struct fo_sem_waiter), sizeof(struct fo_ctx_hook),
		  sizeof(struct fo_limiter_ops), sizeof(struct fo_downstream_ops),
		  sizeof(struct fo_ds_call), sizeof(struct fo_mod), sizeof(struct fo_timer),
		  sizeof(struct fo_io), sizeof(struct fo_post), sizeof(struct fo_metric_def)},
	.type = FO_MODULE_LIMITER,
	.name = "badsize",
	.version = "0",
	.init = init,
	.ops = &ops,
};
