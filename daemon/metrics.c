/* SPDX-License-Identifier: MIT */
#include "metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "config.h"
#include "gateway.h"
#include "gen.h"
#include "job.h"
#include "log.h"
#include "loop.h"
#include "procstat.h"

struct fod_counters fod_counters;

const char *const fod_endpoint_paths[FOD_EP_N] = {"/metrics", "/healthz", "/readyz", "/"};

/* Every status fanoutd answers with (http.c's reason()); the last slot is any other. */
static const int statuses[FOD_STATUS_N - 1] = {200, 400, 404, 405, 408, 413,
					       414, 431, 500, 502, 503, 504};

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

/* Upper bounds in seconds; the last bucket is +Inf. */
static const double bounds[FOD_HIST_BUCKETS - 1] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
						    0.25,  0.5,	   1,	  2.5,	5,     10,   30};

void fod_hist_observe(struct fod_hist *h, int64_t ns)
{
	double s = (double)ns / 1e9;
	int i = 0;
	while (i < FOD_HIST_BUCKETS - 1 && s > bounds[i])
		i++;
	atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_ns, (unsigned long long)(ns > 0 ? ns : 0),
				  memory_order_relaxed);
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
static struct fod_metrics_branch **branches;
static size_t nbranches;
static struct fod_metrics_route **routes;
static size_t nroutes;

const double *fod_hist_bounds(void)
{
	return bounds;
}

static bool some_unused; /* a _put brought an object to 0 since the last prune */

/*
 * Frees the objects no generation uses any more; under reg_lock, on loop 0
 * only, where the API reads the branch array without the lock.
 */
static void prune_unused(void)
{
	if (!some_unused)
		return;
	some_unused = false;
	size_t k = 0;
	for (size_t i = 0; i < nbranches; i++) {
		if (branches[i]->refs) {
			branches[k++] = branches[i];
			continue;
		}
		free(branches[i]->route);
		free(branches[i]->branch);
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

struct fod_metrics_branch *fod_metrics_branch(const char *route, const char *branch)
{
	pthread_mutex_lock(&reg_lock);
	prune_unused();
	struct fod_metrics_branch *m = NULL;
	for (size_t i = 0; i < nbranches && !m; i++)
		if (!strcmp(branches[i]->route, route) && !strcmp(branches[i]->branch, branch))
			m = branches[i];
	if (!m) {
		struct fod_metrics_branch **b = realloc(branches, (nbranches + 1) * sizeof(*b));
		if (b)
			branches = b; /* realloc may have freed the old array, whatever follows */
		m = b ? calloc(1, sizeof(*m)) : NULL;
		if (m) {
			m->route = strdup(route);
			m->branch = strdup(branch);
		}
		if (m && m->route && m->branch) {
			branches[nbranches++] = m;
		} else {
			if (m) {
				free(m->route);
				free(m->branch);
			}
			free(m);
			m = NULL;
		}
	}
	if (m)
		m->refs++;
	pthread_mutex_unlock(&reg_lock);
	return m;
}

struct fod_metrics_route *fod_metrics_route(const char *route)
{
	pthread_mutex_lock(&reg_lock);
	prune_unused();
	struct fod_metrics_route *m = NULL;
	for (size_t i = 0; i < nroutes && !m; i++)
		if (!strcmp(routes[i]->route, route))
			m = routes[i];
	if (!m) {
		struct fod_metrics_route **r = realloc(routes, (nroutes + 1) * sizeof(*r));
		if (r)
			routes = r; /* realloc may have freed the old array, whatever follows */
		m = r ? calloc(1, sizeof(*m)) : NULL;
		if (m)
			m->route = strdup(route);
		if (m && m->route) {
			routes[nroutes++] = m;
		} else {
			if (m)
				free(m->route);
			free(m);
			m = NULL;
		}
	}
	if (m)
		m->refs++;
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
		atomic_store(&failure_interval_ns, g->log_failure_interval_ns);
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
		atomic_store(&failure_interval_ns, g->log_failure_interval_ns);
	fod_gen_unref(g);
	ev_timer_init(&tick_timer, tick, 0., 0.25);
	ev_timer_again(fod_loops[0].ev, &tick_timer);
}

static const char *const policy_names[FOD_POLICY_N] = {"failfast", "collectall", "besteffort",
						       "other"};

/* ---- rendering into a growing buffer */

struct buf {
	char *p;
	size_t len, cap;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct buf *b, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = (b->cap + (size_t)n) * 2;
		char *p = realloc(b->p, cap);
		if (!p)
			return;
		b->p = p;
		b->cap = cap;
	}
}

static void help(struct buf *b, const char *name, const char *type, const char *text)
{
	put(b, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

/* A partitioned limiter's share of each kind of work: held, guaranteed, waiting. */
static void render_partitions(struct buf *b, struct fod_gen *g)
{
	static const struct {
		const char *name, *help;
		int64_t (*get)(struct fo_sem *, unsigned);
	} series[] = {
		{"fanoutd_limiter_partition_in_flight", "Weight held by this partition's work now.",
		 fo_sem_partition_in_use},
		{"fanoutd_limiter_partition_guaranteed", "Weight this partition is guaranteed.",
		 fo_sem_partition_guaranteed},
	};
	for (size_t k = 0; k < sizeof(series) / sizeof(series[0]); k++) {
		bool any = false;
		for (size_t i = 0; i < g->nlimiters; i++) {
			if (!g->limiters[i].partitioned)
				continue;
			if (!any)
				help(b, series[k].name, "gauge", series[k].help);
			any = true;
			struct fo_sem *sem = fod_limiter_sem(&g->limiters[i]);
			for (unsigned p = 0; p < FOD_PARTITIONS; p++)
				put(b, "%s{limiter=\"%s\",partition=\"%s\"} %lld\n", series[k].name,
				    g->limiters[i].name, fod_partition_names[p],
				    (long long)series[k].get(sem, p));
		}
	}
}

static void hist(struct buf *b, const char *name, const char *labels, struct fod_hist *h)
{
	unsigned long cum = 0;
	for (int i = 0; i < FOD_HIST_BUCKETS; i++) {
		cum += atomic_load(&h->bucket[i]);
		if (i < FOD_HIST_BUCKETS - 1)
			put(b, "%s_bucket{%s,le=\"%g\"} %lu\n", name, labels, bounds[i], cum);
		else
			put(b, "%s_bucket{%s,le=\"+Inf\"} %lu\n", name, labels, cum);
	}
	put(b, "%s_sum{%s} %.9f\n", name, labels, (double)atomic_load(&h->sum_ns) / 1e9);
	put(b, "%s_count{%s} %lu\n", name, labels, atomic_load(&h->count));
}

/* The daemon's identity and life: build, start, CPU, drain, last reload, jobs. */
static void render_process(struct buf *b)
{
	help(b, "fanoutd_build_info", "gauge", "Always 1: the version of the running fanoutd.");
	put(b, "fanoutd_build_info{version=\"%s\"} 1\n", PACKAGE_VERSION);
	help(b, "process_start_time_seconds", "gauge", "Start time since the Unix epoch.");
	put(b, "process_start_time_seconds %.3f\n",
	    (double)atomic_load(&fod_counters.start_time_ns) / 1e9);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	help(b, "process_cpu_seconds_total", "counter", "User and system CPU time spent.");
	put(b, "process_cpu_seconds_total %.6f\n",
	    (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
		    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	help(b, "fanoutd_draining", "gauge",
	     "1 while drained by the operator (fanoutctl drain): not ready, refusing work.");
	put(b, "fanoutd_draining %d\n", fod_gateway_draining() ? 1 : 0);
	help(b, "fanoutd_config_last_reload_success", "gauge",
	     "1 if the last configuration load (startup or reload) succeeded.");
	put(b, "fanoutd_config_last_reload_success %d\n",
	    atomic_load(&fod_counters.last_reload_ok) ? 1 : 0);
	help(b, "fanoutd_config_last_reload_timestamp_seconds", "gauge",
	     "Time of the last configuration load (startup or reload) since the Unix epoch.");
	put(b, "fanoutd_config_last_reload_timestamp_seconds %.3f\n",
	    (double)atomic_load(&fod_counters.last_reload_ns) / 1e9);
	help(b, "fanoutd_jobs_open", "gauge", "Batch jobs open (sampled every 250 ms).");
	put(b, "fanoutd_jobs_open %ld\n", atomic_load(&fod_counters.jobs_open));
	help(b, "fanoutd_job_rows_in_flight", "gauge",
	     "Job rows started and not yet ended (sampled every 250 ms).");
	put(b, "fanoutd_job_rows_in_flight %ld\n", atomic_load(&fod_counters.job_rows_in_flight));
	help(b, "fanoutd_job_rows_total", "counter", "Job rows ended, by outcome.");
	for (int o = 0; o < FOD_ROW_N; o++)
		put(b, "fanoutd_job_rows_total{outcome=\"%s\"} %lu\n", fod_row_outcome_names[o],
		    atomic_load(&fod_counters.job_rows[o]));
}

/* One sample per status seen: a status never answered has no series. */
static void render_by_status(struct buf *b, const char *name, const char *label, const char *value,
			     atomic_ulong *by_status)
{
	for (int i = 0; i < FOD_STATUS_N; i++) {
		unsigned long n = atomic_load(&by_status[i]);
		if (!n)
			continue;
		if (i < FOD_STATUS_N - 1)
			put(b, "%s{%s=\"%s\",code=\"%d\"} %lu\n", name, label, value, statuses[i],
			    n);
		else
			put(b, "%s{%s=\"%s\",code=\"other\"} %lu\n", name, label, value, n);
	}
}

/*
 * The internal endpoints apart, so monitoring's own traffic (this very
 * scrape is counted once it is answered) never mixes with the routes'.
 */
static void render_internal(struct buf *b)
{
	help(b, "fanoutd_http_internal_responses_total", "counter",
	     "HTTP responses of the internal endpoints (/metrics, /healthz, /readyz, /) by "
	     "endpoint and status.");
	for (int e = 0; e < FOD_EP_N; e++)
		render_by_status(b, "fanoutd_http_internal_responses_total", "endpoint",
				 fod_endpoint_paths[e], fod_counters.http_internal[e]);
}

/* Under reg_lock: the routes' objects are those shown. */
static void render_responses(struct buf *b, struct fod_metrics_route **shown, size_t n)
{
	help(b, "fanoutd_http_responses_total", "counter",
	     "HTTP responses by route and status; route=\"\" matched no route (or was refused "
	     "before its path was read).");
	for (size_t i = 0; i < n; i++)
		render_by_status(b, "fanoutd_http_responses_total", "route", shown[i]->route,
				 shown[i]->responses);
	render_by_status(b, "fanoutd_http_responses_total", "route", "",
			 fod_counters.http_unrouted);
	render_by_status(b, "fanoutd_http_responses_total", "route", "sim_endpoint",
			 fod_counters.http_sim);
}

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

char *fod_metrics_render(struct fod_gen *g, size_t *len)
{
	struct buf b = {.cap = 16384};
	b.p = malloc(b.cap);
	if (!b.p)
		return NULL;
	struct procstat ps;
	procstat_read(&ps);

	render_process(&b);
	help(&b, "fanoutd_threads", "gauge", "Live threads of the process.");
	put(&b, "fanoutd_threads %ld\n", ps.threads);
	help(&b, "process_resident_memory_bytes", "gauge", "Resident set size in bytes.");
	put(&b, "process_resident_memory_bytes %ld\n", ps.rss_kib * 1024);
	help(&b, "process_open_fds", "gauge", "Open file descriptors.");
	put(&b, "process_open_fds %ld\n", ps.fds);
	help(&b, "fanoutd_branches_in_flight", "gauge", "Branches started and not yet ended.");
	put(&b, "fanoutd_branches_in_flight %ld\n", fo_live_branches());
	help(&b, "fanoutd_config_generation", "gauge",
	     "Id of the configuration generation serving.");
	put(&b, "fanoutd_config_generation %lu\n", g ? (unsigned long)g->id : 0UL);
	help(&b, "fanoutd_reloads_total", "counter", "Configuration reloads by result.");
	put(&b, "fanoutd_reloads_total{result=\"ok\"} %lu\n",
	    atomic_load(&fod_counters.reloads_ok));
	put(&b, "fanoutd_reloads_total{result=\"failed\"} %lu\n",
	    atomic_load(&fod_counters.reloads_failed));

	help(&b, "fanoutd_http_connections", "gauge", "Open HTTP connections.");
	put(&b, "fanoutd_http_connections %ld\n", atomic_load(&fod_counters.http_connections_open));
	help(&b, "fanoutd_http_connections_accepted_total", "counter",
	     "HTTP connections accepted.");
	put(&b, "fanoutd_http_connections_accepted_total %lu\n",
	    atomic_load(&fod_counters.http_connections_total));
	render_internal(&b);

	if (g && g->nlimiters) {
		help(&b, "fanoutd_limiter_in_flight", "gauge", "Weight held in the limiter now.");
		for (size_t i = 0; i < g->nlimiters; i++)
			put(&b, "fanoutd_limiter_in_flight{limiter=\"%s\"} %lld\n",
			    g->limiters[i].name,
			    (long long)fo_sem_in_use(fod_limiter_sem(&g->limiters[i])));
		help(&b, "fanoutd_limiter_in_flight_high_water", "gauge",
		     "Most weight ever held at once in this limiter instance.");
		for (size_t i = 0; i < g->nlimiters; i++)
			put(&b, "fanoutd_limiter_in_flight_high_water{limiter=\"%s\"} %lld\n",
			    g->limiters[i].name,
			    (long long)fo_sem_high_water(fod_limiter_sem(&g->limiters[i])));
		help(&b, "fanoutd_limiter_limit", "gauge", "The limiter's current limit.");
		for (size_t i = 0; i < g->nlimiters; i++)
			put(&b, "fanoutd_limiter_limit{limiter=\"%s\"} %lld\n", g->limiters[i].name,
			    (long long)fo_sem_size(fod_limiter_sem(&g->limiters[i])));
		help(&b, "fanoutd_limiter_waiting", "gauge", "Units queued for admission.");
		for (size_t i = 0; i < g->nlimiters; i++)
			put(&b, "fanoutd_limiter_waiting{limiter=\"%s\"} %zu\n",
			    g->limiters[i].name, fo_sem_waiting(fod_limiter_sem(&g->limiters[i])));
		render_partitions(&b, g);
	}

	pthread_mutex_lock(&reg_lock);
	struct fod_metrics_branch **shown_branches;
	struct fod_metrics_route **shown_routes;
	size_t nshown_branches = live_branches(g, &shown_branches),
	       nshown_routes = live_routes(g, &shown_routes);
	char labels[256];
	help(&b, "fanoutd_branch_duration_seconds", "histogram", "Branch latency, start to end.");
	for (size_t i = 0; i < nshown_branches; i++) {
		snprintf(labels, sizeof(labels), "route=\"%s\",branch=\"%s\"",
			 shown_branches[i]->route, shown_branches[i]->branch);
		hist(&b, "fanoutd_branch_duration_seconds", labels, &shown_branches[i]->latency);
	}
	help(&b, "fanoutd_branch_outcomes_total", "counter", "Branch ends by outcome.");
	for (size_t i = 0; i < nshown_branches; i++)
		for (int o = 0; o < FO_OUTCOME_MAX; o++)
			put(&b,
			    "fanoutd_branch_outcomes_total{route=\"%s\",branch=\"%s\",outcome=\"%"
			    "s\"} "
			    "%lu\n",
			    shown_branches[i]->route, shown_branches[i]->branch, fo_outcome_str(o),
			    atomic_load(&shown_branches[i]->outcomes[o]));
	help(&b, "fanoutd_request_duration_seconds", "histogram",
	     "Unit latency by route and policy.");
	for (size_t i = 0; i < nshown_routes; i++)
		for (int p = 0; p < FOD_POLICY_N; p++) {
			snprintf(labels, sizeof(labels), "route=\"%s\",policy=\"%s\"",
				 shown_routes[i]->route, policy_names[p]);
			hist(&b, "fanoutd_request_duration_seconds", labels,
			     &shown_routes[i]->request[p]);
		}
	help(&b, "fanoutd_join_wait_seconds", "histogram", "Fan-out start to join.");
	for (size_t i = 0; i < nshown_routes; i++) {
		snprintf(labels, sizeof(labels), "route=\"%s\"", shown_routes[i]->route);
		hist(&b, "fanoutd_join_wait_seconds", labels, &shown_routes[i]->join_wait);
	}
	help(&b, "fanoutd_admission_wait_seconds", "histogram",
	     "Time a unit's branches waited for the global limiter.");
	for (size_t i = 0; i < nshown_routes; i++) {
		snprintf(labels, sizeof(labels), "route=\"%s\"", shown_routes[i]->route);
		hist(&b, "fanoutd_admission_wait_seconds", labels,
		     &shown_routes[i]->admission_wait);
	}
	help(&b, "fanoutd_degraded_total", "counter", "Units answered with branches dropped.");
	for (size_t i = 0; i < nshown_routes; i++)
		put(&b, "fanoutd_degraded_total{route=\"%s\"} %lu\n", shown_routes[i]->route,
		    atomic_load(&shown_routes[i]->degraded));
	help(&b, "fanoutd_admission_rejections_total", "counter",
	     "Units refused (503) for lack of admission within their budget.");
	for (size_t i = 0; i < nshown_routes; i++)
		put(&b, "fanoutd_admission_rejections_total{route=\"%s\"} %lu\n",
		    shown_routes[i]->route, atomic_load(&shown_routes[i]->rejected));
	render_responses(&b, shown_routes, nshown_routes);
	pthread_mutex_unlock(&reg_lock);
	free(shown_branches);
	free(shown_routes);
	*len = b.len;
	return b.p;
}
