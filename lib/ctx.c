/* SPDX-License-Identifier: MIT */
/*
 * fo_ctx: the cancellation tree.
 *
 * A context ends once, with a cause. Ending runs its hooks outside the
 * context's lock, one at a time, so a hook may call anything (even free the
 * structure it lives in once it has run); fo_ctx_hook_del() waits for a hook
 * that is running on another thread, which is what makes it safe to free a
 * hook's owner after deleting it. Children are hooks on their parent.
 *
 * Deadlines end a context in two ways: lazily, when anyone asks
 * fo_ctx_cause(), and eagerly, through the timer thread, as soon as the
 * context has something to wake (a hook). A context with nothing registered
 * costs no timer at all.
 */
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <time.h>

#include "internal.h"

struct fo_ctx {
	atomic_long refs;
	_Atomic int cause;
	pthread_mutex_t lock;
	int64_t deadline;      /* effective: min(own, parent's) */
	bool own_deadline;     /* earlier than the parent's: needs its own timer */
	bool armed;	       /* on the timer heap */
	size_t heap_slot;      /* timer.c's index */
	struct fo_ctx *parent; /* holds a reference */
	struct fo_ctx_hook in_parent;
	struct fo_ctx_hook *hooks;   /* circular list, NULL when empty */
	struct fo_ctx_hook *running; /* the hook the canceller is running */
	pthread_t runner;
};

int64_t fo_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * FO_SEC + ts.tv_nsec;
}

/* The absolute CLOCK_MONOTONIC timespec for a nanosecond deadline. */
static struct timespec fo__timespec(int64_t ns)
{
	struct timespec ts = {.tv_sec = ns / FO_SEC, .tv_nsec = ns % FO_SEC};
	return ts;
}

void fo__cond_init(pthread_cond_t *c)
{
	pthread_condattr_t a;
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(c, &a);
	pthread_condattr_destroy(&a);
}

void fo__cond_wait_until(pthread_cond_t *c, pthread_mutex_t *m, int64_t deadline_ns)
{
	if (deadline_ns == FO_NO_DEADLINE) {
		pthread_cond_wait(c, m);
	} else {
		struct timespec ts = fo__timespec(deadline_ns);
		pthread_cond_timedwait(c, m, &ts);
	}
}

const char *fo_cause_str(enum fo_cause cause)
{
	static const char *const names[] = {
		[FO_LIVE] = "live",
		[FO_CAUSE_CANCELLED] = "cancelled",
		[FO_CAUSE_DEADLINE] = "deadline",
		[FO_CAUSE_SIBLING] = "sibling-failed",
		[FO_CAUSE_CLIENT_GONE] = "client-gone",
		[FO_CAUSE_SHUTDOWN] = "shutdown",
		[FO_CAUSE_POLICY] = "policy-done",
	};
	if ((unsigned)cause < sizeof(names) / sizeof(names[0]))
		return names[cause];
	return "unknown";
}

/* Hook lists are circular; an unlinked hook has NULL links. */
static bool hook_linked(const struct fo_ctx_hook *h)
{
	return h->next != NULL;
}

static void hook_link(struct fo_ctx *ctx, struct fo_ctx_hook *h)
{
	if (!ctx->hooks) {
		h->next = h->prev = h;
		ctx->hooks = h;
		return;
	}
	h->next = ctx->hooks;
	h->prev = ctx->hooks->prev;
	h->prev->next = h;
	ctx->hooks->prev = h;
}

static void hook_unlink(struct fo_ctx *ctx, struct fo_ctx_hook *h)
{
	if (h->next == h) {
		ctx->hooks = NULL;
	} else {
		h->prev->next = h->next;
		h->next->prev = h->prev;
		if (ctx->hooks == h)
			ctx->hooks = h->next;
	}
	h->next = h->prev = NULL;
}

static void parent_ended(struct fo_ctx_hook *hook, enum fo_cause cause)
{
	struct fo_ctx *child = (struct fo_ctx *)((char *)hook - offsetof(struct fo_ctx, in_parent));
	fo_ctx_cancel(child, cause);
}

static struct fo_ctx *ctx_alloc(int64_t deadline)
{
	struct fo_ctx *ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return NULL;
	atomic_init(&ctx->refs, 1);
	atomic_init(&ctx->cause, FO_LIVE);
	pthread_mutex_init(&ctx->lock, NULL);
	ctx->deadline = deadline;
	return ctx;
}

struct fo_ctx *fo_ctx_new(int64_t deadline_ns)
{
	struct fo_ctx *ctx = ctx_alloc(deadline_ns);
	if (ctx)
		ctx->own_deadline = deadline_ns != FO_NO_DEADLINE;
	return ctx;
}

struct fo_ctx *fo_ctx_child(struct fo_ctx *parent, int64_t deadline_ns)
{
	if (!parent)
		return fo_ctx_new(deadline_ns);
	struct fo_ctx *ctx = ctx_alloc(FO_MIN(deadline_ns, parent->deadline));
	if (!ctx)
		return NULL;
	ctx->own_deadline = deadline_ns < parent->deadline;
	ctx->parent = fo_ctx_ref(parent);
	ctx->in_parent.fn = parent_ended;
	if (fo_ctx_hook_add(parent, &ctx->in_parent) < 0)
		fo_ctx_cancel(ctx, atomic_load(&parent->cause));
	return ctx;
}

struct fo_ctx *fo_ctx_ref(struct fo_ctx *ctx)
{
	if (ctx)
		atomic_fetch_add_explicit(&ctx->refs, 1, memory_order_relaxed);
	return ctx;
}

bool fo__ctx_tryref(struct fo_ctx *ctx)
{
	long r = atomic_load(&ctx->refs);
	while (r > 0)
		if (atomic_compare_exchange_weak(&ctx->refs, &r, r + 1))
			return true;
	return false;
}

void fo_ctx_unref(struct fo_ctx *ctx)
{
	if (!ctx || atomic_fetch_sub_explicit(&ctx->refs, 1, memory_order_acq_rel) != 1)
		return;
	if (ctx->armed)
		fo__timer_disarm(ctx);
	if (ctx->parent) {
		fo_ctx_hook_del(ctx->parent, &ctx->in_parent);
		fo_ctx_unref(ctx->parent);
	}
	pthread_mutex_destroy(&ctx->lock);
	free(ctx);
}

/*
 * The canceller holds a reference of its own while it runs the hooks: a hook
 * may drop the last reference its owner had (a unit freed by its done
 * callback unrefs its group while the group's cancel is still running), and
 * the context must outlive the loop below. The reference can only fail on a
 * context whose last holder is already freeing it (reached through its
 * parent's hook while fo_ctx_unref waits in fo_ctx_hook_del): such a context
 * has no holder left to wake, so there is nothing to cancel.
 */
void fo_ctx_cancel(struct fo_ctx *ctx, enum fo_cause cause)
{
	if (!ctx || cause == FO_LIVE || !fo__ctx_tryref(ctx))
		return;
	pthread_mutex_lock(&ctx->lock);
	int expected = FO_LIVE;
	if (!atomic_compare_exchange_strong(&ctx->cause, &expected, cause)) {
		pthread_mutex_unlock(&ctx->lock);
		fo_ctx_unref(ctx);
		return;
	}
	/* Only this thread runs the hooks: the cause can be set once. */
	struct fo_ctx_hook *h;
	while ((h = ctx->hooks)) {
		hook_unlink(ctx, h);
		ctx->running = h;
		ctx->runner = pthread_self();
		pthread_mutex_unlock(&ctx->lock);
		h->fn(h, cause);
		pthread_mutex_lock(&ctx->lock);
		ctx->running = NULL;
	}
	bool armed = ctx->armed;
	pthread_mutex_unlock(&ctx->lock);
	if (armed)
		fo__timer_disarm(ctx);
	fo_ctx_unref(ctx); /* may free it: the last hook may have dropped its owner's reference */
}

/*
 * Whether a deadline has passed. Contexts are polled on every branch start
 * and end, and a precise clock read costs ~20 ns; the coarse clock costs a
 * few and lags the precise one by at most a tick (<= 10 ms at HZ=100), never
 * leads it. So a deadline further than that from the coarse time has
 * certainly not passed; only near it is the precise clock read.
 */
#define COARSE_SLACK_NS (20 * FO_MSEC)

static bool deadline_passed(int64_t deadline)
{
	if (deadline == FO_NO_DEADLINE)
		return false;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	if ((int64_t)ts.tv_sec * FO_SEC + ts.tv_nsec + COARSE_SLACK_NS < deadline)
		return false;
	return fo_now_ns() >= deadline;
}

bool fo__ctx_expired(const struct fo_ctx *ctx)
{
	return atomic_load_explicit(&ctx->cause, memory_order_acquire) != FO_LIVE ||
	       deadline_passed(ctx->deadline);
}

enum fo_cause fo_ctx_cause(struct fo_ctx *ctx)
{
	if (!ctx)
		return FO_LIVE;
	int c = atomic_load_explicit(&ctx->cause, memory_order_acquire);
	if (c != FO_LIVE || !deadline_passed(ctx->deadline))
		return c;
	/* A parent past the same deadline gives the same cause: deadline. */
	fo_ctx_cancel(ctx, FO_CAUSE_DEADLINE);
	return atomic_load(&ctx->cause);
}

int fo_ctx_err(struct fo_ctx *ctx)
{
	switch (fo_ctx_cause(ctx)) {
	case FO_LIVE:
		return 0;
	case FO_CAUSE_DEADLINE:
		return -ETIMEDOUT;
	default:
		return -ECANCELED;
	}
}

int64_t fo_ctx_deadline(const struct fo_ctx *ctx)
{
	return ctx ? ctx->deadline : FO_NO_DEADLINE;
}

int64_t fo_ctx_remaining(const struct fo_ctx *ctx)
{
	if (!ctx || ctx->deadline == FO_NO_DEADLINE)
		return INT64_MAX;
	return ctx->deadline - fo_now_ns();
}

int fo_ctx_hook_add(struct fo_ctx *ctx, struct fo_ctx_hook *hook)
{
	pthread_mutex_lock(&ctx->lock);
	if (atomic_load(&ctx->cause) != FO_LIVE) {
		pthread_mutex_unlock(&ctx->lock);
		hook->next = hook->prev = NULL;
		return -ECANCELED;
	}
	hook_link(ctx, hook);
	bool arm = ctx->own_deadline && !ctx->armed;
	if (arm)
		ctx->armed = true;
	pthread_mutex_unlock(&ctx->lock);
	if (arm)
		fo__timer_arm(ctx);
	return 0;
}

void fo_ctx_hook_del(struct fo_ctx *ctx, struct fo_ctx_hook *hook)
{
	pthread_mutex_lock(&ctx->lock);
	if (hook_linked(hook)) {
		hook_unlink(ctx, hook);
	} else {
		/* Being run by the canceller: wait, unless we are inside it. */
		while (ctx->running == hook && !pthread_equal(ctx->runner, pthread_self())) {
			pthread_mutex_unlock(&ctx->lock);
			sched_yield();
			pthread_mutex_lock(&ctx->lock);
		}
	}
	pthread_mutex_unlock(&ctx->lock);
}

/* ---- interruptible sleep */

struct sleeper {
	struct fo_ctx_hook hook;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool woken;
};

static void sleeper_wake(struct fo_ctx_hook *hook, enum fo_cause cause)
{
	(void)cause;
	struct sleeper *s = (struct sleeper *)hook;
	pthread_mutex_lock(&s->lock);
	s->woken = true;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

int fo_ctx_sleep(struct fo_ctx *ctx, int64_t ns)
{
	int64_t until = fo_now_ns() + FO_MAX(ns, 0);
	if (!ctx) {
		struct timespec ts = fo__timespec(until);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
		return 0;
	}
	struct sleeper s = {.hook.fn = sleeper_wake};
	pthread_mutex_init(&s.lock, NULL);
	fo__cond_init(&s.cond);
	int r = fo_ctx_hook_add(ctx, &s.hook);
	if (r == 0) {
		int64_t stop = FO_MIN(until, ctx->deadline);
		pthread_mutex_lock(&s.lock);
		while (!s.woken && fo_now_ns() < stop)
			fo__cond_wait_until(&s.cond, &s.lock, stop);
		pthread_mutex_unlock(&s.lock);
		fo_ctx_hook_del(ctx, &s.hook);
	}
	pthread_cond_destroy(&s.cond);
	pthread_mutex_destroy(&s.lock);
	if (fo_now_ns() >= until && !fo_ctx_done(ctx))
		return 0;
	return fo_ctx_err(ctx);
}

/* ---- for timer.c */

int64_t fo__ctx_timer_deadline(const struct fo_ctx *ctx)
{
	return ctx->deadline;
}

size_t *fo__ctx_heap_slot(struct fo_ctx *ctx)
{
	return &ctx->heap_slot;
}
