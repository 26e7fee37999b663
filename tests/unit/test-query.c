/* SPDX-License-Identifier: MIT */
/* daemon/query.c: a gateway request's id, its ?policy=&budget_ms=, the status its report earns. */
#include <errno.h>
#include <string.h>

#include "generation.h"
#include "query.h"
#include "testutil.h"

static void test_id_table(void)
{
	static const struct {
		const char *s;
		int n; /* bytes of s to read; -1: all */
		bool ok;
		uint64_t want;
	} rows[] = {
		{"0", -1, true, 0},
		{"42", -1, true, 42},
		{"18446744073709551615", -1, true, UINT64_MAX}, /* the largest */
		{"00000000000000000001", -1, true, 1},		/* 20 digits: the most read */
		{"18446744073709551616", -1, false, 0},		/* UINT64_MAX + 1 */
		{"99999999999999999999", -1, false, 0},		/* 20 digits, past 64 bits */
		{"000000000000000000001", -1, false, 0},	/* 21 digits */
		{"", -1, false, 0},
		{"-1", -1, false, 0},
		{"+1", -1, false, 0},
		{" 1", -1, false, 0},
		{"1 ", -1, false, 0},
		{"12a", -1, false, 0},
		{"0x10", -1, false, 0},
		{"1/2", -1, false, 0}, /* /product/1/2: the rest of the path is all id */
		{"123", 2, true, 12},  /* reads n bytes, not to the NUL */
		{"7x", 1, true, 7},
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		uint64_t v = 0xdead;
		size_t n = rows[i].n < 0 ? strlen(rows[i].s) : (size_t)rows[i].n;
		bool ok = fod_query_id(rows[i].s, n, &v);
		if (ok != rows[i].ok || (ok && v != rows[i].want))
			fprintf(stderr, "row %zu '%s': %d %llu\n", i, rows[i].s, ok,
				(unsigned long long)v);
		CU_ASSERT_EQUAL(ok, rows[i].ok);
		/* refused: *out untouched */
		CU_ASSERT_EQUAL(v, ok ? rows[i].want : 0xdead);
	}
}

/* A route as the build leaves one: only what the query reads. */
static struct fod_route route(int64_t budget_ms, int64_t max_budget_ms, bool override)
{
	return (struct fod_route){.name = "product",
				  .policy = fo_policy_builtin(FO_BESTEFFORT),
				  .budget_ns = budget_ms * FO_MSEC,
				  .max_budget_ns = max_budget_ms * FO_MSEC,
				  .allow_policy_override = override};
}

static void test_query_table(void)
{
	const struct fo_policy *ff = fo_policy_builtin(FO_FAILFAST),
			       *be = fo_policy_builtin(FO_BESTEFFORT);
	static const int64_t unchanged = -1;
	struct {
		const char *q;
		int len; /* -1: all */
		int64_t budget_ms, max_ms;
		bool override;
		int rc;
		const char *bad;    /* the key named on a refusal */
		int64_t want_ms;    /* the budget asked for, or unchanged */
		const char *policy; /* the policy asked for, NULL: the route's */
		const char *in_msg; /* what a refusal's message says */
	} rows[] = {
		{"", -1, 300, 60000, true, 0, NULL, unchanged, NULL, NULL},
		{"budget_ms=1", -1, 300, 60000, true, 0, NULL, 1, NULL, NULL},
		{"budget_ms=0", -1, 300, 60000, true, -EINVAL, "budget_ms", 0, NULL, "[1, 60000]"},
		{"budget_ms=60000", -1, 300, 60000, true, 0, NULL, 60000, NULL, NULL},
		{"budget_ms=60001", -1, 300, 60000, true, -EINVAL, "budget_ms", 0, NULL,
		 "[1, 60000]"},
		/* max_budget_ms below the route's budget: the budget is the limit */
		{"budget_ms=300", -1, 300, 100, true, 0, NULL, 300, NULL, NULL},
		{"budget_ms=301", -1, 300, 100, true, -EINVAL, "budget_ms", 0, NULL, "[1, 300]"},
		{"budget_ms=", -1, 300, 60000, true, -EINVAL, "budget_ms", 0, NULL, NULL},
		{"budget_ms", -1, 300, 60000, true, -EINVAL, "budget_ms", 0, NULL, NULL},
		{"budget_ms=12ms", -1, 300, 60000, true, -EINVAL, "budget_ms", 0, NULL, NULL},
		{"budget_ms=-5", -1, 300, 60000, true, -EINVAL, "budget_ms", 0, NULL, NULL},
		/* a value longer than the reader's 31 bytes is cut, then refused, not wrapped */
		{"budget_ms=000000000000000000000000000000000005", -1, 300, 60000, true, -EINVAL,
		 "budget_ms", 0, NULL, NULL},
		{"foo=bar&budget_ms=5", -1, 300, 60000, true, 0, NULL, 5, NULL, NULL},
		{"budget_ms=5&budget_ms=7", -1, 300, 60000, true, 0, NULL, 7, NULL, NULL},
		{"&&budget_ms=9&", -1, 300, 60000, true, 0, NULL, 9, NULL, NULL},
		{"budget_msx=5&xbudget_ms=5", -1, 300, 60000, true, 0, NULL, unchanged, NULL, NULL},
		{"budget_ms=12", 11, 300, 60000, true, 0, NULL, 1, NULL, NULL}, /* len, not NUL */
		{"policy=failfast", -1, 300, 60000, true, 0, NULL, unchanged, "failfast", NULL},
		{"policyx=failfast&xpolicy=failfast", -1, 300, 60000, true, 0, NULL, unchanged,
		 NULL, NULL},
		{"policy=nope", -1, 300, 60000, true, -EINVAL, "policy", 0, NULL,
		 "failfast, collectall or besteffort"},
		{"policy=", -1, 300, 60000, true, -EINVAL, "policy", 0, NULL, NULL},
		{"policy=failfast", -1, 300, 60000, false, -EPERM, "policy", 0, NULL,
		 "allow_policy_override"},
		/* naming the route's own policy is no override */
		{"policy=besteffort", -1, 300, 60000, false, 0, NULL, unchanged, "besteffort",
		 NULL},
		{"policy=failfast&budget_ms=20", -1, 300, 60000, true, 0, NULL, 20, "failfast",
		 NULL},
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct fod_route rt = route(rows[i].budget_ms, rows[i].max_ms, rows[i].override);
		const struct fo_policy *p = rt.policy;
		int64_t budget = rt.budget_ns;
		const char *bad = NULL;
		char msg[256] = "";
		size_t len = rows[i].len < 0 ? strlen(rows[i].q) : (size_t)rows[i].len;
		int rc = fod_query_parse(&rt, rows[i].q, len, &p, &budget, &bad, msg, sizeof(msg));
		if (rc != rows[i].rc)
			fprintf(stderr, "row %zu '%s': rc %d, want %d (%s)\n", i, rows[i].q, rc,
				rows[i].rc, msg);
		CU_ASSERT_EQUAL(rc, rows[i].rc);
		if (rc != rows[i].rc)
			continue;
		if (rc < 0) {
			CU_ASSERT_PTR_NOT_NULL_FATAL(bad);
			CU_ASSERT_STRING_EQUAL(bad, rows[i].bad);
			CU_ASSERT(msg[0] != '\0');
			if (rows[i].in_msg)
				CU_ASSERT_PTR_NOT_NULL(strstr(msg, rows[i].in_msg));
			continue;
		}
		CU_ASSERT_EQUAL(budget, rows[i].want_ms == unchanged ? rt.budget_ns
								     : rows[i].want_ms * FO_MSEC);
		CU_ASSERT_PTR_EQUAL(p, rows[i].policy ? fo_policy_by_name(rows[i].policy) : be);
	}
	(void)ff;
}

/*
 * A ?budget_ms= with which no branch could start (at most join_reserve_ms +
 * min_branch_ms) is refused, naming the least one, not answered 502/504.
 */
static void test_budget_floor(void)
{
	struct fod_route rt = route(300, 60000, true);
	rt.join_reserve_ns = 2 * FO_MSEC;
	rt.min_branch_ns = 5 * FO_MSEC;
	static const struct {
		const char *q;
		int rc;
	} rows[] = {{"budget_ms=1", -EINVAL}, {"budget_ms=7", -EINVAL}, {"budget_ms=8", 0}};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		const struct fo_policy *p = rt.policy;
		int64_t budget = rt.budget_ns;
		const char *bad = NULL;
		char msg[256] = "";
		int rc = fod_query_parse(&rt, rows[i].q, strlen(rows[i].q), &p, &budget, &bad, msg,
					 sizeof(msg));
		CU_ASSERT_EQUAL(rc, rows[i].rc);
		if (rows[i].rc < 0) {
			CU_ASSERT_PTR_NOT_NULL(strstr(msg, "[8, 60000]"));
			CU_ASSERT_EQUAL(budget, rt.budget_ns);
		} else {
			CU_ASSERT_EQUAL(budget, 8 * FO_MSEC);
		}
	}
	/* The route's own least budget is the same rule (fanoutd.conf's check uses it). */
	CU_ASSERT_EQUAL(fod_query_min_budget_ns(&rt), 8 * FO_MSEC);
}

/* The status a unit's report earns: admission, the policy's verdict, min_ok. */
static void test_status_table(void)
{
	static const struct {
		const char *what;
		size_t ok, shed, error;
		int rc;
		unsigned min_ok;
		int want;
	} rows[] = {
		{"all ok", 5, 0, 0, 0, 1, 200},
		{"none admitted", 0, 5, 0, 0, 1, 503},
		{"none admitted, past the deadline too", 0, 1, 0, -ETIMEDOUT, 1, 503},
		{"some shed, one ok", 1, 4, 0, 0, 1, 200},
		{"the policy failed at the deadline", 2, 0, 3, -ETIMEDOUT, 1, 504},
		{"the policy failed otherwise", 2, 0, 3, -ECANCELED, 1, 502},
		{"failfast's error", 4, 0, 1, -EIO, 1, 502},
		{"fewer ok than min_ok", 1, 0, 4, 0, 2, 502},
		{"exactly min_ok", 2, 0, 3, 0, 2, 200},
		{"min_ok 0, nothing ok", 0, 0, 5, 0, 0, 200},
		{"min_ok 1, nothing ok (best effort returns 0)", 0, 0, 5, 0, 1, 502},
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct fo_report rep = {0};
		rep.count[FO_OK] = rows[i].ok;
		rep.count[FO_SHED] = rows[i].shed;
		rep.count[FO_ERROR] = rows[i].error;
		rep.total = rows[i].ok + rows[i].shed + rows[i].error;
		rep.failed = rep.total - rows[i].ok;
		int st = fod_query_status(&rep, rows[i].rc, rows[i].min_ok);
		if (st != rows[i].want)
			fprintf(stderr, "%s: %d, want %d\n", rows[i].what, st, rows[i].want);
		CU_ASSERT_EQUAL(st, rows[i].want);
	}
}

int main(void)
{
	static const struct fo_test tests[] = {
		FO_TEST(test_id_table),
		FO_TEST(test_query_table),
		FO_TEST(test_budget_floor),
		FO_TEST(test_status_table),
	};
	return fo_test_main("query", tests, ARRAY_SIZE(tests));
}
