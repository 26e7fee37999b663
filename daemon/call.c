/* SPDX-License-Identifier: MIT */
#include "call.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "fanoutd/module.h"
#include "gen.h"
#include "loop.h"

struct call {
	struct fo_ds_call c; /* first: the module sees only this */
	struct fod_task start_task, cancel_task;
	struct fo_ctx_hook hook;
	struct fo_ctx *ctx;
	struct fo_branch *b;
	const struct fod_branch *branch;
	atomic_int refs; /* unfinished + each pending cancel */
	bool started, done;
};

static void call_put(struct call *k)
{
	if (atomic_fetch_sub(&k->refs, 1) == 1)
		free(k);
}

void fod_call_done(struct fo_ds_call *c, int err, const void *value, size_t len, const char *errmsg)
{
	struct call *k = (struct call *)c;
	if (k->done)
		return;
	k->done = true;
	fo_ctx_hook_del(k->ctx, &k->hook); /* before the engine releases the context */
	fo_branch_done(k->b, err, value, len, errmsg);
	call_put(k);
}

static void call_start(struct fod_task *t)
{
	struct call *k = (struct call *)((char *)t - offsetof(struct call, start_task));
	k->started = true;
	if (fo_ctx_done(k->ctx)) {
		fod_call_done(&k->c, fo_ctx_err(k->ctx), NULL, 0, NULL);
		return;
	}
	k->branch->ds->ops->start(k->c.self, &k->c);
}

static void call_cancel(struct fod_task *t)
{
	struct call *k = (struct call *)((char *)t - offsetof(struct call, cancel_task));
	/* Not started yet: its start sees the ended context and answers. */
	if (k->started && !k->done)
		k->branch->ds->ops->cancel(k->c.self, &k->c);
	call_put(k);
}

static void call_ctx_ended(struct fo_ctx_hook *h, enum fo_cause cause)
{
	(void)cause;
	struct call *k = (struct call *)((char *)h - offsetof(struct call, hook));
	atomic_fetch_add(&k->refs, 1);
	k->cancel_task.fn = call_cancel;
	fod_loop_post((struct fod_loop *)k->c.loop, &k->cancel_task); /* the call's own loop */
}

/*
 * An fo_async_fn: t->udata is the route's struct fod_branch, arg the struct
 * fod_loop the call runs on.
 */
static void fod_call_start(struct fo_ctx *ctx, const struct fo_task *t, struct fo_branch *b,
			   void *arg)
{
	struct fod_loop *loop = arg;
	const struct fod_branch *br = t->udata;
	struct call *k = calloc(1, sizeof(*k) + br->ds->ops->call_size);
	if (!k) {
		fo_branch_done(b, -ENOMEM, NULL, 0, "out of memory");
		return;
	}
	k->c.self = &br->ds->in.self;
	k->c.loop = (struct fo_loop *)loop;
	k->c.task = t;
	k->c.branch = br->index;
	k->c.deadline_ns = fo_ctx_deadline(ctx);
	k->c.branch_state = br->ds_state;
	k->c.priv = k + 1;
	k->ctx = ctx;
	k->b = b;
	k->branch = br;
	atomic_init(&k->refs, 1);
	k->hook.fn = call_ctx_ended;
	k->start_task.fn = call_start;
	fo_ctx_hook_add(ctx, &k->hook); /* refused if ended: call_start sees it */
	if (fod_loop_self() == loop)
		call_start(&k->start_task);
	else
		fod_loop_post(loop, &k->start_task);
}

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
		.start = fod_call_start,
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
