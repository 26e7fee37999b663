/* SPDX-License-Identifier: MIT */
/*
 * fo_stream: fan-out over a work-set that does not fit in memory.
 *
 * Tasks come from a bounded input channel, results leave through a bounded
 * output channel. What the stream holds is fixed by its configuration:
 *
 *   in-flight   at most limit branches (blocking: at most limit pool threads,
 *               each holding one batch; async: a semaphore of limit slots);
 *   reordering  ordered mode holds at most reorder_window results: a branch
 *               may not take task seq unless seq < emitted + window, so a
 *               straggler at the head stalls intake instead of growing memory.
 *
 * A consumer that stops reading out blocks the emitters on send; they stop
 * taking from in; in fills; the producer blocks. Nothing buffers around it.
 *
 * Blocking tasks: min(limit, pool threads) pool jobs each loop "receive a
 * batch, run it, emit it". Batches (one lock round trip per channel per
 * batch) are what make millions of tiny tasks per second possible; their
 * size shrinks when the input is short so slow tasks still spread.
 *
 * Async tasks: one pool job dispatches (slot, task, admission, start), one
 * emits completions; branches wait on their own event sources, not threads.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

#define MAX_BATCH 256
/* Room for several full batches per job, so ordering does not shrink batches. */
#define DEFAULT_MIN_WINDOW (8 * MAX_BATCH)

struct fo_stream {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* window room, completions, job exits */
	struct fo_ctx *parent, *group;
	struct fo_ctx_hook group_hook;
	struct fo_chan *in, *out;
	struct fo_config cfg;
	const struct fo_policy *policy;
	void *pstate;
	fo_task_fn fn;
	void *arg;
	unsigned limit, jobs_left;
	size_t batch;

	/* ordered: a ring of window results indexed by arrival sequence */
	size_t window;
	struct fo_result *ring;
	unsigned char *state; /* per ring slot: EMPTY, READY, DROP */
	uint64_t reserved, emitted;
	bool emitting;

	/* async */
	struct fo_sem *slots;
	struct fo_branch *branches, *free_branches, *done_head, **done_tail;
	size_t running;
	bool dispatch_over;

	enum fo_cause cancel_cause;
	struct fo_report rep;
	size_t errcap;
	int64_t start_ns;
	struct stream_job {
		struct fo_job job;
		struct fo_stream *s;
	} jobs[];
};

enum { SLOT_EMPTY, SLOT_READY, SLOT_DROP };

static void wake_all(struct fo_stream *s)
{
	pthread_cond_broadcast(&s->cond);
}

static void group_ended(struct fo_ctx_hook *hook, enum fo_cause cause)
{
	(void)cause;
	struct fo_stream *s =
		(struct fo_stream *)((char *)hook - offsetof(struct fo_stream, group_hook));
	pthread_mutex_lock(&s->lock);
	wake_all(s);
	pthread_mutex_unlock(&s->lock);
}

/*
 * Accounts a batch of ended branches with the policy. Returns how many are
 * to be delivered; dropped ones (best-effort failures) get their value freed
 * and, in unordered mode, are compacted away. Called locked.
 */
static size_t account(struct fo_stream *s, struct fo_result *r, size_t n, bool *drop)
{
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		enum fo_cause cancel = fo__report_feed(&s->rep, &s->errcap, FO_STREAM_MAX_ERRORS,
						       s->policy, s->pstate, &r[i]);
		if (cancel && !s->cancel_cause)
			s->cancel_cause = cancel;
		drop[i] = r[i].outcome != FO_OK && !s->policy->deliver_failures;
		if (drop[i])
			fo_result_clear(&r[i]);
		else if (!s->cfg.ordered)
			r[kept++] = r[i];
	}
	return kept;
}

static void free_results(struct fo_result *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fo_result_clear(&r[i]);
}

static void send_out(struct fo_stream *s, struct fo_result *r, size_t n)
{
	long sent = n ? fo_chan_send(s->out, s->parent, r, n) : 0;
	if (sent < (long)n) {
		/* Nobody takes results any more (out closed, caller gone): stop the work. */
		fo_ctx_cancel(s->group, FO_CAUSE_CLIENT_GONE);
		free_results(r + FO_MAX(sent, 0), n - (size_t)FO_MAX(sent, 0));
	}
}

/* Ordered: files results by sequence, then flushes the ready head. */
static void emit_ordered(struct fo_stream *s, struct fo_result *r, size_t n, const bool *drop)
{
	struct fo_result flush[MAX_BATCH];
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < n; i++) {
		size_t slot = r[i].index % s->window;
		s->ring[slot] = r[i];
		s->state[slot] = drop[i] ? SLOT_DROP : SLOT_READY;
	}
	/* One emitter at a time keeps the output in order. */
	while (!s->emitting && s->state[s->emitted % s->window] != SLOT_EMPTY) {
		s->emitting = true;
		size_t k = 0;
		for (;;) {
			size_t slot = s->emitted % s->window;
			if (k == MAX_BATCH || s->state[slot] == SLOT_EMPTY)
				break;
			if (s->state[slot] == SLOT_READY)
				flush[k++] = s->ring[slot];
			s->state[slot] = SLOT_EMPTY;
			s->emitted++;
			s->reserved--;
		}
		wake_all(s); /* window room */
		pthread_mutex_unlock(&s->lock);
		send_out(s, flush, k);
		pthread_mutex_lock(&s->lock);
		s->emitting = false;
	}
	pthread_mutex_unlock(&s->lock);
}

/* Accounts and delivers a batch of ended branches. */
static void emit(struct fo_stream *s, struct fo_result *r, size_t n)
{
	bool drop[MAX_BATCH];
	pthread_mutex_lock(&s->lock);
	size_t kept = account(s, r, n, drop);
	enum fo_cause c = s->cancel_cause;
	pthread_mutex_unlock(&s->lock);
	if (c)
		fo_ctx_cancel(s->group, c);
	if (s->cfg.ordered)
		emit_ordered(s, r, n, drop);
	else
		send_out(s, r, kept);
}

/* Ordered: reserves up to want window places for tasks about to be taken. */
static size_t reserve(struct fo_stream *s, size_t want)
{
	if (!s->cfg.ordered)
		return want;
	pthread_mutex_lock(&s->lock);
	while (s->reserved >= s->window && !fo__ctx_expired(s->group))
		fo__cond_wait_until(&s->cond, &s->lock, fo_ctx_deadline(s->group));
	size_t got = fo__ctx_expired(s->group) ? 0 : FO_MIN(want, s->window - s->reserved);
	s->reserved += got;
	pthread_mutex_unlock(&s->lock);
	return got;
}

static void unreserve(struct fo_stream *s, size_t n)
{
	if (!s->cfg.ordered || n == 0)
		return;
	pthread_mutex_lock(&s->lock);
	s->reserved -= n;
	wake_all(s);
	pthread_mutex_unlock(&s->lock);
}

/* How many tasks to take at once: enough to amortise locks, few enough to spread. */
static size_t batch_size(struct fo_stream *s)
{
	size_t queued = fo_chan_len(s->in);
	size_t share = queued / (s->limit ? s->limit : 1);
	return FO_MAX((size_t)1, FO_MIN(share, s->batch));
}

static struct fo_stream *job_stream(struct fo_job *job)
{
	return ((struct stream_job *)job)->s;
}

/*
 * The last job out closes both channels: the consumer sees the end of out,
 * and a producer still blocked on in gets -EPIPE instead of waiting forever.
 * After the final unlock the stream may be freed by fo_stream_wait().
 */
static void job_exit(struct fo_stream *s)
{
	pthread_mutex_lock(&s->lock);
	if (s->jobs_left == 1) {
		pthread_mutex_unlock(&s->lock);
		fo_chan_close(s->in);
		fo_chan_close(s->out);
		pthread_mutex_lock(&s->lock);
	}
	s->jobs_left--;
	wake_all(s);
	pthread_mutex_unlock(&s->lock);
}

/* ---- blocking tasks */

static void run_blocking(struct fo_stream *s, const struct fo_task *t, struct fo_result *r,
			 int64_t *clock)
{
	memset(r, 0, sizeof(*r));
	r->task_id = t->id;
	r->udata = t->udata;
	struct fo_ctx *ctx = s->group;
	int64_t deadline = FO_NO_DEADLINE, started = *clock;
	if (fo__branch_budget(&s->cfg, t, s->group, &started, &deadline) < 0) {
		r->outcome = FO_SKIPPED;
		r->err = -ETIMEDOUT;
		return;
	}
	int64_t weight = t->weight ? t->weight : 1;
	if (s->cfg.global) {
		int e = fo_sem_acquire_in(s->cfg.global, s->cfg.global_partition, s->group, weight);
		if (e < 0) {
			r->outcome = e == -ECANCELED ? FO_CANCELLED : FO_SHED;
			r->err = e;
			*clock = fo_now_ns();
			return;
		}
	}
	if (deadline < fo_ctx_deadline(s->group))
		ctx = fo_ctx_child(s->group, deadline);
	int e = ctx ? s->fn(ctx, t, r, s->arg) : -ENOMEM;
	if (e == 0)
		e = r->err;
	r->err = e;
	int64_t now = fo_now_ns();
	r->dur_ns = now - *clock; /* one clock read per task: the previous end is this start */
	*clock = now;
	if (e)
		fo__settle(r, ctx ? ctx : s->group);
	else
		r->outcome = FO_OK;
	if (s->cfg.global) {
		if (s->cfg.feedback && fo__feedback_worthy(r->outcome, fo_ctx_cause(s->group)))
			s->cfg.feedback(s->cfg.feedback_arg, r->outcome, r->dur_ns);
		fo_sem_release_in(s->cfg.global, s->cfg.global_partition, weight);
	}
	if (ctx && ctx != s->group)
		fo_ctx_unref(ctx);
}

static void blocking_worker(struct fo_job *job)
{
	struct fo_stream *s = job_stream(job);
	struct fo_task tasks[MAX_BATCH];
	struct fo_result results[MAX_BATCH];
	for (;;) {
		size_t want = reserve(s, batch_size(s));
		if (want == 0)
			break;
		uint64_t seq;
		long n = fo_chan_recv(s->in, s->group, tasks, want, &seq);
		unreserve(s, want - (size_t)FO_MAX(n, 0));
		if (n <= 0)
			break;
		atomic_fetch_add_explicit(&fo__live_branches, n, memory_order_relaxed);
		int64_t clock = fo_now_ns();
		for (long i = 0; i < n; i++) {
			run_blocking(s, &tasks[i], &results[i], &clock);
			results[i].index = seq + (uint64_t)i;
		}
		atomic_fetch_sub_explicit(&fo__live_branches, n, memory_order_relaxed);
		emit(s, results, (size_t)n);
	}
	job_exit(s);
}

/* ---- async tasks */

static void async_finished(struct fo_branch *b)
{
	struct fo_stream *s = b->owner;
	pthread_mutex_lock(&s->lock);
	b->next_free = NULL;
	*s->done_tail = b;
	s->done_tail = &b->next_free;
	wake_all(s);
	pthread_mutex_unlock(&s->lock);
}

static void async_dispatcher(struct fo_job *job)
{
	struct fo_stream *s = job_stream(job);
	for (;;) {
		if (reserve(s, 1) == 0)
			break;
		if (fo_sem_acquire(s->slots, s->group, 1) < 0) {
			unreserve(s, 1);
			break;
		}
		pthread_mutex_lock(&s->lock);
		struct fo_branch *b = s->free_branches;
		s->free_branches = b->next_free;
		pthread_mutex_unlock(&s->lock);
		struct fo_task *t = (struct fo_task *)(b + 1);
		uint64_t seq;
		long n = fo_chan_recv(s->in, s->group, t, 1, &seq);
		if (n <= 0) {
			pthread_mutex_lock(&s->lock);
			b->next_free = s->free_branches;
			s->free_branches = b;
			pthread_mutex_unlock(&s->lock);
			fo_sem_release(s->slots, 1);
			unreserve(s, 1);
			break;
		}
		b->task = t;
		b->index = seq;
		pthread_mutex_lock(&s->lock);
		s->running++;
		pthread_mutex_unlock(&s->lock);
		int64_t now = 0;
		int r = fo__branch_budget(&s->cfg, t, s->group, &now, &b->deadline);
		if (r == 0 && s->cfg.global) {
			b->weight = t->weight ? t->weight : 1;
			r = fo_sem_acquire_in(s->cfg.global, s->cfg.global_partition, s->group,
					      b->weight);
			b->holds_global = r == 0;
			if (r < 0) {
				fo__branch_not_started(b, r == -ECANCELED ? FO_CANCELLED : FO_SHED,
						       r);
				async_finished(b);
				continue;
			}
		}
		if (r < 0) {
			fo__branch_not_started(b, FO_SKIPPED, r);
			async_finished(b);
			continue;
		}
		fo__branch_launch(b, s->group,
				  s->cfg.global ? 0 : now); /* acquiring may have waited */
	}
	pthread_mutex_lock(&s->lock);
	s->dispatch_over = true;
	wake_all(s);
	pthread_mutex_unlock(&s->lock);
	job_exit(s);
}

static void async_emitter(struct fo_job *job)
{
	struct fo_stream *s = job_stream(job);
	struct fo_result results[MAX_BATCH];
	pthread_mutex_lock(&s->lock);
	for (;;) {
		if (!s->done_head) {
			if (s->dispatch_over && s->running == 0)
				break;
			pthread_cond_wait(&s->cond, &s->lock);
			continue;
		}
		size_t n = 0;
		struct fo_branch *done = NULL;
		while (s->done_head && n < MAX_BATCH) {
			struct fo_branch *b = s->done_head;
			s->done_head = b->next_free;
			results[n++] = b->res;
			b->next_free = done;
			done = b;
		}
		if (!s->done_head)
			s->done_tail = &s->done_head;
		pthread_mutex_unlock(&s->lock);
		emit(s, results, n);
		pthread_mutex_lock(&s->lock);
		/* Slots come back only once results are out: in-flight + pending <= limit. */
		while (done) {
			struct fo_branch *b = done;
			done = b->next_free;
			b->next_free = s->free_branches;
			s->free_branches = b;
			s->running--;
		}
		pthread_mutex_unlock(&s->lock);
		fo_sem_release(s->slots, (int64_t)n);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	job_exit(s);
}

/* ---- lifecycle */

static void stream_free(struct fo_stream *s)
{
	fo_ctx_unref(s->group);
	fo_ctx_unref(s->parent);
	fo_sem_free(s->slots);
	free(s->branches);
	free(s->ring);
	free(s->state);
	free(s->pstate);
	fo_report_clear(&s->rep);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

struct fo_stream *fo_fanout_stream(struct fo_ctx *ctx, struct fo_chan *in, struct fo_chan *out,
				   fo_task_fn fn, void *arg, const struct fo_config *cfg)
{
	static const struct fo_config defaults;
	if (!cfg)
		cfg = &defaults;
	if (!in || !out || (!fn && !cfg->start)) {
		errno = EINVAL;
		return NULL;
	}
	unsigned limit = fo_effective_limit(cfg->limit);
	struct fo_pool *pool = fo__cfg_pool(cfg);
	if (!pool)
		return NULL;
	unsigned njobs = cfg->start ? 2 : FO_MIN(limit, fo_pool_threads(pool));
	struct fo_stream *s = calloc(1, sizeof(*s) + njobs * sizeof(s->jobs[0]));
	if (!s)
		return NULL;
	pthread_mutex_init(&s->lock, NULL);
	fo__cond_init(&s->cond);
	s->cfg = *cfg;
	s->policy = cfg->policy ? cfg->policy : fo_policy_builtin(FO_FAILFAST);
	s->pstate = calloc(1, s->policy->state_size ? s->policy->state_size : 1);
	s->parent = ctx ? fo_ctx_ref(ctx) : fo_ctx_new(FO_NO_DEADLINE);
	s->group = s->parent ? fo_ctx_child(s->parent, FO_NO_DEADLINE) : NULL;
	s->in = in;
	s->out = out;
	s->fn = fn;
	s->arg = arg;
	s->limit = limit;
	s->done_tail = &s->done_head;
	bool ok = s->pstate && s->group;
	if (cfg->ordered) {
		s->window = cfg->reorder_window ? cfg->reorder_window
						: FO_MAX(4 * (size_t)limit, DEFAULT_MIN_WINDOW);
		s->ring = calloc(s->window, sizeof(*s->ring));
		s->state = calloc(s->window, 1);
		ok = ok && s->ring && s->state;
	}
	/* Each blocking job's batch must leave the others room in the window. */
	s->batch = MAX_BATCH;
	if (cfg->ordered)
		s->batch = FO_MAX((size_t)1, FO_MIN(s->batch, s->window / njobs));
	if (cfg->start) {
		s->slots = fo_sem_new(limit);
		/* A branch and a copy of its task, side by side. */
		size_t stride = sizeof(struct fo_branch) + sizeof(struct fo_task);
		s->branches = calloc(limit, stride);
		ok = ok && s->slots && s->branches;
		for (unsigned i = 0; ok && i < limit; i++) {
			struct fo_branch *b =
				(struct fo_branch *)((char *)s->branches + i * stride);
			b->cfg = &s->cfg;
			b->fn = fn;
			b->arg = arg;
			b->owner = s;
			b->finish = async_finished;
			b->next_free = s->free_branches;
			s->free_branches = b;
		}
	}
	if (!ok || (s->policy->init && s->policy->init(s->pstate, 0, cfg->policy_params) < 0)) {
		stream_free(s);
		errno = ENOMEM;
		return NULL;
	}
	s->group_hook.fn = group_ended;
	fo_ctx_hook_add(s->group, &s->group_hook);
	s->start_ns = fo_now_ns();
	s->jobs_left = njobs;
	for (unsigned i = 0; i < njobs; i++) {
		s->jobs[i].s = s;
		s->jobs[i].job.fn =
			cfg->start ? (i == 0 ? async_dispatcher : async_emitter) : blocking_worker;
		fo_pool_submit(pool, &s->jobs[i].job);
	}
	return s;
}

int fo_stream_wait(struct fo_stream *s, struct fo_report *report)
{
	pthread_mutex_lock(&s->lock);
	while (s->jobs_left)
		pthread_cond_wait(&s->cond, &s->lock);
	pthread_mutex_unlock(&s->lock);
	fo_ctx_hook_del(s->group, &s->group_hook);
	s->rep.cause = fo_ctx_cause(s->group);
	s->rep.wall_ns = fo_now_ns() - s->start_ns;
	fo__report_finish(&s->rep);
	int rc = s->policy->finish(s->pstate, &s->rep);
	if (report) {
		*report = s->rep;
		memset(&s->rep, 0, sizeof(s->rep));
	}
	stream_free(s);
	return rc;
}
