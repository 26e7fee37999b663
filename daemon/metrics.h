/* SPDX-License-Identifier: MIT */
/*
 * Metrics: lock-free counters and fixed-bucket histograms, registered by name
 * and kept across reloads (counters never go back), rendered in the
 * Prometheus text format (base units, _total, _seconds).
 */
#ifndef FOD_METRICS_H
#define FOD_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "fanoutd/fanout.h"

#define FOD_HIST_BUCKETS 15
struct fod_hist {
	atomic_ulong bucket[FOD_HIST_BUCKETS]; /* not cumulative; the last is +Inf */
	atomic_ulong count;
	atomic_ullong sum_ns;
};
void fod_hist_observe(struct fod_hist *h, int64_t ns);

struct fod_metrics_branch {
	char *route, *branch;
	unsigned refs, mark; /* generations' branches using it; render's dedup (under the lock) */
	struct fod_hist latency;
	atomic_ulong outcomes[FO_OUTCOME_MAX];
};

enum {
	FOD_POLICY_FAILFAST,
	FOD_POLICY_COLLECTALL,
	FOD_POLICY_BESTEFFORT,
	FOD_POLICY_OTHER,
	FOD_POLICY_N
};

struct fod_metrics_route {
	char *route;
	unsigned refs, mark;
	struct fod_hist request[FOD_POLICY_N]; /* request latency by policy */
	struct fod_hist join_wait;	       /* fan-out start to join */
	struct fod_hist admission_wait;	       /* summed wait for the global limiter */
	atomic_ulong degraded;		       /* answered with at least one branch dropped */
	atomic_ulong rejected;		       /* 503: no admission within the budget */
};

/* The histogram's upper bounds in seconds (FOD_HIST_BUCKETS - 1 of them; the last is +Inf). */
const double *fod_hist_bounds(void);
/*
 * Every branch some live generation uses. The array, and entries no
 * generation uses any more, change only on loop 0 (at a reload's
 * registrations and in this call): read it on loop 0 (the API), do not keep it.
 */
size_t fod_metrics_branches(struct fod_metrics_branch *const **out);

/*
 * Registered once per name and counted per use: the same object comes back
 * on reloads while a generation still uses the name, so counters survive a
 * reload; each use is given back with the _put when its generation is freed.
 * Objects no generation uses are freed on loop 0 at the next registration
 * (or listing), so the series of a removed or renamed branch or route go.
 */
struct fod_metrics_branch *fod_metrics_branch(const char *route, const char *branch);
struct fod_metrics_route *fod_metrics_route(const char *route);
void fod_metrics_branch_put(struct fod_metrics_branch *m);
void fod_metrics_route_put(struct fod_metrics_route *m);
int fod_metrics_policy_slot(const struct fo_policy *p);

/* Process-wide counters. */
struct fod_counters {
	atomic_ulong http_requests[6]; /* by status class 1xx..5xx, [0] unused */
	atomic_ulong http_connections_total;
	atomic_long http_connections_open;
	atomic_ulong http_bad_requests;
	atomic_ulong reloads_ok, reloads_failed;
};
extern struct fod_counters fod_counters;

struct fod_route;
/*
 * One finished unit of a route (an HTTP request or a job row): every
 * branch's outcome and latency, the unit's latency (dur_ns) under its
 * policy, its join and admission waits.
 */
void fod_metrics_observe_unit(const struct fod_route *rt, const struct fo_policy *p,
			      const struct fo_result *results, const struct fo_report *rep,
			      int64_t dur_ns);

struct fod_gen;
/*
 * The whole exposition for the current state, the per-route and per-branch
 * series of generation g's routes and branches only; the caller frees it.
 */
char *fod_metrics_render(struct fod_gen *g, size_t *len);

#endif
