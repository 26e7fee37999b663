/* SPDX-License-Identifier: MIT */
/* lib/branch.c: async branches without threads, and the deadline budget. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "fanoutd/fanout.h"
#include "testutil.h"

/* ---- 10,000 async branches in flight cost no thread */

struct peek {
	struct fo_snapshot base, first;
	bool taken;
	size_t n;
};

static void on_first(struct fo_result *r, void *arg)
{
	struct peek *p = arg;
	if (!p->taken) {
		fo_snapshot_take(&p->first);
		p->taken = true;
	}
	p->n++;
	fo_result_clear(r);
}

static void test_async_10k_in_flight_without_threads(void)
{
	enum { N = 10000 };
	struct fo_test_loop *loop = fo_test_loop_new();
	fo_test_loop_hold(loop, N); /* nothing completes before all N are in flight */
	struct fo_task *tasks = calloc(N, sizeof(*tasks));
	int64_t latency = 0;
	for (size_t i = 0; i < N; i++)
		tasks[i] = (struct fo_task){.id = i, .payload = &latency, .len = sizeof(latency)};
	struct peek p = {0};
	fo_snapshot_take(&p.base);
	struct fo_config cfg = {.limit = N,
				.policy = fo_policy_builtin(FO_COLLECTALL),
				.start = fo_test_loop_start,
				.on_result = on_first,
				.on_result_arg = &p};
	struct fo_report rep;
	CU_ASSERT_EQUAL(fo_fanout(NULL, tasks, N, NULL, loop, &cfg, NULL, &rep), 0);
	CU_ASSERT_EQUAL(p.n, N);
	CU_ASSERT_EQUAL(rep.count[FO_OK], N);
	CU_ASSERT_EQUAL(fo_test_loop_peak(loop), N);	  /* all in flight at once */
	CU_ASSERT_EQUAL(p.first.threads, p.base.threads); /* and not one thread more */
	CU_ASSERT_EQUAL(p.first.branches, p.base.branches + N - 1);
	CU_ASSERT_TRUE(fo_snapshot_back_to(&p.base, 1000));
	fo_report_clear(&rep);
	free(tasks);
	fo_test_loop_free(loop);
}

/* ---- the deadline budget */

static atomic_int ran;
static atomic_llong max_deadline;

static int record_deadline_and_wait(struct fo_ctx *ctx, const struct fo_task *t,
				    struct fo_result *out, void *arg)
{
	(void)out;
	atomic_fetch_add(&ran, 1);
	long long dl = fo_ctx_deadline(ctx), seen = atomic_load(&max_deadline);
	while (dl > seen && !atomic_compare_exchange_weak(&max_deadline, &seen, dl))
		;
	return fo_ctx_sleep(ctx, *(const int64_t *)t->payload);
}

static void test_branch_deadline_cut_from_budget(void)
{
	int64_t long_wait = 30 * FO_SEC;
	struct fo_task tasks[3];
	for (int i = 0; i < 3; i++)
		tasks[i] = (struct fo_task){.id = i, .payload = &long_wait};
	int64_t now = fo_now_ns();
	struct fo_ctx *ctx = fo_ctx_new(now + 200 * FO_MSEC);
	struct fo_config cfg = {.limit = 3,
				.policy = fo_policy_builtin(FO_BESTEFFORT),
				.ordered = true,
				.per_task_timeout_ns = 50 * FO_MSEC,
				.join_reserve_ns = 20 * FO_MSEC};
	struct fo_result res[3];
	atomic_store(&max_deadline, 0);
	CU_ASSERT_EQUAL(fo_fanout(ctx, tasks, 3, record_deadline_and_wait, NULL, &cfg, res, NULL),
			0);
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(res[i].outcome, FO_TIMEOUT);
	/* min(per-task timeout, remaining budget - reserve): the timeout wins here, in full. */
	CU_ASSERT(atomic_load(&max_deadline) >= now + 50 * FO_MSEC);
	CU_ASSERT(atomic_load(&max_deadline) <= fo_now_ns());
	CU_ASSERT(atomic_load(&max_deadline) < now + 200 * FO_MSEC - 20 * FO_MSEC);
	CU_ASSERT(fo_now_ns() - now < 10 * FO_SEC);
	fo_ctx_unref(ctx);
}

/*
 * The join reserve wins when the per-task timeout is longer than the budget:
 * every branch's deadline is the unit's minus the reserve, exactly, so the
 * branches are cut and joined before the unit's own deadline passes.
 */
static void test_branch_deadline_leaves_join_reserve(void)
{
	int64_t long_wait = 30 * FO_SEC;
	struct fo_task tasks[3];
	for (int i = 0; i < 3; i++)
		tasks[i] = (struct fo_task){.id = i, .payload = &long_wait};
	int64_t unit_deadline = fo_now_ns() + 600 * FO_MSEC, reserve = 400 * FO_MSEC;
	struct fo_ctx *ctx = fo_ctx_new(unit_deadline);
	struct fo_config cfg = {.limit = 3,
				.policy = fo_policy_builtin(FO_BESTEFFORT),
				.ordered = true,
				.per_task_timeout_ns = 10 * FO_SEC,
				.join_reserve_ns = reserve};
	struct fo_result res[3];
	atomic_store(&ran, 0);
	atomic_store(&max_deadline, 0);
	CU_ASSERT_EQUAL(fo_fanout(ctx, tasks, 3, record_deadline_and_wait, NULL, &cfg, res, NULL),
			0);
	/* Joined inside the reserve: the unit still has time to answer. */
	CU_ASSERT(fo_now_ns() < unit_deadline);
	CU_ASSERT_EQUAL(fo_ctx_err(ctx), 0);
	CU_ASSERT_EQUAL(atomic_load(&ran), 3);
	CU_ASSERT_EQUAL(atomic_load(&max_deadline), unit_deadline - reserve);
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(res[i].outcome, FO_TIMEOUT);
	fo_ctx_unref(ctx);
}

static void test_budget_below_minimum_is_skipped(void)
{
	int64_t wait = FO_MSEC;
	struct fo_task tasks[4];
	for (int i = 0; i < 4; i++)
		tasks[i] = (struct fo_task){.id = i, .payload = &wait};
	struct fo_ctx *ctx = fo_ctx_new(fo_now_ns() + 40 * FO_MSEC);
	/* 40 ms left - 20 ms reserve = 20 ms < the 30 ms minimum: start nothing. */
	struct fo_config cfg = {.limit = 4,
				.policy = fo_policy_builtin(FO_BESTEFFORT),
				.ordered = true,
				.join_reserve_ns = 20 * FO_MSEC,
				.min_task_budget_ns = 30 * FO_MSEC};
	struct fo_result res[4];
	struct fo_report rep;
	atomic_store(&ran, 0);
	fo_fanout(ctx, tasks, 4, record_deadline_and_wait, NULL, &cfg, res, &rep);
	CU_ASSERT_EQUAL(atomic_load(&ran), 0);
	CU_ASSERT_EQUAL(rep.count[FO_SKIPPED], 4);
	for (int i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(res[i].outcome, FO_SKIPPED);
	fo_report_clear(&rep);
	fo_ctx_unref(ctx);
}

static void test_late_branches_skipped_as_budget_drains(void)
{
	/* One at a time, 30 ms each, 150 ms budget, 10 ms reserve, 25 ms minimum. */
	enum { N = 20 };
	int64_t wait = 30 * FO_MSEC;
	struct fo_task tasks[N];
	for (int i = 0; i < N; i++)
		tasks[i] = (struct fo_task){.id = i, .payload = &wait};
	int64_t start = fo_now_ns();
	struct fo_ctx *ctx = fo_ctx_new(start + 150 * FO_MSEC);
	struct fo_config cfg = {.limit = 1,
				.policy = fo_policy_builtin(FO_BESTEFFORT),
				.ordered = true,
				.join_reserve_ns = 10 * FO_MSEC,
				.min_task_budget_ns = 25 * FO_MSEC};
	struct fo_result res[N];
	struct fo_report rep;
	atomic_store(&ran, 0);
	atomic_store(&max_deadline, 0);
	fo_fanout(ctx, tasks, N, record_deadline_and_wait, NULL, &cfg, res, &rep);
	CU_ASSERT(atomic_load(&ran) >= 1 && atomic_load(&ran) <= 5);
	CU_ASSERT_EQUAL(rep.count[FO_SKIPPED], (size_t)(N - atomic_load(&ran)));
	CU_ASSERT(atomic_load(&max_deadline) <=
		  start + 140 * FO_MSEC); /* never past budget - reserve */
	/* Skipped ones come after the ones that ran: the budget only drains. */
	for (int i = 1; i < N; i++)
		if (res[i - 1].outcome == FO_SKIPPED)
			CU_ASSERT_EQUAL(res[i].outcome, FO_SKIPPED);
	fo_report_clear(&rep);
	fo_ctx_unref(ctx);
}

static void test_async_branch_cut_at_its_deadline(void)
{
	struct fo_test_loop *loop = fo_test_loop_new();
	int64_t slow = 30 * FO_SEC, fast = FO_MSEC;
	struct fo_task tasks[2] = {{.id = 0, .payload = &slow}, {.id = 1, .payload = &fast}};
	struct fo_config cfg = {.limit = 2,
				.policy = fo_policy_builtin(FO_BESTEFFORT),
				.ordered = true,
				.per_task_timeout_ns = 30 * FO_MSEC,
				.start = fo_test_loop_start};
	struct fo_result res[2];
	int64_t t0 = fo_now_ns();
	CU_ASSERT_EQUAL(fo_fanout(NULL, tasks, 2, NULL, loop, &cfg, res, NULL), 0);
	CU_ASSERT(fo_now_ns() - t0 < 10 * FO_SEC);
	CU_ASSERT_EQUAL(res[0].outcome, FO_TIMEOUT);
	CU_ASSERT_EQUAL(res[0].err, -ETIMEDOUT);
	CU_ASSERT_EQUAL(res[1].outcome, FO_OK);
	CU_ASSERT_EQUAL(*(const uint64_t *)fo_result_data(&res[1]), 1);
	fo_test_loop_free(loop);
}

int main(void)
{
	static const struct fo_test tests[] = {
		FO_TEST(test_async_10k_in_flight_without_threads),
		FO_TEST(test_branch_deadline_cut_from_budget),
		FO_TEST(test_branch_deadline_leaves_join_reserve),
		FO_TEST(test_budget_below_minimum_is_skipped),
		FO_TEST(test_late_branches_skipped_as_budget_drains),
		FO_TEST(test_async_branch_cut_at_its_deadline),
	};
	return fo_test_main("branch", tests, ARRAY_SIZE(tests));
}
