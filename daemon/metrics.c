/* SPDX-License-Identifier: MIT */
#include "metrics.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "config.h"
#include "control.h"
#include "generation.h"
#include "job.h"
#include "log.h"
#include "loop.h"
#include "procstat.h"
#include "strmap.h"

struct fod_counters fod_counters;

const char *const fod_endpoint_paths[FOD_EP_N] = {"/metrics", "/healthz", "/readyz", "/"};

/*
 * Every status fanoutd answers with (http.c's reason()), and 499 for a client
 * that left before its answer (FOD_HTTP_CLIENT_GONE); the last slot is any other.
 */
static const int statuses[FOD_STATUS_N - 1] = {200, 400, 404, 405, 408, 413, 414,
					       431, 499, 500, 502, 503, 504};

int fod_metrics_status_slot(int status)
{
	for (int i = 0; i < FOD_STATUS_N - 1; i++)
		if (statuses[i] == status)
			return i;
	return FOD_STATUS_N - 1;
}

void fod_metrics_count_response(atomic_ulong *by_status, int status)
{
	if (status >= 100 && status < 600)
		atomic_fetch_add_explicit(&fod_counters.http_requests[status / 100], 1,
					  memory_order_relaxed);
	atomic_fetch_add_explicit(&by_status[fod_metrics_status_slot(status)], 1,
				  memory_order_relaxed);
}

static int64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * FO_SEC + ts.tv_nsec;
}

void fod_metrics_reload_result(bool ok)
{
	atomic_fetch_add(ok ? &fod_counters.reloads_ok : &fod_counters.reloads_failed, 1);
	atomic_store(&fod_counters.last_reload_ok, ok);
	atomic_store(&fod_counters.last_reload_ns, realtime_ns());
}

void fod_metrics_job_row(enum fod_row_outcome outcome)
{
	if (outcome < FOD_ROW_N)
		atomic_fetch_add_explicit(&fod_counters.job_rows[outcome], 1, memory_order_relaxed);
}

const char *const fod_row_outcome_names[FOD_ROW_N] = {"ok", "degraded", "failed", "skipped",
						      "cancelled"};

static bool cancelled_by_owner(enum fo_cause cause)
{
	return cause == FO_CAUSE_CANCELLED || cause == FO_CAUSE_CLIENT_GONE ||
	       cause == FO_CAUSE_SHUTDOWN;
}

enum fod_row_outcome fod_row_classify(int rc, const struct fo_report *rep)
{
	size_t n = rep->total;
	if (n && rep->count[FO_SKIPPED] + rep->count[FO_SHED] == n)
		return FOD_ROW_SKIPPED;
	if ((rc != 0 || rep->failed) && cancelled_by_owner(rep->cause))
		return FOD_ROW_CANCELLED;
	if (rc == 0)
		return rep->failed ? FOD_ROW_DEGRADED : FOD_ROW_OK;
	return FOD_ROW_FAILED;
}

/* ---- /readyz: the recent success ratio per route */

/*
 * A slot's word: its time (quarter seconds, low 24 bits: only compared as
 * an age, so the wrap every 48 days is harmless), answers and answers ok
 * (20 bits each, saturating: 4 million a second per route is far past what
 * one daemon answers).
 */
#define READY_SLOTS    (sizeof(((struct fod_metrics_route *)0)->ready) / sizeof(atomic_ullong))
#define READY_COUNT    0xFFFFFULL
#define READY_STAMP    0xFFFFFFULL
#define ready_stamp(w) ((w) >> 40)
#define ready_total(w) (((w) >> 20) & READY_COUNT)
#define ready_ok(w)    ((w)&READY_COUNT)

void fod_metrics_ready_record(const struct fod_route *rt, bool ok)
{
	if (rt->ready_min_success <= 0 || !rt->metrics)
		return; /* no floor: nothing reads it */
	uint64_t q = (uint64_t)(fo_now_ns() / FOD_READY_SLOT_NS);
	atomic_ullong *slot = &rt->metrics->ready[q % READY_SLOTS];
	unsigned long long w = atomic_load_explicit(slot, memory_order_relaxed), nw;
	do {
		unsigned long long total = 0, good = 0;
		if (ready_stamp(w) == (q & READY_STAMP)) {
			total = ready_total(w);
			good = ready_ok(w);
		}
		if (total == READY_COUNT)
			return;
		nw = ((q & READY_STAMP) << 40) | ((total + 1) << 20) | (good + (ok ? 1 : 0));
	} while (!atomic_compare_exchange_weak_explicit(slot, &w, nw, memory_order_relaxed,
							memory_order_relaxed));
}

bool fod_metrics_route_ready(const struct fod_route *rt, unsigned long *ok, unsigned long *total)
{
	*ok = *total = 0;
	if (rt->ready_min_success <= 0 || !rt->metrics)
		return true;
	uint64_t q = (uint64_t)(fo_now_ns() / FOD_READY_SLOT_NS);
	uint64_t nslots =
		(uint64_t)((rt->ready_window_ns + FOD_READY_SLOT_NS - 1) / FOD_READY_SLOT_NS);
	if (nslots > READY_SLOTS - 1)
		nslots = READY_SLOTS - 1;
	for (size_t i = 0; i < READY_SLOTS; i++) {
		unsigned long long w =
			atomic_load_explicit(&rt->metrics->ready[i], memory_order_relaxed);
		if (((q - ready_stamp(w)) & READY_STAMP) >= nslots)
			continue; /* older than the window (or never used) */
		*total += ready_total(w);
		*ok += ready_ok(w);
	}
	if (*total < rt->ready_min_requests)
		return true;
	return (double)*ok >= rt->ready_min_success * (double)*total;
}

/* ---- the rate-limited failure log */

/* log_failure_interval_ms of the current generation: refreshed by the tick. */
static atomic_llong failure_interval_ns = 10 * FO_SEC;

/*
 * Writes the branch's failures since its last line, if any: one line with
 * the counts by outcome. Called by whoever won the line's time slot.
 */
static void log_failures(struct fod_metrics_branch *m, int64_t since_ns, const char *errmsg)
{
	unsigned long n[FO_OUTCOME_MAX], sum = 0;
	for (int o = 0; o < FO_OUTCOME_MAX; o++)
		sum += n[o] =
			atomic_exchange_explicit(&m->fail_pending[o], 0, memory_order_relaxed);
	if (!sum)
		return;
	char counts[128];
	size_t len = 0;
	counts[0] = '\0';
	for (int o = 0; o < FO_OUTCOME_MAX && len < sizeof(counts); o++)
		if (n[o])
			len += (size_t)snprintf(counts + len, sizeof(counts) - len, "%s%s %lu",
						len ? ", " : "", fo_outcome_str(o), n[o]);
	char period[64] = "";
	if (since_ns)
		snprintf(period, sizeof(period), " in the last %.1f s", (double)since_ns / 1e9);
	log_warn("route %s branch %s: %lu failure%s%s (%s)%s%s", m->route, m->branch, sum,
		 sum == 1 ? "" : "s", period, counts, errmsg ? "; last: " : "",
		 errmsg ? errmsg : "");
}

/* The line is due when the interval since the last one has passed; one thread wins it. */
static void maybe_log_failures(struct fod_metrics_branch *m, int64_t now, const char *errmsg)
{
	long long last = atomic_load_explicit(&m->fail_logged_ns, memory_order_relaxed);
	if (last && now - last < atomic_load_explicit(&failure_interval_ns, memory_order_relaxed))
		return;
	if (atomic_compare_exchange_strong(&m->fail_logged_ns, &last, now))
		log_failures(m, last ? now - last : 0, errmsg);
}

static const char *branch_errmsg(const struct fo_report *rep, size_t i)
{
	for (size_t e = 0; e < rep->nerrors; e++)
		if (rep->errors[e].index == i)
			return rep->errors[e].errmsg;
	return NULL;
}

void fod_metrics_observe_unit(const struct fod_route *rt, const struct fo_policy *p,
			      const struct fo_result *results, const struct fo_report *rep,
			      int64_t dur_ns)
{
	for (size_t i = 0; i < rt->nbranches; i++) {
		struct fod_metrics_branch *m = rt->branches[i].metrics;
		const struct fo_result *r = &results[i];
		if (!m)
			continue;
		atomic_fetch_add_explicit(&m->outcomes[r->outcome], 1, memory_order_relaxed);
		if (r->outcome != FO_SKIPPED && r->outcome != FO_SHED)
			fod_hist_observe(&m->latency, r->dur_ns);
		/* The downstream's own failures; cancels and sheds are the daemon's doing. */
		if (r->outcome == FO_ERROR || r->outcome == FO_TIMEOUT) {
			atomic_fetch_add_explicit(&m->fail_pending[r->outcome], 1,
						  memory_order_relaxed);
			maybe_log_failures(m, fo_now_ns(), branch_errmsg(rep, i));
		}
	}
	fod_hist_observe(&rt->metrics->request[fod_metrics_policy_slot(p)], dur_ns);
	fod_hist_observe(&rt->metrics->join_wait, rep->wall_ns);
	fod_hist_observe(&rt->metrics->admission_wait, rep->admit_wait_ns);
}

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
/* Every registered object, and the maps that find them by name (keys in the objects). */
static struct fod_metrics_branch **branches;
static size_t nbranches, branches_cap;
static struct fod_metrics_route **routes;
static size_t nroutes, routes_cap;
static struct fod_strmap branch_map, route_map;

static bool some_unused; /* a _put brought an object to 0 since the last prune */

/* A branch's key: its route's name and its own, with the route's NUL between. */
static size_t branch_key_len(const struct fod_metrics_branch *m)
{
	return (size_t)(m->branch - m->route) + strlen(m->branch);
}

/*
 * Frees the objects no generation uses any more and rebuilds the maps of
 * those left (new maps first: out of memory, everything stays for the next
 * try); under reg_lock, on loop 0 only, where the API reads the branch
 * array without the lock.
 */
static void prune_unused(void)
{
	if (!some_unused)
		return;
	struct fod_strmap bmap = {0}, rmap = {0};
	for (size_t i = 0; i < nbranches; i++)
		if (branches[i]->refs &&
		    fod_strmap_add(&bmap, branches[i]->route, branch_key_len(branches[i]),
				   branches[i]) < 0)
			goto nomem;
	for (size_t i = 0; i < nroutes; i++)
		if (routes[i]->refs && fod_strmap_add(&rmap, routes[i]->route,
						      strlen(routes[i]->route), routes[i]) < 0)
			goto nomem;
	some_unused = false;
	fod_strmap_clear(&branch_map);
	fod_strmap_clear(&route_map);
	branch_map = bmap;
	route_map = rmap;
	size_t k = 0;
	for (size_t i = 0; i < nbranches; i++) {
		if (branches[i]->refs) {
			branches[k++] = branches[i];
			continue;
		}
		free(branches[i]->route); /* branch is in the same allocation */
		free(branches[i]);
	}
	nbranches = k;
	k = 0;
	for (size_t i = 0; i < nroutes; i++) {
		if (routes[i]->refs) {
			routes[k++] = routes[i];
			continue;
		}
		free(routes[i]->route);
		free(routes[i]);
	}
	nroutes = k;
	return;
nomem:
	fod_strmap_clear(&bmap);
	fod_strmap_clear(&rmap);
}

size_t fod_metrics_branches(struct fod_metrics_branch *const **out)
{
	pthread_mutex_lock(&reg_lock);
	prune_unused();
	*out = branches;
	size_t n = nbranches;
	pthread_mutex_unlock(&reg_lock);
	return n;
}

/* A generation lets go of a registration: the last one marks it for pruning. */
static void put_ref(unsigned *refs)
{
	pthread_mutex_lock(&reg_lock);
	if (--*refs == 0)
		some_unused = true;
	pthread_mutex_unlock(&reg_lock);
}

void fod_metrics_branch_put(struct fod_metrics_branch *m)
{
	if (m)
		put_ref(&m->refs);
}

void fod_metrics_route_put(struct fod_metrics_route *m)
{
	if (m)
		put_ref(&m->refs);
}

/* Room for one more in a registry array, grown by doubling. */
static int reserve(void *arr, size_t n, size_t *cap)
{
	void ***a = arr;
	if (n < *cap)
		return 0;
	size_t c = *cap ? *cap * 2 : 64;
	void **p = realloc(*a, c * sizeof(*p));
	if (!p)
		return -ENOMEM;
	*a = p;
	*cap = c;
	return 0;
}

struct fod_metrics_branch *fod_metrics_branch(const char *route, const char *branch)
{
	size_t rl = strlen(route), bl = strlen(branch);
	char *key = malloc(rl + 1 + bl + 1);
	if (!key)
		return NULL;
	memcpy(key, route, rl + 1);
	memcpy(key + rl + 1, branch, bl + 1);
	pthread_mutex_lock(&reg_lock);
	prune_unused();
	struct fod_metrics_branch *m = fod_strmap_get(&branch_map, key, rl + 1 + bl);
	if (m) {
		free(key);
	} else if (reserve(&branches, nbranches, &branches_cap) == 0 &&
		   (m = calloc(1, sizeof(*m)))) {
		m->route = key;
		m->branch = key + rl + 1;
		if (fod_strmap_add(&branch_map, key, rl + 1 + bl, m) < 0) {
			free(m);
			m = NULL;
		} else {
			branches[nbranches++] = m;
		}
	}
	if (m)
		m->refs++;
	else
		free(key);
	pthread_mutex_unlock(&reg_lock);
	return m;
}

struct fod_metrics_route *fod_metrics_route(const char *route)
{
	char *key = strdup(route);
	if (!key)
		return NULL;
	pthread_mutex_lock(&reg_lock);
	prune_unused();
	struct fod_metrics_route *m = fod_strmap_get(&route_map, key, strlen(key));
	if (m) {
		free(key);
	} else if (reserve(&routes, nroutes, &routes_cap) == 0 && (m = calloc(1, sizeof(*m)))) {
		m->route = key;
		if (fod_strmap_add(&route_map, key, strlen(key), m) < 0) {
			free(m);
			m = NULL;
		} else {
			routes[nroutes++] = m;
		}
	}
	if (m)
		m->refs++;
	else
		free(key);
	pthread_mutex_unlock(&reg_lock);
	return m;
}

int fod_metrics_policy_slot(const struct fo_policy *p)
{
	for (int k = FO_FAILFAST; k <= FO_BESTEFFORT; k++)
		if (p == fo_policy_builtin(k))
			return k;
	return FOD_POLICY_OTHER;
}

/* ---- loop 0's tick */

static ev_timer tick_timer;

static void tick(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)ev;
	(void)w;
	(void)revents;
	/* job.c keeps these on loop 0 without atomics: read here, published for /metrics. */
	atomic_store(&fod_counters.jobs_open, (long)fod_jobs_open());
	atomic_store(&fod_counters.job_rows_in_flight, fod_jobs_rows_in_flight());
	struct fod_gen *g = fod_gen_current();
	if (g)
		atomic_store(&failure_interval_ns, g->log.failure_interval_ns);
	fod_gen_unref(g);
	/* Failures after a branch's last line, with no failure since to write them: now. */
	int64_t now = fo_now_ns();
	pthread_mutex_lock(&reg_lock);
	for (size_t i = 0; i < nbranches; i++) {
		unsigned long pending = 0;
		for (int o = 0; o < FO_OUTCOME_MAX; o++)
			pending += atomic_load_explicit(&branches[i]->fail_pending[o],
							memory_order_relaxed);
		if (pending)
			maybe_log_failures(branches[i], now, NULL);
	}
	pthread_mutex_unlock(&reg_lock);
}

void fod_metrics_start(void)
{
	atomic_store(&fod_counters.start_time_ns, realtime_ns());
	atomic_store(&fod_counters.last_reload_ns, realtime_ns());
	atomic_store(&fod_counters.last_reload_ok, true);
	struct fod_gen *g = fod_gen_current();
	if (g)
		atomic_store(&failure_interval_ns, g->log.failure_interval_ns);
	fod_gen_unref(g);
	ev_timer_init(&tick_timer, tick, 0., 0.25);
	ev_timer_again(fod_loops[0].ev, &tick_timer);
}

static const char *const policy_names[FOD_POLICY_N] = {"failfast", "collectall", "besteffort",
						       "other"};

/* ---- rendering: every family declared once, below, and written by metrics-render */

/* What one scrape shows: read once, shared by the families' series. */
struct scrape {
	struct fod_gen *g;
	struct procstat ps;
	struct rusage ru;
	/* The serving generation's objects, each once (under reg_lock). */
	struct fod_metrics_branch **branches;
	size_t nbranches;
	struct fod_metrics_route **routes;
	size_t nroutes;
};

/* A family: its declaration and the function that writes its series. */
struct family {
	struct fo_metric_def def;
	void (*series)(struct fod_mr *r, const struct scrape *s);
};

#define V(...) ((const char *const[]){__VA_ARGS__})

static void s_build_info(struct fod_mr *r, const struct scrape *s)
{
	(void)s;
	fod_mr_uint(r, V(PACKAGE_VERSION), 1);
}
static void s_start_time(struct fod_mr *r, const struct scrape *s)
{
	(void)s;
	fod_mr_real(r, NULL, (double)atomic_load(&fod_counters.start_time_ns) / 1e9, 3);
}
static void s_cpu(struct fod_mr *r, const struct scrape *s)
{
	const struct rusage *ru = &s->ru;
	fod_mr_real(r, NULL,
		    (double)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) +
			    (double)(ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) / 1e6,
		    6);
}
static void s_draining(struct fod_mr *r, const struct scrape *s)
{
	(void)s;
	fod_mr_int(r, NULL, fod_control_draining() ? 1 : 0);
}
static void s_reload_ok(struct fod_mr *r, const struct scrape *s)
{
	(void)s;
	fod_mr_int(r, NULL, atomic_load(&fod_counters.last_reload_ok) ? 1 : 0);
}
static void s_reload_time(struct fod_mr *r, const struct scrape *s)
{
	(void)s;
	fod_mr_real(r, NULL, (double)atomic_load(&fod_counters.last_reload_ns) / 1e9, 3);
}
static void s_jobs_open(struct fod_mr *r, const struct scrape *s)
{
	(void)s;
	fod_mr_int(r, NULL, atomic_load(&fod_counters.jobs_open));
}
static void s_job_rows_in_flight(struct fod_mr *r, const struct scrape *s)
{
	(void)s;
	fod_mr_int(r, NULL, atomic_load(&fod_counters.job_rows_in_flight));
}
static void s_job_rows(struct fod_mr *r, const struct scrape *s)
{
	(void)s;
	for (int o = 0; o < FOD_ROW_N; o++)
		fod_mr_uint(r, V(fod_row_outcome_names[o]), atomic_load(&fod_counters.job_rows[o]));
}
static void s_threads(struct fod_mr *r, const struct scrape *s)
{
	fod_mr_int(r, NULL, s->ps.threads);
}
static void s_rss(struct fod_mr *r, const struct scrape *s)
{
	fod_mr_int(r, NULL, (long long)s->ps.rss_kib * 1024);
}
static void s_fds(struct fod_mr *r, const struct scrape *s)
{
	fod_mr_int(r, NULL, s->ps.fds);
}
static void s_branches_in_flight(struct fod_mr *r, const struct scrape *s)
{
	(void)s;
	fod_mr_int(r, NULL, fo_live_branches());
}
static void s_generation(struct fod_mr *r, const struct scrape *s)
{
	fod_mr_uint(r, NULL, s->g ? (unsigned long long)s->g->id : 0);
}
static void s_generations_live(struct fod_mr *r, const struct scrape *s)
{
	(void)s;
	fod_mr_uint(r, NULL, (unsigned long long)fod_gen_live());
}
static void s_reloads(struct fod_mr *r, const struct scrape *s)
{
	(void)s;
	fod_mr_uint(r, V("ok"), atomic_load(&fod_counters.reloads_ok));
	fod_mr_uint(r, V("failed"), atomic_load(&fod_counters.reloads_failed));
}
static void s_connections(struct fod_mr *r, const struct scrape *s)
{
	(void)s;
	fod_mr_int(r, NULL, atomic_load(&fod_counters.http_connections_open));
}
static void s_accepted(struct fod_mr *r, const struct scrape *s)
{
	(void)s;
	fod_mr_uint(r, NULL, atomic_load(&fod_counters.http_connections_total));
}

/* One series per status seen (first label: who, second: the code): a status never answered has
 * none. */
static void by_status(struct fod_mr *r, const char *who, atomic_ulong *counts)
{
	for (int i = 0; i < FOD_STATUS_N; i++) {
		unsigned long n = atomic_load(&counts[i]);
		char code[16] = "other";
		if (!n)
			continue;
		if (i < FOD_STATUS_N - 1)
			snprintf(code, sizeof(code), "%d", statuses[i]);
		fod_mr_uint(r, V(who, code), n);
	}
}

/*
 * The internal endpoints apart, so monitoring's own traffic (this very
 * scrape is counted once it is answered) never mixes with the routes'.
 */
static void s_internal(struct fod_mr *r, const struct scrape *s)
{
	(void)s;
	for (int e = 0; e < FOD_EP_N; e++)
		by_status(r, fod_endpoint_paths[e], fod_counters.http_internal[e]);
}

static void s_responses(struct fod_mr *r, const struct scrape *s)
{
	for (size_t i = 0; i < s->nroutes; i++)
		by_status(r, s->routes[i]->route, s->routes[i]->responses);
	by_status(r, "", fod_counters.http_unrouted);
	by_status(r, "sim_endpoint", fod_counters.http_sim);
}

/* The limiters' gauges: one per limiter, or per partition of a partitioned one. */
static void limiters(struct fod_mr *r, const struct scrape *s, int64_t (*get)(struct fo_sem *))
{
	for (size_t i = 0; s->g && i < s->g->nlimiters; i++)
		fod_mr_int(r, V(s->g->limiters[i].name), get(fod_limiter_sem(&s->g->limiters[i])));
}
static int64_t sem_waiting(struct fo_sem *sem)
{
	return (int64_t)fo_sem_waiting(sem);
}
static void s_lim_in_flight(struct fod_mr *r, const struct scrape *s)
{
	limiters(r, s, fo_sem_in_use);
}
static void s_lim_high_water(struct fod_mr *r, const struct scrape *s)
{
	limiters(r, s, fo_sem_high_water);
}
static void s_lim_limit(struct fod_mr *r, const struct scrape *s)
{
	limiters(r, s, fo_sem_size);
}
static void s_lim_waiting(struct fod_mr *r, const struct scrape *s)
{
	limiters(r, s, sem_waiting);
}
static void partitions(struct fod_mr *r, const struct scrape *s,
		       int64_t (*get)(struct fo_sem *, unsigned))
{
	for (size_t i = 0; s->g && i < s->g->nlimiters; i++) {
		if (!s->g->limiters[i].partitioned)
			continue;
		struct fo_sem *sem = fod_limiter_sem(&s->g->limiters[i]);
		for (unsigned p = 0; p < FOD_PARTITIONS; p++)
			fod_mr_int(r, V(s->g->limiters[i].name, fod_partition_names[p]),
				   get(sem, p));
	}
}
static void s_part_in_flight(struct fod_mr *r, const struct scrape *s)
{
	partitions(r, s, fo_sem_partition_in_use);
}
static void s_part_guaranteed(struct fod_mr *r, const struct scrape *s)
{
	partitions(r, s, fo_sem_partition_guaranteed);
}

static void s_branch_latency(struct fod_mr *r, const struct scrape *s)
{
	for (size_t i = 0; i < s->nbranches; i++)
		fod_mr_hist(r, V(s->branches[i]->route, s->branches[i]->branch),
			    &s->branches[i]->latency);
}
static void s_branch_outcomes(struct fod_mr *r, const struct scrape *s)
{
	for (size_t i = 0; i < s->nbranches; i++)
		for (int o = 0; o < FO_OUTCOME_MAX; o++)
			fod_mr_uint(
				r,
				V(s->branches[i]->route, s->branches[i]->branch, fo_outcome_str(o)),
				atomic_load(&s->branches[i]->outcomes[o]));
}
static const char *const hedge_refusal_names[FOD_HEDGE_REFUSALS] = {"tokens", "share", "limiter",
								    "budget"};

/* Hedged branches' copies (call.c): the extra load is hedges over the branch's outcomes. */
static void s_hedges(struct fod_mr *r, const struct scrape *s)
{
	for (size_t i = 0; i < s->nbranches; i++)
		fod_mr_uint(r, V(s->branches[i]->route, s->branches[i]->branch),
			    atomic_load(&s->branches[i]->hedges_sent));
}
static void s_hedges_won(struct fod_mr *r, const struct scrape *s)
{
	for (size_t i = 0; i < s->nbranches; i++)
		fod_mr_uint(r, V(s->branches[i]->route, s->branches[i]->branch),
			    atomic_load(&s->branches[i]->hedges_won));
}
static void s_hedges_refused(struct fod_mr *r, const struct scrape *s)
{
	for (size_t i = 0; i < s->nbranches; i++)
		for (int k = 0; k < FOD_HEDGE_REFUSALS; k++)
			fod_mr_uint(r,
				    V(s->branches[i]->route, s->branches[i]->branch,
				      hedge_refusal_names[k]),
				    atomic_load(&s->branches[i]->hedges_refused[k]));
}
static void s_request_latency(struct fod_mr *r, const struct scrape *s)
{
	for (size_t i = 0; i < s->nroutes; i++)
		for (int p = 0; p < FOD_POLICY_N; p++)
			fod_mr_hist(r, V(s->routes[i]->route, policy_names[p]),
				    &s->routes[i]->request[p]);
}
static void s_join_wait(struct fod_mr *r, const struct scrape *s)
{
	for (size_t i = 0; i < s->nroutes; i++)
		fod_mr_hist(r, V(s->routes[i]->route), &s->routes[i]->join_wait);
}
static void s_admission_wait(struct fod_mr *r, const struct scrape *s)
{
	for (size_t i = 0; i < s->nroutes; i++)
		fod_mr_hist(r, V(s->routes[i]->route), &s->routes[i]->admission_wait);
}
static void s_degraded(struct fod_mr *r, const struct scrape *s)
{
	for (size_t i = 0; i < s->nroutes; i++)
		fod_mr_uint(r, V(s->routes[i]->route), atomic_load(&s->routes[i]->degraded));
}
static void s_rejected(struct fod_mr *r, const struct scrape *s)
{
	for (size_t i = 0; i < s->nroutes; i++)
		fod_mr_uint(r, V(s->routes[i]->route), atomic_load(&s->routes[i]->rejected));
}

#define COUNTER	  FO_METRIC_COUNTER
#define GAUGE	  FO_METRIC_GAUGE
#define HISTOGRAM FO_METRIC_HISTOGRAM

/* The daemon's families, in the order /metrics shows them. */
static const struct family families[] = {
	/* identity and life: build, start, CPU, drain, last reload, jobs */
	{{"fanoutd_build_info",
	  "Always 1: the version of the running fanoutd.",
	  GAUGE,
	  {"version"}},
	 s_build_info},
	{{"process_start_time_seconds", "Start time since the Unix epoch.", GAUGE, {NULL}},
	 s_start_time},
	{{"process_cpu_seconds_total", "User and system CPU time spent.", COUNTER, {NULL}}, s_cpu},
	{{"fanoutd_draining",
	  "1 while drained by the operator (fanoutctl drain): not ready, refusing work.",
	  GAUGE,
	  {NULL}},
	 s_draining},
	{{"fanoutd_config_last_reload_success",
	  "1 if the last configuration load (startup or reload) succeeded.",
	  GAUGE,
	  {NULL}},
	 s_reload_ok},
	{{"fanoutd_config_last_reload_timestamp_seconds",
	  "Time of the last configuration load (startup or reload) since the Unix epoch.",
	  GAUGE,
	  {NULL}},
	 s_reload_time},
	{{"fanoutd_jobs_open", "Batch jobs open (sampled every 250 ms).", GAUGE, {NULL}},
	 s_jobs_open},
	{{"fanoutd_job_rows_in_flight",
	  "Job rows started and not yet ended (sampled every 250 ms).",
	  GAUGE,
	  {NULL}},
	 s_job_rows_in_flight},
	{{"fanoutd_job_rows_total", "Job rows ended, by outcome.", COUNTER, {"outcome"}},
	 s_job_rows},
	{{"fanoutd_threads", "Live threads of the process.", GAUGE, {NULL}}, s_threads},
	{{"process_resident_memory_bytes", "Resident set size in bytes.", GAUGE, {NULL}}, s_rss},
	{{"process_open_fds", "Open file descriptors.", GAUGE, {NULL}}, s_fds},
	{{"fanoutd_branches_in_flight", "Branches started and not yet ended.", GAUGE, {NULL}},
	 s_branches_in_flight},
	{{"fanoutd_config_generation",
	  "Id of the configuration generation serving.",
	  GAUGE,
	  {NULL}},
	 s_generation},
	{{"fanoutd_config_generations_live",
	  "Configuration generations in memory: the serving one and older ones still "
	  "finishing requests or jobs that began under them.",
	  GAUGE,
	  {NULL}},
	 s_generations_live},
	{{"fanoutd_reloads_total", "Configuration reloads by result.", COUNTER, {"result"}},
	 s_reloads},
	/* the HTTP front */
	{{"fanoutd_http_connections", "Open HTTP connections.", GAUGE, {NULL}}, s_connections},
	{{"fanoutd_http_connections_accepted_total", "HTTP connections accepted.", COUNTER, {NULL}},
	 s_accepted},
	{{"fanoutd_http_internal_responses_total",
	  "HTTP responses of the internal endpoints (/metrics, /healthz, /readyz, /) by "
	  "endpoint and status.",
	  COUNTER,
	  {"endpoint", "code"}},
	 s_internal},
	/* the serving generation's limiters */
	{{"fanoutd_limiter_in_flight", "Weight held in the limiter now.", GAUGE, {"limiter"}},
	 s_lim_in_flight},
	{{"fanoutd_limiter_in_flight_high_water",
	  "Most weight ever held at once in this limiter instance.",
	  GAUGE,
	  {"limiter"}},
	 s_lim_high_water},
	{{"fanoutd_limiter_limit", "The limiter's current limit.", GAUGE, {"limiter"}},
	 s_lim_limit},
	{{"fanoutd_limiter_waiting", "Units queued for admission.", GAUGE, {"limiter"}},
	 s_lim_waiting},
	{{"fanoutd_limiter_partition_in_flight",
	  "Weight held by this partition's work now.",
	  GAUGE,
	  {"limiter", "partition"}},
	 s_part_in_flight},
	{{"fanoutd_limiter_partition_guaranteed",
	  "Weight this partition is guaranteed.",
	  GAUGE,
	  {"limiter", "partition"}},
	 s_part_guaranteed},
	/* the serving generation's branches and routes */
	{{"fanoutd_branch_duration_seconds",
	  "Branch latency, start to end.",
	  HISTOGRAM,
	  {"route", "branch"}},
	 s_branch_latency},
	{{"fanoutd_branch_outcomes_total",
	  "Branch ends by outcome.",
	  COUNTER,
	  {"route", "branch", "outcome"}},
	 s_branch_outcomes},
	{{"fanoutd_branch_hedges_total",
	  "Hedges (copies of a call) sent.",
	  COUNTER,
	  {"route", "branch"}},
	 s_hedges},
	{{"fanoutd_branch_hedges_won_total",
	  "Hedges whose answer was the branch's.",
	  COUNTER,
	  {"route", "branch"}},
	 s_hedges_won},
	{{"fanoutd_branch_hedges_refused_total",
	  "Hedges due but not sent, by the budget that refused them.",
	  COUNTER,
	  {"route", "branch", "reason"}},
	 s_hedges_refused},
	{{"fanoutd_request_duration_seconds",
	  "Unit latency by route and policy.",
	  HISTOGRAM,
	  {"route", "policy"}},
	 s_request_latency},
	{{"fanoutd_join_wait_seconds", "Fan-out start to join.", HISTOGRAM, {"route"}},
	 s_join_wait},
	{{"fanoutd_admission_wait_seconds",
	  "Time a unit's branches waited for the global limiter.",
	  HISTOGRAM,
	  {"route"}},
	 s_admission_wait},
	{{"fanoutd_degraded_total", "Units answered with branches dropped.", COUNTER, {"route"}},
	 s_degraded},
	{{"fanoutd_admission_rejections_total",
	  "Units refused (503) for lack of admission within their budget.",
	  COUNTER,
	  {"route"}},
	 s_rejected},
	{{"fanoutd_http_responses_total",
	  "HTTP responses by route and status; route=\"\" matched no route (or was refused "
	  "before its path was read).",
	  COUNTER,
	  {"route", "code"}},
	 s_responses},
};

/*
 * The series to show are those of what the serving generation has: a
 * branch or route renamed or removed by a reload is gone from /metrics at
 * once, even while older generations finish their requests. Each object
 * once (branches may share one by name). Under reg_lock; the caller frees
 * *out (NULL when there is nothing to show).
 */
static unsigned render_mark;

static size_t live_branches(struct fod_gen *g, struct fod_metrics_branch ***out)
{
	size_t total = 0, n = 0;
	for (size_t i = 0; g && i < g->nroutes; i++)
		total += g->routes[i].nbranches;
	*out = total ? malloc(total * sizeof(**out)) : NULL;
	if (!*out)
		return 0;
	render_mark++;
	for (size_t i = 0; i < g->nroutes; i++)
		for (size_t j = 0; j < g->routes[i].nbranches; j++) {
			struct fod_metrics_branch *m = g->routes[i].branches[j].metrics;
			if (m && m->mark != render_mark) {
				m->mark = render_mark;
				(*out)[n++] = m;
			}
		}
	return n;
}

static size_t live_routes(struct fod_gen *g, struct fod_metrics_route ***out)
{
	size_t n = 0;
	*out = g && g->nroutes ? malloc(g->nroutes * sizeof(**out)) : NULL;
	if (!*out)
		return 0;
	render_mark++;
	for (size_t i = 0; i < g->nroutes; i++) {
		struct fod_metrics_route *m = g->routes[i].metrics;
		if (m && m->mark != render_mark) {
			m->mark = render_mark;
			(*out)[n++] = m;
		}
	}
	return n;
}

/* The last scrape's size: the next one starts with room for it instead of growing to it. */
static atomic_size_t last_render_len = 16384;

char *fod_metrics_render(struct fod_gen *g, size_t *len)
{
	struct fod_mbuf b = {.cap = atomic_load_explicit(&last_render_len, memory_order_relaxed)};
	b.cap += b.cap / 8 + 1; /* and a little more: counters grow */
	b.p = malloc(b.cap);
	if (!b.p)
		return NULL;
	struct scrape s = {.g = g};
	procstat_read(&s.ps);
	getrusage(RUSAGE_SELF, &s.ru);

	pthread_mutex_lock(&reg_lock);
	s.nbranches = live_branches(g, &s.branches);
	s.nroutes = live_routes(g, &s.routes);
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		struct fod_mr r;
		fod_mr_begin(&r, &b, "", &families[i].def);
		families[i].series(&r, &s);
	}
	pthread_mutex_unlock(&reg_lock);
	free(s.branches);
	free(s.routes);
	fod_metrics_modules_render(&b);
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	atomic_store_explicit(&last_render_len, b.len, memory_order_relaxed);
	*len = b.len;
	return b.p;
}
