/* SPDX-License-Identifier: MIT */
/*
 * daemon/budget.c: hedging's token count per downstream (gRFC A6
 * retryThrottling) and share cap per branch, exact under contention.
 */
#include <pthread.h>

#include "budget.h"
#include "testutil.h"

/* max 10, ratio 0.1: starts full; hedges only while the count is above 5. */
static void test_tokens_threshold(void)
{
	struct fod_tokens t;
	fod_tokens_init(&t, 10, 0.1);
	CU_ASSERT_TRUE(fod_tokens_allow(&t));
	for (int i = 0; i < 4; i++)
		fod_tokens_record(&t, false);
	CU_ASSERT_TRUE(fod_tokens_allow(&t)); /* 6 */
	fod_tokens_record(&t, false);
	CU_ASSERT_FALSE(fod_tokens_allow(&t)); /* 5: not above half */
	fod_tokens_record(&t, true);
	CU_ASSERT_TRUE(fod_tokens_allow(&t)); /* 5.1 */
	fod_tokens_record(&t, false);
	/* Ten successes of 0.1 are exactly one token: thousandths, no rounding drift. */
	for (int i = 0; i < 9; i++)
		fod_tokens_record(&t, true);
	CU_ASSERT_EQUAL(atomic_load(&t.milli), 5000);
	CU_ASSERT_FALSE(fod_tokens_allow(&t));
	fod_tokens_record(&t, true);
	CU_ASSERT_EQUAL(atomic_load(&t.milli), 5100);
}

/* Never above max_tokens, never below 0; an odd max's half is not rounded. */
static void test_tokens_bounds(void)
{
	struct fod_tokens t;
	fod_tokens_init(&t, 3, 2.5);
	fod_tokens_record(&t, true);
	CU_ASSERT_EQUAL(atomic_load(&t.milli), 3000);
	for (int i = 0; i < 10; i++)
		fod_tokens_record(&t, false);
	CU_ASSERT_EQUAL(atomic_load(&t.milli), 0);
	CU_ASSERT_FALSE(fod_tokens_allow(&t));
	fod_tokens_record(&t, true); /* 2.5: above 1.5 */
	CU_ASSERT_TRUE(fod_tokens_allow(&t));
	fod_tokens_record(&t, false); /* 1.5: at half exactly */
	CU_ASSERT_FALSE(fod_tokens_allow(&t));
}

#define THREADS 4
#define PER	20000

static struct fod_tokens race_tokens;
static void *tokens_racer(void *arg)
{
	(void)arg;
	for (int i = 0; i < PER; i++)
		fod_tokens_record(&race_tokens, i % 5 != 0); /* 4 successes of 0.25, 1 failure */
	return NULL;
}

/* Concurrent updates lose nothing: the count ends where the arithmetic says. */
static void test_tokens_exact_under_contention(void)
{
	fod_tokens_init(&race_tokens, 1000, 0.25);
	for (int i = 0; i < 500; i++)
		fod_tokens_record(&race_tokens, false); /* 500: room both ways */
	pthread_t th[THREADS];
	for (int i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, tokens_racer, NULL);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	/* each thread: 16000 × 0.25 - 4000 × 1 = 0, never near a bound */
	CU_ASSERT_EQUAL(atomic_load(&race_tokens.milli), 500000);
}

/* 5 %: one hedge at the start, then one per 20 calls. */
static void test_share_per_calls(void)
{
	struct fod_share s;
	fod_share_init(&s, 0.05);
	CU_ASSERT_TRUE(fod_share_take(&s));
	CU_ASSERT_FALSE(fod_share_take(&s));
	for (int i = 0; i < 19; i++)
		fod_share_call(&s);
	CU_ASSERT_FALSE(fod_share_take(&s));
	fod_share_call(&s);
	CU_ASSERT_TRUE(fod_share_take(&s));
	CU_ASSERT_FALSE(fod_share_take(&s));
	/* Taken then refused elsewhere: given back. */
	for (int i = 0; i < 20; i++)
		fod_share_call(&s);
	CU_ASSERT_TRUE(fod_share_take(&s));
	fod_share_return(&s);
	CU_ASSERT_TRUE(fod_share_take(&s));
	CU_ASSERT_FALSE(fod_share_take(&s));
}

/* A quiet spell saves what FOD_SHARE_WINDOW calls earn (10 at 5 %); share 0 never allows one. */
static void test_share_burst_and_zero(void)
{
	struct fod_share s;
	fod_share_init(&s, 0.05);
	for (int i = 0; i < 100000; i++)
		fod_share_call(&s);
	int taken = 0;
	while (fod_share_take(&s))
		taken++;
	CU_ASSERT_EQUAL(taken, FOD_SHARE_WINDOW / 20);
	fod_share_init(&s, 0.001); /* a window's worth is under one hedge: one still fits */
	for (int i = 0; i < 100000; i++)
		fod_share_call(&s);
	CU_ASSERT_TRUE(fod_share_take(&s));
	CU_ASSERT_FALSE(fod_share_take(&s));
	fod_share_init(&s, 0);
	for (int i = 0; i < 1000; i++)
		fod_share_call(&s);
	CU_ASSERT_FALSE(fod_share_take(&s));
}

static struct fod_share race_share;
static atomic_long race_taken;
static void *share_racer(void *arg)
{
	(void)arg;
	for (int i = 0; i < PER; i++) {
		fod_share_call(&race_share);
		if (fod_share_take(&race_share))
			atomic_fetch_add(&race_taken, 1);
	}
	return NULL;
}

/* Every call tries to hedge at once: exactly share × calls (+ the first) go. */
static void test_share_exact_under_contention(void)
{
	fod_share_init(&race_share, 0.05);
	atomic_store(&race_taken, 0);
	pthread_t th[THREADS];
	for (int i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, share_racer, NULL);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	CU_ASSERT_EQUAL(atomic_load(&race_taken), 1 + THREADS * PER / 20);
}

int main(void)
{
	static const struct fo_test tests[] = {
		FO_TEST(test_tokens_threshold),
		FO_TEST(test_tokens_bounds),
		FO_TEST(test_tokens_exact_under_contention),
		FO_TEST(test_share_per_calls),
		FO_TEST(test_share_burst_and_zero),
		FO_TEST(test_share_exact_under_contention),
	};
	return fo_test_main("budget", tests, ARRAY_SIZE(tests));
}
