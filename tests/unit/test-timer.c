/* SPDX-License-Identifier: MIT */
/* lib/timer.c: deadlines fire in order, by themselves, and disarm cleanly. */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "fanoutd/fanout.h"
#include "testutil.h"

enum { N = 64 };

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int fired_order[N], nfired;
static int64_t fired_late_by_min = INT64_MAX;

struct probe {
	struct fo_ctx_hook hook;
	int id;
	int64_t deadline;
};

static void probe_fired(struct fo_ctx_hook *h, enum fo_cause cause)
{
	struct probe *p = (struct probe *)h;
	int64_t late = fo_now_ns() - p->deadline;
	pthread_mutex_lock(&lock);
	if (cause == FO_CAUSE_DEADLINE && p->id >= 0)
		fired_order[nfired++] = p->id;
	if (p->id >= 0 && late < fired_late_by_min)
		fired_late_by_min = late;
	pthread_cond_signal(&cond);
	pthread_mutex_unlock(&lock);
}

static void test_fire_in_deadline_order(void)
{
	struct fo_ctx *ctx[N];
	struct probe probes[N];
	int64_t base = fo_now_ns() + 50 * FO_MSEC;
	/* Deadlines in a scrambled order: id i fires at base + i ms. */
	for (int k = 0; k < N; k++) {
		int i = (k * 37) % N;
		probes[i] = (struct probe){
			.hook.fn = probe_fired, .id = i, .deadline = base + i * FO_MSEC};
		ctx[i] = fo_ctx_new(probes[i].deadline);
		CU_ASSERT_EQUAL(fo_ctx_hook_add(ctx[i], &probes[i].hook), 0);
	}
	pthread_mutex_lock(&lock);
	while (nfired < N)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	for (int i = 0; i < N; i++)
		CU_ASSERT_EQUAL(fired_order[i], i);
	CU_ASSERT(fired_late_by_min >= 0); /* never early */
	for (int i = 0; i < N; i++)
		fo_ctx_unref(ctx[i]);
}

/* A hook that may fire until it is deleted (a deadline of now), never after. */
struct watched {
	struct fo_ctx_hook hook;
	atomic_bool deleted;
};
static atomic_int stale_fires;

static void stale_fired(struct fo_ctx_hook *h, enum fo_cause cause)
{
	(void)cause;
	if (atomic_load(&((struct watched *)h)->deleted))
		atomic_fetch_add(&stale_fires, 1);
}

/*
 * Armed then freed: the timer must drop the context. Each freed context's
 * memory is taken back at once by a canary block of its size (the allocator
 * hands the chunk just freed to the next request of its size) filled with a
 * pattern: a late fire through a stale pointer would write into a canary,
 * or run the deleted hook. Both are checked in every build, not only under
 * ASan, once a context whose deadline is after all of theirs has fired (the
 * timer fires in deadline order, test_fire_in_deadline_order).
 */
enum { FREED = 1000, CANARY = 0x5a };

static void test_freed_before_deadline_never_fires(void)
{
	static unsigned char *canary[FREED];
	static size_t canary_len[FREED];
	static struct watched w[FREED];
	atomic_store(&stale_fires, 0);
	int64_t last = 0;
	for (int i = 0; i < FREED; i++) {
		struct fo_ctx *ctx = fo_ctx_new(fo_now_ns() + (i % 7) * FO_MSEC);
		last = fo_ctx_deadline(ctx);
		w[i].hook = (struct fo_ctx_hook){.fn = stale_fired};
		if (fo_ctx_hook_add(ctx, &w[i].hook) == 0)
			fo_ctx_hook_del(ctx, &w[i].hook);
		atomic_store(&w[i].deleted, true);
		canary_len[i] = malloc_usable_size(ctx);
		fo_ctx_unref(ctx);
		canary[i] = malloc(canary_len[i]);
		memset(canary[i], CANARY, canary_len[i]);
	}
	/* A context whose deadline already fired is unaffected by later frees. */
	struct fo_ctx *ctx = fo_ctx_new(last + 2 * FO_MSEC);
	CU_ASSERT_EQUAL(fo_ctx_sleep(ctx, 60 * FO_SEC), -ETIMEDOUT);
	fo_ctx_unref(ctx);
	CU_ASSERT_EQUAL(atomic_load(&stale_fires), 0);
	size_t broken = 0;
	for (int i = 0; i < FREED; i++) {
		for (size_t k = 0; k < canary_len[i]; k++)
			if (canary[i][k] != CANARY) {
				broken++;
				break;
			}
		free(canary[i]);
	}
	CU_ASSERT_EQUAL(broken, 0);
}

int main(void)
{
	static const struct fo_test tests[] = {
		FO_TEST(test_fire_in_deadline_order),
		FO_TEST(test_freed_before_deadline_never_fires),
	};
	return fo_test_main("timer", tests, ARRAY_SIZE(tests));
}
