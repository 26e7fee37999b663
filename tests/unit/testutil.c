/* SPDX-License-Identifier: MIT */
#include "testutil.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <time.h>

#include "fanoutd/fanout.h"
#include "procstat.h"

/*
 * libfanout starts two things once per process, on first use: the default
 * pool and the deadline timer thread. Start them before any test takes a
 * baseline, so baselines measure what a fan-out leaves, not what the
 * process keeps.
 */
static void warm_up(void)
{
	fo_pool_default();
	struct fo_ctx *ctx = fo_ctx_new(fo_now_ns() + FO_MSEC);
	fo_ctx_sleep(ctx, FO_SEC);
	fo_ctx_unref(ctx);
}

int fo_test_main(const char *suite, const struct fo_test *tests, size_t n)
{
	/*
	 * Unbuffered: CUnit prints "Test: name ..." before running each test, so
	 * when a hung test is killed for its time bound the log names it.
	 */
	setvbuf(stdout, NULL, _IONBF, 0);
	warm_up();
	struct fo_snapshot base;
	fo_snapshot_take(&base);
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	CU_pSuite s = CU_add_suite(suite, NULL, NULL);
	for (size_t i = 0; s && i < n; i++)
		CU_add_test(s, tests[i].name, tests[i].fn);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	int rc = CU_get_error() != CUE_SUCCESS || failed ? 1 : 0;
	CU_cleanup_registry();
	/* After every test: nothing a test started may outlive it (memory: LeakSanitizer). */
	if (!fo_snapshot_back_to(&base, 1000)) {
		fprintf(stderr, "%s: threads, fds or branches leaked past the suite\n", suite);
		rc = 1;
	}
	return rc;
}

void fo_snapshot_take(struct fo_snapshot *s)
{
	struct procstat ps;
	procstat_read(&ps);
	s->threads = ps.threads;
	s->fds = ps.fds;
	s->branches = fo_live_branches();
}

bool fo_snapshot_back_to(const struct fo_snapshot *base, int within_ms)
{
	int64_t until = fo_now_ns() + (int64_t)within_ms * FO_MSEC;
	struct fo_snapshot now;
	for (;;) {
		fo_snapshot_take(&now);
		if (now.threads <= base->threads && now.fds <= base->fds &&
		    now.branches <= base->branches)
			return true;
		if (fo_now_ns() >= until)
			break;
		/* Measuring "back within 1 s" needs a clock, not a signal: poll it. */
		struct timespec ts = {0, 5 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "leak: threads %ld (baseline %ld), fds %ld (%ld), branches %ld (%ld)\n",
		now.threads, base->threads, now.fds, base->fds, now.branches, base->branches);
	return false;
}

/* ---- the test event loop */

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct loop_entry {
	struct fo_ctx_hook hook; /* first: the hook finds its entry */
	struct fo_test_loop *loop;
	struct fo_ctx *ctx;
	struct fo_branch *b;
	int64_t due;
	bool fail, cancelled;
	uint64_t id;
	struct loop_entry *next;
};

struct fo_test_loop {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct loop_entry *head;
	size_t pending, peak;
	int64_t next_due; /* when the loop will wake by itself */
	size_t hold;	  /* complete nothing until this many are pending */
	bool stop;
	pthread_t thread;
};

static void entry_cancelled(struct fo_ctx_hook *h, enum fo_cause cause)
{
	(void)cause;
	struct loop_entry *e = (struct loop_entry *)h;
	pthread_mutex_lock(&e->loop->lock);
	e->cancelled = true;
	pthread_cond_signal(&e->loop->cond);
	pthread_mutex_unlock(&e->loop->lock);
}

static void *loop_main(void *arg)
{
	struct fo_test_loop *l = arg;
	pthread_mutex_lock(&l->lock);
	while (!l->stop || l->head) {
		if (l->hold && l->pending < l->hold && !l->stop) {
			pthread_cond_wait(&l->cond, &l->lock);
			continue;
		}
		l->hold = 0;
		int64_t now = fo_now_ns(), next = FO_NO_DEADLINE;
		struct loop_entry *ready = NULL, **pp = &l->head;
		while (*pp) {
			struct loop_entry *e = *pp;
			if (e->cancelled || e->due <= now) {
				*pp = e->next;
				e->next = ready;
				ready = e;
				l->pending--;
			} else {
				next = e->due < next ? e->due : next;
				pp = &e->next;
			}
		}
		l->next_due = next;
		if (!ready) {
			struct timespec ts = {.tv_sec = next / FO_SEC, .tv_nsec = next % FO_SEC};
			if (next == FO_NO_DEADLINE)
				pthread_cond_wait(&l->cond, &l->lock);
			else
				pthread_cond_timedwait(&l->cond, &l->lock, &ts);
			continue;
		}
		pthread_mutex_unlock(&l->lock);
		while (ready) {
			struct loop_entry *e = ready;
			ready = e->next;
			fo_ctx_hook_del(e->ctx, &e->hook);
			int err = fo_ctx_err(e->ctx);
			if (!err && e->fail)
				err = -EIO;
			fo_branch_done(e->b, err, &e->id, sizeof(e->id), err ? "test loop" : NULL);
			free(e);
		}
		pthread_mutex_lock(&l->lock);
	}
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

struct fo_test_loop *fo_test_loop_new(void)
{
	struct fo_test_loop *l = calloc(1, sizeof(*l));
	pthread_mutex_init(&l->lock, NULL);
	pthread_condattr_t a;
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&l->cond, &a);
	pthread_condattr_destroy(&a);
	l->next_due = FO_NO_DEADLINE;
	pthread_create(&l->thread, NULL, loop_main, l);
	return l;
}

void fo_test_loop_free(struct fo_test_loop *l)
{
	pthread_mutex_lock(&l->lock);
	l->stop = true;
	pthread_cond_signal(&l->cond);
	pthread_mutex_unlock(&l->lock);
	pthread_join(l->thread, NULL);
	pthread_cond_destroy(&l->cond);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

void fo_test_loop_start(struct fo_ctx *ctx, const struct fo_task *t, struct fo_branch *b, void *arg)
{
	struct fo_test_loop *l = arg;
	struct loop_entry *e = calloc(1, sizeof(*e));
	e->hook.fn = entry_cancelled;
	e->loop = l;
	e->ctx = ctx;
	e->b = b;
	e->id = t->id;
	e->due = fo_now_ns() + (t->payload ? *(const int64_t *)t->payload : 0);
	/* A deadline must cut the wait, as an event loop's timer would. */
	if (fo_ctx_deadline(ctx) < e->due)
		e->due = fo_ctx_deadline(ctx);
	e->fail = t->kind && strcmp(t->kind, "fail") == 0;
	if (fo_ctx_hook_add(ctx, &e->hook) < 0)
		e->cancelled = true;
	pthread_mutex_lock(&l->lock);
	e->next = l->head;
	l->head = e;
	if (++l->pending > l->peak)
		l->peak = l->pending;
	/* Wake the loop only if it would sleep past this entry. */
	if (e->due < l->next_due || e->cancelled || l->pending == l->hold)
		pthread_cond_signal(&l->cond);
	pthread_mutex_unlock(&l->lock);
}

size_t fo_test_loop_pending(struct fo_test_loop *l)
{
	pthread_mutex_lock(&l->lock);
	size_t n = l->pending;
	pthread_mutex_unlock(&l->lock);
	return n;
}

size_t fo_test_loop_peak(struct fo_test_loop *l)
{
	pthread_mutex_lock(&l->lock);
	size_t n = l->peak;
	pthread_mutex_unlock(&l->lock);
	return n;
}

void fo_test_loop_hold(struct fo_test_loop *l, size_t n)
{
	pthread_mutex_lock(&l->lock);
	l->hold = n;
	pthread_mutex_unlock(&l->lock);
}

bool fo_test_joined_within(pthread_t t, int ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)ms * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	return pthread_timedjoin_np(t, NULL, &ts) == 0;
}
