/* SPDX-License-Identifier: MIT */
/*
 * daemon/metrics.c: the histogram's buckets (every bound, both sides), the
 * response slots and classes, the policy slots; linked with the daemon's
 * library (none of the rest of it is reached).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "metrics.h"
#include "testutil.h"

/* ---- the histogram */

static int only_bucket(const struct fod_hist *h)
{
	int at = -1;
	for (int i = 0; i < FOD_HIST_BUCKETS; i++)
		if (atomic_load(&h->bucket[i])) {
			if (at >= 0)
				return -2; /* more than one */
			at = i;
		}
	return at;
}

/* One observation of ns lands in bucket want (a fresh histogram each time). */
static void lands(int64_t ns, int want)
{
	struct fod_hist h = {0};
	fod_hist_observe(&h, ns);
	int got = only_bucket(&h);
	if (got != want)
		fprintf(stderr, "%lld ns: bucket %d, want %d\n", (long long)ns, got, want);
	CU_ASSERT_EQUAL(got, want);
	CU_ASSERT_EQUAL(atomic_load(&h.bucket[want]), 1);
	CU_ASSERT_EQUAL(atomic_load(&h.count), 1);
	CU_ASSERT_EQUAL(atomic_load(&h.sum_ns), ns > 0 ? (unsigned long long)ns : 0);
}

/* Prometheus buckets are "le": a value equal to a bound is in that bound's bucket. */
static void test_hist_every_bound(void)
{
	const double *b = fod_hist_bounds();
	for (int i = 0; i < FOD_HIST_BUCKETS - 1; i++) {
		int64_t at = (int64_t)(b[i] * 1e9 + 0.5);
		lands(at, i);
		lands(at + 1, i + 1);
		if (i > 0)
			CU_ASSERT(b[i] >
				  b[i - 1]); /* increasing: no bucket is empty by construction */
	}
}

static void test_hist_rows(void)
{
	/* Written out, so that a changed bound table shows here too. */
	static const struct {
		int64_t ns;
		int want;
	} rows[] = {
		{0, 0},
		{-5 * FO_MSEC, 0}, /* a clock step backwards: counted, adds nothing to the sum */
		{1, 0},
		{1 * FO_MSEC, 0},
		{1 * FO_MSEC + 1, 1},
		{2500000, 1}, /* 2.5 ms: the bound */
		{100 * FO_MSEC, 6},
		{250 * FO_MSEC, 7},
		{30 * FO_SEC, 13},
		{30 * FO_SEC + 1, 14}, /* +Inf */
		{INT64_MAX, 14},
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
		lands(rows[i].ns, rows[i].want);
}

static void test_hist_accumulates(void)
{
	struct fod_hist h = {0};
	int64_t sum = 0;
	for (int64_t ms = 0; ms <= 40000; ms += 7) {
		fod_hist_observe(&h, ms * FO_MSEC);
		sum += ms * FO_MSEC;
	}
	unsigned long n = 0;
	for (int i = 0; i < FOD_HIST_BUCKETS; i++)
		n += atomic_load(&h.bucket[i]);
	CU_ASSERT_EQUAL(n, atomic_load(&h.count));
	CU_ASSERT_EQUAL(atomic_load(&h.count), 40000 / 7 + 1);
	CU_ASSERT_EQUAL(atomic_load(&h.sum_ns), (unsigned long long)sum);
	/* 0..1 ms: 0 and 7? no: only 0 is <= 1 ms in steps of 7 ms */
	CU_ASSERT_EQUAL(atomic_load(&h.bucket[0]), 1);
	/* past 30 s: 30.002 .. 39.998 s in steps of 7 ms */
	CU_ASSERT_EQUAL(atomic_load(&h.bucket[FOD_HIST_BUCKETS - 1]), (40000 - 30002) / 7 + 1);
}

/* ---- responses by status */

static void test_status_slots(void)
{
	/* Every status fanoutd answers with (and 499, a client gone) has a slot of its own. */
	static const int answered[] = {200, 400, 404, 405, 408, 413, 414,
				       431, 499, 500, 502, 503, 504};
	CU_ASSERT_EQUAL(ARRAY_SIZE(answered), FOD_STATUS_N - 1);
	bool seen[FOD_STATUS_N] = {false};
	for (size_t i = 0; i < ARRAY_SIZE(answered); i++) {
		int s = fod_metrics_status_slot(answered[i]);
		CU_ASSERT(s >= 0 && s < FOD_STATUS_N - 1);
		if (s >= 0 && s < FOD_STATUS_N) {
			CU_ASSERT_FALSE(seen[s]);
			seen[s] = true;
		}
	}
	/* Any other is "other", the last slot. */
	static const int others[] = {0, -1, 100, 199, 201, 204, 301, 401, 498, 501, 505, 599, 600};
	for (size_t i = 0; i < ARRAY_SIZE(others); i++)
		CU_ASSERT_EQUAL(fod_metrics_status_slot(others[i]), FOD_STATUS_N - 1);
}

static void test_count_response(void)
{
	static const struct {
		int status, class; /* class 0: counted in no class */
	} rows[] = {
		{200, 2}, {204, 2}, {404, 4}, {503, 5}, {599, 5},
		{100, 1}, {99, 0},  {600, 0}, {0, 0},	{-3, 0},
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		atomic_ulong by_status[FOD_STATUS_N] = {0};
		unsigned long before[6];
		for (int c = 0; c < 6; c++)
			before[c] = atomic_load(&fod_counters.http_requests[c]);
		unsigned long unrouted = atomic_load(&fod_counters.http_unrouted[0]);
		fod_metrics_count_response(by_status, rows[i].status);
		/* the array's neighbour: a class past 5xx would be written there */
		CU_ASSERT_EQUAL(atomic_load(&fod_counters.http_unrouted[0]), unrouted);
		for (int c = 1; c < 6; c++)
			CU_ASSERT_EQUAL(atomic_load(&fod_counters.http_requests[c]) - before[c],
					c == rows[i].class ? 1u : 0u);
		for (int s = 0; s < FOD_STATUS_N; s++)
			CU_ASSERT_EQUAL(atomic_load(&by_status[s]),
					s == fod_metrics_status_slot(rows[i].status) ? 1u : 0u);
	}
}

/* ---- requests by policy */

static void test_policy_slots(void)
{
	CU_ASSERT_EQUAL(fod_metrics_policy_slot(fo_policy_builtin(FO_FAILFAST)),
			FOD_POLICY_FAILFAST);
	CU_ASSERT_EQUAL(fod_metrics_policy_slot(fo_policy_builtin(FO_COLLECTALL)),
			FOD_POLICY_COLLECTALL);
	CU_ASSERT_EQUAL(fod_metrics_policy_slot(fo_policy_builtin(FO_BESTEFFORT)),
			FOD_POLICY_BESTEFFORT);
	/* A module's policy, even one named like a builtin, is "other". */
	struct fo_policy quorum = *fo_policy_builtin(FO_BESTEFFORT);
	quorum.name = "quorum";
	CU_ASSERT_EQUAL(fod_metrics_policy_slot(&quorum), FOD_POLICY_OTHER);
	struct fo_policy lookalike = *fo_policy_builtin(FO_FAILFAST);
	CU_ASSERT_EQUAL(fod_metrics_policy_slot(&lookalike), FOD_POLICY_OTHER);
}

/* ---- job rows' outcomes */

/* A report of n branches: ok ones, failed (sibling-failed/error) ones, skipped, shed. */
static struct fo_report report(size_t ok, size_t failed, size_t skipped, size_t shed,
			       enum fo_cause cause)
{
	struct fo_report r = {.total = ok + failed + skipped + shed, .cause = cause};
	r.count[FO_OK] = ok;
	r.count[FO_ERROR] = failed;
	r.count[FO_SKIPPED] = skipped;
	r.count[FO_SHED] = shed;
	r.failed = failed + skipped + shed;
	return r;
}

static void test_row_outcomes(void)
{
	static const struct {
		int rc;
		size_t ok, failed, skipped, shed;
		enum fo_cause cause;
		enum fod_row_outcome want;
	} rows[] = {
		{0, 3, 0, 0, 0, FO_LIVE, FOD_ROW_OK},
		{0, 2, 1, 0, 0, FO_LIVE, FOD_ROW_DEGRADED},	    /* best-effort over a failure */
		{0, 2, 0, 1, 0, FO_CAUSE_POLICY, FOD_ROW_DEGRADED}, /* quorum met, one skipped */
		{-EIO, 1, 2, 0, 0, FO_CAUSE_SIBLING, FOD_ROW_FAILED},
		{-ETIMEDOUT, 0, 3, 0, 0, FO_CAUSE_DEADLINE, FOD_ROW_FAILED},
		{-ECANCELED, 1, 0, 2, 0, FO_CAUSE_CANCELLED, FOD_ROW_CANCELLED},
		{0, 1, 2, 0, 0, FO_CAUSE_CLIENT_GONE, FOD_ROW_CANCELLED}, /* best-effort, stopped */
		{-ECANCELED, 0, 0, 3, 0, FO_CAUSE_SHUTDOWN, FOD_ROW_SKIPPED}, /* nothing started */
		{-EBUSY, 0, 0, 1, 2, FO_CAUSE_DEADLINE, FOD_ROW_SKIPPED},     /* skipped or shed */
		{0, 0, 0, 0, 0, FO_LIVE, FOD_ROW_OK},		/* no branches at all */
		{0, 3, 0, 0, 0, FO_CAUSE_SHUTDOWN, FOD_ROW_OK}, /* finished before it */
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct fo_report r = report(rows[i].ok, rows[i].failed, rows[i].skipped,
					    rows[i].shed, rows[i].cause);
		enum fod_row_outcome got = fod_row_classify(rows[i].rc, &r);
		if (got != rows[i].want)
			fprintf(stderr, "row %zu: %s, want %s\n", i, fod_row_outcome_names[got],
				fod_row_outcome_names[rows[i].want]);
		CU_ASSERT_EQUAL(got, rows[i].want);
	}
}

int main(void)
{
	static const struct fo_test tests[] = {
		FO_TEST(test_hist_every_bound), FO_TEST(test_hist_rows),
		FO_TEST(test_hist_accumulates), FO_TEST(test_status_slots),
		FO_TEST(test_count_response),	FO_TEST(test_policy_slots),
		FO_TEST(test_row_outcomes),
	};
	return fo_test_main("metrics", tests, ARRAY_SIZE(tests));
}
