/* SPDX-License-Identifier: MIT */
/*
 * The deadline timer: one thread for the whole process, started on first use,
 * holding a binary min-heap of contexts whose deadline must fire even when
 * nobody polls them (they have a hook to run: a child, a sleeper, a queued
 * semaphore waiter, an async branch). It holds no reference: a context being
 * freed disarms itself first, and the thread only takes a reference that
 * fails on a dying context.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

/* A heap entry carries its key: sifting compares without touching the contexts. */
struct entry {
	int64_t deadline;
	struct fo_ctx *ctx;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct entry *heap;
	size_t n, cap;
	/*
	 * When the thread will look at the heap again by itself. An arm with a
	 * later deadline needs no wake-up (the thread re-reads the heap then),
	 * so a stream of contexts each a budget away costs no signal each.
	 */
	int64_t wake_at;
	pthread_once_t once;
} tm = {.lock = PTHREAD_MUTEX_INITIALIZER, .once = PTHREAD_ONCE_INIT, .wake_at = INT64_MIN};

#define NO_SLOT SIZE_MAX

static int64_t key(size_t i)
{
	return tm.heap[i].deadline;
}

static void put(size_t i, struct entry e)
{
	tm.heap[i] = e;
	*fo__ctx_heap_slot(e.ctx) = i;
}

static void sift_up(size_t i)
{
	struct entry e = tm.heap[i];
	while (i > 0 && key((i - 1) / 2) > e.deadline) {
		put(i, tm.heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	put(i, e);
}

static void sift_down(size_t i)
{
	struct entry e = tm.heap[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= tm.n)
			break;
		if (c + 1 < tm.n && key(c + 1) < key(c))
			c++;
		if (key(c) >= e.deadline)
			break;
		put(i, tm.heap[c]);
		i = c;
	}
	put(i, e);
}

static void heap_remove(size_t i)
{
	*fo__ctx_heap_slot(tm.heap[i].ctx) = NO_SLOT;
	tm.n--;
	if (i == tm.n)
		return;
	struct entry moved = tm.heap[tm.n];
	put(i, moved);
	sift_down(i);
	sift_up(*fo__ctx_heap_slot(moved.ctx));
}

static void *timer_main(void *unused)
{
	(void)unused;
	pthread_mutex_lock(&tm.lock);
	for (;;) {
		if (tm.n == 0) {
			tm.wake_at = INT64_MAX;
			pthread_cond_wait(&tm.cond, &tm.lock);
			continue;
		}
		int64_t when = key(0);
		if (fo_now_ns() < when) {
			tm.wake_at = when;
			fo__cond_wait_until(&tm.cond, &tm.lock, when);
			continue;
		}
		struct fo_ctx *ctx = tm.heap[0].ctx;
		heap_remove(0);
		bool live = fo__ctx_tryref(ctx);
		pthread_mutex_unlock(&tm.lock);
		if (live) {
			fo_ctx_cancel(ctx, FO_CAUSE_DEADLINE);
			fo_ctx_unref(ctx);
		}
		pthread_mutex_lock(&tm.lock);
	}
	return NULL;
}

static void timer_start(void)
{
	fo__cond_init(&tm.cond);
	pthread_t t;
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&a, 64 * 1024);
	if (pthread_create(&t, &a, timer_main, NULL) == 0)
		pthread_setname_np(t, "fo-timer");
	pthread_attr_destroy(&a);
}

void fo__timer_arm(struct fo_ctx *ctx)
{
	pthread_once(&tm.once, timer_start);
	pthread_mutex_lock(&tm.lock);
	if (tm.n == tm.cap) {
		size_t cap = tm.cap ? tm.cap * 2 : 256;
		struct entry *h = realloc(tm.heap, cap * sizeof(*h));
		if (!h) {
			/* Lazy checks still end the context: only the wake-up is lost. */
			*fo__ctx_heap_slot(ctx) = NO_SLOT;
			pthread_mutex_unlock(&tm.lock);
			return;
		}
		tm.heap = h;
		tm.cap = cap;
	}
	int64_t dl = fo__ctx_timer_deadline(ctx);
	put(tm.n++, (struct entry){dl, ctx});
	sift_up(tm.n - 1);
	if (dl < tm.wake_at) {
		tm.wake_at = dl; /* one signal until the thread sets its own */
		pthread_cond_signal(&tm.cond);
	}
	pthread_mutex_unlock(&tm.lock);
}

void fo__timer_disarm(struct fo_ctx *ctx)
{
	pthread_mutex_lock(&tm.lock);
	size_t i = *fo__ctx_heap_slot(ctx);
	if (i != NO_SLOT && i < tm.n && tm.heap[i].ctx == ctx)
		heap_remove(i);
	pthread_mutex_unlock(&tm.lock);
}
