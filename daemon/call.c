/* SPDX-License-Identifier: MIT */
#include "call.h"

#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "fanoutd/module.h"
#include "generation.h"
#include "hedge.h"
#include "loop.h"
#include "metrics.h"

/*
 * One attempt of a branch's call: the first, or a hedge. The module sees
 * only c, and its own priv after the attempt.
 */
struct attempt {
	struct fo_ds_call c; /* first: an answer comes back with it */
	struct call *k;
	bool running;	 /* started, not yet answered */
	bool cancelling; /* asked to stop: its answer says nothing of the downstream */
	bool slot;	 /* holds a slot of the route's limiter (a hedge's own) */
};

/*
 * A branch's call: its attempts (one unless the branch is hedged), started,
 * answered and cancelled on the call's loop. The branch is answered once,
 * after every attempt has answered: a winner's answer is held while the
 * losers are cancelled (a post, never from inside the winner's callback,
 * which a module may still be unwinding), so no attempt outlives the unit.
 */
struct call {
	struct fod_post start_task, cancel_task;
	struct fo_ctx_hook hook;
	struct fo_ctx *ctx;
	struct fo_branch *b;
	const struct fod_branch *branch;
	struct hedging *hg; /* NULL: not hedged */
	atomic_int refs;    /* unfinished + each pending post */
	bool started, done;
	unsigned nattempts, running;
	size_t stride; /* an attempt and its module priv */
	alignas(max_align_t) unsigned char attempts[];
};

/* A hedged call's own state, after its attempts (an unhedged call has none). */
struct hedging {
	struct call *k;
	struct fod_hedge *h;
	unsigned partition; /* the route limiter's, for a hedge's slot */
	int64_t delay_ns;   /* between hedges; -1: none (no p95 yet) */
	struct fo_timer timer;
	struct fod_post losers_task;
	/* The answer held for the branch while losers are cancelled. */
	bool held;
	int err;
	void *value;
	size_t len;
	const char *errmsg;
};

static struct attempt *attempt_at(struct call *k, unsigned i)
{
	return (struct attempt *)(k->attempts + (size_t)i * k->stride);
}

static void call_put(struct call *k)
{
	if (atomic_fetch_sub(&k->refs, 1) == 1)
		free(k);
}

/* The branch's answer: the last use of the unit's memory. */
static void deliver(struct call *k, int err, const void *value, size_t len, const char *errmsg)
{
	fo_ctx_hook_del(k->ctx, &k->hook); /* before the engine releases the context */
	fo_branch_done(k->b, err, value, len, errmsg);
	call_put(k);
}

static void deliver_held(struct call *k)
{
	struct hedging *hg = k->hg;
	hg->held = false;
	void *value = hg->value;
	deliver(k, hg->err, value, hg->len, hg->errmsg);
	free(value); /* fo_branch_done copied it */
}

static struct fo_sem *route_sem(const struct call *k)
{
	const struct fod_route *rt = k->hg->h->rt;
	return rt->limiter ? fod_limiter_sem(rt->limiter) : NULL;
}

static void stop_attempts(struct call *k)
{
	for (unsigned i = 0; i < k->nattempts; i++) {
		struct attempt *a = attempt_at(k, i);
		if (!a->running || a->cancelling)
			continue;
		a->cancelling = true;
		k->branch->ds->ops->cancel(a->c.self, &a->c); /* answers, at once */
	}
}

/* Posted: the losers of a won call stop; the last one's answer delivers the winner's. */
static void cancel_losers(struct fod_post *t)
{
	struct call *k = ((struct hedging *)((char *)t - offsetof(struct hedging, losers_task)))->k;
	stop_attempts(k);
	call_put(k);
}

/* The branch has its answer (a good one, or every attempt failed). */
static void finish(struct call *k, const struct attempt *a, int err, const void *value, size_t len,
		   const char *errmsg)
{
	k->done = true;
	struct hedging *hg = k->hg;
	if (hg) {
		fod_timer_stop(a->c.self, &hg->timer);
		if (a->c.attempt > 0 && err == 0 && k->branch->metrics)
			atomic_fetch_add_explicit(&k->branch->metrics->hedges_won, 1,
						  memory_order_relaxed);
	}
	if (k->running == 0) {
		deliver(k, err, value, len, errmsg);
		return;
	}
	/* Only a hedged call has attempts still running. */
	hg->value = len ? malloc(len) : NULL;
	if (len && !hg->value) {
		err = -ENOMEM;
		errmsg = "out of memory";
		len = 0;
	} else if (len) {
		memcpy(hg->value, value, len);
	}
	hg->held = true;
	hg->err = err;
	hg->len = len;
	hg->errmsg = errmsg;
	atomic_fetch_add(&k->refs, 1);
	hg->losers_task.fn = cancel_losers;
	fod_loop_post((struct fod_loop *)a->c.loop, &hg->losers_task);
}

void fod_call_done(struct fo_ds_call *c, int err, const void *value, size_t len, const char *errmsg)
{
	struct attempt *a = (struct attempt *)c;
	struct call *k = a->k;
	if (!a->running)
		return;
	a->running = false;
	k->running--;
	if (a->slot)
		fo_sem_release_in(route_sem(k), k->hg->partition, c->task->weight);
	/* The downstream's own verdict feeds its token count; our cancels do not. */
	if (k->hg && !a->cancelling && err != -ECANCELED)
		fod_tokens_record(&k->hg->h->target->tokens, err == 0);
	if (k->done) {
		if (k->running == 0 && k->hg && k->hg->held)
			deliver_held(k);
		return;
	}
	/* A failed attempt waits for the others: one of them may still answer well. */
	if (err == 0 || k->running == 0)
		finish(k, a, err, value, len, errmsg);
}

static void launch(struct call *k, struct attempt *a)
{
	a->running = true;
	k->running++;
	k->branch->ds->ops->start(a->c.self, &a->c);
}

/* The next hedge, delay_ns after from, if the call may have one and it would start in time. */
static void hedge_due(struct fo_mod *self, struct fo_timer *t);
static void arm_hedge(struct call *k, int64_t from)
{
	struct hedging *hg = k->hg;
	if (hg->delay_ns < 0 || k->nattempts >= hg->h->max_attempts)
		return;
	int64_t at = from + hg->delay_ns, deadline = fo_ctx_deadline(k->ctx);
	if (deadline != FO_NO_DEADLINE && at >= deadline)
		return; /* a hedge never extends the deadline: none due */
	struct attempt *a = attempt_at(k, 0);
	hg->timer.udata = k;
	fod_timer_start(a->c.self, a->c.loop, &hg->timer, at, hedge_due);
}

/* Which budget refuses a hedge now (FOD_HEDGE_REFUSALS: none; the limiter slot is then held). */
static enum fod_hedge_refusal hedge_admit(struct call *k, int64_t now)
{
	struct fod_hedge *h = k->hg->h;
	int64_t deadline = fo_ctx_deadline(k->ctx);
	if (deadline != FO_NO_DEADLINE && deadline - now < h->rt->min_branch_ns)
		return FOD_HEDGE_BUDGET;
	if (!fod_tokens_allow(&h->target->tokens))
		return FOD_HEDGE_TOKENS;
	if (!fod_share_take(&h->share))
		return FOD_HEDGE_SHARE;
	/* Like any call it takes a slot of the route's limiter; it never waits for one. */
	struct fo_sem *sem = route_sem(k);
	if (sem &&
	    !fo_sem_try_acquire_in(sem, k->hg->partition, attempt_at(k, 0)->c.task->weight)) {
		fod_share_return(&h->share);
		return FOD_HEDGE_LIMITER;
	}
	return FOD_HEDGE_REFUSALS;
}

static void hedge_due(struct fo_mod *self, struct fo_timer *t)
{
	(void)self;
	struct call *k = t->udata;
	if (k->done || fo_ctx_done(k->ctx))
		return; /* the context's cancel is on its way */
	struct fod_metrics_branch *m = k->branch->metrics;
	int64_t now = fo_now_ns();
	enum fod_hedge_refusal why = hedge_admit(k, now);
	if (why != FOD_HEDGE_REFUSALS) {
		if (m)
			atomic_fetch_add_explicit(&m->hedges_refused[why], 1, memory_order_relaxed);
		return; /* and no later hedge for this call either */
	}
	struct attempt *a = attempt_at(k, k->nattempts++);
	a->slot = route_sem(k) != NULL;
	if (m)
		atomic_fetch_add_explicit(&m->hedges_sent, 1, memory_order_relaxed);
	arm_hedge(k, now);
	launch(k, a); /* may answer at once: k is not touched after */
}

static void call_start(struct fod_post *t)
{
	struct call *k = (struct call *)((char *)t - offsetof(struct call, start_task));
	k->started = true;
	if (fo_ctx_done(k->ctx)) {
		deliver(k, fo_ctx_err(k->ctx), NULL, 0, NULL);
		return;
	}
	k->nattempts = 1;
	if (k->hg) {
		int64_t now = fo_now_ns();
		fod_share_call(&k->hg->h->share);
		k->hg->delay_ns = fod_hedge_delay(k->hg->h, k->branch->metrics, now);
		arm_hedge(k, now);
	}
	launch(k, attempt_at(k, 0));
}

static void call_cancel(struct fod_post *t)
{
	struct call *k = (struct call *)((char *)t - offsetof(struct call, cancel_task));
	/* Not started yet: its start sees the ended context and answers. Won: the
	 * losers' cancel is already on its way. */
	if (k->started && !k->done) {
		if (k->hg)
			fod_timer_stop(attempt_at(k, 0)->c.self, &k->hg->timer);
		stop_attempts(k);
	}
	call_put(k);
}

static void call_ctx_ended(struct fo_ctx_hook *h, enum fo_cause cause)
{
	(void)cause;
	struct call *k = (struct call *)((char *)h - offsetof(struct call, hook));
	atomic_fetch_add(&k->refs, 1);
	k->cancel_task.fn = call_cancel;
	/* the call's own loop */
	fod_loop_post((struct fod_loop *)attempt_at(k, 0)->c.loop, &k->cancel_task);
}

#define ALIGN_UP(n) (((n) + alignof(max_align_t) - 1) / alignof(max_align_t) * alignof(max_align_t))

static void start_call(struct fo_ctx *ctx, const struct fo_task *t, struct fo_branch *b,
		       struct fod_loop *loop, const char *request_id, unsigned partition)
{
	const struct fod_branch *br = t->udata;
	unsigned n = br->hedge ? br->hedge->max_attempts : 1;
	size_t head = ALIGN_UP(sizeof(struct attempt));
	size_t stride = ALIGN_UP(head + br->ds->ops->call_size);
	struct call *k = calloc(1, sizeof(*k) + n * stride + (br->hedge ? sizeof(*k->hg) : 0));
	if (!k) {
		fo_branch_done(b, -ENOMEM, NULL, 0, "out of memory");
		return;
	}
	k->stride = stride;
	for (unsigned i = 0; i < n; i++) {
		struct attempt *a = attempt_at(k, i);
		a->k = k;
		a->c.self = &br->ds->in.self;
		a->c.loop = (struct fo_loop *)loop;
		a->c.task = t;
		a->c.branch = br->index;
		a->c.deadline_ns = fo_ctx_deadline(ctx); /* every attempt's: never extended */
		a->c.branch_state = br->ds_state;
		a->c.priv = (char *)a + head;
		a->c.request_id = request_id;
		a->c.attempt = i;
	}
	k->ctx = ctx;
	k->b = b;
	k->branch = br;
	if (br->hedge) {
		k->hg = (struct hedging *)(k->attempts + n * stride);
		k->hg->k = k;
		k->hg->h = br->hedge;
		k->hg->partition = partition;
		k->hg->delay_ns = -1;
	}
	atomic_init(&k->refs, 1);
	k->hook.fn = call_ctx_ended;
	k->start_task.fn = call_start;
	fo_ctx_hook_add(ctx, &k->hook); /* refused if ended: call_start sees it */
	if (fod_loop_self() == loop)
		call_start(&k->start_task);
	else
		fod_loop_post(loop, &k->start_task);
}

/*
 * A job row's branch, an fo_async_fn: t->udata is the route's struct
 * fod_branch, arg the struct fod_loop the call runs on. Its calls have no
 * request id (fo_ds_call.request_id NULL).
 */
void fod_call_start_job(struct fo_ctx *ctx, const struct fo_task *t, struct fo_branch *b, void *arg)
{
	const struct fod_branch *br = t->udata;
	const struct fod_route *rt = br->hedge ? br->hedge->rt : NULL;
	bool jobs = rt && rt->limiter && rt->limiter->partitioned;
	start_call(ctx, t, b, arg, NULL, jobs ? FOD_PARTITION_JOBS : 0);
}

/* An HTTP request's branch: arg is its struct fod_call_origin. */
void fod_call_start_http(struct fo_ctx *ctx, const struct fo_task *t, struct fo_branch *b,
			 void *arg)
{
	const struct fod_call_origin *o = arg;
	start_call(ctx, t, b, o->loop, o->request_id, FOD_PARTITION_HTTP);
}
