/* SPDX-License-Identifier: MIT */
/* lib/report.c: results (inline and heap values), outcomes, reports. */
#include <errno.h>
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

int main(void)
{
	static const struct fo_test tests[] = {
		FO_TEST(test_result_inline_and_heap),
		FO_TEST(test_outcome_names),
		FO_TEST(test_report_counts_and_sorted_errors),
	};
	return fo_test_main("report", tests, ARRAY_SIZE(tests));
}
