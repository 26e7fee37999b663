/* SPDX-License-Identifier: MIT */
/*
 * fanoutctl top: a refreshing view of a running fanoutd, like top(1).
 * Every interval it asks for status, stats, limits, branches and jobs;
 * rates and per-branch percentiles are computed from the change since the
 * previous sample (the first sample: since the daemon started), so they
 * describe the last interval, not the daemon's whole life.
 *
 * Percentiles come from histogram bucket deltas, interpolated within the
 * bucket as Prometheus' histogram_quantile does. The daemon keeps no slowest
 * observation, so an interpolation could land above every real one (a p99
 * of 336.7 ms for calls cut at 250 ms, inside the 250-500 ms bucket). It is
 * therefore capped at the bucket's upper bound and at the branch's deadline
 * (min(timeout_ms, budget_ms), from the configuration file when it can be
 * read): no call lasts longer than that, give or take timer slack, so the
 * cap is the tightest bound known. Past the last finite bound, without a
 * deadline, the value is shown as "> that bound".
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "conf.h"

#define MAX_BRANCHES 256
#define NBUCKETS     15
#define NOUTCOMES    7

enum { OC_OK, OC_ERROR, OC_TIMEOUT, OC_CANCELLED, OC_SKIPPED, OC_SHED, OC_LOST };

struct branch_sample {
	char route[64], branch[64];
	double buckets[NBUCKETS], outcomes[NOUTCOMES];
};

struct sample {
	struct branch_sample b[MAX_BRANCHES];
	size_t n;
	double bounds[NBUCKETS - 1];
	double http[3]; /* 2xx, 4xx, 5xx answered */
	double at;	/* CLOCK_MONOTONIC seconds */
};

/* One branch over one interval. */
struct branch_view {
	const struct branch_sample *b;
	double calls_per_s, p50_ms, p99_ms; /* percentiles: NAN when idle */
	bool p50_over, p99_over;	    /* past the last finite bound, no deadline known */
	double outcomes[NOUTCOMES], calls;
};

struct top {
	const char *path;
	const struct ctl_conf *conf;
	bool json, tty;
	int width; /* the terminal's columns; 0: no limit */
	struct sample samples[2];
	struct ctl_reply st, stats, ls, br, js;
};

static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
	stop_signal = sig;
}

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

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void take(struct sample *s, const msgpack_object *d, const msgpack_object *stats)
{
	const msgpack_object *bounds = mp_member(d, "bounds_s"), *bs = mp_member(d, "branches");
	for (uint32_t i = 0; bounds && i < bounds->via.array.size && i < NBUCKETS - 1; i++)
		s->bounds[i] = mp_number(&bounds->via.array.ptr[i]);
	s->n = 0;
	for (uint32_t i = 0; bs && i < bs->via.array.size && s->n < MAX_BRANCHES; i++) {
		const msgpack_object *e = &bs->via.array.ptr[i];
		struct branch_sample *b = &s->b[s->n++];
		memset(b, 0, sizeof(*b));
		ctl_scalar(mp_member(e, "route"), b->route, sizeof(b->route));
		ctl_scalar(mp_member(e, "branch"), b->branch, sizeof(b->branch));
		const msgpack_object *bk = mp_member(e, "buckets"), *oc = mp_member(e, "outcomes");
		for (uint32_t k = 0; bk && k < bk->via.array.size && k < NBUCKETS; k++)
			b->buckets[k] = mp_number(&bk->via.array.ptr[k]);
		for (uint32_t k = 0; oc && k < oc->via.array.size && k < NOUTCOMES; k++)
			b->outcomes[k] = mp_number(&oc->via.array.ptr[k]);
	}
	s->http[0] = mp_number(mp_member(stats, "http_2xx"));
	s->http[1] = mp_number(mp_member(stats, "http_4xx"));
	s->http[2] = mp_number(mp_member(stats, "http_5xx"));
	s->at = mono_s();
}

/*
 * The q-quantile of bucket deltas in ms, never above the bucket's upper
 * bound nor the branch's deadline (deadline_ms, 0 if unknown); NAN when
 * nothing was observed. *over: past the last finite bound with no deadline
 * to cap it (the value is then that bound).
 */
static double quantile(const struct sample *s, const double *delta, double q, double deadline_ms,
		       bool *over)
{
	double total = 0;
	*over = false;
	for (int k = 0; k < NBUCKETS; k++)
		total += delta[k];
	if (total <= 0)
		return NAN;
	double want = q * total, cum = 0, ms = NAN;
	for (int k = 0; k < NBUCKETS; k++) {
		if (cum + delta[k] >= want && delta[k] > 0) {
			double lo = k ? 1000 * s->bounds[k - 1] : 0;
			if (k == NBUCKETS - 1) {
				*over = deadline_ms <= 0;
				ms = deadline_ms > 0 ? deadline_ms : lo;
			} else {
				double hi = 1000 * s->bounds[k];
				ms = lo + (hi - lo) * (want - cum) / delta[k];
			}
			break;
		}
		cum += delta[k];
	}
	if (deadline_ms > 0 && ms > deadline_ms)
		ms = deadline_ms;
	return ms;
}

static const struct branch_sample *find(const struct sample *s, const struct branch_sample *b)
{
	for (size_t j = 0; s && j < s->n; j++)
		if (strcmp(s->b[j].route, b->route) == 0 && strcmp(s->b[j].branch, b->branch) == 0)
			return &s->b[j];
	return NULL;
}

static void view(struct top *t, const struct sample *prev, const struct sample *cur, size_t i,
		 double dt, struct branch_view *v)
{
	const struct branch_sample *c = &cur->b[i], *p = find(prev, c);
	double delta[NBUCKETS];
	memset(v, 0, sizeof(*v));
	v->b = c;
	for (int k = 0; k < NBUCKETS; k++)
		delta[k] = c->buckets[k] - (p ? p->buckets[k] : 0);
	for (int k = 0; k < NOUTCOMES; k++) {
		v->outcomes[k] = c->outcomes[k] - (p ? p->outcomes[k] : 0);
		v->calls += v->outcomes[k];
	}
	double deadline = ctl_conf_deadline(t->conf, c->route, c->branch);
	v->calls_per_s = dt > 0 ? v->calls / dt : 0;
	v->p50_ms = quantile(cur, delta, 0.50, deadline, &v->p50_over);
	v->p99_ms = quantile(cur, delta, 0.99, deadline, &v->p99_over);
}

/* ---- the screen: lines cut to the terminal's width */

static void line(const struct top *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line(const struct top *t, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	size_t n = strlen(buf);
	if (t->width > 0 && n > (size_t)t->width)
		n = (size_t)t->width;
	fwrite(buf, 1, n, stdout);
	fputc('\n', stdout);
}

static void fmt_ms(char *buf, size_t len, double ms, bool over)
{
	if (isnan(ms))
		snprintf(buf, len, "-");
	else if (over)
		snprintf(buf, len, ">%.0f", ms);
	else
		snprintf(buf, len, "%.1f", ms);
}

static void show_header(const struct top *t, const struct sample *prev, const struct sample *cur,
			double dt)
{
	const msgpack_object *st = t->st.data;
	char v[64], g[32], up[32], th[32], conn[32];
	ctl_scalar(mp_member(st, "version"), v, sizeof(v));
	ctl_scalar(mp_member(st, "generation"), g, sizeof(g));
	ctl_scalar(mp_member(st, "uptime_s"), up, sizeof(up));
	ctl_scalar(mp_member(st, "threads"), th, sizeof(th));
	ctl_scalar(mp_member(st, "connections"), conn, sizeof(conn));
	line(t, "fanoutd %s  generation %s  up %ss  threads %s  RSS %.1f MiB  connections %s%s", v,
	     g, up, th, mp_number(mp_member(st, "rss_bytes")) / 1048576.0, conn,
	     mp_number(mp_member(st, "draining")) ? "  DRAINING" : "");
	line(t, "requests in flight %.0f  branches in flight %.0f  jobs %.0f (rows in flight %.0f)",
	     mp_number(mp_member(st, "requests_in_flight")),
	     mp_number(mp_member(st, "branches_in_flight")), mp_number(mp_member(st, "jobs")),
	     mp_number(mp_member(st, "rows_in_flight")));
	double d[3], all = 0;
	for (int k = 0; k < 3; k++) {
		d[k] = cur->http[k] - (prev ? prev->http[k] : 0);
		all += d[k];
	}
	char share[32] = "";
	if (all > 0)
		snprintf(share, sizeof(share), " (%.2f %%)", 100 * d[2] / all);
	line(t, "HTTP requests/s %.1f  5xx/s %.1f%s  %s", dt > 0 ? all / dt : 0,
	     dt > 0 ? d[2] / dt : 0, share, prev ? "" : "(since start)");
}

static void show_limits(const struct top *t)
{
	const msgpack_object *ls = t->ls.data;
	putchar('\n');
	line(t, "%-20s %-10s %10s %10s %10s %10s", "LIMITER", "MODULE", "LIMIT", "IN USE",
	     "HIGH WATER", "WAITING");
	for (uint32_t i = 0; ls && ls->type == MSGPACK_OBJECT_ARRAY && i < ls->via.array.size;
	     i++) {
		const msgpack_object *l = &ls->via.array.ptr[i];
		char n[64], m[32];
		ctl_scalar(mp_member(l, "name"), n, sizeof(n));
		ctl_scalar(mp_member(l, "module"), m, sizeof(m));
		line(t, "%-20s %-10s %10.0f %10.0f %10.0f %10.0f", n, m,
		     mp_number(mp_member(l, "limit")), mp_number(mp_member(l, "in_use")),
		     mp_number(mp_member(l, "high_water")), mp_number(mp_member(l, "waiting")));
	}
	if (!ls || ls->type != MSGPACK_OBJECT_ARRAY || !ls->via.array.size)
		line(t, "(none)");
}

/* The ROUTE/BRANCH column: as wide as the longest name, narrower on a narrow terminal. */
static int name_width(const struct top *t, const struct sample *cur)
{
	enum { REST = 8 * 7 + 10, MIN = 12 }; /* the other columns and their spaces */
	int w = MIN;
	for (size_t i = 0; i < cur->n; i++) {
		int n = (int)(strlen(cur->b[i].route) + 1 + strlen(cur->b[i].branch));
		w = n > w ? n : w;
	}
	if (t->width > 0 && w > t->width - REST)
		w = t->width - REST > MIN ? t->width - REST : MIN;
	return w;
}

static void show_branches(struct top *t, const struct sample *prev, const struct sample *cur,
			  double dt)
{
	int w = name_width(t, cur);
	putchar('\n');
	line(t, "%-*s %9s %7s %7s %7s %7s %7s %7s%s", w, "ROUTE/BRANCH", "CALLS/s", "P50 ms",
	     "P99 ms", "OK%", "ERROR", "TIMEOUT", "SHED", prev ? "" : "  (since start)");
	for (size_t i = 0; i < cur->n; i++) {
		struct branch_view v;
		view(t, prev, cur, i, dt, &v);
		char name[160], p50[16], p99[16], ok[16];
		snprintf(name, sizeof(name), "%s/%s", v.b->route, v.b->branch);
		fmt_ms(p50, sizeof(p50), v.p50_ms, v.p50_over);
		fmt_ms(p99, sizeof(p99), v.p99_ms, v.p99_over);
		/* An idle branch has no success ratio: not 100 %. */
		if (v.calls > 0)
			snprintf(ok, sizeof(ok), "%.2f", 100 * v.outcomes[OC_OK] / v.calls);
		else
			snprintf(ok, sizeof(ok), "-");
		line(t, "%-*.*s %9.0f %7s %7s %7s %7.0f %7.0f %7.0f", w, w, name, v.calls_per_s,
		     p50, p99, ok, v.outcomes[OC_ERROR], v.outcomes[OC_TIMEOUT],
		     v.outcomes[OC_SHED]);
	}
	if (!cur->n)
		line(t, "(none)");
}

static void show_jobs(const struct top *t)
{
	const msgpack_object *js = t->js.data;
	putchar('\n');
	line(t, "%-6s %-12s %-10s %12s %10s %10s %10s %10s", "JOB", "KIND", "STATE", "ROWS DONE",
	     "IN FLIGHT", "ROWS/s", "FAILED", "AGE s");
	for (uint32_t i = 0; js && js->type == MSGPACK_OBJECT_ARRAY && i < js->via.array.size;
	     i++) {
		const msgpack_object *j = &js->via.array.ptr[i];
		char k[64], st[16];
		ctl_scalar(mp_member(j, "kind"), k, sizeof(k));
		ctl_scalar(mp_member(j, "state"), st, sizeof(st));
		double age = mp_number(mp_member(j, "age_s")),
		       done = mp_number(mp_member(j, "rows_done"));
		line(t, "%-6llu %-12s %-10s %12.0f %10.0f %10.0f %10.0f %10.1f",
		     (unsigned long long)mp_uint(mp_member(j, "job")), k, st, done,
		     mp_number(mp_member(j, "in_flight")), age > 0 ? done / age : 0,
		     mp_number(mp_member(j, "failed")), age);
	}
	if (!js || js->type != MSGPACK_OBJECT_ARRAY || !js->via.array.size)
		line(t, "(none)");
}

/* ---- --json: one object per interval, on one line */

static void json_num(const char *key, double v, bool comma)
{
	printf("%s\"%s\":", comma ? "," : "", key);
	if (isnan(v))
		fputs("null", stdout);
	else
		printf("%.6g", v);
}

static void show_json(struct top *t, const struct sample *prev, const struct sample *cur, double dt)
{
	double d[3], all = 0;
	for (int k = 0; k < 3; k++) {
		d[k] = cur->http[k] - (prev ? prev->http[k] : 0);
		all += d[k];
	}
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	printf("{\"time\":%.3f", (double)now.tv_sec + (double)now.tv_nsec / 1e9);
	json_num("interval_s", dt, true);
	printf(",\"since_start\":%s,\"status\":", prev ? "false" : "true");
	ctl_json(stdout, t->st.data);
	printf(",\"http\":{");
	json_num("requests_per_s", dt > 0 ? all / dt : 0, false);
	json_num("5xx_per_s", dt > 0 ? d[2] / dt : 0, true);
	json_num("5xx_ratio", all > 0 ? d[2] / all : NAN, true);
	printf("},\"limits\":");
	ctl_json(stdout, t->ls.data);
	printf(",\"branches\":[");
	for (size_t i = 0; i < cur->n; i++) {
		struct branch_view v;
		view(t, prev, cur, i, dt, &v);
		printf("%s{\"route\":", i ? "," : "");
		ctl_json_str(stdout, v.b->route);
		printf(",\"branch\":");
		ctl_json_str(stdout, v.b->branch);
		json_num("calls", v.calls, true);
		json_num("calls_per_s", v.calls_per_s, true);
		json_num("p50_ms", v.p50_ms, true);
		json_num("p99_ms", v.p99_ms, true);
		printf(",\"p99_over\":%s", v.p99_over ? "true" : "false");
		json_num("ok_ratio", v.calls > 0 ? v.outcomes[OC_OK] / v.calls : NAN, true);
		static const char *const names[NOUTCOMES] = {
			"ok", "error", "timeout", "cancelled", "skipped", "shed", "lost"};
		printf(",\"outcomes\":{");
		for (int k = 0; k < NOUTCOMES; k++)
			json_num(names[k], v.outcomes[k], k > 0);
		printf("}}");
	}
	printf("],\"jobs\":");
	ctl_json(stdout, t->js.data);
	printf("}\n");
}

/* ---- the terminal: keys without Enter, restored on the way out */

static struct termios saved_tio;
static bool tio_changed;

static void restore_terminal(void)
{
	if (tio_changed)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
	tio_changed = false;
}

static void keys_without_enter(void)
{
	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_tio) < 0)
		return;
	struct termios raw = saved_tio;
	raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	raw.c_cc[VMIN] = 0;
	raw.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) == 0) {
		tio_changed = true;
		atexit(restore_terminal);
	}
}

static int terminal_width(void)
{
	struct winsize ws;
	return ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 0;
}

/* Waits for the next refresh: false when q was pressed or a signal came. */
static bool wait_interval(double delay)
{
	double until = mono_s() + delay;
	for (;;) {
		if (stop_signal)
			return false;
		double left = until - mono_s();
		if (left <= 0)
			return true;
		struct pollfd p = {.fd = tio_changed ? STDIN_FILENO : -1, .events = POLLIN};
		int r = poll(&p, 1, (int)ceil(left * 1000));
		if (r < 0 && errno != EINTR)
			return true;
		char c;
		if (r > 0 && (p.revents & POLLIN) && read(STDIN_FILENO, &c, 1) == 1 &&
		    (c == 'q' || c == 'Q'))
			return false;
		if (r > 0 && (p.revents & (POLLHUP | POLLERR)))
			p.fd = -1;
	}
}

static void free_replies(struct top *t)
{
	ctl_reply_free(&t->st);
	ctl_reply_free(&t->stats);
	ctl_reply_free(&t->ls);
	ctl_reply_free(&t->br);
	ctl_reply_free(&t->js);
}

static int sample_daemon(struct top *t)
{
	int rc;
	struct {
		const char *op;
		struct ctl_reply *rep;
	} ops[] = {{"status", &t->st},
		   {"stats", &t->stats},
		   {"limits", &t->ls},
		   {"branches", &t->br},
		   {"jobs", &t->js}};
	size_t n = sizeof(ops) / sizeof(ops[0]);
	for (size_t i = 0; i < n; i++) {
		if ((rc = call(t->path, ops[i].op, ops[i].rep)) != CTL_OK) {
			while (i-- > 0)
				ctl_reply_free(ops[i].rep);
			return rc;
		}
	}
	return CTL_OK;
}

static void usage(void)
{
	fprintf(stderr, "usage: fanoutctl top [-d SECONDS] [-n COUNT] [--json]\n");
}

int ctl_top(const char *path, const struct ctl_conf *conf, bool json, int argc, char **argv)
{
	static const struct option longs[] = {{"delay", required_argument, NULL, 'd'},
					      {"count", required_argument, NULL, 'n'},
					      {"json", no_argument, NULL, 'j'},
					      {NULL, 0, NULL, 0}};
	static struct top t;
	double delay = 1;
	long count = 0; /* 0: until q or interrupted */
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "d:n:", longs, NULL)) != -1) {
		char *end;
		if (c == 'd' && (delay = strtod(optarg, &end)) > 0 && !*end && delay < 86400)
			continue;
		if (c == 'n' && (count = strtol(optarg, &end, 10)) > 0 && !*end)
			continue;
		if (c == 'j') {
			json = true;
			continue;
		}
		usage();
		return CTL_USAGE;
	}
	if (optind != argc) {
		usage();
		return CTL_USAGE;
	}
	t.path = path;
	t.conf = conf;
	t.json = json;
	t.tty = !json && isatty(STDOUT_FILENO);
	struct sigaction sa = {.sa_handler = on_stop_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (t.tty)
		keys_without_enter();
	struct sample *prev = NULL, *cur = &t.samples[0];
	int rc = CTL_OK;
	for (long iter = 0; count == 0 || iter < count; iter++) {
		if ((rc = sample_daemon(&t)) != CTL_OK)
			break;
		take(cur, t.br.data, t.stats.data);
		/* The first view covers the daemon's life so far: every table has figures. uptime_s
		 * is cut to whole seconds: half a second is added (the middle of what it can be).
		 */
		double dt = prev ? cur->at - prev->at
				 : mp_number(mp_member(t.st.data, "uptime_s")) + 0.5;
		t.width = t.tty ? terminal_width() : 0;
		if (json) {
			show_json(&t, prev, cur, dt);
		} else {
			if (t.tty)
				printf("\033[H\033[2J");
			show_header(&t, prev, cur, dt);
			show_limits(&t);
			show_branches(&t, prev, cur, dt);
			show_jobs(&t);
			if (!t.tty)
				printf("--\n");
		}
		fflush(stdout);
		free_replies(&t);
		prev = cur;
		cur = &t.samples[cur == &t.samples[0] ? 1 : 0];
		if ((count == 0 || iter + 1 < count) && !wait_interval(delay))
			break;
	}
	restore_terminal();
	if (stop_signal)
		return 128 + stop_signal;
	return rc;
}
