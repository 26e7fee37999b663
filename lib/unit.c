/* SPDX-License-Identifier: MIT */
/*
 * fo_unit: one fan-out as an event-driven state machine, and fo_fanout, the
 * blocking wrapper that waits for it (errgroup's Go + Wait).
 *
 * Nothing here blocks. Dispatch starts branches while the unit's limit
 * allows; admission to the shared limiter is a queued callback, so a unit
 * waiting for capacity holds no thread; every branch end feeds the policy
 * and dispatches again. Whoever runs dispatch when the last branch has ended
 * calls done, exactly once.
 *
 * Re-entrancy: a branch may end inside the call that starts it, which would
 * recurse into dispatch. Dispatch is a trampoline instead: a thread that
 * finds another one dispatching leaves it a note (again) and returns, and
 * the dispatcher loops.
 *
 * All branches of a unit share one group context (a child of the caller's):
 * cancelling it reaches every branch, started or queued. A branch gets its
 * own child context only when its deadline is earlier than the group's.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

struct fo_unit {
	pthread_mutex_t lock;
	struct fo_ctx *group;
	struct fo_ctx_hook group_hook;
	struct fo_config cfg;
	const struct fo_policy *policy;
	void *pstate;
	const struct fo_task *tasks;
	struct fo_result *results;
	size_t n, next, running, ended, errcap;
	unsigned limit;
	struct fo_branch *slots, *free_slots;
	struct fo_branch *pending; /* waiting for the global limiter */
	struct fo_sem_waiter admission;
	int64_t admit_start, start_ns;
	bool dispatching, again, finished;
	unsigned busy;		    /* threads that will still touch the unit */
	enum fo_cause cancel_cause; /* the policy asked to cancel the rest */
	struct fo_report rep;
	fo_unit_done_fn done;
	void *done_arg;
	int rc;
};

static void dispatch(struct fo_unit *u);

/* Records one ended branch: counts, policy, delivery. Called locked. */
static void record(struct fo_unit *u, struct fo_result *r)
{
	enum fo_cause cancel =
		fo__report_feed(&u->rep, &u->errcap, SIZE_MAX, u->policy, u->pstate, r);
	if (cancel && !u->cancel_cause)
		u->cancel_cause = cancel;
	bool deliver = r->outcome == FO_OK || u->policy->deliver_failures;
	if (!deliver)
		fo_result_clear(r);
	if (u->cfg.ordered && u->results) {
		u->results[r->index] = *r;
	} else if (!u->cfg.ordered && u->cfg.on_result && deliver) {
		u->cfg.on_result(r, u->cfg.on_result_arg);
	} else {
		fo_result_clear(r);
	}
	memset(r, 0, sizeof(*r));
	u->running--;
	u->ended++;
}

static void slot_put(struct fo_unit *u, struct fo_branch *b)
{
	b->next_free = u->free_slots;
	u->free_slots = b;
}

/* Records an ended branch and returns its slot. Called locked. */
static void branch_ended_locked(struct fo_unit *u, struct fo_branch *b)
{
	record(u, &b->res);
	slot_put(u, b);
}

static void dispatch_locked(struct fo_unit *u);

/* A started branch ended (fo__branch_launch's finish). */
static void branch_finished(struct fo_branch *b)
{
	struct fo_unit *u = b->owner;
	pthread_mutex_lock(&u->lock);
	branch_ended_locked(u, b);
	dispatch_locked(u);
}

static void not_started(struct fo_unit *u, struct fo_branch *b, enum fo_outcome o, int err)
{
	fo__branch_not_started(b, o, err);
	pthread_mutex_lock(&u->lock);
	branch_ended_locked(u, b);
	pthread_mutex_unlock(&u->lock);
}

static void admitted(struct fo_sem_waiter *w, int status)
{
	struct fo_unit *u = (struct fo_unit *)((char *)w - offsetof(struct fo_unit, admission));
	pthread_mutex_lock(&u->lock);
	struct fo_branch *b = u->pending;
	u->pending = NULL;
	u->rep.admit_wait_ns += fo_now_ns() - u->admit_start;
	u->busy++; /* keeps the unit alive while we launch outside the lock */
	pthread_mutex_unlock(&u->lock);
	if (status == 0) {
		b->holds_global = true;
		fo__branch_launch(b, u->group, 0);
	} else {
		/* Out of budget while queued for capacity: shed, not failed. */
		not_started(u, b, status == -ECANCELED ? FO_CANCELLED : FO_SHED, status);
	}
	pthread_mutex_lock(&u->lock);
	u->busy--;
	dispatch_locked(u);
}

/* Budget, admission, launch of one branch; may end it synchronously. */
static void admit(struct fo_unit *u, struct fo_branch *b)
{
	int64_t now = 0; /* one clock read for budget, admission and start */
	if (fo__branch_budget(&u->cfg, b->task, u->group, &now, &b->deadline) < 0) {
		not_started(u, b, FO_SKIPPED, -ETIMEDOUT);
		return;
	}
	if (u->cfg.global) {
		if (!now)
			now = fo_now_ns();
		b->weight = b->task->weight ? b->task->weight : 1;
		pthread_mutex_lock(&u->lock);
		u->pending = b;
		u->admit_start = now;
		pthread_mutex_unlock(&u->lock);
		int r = fo_sem_acquire_async(u->cfg.global, u->group, b->weight, &u->admission);
		if (r == -EINPROGRESS)
			return;
		pthread_mutex_lock(&u->lock);
		u->pending = NULL;
		pthread_mutex_unlock(&u->lock);
		if (r < 0) {
			not_started(u, b, r == -ECANCELED ? FO_CANCELLED : FO_SHED, r);
			return;
		}
		b->holds_global = true;
	}
	fo__branch_launch(b, u->group, now);
}

/* The group ended: everything not started ends now, unstarted. Called locked. */
static void end_unstarted(struct fo_unit *u, enum fo_cause cause)
{
	enum fo_outcome o = cause == FO_CAUSE_DEADLINE ? FO_SKIPPED : FO_CANCELLED;
	int err = cause == FO_CAUSE_DEADLINE ? -ETIMEDOUT : -ECANCELED;
	while (u->next < u->n) {
		size_t i = u->next++;
		struct fo_result r = {
			.task_id = u->tasks[i].id,
			.index = i,
			.udata = u->tasks[i].udata,
			.outcome = o,
			.err = err,
		};
		u->running++; /* record() counts it as ending */
		record(u, &r);
	}
}

static void unit_finish(struct fo_unit *u)
{
	fo_ctx_hook_del(u->group, &u->group_hook);
	u->rep.cause = fo_ctx_cause(u->group);
	u->rep.wall_ns = fo_now_ns() - u->start_ns;
	fo__report_finish(&u->rep);
	u->rc = u->policy->finish(u->pstate, &u->rep);
	u->done(u, u->rc, u->done_arg);
	/* u may be gone now */
}

/*
 * Called with the lock held; returns with it released. Only the thread
 * that holds the dispatching flag starts branches or finishes the unit, and
 * it finishes only when no other thread still needs the unit (busy).
 */
static void dispatch_locked(struct fo_unit *u)
{
	if (u->dispatching) {
		u->again = true;
		pthread_mutex_unlock(&u->lock);
		return;
	}
	u->dispatching = true;
	do {
		u->again = false;
		if (u->cancel_cause) {
			enum fo_cause c = u->cancel_cause;
			u->cancel_cause = FO_LIVE;
			pthread_mutex_unlock(&u->lock);
			fo_ctx_cancel(u->group, c);
			pthread_mutex_lock(&u->lock);
		}
		/* A pending cancel (the policy's verdict) stops starts before it is carried out. */
		while (u->next < u->n && !u->pending && u->running < u->limit && !u->cancel_cause &&
		       !fo__ctx_expired(u->group)) {
			struct fo_branch *b = u->free_slots;
			u->free_slots = b->next_free;
			b->index = u->next;
			b->task = &u->tasks[u->next++];
			u->running++;
			pthread_mutex_unlock(&u->lock);
			admit(u, b);
			pthread_mutex_lock(&u->lock);
		}
		if (u->next < u->n && !u->pending && fo__ctx_expired(u->group)) {
			pthread_mutex_unlock(&u->lock);
			enum fo_cause cause = fo_ctx_cause(u->group); /* materialises a deadline */
			pthread_mutex_lock(&u->lock);
			end_unstarted(u, cause);
		}
	} while (u->again || u->cancel_cause);
	u->dispatching = false;
	bool finish = u->ended == u->n && !u->busy && !u->finished;
	u->finished |= finish;
	pthread_mutex_unlock(&u->lock);
	if (finish)
		unit_finish(u);
}

static void dispatch(struct fo_unit *u)
{
	pthread_mutex_lock(&u->lock);
	dispatch_locked(u);
}

static void group_ended(struct fo_ctx_hook *hook, enum fo_cause cause)
{
	(void)cause;
	struct fo_unit *u = (struct fo_unit *)((char *)hook - offsetof(struct fo_unit, group_hook));
	dispatch(u);
}

/* A unit that never started: nothing else holds it (for fo__cleanup). */
static void unit_discardp(struct fo_unit **up)
{
	struct fo_unit *u = *up;
	if (!u)
		return;
	fo_ctx_unref(u->group);
	free(u->pstate);
	free(u->slots);
	free(u);
}

/* The unit's allocations and its policy's state, or -errno with nothing left. */
static int unit_new(struct fo_ctx *ctx, size_t n, const struct fo_config *cfg, struct fo_unit **out)
{
	fo__cleanup(unit_discardp) struct fo_unit *u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->cfg = *cfg;
	u->policy = cfg->policy ? cfg->policy : fo_policy_builtin(FO_FAILFAST);
	u->limit = fo_effective_limit(cfg->limit);
	size_t nslots = FO_MIN((size_t)u->limit, n);
	u->slots = calloc(nslots ? nslots : 1, sizeof(*u->slots));
	u->pstate = calloc(1, u->policy->state_size ? u->policy->state_size : 1);
	u->group = fo_ctx_child(ctx, FO_NO_DEADLINE);
	if (!u->slots || !u->pstate || !u->group || (!cfg->start && !fo__cfg_pool(cfg)))
		return -ENOMEM;
	int r = u->policy->init ? u->policy->init(u->pstate, n, cfg->policy_params) : 0;
	if (r < 0)
		return r;
	*out = FO__TAKE_PTR(u);
	return 0;
}

int fo_unit_start(struct fo_ctx *ctx, const struct fo_task *tasks, size_t n, fo_task_fn fn,
		  void *arg, const struct fo_config *cfg, struct fo_result *results,
		  fo_unit_done_fn done, void *done_arg, struct fo_unit **out)
{
	static const struct fo_config defaults;
	if (!cfg)
		cfg = &defaults;
	if ((!fn && !cfg->start) || (n && !tasks) || !done || !out)
		return -EINVAL;
	struct fo_unit *u;
	int r = unit_new(ctx, n, cfg, &u);
	if (r < 0)
		return r;
	size_t nslots = FO_MIN((size_t)u->limit, n);
	pthread_mutex_init(&u->lock, NULL);
	for (size_t i = 0; i < nslots; i++) {
		struct fo_branch *b = &u->slots[i];
		b->cfg = &u->cfg;
		b->fn = fn;
		b->arg = arg;
		b->finish = branch_finished;
		b->owner = u;
		slot_put(u, b);
	}
	u->tasks = tasks;
	u->n = n;
	u->results = results;
	u->done = done;
	u->done_arg = done_arg;
	u->admission.granted = admitted;
	u->admission.partition = cfg->global_partition;
	u->group_hook.fn = group_ended;
	u->start_ns = fo_now_ns();
	/*
	 * Once the hook is in, another thread cancelling the context may
	 * dispatch (and would finish the unit, whose done callback may free
	 * it) before this thread has dispatched: the start counts as busy until
	 * its own dispatch, which then finishes the unit if it has to.
	 */
	u->busy = 1;
	*out = u;
	/* If the group has already ended, dispatch sees it: nothing starts. */
	fo_ctx_hook_add(u->group, &u->group_hook);
	pthread_mutex_lock(&u->lock);
	u->busy--;
	dispatch_locked(u);
	return 0;
}

void fo_unit_cancel(struct fo_unit *u, enum fo_cause cause)
{
	fo_ctx_cancel(u->group, cause);
}

void fo_unit_take_report(struct fo_unit *u, struct fo_report *rep)
{
	*rep = u->rep;
	memset(&u->rep, 0, sizeof(u->rep));
}

void fo_unit_free(struct fo_unit *u)
{
	if (!u)
		return;
	fo_report_clear(&u->rep);
	fo_ctx_unref(u->group);
	pthread_mutex_destroy(&u->lock);
	free(u->pstate);
	free(u->slots);
	free(u);
}

/* ---- the blocking wrapper */

struct join {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	int rc;
};

static void joined(struct fo_unit *u, int rc, void *arg)
{
	(void)u;
	struct join *j = arg;
	pthread_mutex_lock(&j->lock);
	j->rc = rc;
	j->done = true;
	pthread_cond_signal(&j->cond);
	pthread_mutex_unlock(&j->lock);
}

int fo_fanout(struct fo_ctx *ctx, const struct fo_task *tasks, size_t n, fo_task_fn fn, void *arg,
	      const struct fo_config *cfg, struct fo_result *results, struct fo_report *report)
{
	struct join j = {.done = false};
	pthread_mutex_init(&j.lock, NULL);
	pthread_cond_init(&j.cond, NULL);
	struct fo_unit *u;
	int r = fo_unit_start(ctx, tasks, n, fn, arg, cfg, results, joined, &j, &u);
	if (r == 0) {
		pthread_mutex_lock(&j.lock);
		while (!j.done)
			pthread_cond_wait(&j.cond, &j.lock);
		pthread_mutex_unlock(&j.lock);
		r = j.rc;
		if (report)
			fo_unit_take_report(u, report);
		fo_unit_free(u);
	}
	pthread_cond_destroy(&j.cond);
	pthread_mutex_destroy(&j.lock);
	return r;
}
