/* SPDX-License-Identifier: MIT */
/*
 * The canonical sim downstream as async branches on one libev loop thread:
 * each branch is a timer, not a thread. Branches may be started from any
 * thread; they are handed to the loop through a queue and an ev_async.
 * Cancellation (the branch context ending) stops the timer at once.
 */
#ifndef FO_EVSIM_H
#define FO_EVSIM_H

#include "fanoutd/fanout.h"
#include "fanoutd/sim.h"

struct evsim;

/* Starts the loop thread; draws come from params (unit id = task id, branch 0). */
struct evsim *evsim_new(const struct fo_sim_params *params);
/* Stops the loop thread; every branch must have ended. */
void evsim_free(struct evsim *es);
/* An fo_async_fn: arg is the evsim. The value is the 16-byte digest of the payload. */
void evsim_start(struct fo_ctx *ctx, const struct fo_task *t, struct fo_branch *b, void *arg);

#endif
