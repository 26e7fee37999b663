/* SPDX-License-Identifier: MIT */
/*
 * lib/stream.c: streaming fan-out. Order and completeness, backpressure
 * (a stopped consumer blocks the producer within a fixed bound), a stuck
 * head bounded by the reorder window, policies, cancellation without leaks.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fanoutd/fanout.h"
#include "fanoutd/sim.h"
#include "testutil.h"

/* ---- producer and task functions */

struct producer {
	struct fo_chan *in;
	struct fo_ctx *ctx;
	uint64_t n;
	const int64_t *latency; /* per task, indexed by id; NULL = payload is the id */
	const char *kind;
	uint64_t fail_id;
	atomic_ulong sent;
	long rc;
	pthread_t thread;
};

static void *produce(void *arg)
{
	struct producer *p = arg;
	p->rc = 0;
	for (uint64_t i = 0; i < p->n; i++) {
		struct fo_task t = {.id = i, .kind = i == p->fail_id ? "fail" : p->kind};
		if (p->latency) {
			t.payload = &p->latency[i];
			t.len = sizeof(int64_t);
		}
		long r = fo_chan_send(p->in, p->ctx, &t, 1);
		if (r < 0) {
			p->rc = r;
			return NULL;
		}
		atomic_fetch_add(&p->sent, 1);
	}
	fo_chan_close(p->in);
	return NULL;
}

static void start_producer(struct producer *p)
{
	atomic_init(&p->sent, 0);
	pthread_create(&p->thread, NULL, produce, p);
}

static int id_digest(struct fo_ctx *ctx, const struct fo_task *t, struct fo_result *out, void *arg)
{
	(void)ctx;
	(void)arg;
	if (t->kind && strcmp(t->kind, "fail") == 0)
		return -EIO;
	uint8_t d[16];
	fo_digest16(&t->id, sizeof(t->id), d);
	return fo_result_set(out, d, sizeof(d));
}

static bool digest_ok(const struct fo_result *r)
{
	uint8_t d[16];
	fo_digest16(&r->task_id, sizeof(r->task_id), d);
	return r->len == 16 && memcmp(fo_result_data(r), d, 16) == 0;
}

/* ---- order and completeness */

static void run_complete(bool ordered, bool async)
{
	enum { N = 100000 };
	struct fo_test_loop *loop = async ? fo_test_loop_new() : NULL;
	int64_t *lat = NULL;
	if (async) { /* random latencies: completion order is scrambled */
		lat = malloc(N * sizeof(*lat));
		unsigned seed = 1;
		for (int i = 0; i < N; i++)
			lat[i] = (rand_r(&seed) % 1000) * 1000;
	}
	struct fo_chan *in = fo_chan_new(256, sizeof(struct fo_task));
	struct fo_chan *out = fo_chan_new(256, sizeof(struct fo_result));
	struct producer p = {.in = in, .n = N, .latency = lat, .fail_id = UINT64_MAX};
	start_producer(&p);
	struct fo_config cfg = {.limit = async ? 1000 : 4,
				.ordered = ordered,
				.start = async ? fo_test_loop_start : NULL};
	struct fo_stream *s = fo_fanout_stream(NULL, in, out, async ? NULL : id_digest, loop, &cfg);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	unsigned char *seen = calloc(N, 1);
	size_t got = 0, bad = 0, misordered = 0;
	struct fo_result r[64];
	long k;
	while ((k = fo_chan_recv(out, NULL, r, 64, NULL)) > 0) {
		for (long i = 0; i < k; i++) {
			if (ordered && r[i].task_id != got)
				misordered++;
			if (r[i].task_id < N)
				seen[r[i].task_id]++;
			if (r[i].outcome != FO_OK || (!async && !digest_ok(&r[i])))
				bad++;
			if (r[i].index != r[i].task_id) /* arrival sequence = id here */
				bad++;
			got++;
			fo_result_clear(&r[i]);
		}
	}
	struct fo_report rep;
	CU_ASSERT_EQUAL(fo_stream_wait(s, &rep), 0);
	pthread_join(p.thread, NULL);
	CU_ASSERT_EQUAL(got, N);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(misordered, 0);
	size_t once = 0;
	for (int i = 0; i < N; i++)
		once += seen[i] == 1;
	CU_ASSERT_EQUAL(once, N);
	CU_ASSERT_EQUAL(rep.total, N);
	CU_ASSERT_EQUAL(rep.count[FO_OK], N);
	fo_report_clear(&rep);
	free(seen);
	free(lat);
	fo_chan_free(in);
	fo_chan_free(out);
	if (loop)
		fo_test_loop_free(loop);
}

static void test_unordered_blocking_complete(void)
{
	run_complete(false, false);
}
static void test_ordered_blocking_in_order(void)
{
	run_complete(true, false);
}
static void test_unordered_async_complete(void)
{
	run_complete(false, true);
}
static void test_ordered_async_in_order(void)
{
	run_complete(true, true);
}

/* ---- backpressure: a consumer that stops reading blocks the producer */

static void test_stopped_consumer_blocks_producer(void)
{
	enum { IN = 32, OUT = 16, LIMIT = 4, READ = 1000 };
	/* Before anything starts: all this test starts must be gone when it ends. */
	struct fo_snapshot base;
	fo_snapshot_take(&base);
	struct fo_chan *in = fo_chan_new(IN, sizeof(struct fo_task));
	struct fo_chan *out = fo_chan_new(OUT, sizeof(struct fo_result));
	struct producer p = {.in = in, .n = 10 * 1000 * 1000, .fail_id = UINT64_MAX};
	start_producer(&p);
	struct fo_config cfg = {.limit = LIMIT};
	struct fo_stream *s = fo_fanout_stream(NULL, in, out, id_digest, NULL, &cfg);
	struct fo_result r;
	for (int i = 0; i < READ; i++) {
		CU_ASSERT_EQUAL_FATAL(fo_chan_recv(out, NULL, &r, 1, NULL), 1);
		fo_result_clear(&r);
	}
	/* The consumer stops. 10 M tasks would take well under a second to stream. */
	CU_ASSERT_FALSE(fo_test_joined_within(p.thread, 500));
	unsigned long sent = atomic_load(&p.sent);
	/* Held beyond what was read: in + out + the workers' batches (at most in's size, or limit).
	 */
	unsigned long bound = READ + IN + OUT + IN + LIMIT;
	CU_ASSERT(sent <= bound);
	CU_ASSERT_FALSE(fo_test_joined_within(p.thread, 200));
	CU_ASSERT_EQUAL(atomic_load(&p.sent), sent); /* blocked, not crawling */
	/* Resume: the stream flows again. */
	for (int i = 0; i < 5000; i++) {
		CU_ASSERT_EQUAL_FATAL(fo_chan_recv(out, NULL, &r, 1, NULL), 1);
		fo_result_clear(&r);
	}
	CU_ASSERT(atomic_load(&p.sent) > sent);
	/* Stop the consumer for good: cancelling frees everyone. */
	fo_chan_close(out); /* the stream's sends now fail: its workers wind down */
	fo_stream_wait(s, NULL);
	pthread_join(p.thread, NULL);
	CU_ASSERT_EQUAL(p.rc, -EPIPE); /* the producer was told, not left blocked */
	fo_chan_free(in);
	fo_chan_free(out);
	CU_ASSERT_TRUE(fo_snapshot_back_to(&base, 1000));
}

/*
 * The same with async branches. A slot comes back only once its result is in
 * out, so with the consumer stopped the stream holds at most limit results
 * (in flight, done, or in the emitter's hands) beyond out and in: the bound
 * is exact. Many slots make a slot released early (before the send) show:
 * the emitter blocks on out holding a batch whose slots started more tasks.
 */
static void test_stopped_consumer_blocks_async_producer(void)
{
	enum { IN = 8, OUT = 8, LIMIT = 64, READ = 1000 };
	struct fo_snapshot base;
	fo_snapshot_take(&base);
	struct fo_test_loop *loop = fo_test_loop_new();
	struct fo_chan *in = fo_chan_new(IN, sizeof(struct fo_task));
	struct fo_chan *out = fo_chan_new(OUT, sizeof(struct fo_result));
	struct producer p = {.in = in, .n = 10 * 1000 * 1000, .fail_id = UINT64_MAX};
	start_producer(&p);
	struct fo_config cfg = {.limit = LIMIT, .start = fo_test_loop_start};
	struct fo_stream *s = fo_fanout_stream(NULL, in, out, NULL, loop, &cfg);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	struct fo_result r;
	for (int i = 0; i < READ; i++) {
		CU_ASSERT_EQUAL_FATAL(fo_chan_recv(out, NULL, &r, 1, NULL), 1);
		fo_result_clear(&r);
	}
	/* The consumer stops; the stream fills up and the producer blocks. */
	CU_ASSERT_FALSE(fo_test_joined_within(p.thread, 500));
	unsigned long sent = atomic_load(&p.sent);
	CU_ASSERT(sent <= READ + OUT + LIMIT + IN);
	if (sent > READ + OUT + LIMIT + IN)
		fprintf(stderr, "async stream took %lu tasks, bound %d\n", sent,
			READ + OUT + LIMIT + IN);
	CU_ASSERT_FALSE(fo_test_joined_within(p.thread, 200));
	CU_ASSERT_EQUAL(atomic_load(&p.sent), sent); /* blocked, not crawling */
	CU_ASSERT_EQUAL(fo_chan_len(out), OUT);
	/* Resume: it flows again. */
	for (int i = 0; i < 5000; i++) {
		CU_ASSERT_EQUAL_FATAL(fo_chan_recv(out, NULL, &r, 1, NULL), 1);
		fo_result_clear(&r);
	}
	CU_ASSERT(atomic_load(&p.sent) > sent);
	fo_chan_close(out);
	fo_stream_wait(s, NULL);
	pthread_join(p.thread, NULL);
	CU_ASSERT_EQUAL(p.rc, -EPIPE);
	CU_ASSERT_EQUAL(fo_test_loop_pending(loop), 0);
	fo_chan_free(in);
	fo_chan_free(out);
	fo_test_loop_free(loop);
	CU_ASSERT_TRUE(fo_snapshot_back_to(&base, 1000));
}

/* ---- a stuck head holds at most the reorder window */

static void test_stuck_head_bounded_by_window(void)
{
	enum { N = 2000, W = 16, IN = 8 };
	struct fo_test_loop *loop = fo_test_loop_new();
	int64_t *lat = calloc(N, sizeof(*lat));
	lat[0] = 400 * FO_MSEC; /* the straggler at the head */
	struct fo_chan *in = fo_chan_new(IN, sizeof(struct fo_task));
	struct fo_chan *out = fo_chan_new(N, sizeof(struct fo_result));
	struct producer p = {.in = in, .n = N, .latency = lat, .fail_id = UINT64_MAX};
	start_producer(&p);
	struct fo_config cfg = {
		.limit = 256, .ordered = true, .reorder_window = W, .start = fo_test_loop_start};
	struct fo_stream *s = fo_fanout_stream(NULL, in, out, NULL, loop, &cfg);
	/* While the head is stuck, nothing is emitted and intake stops at the window. */
	CU_ASSERT_FALSE(fo_test_joined_within(p.thread, 200));
	CU_ASSERT(atomic_load(&p.sent) <= W + IN + 1);
	CU_ASSERT_EQUAL(fo_chan_len(out), 0);
	CU_ASSERT(fo_test_loop_peak(loop) <= W);
	pthread_join(p.thread, NULL); /* the head completes, everything flows */
	CU_ASSERT_EQUAL(fo_stream_wait(s, NULL), 0);
	CU_ASSERT_EQUAL(fo_chan_len(out), N);
	struct fo_result r;
	for (uint64_t i = 0; i < N; i++) {
		fo_chan_recv(out, NULL, &r, 1, NULL);
		CU_ASSERT_EQUAL(r.task_id, i);
		fo_result_clear(&r);
	}
	free(lat);
	fo_chan_free(in);
	fo_chan_free(out);
	fo_test_loop_free(loop);
}

/* ---- policies in a stream */

static size_t drain(struct fo_chan *out, size_t *failures)
{
	struct fo_result r;
	size_t n = 0;
	*failures = 0;
	while (fo_chan_recv(out, NULL, &r, 1, NULL) == 1) {
		n++;
		*failures += r.outcome != FO_OK;
		fo_result_clear(&r);
	}
	return n;
}

static void test_failfast_stream_stops_and_frees_producer(void)
{
	struct fo_snapshot base;
	fo_snapshot_take(&base);
	struct fo_chan *in = fo_chan_new(64, sizeof(struct fo_task));
	struct fo_chan *out = fo_chan_new(64, sizeof(struct fo_result));
	struct producer p = {.in = in, .n = 100 * 1000 * 1000, .fail_id = 5000};
	start_producer(&p);
	struct fo_config cfg = {.limit = 4, .policy = fo_policy_builtin(FO_FAILFAST)};
	struct fo_stream *s = fo_fanout_stream(NULL, in, out, id_digest, NULL, &cfg);
	size_t failures, n = drain(out, &failures);
	struct fo_report rep;
	CU_ASSERT_EQUAL(fo_stream_wait(s, &rep), -EIO);
	pthread_join(p.thread, NULL);
	CU_ASSERT_EQUAL(p.rc, -EPIPE);
	CU_ASSERT(n < 1000 * 1000); /* stopped early, not after 100 M */
	CU_ASSERT(failures >= 1);
	CU_ASSERT_EQUAL(rep.cause, FO_CAUSE_SIBLING);
	fo_report_clear(&rep);
	fo_chan_free(in);
	fo_chan_free(out);
	CU_ASSERT_TRUE(fo_snapshot_back_to(&base, 1000));
}

static void test_besteffort_stream_drops_failures(void)
{
	enum { N = 10000 };
	struct fo_chan *in = fo_chan_new(64, sizeof(struct fo_task));
	struct fo_chan *out = fo_chan_new(64, sizeof(struct fo_result));
	struct producer p = {.in = in, .n = N, .fail_id = 77};
	start_producer(&p);
	struct fo_config cfg = {
		.limit = 4, .policy = fo_policy_builtin(FO_BESTEFFORT), .ordered = true};
	struct fo_stream *s = fo_fanout_stream(NULL, in, out, id_digest, NULL, &cfg);
	size_t failures, n = drain(out, &failures);
	struct fo_report rep;
	CU_ASSERT_EQUAL(fo_stream_wait(s, &rep), 0);
	pthread_join(p.thread, NULL);
	CU_ASSERT_EQUAL(n, N - 1);
	CU_ASSERT_EQUAL(failures, 0);
	CU_ASSERT_EQUAL(rep.failed, 1);
	CU_ASSERT_EQUAL_FATAL(rep.nerrors, 1);
	CU_ASSERT_EQUAL(rep.errors[0].task_id, 77);
	fo_report_clear(&rep);
	fo_chan_free(in);
	fo_chan_free(out);
}

static void test_cancel_mid_stream_no_leak(void)
{
	struct fo_test_loop *loop = fo_test_loop_new();
	struct fo_snapshot base;
	fo_snapshot_take(&base);
	enum { N = 100000 };
	int64_t *lat = malloc(N * sizeof(*lat));
	for (int i = 0; i < N; i++)
		lat[i] = 30 * FO_SEC;
	struct fo_ctx *ctx = fo_ctx_new(fo_now_ns() + 100 * FO_MSEC);
	struct fo_chan *in = fo_chan_new(64, sizeof(struct fo_task));
	struct fo_chan *out = fo_chan_new(64, sizeof(struct fo_result));
	struct producer p = {.in = in, .n = N, .latency = lat, .ctx = ctx, .fail_id = UINT64_MAX};
	start_producer(&p);
	struct fo_config cfg = {.limit = 500,
				.policy = fo_policy_builtin(FO_COLLECTALL),
				.start = fo_test_loop_start};
	struct fo_stream *s = fo_fanout_stream(ctx, in, out, NULL, loop, &cfg);
	size_t failures, n = drain(out, &failures);
	int rc = fo_stream_wait(s, NULL);
	CU_ASSERT(rc == -ETIMEDOUT || rc == -ECANCELED);
	pthread_join(p.thread, NULL);
	CU_ASSERT(p.rc < 0);
	CU_ASSERT_EQUAL(failures, n); /* every in-flight branch was cut */
	CU_ASSERT_EQUAL(fo_test_loop_pending(loop), 0);
	CU_ASSERT_TRUE(fo_snapshot_back_to(&base, 1000));
	fo_ctx_unref(ctx);
	free(lat);
	fo_chan_free(in);
	fo_chan_free(out);
	fo_test_loop_free(loop);
}

int main(void)
{
	static const struct fo_test tests[] = {
		FO_TEST(test_unordered_blocking_complete),
		FO_TEST(test_ordered_blocking_in_order),
		FO_TEST(test_unordered_async_complete),
		FO_TEST(test_ordered_async_in_order),
		FO_TEST(test_stopped_consumer_blocks_producer),
		FO_TEST(test_stopped_consumer_blocks_async_producer),
		FO_TEST(test_stuck_head_bounded_by_window),
		FO_TEST(test_failfast_stream_stops_and_frees_producer),
		FO_TEST(test_besteffort_stream_drops_failures),
		FO_TEST(test_cancel_mid_stream_no_leak),
	};
	return fo_test_main("stream", tests, ARRAY_SIZE(tests));
}
