/* SPDX-License-Identifier: MIT */
/*
 * fanoutd: the fan-out daemon. Runs in the foreground (systemd style):
 *
 *   fanoutd [-c FILE] [-t | -T] [--listen ADDR:PORT] [--socket PATH] [--modules DIR] [-v]
 *
 * Startup: build the first configuration generation (any error: exit 1 with
 * file:line: message), bind the listener (or take it from systemd), start
 * the loops, READY=1. SIGHUP reloads (a failed reload keeps the old
 * generation), SIGUSR1 reopens the access log files, SIGTERM/SIGINT drain
 * in-flight requests then exit 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "api.h"
#include "endpoints.h"
#include "gateway.h"
#include "gen.h"
#include "http.h"
#include "job.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "simsrv.h"

#ifndef FOD_SYSCONFDIR
#define FOD_SYSCONFDIR "/etc"
#endif

static const char *config_path = FOD_SYSCONFDIR "/fanoutd.conf";
static struct fod_overrides overrides;
static ev_signal sighup, sigterm, sigint, sigusr1;
static bool verbose; /* -v: debug lines whatever log_level says */
static ev_timer drain_timer, watchdog_timer;
static int64_t drain_until, expired_until;
static bool stopping, expired;

/* After the drain time, the 503s that replace unfinished answers get this long to be sent. */
#define EXPIRY_GRACE_NS (1 * FO_SEC)

static void notify_status(const char *what)
{
	struct fod_gen *g = fod_gen_current();
	sd_notifyf(0, "STATUS=%s; generation %lu; %ld connections; %ld requests in flight", what,
		   g ? (unsigned long)g->id : 0UL, atomic_load(&fod_counters.http_connections_open),
		   fod_gateway_in_flight());
	fod_gen_unref(g);
}

/* The generation's log_level, unless -v asked for everything. */
static void apply_log_level(const struct fod_gen *g)
{
	fod_log_set_level(verbose ? FO_LOG_DEBUG : g->log_level);
}

/*
 * What the daemon set up from its first generation and keeps until it
 * stops: the listener, the admin socket (its path, mode and group) and the
 * event loops. A reload that changes one says so, every time it differs
 * from what runs, rather than ignore it silently.
 */
static struct {
	char *http_listen, *http_admin_listen, *api_socket, *api_mode, *api_group;
	unsigned loops;
} at_start;

static void remember_start(const struct fod_gen *g)
{
	at_start.http_listen = strdup(g->http_listen);
	at_start.http_admin_listen = strdup(g->http_admin_listen);
	at_start.api_socket = strdup(g->api_socket);
	at_start.api_mode = strdup(g->api_mode);
	at_start.api_group = strdup(g->api_group);
	at_start.loops = g->loops;
}

static bool differs(const char *started, const char *now)
{
	return !started || strcmp(started, now) != 0;
}

/* "changed but applies only at start: api.mode, workers.loops", or "" when none is. */
static void start_only_changes(const struct fod_gen *g, char *out, size_t len)
{
	const struct {
		const char *name;
		bool changed;
	} settings[] = {
		{"http.listen", differs(at_start.http_listen, g->http_listen)},
		{"http.admin_listen", differs(at_start.http_admin_listen, g->http_admin_listen)},
		{"api.socket", differs(at_start.api_socket, g->api_socket)},
		{"api.mode", differs(at_start.api_mode, g->api_mode)},
		{"api.group", differs(at_start.api_group, g->api_group)},
		{"workers.loops", at_start.loops != g->loops},
	};
	size_t n = 0;
	out[0] = '\0';
	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]) && n < len; i++)
		if (settings[i].changed)
			n += (size_t)snprintf(
				out + n, len - n, "%s%s",
				n ? ", " : "changed but applies only at start: ", settings[i].name);
}

int fod_reload(char *err, size_t errlen)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
		   (unsigned long long)ts.tv_sec * 1000000ULL +
			   (unsigned long long)ts.tv_nsec / 1000);
	log_debug("reload: reading %s", config_path);
	struct fod_gen *g = fod_gen_build(config_path, &overrides, err, errlen);
	if (!g) {
		fod_metrics_reload_result(false);
		log_err("reload refused, keeping the running configuration: %s", err);
	} else {
		log_debug("reload: built generation %lu (%zu routes, %zu limiters), swapping it in",
			  (unsigned long)g->id, g->nroutes, g->nlimiters);
		struct fod_gen *old = fod_gen_current();
		/* On success err carries this note to the API's reply. */
		start_only_changes(g, err, errlen);
		if (err[0])
			log_warn("reload: %s (restart fanoutd to apply)", err);
		if (old)
			log_debug("reload: generation %lu is freed when its last request ends",
				  (unsigned long)old->id);
		fod_gen_unref(old);
		fod_gen_publish(g);
		apply_log_level(g);
		fod_metrics_reload_result(true);
		/* A reload is also when a rotated access log is picked up. */
		fod_access_log_reopen();
		log_notice("reloaded %s: generation %lu", config_path, (unsigned long)g->id);
	}
	sd_notify(0, "READY=1");
	notify_status(g ? "reloaded" : "reload failed");
	return g ? 0 : -1;
}

static void on_sigusr1(struct ev_loop *ev, ev_signal *w, int revents)
{
	(void)ev;
	(void)w;
	(void)revents;
	fod_access_log_reopen();
}

static void on_sighup(struct ev_loop *ev, ev_signal *w, int revents)
{
	(void)ev;
	(void)w;
	(void)revents;
	char err[1024];
	if (!stopping)
		fod_reload(err, sizeof(err));
}

/*
 * Polls until nothing is in progress (requests, their answers, job rows,
 * API replies), then stops. When the drain time is up first, the requests
 * still in progress are answered 503 (not cut with EOF); their answers get
 * a short grace to be written, then the loops stop whatever is left.
 */
static void drain_tick(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	long left = fod_gateway_in_flight(), rows = fod_jobs_rows_in_flight();
	long answering = fod_http_busy();
	/* Cancelled jobs' last results and summaries are on their way to their clients too. */
	bool unsent = fod_api_unsent() > 0;
	bool busy = left > 0 || rows > 0 || answering > 0 || unsent;
	int64_t now = fo_now_ns();
	if (busy && !expired && now >= drain_until) {
		log_warn("drain time over with %ld requests and %ld job rows in flight: answering "
			 "503 to what is left",
			 left, rows);
		expired = true;
		expired_until = now + EXPIRY_GRACE_NS;
		fod_http_expire();
		fod_jobs_cancel_all(); /* rows left are cancelled, their results and summary sent */
		return;
	}
	if (busy && (!expired || now < expired_until))
		return;
	if (busy)
		log_warn("stopping with %ld requests, %ld HTTP answers and %ld job rows unfinished",
			 left, answering, rows);
	ev_timer_stop(ev, &drain_timer);
	fod_http_close_all();
	fod_loops_stop();
}

void fod_shutdown(void)
{
	struct ev_loop *ev = fod_loops[0].ev;
	if (stopping)
		return;
	stopping = true;
	sd_notify(0, "STOPPING=1");
	struct fod_gen *g = fod_gen_current();
	drain_until = fo_now_ns() + (g ? g->drain_ns : 0);
	fod_gen_unref(g);
	log_notice("stopping: no new connections, draining %ld requests in flight",
		   fod_gateway_in_flight());
	fod_http_drain();
	fod_api_stop();
	/* Jobs take no further task; their rows in flight drain like requests. */
	fod_jobs_drain();
	ev_timer_init(&drain_timer, drain_tick, 0., 0.01);
	ev_timer_again(ev, &drain_timer);
}

static void on_sigterm(struct ev_loop *ev, ev_signal *w, int revents)
{
	(void)ev;
	(void)w;
	(void)revents;
	fod_shutdown();
}

/* WATCHDOG=1 only while every loop keeps turning. */
static void watchdog_tick(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)ev;
	(void)w;
	(void)revents;
	int64_t now = fo_now_ns();
	for (unsigned i = 0; i < fod_nloops; i++)
		if (now - atomic_load(&fod_loops[i].heartbeat_ns) > 3 * FO_SEC) {
			log_warn("loop %u stalled: withholding the watchdog ping", i);
			return;
		}
	sd_notify(0, "WATCHDOG=1");
}

/*
 * The admin socket: 0, or -1 when it cannot be had (ExecReload and
 * fanoutctl depend on it: a daemon without it is not started). An empty
 * api.socket turns it off on purpose.
 */
static int start_api(struct fod_gen *g)
{
	if (!*g->api_socket) {
		log_notice("admin socket disabled: api.socket is empty");
		return 0;
	}
	char *dir = strdup(g->api_socket), *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		mkdir(dir, 0755); /* /run/fanoutd when run by hand; systemd makes it otherwise */
	}
	free(dir);
	int fd = fod_api_listen(g->api_socket, g->api_mode, g->api_group);
	if (fd < 0) {
		log_err("cannot open the admin socket %s: %s (api.socket = \"\" runs without one)",
			g->api_socket, strerror(-fd));
		return -1;
	}
	fod_api_start(fd);
	log_info("admin socket on %s", g->api_socket);
	return 0;
}

/*
 * Every connection is a descriptor: the soft limit (often 1024) must cover
 * max_connections, or accept() fails with EMFILE under load. Raise it to
 * what is needed, within the hard limit (systemd's default hard limit is
 * 524288).
 */
static void raise_fd_limit(long max_connections)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	rlim_t want = (rlim_t)max_connections + 256;
	if (rl.rlim_cur >= want)
		return;
	rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < want)
		log_warn("open-file limit %llu is below http.max_connections + 256 = %llu: raise "
			 "LimitNOFILE",
			 (unsigned long long)rl.rlim_cur, (unsigned long long)want);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: fanoutd [-c FILE] [-t | -T] [--listen ADDR:PORT] [--socket PATH] "
		"[--modules DIR] [-v]\n"
		"       fanoutd --version\n"
		"  -c, --config FILE   configuration (default %s)\n"
		"  -t, --test          check the configuration (and try binding its listen\n"
		"                      address) and exit\n"
		"  -T, --dump          check it, then print the effective configuration\n"
		"                      (defaults filled in) and exit\n"
		"      --listen A:P    HTTP listen address (overrides http.listen)\n"
		"      --socket PATH   API socket (overrides api.socket)\n"
		"      --modules DIR   module directory (overrides modules.path)\n"
		"  -v, --verbose       debug logging (overrides log_level)\n"
		"      --version       print the version and exit\n",
		FOD_SYSCONFDIR "/fanoutd.conf");
}

int main(int argc, char **argv)
{
	static const struct option longs[] = {
		{"config", required_argument, NULL, 'c'},  {"test", no_argument, NULL, 't'},
		{"listen", required_argument, NULL, 'L'},  {"socket", required_argument, NULL, 'S'},
		{"modules", required_argument, NULL, 'M'}, {"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},	   {"version", no_argument, NULL, 'V'},
		{"dump", no_argument, NULL, 'T'},	   {NULL, 0, NULL, 0},
	};
	bool test = false, dump = false;
	int c;
	while ((c = getopt_long(argc, argv, "c:tTvh", longs, NULL)) != -1) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case 't':
			test = true;
			break;
		case 'T':
			test = dump = true;
			break;
		case 'V':
			printf("fanoutd %s\n", PACKAGE_VERSION);
			return 0;
		case 'L':
			overrides.listen = optarg;
			break;
		case 'S':
			overrides.socket = optarg;
			break;
		case 'M':
			overrides.modules = optarg;
			break;
		case 'v':
			verbose = true;
			fod_log_set_level(FO_LOG_DEBUG);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	/* Only a check binds to try: a daemon given its socket by systemd binds nothing. */
	overrides.trial_bind = test;
	char err[1024];
	struct fod_gen *g = fod_gen_build(config_path, &overrides, err, sizeof(err));
	if (!g) {
		fprintf(stderr, "<3>%s\n", err);
		return 1;
	}
	apply_log_level(g);
	if (test) {
		/* -T: the check's verdict on stderr, as nginx -T does; the configuration on stdout.
		 */
		fprintf(dump ? stderr : stdout, "%s: configuration OK (%zu routes, %zu limiters)\n",
			config_path, g->nroutes, g->nlimiters);
		int r = dump ? fod_gen_write_effective(g, stdout) : 0;
		if (r < 0)
			fprintf(stderr, "<3>cannot write the effective configuration: %s\n",
				strerror(-r));
		fod_gen_unref(g);
		return r < 0 ? 1 : 0;
	}
	fod_gen_publish(g);
	remember_start(g);
	raise_fd_limit(g->max_connections);
	int r = fod_loops_init(g->loops);
	if (r < 0) {
		log_err("cannot create the event loops: %s", strerror(-r));
		return 1;
	}
	if (start_api(g) < 0)
		return 1;
	/* Socket activation: sockets systemd passed replace the configured addresses. */
	if ((r = fod_http_open_listeners(g)) < 0) {
		log_err("cannot open the HTTP listeners: %s", strerror(-r));
		fod_api_stop(); /* not left behind as a stale socket */
		return 1;
	}
	if ((r = fod_endpoints_register()) < 0 || (r = fod_simsrv_register()) < 0 ||
	    (r = fod_gateway_register()) < 0) {
		log_err("cannot register the HTTP routes: %s", strerror(-r));
		return 1;
	}
	if ((r = fod_http_start()) < 0) {
		log_err("cannot start accepting HTTP: %s", strerror(-r));
		return 1;
	}
	fod_metrics_start();
	struct ev_loop *ev = fod_loops[0].ev;
	ev_signal_init(&sighup, on_sighup, SIGHUP);
	ev_signal_init(&sigterm, on_sigterm, SIGTERM);
	ev_signal_init(&sigint, on_sigterm, SIGINT);
	ev_signal_init(&sigusr1, on_sigusr1, SIGUSR1);
	ev_signal_start(ev, &sigusr1);
	ev_signal_start(ev, &sighup);
	ev_signal_start(ev, &sigterm);
	ev_signal_start(ev, &sigint);
	uint64_t wd_usec = 0;
	if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0) {
		ev_timer_init(&watchdog_timer, watchdog_tick, 0., (double)wd_usec / 2e6);
		ev_timer_again(ev, &watchdog_timer);
	}
	struct fod_gen *cur = fod_gen_current();
	log_notice("fanoutd %s ready: %u loops, %u pool threads, %zu routes, generation %lu",
		   PACKAGE_VERSION, fod_nloops, cur->pool_threads, cur->nroutes,
		   (unsigned long)cur->id);
	fod_gen_unref(cur);
	sd_notify(0, "READY=1");
	notify_status("serving");
	fod_loops_run();
	log_notice("stopped");
	fod_loops_free();
	fod_http_free();
	fod_gen_publish(NULL);
	free(at_start.http_listen);
	free(at_start.api_socket);
	free(at_start.api_mode);
	free(at_start.api_group);
	return 0;
}
