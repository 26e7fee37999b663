/* SPDX-License-Identifier: MIT */
#include "metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "procstat.h"

struct fod_counters fod_counters;

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

void fod_metrics_branch_put(struct fod_metrics_branch *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&reg_lock);
	if (--m->refs == 0)
		some_unused = true;
	pthread_mutex_unlock(&reg_lock);
}

void fod_metrics_route_put(struct fod_metrics_route *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&reg_lock);
	if (--m->refs == 0)
		some_unused = true;
	pthread_mutex_unlock(&reg_lock);
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
		m = calloc(1, sizeof(*m));
		if (b && m) {
			branches = b;
			m->route = strdup(route);
			m->branch = strdup(branch);
			branches[nbranches++] = m;
		} else {
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
		m = calloc(1, sizeof(*m));
		if (r && m) {
			routes = r;
			m->route = strdup(route);
			routes[nroutes++] = m;
		} else {
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
	help(&b, "fanoutd_http_responses_total", "counter", "HTTP responses by status class.");
	for (int c = 1; c <= 5; c++)
		put(&b, "fanoutd_http_responses_total{code=\"%dxx\"} %lu\n", c,
		    atomic_load(&fod_counters.http_requests[c]));

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
	pthread_mutex_unlock(&reg_lock);
	free(shown_branches);
	free(shown_routes);
	*len = b.len;
	return b.p;
}
