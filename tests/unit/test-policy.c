/* SPDX-License-Identifier: MIT */
/* lib/policy.c: fail-fast, collect-all, best-effort, and a plugged-in policy. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "fanoutd/fanout.h"
#include "fanoutd/sim.h"
#include "testutil.h"

/* ---- task functions */

static atomic_int calls;

/* Branch 3 always fails at once; the others take 30 s unless cancelled. */
static int branch3_fails(struct fo_ctx *ctx, const struct fo_task *t, struct fo_result *out,
			 void *arg)
{
	(void)arg;
	atomic_fetch_add(&calls, 1);
	if (t->id == 3) {
		out->errmsg = "branch 3 always fails";
		return -EIO;
	}
	int r = fo_ctx_sleep(ctx, 30 * FO_SEC);
	return r ? r : fo_result_set(out, &t->id, sizeof(t->id));
}

/* Fails where the canonical sim draws a failure (10 %), else returns its id. */
static int sim_errors(struct fo_ctx *ctx, const struct fo_task *t, struct fo_result *out, void *arg)
{
	(void)ctx;
	const struct fo_sim_params *p = arg;
	if (fo_sim_draw(p, t->id, 0).fail) {
		out->errmsg = "injected";
		return -EIO;
	}
	return fo_result_set(out, &t->id, sizeof(t->id));
}

static void make_tasks(struct fo_task *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		t[i] = (struct fo_task){.id = i, .kind = "test"};
}

static void clear_results(struct fo_result *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fo_result_clear(&r[i]);
}

/* ---- fail-fast */

static void test_failfast_cancels_siblings(void)
{
	struct fo_task tasks[5];
	make_tasks(tasks, 5);
	struct fo_result res[5];
	struct fo_report rep;
	struct fo_config cfg = {
		.limit = 5, .policy = fo_policy_builtin(FO_FAILFAST), .ordered = true};
	int64_t t0 = fo_now_ns();
	int rc = fo_fanout(NULL, tasks, 5, branch3_fails, NULL, &cfg, res, &rep);
	CU_ASSERT_EQUAL(rc, -EIO);
	CU_ASSERT(fo_now_ns() - t0 < 10 * FO_SEC); /* the 30 s siblings were cut */
	CU_ASSERT_EQUAL(res[3].outcome, FO_ERROR);
	for (int i = 0; i < 5; i++)
		if (i != 3)
			CU_ASSERT_EQUAL(res[i].outcome, FO_CANCELLED);
	CU_ASSERT_EQUAL(rep.cause, FO_CAUSE_SIBLING);
	CU_ASSERT_EQUAL(rep.count[FO_CANCELLED], 4);
	clear_results(res, 5);
	fo_report_clear(&rep);
}

static void test_failfast_starts_nothing_after_failure(void)
{
	struct fo_task tasks[8];
	make_tasks(tasks, 8);
	tasks[0].id = 3; /* the failing one goes first, alone */
	struct fo_result res[8];
	struct fo_config cfg = {.limit = 1, .ordered = true}; /* NULL policy = fail-fast */
	atomic_store(&calls, 0);
	CU_ASSERT_EQUAL(fo_fanout(NULL, tasks, 8, branch3_fails, NULL, &cfg, res, NULL), -EIO);
	CU_ASSERT_EQUAL(atomic_load(&calls), 1);
	for (int i = 1; i < 8; i++) {
		CU_ASSERT_EQUAL(res[i].outcome, FO_CANCELLED);
		CU_ASSERT_EQUAL(res[i].err, -ECANCELED);
	}
	clear_results(res, 8);
}

/* ---- collect-all and best-effort with 10 % injected errors */

enum { N = 1000 };

static void expected_failures(const struct fo_sim_params *p, size_t *nfail, size_t *first)
{
	*nfail = 0;
	*first = SIZE_MAX;
	for (size_t i = 0; i < N; i++)
		if (fo_sim_draw(p, i, 0).fail) {
			if (*first == SIZE_MAX)
				*first = i;
			(*nfail)++;
		}
}

static void test_collectall_joins_every_error(void)
{
	struct fo_sim_params p;
	fo_sim_defaults(&p);
	p.seed = 7;
	p.err_rate = 0.1;
	size_t nfail, first;
	expected_failures(&p, &nfail, &first);
	CU_ASSERT_FATAL(nfail > 50 && nfail < 150);

	static struct fo_task tasks[N];
	static struct fo_result res[N];
	make_tasks(tasks, N);
	struct fo_report rep;
	struct fo_config cfg = {
		.limit = 8, .policy = fo_policy_builtin(FO_COLLECTALL), .ordered = true};
	int rc = fo_fanout(NULL, tasks, N, sim_errors, &p, &cfg, res, &rep);
	CU_ASSERT_EQUAL(rc, -EIO);
	CU_ASSERT_EQUAL(rep.nerrors, nfail);
	CU_ASSERT_EQUAL(rep.count[FO_OK], N - nfail);
	CU_ASSERT_EQUAL_FATAL(rep.nerrors, nfail);
	CU_ASSERT_EQUAL(rep.errors[0].index, first);
	for (size_t i = 0; i < rep.nerrors; i++)
		CU_ASSERT_TRUE(fo_sim_draw(&p, rep.errors[i].index, 0).fail);
	/* Every branch ran: the successes all carry their value. */
	for (size_t i = 0; i < N; i++)
		if (res[i].outcome == FO_OK)
			CU_ASSERT_EQUAL(*(const uint64_t *)fo_result_data(&res[i]), i);
	clear_results(res, N);
	fo_report_clear(&rep);
}

static void test_besteffort_drops_failures_reports_them(void)
{
	struct fo_sim_params p;
	fo_sim_defaults(&p);
	p.seed = 11;
	p.err_rate = 0.1;
	size_t nfail, first;
	expected_failures(&p, &nfail, &first);

	static struct fo_task tasks[N];
	static struct fo_result res[N];
	make_tasks(tasks, N);
	struct fo_report rep;
	struct fo_config cfg = {
		.limit = 8, .policy = fo_policy_builtin(FO_BESTEFFORT), .ordered = true};
	CU_ASSERT_EQUAL(fo_fanout(NULL, tasks, N, sim_errors, &p, &cfg, res, &rep), 0);
	CU_ASSERT_EQUAL(rep.failed, nfail);
	CU_ASSERT_DOUBLE_EQUAL(rep.fail_ratio, (double)nfail / N, 1e-12);
	CU_ASSERT_EQUAL(rep.nerrors, nfail);
	for (size_t i = 0; i < N; i++) {
		bool fails = fo_sim_draw(&p, i, 0).fail;
		CU_ASSERT_EQUAL(res[i].outcome, fails ? FO_ERROR : FO_OK);
		if (fails)
			CU_ASSERT_EQUAL(res[i].len, 0); /* absent: no value */
	}
	clear_results(res, N);
	fo_report_clear(&rep);
}

struct seen {
	pthread_mutex_t lock;
	unsigned char hits[N];
	size_t n, failures;
};

static void on_result(struct fo_result *r, void *arg)
{
	struct seen *s = arg;
	s->hits[r->index]++; /* on_result calls are serialised by the engine */
	s->n++;
	s->failures += r->outcome != FO_OK;
	fo_result_clear(r);
}

static void test_unordered_delivers_each_once(void)
{
	struct fo_sim_params p;
	fo_sim_defaults(&p);
	p.err_rate = 0.1;
	size_t nfail, first;
	expected_failures(&p, &nfail, &first);
	static struct fo_task tasks[N];
	make_tasks(tasks, N);
	for (int pol = FO_COLLECTALL; pol <= FO_BESTEFFORT; pol++) {
		static struct seen s;
		memset(&s, 0, sizeof(s));
		struct fo_config cfg = {.limit = 8,
					.policy = fo_policy_builtin(pol),
					.on_result = on_result,
					.on_result_arg = &s};
		fo_fanout(NULL, tasks, N, sim_errors, &p, &cfg, NULL, NULL);
		size_t want = pol == FO_BESTEFFORT ? N - nfail : N;
		CU_ASSERT_EQUAL(s.n, want);
		CU_ASSERT_EQUAL(s.failures, pol == FO_BESTEFFORT ? 0 : nfail);
		for (size_t i = 0; i < N; i++)
			CU_ASSERT(s.hits[i] <= 1);
	}
}

/* ---- a plugged-in policy: k of n succeed, then cancel the rest */

struct quorum {
	size_t need, ok;
};

static int quorum_init(void *state, size_t n, const void *params)
{
	struct quorum *q = state;
	q->need = *(const size_t *)params;
	return q->need <= n ? 0 : -EINVAL;
}

static enum fo_verdict quorum_on_result(void *state, const struct fo_result *r)
{
	struct quorum *q = state;
	if (r->outcome == FO_OK && ++q->ok == q->need)
		return FO_CANCEL_REST;
	return FO_CONTINUE;
}

static int quorum_finish(void *state, const struct fo_report *rep)
{
	(void)rep;
	struct quorum *q = state;
	return q->ok >= q->need ? 0 : -EIO;
}

static int fast_unless_even(struct fo_ctx *ctx, const struct fo_task *t, struct fo_result *out,
			    void *arg)
{
	(void)arg;
	(void)out;
	return t->id % 2 ? 0 : fo_ctx_sleep(ctx, 30 * FO_SEC);
}

static void test_pluggable_quorum_policy(void)
{
	static const struct fo_policy quorum = {
		.name = "quorum",
		.state_size = sizeof(struct quorum),
		.init = quorum_init,
		.on_result = quorum_on_result,
		.finish = quorum_finish,
		.deliver_failures = false,
	};
	struct fo_task tasks[6];
	make_tasks(tasks, 6);
	size_t need = 3;
	struct fo_result res[6];
	struct fo_report rep;
	struct fo_config cfg = {
		.limit = 6, .policy = &quorum, .policy_params = &need, .ordered = true};
	int64_t t0 = fo_now_ns();
	CU_ASSERT_EQUAL(fo_fanout(NULL, tasks, 6, fast_unless_even, NULL, &cfg, res, &rep), 0);
	CU_ASSERT(fo_now_ns() - t0 < 10 * FO_SEC);
	CU_ASSERT_EQUAL(rep.count[FO_OK], 3);
	CU_ASSERT_EQUAL(rep.count[FO_CANCELLED], 3);
	CU_ASSERT_EQUAL(rep.cause, FO_CAUSE_POLICY);
	fo_report_clear(&rep);
	need = 7; /* more than there are branches: refused by init */
	CU_ASSERT_EQUAL(fo_fanout(NULL, tasks, 6, fast_unless_even, NULL, &cfg, res, NULL),
			-EINVAL);
}

static void test_policy_names(void)
{
	CU_ASSERT_PTR_EQUAL(fo_policy_by_name("fail-fast"), fo_policy_builtin(FO_FAILFAST));
	CU_ASSERT_PTR_EQUAL(fo_policy_by_name("CollectAll"), fo_policy_builtin(FO_COLLECTALL));
	CU_ASSERT_PTR_EQUAL(fo_policy_by_name("besteffort"), fo_policy_builtin(FO_BESTEFFORT));
	CU_ASSERT_PTR_NULL(fo_policy_by_name("sometimes"));
	CU_ASSERT_PTR_NULL(fo_policy_by_name(NULL));
	CU_ASSERT_STRING_EQUAL(fo_policy_builtin(FO_BESTEFFORT)->name, "besteffort");
}

int main(void)
{
	static const struct fo_test tests[] = {
		FO_TEST(test_failfast_cancels_siblings),
		FO_TEST(test_failfast_starts_nothing_after_failure),
		FO_TEST(test_collectall_joins_every_error),
		FO_TEST(test_besteffort_drops_failures_reports_them),
		FO_TEST(test_unordered_delivers_each_once),
		FO_TEST(test_pluggable_quorum_policy),
		FO_TEST(test_policy_names),
	};
	return fo_test_main("policy", tests, ARRAY_SIZE(tests));
}
