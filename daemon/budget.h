/* SPDX-License-Identifier: MIT */
/*
 * The two budgets that keep hedging from multiplying load (fanoutd.conf(5),
 * hedge), lock-free so every loop may charge them at once:
 *
 * - a token count per downstream target, gRFC A6 retryThrottling: it starts
 *   at max_tokens, each failed call takes 1, each success gives token_ratio
 *   back (never above max_tokens), and a hedge may go only while the count
 *   is above max_tokens / 2. Kept in thousandths of a token, as gRPC keeps
 *   it (token_ratio has three decimals), so the arithmetic is exact.
 * - a share per branch: each call earns `share` of a hedge, each hedge
 *   spends one, and the credit never exceeds what FOD_SHARE_WINDOW calls
 *   earn (at least one hedge), so over N calls at most
 *   share × (N + FOD_SHARE_WINDOW) + 1 hedges go out, however the calls and
 *   hedges interleave. Kept in millionths of a hedge.
 */
#ifndef FOD_BUDGET_H
#define FOD_BUDGET_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct fod_tokens {
	atomic_llong milli; /* the count, in thousandths */
	int64_t max_milli, ratio_milli;
};
/* max_tokens in (0, 1000], ratio in (0, max_tokens]: rounded to thousandths. */
void fod_tokens_init(struct fod_tokens *t, double max_tokens, double ratio);
/* One call of the target ended on its own: ok or failed. */
void fod_tokens_record(struct fod_tokens *t, bool ok);
/* Whether a hedge may go now (count > max_tokens / 2). */
bool fod_tokens_allow(struct fod_tokens *t);

/* The credit holds what this many calls earn: the burst after a quiet spell. */
#define FOD_SHARE_WINDOW 200
struct fod_share {
	atomic_llong micro; /* credit, in millionths of a hedge */
	int64_t per_call_micro, cap_micro;
};
/* share in [0, 1]; the credit starts at one hedge (none when share is 0). */
void fod_share_init(struct fod_share *s, double share);
/* One call of the branch: earns its share of a hedge. */
void fod_share_call(struct fod_share *s);
/* Spends one hedge's credit: false (nothing spent) when there is less. */
bool fod_share_take(struct fod_share *s);
/* Gives a hedge's credit back (taken, then refused for another reason). */
void fod_share_return(struct fod_share *s);

#endif
