/* SPDX-License-Identifier: MIT */
/* Shared by the CUnit programs: a runner and the leak detector. */
#ifndef FO_TESTUTIL_H
#define FO_TESTUTIL_H

#include <CUnit/CUnit.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "fanoutd/fanout.h"

struct fo_test {
	const char *name;
	void (*fn)(void);
};
#define FO_TEST(f)    \
	{             \
#f, f \
	}

/* Runs one suite; returns the process exit status (0 when all passed). */
int fo_test_main(const char *suite, const struct fo_test *tests, size_t n);

/* What a leak looks like: live threads, open fds, live branch objects. */
struct fo_snapshot {
	long threads, fds, branches;
};
void fo_snapshot_take(struct fo_snapshot *s);
/*
 * Polls until threads, fds and branches are back at (or below) base, for at
 * most within_ms. Returns true when they are; otherwise prints what stayed
 * above the baseline and returns false.
 */
bool fo_snapshot_back_to(const struct fo_snapshot *base, int within_ms);

/* Whether thread t ends within ms (joined if so): "it is still blocked" in a test. */
bool fo_test_joined_within(pthread_t t, int ms);

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * A tiny event loop for async branches in tests: one thread that completes
 * each branch when its time comes or as soon as its context ends, like a
 * libev timer would. Tasks carry their latency in weight-independent form:
 * payload points at an int64_t latency in ns; kind "fail" makes them fail.
 */
struct fo_test_loop;
struct fo_test_loop *fo_test_loop_new(void);
void fo_test_loop_free(struct fo_test_loop *l);
/* An fo_async_fn; arg is the loop. */
void fo_test_loop_start(struct fo_ctx *ctx, const struct fo_task *t, struct fo_branch *b,
			void *arg);
/* Completes nothing until n branches are waiting (proves they were all in flight at once). */
void fo_test_loop_hold(struct fo_test_loop *l, size_t n);
/* Branches waiting in the loop right now, and the most ever. */
size_t fo_test_loop_pending(struct fo_test_loop *l);
size_t fo_test_loop_peak(struct fo_test_loop *l);

#endif
