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

static void start(struct fo_mod *self, struct fo_ds_call *c)
{
	(void)self;
	uint8_t digest[16];
	fo_digest16(c->task->payload, c->task->len, digest);
	fo_call_done(c, 0, digest, sizeof(digest), NULL);
}

static void cancel(struct fo_mod *self, struct fo_ds_call *c)
{
	(void)self;
	(void)c; /* never reached: a call has ended before start returns */
}

static const struct fo_downstream_ops ops = {
	.call_size = 0,
	.start = start,
	.cancel = cancel,
};

FO_MODULE_DEFINE(.type = FO_MODULE_DOWNSTREAM, .name = "echo", .version = "2", .ops = &ops);
