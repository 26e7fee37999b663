/* SPDX-License-Identifier: MIT */
/* lib/chan.c: FIFO with batches, close semantics, blocking as backpressure. */
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "fanoutd/fanout.h"
#include "testutil.h"

static void test_fifo_across_wraparound(void)
{
	struct fo_chan *ch = fo_chan_new(7, sizeof(int));
	int next_in = 0, next_out = 0;
	uint64_t seq;
	for (int round = 0; round < 50; round++) {
		int buf[5];
		for (int i = 0; i < 5; i++)
			buf[i] = next_in++;
		CU_ASSERT_EQUAL(fo_chan_send(ch, NULL, buf, 5), 5);
		int out[5];
		long n = fo_chan_recv(ch, NULL, out, 5, &seq);
		CU_ASSERT_EQUAL(n, 5);
		CU_ASSERT_EQUAL(seq, (uint64_t)next_out); /* arrival sequence of the first */
		for (long i = 0; i < n; i++)
			CU_ASSERT_EQUAL(out[i], next_out++);
	}
	CU_ASSERT_EQUAL(fo_chan_len(ch), 0);
	CU_ASSERT_EQUAL(fo_chan_cap(ch), 7);
	fo_chan_free(ch);
}

static void test_close_drains_then_ends(void)
{
	struct fo_chan *ch = fo_chan_new(4, sizeof(int));
	int v[3] = {1, 2, 3}, out[4];
	fo_chan_send(ch, NULL, v, 3);
	fo_chan_close(ch);
	CU_ASSERT_EQUAL(fo_chan_send(ch, NULL, v, 1), -EPIPE);
	CU_ASSERT_EQUAL(fo_chan_recv(ch, NULL, out, 2, NULL), 2);
	CU_ASSERT_EQUAL(fo_chan_recv(ch, NULL, out, 4, NULL), 1);
	CU_ASSERT_EQUAL(out[0], 3);
	CU_ASSERT_EQUAL(fo_chan_recv(ch, NULL, out, 4, NULL), 0);
	fo_chan_free(ch);
	CU_ASSERT_PTR_NULL(fo_chan_new(0, 4));
}

struct sender {
	struct fo_chan *ch;
	struct fo_ctx *ctx;
	int value;
	long rc;
};

static void *send_one(void *arg)
{
	struct sender *s = arg;
	s->rc = fo_chan_send(s->ch, s->ctx, &s->value, 1);
	return NULL;
}

static void test_full_channel_blocks_sender_until_read(void)
{
	struct fo_chan *ch = fo_chan_new(2, sizeof(int));
	int v[2] = {10, 11}, out;
	fo_chan_send(ch, NULL, v, 2);
	struct sender s = {.ch = ch, .value = 12};
	pthread_t t;
	pthread_create(&t, NULL, send_one, &s);
	/* A sender that did not block would have returned long before 300 ms. */
	CU_ASSERT_FALSE(fo_test_joined_within(t, 300));
	CU_ASSERT_EQUAL(fo_chan_len(ch), 2);
	CU_ASSERT_EQUAL(fo_chan_recv(ch, NULL, &out, 1, NULL), 1);
	pthread_join(t, NULL);
	CU_ASSERT_EQUAL(s.rc, 1);
	fo_chan_recv(ch, NULL, &out, 1, NULL);
	fo_chan_recv(ch, NULL, &out, 1, NULL);
	CU_ASSERT_EQUAL(out, 12);
	fo_chan_free(ch);
}

static void test_blocked_sender_wakes_on_cancel_and_close(void)
{
	struct fo_chan *ch = fo_chan_new(1, sizeof(int));
	int v = 1;
	fo_chan_send(ch, NULL, &v, 1);
	struct sender s = {.ch = ch, .ctx = fo_ctx_new(FO_NO_DEADLINE), .value = 2};
	pthread_t t;
	pthread_create(&t, NULL, send_one, &s);
	fo_ctx_cancel(s.ctx, FO_CAUSE_CANCELLED);
	pthread_join(t, NULL);
	CU_ASSERT_EQUAL(s.rc, -ECANCELED);
	fo_ctx_unref(s.ctx);

	struct sender c = {.ch = ch, .value = 3};
	pthread_create(&t, NULL, send_one, &c);
	fo_chan_close(ch);
	pthread_join(t, NULL);
	CU_ASSERT_EQUAL(c.rc, -EPIPE);
	fo_chan_free(ch);
}

static void test_receiver_times_out(void)
{
	struct fo_chan *ch = fo_chan_new(1, sizeof(int));
	struct fo_ctx *ctx = fo_ctx_new(fo_now_ns() + 10 * FO_MSEC);
	int out;
	CU_ASSERT_EQUAL(fo_chan_recv(ch, ctx, &out, 1, NULL), -ETIMEDOUT);
	fo_ctx_unref(ctx);
	fo_chan_free(ch);
}

int main(void)
{
	static const struct fo_test tests[] = {
		FO_TEST(test_fifo_across_wraparound),
		FO_TEST(test_close_drains_then_ends),
		FO_TEST(test_full_channel_blocks_sender_until_read),
		FO_TEST(test_blocked_sender_wakes_on_cancel_and_close),
		FO_TEST(test_receiver_times_out),
	};
	return fo_test_main("chan", tests, ARRAY_SIZE(tests));
}
