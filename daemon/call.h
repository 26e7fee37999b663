/* SPDX-License-Identifier: MIT */
/*
 * The bridge between an engine branch (fo_branch) and a downstream module
 * call (fo_ds_call): started, answered and cancelled on one loop's thread,
 * whichever thread the engine admits or cancels the branch on. HTTP requests
 * and job rows both run their branches through it.
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
struct fod_route;
/*
 * One fan-out over a route's branches, as HTTP requests and job rows both
 * run it: the route's per-unit limit and budget rules, the policy (its
 * params only when it is the route's own), the route's global limiter (in
 * the partition of the work: HTTP requests or job rows) and its feedback,
 * every branch an async downstream call (a hedged branch's, with its
 * hedges: hedge.h). A FOD_WORK_HTTP unit's arg is a struct fod_call_origin,
 * a FOD_WORK_JOB unit's the loop.
 */
enum fod_work { FOD_WORK_HTTP, FOD_WORK_JOB };
struct fo_config fod_route_config(const struct fod_route *rt, const struct fo_policy *policy,
				  struct fo_pool *pool, enum fod_work work);
/* The task of the route's branch i (its name, timeout, weight if the limiter counts weights). */
struct fo_task fod_route_task(const struct fod_route *rt, size_t i, uint64_t id);

/* core->call_done for downstream modules (in the core API table). */
void fod_call_done(struct fo_ds_call *c, int err, const void *value, size_t len,
		   const char *errmsg);

#endif
