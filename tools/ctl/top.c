/* SPDX-License-Identifier: MIT */
/*
 * fanoutctl top: a refreshing view of a running fanoutd, like top(1).
 * Every interval it asks for status, limits, branches and jobs; rates and
 * per-branch percentiles are computed from the change since the previous
 * sample (histogram bucket deltas, interpolated within the bucket as
 * Prometheus' histogram_quantile does), so they describe the last interval,
 * not the daemon's whole life.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define MAX_BRANCHES 256
#define NBUCKETS     15
#define NOUTCOMES    7

struct branch_sample {
	char name[128];
	double buckets[NBUCKETS], outcomes[NOUTCOMES], count;
};

struct sample {
	struct branch_sample b[MAX_BRANCHES];
	size_t n;
	double bounds[NBUCKETS - 1];
	struct timespec at;
};

static int call(const char *path, const char *op, struct ctl_reply *rep)
{
	struct ctl_req req;
	ctl_req_init(&req, op, 0);
	int rc = ctl_call(path, &req, rep);
	ctl_req_free(&req);
	if (rc == CTL_OK && rep->status != 0) {
		fprintf(stderr, "fanoutctl: %s: %s\n", op, rep->msg);
		ctl_reply_free(rep);
		return CTL_FAILED;
	}
	return rc;
}

static void take(struct sample *s, const msgpack_object *d)
{
	const msgpack_object *bounds = ctl_member(d, "bounds_s"), *bs = ctl_member(d, "branches");
	for (uint32_t i = 0; bounds && i < bounds->via.array.size && i < NBUCKETS - 1; i++)
		s->bounds[i] = ctl_number(&bounds->via.array.ptr[i]);
	s->n = 0;
	for (uint32_t i = 0; bs && i < bs->via.array.size && s->n < MAX_BRANCHES; i++) {
		const msgpack_object *e = &bs->via.array.ptr[i];
		struct branch_sample *b = &s->b[s->n++];
		char route[64], branch[64];
		ctl_scalar(ctl_member(e, "route"), route, sizeof(route));
		ctl_scalar(ctl_member(e, "branch"), branch, sizeof(branch));
		snprintf(b->name, sizeof(b->name), "%s/%s", route, branch);
		b->count = ctl_number(ctl_member(e, "count"));
		const msgpack_object *bk = ctl_member(e, "buckets"),
				     *oc = ctl_member(e, "outcomes");
		for (uint32_t k = 0; bk && k < bk->via.array.size && k < NBUCKETS; k++)
			b->buckets[k] = ctl_number(&bk->via.array.ptr[k]);
		for (uint32_t k = 0; oc && k < oc->via.array.size && k < NOUTCOMES; k++)
			b->outcomes[k] = ctl_number(&oc->via.array.ptr[k]);
	}
}

/* The q-quantile of bucket deltas in ms; -1 when nothing was observed; INFINITY past the last
 * bound. */
static double quantile(const struct sample *s, const double *delta, double q)
{
	double total = 0;
	for (int k = 0; k < NBUCKETS; k++)
		total += delta[k];
	if (total <= 0)
		return -1;
	double want = q * total, cum = 0;
	for (int k = 0; k < NBUCKETS; k++) {
		if (cum + delta[k] >= want && delta[k] > 0) {
			if (k == NBUCKETS - 1)
				return 1e9;
			double lo = k ? s->bounds[k - 1] : 0, hi = s->bounds[k];
			return 1000 * (lo + (hi - lo) * (want - cum) / delta[k]);
		}
		cum += delta[k];
	}
	return -1;
}

static void fmt_ms(char *buf, size_t len, double ms)
{
	if (ms < 0)
		snprintf(buf, len, "-");
	else if (ms >= 1e9)
		snprintf(buf, len, ">%.0fs", 30.0);
	else
		snprintf(buf, len, "%.1f", ms);
}

static void show_branches(const struct sample *prev, const struct sample *cur, double dt)
{
	printf("\n%-28s %10s %8s %8s %8s %8s %8s %8s\n", "ROUTE/BRANCH", "CALLS/s", "P50 ms",
	       "P99 ms", "OK%", "ERROR", "TIMEOUT", "SHED");
	for (size_t i = 0; i < cur->n; i++) {
		const struct branch_sample *c = &cur->b[i], *p = NULL;
		for (size_t j = 0; prev && j < prev->n && !p; j++)
			if (strcmp(prev->b[j].name, c->name) == 0)
				p = &prev->b[j];
		double delta[NBUCKETS], oc[NOUTCOMES], calls = 0;
		for (int k = 0; k < NBUCKETS; k++)
			delta[k] = c->buckets[k] - (p ? p->buckets[k] : 0);
		for (int k = 0; k < NOUTCOMES; k++) {
			oc[k] = c->outcomes[k] - (p ? p->outcomes[k] : 0);
			calls += oc[k];
		}
		char p50[16], p99[16];
		fmt_ms(p50, sizeof(p50), quantile(cur, delta, 0.50));
		fmt_ms(p99, sizeof(p99), quantile(cur, delta, 0.99));
		printf("%-28s %10.0f %8s %8s %8.2f %8.0f %8.0f %8.0f\n", c->name,
		       dt > 0 ? calls / dt : 0, p50, p99, calls ? 100 * oc[0] / calls : 100.0,
		       oc[1], oc[2], oc[5]);
	}
}

static void show_header(const msgpack_object *st)
{
	char v[64], g[32], up[32], th[32], conn[32];
	ctl_scalar(ctl_member(st, "version"), v, sizeof(v));
	ctl_scalar(ctl_member(st, "generation"), g, sizeof(g));
	ctl_scalar(ctl_member(st, "uptime_s"), up, sizeof(up));
	ctl_scalar(ctl_member(st, "threads"), th, sizeof(th));
	ctl_scalar(ctl_member(st, "connections"), conn, sizeof(conn));
	printf("fanoutd %s  generation %s  up %ss  threads %s  RSS %.1f MiB  connections %s%s\n", v,
	       g, up, th, ctl_number(ctl_member(st, "rss_bytes")) / 1048576.0, conn,
	       ctl_number(ctl_member(st, "draining")) ? "  DRAINING" : "");
	printf("requests in flight %.0f  branches in flight %.0f  jobs %.0f (rows in flight "
	       "%.0f)\n",
	       ctl_number(ctl_member(st, "requests_in_flight")),
	       ctl_number(ctl_member(st, "branches_in_flight")), ctl_number(ctl_member(st, "jobs")),
	       ctl_number(ctl_member(st, "rows_in_flight")));
}

static void show_limits(const msgpack_object *ls)
{
	printf("\n%-20s %-10s %10s %10s %10s %10s\n", "LIMITER", "MODULE", "LIMIT", "IN USE",
	       "HIGH WATER", "WAITING");
	for (uint32_t i = 0; ls && i < ls->via.array.size; i++) {
		const msgpack_object *l = &ls->via.array.ptr[i];
		char n[64], m[32];
		ctl_scalar(ctl_member(l, "name"), n, sizeof(n));
		ctl_scalar(ctl_member(l, "module"), m, sizeof(m));
		printf("%-20s %-10s %10.0f %10.0f %10.0f %10.0f\n", n, m,
		       ctl_number(ctl_member(l, "limit")), ctl_number(ctl_member(l, "in_use")),
		       ctl_number(ctl_member(l, "high_water")),
		       ctl_number(ctl_member(l, "waiting")));
	}
}

static void show_jobs(const msgpack_object *js)
{
	if (!js || js->via.array.size == 0)
		return;
	printf("\n%-6s %-12s %-10s %12s %10s %10s %10s %10s\n", "JOB", "KIND", "STATE", "ROWS DONE",
	       "IN FLIGHT", "ROWS/s", "FAILED", "AGE s");
	for (uint32_t i = 0; i < js->via.array.size; i++) {
		const msgpack_object *j = &js->via.array.ptr[i];
		char k[64], st[16];
		ctl_scalar(ctl_member(j, "kind"), k, sizeof(k));
		ctl_scalar(ctl_member(j, "state"), st, sizeof(st));
		double age = ctl_number(ctl_member(j, "age_s")),
		       done = ctl_number(ctl_member(j, "rows_done"));
		printf("%-6llu %-12s %-10s %12.0f %10.0f %10.0f %10.0f %10.1f\n",
		       (unsigned long long)ctl_uint(ctl_member(j, "job")), k, st, done,
		       ctl_number(ctl_member(j, "in_flight")), age > 0 ? done / age : 0,
		       ctl_number(ctl_member(j, "failed")), age);
	}
}

int ctl_top(const char *path, int argc, char **argv)
{
	double delay = 1;
	long count = 0; /* 0: until interrupted */
	int c;
	optind = 1;
	while ((c = getopt(argc, argv, "d:n:")) != -1) {
		char *end;
		if (c == 'd' && (delay = strtod(optarg, &end)) > 0 && !*end)
			continue;
		if (c == 'n' && (count = strtol(optarg, &end, 10)) > 0 && !*end)
			continue;
		fprintf(stderr, "usage: fanoutctl top [-d SECONDS] [-n COUNT]\n");
		return CTL_USAGE;
	}
	bool tty = isatty(1);
	static struct sample samples[2];
	struct sample *prev = NULL, *cur = &samples[0];
	for (long iter = 0; count == 0 || iter < count; iter++) {
		struct ctl_reply st, ls, br, js;
		int rc = call(path, "status", &st);
		if (rc != CTL_OK)
			return rc;
		if ((rc = call(path, "limits", &ls)) != CTL_OK ||
		    (rc = call(path, "branches", &br)) != CTL_OK ||
		    (rc = call(path, "jobs", &js)) != CTL_OK) {
			ctl_reply_free(&st);
			return rc;
		}
		clock_gettime(CLOCK_MONOTONIC, &cur->at);
		take(cur, br.data);
		double dt = prev ? (double)(cur->at.tv_sec - prev->at.tv_sec) +
					    (double)(cur->at.tv_nsec - prev->at.tv_nsec) / 1e9
				 : 0;
		if (tty)
			printf("\033[H\033[2J");
		show_header(st.data);
		show_limits(ls.data);
		if (prev)
			show_branches(prev, cur, dt);
		else
			printf("\n(rates and percentiles from the next refresh, %.1f s from now)\n",
			       delay);
		show_jobs(js.data);
		if (!tty)
			printf("--\n");
		fflush(stdout);
		ctl_reply_free(&st);
		ctl_reply_free(&ls);
		ctl_reply_free(&br);
		ctl_reply_free(&js);
		prev = cur;
		cur = &samples[cur == &samples[0] ? 1 : 0];
		if (count == 0 || iter + 1 < count) {
			struct timespec ts = {(time_t)delay,
					      (long)((delay - (double)(time_t)delay) * 1e9)};
			nanosleep(&ts, NULL);
		}
	}
	return CTL_OK;
}
