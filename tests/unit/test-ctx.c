/* SPDX-License-Identifier: MIT */
/* lib/ctx.c: the cancellation tree, hooks, deadlines, interruptible sleep. */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fanoutd/fanout.h"
#include "testutil.h"

struct counter_hook {
	struct fo_ctx_hook hook;
	int calls;
	enum fo_cause cause;
};

static void count(struct fo_ctx_hook *h, enum fo_cause cause)
{
	struct counter_hook *c = (struct counter_hook *)h;
	c->calls++;
	c->cause = cause;
}

static void test_cancel_reaches_descendants(void)
{
	struct fo_ctx *root = fo_ctx_new(FO_NO_DEADLINE);
	struct fo_ctx *a = fo_ctx_child(root, FO_NO_DEADLINE);
	struct fo_ctx *b = fo_ctx_child(a, FO_NO_DEADLINE);
	struct counter_hook h = {.hook.fn = count};
	CU_ASSERT_EQUAL(fo_ctx_hook_add(b, &h.hook), 0);
	CU_ASSERT_FALSE(fo_ctx_done(b));
	fo_ctx_cancel(root, FO_CAUSE_SHUTDOWN);
	CU_ASSERT_EQUAL(fo_ctx_cause(a), FO_CAUSE_SHUTDOWN);
	CU_ASSERT_EQUAL(fo_ctx_cause(b), FO_CAUSE_SHUTDOWN);
	CU_ASSERT_EQUAL(fo_ctx_err(b), -ECANCELED);
	CU_ASSERT_EQUAL(h.calls, 1);
	CU_ASSERT_EQUAL(h.cause, FO_CAUSE_SHUTDOWN);
	/* First cause wins; a second cancel runs nothing. */
	fo_ctx_cancel(b, FO_CAUSE_SIBLING);
	CU_ASSERT_EQUAL(fo_ctx_cause(b), FO_CAUSE_SHUTDOWN);
	CU_ASSERT_EQUAL(h.calls, 1);
	/* Adding to an ended context is refused and runs nothing. */
	struct counter_hook late = {.hook.fn = count};
	CU_ASSERT_EQUAL(fo_ctx_hook_add(b, &late.hook), -ECANCELED);
	CU_ASSERT_EQUAL(late.calls, 0);
	fo_ctx_unref(b);
	fo_ctx_unref(a);
	fo_ctx_unref(root);
}

static void test_child_cancel_leaves_parent(void)
{
	struct fo_ctx *root = fo_ctx_new(FO_NO_DEADLINE);
	struct fo_ctx *a = fo_ctx_child(root, FO_NO_DEADLINE);
	fo_ctx_cancel(a, FO_CAUSE_CANCELLED);
	CU_ASSERT_TRUE(fo_ctx_done(a));
	CU_ASSERT_FALSE(fo_ctx_done(root));
	fo_ctx_unref(a);
	fo_ctx_unref(root);
}

static void test_deleted_hook_never_runs(void)
{
	struct fo_ctx *ctx = fo_ctx_new(FO_NO_DEADLINE);
	struct counter_hook h = {.hook.fn = count};
	fo_ctx_hook_add(ctx, &h.hook);
	fo_ctx_hook_del(ctx, &h.hook);
	fo_ctx_cancel(ctx, FO_CAUSE_CANCELLED);
	CU_ASSERT_EQUAL(h.calls, 0);
	fo_ctx_unref(ctx);
}

static void test_children_inherit_earliest_deadline(void)
{
	int64_t now = fo_now_ns();
	struct fo_ctx *root = fo_ctx_new(now + 10 * FO_SEC);
	struct fo_ctx *later = fo_ctx_child(root, now + 60 * FO_SEC);
	struct fo_ctx *sooner = fo_ctx_child(root, now + 1 * FO_SEC);
	CU_ASSERT_EQUAL(fo_ctx_deadline(later), now + 10 * FO_SEC);
	CU_ASSERT_EQUAL(fo_ctx_deadline(sooner), now + 1 * FO_SEC);
	CU_ASSERT(fo_ctx_remaining(sooner) <= 1 * FO_SEC);
	CU_ASSERT_EQUAL(fo_ctx_remaining(NULL), INT64_MAX);
	fo_ctx_unref(sooner);
	fo_ctx_unref(later);
	fo_ctx_unref(root);
}

static void test_passed_deadline_is_noticed(void)
{
	struct fo_ctx *ctx = fo_ctx_new(fo_now_ns() - 1);
	CU_ASSERT_EQUAL(fo_ctx_cause(ctx), FO_CAUSE_DEADLINE);
	CU_ASSERT_EQUAL(fo_ctx_err(ctx), -ETIMEDOUT);
	fo_ctx_unref(ctx);
}

static void test_sleep_full_and_cut_by_deadline(void)
{
	struct fo_ctx *ctx = fo_ctx_new(FO_NO_DEADLINE);
	int64_t t0 = fo_now_ns();
	CU_ASSERT_EQUAL(fo_ctx_sleep(ctx, 2 * FO_MSEC), 0);
	CU_ASSERT(fo_now_ns() - t0 >= 2 * FO_MSEC);
	fo_ctx_unref(ctx);

	ctx = fo_ctx_new(fo_now_ns() + 20 * FO_MSEC);
	t0 = fo_now_ns();
	CU_ASSERT_EQUAL(fo_ctx_sleep(ctx, 30 * FO_SEC), -ETIMEDOUT);
	CU_ASSERT(fo_now_ns() - t0 < 10 * FO_SEC); /* cut, not slept */
	fo_ctx_unref(ctx);
}

static void *cancel_it(void *arg)
{
	fo_ctx_cancel(arg, FO_CAUSE_CLIENT_GONE);
	return NULL;
}

static void test_sleep_woken_by_cancel(void)
{
	struct fo_ctx *ctx = fo_ctx_new(FO_NO_DEADLINE);
	pthread_t t;
	pthread_create(&t, NULL, cancel_it, ctx);
	/* Whether the cancel lands before or during the sleep, it must end it. */
	CU_ASSERT_EQUAL(fo_ctx_sleep(ctx, 60 * FO_SEC), -ECANCELED);
	pthread_join(t, NULL);
	CU_ASSERT_EQUAL(fo_ctx_cause(ctx), FO_CAUSE_CLIENT_GONE);
	fo_ctx_unref(ctx);
}

/* The deadline fires hooks by itself (timer thread), with nobody polling. */
struct signal_hook {
	struct fo_ctx_hook hook;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool fired;
	enum fo_cause cause;
};

static void signal_fired(struct fo_ctx_hook *h, enum fo_cause cause)
{
	struct signal_hook *s = (struct signal_hook *)h;
	pthread_mutex_lock(&s->lock);
	s->fired = true;
	s->cause = cause;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static void test_deadline_fires_hooks_unpolled(void)
{
	struct fo_ctx *root = fo_ctx_new(FO_NO_DEADLINE);
	struct fo_ctx *ctx = fo_ctx_child(root, fo_now_ns() + 10 * FO_MSEC);
	struct signal_hook s = {.hook.fn = signal_fired,
				.lock = PTHREAD_MUTEX_INITIALIZER,
				.cond = PTHREAD_COND_INITIALIZER};
	CU_ASSERT_EQUAL(fo_ctx_hook_add(ctx, &s.hook), 0);
	pthread_mutex_lock(&s.lock);
	while (!s.fired)
		pthread_cond_wait(&s.cond, &s.lock);
	pthread_mutex_unlock(&s.lock);
	CU_ASSERT_EQUAL(s.cause, FO_CAUSE_DEADLINE);
	CU_ASSERT_FALSE(fo_ctx_done(root));
	fo_ctx_unref(ctx);
	fo_ctx_unref(root);
}

/*
 * A hook may delete itself and free its owner's memory. "Freeing" here
 * poisons the hook first: a canceller that went on reading the hook after it
 * ran (its fn, its links) would follow 0xa5a5... and crash, and one that wrote
 * to it (unlinking it late) would break the poison, in every build, not only
 * under ASan. Two hooks: the list walk goes on past the freed one.
 */
enum { POISON = 0xa5 };
static int self_deleted;

static void self_delete(struct fo_ctx_hook *h, enum fo_cause cause)
{
	(void)cause;
	self_deleted++;
	memset(h, POISON, sizeof(*h));
}

static bool poisoned(const struct fo_ctx_hook *h)
{
	for (size_t i = 0; i < sizeof(*h); i++)
		if (((const unsigned char *)h)[i] != POISON)
			return false;
	return true;
}

static void test_hook_may_free_itself(void)
{
	struct fo_ctx *ctx = fo_ctx_new(FO_NO_DEADLINE);
	struct fo_ctx_hook *h[2];
	self_deleted = 0;
	for (int i = 0; i < 2; i++) {
		h[i] = calloc(1, sizeof(*h[i]));
		h[i]->fn = self_delete;
		CU_ASSERT_EQUAL(fo_ctx_hook_add(ctx, h[i]), 0);
	}
	fo_ctx_cancel(ctx, FO_CAUSE_CANCELLED); /* ASan also reports a use after free */
	fo_ctx_cancel(ctx, FO_CAUSE_CANCELLED); /* ended: runs nothing again */
	fo_ctx_unref(ctx);
	CU_ASSERT_EQUAL(self_deleted, 2);
	for (int i = 0; i < 2; i++) {
		CU_ASSERT_TRUE(poisoned(h[i])); /* nothing wrote to a hook once it had run */
		free(h[i]);
	}
}

/*
 * A hook whose owner drops the last reference on the context the hook runs
 * for (a unit freed by its done callback unrefs its group). The canceller
 * must not touch the context after that hook returns unless it holds a
 * reference of its own: the daemon crashed on exactly this (job rows expiring
 * in the limiter's queue). ASan and TSan report the use after free; every
 * build checks the hook ran once and the tree ended.
 */
struct tally {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int runs;
};

struct owner {
	struct fo_ctx *ctx;
	struct fo_ctx_hook hook;
	struct tally *tally;
};

static void owner_drops_ctx(struct fo_ctx_hook *h, enum fo_cause cause)
{
	struct owner *o = (struct owner *)((char *)h - offsetof(struct owner, hook));
	CU_ASSERT_NOT_EQUAL(cause, FO_LIVE);
	struct tally *t = o->tally;
	fo_ctx_unref(o->ctx); /* the last reference: the context is freed here... */
	free(o);	      /* ...unless the canceller holds one */
	pthread_mutex_lock(&t->lock);
	t->runs++;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
}

static int tally_wait(struct tally *t, int runs)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	pthread_mutex_lock(&t->lock);
	while (t->runs < runs && pthread_cond_timedwait(&t->cond, &t->lock, &until) == 0)
		;
	int got = t->runs;
	pthread_mutex_unlock(&t->lock);
	return got;
}

static struct owner *owner_of(struct fo_ctx *ctx, struct tally *t)
{
	struct owner *o = calloc(1, sizeof(*o));
	o->ctx = ctx;
	o->tally = t;
	o->hook.fn = owner_drops_ctx;
	CU_ASSERT_EQUAL(fo_ctx_hook_add(ctx, &o->hook), 0);
	return o;
}

static void test_hook_may_drop_last_reference(void)
{
	struct tally t = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
	/* Cancelled directly by a caller that borrows the owner's reference. */
	struct fo_ctx *ctx = fo_ctx_new(FO_NO_DEADLINE);
	owner_of(ctx, &t);
	fo_ctx_cancel(ctx, FO_CAUSE_CANCELLED);
	CU_ASSERT_EQUAL(t.runs, 1);

	/* Through the parent: the child ends inside the parent's hook, several children. */
	struct fo_ctx *parent = fo_ctx_new(FO_NO_DEADLINE);
	for (int i = 0; i < 8; i++)
		owner_of(fo_ctx_child(parent, FO_NO_DEADLINE), &t);
	fo_ctx_cancel(parent, FO_CAUSE_SHUTDOWN);
	CU_ASSERT_EQUAL(t.runs, 9);
	CU_ASSERT_EQUAL(fo_ctx_cause(parent), FO_CAUSE_SHUTDOWN);
	fo_ctx_unref(parent);
}

/* The same on the timer thread: the parent's deadline ends children that free themselves. */
static void test_deadline_hook_may_drop_last_reference(void)
{
	struct tally t = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
	enum { CHILDREN = 64 };
	struct fo_ctx *parent = fo_ctx_new(fo_now_ns() + 2 * FO_MSEC);
	for (int i = 0; i < CHILDREN; i++)
		owner_of(fo_ctx_child(parent, FO_NO_DEADLINE), &t);
	/* The timer thread fires the parent's deadline; nobody polls. */
	CU_ASSERT_EQUAL(tally_wait(&t, CHILDREN), CHILDREN);
	CU_ASSERT_EQUAL(fo_ctx_cause(parent), FO_CAUSE_DEADLINE);
	fo_ctx_unref(parent);
}

static void test_cause_names(void)
{
	CU_ASSERT_STRING_EQUAL(fo_cause_str(FO_CAUSE_DEADLINE), "deadline");
	CU_ASSERT_STRING_EQUAL(fo_cause_str(FO_CAUSE_SIBLING), "sibling-failed");
	CU_ASSERT_STRING_EQUAL(fo_cause_str((enum fo_cause)99), "unknown");
}

/* ---- helper-added (wt-tests): every hook of a context runs, not just the first */

static void test_every_hook_runs_once(void)
{
	struct fo_ctx *ctx = fo_ctx_new(FO_NO_DEADLINE);
	struct fo_ctx *child = fo_ctx_child(ctx, FO_NO_DEADLINE); /* a hook too */
	struct counter_hook h[4];
	for (int i = 0; i < 4; i++) {
		h[i] = (struct counter_hook){.hook.fn = count};
		CU_ASSERT_EQUAL(fo_ctx_hook_add(ctx, &h[i].hook), 0);
	}
	fo_ctx_hook_del(ctx, &h[1].hook); /* deleting one leaves the others */
	fo_ctx_cancel(ctx, FO_CAUSE_POLICY);
	for (int i = 0; i < 4; i++) {
		CU_ASSERT_EQUAL(h[i].calls, i == 1 ? 0 : 1);
		if (i != 1)
			CU_ASSERT_EQUAL(h[i].cause, FO_CAUSE_POLICY);
	}
	CU_ASSERT_EQUAL(fo_ctx_cause(child), FO_CAUSE_POLICY);
	fo_ctx_cancel(ctx, FO_CAUSE_SHUTDOWN); /* ended once: nothing runs again */
	for (int i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(h[i].calls, i == 1 ? 0 : 1);
	fo_ctx_unref(child);
	fo_ctx_unref(ctx);
}

int main(void)
{
	static const struct fo_test tests[] = {
		FO_TEST(test_cancel_reaches_descendants),
		FO_TEST(test_child_cancel_leaves_parent),
		FO_TEST(test_deleted_hook_never_runs),
		FO_TEST(test_children_inherit_earliest_deadline),
		FO_TEST(test_passed_deadline_is_noticed),
		FO_TEST(test_sleep_full_and_cut_by_deadline),
		FO_TEST(test_sleep_woken_by_cancel),
		FO_TEST(test_deadline_fires_hooks_unpolled),
		FO_TEST(test_hook_may_free_itself),
		FO_TEST(test_hook_may_drop_last_reference),
		FO_TEST(test_deadline_hook_may_drop_last_reference),
		FO_TEST(test_cause_names),
		/* helper-added (wt-tests) */
		FO_TEST(test_every_hook_runs_once),
	};
	return fo_test_main("ctx", tests, ARRAY_SIZE(tests));
}
