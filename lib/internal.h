/* SPDX-License-Identifier: MIT */
/* libfanout internals shared between its files; not installed. */
#ifndef FO_INTERNAL_H
#define FO_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "fanoutd/fanout.h"

#define FO_MIN(a, b) ((a) < (b) ? (a) : (b))
#define FO_MAX(a, b) ((a) > (b) ? (a) : (b))

/*
 * Scope-exit cleanup (the cleanup attribute, as systemd's _cleanup_): f(&var)
 * runs when var goes out of scope, so an early return frees what was built
 * without copied ladders of frees; FO__TAKE_PTR hands the value on.
 */
#define fo__cleanup(f) __attribute__((cleanup(f)))
#define FO__TAKE_PTR(p)                         \
	({                                      \
		__typeof__(p) fo__taken_ = (p); \
		(p) = NULL;                     \
		fo__taken_;                     \
	})

/* Deadline timer thread (timer.c): fires fo_ctx_cancel(ctx, FO_DEADLINE). */
struct fo_ctx;
void fo__timer_arm(struct fo_ctx *ctx);
void fo__timer_disarm(struct fo_ctx *ctx);

/* ctx.c, for timer.c: the context's deadline and heap slot, and a reference
 * that fails on a context already being freed. */
int64_t fo__ctx_timer_deadline(const struct fo_ctx *ctx);
size_t *fo__ctx_heap_slot(struct fo_ctx *ctx);
bool fo__ctx_tryref(struct fo_ctx *ctx);
/*
 * True once ctx has ended or its deadline has passed, without cancelling it
 * (so it is safe to call with other locks held; fo_ctx_cause() may run hooks).
 */
bool fo__ctx_expired(const struct fo_ctx *ctx);

/* A condition variable that waits on CLOCK_MONOTONIC. */
void fo__cond_init(pthread_cond_t *c);
/* Waits until signalled or deadline_ns (FO_NO_DEADLINE: untimed). */
void fo__cond_wait_until(pthread_cond_t *c, pthread_mutex_t *m, int64_t deadline_ns);

/* Live branch accounting (unit.c, stream.c). */
extern atomic_long fo__live_branches;

/* Sets the outcome from err and ctx, and makes err/errmsg say why a cut branch ended. */
void fo__settle(struct fo_result *r, struct fo_ctx *ctx);
/*
 * Counts one ended branch in rep (its error too, up to max_errors entries)
 * and feeds it to the policy. Returns the cause to cancel the rest with, or
 * FO_LIVE to go on.
 */
enum fo_cause fo__report_feed(struct fo_report *rep, size_t *errcap, size_t max_errors,
			      const struct fo_policy *policy, void *pstate,
			      const struct fo_result *r);
/* Sorts errors by index and computes the ratio. */
void fo__report_finish(struct fo_report *rep);
/* Whether a limiter should learn from this branch's end. */
bool fo__feedback_worthy(enum fo_outcome o, enum fo_cause cause);

/*
 * One running branch, shared by units and streams. Its owner allocates it,
 * fills task/index/deadline, and gets finish() once the branch has ended
 * (fo__branch_end() already run: context released, limiter slot returned).
 */
struct fo_branch {
	struct fo_job job;
	const struct fo_task *task;
	size_t index;
	int64_t deadline;
	int64_t start_ns;
	int64_t weight;
	bool holds_global;
	struct fo_ctx *ctx;
	struct fo_result res;
	const struct fo_config *cfg;
	fo_task_fn fn;
	void *arg;
	void (*finish)(struct fo_branch *b);
	void *owner;
	struct fo_branch *next_free;
};

/* Creates the branch context under parent and starts it (pool or async); now 0 = read the clock. */
void fo__branch_launch(struct fo_branch *b, struct fo_ctx *parent, int64_t now);
/* Marks a branch that never started; fills res. */
void fo__branch_not_started(struct fo_branch *b, enum fo_outcome o, int err);
/*
 * The shortest deadline a branch may get, or -ETIMEDOUT when it should be
 * skipped. *now is the current time if non-zero; when the budget needs the
 * clock and *now is 0, it is read and stored there (one read serves the
 * caller's admission and launch too).
 */
int fo__branch_budget(const struct fo_config *cfg, const struct fo_task *t, struct fo_ctx *parent,
		      int64_t *now, int64_t *deadline);
/* Blocking-branch pool or the default; NULL if it cannot be created. */
struct fo_pool *fo__cfg_pool(const struct fo_config *cfg);

#endif
