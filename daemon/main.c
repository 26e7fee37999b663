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
#include "control.h"
#include "endpoints.h"
#include "gateway.h"
#include "generation.h"
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
static ev_timer watchdog_timer;

/* What a shutdown waits for and ends on the HTTP side. */
static const struct fod_control_http http_work = {
	.requests_in_flight = fod_gateway_in_flight,
	.answering = fod_http_busy,
	.drain = fod_http_drain,
	.expire = fod_http_expire,
	.close_all = fod_http_close_all,
};

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
	char note[1024];
	if (!fod_control_stopping())
		fod_control_reload(note, sizeof(note));
}

static void on_sigterm(struct ev_loop *ev, ev_signal *w, int revents)
{
	(void)ev;
	(void)w;
	(void)revents;
	fod_control_shutdown();
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
	if (!*g->api.socket) {
		log_notice("admin socket disabled: api.socket is empty");
		return 0;
	}
	char *dir = strdup(g->api.socket), *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		mkdir(dir, 0755); /* /run/fanoutd when run by hand; systemd makes it otherwise */
	}
	free(dir);
	int fd = fod_api_listen(g->api.socket, g->api.mode, g->api.group);
	if (fd < 0) {
		log_errno(
			fd,
			"cannot open the admin socket %s: %m (api.socket = \"\" runs without one)",
			g->api.socket);
		return -1;
	}
	fod_api_start(fd);
	log_info("admin socket on %s", g->api.socket);
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
	/* Also sets the log level: -v's debug, or the generation's log_level. */
	if (fod_control_init(config_path, &overrides, verbose, g, &http_work) < 0 ||
	    fod_jobs_init() < 0) {
		fprintf(stderr, "<3>cannot register the admin socket's ops\n");
		return 1;
	}
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
		fod_control_free();
		return r < 0 ? 1 : 0;
	}
	fod_gen_publish(g);
	raise_fd_limit(g->http.max_connections);
	int r = fod_loops_init(g->workers.loops);
	if (r < 0) {
		log_errno(r, "cannot create the event loops: %m");
		return 1;
	}
	if (start_api(g) < 0)
		return 1;
	/* Socket activation: sockets systemd passed replace the configured addresses. */
	if ((r = fod_http_open_listeners(g)) < 0) {
		log_errno(r, "cannot open the HTTP listeners: %m");
		fod_api_stop(); /* not left behind as a stale socket */
		return 1;
	}
	if ((r = fod_endpoints_register()) < 0 || (r = fod_simsrv_register()) < 0 ||
	    (r = fod_gateway_register()) < 0) {
		log_errno(r, "cannot register the HTTP routes: %m");
		return 1;
	}
	if ((r = fod_http_start()) < 0) {
		log_errno(r, "cannot start accepting HTTP: %m");
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
		   PACKAGE_VERSION, fod_nloops, cur->workers.pool_threads, cur->nroutes,
		   (unsigned long)cur->id);
	fod_gen_unref(cur);
	sd_notify(0, "READY=1");
	fod_control_notify("serving");
	fod_loops_run();
	log_notice("stopped");
	fod_loops_free();
	fod_http_free();
	fod_gen_publish(NULL);
	fod_control_free();
	return 0;
}
