/* SPDX-License-Identifier: MIT */
#include "route.h"

#include "call.h"
#include "generation.h"

/* The engine's feedback, to the limiter instance's handle. */
static void limiter_feedback(void *arg, enum fo_outcome o, int64_t dur_ns)
{
	struct fod_limiter *l = arg;
	l->ops->feedback(&l->in.self, o, dur_ns);
}

struct fo_config fod_route_config(const struct fod_route *rt, const struct fo_policy *policy,
				  struct fo_pool *pool, enum fod_work work)
{
	struct fo_config cfg = {
		.limit = rt->limit ? rt->limit : (unsigned)rt->nbranches,
		.policy = policy,
		.policy_params = policy == rt->policy ? rt->policy_params : NULL,
		.ordered = true,
		.join_reserve_ns = rt->join_reserve_ns,
		.min_task_budget_ns = rt->min_branch_ns,
		/* HTTP requests' calls carry the request id; job rows' have none. */
		.start = work == FOD_WORK_HTTP ? fod_call_start_http : fod_call_start_job,
		.pool = pool,
	};
	if (rt->limiter) {
		cfg.global = fod_limiter_sem(rt->limiter);
		/* Unpartitioned, HTTP and jobs share partition 0. */
		if (rt->limiter->partitioned && work == FOD_WORK_JOB)
			cfg.global_partition = FOD_PARTITION_JOBS;
		if (rt->limiter->ops->feedback) {
			cfg.feedback = limiter_feedback;
			cfg.feedback_arg = rt->limiter;
		}
	}
	return cfg;
}

struct fo_task fod_route_task(const struct fod_route *rt, size_t i, uint64_t id)
{
	bool weighted = rt->limiter && rt->limiter->ops->weighted;
	return (struct fo_task){
		.id = id,
		.kind = rt->branches[i].name,
		.weight = weighted ? rt->branches[i].weight : 1,
		.timeout_ns = rt->branches[i].timeout_ns,
		.udata = &rt->branches[i],
	};
}
