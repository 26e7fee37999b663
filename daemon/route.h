/* SPDX-License-Identifier: MIT */
/*
 * One fan-out over a route's branches, as HTTP requests and job rows both run
 * it: the engine configuration of a unit (fod_route_config) and the task of
 * each of its branches (fod_route_task).
 */
#ifndef FOD_ROUTE_H
#define FOD_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "fanoutd/fanout.h"

struct fod_route;

/*
 * The route's per-unit limit and budget rules, the policy (its params only
 * when it is the route's own), the route's global limiter (in the partition
 * of the work: HTTP requests or job rows) and its feedback, every branch an
 * async downstream call (call.c; a hedged branch's, with its hedges:
 * hedge.h). A FOD_WORK_HTTP unit's arg is a struct fod_call_origin
 * (call.h), a FOD_WORK_JOB unit's the loop.
 */
enum fod_work { FOD_WORK_HTTP, FOD_WORK_JOB };
struct fo_config fod_route_config(const struct fod_route *rt, const struct fo_policy *policy,
				  struct fo_pool *pool, enum fod_work work);
/* The task of the route's branch i (its name, timeout, weight if the limiter counts weights). */
struct fo_task fod_route_task(const struct fod_route *rt, size_t i, uint64_t id);

#endif
