/* SPDX-License-Identifier: MIT */
#include "evsim.h"

#include <errno.h>
#include <ev.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/*
 * A branch is owned by the loop thread. Other threads only append it to one
 * of two hand-over lists (start, cancel), each at most once. References:
 * one while it is unfinished, one per list it sits on.
 */
struct sim_branch {
	ev_timer timer;
	struct fo_ctx_hook hook;
	struct evsim *es;
	struct fo_ctx *ctx;
	struct fo_branch *b;
	int64_t latency_ns;
	bool fail, done;
	atomic_int refs;
	uint8_t digest[16];
	struct sim_branch *next_start, *next_cancel;
};

struct evsim {
	struct ev_loop *loop;
	ev_async wake;
	pthread_t thread;
	pthread_mutex_t lock;
	struct sim_branch *starts, *cancels;
	bool stop;
	struct fo_sim_params params;
};

static void put(struct sim_branch *sb)
{
	if (atomic_fetch_sub(&sb->refs, 1) == 1)
		free(sb);
}

/* Loop thread: ends the branch once. */
static void finish(struct sim_branch *sb, int err)
{
	if (sb->done)
		return;
	sb->done = true;
	if (ev_is_active(&sb->timer))
		ev_timer_stop(sb->es->loop, &sb->timer);
	fo_ctx_hook_del(sb->ctx, &sb->hook); /* after this the hook cannot run */
	fo_branch_done(sb->b, err, err ? NULL : sb->digest, err ? 0 : sizeof(sb->digest),
		       err == -EIO ? "sim: injected downstream error" : NULL);
	put(sb); /* the unfinished reference */
}

static void timer_fired(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	struct sim_branch *sb = (struct sim_branch *)w;
	finish(sb, sb->fail ? -EIO : 0);
}

static void drain(struct ev_loop *loop, ev_async *w, int revents)
{
	(void)revents;
	struct evsim *es = (struct evsim *)((char *)w - offsetof(struct evsim, wake));
	pthread_mutex_lock(&es->lock);
	struct sim_branch *starts = es->starts, *cancels = es->cancels;
	es->starts = es->cancels = NULL;
	bool stop = es->stop;
	pthread_mutex_unlock(&es->lock);
	ev_now_update(loop);
	for (struct sim_branch *sb = starts, *next; sb; sb = next) {
		next = sb->next_start;
		if (sb->done) {
			/* cancelled (and finished) before it was started */
		} else if (fo_ctx_done(sb->ctx)) {
			finish(sb, fo_ctx_err(sb->ctx));
		} else {
			ev_timer_init(&sb->timer, timer_fired, (double)sb->latency_ns / 1e9, 0.);
			ev_timer_start(loop, &sb->timer);
		}
		put(sb); /* the start list's reference */
	}
	for (struct sim_branch *sb = cancels, *next; sb; sb = next) {
		next = sb->next_cancel;
		finish(sb, fo_ctx_err(sb->ctx) ?: -ECANCELED);
		put(sb); /* the cancel list's reference */
	}
	if (stop)
		ev_break(loop, EVBREAK_ALL);
}

static void cancelled(struct fo_ctx_hook *hook, enum fo_cause cause)
{
	(void)cause;
	struct sim_branch *sb =
		(struct sim_branch *)((char *)hook - offsetof(struct sim_branch, hook));
	struct evsim *es = sb->es;
	atomic_fetch_add(&sb->refs, 1);
	pthread_mutex_lock(&es->lock);
	sb->next_cancel = es->cancels;
	es->cancels = sb;
	pthread_mutex_unlock(&es->lock);
	ev_async_send(es->loop, &es->wake);
}

static void *loop_main(void *arg)
{
	struct evsim *es = arg;
	ev_run(es->loop, 0);
	return NULL;
}

struct evsim *evsim_new(const struct fo_sim_params *params)
{
	struct evsim *es = calloc(1, sizeof(*es));
	if (!es)
		return NULL;
	es->params = *params;
	es->loop = ev_loop_new(EVFLAG_AUTO);
	if (!es->loop) {
		free(es);
		return NULL;
	}
	pthread_mutex_init(&es->lock, NULL);
	ev_async_init(&es->wake, drain);
	ev_async_start(es->loop, &es->wake);
	pthread_create(&es->thread, NULL, loop_main, es);
	pthread_setname_np(es->thread, "evsim");
	return es;
}

void evsim_free(struct evsim *es)
{
	if (!es)
		return;
	pthread_mutex_lock(&es->lock);
	es->stop = true;
	pthread_mutex_unlock(&es->lock);
	ev_async_send(es->loop, &es->wake);
	pthread_join(es->thread, NULL);
	ev_loop_destroy(es->loop);
	pthread_mutex_destroy(&es->lock);
	free(es);
}

void evsim_start(struct fo_ctx *ctx, const struct fo_task *t, struct fo_branch *b, void *arg)
{
	struct evsim *es = arg;
	struct sim_branch *sb = calloc(1, sizeof(*sb));
	if (!sb) {
		fo_branch_done(b, -ENOMEM, NULL, 0, "sim: out of memory");
		return;
	}
	struct fo_sim_draw d = fo_sim_draw(&es->params, t->id, 0);
	sb->es = es;
	sb->ctx = ctx;
	sb->b = b;
	sb->latency_ns = d.latency_ns;
	sb->fail = d.fail;
	atomic_init(&sb->refs, 2); /* unfinished + on the start list */
	fo_digest16(t->payload, t->len, sb->digest);
	sb->hook.fn = cancelled;
	fo_ctx_hook_add(ctx, &sb->hook); /* refused if ended: the loop checks fo_ctx_done() */
	pthread_mutex_lock(&es->lock);
	sb->next_start = es->starts;
	es->starts = sb;
	pthread_mutex_unlock(&es->lock);
	ev_async_send(es->loop, &es->wake);
}
