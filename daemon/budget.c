/* SPDX-License-Identifier: MIT */
#include "budget.h"

#include <math.h>

#define MILLI 1000
#define MICRO 1000000

void fod_tokens_init(struct fod_tokens *t, double max_tokens, double ratio)
{
	t->max_milli = (int64_t)llround(max_tokens * MILLI);
	t->ratio_milli = (int64_t)llround(ratio * MILLI);
	atomic_init(&t->milli, t->max_milli);
}

void fod_tokens_record(struct fod_tokens *t, bool ok)
{
	long long cur = atomic_load_explicit(&t->milli, memory_order_relaxed), next;
	do {
		next = ok ? cur + t->ratio_milli : cur - MILLI;
		if (next > t->max_milli)
			next = t->max_milli;
		if (next < 0)
			next = 0;
		if (next == cur)
			return;
	} while (!atomic_compare_exchange_weak_explicit(&t->milli, &cur, next, memory_order_relaxed,
							memory_order_relaxed));
}

bool fod_tokens_allow(struct fod_tokens *t)
{
	/* count > max / 2, without halving an odd number of thousandths */
	return 2 * atomic_load_explicit(&t->milli, memory_order_relaxed) > t->max_milli;
}

void fod_share_init(struct fod_share *s, double share)
{
	s->per_call_micro = (int64_t)llround(share * MICRO);
	s->cap_micro = s->per_call_micro * FOD_SHARE_WINDOW;
	if (s->per_call_micro && s->cap_micro < MICRO)
		s->cap_micro = MICRO;
	atomic_init(&s->micro, s->per_call_micro ? MICRO : 0);
}

void fod_share_call(struct fod_share *s)
{
	long long cur = atomic_load_explicit(&s->micro, memory_order_relaxed), next;
	do {
		next = cur + s->per_call_micro;
		if (next > s->cap_micro)
			next = s->cap_micro;
		if (next == cur)
			return;
	} while (!atomic_compare_exchange_weak_explicit(&s->micro, &cur, next, memory_order_relaxed,
							memory_order_relaxed));
}

bool fod_share_take(struct fod_share *s)
{
	long long cur = atomic_load_explicit(&s->micro, memory_order_relaxed);
	do {
		if (cur < MICRO)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(
		&s->micro, &cur, cur - MICRO, memory_order_relaxed, memory_order_relaxed));
	return true;
}

void fod_share_return(struct fod_share *s)
{
	long long cur = atomic_load_explicit(&s->micro, memory_order_relaxed), next;
	do {
		next = cur + MICRO;
		if (next > s->cap_micro)
			next = s->cap_micro;
	} while (!atomic_compare_exchange_weak_explicit(&s->micro, &cur, next, memory_order_relaxed,
							memory_order_relaxed));
}
