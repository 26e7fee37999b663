/* SPDX-License-Identifier: MIT */
/*
 * Metrics: lock-free counters and fixed-bucket histograms, registered by name
 * and kept across reloads (counters never go back), rendered in the
 * Prometheus text format (base units, _total, _seconds).
 */
#ifndef FOD_METRICS_H
#define FOD_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fanoutd/fanout.h"
#include "metrics-render.h"

/*
 * HTTP responses are counted by exact status: one slot per status fanoutd
 * answers with (fod_metrics_status_slot), the last for any other.
 */
#define FOD_STATUS_N 14
int fod_metrics_status_slot(int status);
/* Counts one response with this status in a by-status array (a route's, or fod_counters'). */
void fod_metrics_count_response(atomic_ulong *by_status, int status);

/* Why a hedge was not sent: fanoutd_branch_hedges_refused_total{reason=...}. */
enum fod_hedge_refusal {
	FOD_HEDGE_TOKENS,  /* the downstream's token count is at or under half */
	FOD_HEDGE_SHARE,   /* the branch's hedges are at their share of calls */
	FOD_HEDGE_LIMITER, /* the route's limiter has no slot free now */
	FOD_HEDGE_BUDGET,  /* less than the route's min_branch_ms left */
	FOD_HEDGE_REFUSALS
};

struct fod_metrics_branch {
	char *route, *branch;
	unsigned refs, mark; /* generations' branches using it; render's dedup (under the lock) */
	struct fod_hist latency;
	atomic_ulong outcomes[FO_OUTCOME_MAX];
	/*
	 * Rate-limited failure log: failures (error, timeout) by outcome since
	 * the branch's last log line, and when that line was written (0: never).
	 */
	atomic_ulong fail_pending[FO_OUTCOME_MAX];
	atomic_llong fail_logged_ns;
	/* Hedging (call.c): copies sent, copies that won, hedges not sent and why. */
	atomic_ulong hedges_sent, hedges_won, hedges_refused[FOD_HEDGE_REFUSALS];
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
	atomic_ulong responses[FOD_STATUS_N];  /* HTTP answers on the route, by status */
	/*
	 * The route's recent HTTP answers for /readyz, in FOD_READY_SLOT_NS
	 * slots: each one word (its slot time, answers, answers that met min_ok),
	 * so every loop updates it with one compare-and-swap, no lock.
	 */
	atomic_ullong ready[256];
};
/* A slot's length: 256 of them cover ready_window_ms up to its maximum, 60 s. */
#define FOD_READY_SLOT_NS (250 * FO_MSEC)

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

/* Internal endpoints: their responses are counted apart from the routes'. */
enum fod_endpoint { FOD_EP_METRICS, FOD_EP_HEALTHZ, FOD_EP_READYZ, FOD_EP_DASHBOARD, FOD_EP_N };
extern const char *const fod_endpoint_paths[FOD_EP_N];

/* A job row's outcome, as job.c reports it to its client (doc/PROTOCOL.md). */
enum fod_row_outcome {
	FOD_ROW_OK,
	FOD_ROW_DEGRADED,
	FOD_ROW_FAILED,
	FOD_ROW_SKIPPED,
	FOD_ROW_CANCELLED,
	FOD_ROW_N
};
/* Their names, on the wire (job results, summaries) and in /metrics. */
extern const char *const fod_row_outcome_names[FOD_ROW_N];
/*
 * A row's outcome from its unit's return code and report: skipped when every
 * branch was (skipped or shed); cancelled when job.cancel, shutdown or its
 * client leaving cut it short, under every policy (best-effort returns 0 over
 * the branches it lost, but the row was stopped, not degraded); else ok,
 * degraded (returned 0 with failed branches) or failed.
 */
enum fod_row_outcome fod_row_classify(int rc, const struct fo_report *rep);

/* Process-wide counters. */
struct fod_counters {
	atomic_ulong http_requests[6]; /* every answer by class 1xx..5xx ([0] unused): API stats */
	atomic_ulong http_unrouted[FOD_STATUS_N]; /* answers that matched no route (or no path) */
	atomic_ulong http_internal[FOD_EP_N][FOD_STATUS_N];
	atomic_ulong http_sim[FOD_STATUS_N]; /* the sim endpoint's answers (route "sim_endpoint") */
	atomic_ulong http_connections_total;
	atomic_long http_connections_open;
	atomic_ulong http_bad_requests;
	atomic_ulong reloads_ok, reloads_failed;
	atomic_llong start_time_ns;  /* CLOCK_REALTIME at startup */
	atomic_llong last_reload_ns; /* CLOCK_REALTIME of the last load (startup counts) */
	atomic_bool last_reload_ok;
	atomic_long jobs_open, job_rows_in_flight; /* sampled on loop 0, where job.c keeps them */
	atomic_ulong job_rows[FOD_ROW_N];
};
extern struct fod_counters fod_counters;

/* A reload's result (main.c): counted, with its time, for fanoutd_config_last_reload_*. */
void fod_metrics_reload_result(bool ok);
/* One job row ended with this outcome (job.c, where it counts the job's own summary). */
void fod_metrics_job_row(enum fod_row_outcome outcome);
/*
 * After the loops exist (main.c): notes the start time and starts a timer
 * on loop 0 that samples job.c's gauges (loop-0 state) and writes the
 * failure log lines that are due.
 */
void fod_metrics_start(void);

struct fod_route;
/* One HTTP answer of the route for /readyz: whether it met the route's min_ok. */
void fod_metrics_ready_record(const struct fod_route *rt, bool ok);
/*
 * Whether the route's recent success ratio is at or above its floor
 * (ready_min_success over ready_window_ms, with at least
 * ready_min_requests answers; fewer is no verdict: ready). *ok and *total
 * are the window's counts.
 */
bool fod_metrics_route_ready(const struct fod_route *rt, unsigned long *ok, unsigned long *total);

/*
 * One finished unit of a route (an HTTP request or a job row): every
 * branch's outcome and latency, the unit's latency (dur_ns) under its
 * policy, its join and admission waits; a branch's failure goes to the
 * rate-limited failure log.
 */
void fod_metrics_observe_unit(const struct fod_route *rt, const struct fo_policy *p,
			      const struct fo_result *results, const struct fo_report *rep,
			      int64_t dur_ns);

/*
 * Modules' metric families (the SDK's metrics service, metrics-module.c):
 * shared by name among the instances that declare them, and shown as
 * fanoutd_module_<module>_<name>. declare: 0, or -errno with err saying
 * why (a bad name, or the name declared otherwise by a live instance); each
 * family declared is given back with _release when the instance closes.
 */
int fod_metrics_module_declare(const char *module, const struct fo_metric_def *defs, size_t n,
			       struct fo_metric_family **out, char *err, size_t errlen);
void fod_metrics_module_release(struct fo_metric_family *f);
struct fo_metric *fod_metrics_module_series(struct fo_metric_family *f, const char *const *values);
void fod_metrics_module_add(struct fo_metric *m, int64_t delta);
void fod_metrics_module_set(struct fo_metric *m, int64_t value);
void fod_metrics_module_observe(struct fo_metric *m, int64_t ns);
/* Every module family with its series, after the daemon's own. */
void fod_metrics_modules_render(struct fod_mbuf *b);

struct fod_gen;
/*
 * The whole exposition for the current state, the per-route and per-branch
 * series of generation g's routes and branches only; the caller frees it.
 */
char *fod_metrics_render(struct fod_gen *g, size_t *len);

#endif
