/* SPDX-License-Identifier: MIT */
/*
 * fanout-load: an open-model HTTP load driver for GET /product/{id} (or
 * another route's prefix, --path).
 *
 * Requests leave at a constant rate whatever the answers do (open model);
 * each one's latency is measured from its *intended* send time, so a stall
 * of the server shows up as latency instead of silently lowering the load
 * (no coordinated omission). libcurl's multi interface runs on a libev loop
 * (no hand-written HTTP client); connections are kept alive and pooled.
 *
 * Because the simulated downstream is deterministic, every request's ideal
 * latency is known: the slowest of its branches' drawn latencies, each cut at
 * its deadline (min(branch timeout, budget - join reserve)). The driver
 * reports overhead = measured - ideal per request: what the gateway itself
 * adds. The ideal is the product route's: with another --path it is only
 * known if --branches says how many sim branches that route has, else the
 * overhead fields are null.
 *
 *   fanout-load --port P --rate R --duration S [--pid PID] [--path PREFIX]
 *               [sim/budget options]
 *
 * Prints one JSON line: target and achieved rate, status counts, latency and
 * overhead percentiles, and, with --pid, the server's CPU (% of one core),
 * peak RSS and threads over the run.
 */
#include <ctype.h>
#include <curl/curl.h>
#include <ev.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "fanoutd/fanout.h"
#include "fanoutd/sim.h"
#include "options.h"

#define FO_MIN(a, b) ((a) < (b) ? (a) : (b))
#define FO_MAX(a, b) ((a) > (b) ? (a) : (b))

/* ---- log-linear histogram: 64 sub-buckets per power of two of microseconds */

#define SUB  64
#define MAGS 40
struct hist {
	uint64_t n[MAGS * SUB];
	uint64_t count;
};

static size_t bucket(uint64_t us)
{
	if (us < SUB)
		return (size_t)us;
	unsigned mag = 63 - (unsigned)__builtin_clzll(us) - 5; /* us >> mag in [32, 64) */
	size_t i = (size_t)(mag + 1) * SUB / 2 + (size_t)((us >> mag) - SUB / 2);
	return i < MAGS * SUB ? i : MAGS * SUB - 1;
}

static uint64_t bucket_value(size_t i)
{
	if (i < SUB)
		return i;
	unsigned mag = (unsigned)(i / (SUB / 2)) - 1;
	return ((uint64_t)(i % (SUB / 2)) + SUB / 2) << mag;
}

static void hist_add(struct hist *h, int64_t ns)
{
	h->n[bucket(ns > 0 ? (uint64_t)ns / 1000 : 0)]++;
	h->count++;
}

static double hist_pct(const struct hist *h, double p)
{
	if (!h->count)
		return 0;
	uint64_t want = (uint64_t)ceil(p / 100.0 * (double)h->count), seen = 0;
	for (size_t i = 0; i < MAGS * SUB; i++)
		if ((seen += h->n[i]) >= want)
			return (double)bucket_value(i) / 1000.0; /* ms */
	return 0;
}

/* ---- options */

#define DEFAULT_PATH "/product/"
/* "http://127.0.0.1:65535" + path + a 20-digit id + "?" + query fits struct req's url. */
#define MAX_PATH_QUERY 200

static struct {
	int port;
	double rate, duration;
	long conns;
	uint64_t first_id;
	int pid;
	const char *path, *query;
	struct fo_sim_params sim;
	int64_t timeout_ns, budget_ns, reserve_ns;
	int branches;
	bool branches_given; /* --branches: the ideal is known whatever the path */
	uint64_t max_in_flight;
	double drain_s;
} o = {.max_in_flight = 20000,
       .drain_s = 5,
       .rate = 1000,
       .duration = 10,
       .conns = 4096,
       .first_id = 1,
       .path = DEFAULT_PATH,
       .query = "",
       .timeout_ns = 250 * FO_MSEC,
       .budget_ns = 300 * FO_MSEC,
       .reserve_ns = 2 * FO_MSEC,
       .branches = 5};

/* ---- the run */

struct req {
	CURL *easy;
	uint64_t id;
	int64_t intended;
	char url[256];
};

static struct ev_loop *loop;
static CURLM *multi;
static ev_timer curl_timer, tick;
static int64_t start_ns;
static uint64_t next, total, done, codes[6], failed, inflight, max_inflight, dropped, abandoned;
static ev_timer give_up;
static struct hist latency, overhead;
static int64_t max_latency_ns;

struct sock {
	ev_io io;
	curl_socket_t fd;
};

/*
 * The ideal latency models the product route's sim branches: for another
 * route it means nothing, unless --branches says that route has that many
 * sim branches with these parameters.
 */
static bool ideal_known(void)
{
	return o.branches_given || strcmp(o.path, DEFAULT_PATH) == 0;
}

static int64_t ideal_ns(uint64_t id)
{
	int64_t worst = 0, cap = FO_MIN(o.timeout_ns, o.budget_ns - o.reserve_ns);
	for (int b = 0; b < o.branches; b++) {
		int64_t l = fo_sim_draw(&o.sim, id, (unsigned)b).latency_ns;
		worst = FO_MAX(worst, FO_MIN(l, cap));
	}
	return worst;
}

static void check_done(void)
{
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		struct req *r;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		int64_t lat = fo_now_ns() - r->intended;
		long code = 0;
		curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &code);
		if (m->data.result != CURLE_OK || code < 100 || code > 599) {
			failed++;
		} else {
			codes[code / 100]++;
			hist_add(&latency, lat);
			if (ideal_known())
				hist_add(&overhead, lat - ideal_ns(r->id));
			if (lat > max_latency_ns)
				max_latency_ns = lat;
		}
		curl_multi_remove_handle(multi, m->easy_handle);
		curl_easy_cleanup(m->easy_handle);
		free(r);
		done++;
		inflight--;
	}
	if (done == total && next == total)
		ev_break(loop, EVBREAK_ALL);
}

static void on_io(struct ev_loop *l, ev_io *w, int revents)
{
	(void)l;
	struct sock *s = (struct sock *)w;
	int action = (revents & EV_READ ? CURL_CSELECT_IN : 0) |
		     (revents & EV_WRITE ? CURL_CSELECT_OUT : 0);
	int running;
	curl_multi_socket_action(multi, s->fd, action, &running);
	check_done();
}

static int sock_cb(CURL *e, curl_socket_t fd, int what, void *userp, void *sockp)
{
	(void)e;
	(void)userp;
	struct sock *s = sockp;
	if (what == CURL_POLL_REMOVE) {
		if (s) {
			ev_io_stop(loop, &s->io);
			free(s);
		}
		curl_multi_assign(multi, fd, NULL);
		return 0;
	}
	if (!s) {
		s = calloc(1, sizeof(*s));
		s->fd = fd;
		curl_multi_assign(multi, fd, s);
	} else {
		ev_io_stop(loop, &s->io);
	}
	int ev = (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);
	ev_io_init(&s->io, on_io, fd, ev);
	ev_io_start(loop, &s->io);
	return 0;
}

static void on_curl_timer(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)l;
	(void)w;
	(void)revents;
	int running;
	curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done();
}

static int timer_cb(CURLM *m, long ms, void *userp)
{
	(void)m;
	(void)userp;
	ev_timer_stop(loop, &curl_timer);
	if (ms >= 0) {
		ev_timer_set(&curl_timer, (double)ms / 1000.0, 0.);
		ev_timer_start(loop, &curl_timer);
	}
	return 0;
}

static size_t discard(char *p, size_t sz, size_t n, void *u)
{
	(void)p;
	(void)u;
	return sz * n;
}

/* Sends every request whose intended time has come. */
static void on_tick(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	int64_t now = fo_now_ns();
	while (next < total) {
		int64_t due = start_ns + (int64_t)((double)next * 1e9 / o.rate);
		if (due > now)
			break;
		if (inflight >= o.max_in_flight) {
			/* The server is not keeping up: count it, do not pile on (open model). */
			dropped++;
			next++;
			done++;
			continue;
		}
		struct req *r = calloc(1, sizeof(*r));
		r->id = o.first_id + next;
		r->intended = due;
		snprintf(r->url, sizeof(r->url), "http://127.0.0.1:%d%s%" PRIu64 "%s%s", o.port,
			 o.path, r->id, o.query[0] ? "?" : "", o.query);
		r->easy = curl_easy_init();
		curl_easy_setopt(r->easy, CURLOPT_URL, r->url);
		curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
		curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, discard);
		curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, 5000L);
		curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(r->easy, CURLOPT_TCP_NODELAY, 1L);
		curl_multi_add_handle(multi, r->easy);
		next++;
		if (++inflight > max_inflight)
			max_inflight = inflight;
	}
	if (next == total) {
		ev_timer_stop(l, &tick);
		/* Whatever has not answered drain_s after the last send is abandoned. */
		ev_timer_set(&give_up, o.drain_s, 0.);
		ev_timer_start(l, &give_up);
	}
	int running;
	curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done();
}

static void on_give_up(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	abandoned = inflight;
	ev_break(l, EVBREAK_ALL);
}

/* ---- the server's side, from /proc */

static long long proc_cpu_ticks(int pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	unsigned long long ut = 0, st = 0;
	/* fields after the comm: state(3) ... utime(14) stime(15) */
	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (long long)(ut + st);
}

static long peak_rss_kib, peak_threads;
static ev_timer sampler;

static void sample(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)l;
	(void)w;
	(void)revents;
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", o.pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		long v;
		if (sscanf(line, "VmRSS: %ld", &v) == 1 && v > peak_rss_kib)
			peak_rss_kib = v;
		if (sscanf(line, "Threads: %ld", &v) == 1 && v > peak_threads)
			peak_threads = v;
	}
	fclose(f);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: fanout-load --port P [--rate R] [--duration S] [--pid PID] [--conns N]\n"
		"       [--max-in-flight N] [--drain S] [--first-id N] [--path PREFIX]\n"
		"       [--query Q] [--seed S] [--base-ms B] [--p99-ms P] [--tail-rate T]\n"
		"       [--tail-ms T] [--timeout-ms T] [--budget-ms B] [--reserve-ms R]\n"
		"       [--branches F]\n"
		"       fanout-load --version\n"
		"  P: 1 to 65535 (required); R: 0.001 to 1000000 per second (default 1000);\n"
		"  S: 0.001 to 86400 s (default 10); N (--conns): 1 to 1000000 (default 4096);\n"
		"  --max-in-flight: 1 to 100000000 (default 20000);\n"
		"  --drain: 0 to 3600 s (default 5); ids and --seed: 0 to 2^64-1;\n"
		"  PREFIX: starts with '/' (default " DEFAULT_PATH ");\n"
		"  --base-ms, --p99-ms, --tail-ms: 0 to 3600000; --tail-rate: 0 to 1;\n"
		"  --timeout-ms, --budget-ms: 0.001 to 3600000; --reserve-ms: 0 to 60000, below\n"
		"  the budget; --branches: 1 to 100000. A bad value exits 2 naming it.\n");
}

/* The id and the query are appended: the prefix is a path, nothing else. */
static const char *opt_path(const char *arg)
{
	const char *p = arg;
	while (*p && *p != '?' && *p != '#' && isgraph((unsigned char)*p))
		p++;
	if (arg[0] != '/')
		opt_bad("path", arg, "must start with '/' (the id is appended to it)");
	if (*p)
		opt_bad("path", arg, "takes no '?', '#', blank or control character (--query)");
	return arg;
}

/* Sent as it is after the '?': printable, no blank and no fragment. */
static const char *opt_query(const char *arg)
{
	for (const char *p = arg; *p; p++)
		if (*p == '#' || !isgraph((unsigned char)*p))
			opt_bad("query", arg, "takes no '#', blank or control character");
	return arg;
}

int main(int argc, char **argv)
{
	static const struct option longs[] = {
		{"port", 1, NULL, 'P'},
		{"rate", 1, NULL, 'r'},
		{"duration", 1, NULL, 'd'},
		{"pid", 1, NULL, 'p'},
		{"conns", 1, NULL, 'c'},
		{"first-id", 1, NULL, 'f'},
		{"path", 1, NULL, 'a'}, /* the request's prefix, DEFAULT_PATH */
		{"query", 1, NULL, 'q'},
		{"seed", 1, NULL, 's'},
		{"base-ms", 1, NULL, 'b'},
		{"p99-ms", 1, NULL, '9'},
		{"tail-rate", 1, NULL, 't'},
		{"tail-ms", 1, NULL, 'T'},
		{"timeout-ms", 1, NULL, 'o'},
		{"budget-ms", 1, NULL, 'B'},
		{"reserve-ms", 1, NULL, 'R'},
		{"branches", 1, NULL, 'F'},
		{"max-in-flight", 1, NULL, 'm'},
		{"drain", 1, NULL, 'D'},
		{"help", 0, NULL, 'h'},
		{"version", 0, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	opt_program = "fanout-load";
	fo_sim_defaults(&o.sim);
	o.sim.seed = 1;
	int c, i = 0;
	bool have_port = false;
	while ((c = getopt_long(argc, argv, "hV", longs, &i)) != -1) {
		const char *n = longs[i].name; /* every numeric option is long-only */
		switch (c) {
		case 'P':
			o.port = (int)opt_int(n, optarg, 1, 65535);
			have_port = true;
			break;
		case 'r':
			o.rate = opt_real(n, optarg, 0.001, 1e6);
			break;
		case 'd':
			o.duration = opt_real(n, optarg, 0.001, 86400);
			break;
		case 'p':
			o.pid = (int)opt_int(n, optarg, 1, 4194304); /* Linux's PID_MAX_LIMIT */
			break;
		case 'c':
			o.conns = (long)opt_int(n, optarg, 1, 1000000);
			break;
		case 'f':
			o.first_id = opt_u64(n, optarg, 0, UINT64_MAX);
			break;
		case 'a':
			o.path = opt_path(optarg);
			break;
		case 'q':
			o.query = opt_query(optarg);
			break;
		case 's':
			o.sim.seed = opt_u64(n, optarg, 0, UINT64_MAX);
			break;
		/* The sim's and the route's ranges are fanoutd.conf's (fanoutd.conf(5)). */
		case 'b':
			o.sim.base_ns = opt_ms(n, optarg, 0, 3600000);
			break;
		case '9':
			o.sim.p99_ns = opt_ms(n, optarg, 0, 3600000);
			break;
		case 't':
			o.sim.tail_rate = opt_real(n, optarg, 0, 1);
			break;
		case 'T':
			o.sim.tail_ns = opt_ms(n, optarg, 0, 3600000);
			break;
		case 'o':
			o.timeout_ns = opt_ms(n, optarg, 0.001, 3600000);
			break;
		case 'B':
			o.budget_ns = opt_ms(n, optarg, 0.001, 3600000);
			break;
		case 'R':
			o.reserve_ns = opt_ms(n, optarg, 0, 60000);
			break;
		case 'F':
			o.branches = (int)opt_int(n, optarg, 1, 100000);
			o.branches_given = true;
			break;
		case 'm':
			o.max_in_flight = (uint64_t)opt_int(n, optarg, 1, 100000000);
			break;
		case 'D':
			o.drain_s = opt_real(n, optarg, 0, 3600);
			break;
		case 'V':
			printf("fanout-load %s\n", PACKAGE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "fanout-load: unexpected argument '%s' (options only)\n",
			argv[optind]);
		return 2;
	}
	if (!have_port) {
		fprintf(stderr,
			"fanout-load: --port is missing (fanoutd's HTTP port, 1 to 65535)\n");
		return 2;
	}
	if (o.reserve_ns >= o.budget_ns) {
		/* As fanoutd.conf refuses it: the branches' deadline is budget - reserve. */
		fprintf(stderr,
			"fanout-load: --reserve-ms %g is not below --budget-ms %g (the branches' "
			"deadline is budget - reserve)\n",
			(double)o.reserve_ns / 1e6, (double)o.budget_ns / 1e6);
		return 2;
	}
	if (strlen(o.path) + strlen(o.query) > MAX_PATH_QUERY) {
		fprintf(stderr, "fanout-load: --path and --query: %zu bytes together, at most %d\n",
			strlen(o.path) + strlen(o.query), MAX_PATH_QUERY);
		return 2;
	}
	total = (uint64_t)(o.rate * o.duration);
	if (total == 0) {
		fprintf(stderr, "fanout-load: --rate %g for --duration %g s sends no request\n",
			o.rate, o.duration);
		return 2;
	}
	if (o.first_id > UINT64_MAX - (total - 1)) {
		fprintf(stderr,
			"fanout-load: --first-id %" PRIu64 " + %" PRIu64
			" requests passes 2^64-1\n",
			o.first_id, total);
		return 2;
	}
	/* One descriptor per connection: lift the soft limit to the hard one. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	loop = ev_default_loop(EVFLAG_AUTO);
	multi = curl_multi_init();
	curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, o.conns);
	curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, o.conns);
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, o.conns);
	ev_init(&curl_timer, on_curl_timer);
	ev_init(&give_up, on_give_up);
	ev_timer_init(&tick, on_tick, 0., 0.0005);
	long long cpu0 = o.pid ? proc_cpu_ticks(o.pid) : -1;
	if (o.pid) {
		ev_timer_init(&sampler, sample, 0., 0.1);
		ev_timer_start(loop, &sampler);
	}
	start_ns = fo_now_ns();
	ev_timer_again(loop, &tick);
	ev_run(loop, 0);
	int64_t wall = fo_now_ns() - start_ns;
	long long cpu1 = o.pid ? proc_cpu_ticks(o.pid) : -1;
	double cpu_pct = cpu0 >= 0 && cpu1 >= 0
				 ? (double)(cpu1 - cpu0) / (double)sysconf(_SC_CLK_TCK) /
					   ((double)wall / 1e9) * 100
				 : -1;
	/* Achieved: answered requests over the sending window (the open model's rate). */
	double window = fmin((double)wall / 1e9, o.duration);
	uint64_t answered = codes[2] + codes[3] + codes[4] + codes[5];
	printf("{\"target_rate\":%.0f,\"achieved_rate\":%.0f,\"sent\":%" PRIu64 ",\"2xx\":%" PRIu64
	       ",\"4xx\":%" PRIu64 ",\"5xx\":%" PRIu64 ",\"errors\":%" PRIu64
	       ",\"dropped\":%" PRIu64 ",\"abandoned\":%" PRIu64 ",\"max_in_flight\":%" PRIu64
	       ",\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f",
	       o.rate, (double)answered / window, total - dropped, codes[2], codes[4], codes[5],
	       failed, dropped, abandoned, max_inflight, hist_pct(&latency, 50),
	       hist_pct(&latency, 99), hist_pct(&latency, 99.9), (double)max_latency_ns / 1e6);
	if (ideal_known())
		printf(",\"overhead_p50_ms\":%.3f,\"overhead_p99_ms\":%.3f"
		       ",\"overhead_p999_ms\":%.3f",
		       hist_pct(&overhead, 50), hist_pct(&overhead, 99), hist_pct(&overhead, 99.9));
	else
		printf(",\"overhead_p50_ms\":null,\"overhead_p99_ms\":null"
		       ",\"overhead_p999_ms\":null");
	if (o.pid)
		printf(",\"server_cpu_pct\":%.1f,\"server_cpu_us_per_req\":%.1f"
		       ",\"server_peak_rss_mb\":%.1f,\"server_peak_threads\":%ld",
		       cpu_pct,
		       answered ? cpu_pct / 100.0 * 1e6 / ((double)answered / ((double)wall / 1e9))
				: 0,
		       (double)peak_rss_kib / 1024.0, peak_threads);
	printf("}\n");
	curl_multi_cleanup(multi);
	curl_global_cleanup();
	return failed || dropped || abandoned || codes[5] ? 1 : 0;
}
