/* SPDX-License-Identifier: MIT */
/*
 * One branch's life, the same for units and streams, blocking and async:
 * budget -> context -> start -> done -> classify, release the global slot,
 * tell the limiter, release the context -> owner's finish().
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

atomic_long fo__live_branches;

long fo_live_branches(void)
{
	return atomic_load(&fo__live_branches);
}

struct fo_pool *fo__cfg_pool(const struct fo_config *cfg)
{
	return cfg->pool ? cfg->pool : fo_pool_default();
}

int fo__branch_budget(const struct fo_config *cfg, const struct fo_task *t, struct fo_ctx *parent,
		      int64_t *nowp, int64_t *deadline)
{
	int64_t dl = fo_ctx_deadline(parent);
	int64_t timeout = t && t->timeout_ns > 0 ? t->timeout_ns : cfg->per_task_timeout_ns;
	if (dl == FO_NO_DEADLINE && timeout <= 0) {
		*deadline = dl; /* nothing to budget: no clock read on the hot path */
		return 0;
	}
	if (!*nowp)
		*nowp = fo_now_ns();
	int64_t now = *nowp;
	if (dl != FO_NO_DEADLINE) {
		/* The join needs its reserve; a branch that cannot get its minimum is not started.
		 */
		dl -= cfg->join_reserve_ns;
		if (dl <= now || dl - now < cfg->min_task_budget_ns)
			return -ETIMEDOUT;
	}
	if (timeout > 0)
		dl = FO_MIN(dl, now + timeout);
	*deadline = dl;
	return 0;
}

static void branch_end(struct fo_branch *b)
{
	struct fo_result *r = &b->res;
	r->dur_ns = fo_now_ns() - b->start_ns;
	fo__settle(r, b->ctx);
	if (b->holds_global) {
		if (b->cfg->feedback && fo__feedback_worthy(r->outcome, fo_ctx_cause(b->ctx)))
			b->cfg->feedback(b->cfg->feedback_arg, r->outcome, r->dur_ns);
		fo_sem_release_in(b->cfg->global, b->cfg->global_partition, b->weight);
		b->holds_global = false;
	}
	fo_ctx_unref(b->ctx);
	b->ctx = NULL;
	atomic_fetch_sub_explicit(&fo__live_branches, 1, memory_order_relaxed);
	b->finish(b);
}

static void run_blocking(struct fo_job *job)
{
	struct fo_branch *b = (struct fo_branch *)job;
	int r = b->fn(b->ctx, b->task, &b->res, b->arg);
	if (r == 0)
		r = b->res.err;
	b->res.err = r;
	branch_end(b);
}

void fo_branch_done(struct fo_branch *b, int err, const void *value, size_t len, const char *errmsg)
{
	if (err == 0 && len > 0 && fo_result_set(&b->res, value, len) < 0) {
		err = -ENOMEM;
		errmsg = "out of memory storing the result";
	}
	b->res.err = err;
	b->res.errmsg = errmsg;
	branch_end(b);
}

static void res_init(struct fo_branch *b)
{
	memset(&b->res, 0, sizeof(b->res));
	b->res.task_id = b->task->id;
	b->res.index = b->index;
	b->res.udata = b->task->udata;
}

void fo__branch_not_started(struct fo_branch *b, enum fo_outcome o, int err)
{
	res_init(b);
	b->res.outcome = o;
	b->res.err = err;
}

void fo__branch_launch(struct fo_branch *b, struct fo_ctx *parent, int64_t now)
{
	res_init(b);
	b->ctx = b->deadline < fo_ctx_deadline(parent) ? fo_ctx_child(parent, b->deadline)
						       : fo_ctx_ref(parent);
	struct fo_pool *pool = b->cfg->start ? NULL : fo__cfg_pool(b->cfg);
	b->start_ns = now ? now : fo_now_ns();
	atomic_fetch_add_explicit(&fo__live_branches, 1, memory_order_relaxed);
	if (!b->ctx || (!b->cfg->start && !pool)) {
		b->res.errmsg = "out of memory starting the branch";
		b->res.err = -ENOMEM;
		if (!b->ctx)
			b->ctx = fo_ctx_ref(parent);
		branch_end(b);
		return;
	}
	if (b->cfg->start) {
		b->cfg->start(b->ctx, b->task, b, b->arg);
	} else {
		b->job.fn = run_blocking;
		fo_pool_submit(pool, &b->job);
	}
}
