/* SPDX-License-Identifier: MIT */
/*
 * echo: the instant downstream. Each call answers inside its own start, on
 * the calling loop, with a 16-byte digest of the task's payload (the brief's
 * "noop" work, the Go peer's Digest16): no timer, no I/O. It measures what
 * the engine and the socket cost per row when the downstream costs nothing.
 * No settings.
 */
#include <errno.h>

#include "fanoutd/module.h"
#include "fanoutd/sim.h"

static void start(struct fo_ds_call *c)
{
	const struct fo_core_api *core = c->branch_state;
	uint8_t digest[16];
	fo_digest16(c->task->payload, c->task->len, digest);
	core->call_done(c, 0, digest, sizeof(digest), NULL);
}

static void cancel(struct fo_ds_call *c)
{
	(void)c; /* never reached: a call has ended before start returns */
}

static int branch_init(void *state, const config_setting_t *branch, unsigned index, void **out)
{
	(void)branch;
	(void)index;
	*out = state; /* the core table */
	return 0;
}

static void branch_fini(void *bs)
{
	(void)bs;
}

static int init(const struct fo_core_api *api, const config_setting_t *conf, void **state)
{
	(void)conf;
	*state = (void *)api;
	return 0;
}

static const struct fo_downstream_ops ops = {
	.call_size = 0,
	.branch_init = branch_init,
	.branch_fini = branch_fini,
	.start = start,
	.cancel = cancel,
};

FO_MODULE_DEFINE(.type = FO_MODULE_DOWNSTREAM, .name = "echo", .version = "1", .init = init,
		 .ops = &ops);
