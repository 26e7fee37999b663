/* SPDX-License-Identifier: MIT */
/*
 * fo_sem: a weighted semaphore with FIFO fairness (the semantics of Go's
 * x/sync/semaphore, plus callbacks so an event loop can wait without
 * blocking).
 *
 * Exactness: in_use only changes under the lock, and only when the result
 * stays within size, so no interleaving can overshoot; high_water records
 * the proof. Fairness: a waiter is granted only from the head of the queue,
 * so a heavy request at the head holds back the light ones behind it until
 * it fits. A waiter that leaves the queue (its context ended) re-runs the
 * grant loop, so the ones behind it are not stranded.
 *
 * Callbacks and hook removal run after the lock is dropped: a granted
 * callback may acquire or release again.
 */
#include <errno.h>

#include "internal.h"

struct fo_sem {
	pthread_mutex_t lock;
	int64_t size, in_use, high_water;
	size_t nwaiting;
	struct fo_sem_waiter *head, *tail;
};

struct fo_sem *fo_sem_new(int64_t size)
{
	if (size < 1) {
		errno = EINVAL;
		return NULL;
	}
	struct fo_sem *sem = calloc(1, sizeof(*sem));
	if (!sem)
		return NULL;
	pthread_mutex_init(&sem->lock, NULL);
	sem->size = size;
	return sem;
}

void fo_sem_free(struct fo_sem *sem)
{
	if (!sem)
		return;
	pthread_mutex_destroy(&sem->lock);
	free(sem);
}

static void enqueue(struct fo_sem *sem, struct fo_sem_waiter *w)
{
	w->next = NULL;
	w->prev = sem->tail;
	if (sem->tail)
		sem->tail->next = w;
	else
		sem->head = w;
	sem->tail = w;
	sem->nwaiting++;
}

static void dequeue(struct fo_sem *sem, struct fo_sem_waiter *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		sem->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		sem->tail = w->prev;
	w->next = w->prev = w; /* marks "not queued" */
	sem->nwaiting--;
}

static bool queued(const struct fo_sem_waiter *w)
{
	return w->next != w;
}

static void take(struct fo_sem *sem, int64_t weight)
{
	sem->in_use += weight;
	if (sem->in_use > sem->high_water)
		sem->high_water = sem->in_use;
}

/*
 * Moves every head waiter that fits to the granted list (linked via next_granted),
 * and any that can no longer fit at all, with status -E2BIG.
 * Called with the lock held; the caller notifies them after unlocking.
 */
static struct fo_sem_waiter *grant_locked(struct fo_sem *sem)
{
	struct fo_sem_waiter *granted = NULL, **tail = &granted;
	while (sem->head &&
	       (sem->head->weight > sem->size || sem->in_use + sem->head->weight <= sem->size)) {
		struct fo_sem_waiter *w = sem->head;
		/* Shrunk below its weight: refuse it rather than block the queue. */
		w->status = w->weight > sem->size ? -E2BIG : 0;
		if (w->status == 0)
			take(sem, w->weight);
		dequeue(sem, w);
		w->next_granted = NULL;
		*tail = w;
		tail = &w->next_granted;
	}
	return granted;
}

static void notify(struct fo_sem_waiter *list)
{
	while (list) {
		struct fo_sem_waiter *w = list;
		list = w->next_granted;
		if (w->ctx)
			fo_ctx_hook_del(w->ctx, &w->hook);
		w->granted(w, w->status);
	}
}

static void waiter_ctx_ended(struct fo_ctx_hook *hook, enum fo_cause cause)
{
	struct fo_sem_waiter *w =
		(struct fo_sem_waiter *)((char *)hook - offsetof(struct fo_sem_waiter, hook));
	struct fo_sem *sem = w->sem;
	pthread_mutex_lock(&sem->lock);
	if (!queued(w)) {
		/* Granted concurrently: the grant path owns the callback. */
		pthread_mutex_unlock(&sem->lock);
		return;
	}
	dequeue(sem, w);
	struct fo_sem_waiter *granted = grant_locked(sem);
	pthread_mutex_unlock(&sem->lock);
	notify(granted);
	w->granted(w, cause == FO_CAUSE_DEADLINE ? -ETIMEDOUT : -ECANCELED);
}

int fo_sem_acquire_async(struct fo_sem *sem, struct fo_ctx *ctx, int64_t weight,
			 struct fo_sem_waiter *w)
{
	if (weight < 1)
		weight = 1;
	int r = fo_ctx_err(ctx);
	if (r < 0)
		return r;
	pthread_mutex_lock(&sem->lock);
	if (weight > sem->size) {
		pthread_mutex_unlock(&sem->lock);
		return -E2BIG;
	}
	if (!sem->head && sem->in_use + weight <= sem->size) {
		take(sem, weight);
		pthread_mutex_unlock(&sem->lock);
		return 0;
	}
	w->weight = weight;
	w->sem = sem;
	w->ctx = ctx;
	w->hook.fn = waiter_ctx_ended;
	enqueue(sem, w);
	pthread_mutex_unlock(&sem->lock);
	/*
	 * Outside the lock: the hook takes the semaphore lock when it fires. If
	 * ctx ended in between, leave the queue ourselves, unless a release
	 * already granted us (then the callback is coming).
	 */
	if (ctx && fo_ctx_hook_add(ctx, &w->hook) < 0) {
		pthread_mutex_lock(&sem->lock);
		bool still = queued(w);
		struct fo_sem_waiter *granted = NULL;
		if (still) {
			dequeue(sem, w);
			granted = grant_locked(sem);
		}
		pthread_mutex_unlock(&sem->lock);
		notify(granted);
		if (still)
			return fo_ctx_err(ctx);
	}
	return -EINPROGRESS;
}

struct blocking_waiter {
	struct fo_sem_waiter w;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	int status;
};

static void blocking_granted(struct fo_sem_waiter *w, int status)
{
	struct blocking_waiter *b = (struct blocking_waiter *)w;
	pthread_mutex_lock(&b->lock);
	b->status = status;
	b->done = true;
	pthread_cond_signal(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

int fo_sem_acquire(struct fo_sem *sem, struct fo_ctx *ctx, int64_t weight)
{
	struct blocking_waiter b = {.w.granted = blocking_granted};
	pthread_mutex_init(&b.lock, NULL);
	pthread_cond_init(&b.cond, NULL);
	int r = fo_sem_acquire_async(sem, ctx, weight, &b.w);
	if (r == -EINPROGRESS) {
		pthread_mutex_lock(&b.lock);
		while (!b.done)
			pthread_cond_wait(&b.cond, &b.lock);
		pthread_mutex_unlock(&b.lock);
		r = b.status;
	}
	pthread_cond_destroy(&b.cond);
	pthread_mutex_destroy(&b.lock);
	return r;
}

bool fo_sem_try_acquire(struct fo_sem *sem, int64_t weight)
{
	if (weight < 1)
		weight = 1;
	pthread_mutex_lock(&sem->lock);
	bool ok = !sem->head && sem->in_use + weight <= sem->size;
	if (ok)
		take(sem, weight);
	pthread_mutex_unlock(&sem->lock);
	return ok;
}

void fo_sem_release(struct fo_sem *sem, int64_t weight)
{
	if (weight < 1)
		weight = 1;
	pthread_mutex_lock(&sem->lock);
	sem->in_use -= weight;
	if (sem->in_use < 0)
		abort(); /* released more than held: a caller bug that would break exactness */
	struct fo_sem_waiter *granted = grant_locked(sem);
	pthread_mutex_unlock(&sem->lock);
	notify(granted);
}

int fo_sem_resize(struct fo_sem *sem, int64_t size)
{
	if (size < 1)
		return -EINVAL;
	pthread_mutex_lock(&sem->lock);
	sem->size = size;
	struct fo_sem_waiter *granted = grant_locked(sem);
	pthread_mutex_unlock(&sem->lock);
	notify(granted);
	return 0;
}

#define GETTER(name, type, field)                 \
	type fo_sem_##name(struct fo_sem *sem)    \
	{                                         \
		pthread_mutex_lock(&sem->lock);   \
		type v = sem->field;              \
		pthread_mutex_unlock(&sem->lock); \
		return v;                         \
	}
GETTER(size, int64_t, size)
GETTER(in_use, int64_t, in_use)
GETTER(high_water, int64_t, high_water)
GETTER(waiting, size_t, nwaiting)
