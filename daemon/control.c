/* SPDX-License-Identifier: MIT */
#include "control.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "api.h"
#include "apiconn.h"
#include "generation.h"
#include "job.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "procstat.h"

/* After the drain time, the 503s that replace unfinished answers get this long to be sent. */
#define EXPIRY_GRACE_NS (1 * FO_SEC)

/* The operator's drain: read by every loop (the gateway, /readyz), set on loop 0. */
static atomic_bool draining;

/* Loop 0 only. */
static const char *config_path;
static const struct fod_overrides *overrides;
static bool verbose; /* -v: debug lines whatever log_level says */
static const struct fod_control_http *http;
static int64_t started_ns;
static bool stopping, expired;
static int64_t drain_until, expired_until;
static ev_timer drain_timer;

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

static long requests_in_flight(void)
{
	return http ? http->requests_in_flight() : 0;
}

bool fod_control_draining(void)
{
	return atomic_load(&draining);
}

void fod_control_set_draining(bool on)
{
	atomic_store(&draining, on);
}

bool fod_control_stopping(void)
{
	return stopping;
}

/* The generation's log_level, unless -v asked for everything. */
static void apply_log_level(const struct fod_gen *g)
{
	fod_log_set_level(verbose ? FO_LOG_DEBUG : g->log.level);
}

void fod_control_notify(const char *what)
{
	struct fod_gen *g = fod_gen_current();
	sd_notifyf(0, "STATUS=%s; generation %lu; %ld connections; %ld requests in flight", what,
		   g ? (unsigned long)g->id : 0UL, atomic_load(&fod_counters.http_connections_open),
		   requests_in_flight());
	fod_gen_unref(g);
}

/* ---- reload */

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
		{"http.listen", differs(at_start.http_listen, g->http.listen)},
		{"http.admin_listen", differs(at_start.http_admin_listen, g->http.admin_listen)},
		{"api.socket", differs(at_start.api_socket, g->api.socket)},
		{"api.mode", differs(at_start.api_mode, g->api.mode)},
		{"api.group", differs(at_start.api_group, g->api.group)},
		{"workers.loops", at_start.loops != g->workers.loops},
	};
	size_t n = 0;
	out[0] = '\0';
	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]) && n < len; i++)
		if (settings[i].changed)
			n += (size_t)snprintf(
				out + n, len - n, "%s%s",
				n ? ", " : "changed but applies only at start: ", settings[i].name);
}

int fod_control_reload(char *note, size_t len)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
		   (unsigned long long)ts.tv_sec * 1000000ULL +
			   (unsigned long long)ts.tv_nsec / 1000);
	log_debug("reload: reading %s", config_path);
	struct fod_gen *g = fod_gen_build(config_path, overrides, note, len);
	if (!g) {
		fod_metrics_reload_result(false);
		log_err("reload refused, keeping the running configuration: %s", note);
	} else {
		log_debug("reload: built generation %lu (%zu routes, %zu limiters), swapping it in",
			  (unsigned long)g->id, g->nroutes, g->nlimiters);
		struct fod_gen *old = fod_gen_current();
		/* On success note carries the start-only settings to the API's reply. */
		start_only_changes(g, note, len);
		if (note[0])
			log_warn("reload: %s (restart fanoutd to apply)", note);
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
	fod_control_notify(g ? "reloaded" : "reload failed");
	return g ? 0 : -EINVAL;
}

/* ---- shutdown */

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
	long left = requests_in_flight(), rows = fod_jobs_rows_in_flight();
	long answering = http ? http->answering() : 0;
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
		if (http)
			http->expire();
		fod_jobs_cancel_all(); /* rows left are cancelled, their results and summary sent */
		return;
	}
	if (busy && (!expired || now < expired_until))
		return;
	if (busy)
		log_warn("stopping with %ld requests, %ld HTTP answers and %ld job rows unfinished",
			 left, answering, rows);
	ev_timer_stop(ev, &drain_timer);
	if (http)
		http->close_all();
	fod_loops_stop();
}

void fod_control_shutdown(void)
{
	struct ev_loop *ev = fod_loops[0].ev;
	if (stopping)
		return;
	stopping = true;
	sd_notify(0, "STOPPING=1");
	struct fod_gen *g = fod_gen_current();
	drain_until = fo_now_ns() + (g ? g->shutdown.drain_ns : 0);
	fod_gen_unref(g);
	log_notice("stopping: no new connections, draining %ld requests in flight",
		   requests_in_flight());
	if (http)
		http->drain();
	fod_api_stop();
	/* Jobs take no further task; their rows in flight drain like requests. */
	fod_jobs_drain();
	ev_timer_init(&drain_timer, drain_tick, 0., 0.01);
	ev_timer_again(ev, &drain_timer);
}

/* ---- the control ops on the admin socket */

static void cmd_status(struct fod_api_conn *c, const msgpack_object *req)
{
	(void)req;
	struct fod_gen *g = fod_gen_current();
	struct procstat ps;
	procstat_read(&ps);
	struct fod_reply r;
	msgpack_packer *pk = fod_reply_begin(&r, FOD_ST_OK, "ok");
	msgpack_pack_map(pk, 14);
	mp_kv_str(pk, "version", PACKAGE_VERSION);
	mp_kv_int(pk, "generation", g ? (long long)g->id : 0);
	mp_kv_str(pk, "config", g ? g->path : "");
	mp_kv_int(pk, "uptime_s", (fo_now_ns() - started_ns) / FO_SEC);
	mp_kv_int(pk, "loops", fod_nloops);
	mp_kv_int(pk, "pool_threads", g ? g->workers.pool_threads : 0);
	mp_kv_int(pk, "threads", ps.threads);
	mp_kv_int(pk, "rss_bytes", ps.rss_kib * 1024);
	mp_kv_int(pk, "connections", atomic_load(&fod_counters.http_connections_open));
	mp_kv_int(pk, "requests_in_flight", requests_in_flight());
	mp_kv_int(pk, "branches_in_flight", fo_live_branches());
	mp_kv_int(pk, "jobs", (long long)fod_jobs_open());
	mp_kv_int(pk, "rows_in_flight", fod_jobs_rows_in_flight());
	mp_str(pk, "draining");
	fod_control_draining() ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
	fod_api_reply(c, &r);
	fod_gen_unref(g);
}

static void cmd_drain(struct fod_api_conn *c, const msgpack_object *req)
{
	bool on = true;
	if (fod_mp_arg_bool(req, "enable", &on) < 0) {
		fod_api_error(c, FOD_ST_BAD_REQUEST, "'enable' must be a boolean");
		return;
	}
	if (on != fod_control_draining())
		log_notice("%s over the API", on ? "draining: refusing new requests and jobs"
						 : "drain ended: serving again");
	fod_control_set_draining(on);
	struct fod_reply r;
	msgpack_packer *pk = fod_reply_begin(&r, FOD_ST_OK, on ? "draining" : "serving");
	msgpack_pack_map(pk, 3);
	mp_str(pk, "draining");
	on ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
	mp_kv_int(pk, "requests_in_flight", requests_in_flight());
	mp_kv_int(pk, "rows_in_flight", fod_jobs_rows_in_flight());
	fod_api_reply(c, &r);
}

static void cmd_reload(struct fod_api_conn *c, const msgpack_object *req)
{
	(void)req;
	char note[1024];
	if (fod_control_reload(note, sizeof(note)) < 0) {
		fod_api_error(c, FOD_ST_BAD_REQUEST, "%s", note);
		return;
	}
	struct fod_gen *g = fod_gen_current();
	struct fod_reply r;
	/* note: the start-only settings the new configuration changes, if any. */
	msgpack_packer *pk = fod_reply_begin(&r, FOD_ST_OK, note[0] ? note : "reloaded");
	msgpack_pack_map(pk, note[0] ? 2 : 1);
	mp_kv_int(pk, "generation", (long long)g->id);
	if (note[0])
		mp_kv_str(pk, "note", note);
	fod_api_reply(c, &r);
	fod_gen_unref(g);
}

static void cmd_shutdown(struct fod_api_conn *c, const msgpack_object *req)
{
	(void)req;
	fod_api_error(c, FOD_ST_OK, "stopping");
	fod_control_shutdown();
}

static const struct fod_api_command control_commands[] = {
	{"status", FOD_LEVEL_USER, cmd_status},
	{"drain", FOD_LEVEL_OPERATOR, cmd_drain},
	{"reload", FOD_LEVEL_ADMIN, cmd_reload},
	{"shutdown", FOD_LEVEL_ADMIN, cmd_shutdown},
	{NULL, 0, NULL},
};

/* ---- start and end */

int fod_control_init(const char *path, const struct fod_overrides *ov, bool debug,
		     const struct fod_gen *first, const struct fod_control_http *hooks)
{
	http = hooks;
	config_path = path;
	overrides = ov;
	verbose = debug;
	started_ns = fo_now_ns();
	at_start.http_listen = strdup(first->http.listen);
	at_start.http_admin_listen = strdup(first->http.admin_listen);
	at_start.api_socket = strdup(first->api.socket);
	at_start.api_mode = strdup(first->api.mode);
	at_start.api_group = strdup(first->api.group);
	at_start.loops = first->workers.loops;
	/* A copy that failed reads as changed at every reload: noisy, never wrong. */
	apply_log_level(first);
	return fod_api_register(control_commands);
}

void fod_control_free(void)
{
	free(at_start.http_listen);
	free(at_start.http_admin_listen);
	free(at_start.api_socket);
	free(at_start.api_mode);
	free(at_start.api_group);
	memset(&at_start, 0, sizeof(at_start));
}
