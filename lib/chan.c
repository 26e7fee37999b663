/* SPDX-License-Identifier: MIT */
/*
 * fo_chan: a bounded FIFO ring of fixed-size elements, closable, with
 * batched send/receive so that one lock round trip moves many elements.
 *
 * A full channel blocks senders: that is how a slow consumer slows the
 * producer. Blocked senders and receivers also wake when their context ends
 * (a hook registered before taking the channel lock, so the hook may take
 * it) and when the channel closes. Wake-ups are only signalled when someone
 * sleeps, so the uncontended path makes no system call.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

struct fo_chan {
	pthread_mutex_t lock;
	pthread_cond_t not_full, not_empty;
	size_t cap, esize, len, head; /* head: index of the oldest element */
	uint64_t seq;		      /* arrival number of the oldest element */
	unsigned sleeping_senders, sleeping_receivers;
	bool closed;
	unsigned char *ring;
};

struct fo_chan *fo_chan_new(size_t cap, size_t elem_size)
{
	if (cap == 0 || elem_size == 0) {
		errno = EINVAL;
		return NULL;
	}
	struct fo_chan *ch = calloc(1, sizeof(*ch));
	if (!ch)
		return NULL;
	ch->ring = calloc(cap, elem_size);
	if (!ch->ring) {
		free(ch);
		return NULL;
	}
	ch->cap = cap;
	ch->esize = elem_size;
	pthread_mutex_init(&ch->lock, NULL);
	fo__cond_init(&ch->not_full);
	fo__cond_init(&ch->not_empty);
	return ch;
}

void fo_chan_free(struct fo_chan *ch)
{
	if (!ch)
		return;
	pthread_cond_destroy(&ch->not_full);
	pthread_cond_destroy(&ch->not_empty);
	pthread_mutex_destroy(&ch->lock);
	free(ch->ring);
	free(ch);
}

struct chan_hook {
	struct fo_ctx_hook hook;
	struct fo_chan *ch;
};

static void chan_wake_all(struct fo_ctx_hook *hook, enum fo_cause cause)
{
	(void)cause;
	struct fo_chan *ch = ((struct chan_hook *)hook)->ch;
	pthread_mutex_lock(&ch->lock);
	pthread_cond_broadcast(&ch->not_full);
	pthread_cond_broadcast(&ch->not_empty);
	pthread_mutex_unlock(&ch->lock);
}

/* Copies n elements between the ring (starting at slot) and buf. */
static void ring_copy(struct fo_chan *ch, size_t slot, void *buf, size_t n, bool to_ring)
{
	size_t first = FO_MIN(n, ch->cap - slot);
	unsigned char *r = ch->ring + slot * ch->esize, *b = buf;
	if (to_ring) {
		memcpy(r, b, first * ch->esize);
		memcpy(ch->ring, b + first * ch->esize, (n - first) * ch->esize);
	} else {
		memcpy(b, r, first * ch->esize);
		memcpy(b + first * ch->esize, ch->ring, (n - first) * ch->esize);
	}
}

/*
 * Sleeps on cond, registering a context hook the first time (the lock is
 * dropped around hook registration, so callers re-check their condition).
 * Returns false when the context has ended.
 */
static bool chan_sleep(struct fo_chan *ch, pthread_cond_t *cond, unsigned *sleepers,
		       struct fo_ctx *ctx, struct chan_hook *hk, bool *hooked)
{
	if (ctx && !*hooked) {
		pthread_mutex_unlock(&ch->lock);
		hk->hook.fn = chan_wake_all;
		hk->ch = ch;
		bool ok = fo_ctx_hook_add(ctx, &hk->hook) == 0;
		pthread_mutex_lock(&ch->lock);
		*hooked = ok;
		return ok;
	}
	if (ctx && fo__ctx_expired(ctx))
		return false;
	(*sleepers)++;
	fo__cond_wait_until(cond, &ch->lock, fo_ctx_deadline(ctx));
	(*sleepers)--;
	return true;
}

long fo_chan_send(struct fo_chan *ch, struct fo_ctx *ctx, const void *elems, size_t n)
{
	struct chan_hook hk;
	bool hooked = false;
	size_t sent = 0;
	long r = 0;
	pthread_mutex_lock(&ch->lock);
	while (sent < n) {
		if (ch->closed) {
			r = -EPIPE;
			break;
		}
		size_t room = ch->cap - ch->len;
		if (room == 0) {
			if (!chan_sleep(ch, &ch->not_full, &ch->sleeping_senders, ctx, &hk,
					&hooked)) {
				r = -ECANCELED;
				break;
			}
			continue;
		}
		size_t k = FO_MIN(room, n - sent);
		ring_copy(ch, (ch->head + ch->len) % ch->cap,
			  (void *)((const unsigned char *)elems + sent * ch->esize), k, true);
		ch->len += k;
		sent += k;
		if (ch->sleeping_receivers)
			pthread_cond_signal(&ch->not_empty);
	}
	/* Room left: pass the turn to the next sleeping sender (chained wake-ups). */
	if (ch->len < ch->cap && ch->sleeping_senders)
		pthread_cond_signal(&ch->not_full);
	pthread_mutex_unlock(&ch->lock);
	if (hooked)
		fo_ctx_hook_del(ctx, &hk.hook);
	if (r == -ECANCELED)
		r = fo_ctx_err(ctx) ?: -ECANCELED;
	return r < 0 && sent == 0 ? r : (long)sent;
}

long fo_chan_recv(struct fo_chan *ch, struct fo_ctx *ctx, void *elems, size_t max, uint64_t *seq)
{
	struct chan_hook hk;
	bool hooked = false;
	long r = 0;
	pthread_mutex_lock(&ch->lock);
	for (;;) {
		if (ch->len > 0) {
			size_t k = FO_MIN(ch->len, max);
			ring_copy(ch, ch->head, elems, k, false);
			if (seq)
				*seq = ch->seq;
			ch->head = (ch->head + k) % ch->cap;
			ch->len -= k;
			ch->seq += k;
			if (ch->sleeping_senders)
				pthread_cond_signal(&ch->not_full);
			/* Elements left: the next sleeping receiver takes its turn. */
			if (ch->len && ch->sleeping_receivers)
				pthread_cond_signal(&ch->not_empty);
			r = (long)k;
			break;
		}
		if (ch->closed)
			break;
		if (!chan_sleep(ch, &ch->not_empty, &ch->sleeping_receivers, ctx, &hk, &hooked)) {
			r = -ECANCELED;
			break;
		}
	}
	pthread_mutex_unlock(&ch->lock);
	if (hooked)
		fo_ctx_hook_del(ctx, &hk.hook);
	if (r == -ECANCELED)
		r = fo_ctx_err(ctx) ?: -ECANCELED;
	return r;
}

void fo_chan_close(struct fo_chan *ch)
{
	pthread_mutex_lock(&ch->lock);
	ch->closed = true;
	pthread_cond_broadcast(&ch->not_full);
	pthread_cond_broadcast(&ch->not_empty);
	pthread_mutex_unlock(&ch->lock);
}

size_t fo_chan_len(struct fo_chan *ch)
{
	pthread_mutex_lock(&ch->lock);
	size_t n = ch->len;
	pthread_mutex_unlock(&ch->lock);
	return n;
}

size_t fo_chan_cap(const struct fo_chan *ch)
{
	return ch->cap;
}
