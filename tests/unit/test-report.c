/* SPDX-License-Identifier: MIT */
/* lib/report.c: results (inline and heap values), outcomes, reports. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fanoutd/fanout.h"
#include "testutil.h"

static void test_result_inline_and_heap(void)
{
	struct fo_result r = {0};
	CU_ASSERT_EQUAL(fo_result_set(&r, "abc", 3), 0);
	CU_ASSERT_PTR_NULL(r.value); /* small values stay inline: no allocation */
	CU_ASSERT_EQUAL(memcmp(fo_result_data(&r), "abc", 3), 0);
	char big[100];
	memset(big, 'x', sizeof(big));
	CU_ASSERT_EQUAL(fo_result_set(&r, big, sizeof(big)), 0);
	CU_ASSERT_PTR_NOT_NULL(r.value);
	CU_ASSERT_EQUAL(r.len, sizeof(big));
	CU_ASSERT_EQUAL(memcmp(fo_result_data(&r), big, sizeof(big)), 0);
	fo_result_clear(&r);
	CU_ASSERT_PTR_NULL(r.value);
	CU_ASSERT_EQUAL(r.len, 0);
}

static void test_outcome_names(void)
{
	CU_ASSERT_STRING_EQUAL(fo_outcome_str(FO_OK), "ok");
	CU_ASSERT_STRING_EQUAL(fo_outcome_str(FO_SKIPPED), "skipped");
	CU_ASSERT_STRING_EQUAL(fo_outcome_str(FO_SHED), "shed");
	CU_ASSERT_STRING_EQUAL(fo_outcome_str(FO_OUTCOME_MAX), "unknown");
}

/* Branches fail in reverse order; the report lists them by index anyway. */
static int fail_odd_slowly_first(struct fo_ctx *ctx, const struct fo_task *t, struct fo_result *out,
				 void *arg)
{
	(void)arg;
	fo_ctx_sleep(ctx, (int64_t)(10 - t->id) * FO_MSEC);
	if (t->id % 2) {
		out->errmsg = "odd";
		return -EIO;
	}
	return fo_result_set(out, &t->id, sizeof(t->id));
}

static void test_report_counts_and_sorted_errors(void)
{
	struct fo_task tasks[10];
	for (int i = 0; i < 10; i++)
		tasks[i] = (struct fo_task){.id = (uint64_t)i};
	struct fo_config cfg = {
		.limit = 10, .policy = fo_policy_builtin(FO_COLLECTALL), .ordered = true};
	struct fo_result res[10];
	struct fo_report rep;
	int rc = fo_fanout(NULL, tasks, 10, fail_odd_slowly_first, NULL, &cfg, res, &rep);
	CU_ASSERT_EQUAL(rc, -EIO);
	CU_ASSERT_EQUAL(rep.total, 10);
	CU_ASSERT_EQUAL(rep.count[FO_OK], 5);
	CU_ASSERT_EQUAL(rep.count[FO_ERROR], 5);
	CU_ASSERT_EQUAL(rep.failed, 5);
	CU_ASSERT_DOUBLE_EQUAL(rep.fail_ratio, 0.5, 1e-9);
	CU_ASSERT_EQUAL_FATAL(rep.nerrors, 5);
	for (size_t i = 0; i < rep.nerrors; i++) {
		CU_ASSERT_EQUAL(rep.errors[i].index, 2 * i + 1);
		CU_ASSERT_EQUAL(rep.errors[i].err, -EIO);
		CU_ASSERT_STRING_EQUAL(rep.errors[i].errmsg, "odd");
	}
	for (int i = 0; i < 10; i++)
		fo_result_clear(&res[i]);
	fo_report_clear(&rep);
	CU_ASSERT_PTR_NULL(rep.errors);
	fo_report_clear(NULL);
}

/* ---- every outcome but ok counts as failed, not only errors */

static int by_kind(struct fo_ctx *ctx, const struct fo_task *t, struct fo_result *out, void *arg)
{
	(void)arg;
	if (strcmp(t->kind, "error") == 0)
		return -EIO;
	if (strcmp(t->kind, "cancel") == 0)
		return -ECANCELED; /* gave up by itself: cancelled */
	if (strcmp(t->kind, "slow") == 0)
		return fo_ctx_sleep(ctx, 30 * FO_SEC); /* cut by its own timeout */
	return fo_result_set(out, &t->id, sizeof(t->id));
}

static void test_report_failed_counts_every_outcome(void)
{
	/*
	 * One at a time, in order, within a 1 s budget of which a branch needs
	 * 700 ms to start: the first four start at once, the slow one takes its
	 * 400 ms timeout, and what comes after it can no longer start.
	 */
	static const struct {
		const char *kind;
		int64_t weight, timeout_ns;
		enum fo_outcome want;
	} plan[] = {
		{"ok", 1, 0, FO_OK},
		{"error", 1, 0, FO_ERROR},
		{"cancel", 1, 0, FO_CANCELLED},
		{"ok", 5, 0, FO_SHED}, /* heavier than the whole global limiter */
		{"slow", 1, 400 * FO_MSEC, FO_TIMEOUT},
		{"ok", 1, 0, FO_SKIPPED},
		{"ok", 1, 0, FO_SKIPPED},
	};
	enum { N = ARRAY_SIZE(plan) };
	struct fo_task tasks[N];
	for (size_t i = 0; i < N; i++)
		tasks[i] = (struct fo_task){.id = i,
					    .kind = plan[i].kind,
					    .weight = plan[i].weight,
					    .timeout_ns = plan[i].timeout_ns};
	struct fo_sem *global = fo_sem_new(4);
	struct fo_ctx *ctx = fo_ctx_new(fo_now_ns() + FO_SEC);
	struct fo_config cfg = {.limit = 1,
				.policy = fo_policy_builtin(FO_COLLECTALL),
				.ordered = true,
				.min_task_budget_ns = 700 * FO_MSEC,
				.global = global};
	struct fo_result res[N];
	struct fo_report rep;
	fo_fanout(ctx, tasks, N, by_kind, NULL, &cfg, res, &rep);
	for (size_t i = 0; i < N; i++) {
		CU_ASSERT_EQUAL(res[i].outcome, plan[i].want);
		if (res[i].outcome != plan[i].want)
			fprintf(stderr, "task %zu: %s, expected %s\n", i,
				fo_outcome_str(res[i].outcome), fo_outcome_str(plan[i].want));
		fo_result_clear(&res[i]);
	}
	CU_ASSERT_EQUAL(rep.total, N);
	CU_ASSERT_EQUAL(rep.count[FO_OK], 1);
	CU_ASSERT_EQUAL(rep.count[FO_SKIPPED], 2);
	CU_ASSERT_EQUAL(rep.failed, N - 1);
	CU_ASSERT_DOUBLE_EQUAL(rep.fail_ratio, (double)(N - 1) / N, 1e-9);
	CU_ASSERT_EQUAL_FATAL(rep.nerrors, N - 1);
	for (size_t i = 0; i < rep.nerrors; i++) {
		CU_ASSERT_EQUAL(rep.errors[i].index, i + 1);
		CU_ASSERT_EQUAL(rep.errors[i].outcome, plan[i + 1].want);
	}
	fo_report_clear(&rep);
	fo_ctx_unref(ctx);
	CU_ASSERT_EQUAL(fo_sem_in_use(global), 0);
	fo_sem_free(global);
}

int main(void)
{
	static const struct fo_test tests[] = {
		FO_TEST(test_result_inline_and_heap),
		FO_TEST(test_outcome_names),
		FO_TEST(test_report_counts_and_sorted_errors),
		FO_TEST(test_report_failed_counts_every_outcome),
	};
	return fo_test_main("report", tests, ARRAY_SIZE(tests));
}
