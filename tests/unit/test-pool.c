/* SPDX-License-Identifier: MIT */
/* lib/pool.c: fixed thread count, every job runs once, jobs run in parallel. */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "fanoutd/fanout.h"
#include "testutil.h"

struct counted_job {
	struct fo_job job;
	atomic_int *runs;
};

static void count_run(struct fo_job *job)
{
	atomic_fetch_add(((struct counted_job *)job)->runs, 1);
}

static void test_every_job_runs_once(void)
{
	enum { JOBS = 10000 };
	struct fo_pool *pool = fo_pool_new(3);
	CU_ASSERT_EQUAL_FATAL(fo_pool_threads(pool), 3);
	static struct counted_job jobs[JOBS];
	static atomic_int runs[JOBS];
	for (int i = 0; i < JOBS; i++) {
		jobs[i] = (struct counted_job){.job.fn = count_run, .runs = &runs[i]};
		fo_pool_submit(pool, &jobs[i].job);
	}
	fo_pool_free(pool); /* runs what is queued, then joins */
	for (int i = 0; i < JOBS; i++)
		CU_ASSERT_EQUAL(atomic_load(&runs[i]), 1);
}

/*
 * Four jobs that each wait for all four to be running: they can only all
 * meet if four threads run them at once. A pool that ran them one by one
 * would see each give up after 10 s and the test fail (not hang).
 */
static pthread_mutex_t meet_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t meet_cond = PTHREAD_COND_INITIALIZER;
static int arrived, met;

static void meet(struct fo_job *job)
{
	(void)job;
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	pthread_mutex_lock(&meet_lock);
	arrived++;
	pthread_cond_broadcast(&meet_cond);
	while (arrived < 4)
		if (pthread_cond_timedwait(&meet_cond, &meet_lock, &until) != 0)
			break;
	met += arrived >= 4;
	pthread_mutex_unlock(&meet_lock);
}

static void test_jobs_run_in_parallel(void)
{
	struct fo_pool *pool = fo_pool_new(4);
	struct fo_job jobs[4];
	for (int i = 0; i < 4; i++) {
		jobs[i].fn = meet;
		fo_pool_submit(pool, &jobs[i]);
	}
	fo_pool_free(pool);
	CU_ASSERT_EQUAL(met, 4);
}

static void test_thread_count_is_fixed_and_returned(void)
{
	struct fo_snapshot base, during;
	fo_snapshot_take(&base);
	struct fo_pool *pool = fo_pool_new(5);
	fo_snapshot_take(&during);
	CU_ASSERT_EQUAL(during.threads, base.threads + 5);
	fo_pool_free(pool);
	CU_ASSERT_TRUE(fo_snapshot_back_to(&base, 1000));
	CU_ASSERT_PTR_NOT_NULL(fo_pool_default());
	CU_ASSERT_PTR_EQUAL(fo_pool_default(), fo_pool_default());
}

int main(void)
{
	static const struct fo_test tests[] = {
		FO_TEST(test_every_job_runs_once),
		FO_TEST(test_jobs_run_in_parallel),
		FO_TEST(test_thread_count_is_fixed_and_returned),
	};
	return fo_test_main("pool", tests, ARRAY_SIZE(tests));
}
