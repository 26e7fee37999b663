/* SPDX-License-Identifier: MIT */
/*
 * lib/unit.c: the fan-out engine. Stage 0 (F = 5, correct join, baseline
 * restored), zero leak on every early return, the leak detector's own
 * failure, limits per unit and across units, admission and feedback.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "fanoutd/fanout.h"
#include "fanoutd/sim.h"
#include "testutil.h"

/* ---- task functions */

static int digest(struct fo_ctx *ctx, const struct fo_task *t, struct fo_result *out, void *arg)
{
	(void)ctx;
	(void)arg;
	uint8_t d[16];
	fo_digest16(t->payload, t->len, d);
	return fo_result_set(out, d, sizeof(d));
}

/* Sleeps payload ns (honouring ctx); kind "fail" fails at once. */
static int sleeper(struct fo_ctx *ctx, const struct fo_task *t, struct fo_result *out, void *arg)
{
	(void)out;
	(void)arg;
	if (t->kind && strcmp(t->kind, "fail") == 0)
		return -EIO;
	return fo_ctx_sleep(ctx, *(const int64_t *)t->payload);
}

static void sleep_tasks(struct fo_task *t, size_t n, const int64_t *ns)
{
	for (size_t i = 0; i < n; i++)
		t[i] = (struct fo_task){.id = i, .payload = ns, .len = sizeof(*ns)};
}

/* ---- Stage 0 */

static void test_stage0_f5_join_and_baseline(void)
{
	struct fo_snapshot base;
	fo_snapshot_take(&base);
	char payloads[5][32];
	struct fo_task tasks[5];
	for (int i = 0; i < 5; i++) {
		memset(payloads[i], 'a' + i, sizeof(payloads[i]));
		tasks[i] = (struct fo_task){.id = 100 + i, .payload = payloads[i], .len = 32};
	}
	struct fo_result res[5];
	struct fo_report rep;
	struct fo_config cfg = {.limit = 5, .ordered = true};
	CU_ASSERT_EQUAL(fo_fanout(NULL, tasks, 5, digest, NULL, &cfg, res, &rep), 0);
	for (int i = 0; i < 5; i++) {
		uint8_t want[16];
		fo_digest16(payloads[i], 32, want);
		CU_ASSERT_EQUAL(res[i].outcome, FO_OK);
		CU_ASSERT_EQUAL(res[i].task_id, (uint64_t)(100 + i));
		CU_ASSERT_EQUAL(res[i].index, (size_t)i);
		CU_ASSERT_EQUAL(res[i].len, 16);
		CU_ASSERT_EQUAL(memcmp(fo_result_data(&res[i]), want, 16), 0);
		fo_result_clear(&res[i]);
	}
	CU_ASSERT_EQUAL(rep.count[FO_OK], 5);
	CU_ASSERT_EQUAL(rep.cause, FO_LIVE);
	fo_report_clear(&rep);
	CU_ASSERT_TRUE(fo_snapshot_back_to(&base, 1000));
}

/* ---- zero leak on early return: fail-fast, deadline, caller cancel */

struct canceller {
	struct fo_ctx *ctx;
	int64_t after_ns;
};

static void *cancel_later(void *arg)
{
	struct canceller *c = arg;
	fo_ctx_sleep(NULL, c->after_ns);
	fo_ctx_cancel(c->ctx, FO_CAUSE_CLIENT_GONE);
	return NULL;
}

static void early_return_case(bool async, int which)
{
	struct fo_test_loop *loop = async ? fo_test_loop_new() : NULL;
	struct fo_snapshot base;
	fo_snapshot_take(&base);
	int64_t slow = 30 * FO_SEC;
	struct fo_task tasks[5];
	sleep_tasks(tasks, 5, &slow);
	int64_t at_once = 0;
	if (which == 0) {
		tasks[3].kind = "fail";
		tasks[3].payload = &at_once;
	}
	struct fo_ctx *ctx = fo_ctx_new(which == 1 ? fo_now_ns() + 50 * FO_MSEC : FO_NO_DEADLINE);
	struct canceller c = {.ctx = ctx, .after_ns = 20 * FO_MSEC};
	pthread_t t;
	if (which == 2)
		pthread_create(&t, NULL, cancel_later, &c);
	struct fo_config cfg = {
		.limit = 5, .ordered = true, .start = async ? fo_test_loop_start : NULL};
	struct fo_result res[5];
	int64_t t0 = fo_now_ns();
	int rc = fo_fanout(ctx, tasks, 5, async ? NULL : sleeper, loop, &cfg, res, NULL);
	CU_ASSERT(fo_now_ns() - t0 < 10 * FO_SEC); /* returned early, not after 30 s */
	CU_ASSERT_EQUAL(rc, which == 0 ? -EIO : which == 1 ? -ETIMEDOUT : -ECANCELED);
	if (which == 2)
		pthread_join(t, NULL);
	for (int i = 0; i < 5; i++)
		CU_ASSERT_NOT_EQUAL(res[i].outcome, FO_OK);
	CU_ASSERT_TRUE(fo_snapshot_back_to(&base, 1000));
	fo_ctx_unref(ctx);
	if (loop)
		fo_test_loop_free(loop);
}

static void test_no_leak_failfast_blocking(void)
{
	early_return_case(false, 0);
}
static void test_no_leak_deadline_blocking(void)
{
	early_return_case(false, 1);
}
static void test_no_leak_caller_cancel_blocking(void)
{
	early_return_case(false, 2);
}
static void test_no_leak_failfast_async(void)
{
	early_return_case(true, 0);
}
static void test_no_leak_deadline_async(void)
{
	early_return_case(true, 1);
}
static void test_no_leak_caller_cancel_async(void)
{
	early_return_case(true, 2);
}

/* ---- the detector can fail: a branch that ignores its context leaks */

static pthread_t rogue;
static int rogue_fd[2] = {-1, -1};

static void *ignore_everything(void *arg)
{
	(void)arg;
	fo_ctx_sleep(NULL, 1500 * FO_MSEC); /* no ctx: the bug */
	return NULL;
}

static int leaky(struct fo_ctx *ctx, const struct fo_task *t, struct fo_result *out, void *arg)
{
	(void)ctx;
	(void)out;
	(void)arg;
	if (t->id == 0) /* work handed to a thread nobody cancels: `go f()` without ctx */
		pthread_create(&rogue, NULL, ignore_everything, NULL);
	else if (t->id == 1) /* a descriptor nobody closes */
		return pipe(rogue_fd) == 0 ? 0 : -errno;
	return 0;
}

static void test_detector_catches_leaking_branch(void)
{
	struct fo_snapshot base;
	fo_snapshot_take(&base);
	struct fo_task tasks[2] = {{.id = 0}, {.id = 1}};
	CU_ASSERT_EQUAL(fo_fanout(NULL, tasks, 2, leaky, NULL, NULL, NULL, NULL), 0);
	CU_ASSERT_FALSE(fo_snapshot_back_to(&base, 1000)); /* the detector sees it */
	pthread_join(rogue, NULL);
	close(rogue_fd[0]);
	close(rogue_fd[1]);
	CU_ASSERT_TRUE(fo_snapshot_back_to(&base, 1000));
}

/* ---- limits */

static atomic_int now_running, max_running;

static int count_concurrency(struct fo_ctx *ctx, const struct fo_task *t, struct fo_result *out,
			     void *arg)
{
	(void)t;
	(void)out;
	(void)arg;
	int n = atomic_fetch_add(&now_running, 1) + 1, m = atomic_load(&max_running);
	while (n > m && !atomic_compare_exchange_weak(&max_running, &m, n))
		;
	/* Wait (up to 5 s) for the group of three to be running together. */
	int64_t until = fo_now_ns() + 5 * FO_SEC;
	while (atomic_load(&now_running) < 3 && atomic_load(&max_running) < 3 &&
	       fo_now_ns() < until)
		fo_ctx_sleep(ctx, FO_MSEC / 10);
	fo_ctx_sleep(ctx, FO_MSEC);
	atomic_fetch_sub(&now_running, 1);
	return 0;
}

static void test_per_unit_limit_holds(void)
{
	struct fo_task tasks[39] = {0};
	struct fo_pool *pool = fo_pool_new(8); /* more threads than the limit */
	struct fo_config cfg = {.limit = 3, .pool = pool};
	atomic_store(&max_running, 0);
	CU_ASSERT_EQUAL(fo_fanout(NULL, tasks, 39, count_concurrency, NULL, &cfg, NULL, NULL), 0);
	CU_ASSERT_EQUAL(atomic_load(&max_running), 3);
	fo_pool_free(pool);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	CU_ASSERT_EQUAL(fo_effective_limit(0),
			4 * (unsigned)cpus); /* 0: a default, never unbounded */
	CU_ASSERT_EQUAL(fo_effective_limit(7), 7);
}

struct unit_done {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int finished, rc[8];
};

static void count_done(struct fo_unit *u, int rc, void *arg)
{
	struct unit_done *d = arg;
	pthread_mutex_lock(&d->lock);
	d->rc[d->finished++] = rc;
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
	(void)u;
}

static void wait_units(struct unit_done *d, int n)
{
	pthread_mutex_lock(&d->lock);
	while (d->finished < n)
		pthread_cond_wait(&d->cond, &d->lock);
	pthread_mutex_unlock(&d->lock);
}

/* Eight units of 5 async branches share a global limit of 3: never more in flight. */
static void test_global_limit_across_units(void)
{
	struct fo_test_loop *loop = fo_test_loop_new();
	struct fo_sem *global = fo_sem_new(3);
	int64_t lat = 2 * FO_MSEC;
	struct fo_task tasks[8][5];
	struct fo_unit *units[8];
	struct unit_done d = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
	struct fo_snapshot base;
	fo_snapshot_take(&base);
	struct fo_config cfg = {.limit = 5,
				.global = global,
				.start = fo_test_loop_start,
				.policy = fo_policy_builtin(FO_COLLECTALL)};
	for (int u = 0; u < 8; u++) {
		sleep_tasks(tasks[u], 5, &lat);
		/* Never blocks: a unit waiting for capacity is a queued callback. */
		CU_ASSERT_EQUAL(fo_unit_start(NULL, tasks[u], 5, NULL, loop, &cfg, NULL, count_done,
					      &d, &units[u]),
				0);
	}
	struct fo_snapshot during;
	fo_snapshot_take(&during);
	CU_ASSERT_EQUAL(during.threads, base.threads);
	wait_units(&d, 8);
	for (int u = 0; u < 8; u++) {
		struct fo_report rep;
		fo_unit_take_report(units[u], &rep);
		CU_ASSERT_EQUAL(rep.count[FO_OK], 5);
		CU_ASSERT_EQUAL(d.rc[u], 0);
		fo_report_clear(&rep);
		fo_unit_free(units[u]);
	}
	CU_ASSERT_EQUAL(fo_sem_high_water(global), 3);
	CU_ASSERT_EQUAL(fo_sem_in_use(global), 0);
	fo_sem_free(global);
	fo_test_loop_free(loop);
}

/* A unit waits for admission up to its budget, then its branches are shed. */
static void test_admission_wait_bounded_by_budget(void)
{
	struct fo_sem *global = fo_sem_new(1);
	fo_sem_acquire(global, NULL, 1); /* full */
	int64_t lat = 0;
	struct fo_task tasks[4];
	sleep_tasks(tasks, 4, &lat);
	struct fo_ctx *ctx = fo_ctx_new(fo_now_ns() + 30 * FO_MSEC);
	struct fo_config cfg = {
		.limit = 4, .global = global, .policy = fo_policy_builtin(FO_BESTEFFORT)};
	struct fo_report rep;
	CU_ASSERT_EQUAL(fo_fanout(ctx, tasks, 4, sleeper, NULL, &cfg, NULL, &rep), 0);
	CU_ASSERT_EQUAL(rep.count[FO_SHED], 1);	   /* the one queued for capacity */
	CU_ASSERT_EQUAL(rep.count[FO_SKIPPED], 3); /* the rest never got a budget */
	CU_ASSERT(rep.admit_wait_ns >= 20 * FO_MSEC);
	CU_ASSERT_EQUAL(rep.cause, FO_CAUSE_DEADLINE);
	CU_ASSERT_EQUAL(fo_sem_waiting(global), 0);
	fo_report_clear(&rep);
	fo_sem_release(global, 1);
	fo_sem_free(global);
	fo_ctx_unref(ctx);
}

static void test_unit_cancel_reaches_queued_admission(void)
{
	struct fo_sem *global = fo_sem_new(1);
	fo_sem_acquire(global, NULL, 1);
	int64_t lat = 0;
	struct fo_task tasks[3];
	sleep_tasks(tasks, 3, &lat);
	struct unit_done d = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
	struct fo_config cfg = {.limit = 3, .global = global};
	struct fo_unit *u;
	CU_ASSERT_EQUAL(
		fo_unit_start(NULL, tasks, 3, sleeper, NULL, &cfg, NULL, count_done, &d, &u), 0);
	CU_ASSERT_EQUAL(fo_sem_waiting(global), 1);
	fo_unit_cancel(u, FO_CAUSE_CLIENT_GONE);
	wait_units(&d, 1);
	CU_ASSERT_EQUAL(d.rc[0], -ECANCELED);
	CU_ASSERT_EQUAL(fo_sem_waiting(global), 0);
	struct fo_report rep;
	fo_unit_take_report(u, &rep);
	CU_ASSERT_EQUAL(rep.count[FO_CANCELLED], 3);
	fo_report_clear(&rep);
	fo_unit_free(u);
	fo_sem_release(global, 1);
	fo_sem_free(global);
}

/* Limiters learn from real outcomes, not from siblings cancelled by fail-fast. */
static atomic_int fed[FO_OUTCOME_MAX];
static void feedback(void *arg, enum fo_outcome o, int64_t dur)
{
	(void)arg;
	(void)dur;
	atomic_fetch_add(&fed[o], 1);
}

static void test_feedback_ignores_sibling_cancels(void)
{
	struct fo_sem *global = fo_sem_new(10);
	int64_t slow = 30 * FO_SEC;
	struct fo_task tasks[5];
	sleep_tasks(tasks, 5, &slow);
	tasks[2].kind = "fail";
	struct fo_config cfg = {.limit = 5, .global = global, .feedback = feedback};
	CU_ASSERT_EQUAL(fo_fanout(NULL, tasks, 5, sleeper, NULL, &cfg, NULL, NULL), -EIO);
	CU_ASSERT_EQUAL(atomic_load(&fed[FO_ERROR]), 1);
	CU_ASSERT_EQUAL(atomic_load(&fed[FO_CANCELLED]), 0);
	CU_ASSERT_EQUAL(fo_sem_in_use(global), 0);
	fo_sem_free(global);
}

static void test_bad_arguments(void)
{
	struct fo_task t = {0};
	CU_ASSERT_EQUAL(fo_fanout(NULL, &t, 1, NULL, NULL, NULL, NULL, NULL), -EINVAL);
	CU_ASSERT_EQUAL(fo_fanout(NULL, NULL, 1, digest, NULL, NULL, NULL, NULL), -EINVAL);
	CU_ASSERT_EQUAL(fo_fanout(NULL, NULL, 0, digest, NULL, NULL, NULL, NULL), 0);
}

int main(void)
{
	static const struct fo_test tests[] = {
		FO_TEST(test_stage0_f5_join_and_baseline),
		FO_TEST(test_no_leak_failfast_blocking),
		FO_TEST(test_no_leak_deadline_blocking),
		FO_TEST(test_no_leak_caller_cancel_blocking),
		FO_TEST(test_no_leak_failfast_async),
		FO_TEST(test_no_leak_deadline_async),
		FO_TEST(test_no_leak_caller_cancel_async),
		FO_TEST(test_detector_catches_leaking_branch),
		FO_TEST(test_per_unit_limit_holds),
		FO_TEST(test_global_limit_across_units),
		FO_TEST(test_admission_wait_bounded_by_budget),
		FO_TEST(test_unit_cancel_reaches_queued_admission),
		FO_TEST(test_feedback_ignores_sibling_cancels),
		FO_TEST(test_bad_arguments),
	};
	return fo_test_main("unit", tests, ARRAY_SIZE(tests));
}
