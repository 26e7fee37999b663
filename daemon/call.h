/* SPDX-License-Identifier: MIT */
/*
 * The bridge between an engine branch (fo_branch) and a downstream module
 * call (fo_ds_call): started, answered and cancelled on one loop's thread,
 * whichever thread the engine admits or cancels the branch on. HTTP requests
 * and job rows both run their branches through it (route.c sets it up).
 */
#ifndef FOD_CALL_H
#define FOD_CALL_H

#include <stddef.h>

#include "fanoutd/fanout.h"

struct fo_ds_call;

struct fod_loop;
/*
 * What an HTTP request's branch calls carry from it: fo_unit_start()'s arg
 * for a FOD_WORK_HTTP configuration (the request owns it; it outlives the
 * unit's calls). request_id is its X-Request-Id, sent on by modules.
 */
struct fod_call_origin {
	struct fod_loop *loop;
	const char *request_id;
};
/*
 * The engine's start of a branch (fo_async_fn), as route.c configures it: an
 * HTTP request's (arg: its struct fod_call_origin) and a job row's (arg: the
 * struct fod_loop the call runs on; its calls have no request id). t->udata
 * is the route's struct fod_branch.
 */
void fod_call_start_http(struct fo_ctx *ctx, const struct fo_task *t, struct fo_branch *b,
			 void *arg);
void fod_call_start_job(struct fo_ctx *ctx, const struct fo_task *t, struct fo_branch *b,
			void *arg);

/* core->call_done for downstream modules (in the core API table). */
void fod_call_done(struct fo_ds_call *c, int err, const void *value, size_t len,
		   const char *errmsg);

#endif
