/* SPDX-License-Identifier: MIT */
/*
 * fo_sem: a weighted semaphore with FIFO fairness (the semantics of Go's
 * x/sync/semaphore, plus callbacks so an event loop can wait without
 * blocking).
 *
 * Exactness: in_use only changes under the lock, and only when the result
 * stays within size, so no interleaving can overshoot; high_water records
 * the proof. Fairness: a waiter is granted only from the head of its
 * partition's queue, so a heavy request at the head holds back the light ones
 * behind it until it fits. A waiter that leaves the queue (its context ended) re-runs the
 * grant loop, so the ones behind it are not stranded.
 *
 * Callbacks and hook removal run after the lock is dropped: a granted
 * callback may acquire or release again.
 */
#include <errno.h>

#include "internal.h"

/*
 * Partitions (Netflix concurrency-limits' partitioned limiter, made exact):
 * each class of holders (HTTP routes, batch jobs) is guaranteed a share of
 * the size and may borrow what the others leave idle. Nothing is ever taken
 * back from a borrower (branches are short and bounded by their deadlines);
 * instead, while a partition is owed its share (it has waiters and holds
 * less than its guarantee), capacity it is owed is not lent to anyone else,
 * and its waiters are granted first as capacity frees. The size is never
 * exceeded: every grant checks in_use + weight <= size. An unpartitioned
 * semaphore is one partition guaranteed the whole size: the rules reduce to
 * plain FIFO.
 */
struct part {
	int64_t share_ppm;  /* guaranteed share of size, parts per million */
	int64_t guaranteed; /* size * share, recomputed on resize */
	int64_t used;
	size_t nwaiting;
	struct fo_sem_waiter *head, *tail;
};

struct fo_sem {
	pthread_mutex_t lock;
	int64_t size, in_use, high_water;
	size_t nwaiting;
	uint64_t arrivals; /* orders waiters across partitions */
	unsigned nparts;
	struct part parts[FO_SEM_MAX_PARTITIONS];
};

static void compute_guarantees(struct fo_sem *sem)
{
	for (unsigned i = 0; i < sem->nparts; i++)
		sem->parts[i].guaranteed = sem->size * sem->parts[i].share_ppm / 1000000;
}

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
	sem->nparts = 1;
	sem->parts[0].share_ppm = 1000000;
	compute_guarantees(sem);
	return sem;
}

int fo_sem_partition(struct fo_sem *sem, const double *shares, unsigned n)
{
	if (n < 1 || n > FO_SEM_MAX_PARTITIONS)
		return -EINVAL;
	double sum = 0;
	for (unsigned i = 0; i < n; i++) {
		if (!(shares[i] >= 0 && shares[i] <= 1))
			return -EINVAL;
		sum += shares[i];
	}
	if (sum > 1 + 1e-9)
		return -EINVAL;
	pthread_mutex_lock(&sem->lock);
	if (sem->in_use || sem->nwaiting) {
		pthread_mutex_unlock(&sem->lock);
		return -EBUSY;
	}
	sem->nparts = n;
	for (unsigned i = 0; i < FO_SEM_MAX_PARTITIONS; i++)
		sem->parts[i].share_ppm = i < n ? (int64_t)(shares[i] * 1000000 + 0.5) : 0;
	compute_guarantees(sem);
	pthread_mutex_unlock(&sem->lock);
	return 0;
}

void fo_sem_free(struct fo_sem *sem)
{
	if (!sem)
		return;
	pthread_mutex_destroy(&sem->lock);
	free(sem);
}

static struct part *part_of(struct fo_sem *sem, const struct fo_sem_waiter *w)
{
	return &sem->parts[w->partition];
}

static void enqueue(struct fo_sem *sem, struct fo_sem_waiter *w)
{
	struct part *p = part_of(sem, w);
	w->arrival = sem->arrivals++;
	w->next = NULL;
	w->prev = p->tail;
	if (p->tail)
		p->tail->next = w;
	else
		p->head = w;
	p->tail = w;
	p->nwaiting++;
	sem->nwaiting++;
}

static void dequeue(struct fo_sem *sem, struct fo_sem_waiter *w)
{
	struct part *p = part_of(sem, w);
	if (w->prev)
		w->prev->next = w->next;
	else
		p->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		p->tail = w->prev;
	w->next = w->prev = w; /* marks "not queued" */
	p->nwaiting--;
	sem->nwaiting--;
}

static bool queued(const struct fo_sem_waiter *w)
{
	return w->next != w;
}

static void take(struct fo_sem *sem, unsigned partition, int64_t weight)
{
	sem->parts[partition].used += weight;
	sem->in_use += weight;
	if (sem->in_use > sem->high_water)
		sem->high_water = sem->in_use;
}

/* What partition i is owed now: the unused part of its guarantee, if it is waiting for it. */
static int64_t owed(const struct fo_sem *sem, unsigned i)
{
	const struct part *p = &sem->parts[i];
	return p->nwaiting && p->used < p->guaranteed ? p->guaranteed - p->used : 0;
}

/* Whether weight may be granted to partition i now (queue order aside). */
static bool fits(const struct fo_sem *sem, unsigned i, int64_t weight)
{
	if (sem->in_use + weight > sem->size)
		return false;
	if (sem->parts[i].used + weight <= sem->parts[i].guaranteed)
		return true;
	/* Borrowing: only what no other waiting partition is owed. */
	int64_t reserved = 0;
	for (unsigned j = 0; j < sem->nparts; j++)
		if (j != i)
			reserved += owed(sem, j);
	return sem->in_use + weight + reserved <= sem->size;
}

/*
 * The next waiter to grant, or NULL: first the oldest partition head that
 * fits within its partition's guarantee, then (borrowing) the oldest head of
 * all if it fits. A head that does not fit holds back its own partition
 * (FIFO), and the oldest head holds back every borrower.
 */
static struct fo_sem_waiter *next_grant(struct fo_sem *sem)
{
	struct fo_sem_waiter *best = NULL, *oldest = NULL;
	for (unsigned i = 0; i < sem->nparts; i++) {
		struct fo_sem_waiter *h = sem->parts[i].head;
		if (!h)
			continue;
		if (h->weight > sem->size)
			return h; /* shrunk below its weight: refused, never granted */
		if (!oldest || h->arrival < oldest->arrival)
			oldest = h;
		if (sem->parts[i].used + h->weight <= sem->parts[i].guaranteed &&
		    sem->in_use + h->weight <= sem->size && (!best || h->arrival < best->arrival))
			best = h;
	}
	if (best)
		return best;
	return oldest && fits(sem, oldest->partition, oldest->weight) ? oldest : NULL;
}

/*
 * Moves every waiter that may be granted to the granted list (linked via
 * next_granted), and any that can no longer fit at all, with status -E2BIG.
 * Called with the lock held; the caller notifies them after unlocking.
 */
static struct fo_sem_waiter *grant_locked(struct fo_sem *sem)
{
	struct fo_sem_waiter *granted = NULL, **tail = &granted, *w;
	while ((w = next_grant(sem))) {
		w->status = w->weight > sem->size ? -E2BIG : 0;
		if (w->status == 0)
			take(sem, w->partition, w->weight);
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

/*
 * Granted at once only when that overtakes nobody who must go first: the
 * partition's own queue is empty, and either the weight fits within the
 * partition's guarantee or nobody at all is queued (borrowing is FIFO).
 */
static bool grant_now(struct fo_sem *sem, unsigned partition, int64_t weight)
{
	struct part *p = &sem->parts[partition];
	if (p->head || sem->in_use + weight > sem->size)
		return false;
	return p->used + weight <= p->guaranteed ||
	       (!sem->nwaiting && fits(sem, partition, weight));
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
	if (w->partition >= sem->nparts) {
		pthread_mutex_unlock(&sem->lock);
		return -EINVAL;
	}
	if (weight > sem->size) {
		pthread_mutex_unlock(&sem->lock);
		return -E2BIG;
	}
	if (grant_now(sem, w->partition, weight)) {
		take(sem, w->partition, weight);
		pthread_mutex_unlock(&sem->lock);
		return 0;
	}
	pthread_mutex_unlock(&sem->lock);
	/*
	 * The hook goes on before the waiter is queued: once queued, any release
	 * may grant it, and the grant path removes the hook. A hook added after
	 * that would stay linked to a waiter that is gone. Adding it takes the
	 * context's lock, and its firing takes the semaphore's, so it is added
	 * outside the semaphore's lock; a hook that fires before the waiter is
	 * queued finds it not queued and leaves it to us (the ended check below).
	 */
	w->weight = weight;
	w->sem = sem;
	w->ctx = ctx;
	w->hook.fn = waiter_ctx_ended;
	w->next = w->prev = w; /* not queued */
	if (ctx && fo_ctx_hook_add(ctx, &w->hook) < 0)
		return fo_ctx_err(ctx);
	pthread_mutex_lock(&sem->lock);
	bool ended = ctx && fo__ctx_expired(ctx);
	bool now = !ended && grant_now(sem, w->partition, weight);
	if (!ended && !now) {
		enqueue(sem, w);
		pthread_mutex_unlock(&sem->lock);
		return -EINPROGRESS;
	}
	if (now)
		take(sem, w->partition, weight);
	pthread_mutex_unlock(&sem->lock);
	if (ctx)
		fo_ctx_hook_del(ctx, &w->hook); /* waits for a hook firing right now */
	return now ? 0 : fo_ctx_err(ctx);
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

int fo_sem_acquire_in(struct fo_sem *sem, unsigned partition, struct fo_ctx *ctx, int64_t weight)
{
	struct blocking_waiter b = {.w.granted = blocking_granted, .w.partition = partition};
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

int fo_sem_acquire(struct fo_sem *sem, struct fo_ctx *ctx, int64_t weight)
{
	return fo_sem_acquire_in(sem, 0, ctx, weight);
}

bool fo_sem_try_acquire_in(struct fo_sem *sem, unsigned partition, int64_t weight)
{
	if (weight < 1)
		weight = 1;
	pthread_mutex_lock(&sem->lock);
	/* The same rule as an acquire that would not wait: nobody is overtaken. */
	bool ok = partition < sem->nparts && grant_now(sem, partition, weight);
	if (ok)
		take(sem, partition, weight);
	pthread_mutex_unlock(&sem->lock);
	return ok;
}

bool fo_sem_try_acquire(struct fo_sem *sem, int64_t weight)
{
	return fo_sem_try_acquire_in(sem, 0, weight);
}

void fo_sem_release_in(struct fo_sem *sem, unsigned partition, int64_t weight)
{
	if (weight < 1)
		weight = 1;
	pthread_mutex_lock(&sem->lock);
	/* Released more than held, or to another partition: a caller bug that would break
	 * exactness. */
	if (partition >= sem->nparts || sem->parts[partition].used < weight)
		abort();
	sem->parts[partition].used -= weight;
	sem->in_use -= weight;
	struct fo_sem_waiter *granted = grant_locked(sem);
	pthread_mutex_unlock(&sem->lock);
	notify(granted);
}

void fo_sem_release(struct fo_sem *sem, int64_t weight)
{
	fo_sem_release_in(sem, 0, weight);
}

int fo_sem_resize(struct fo_sem *sem, int64_t size)
{
	if (size < 1)
		return -EINVAL;
	pthread_mutex_lock(&sem->lock);
	sem->size = size;
	compute_guarantees(sem);
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
GETTER(partitions, unsigned, nparts)

#define PART_GETTER(name, type, field)                                              \
	type fo_sem_partition_##name(struct fo_sem *sem, unsigned partition)        \
	{                                                                           \
		pthread_mutex_lock(&sem->lock);                                     \
		type v = partition < sem->nparts ? sem->parts[partition].field : 0; \
		pthread_mutex_unlock(&sem->lock);                                   \
		return v;                                                           \
	}
PART_GETTER(in_use, int64_t, used)
PART_GETTER(guaranteed, int64_t, guaranteed)
PART_GETTER(waiting, size_t, nwaiting)
