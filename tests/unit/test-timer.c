/* SPDX-License-Identifier: MIT */
/* lib/timer.c: deadlines fire in order, by themselves, and disarm cleanly. */
#include <errno.h>
#include <pthread.h>

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

static void test_freed_before_deadline_never_fires(void)
{
	/* Armed then freed: the timer must drop it (ASan catches a stale pointer). */
	struct probe p = {.hook.fn = probe_fired, .id = -1};
	for (int i = 0; i < 1000; i++) {
		struct fo_ctx *ctx = fo_ctx_new(fo_now_ns() + (i % 7) * FO_MSEC);
		p.deadline = fo_ctx_deadline(ctx);
		if (fo_ctx_hook_add(ctx, &p.hook) == 0)
			fo_ctx_hook_del(ctx, &p.hook);
		fo_ctx_unref(ctx);
	}
	/* A context whose deadline already fired is unaffected by later frees. */
	struct fo_ctx *ctx = fo_ctx_new(fo_now_ns() + FO_MSEC);
	CU_ASSERT_EQUAL(fo_ctx_sleep(ctx, 60 * FO_SEC), -ETIMEDOUT);
	fo_ctx_unref(ctx);
}

int main(void)
{
	static const struct fo_test tests[] = {
		FO_TEST(test_fire_in_deadline_order),
		FO_TEST(test_freed_before_deadline_never_fires),
	};
	return fo_test_main("timer", tests, ARRAY_SIZE(tests));
}
