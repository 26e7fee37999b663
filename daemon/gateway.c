/* SPDX-License-Identifier: MIT */
#include "gateway.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "call.h"
#include "cleanup.h"
#include "route.h"
#include "control.h"
#include "faults.h"
#include "generation.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "query.h"

static atomic_long in_flight;

long fod_gateway_in_flight(void)
{
	return atomic_load(&in_flight);
}

struct request {
	struct fod_conn *conn;
	struct fod_loop *loop;
	struct fod_gen *gen;
	struct fod_route *rt;
	uint64_t id;
	const struct fo_policy *policy;
	struct fo_ctx *ctx;
	struct fo_unit *unit;
	struct fo_config cfg;
	struct fo_task *tasks;
	struct fo_result *results;
	int64_t start_ns;
	int rc;
	struct fod_post done_task;
	/*
	 * X-Request-Id (given or generated): logged, and given to every
	 * downstream call through origin (fo_ds_call.request_id) to send on.
	 */
	char request_id[FOD_REQUEST_ID_MAX + 1];
	struct fod_call_origin origin;
};

/* ---- the answer */

struct out {
	char *p;
	size_t len, cap;
};

static void emit(struct out *o, const char *s, size_t n)
{
	if (o->len + n + 1 > o->cap) {
		size_t cap = (o->cap + n + 1) * 2;
		char *p = realloc(o->p, cap);
		if (!p)
			return;
		o->p = p;
		o->cap = cap;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

static void emits(struct out *o, const char *s)
{
	emit(o, s, strlen(s));
}

/* JSON string content: configured names may hold quotes, and a module's errmsg anything. */
static void emit_escaped(struct out *o, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '"' || *s == '\\') {
			char e[2] = {'\\', *s};
			emit(o, e, 2);
		} else if ((unsigned char)*s < 0x20) {
			emit(o, " ", 1);
		} else {
			emit(o, s, 1);
		}
	}
}

/* ---- the access log (fanoutd.conf(5), access_log) */

static void emit_time(struct out *o)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char t[40];
	size_t n = strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(t + n, sizeof(t) - n, ".%03ldZ", ts.tv_nsec / 1000000);
	emits(o, t);
}

/*
 * One line per answer on the route: time, route, id (null/- when the id
 * was refused), status (as counted: 499 for a client that left, 503 past the
 * drain time), duration, the branches that did not succeed, and
 * the request id. rep is NULL when no unit ran.
 */
static void access_log(const struct fod_route *rt, const struct fod_conn *c, const uint64_t *id,
		       int status, int64_t dur_ns, const struct fo_report *rep,
		       const char *request_id)
{
	if (!rt->access_log)
		return;
	status = fod_http_final_status(c, status); /* what the client got, as counted */
	bool json = rt->access_log_json;
	struct out o = {0};
	char num[64];
	emits(&o, json ? "{\"time\":\"" : "");
	emit_time(&o);
	emits(&o, json ? "\",\"route\":\"" : " route=");
	emit_escaped(&o, rt->name);
	if (id)
		snprintf(num, sizeof(num), json ? "\",\"id\":%" PRIu64 : " id=%" PRIu64, *id);
	else
		snprintf(num, sizeof(num), json ? "\",\"id\":null" : " id=-");
	emits(&o, num);
	snprintf(num, sizeof(num), json ? ",\"status\":%d,\"ms\":%.3f" : " status=%d ms=%.3f",
		 status, (double)dur_ns / 1e6);
	emits(&o, num);
	emits(&o, json ? ",\"degraded\":[" : " degraded=");
	for (size_t e = 0; rep && e < rep->nerrors; e++) {
		emits(&o, e ? "," : "");
		emits(&o, json ? "\"" : "");
		emit_escaped(&o, rt->branches[rep->errors[e].index].name);
		emits(&o, json ? "\"" : "");
	}
	if (!json && (!rep || !rep->nerrors))
		emits(&o, "-");
	emits(&o, json ? "],\"request_id\":\"" : " request_id=");
	emits(&o, request_id);
	emits(&o, json ? "\"}" : "");
	if (o.p)
		fod_access_log_write(rt->access_log, o.p, o.len);
	free(o.p);
}

/* ---- debug lines: where an operator looks for why a request was slow or cut */

static void debug_unit(const struct request *rq, const struct fo_report *rep)
{
	if (!fod_log_enabled(FO_LOG_DEBUG))
		return;
	const struct fod_route *rt = rq->rt;
	if (rep->admit_wait_ns > 0)
		log_debug("route %s id %" PRIu64 " request %s: branches waited %.3f ms in all for "
			  "admission to limiter %s",
			  rt->name, rq->id, rq->request_id, (double)rep->admit_wait_ns / 1e6,
			  rt->limiter ? rt->limiter->name : "-");
	struct out cut = {0};
	for (size_t e = 0; e < rep->nerrors; e++) {
		const struct fo_branch_error *be = &rep->errors[e];
		if (be->outcome != FO_TIMEOUT && be->outcome != FO_SKIPPED)
			continue;
		emits(&cut, cut.len ? ", " : "");
		emits(&cut, rt->branches[be->index].name);
		emits(&cut, be->outcome == FO_TIMEOUT ? " (timed out)" : " (skipped: budget gone)");
	}
	if (cut.len || rq->rc == -ETIMEDOUT)
		log_debug("route %s id %" PRIu64 " request %s: cut at the deadline (budget %.0f ms "
			  "from the start): %s",
			  rt->name, rq->id, rq->request_id,
			  (double)(fo_ctx_deadline(rq->ctx) - rq->start_ns) / 1e6,
			  cut.len ? cut.p : "the unit");
	free(cut.p);
}

static void answer(struct request *rq, struct fo_report *rep)
{
	struct fod_route *rt = rq->rt;
	struct out o = {0};
	char num[160];
	snprintf(num, sizeof(num), "{\"id\":%" PRIu64, rq->id);
	emits(&o, num);
	int status = fod_query_status(rep, rq->rc, rq->rt->min_ok);
	/* Whether every branch answered: clients and caches tell partial answers apart. */
	bool completed = status == 200 && !rep->failed;
	const char *extra =
		completed ? "X-Fanout-Completed: true\r\n" : "X-Fanout-Completed: false\r\n";
	if (status == 503) {
		extra = "X-Fanout-Completed: false\r\nRetry-After: 1\r\n";
		atomic_fetch_add(&rt->metrics->rejected, 1);
	}
	if (status == 200) {
		for (size_t i = 0; i < rt->nbranches; i++) {
			emits(&o, ",\"");
			emit_escaped(&o, rt->branches[i].name);
			emits(&o, "\":");
			if (rq->results[i].outcome == FO_OK && rq->results[i].len)
				emit(&o, fo_result_data(&rq->results[i]), rq->results[i].len);
			else
				emits(&o, "null");
		}
	} else if (status == 502 && rq->rc == 0) {
		snprintf(num, sizeof(num),
			 ",\"error\":\"fewer than min_ok branches succeeded (%zu of %zu, min_ok "
			 "%u)\"",
			 rep->count[FO_OK], rt->nbranches, rt->min_ok);
		emits(&o, num);
	} else {
		emits(&o, status == 503
				  ? ",\"error\":\"overloaded: no admission within the budget\""
			  : status == 504 ? ",\"error\":\"deadline exceeded\""
					  : ",\"error\":\"branch failed\"");
	}
	emits(&o, status == 200 ? ",\"degraded\":[" : ",\"errors\":[");
	for (size_t e = 0; e < rep->nerrors; e++) {
		const struct fo_branch_error *be = &rep->errors[e];
		snprintf(num, sizeof(num), "%s{\"branch\":\"", e ? "," : "");
		emits(&o, num);
		emit_escaped(&o, rt->branches[be->index].name);
		emits(&o, "\",\"outcome\":\"");
		emits(&o, fo_outcome_str(be->outcome));
		emits(&o, "\"");
		if (be->errmsg) {
			emits(&o, ",\"error\":\"");
			emit_escaped(&o, be->errmsg);
			emits(&o, "\"");
		}
		emits(&o, "}");
	}
	int64_t dur_ns = fo_now_ns() - rq->start_ns;
	snprintf(num, sizeof(num), "],\"policy\":\"%s\",\"ms\":%.3f}\n", rq->policy->name,
		 (double)dur_ns / 1e6);
	emits(&o, num);
	if (status == 200 && rep->failed)
		atomic_fetch_add(&rt->metrics->degraded, 1);
	/* A client that left says nothing about the route's health. */
	if (rep->cause != FO_CAUSE_CLIENT_GONE)
		fod_metrics_ready_record(rt, status == 200);
	debug_unit(rq, rep);
	access_log(rt, rq->conn, &rq->id, status, dur_ns, rep, rq->request_id);
	if (rq->conn)
		fod_http_respond(rq->conn, status, "application/json", extra, o.p ? o.p : "",
				 o.len);
	free(o.p);
}

/* Whatever of rq was made (a request refused half-built too), and its count in flight. */
static void request_free(struct request *rq)
{
	for (size_t i = 0; rq->results && i < rq->rt->nbranches; i++)
		fo_result_clear(&rq->results[i]);
	fo_unit_free(rq->unit);
	fo_ctx_unref(rq->ctx);
	if (rq->gen)
		fod_gen_unref(rq->gen);
	free(rq->tasks);
	free(rq->results);
	free(rq);
	atomic_fetch_sub(&in_flight, 1);
}

/* For _cleanup_: a request not handed on is freed at scope exit. */
static void request_freep(struct request **rq)
{
	if (*rq)
		request_free(*rq);
}

static void finished_on_loop(struct fod_post *t)
{
	struct request *rq = (struct request *)((char *)t - offsetof(struct request, done_task));
	struct fo_report rep;
	fo_unit_take_report(rq->unit, &rep);
	fod_metrics_observe_unit(rq->rt, rq->policy, rq->results, &rep, fo_now_ns() - rq->start_ns);
	answer(rq, &rep);
	fo_report_clear(&rep);
	request_free(rq);
}

static void unit_done(struct fo_unit *u, int rc, void *arg)
{
	(void)u;
	struct request *rq = arg;
	rq->rc = rc;
	rq->done_task.fn = finished_on_loop;
	/* Usually the last branch ends on the request's own loop: answer now, no wake-up. */
	if (fod_loop_self() == rq->loop)
		finished_on_loop(&rq->done_task);
	else
		fod_loop_post(rq->loop, &rq->done_task);
}

/* The client left (FO_CAUSE_CLIENT_GONE) or the drain time is over (FO_CAUSE_SHUTDOWN). */
static void cancel_request(void *arg, enum fo_cause why)
{
	struct request *rq = arg;
	fo_unit_cancel(rq->unit, why);
}

/* An answer before any unit ran (bad input, drained): logged like the others. */
static void refuse(struct fod_conn *c, struct fod_gen *g, const struct fod_route *rt,
		   const uint64_t *id, int status, const char *field, const char *msg,
		   const struct fod_http_req *req)
{
	access_log(rt, c, id, status, 0, NULL, req->request_id);
	fod_http_error(c, status, field, msg);
	fod_gen_unref(g);
}

/* Answers the request or starts its unit: 0, or -ENOMEM when refused for memory (answered 503). */
static int start_request(struct fod_conn *c, struct fod_loop *l, const struct fod_http_req *req)
{
	struct fod_gen *g = fod_gen_current();
	const char *rest;
	struct fod_route *rt = g ? fod_gen_route_http(g, req->path, &rest) : NULL;
	if (!rt) {
		fod_gen_unref(g);
		if (fod_control_draining())
			fod_http_respond(c, 503, "application/json", "Retry-After: 1\r\n",
					 "{\"error\":\"draining\"}\n", 21);
		else
			fod_http_error(c, 404, "path", "no such route");
		return 0;
	}
	/* From here the answer is the route's, in its counters and its access log. */
	if (rt->metrics)
		fod_http_count_as(c, rt->metrics->responses);
	if (fod_control_draining()) {
		access_log(rt, c, NULL, 503, 0, NULL, req->request_id);
		fod_http_respond(c, 503, "application/json", "Retry-After: 1\r\n",
				 "{\"error\":\"draining\"}\n", 21);
		fod_gen_unref(g);
		return 0;
	}
	uint64_t id;
	if (!fod_query_id(rest, strlen(rest), &id)) {
		refuse(c, g, rt, NULL, 400, "id", "the id must be a decimal integer", req);
		return 0;
	}
	const struct fo_policy *policy = rt->policy;
	int64_t budget = rt->budget_ns;
	const char *bad = NULL;
	char msg[256];
	if (fod_query_parse(rt, req->query, req->query_len, &policy, &budget, &bad, msg,
			    sizeof(msg)) < 0) {
		refuse(c, g, rt, &id, 400, bad, msg, req);
		return 0;
	}
	_cleanup_(request_freep) struct request *rq = calloc(1, sizeof(*rq));
	if (!rq) {
		fod_http_error(c, 503, "", "out of memory");
		fod_gen_unref(g);
		return -ENOMEM;
	}
	atomic_fetch_add(&in_flight, 1);
	size_t n = rt->nbranches;
	rq->gen = g; /* the request's from here: freed with it */
	rq->rt = rt;
	rq->tasks = calloc(n, sizeof(*rq->tasks));
	rq->results = calloc(n, sizeof(*rq->results));
	rq->ctx = fo_ctx_new(fo_now_ns() + budget);
	if (!rq->tasks || !rq->results || !rq->ctx) {
		fod_http_error(c, 503, "", "out of memory");
		return -ENOMEM;
	}
	rq->conn = c;
	rq->loop = l;
	rq->id = id;
	rq->policy = policy;
	rq->start_ns = fo_now_ns();
	snprintf(rq->request_id, sizeof(rq->request_id), "%s", req->request_id);
	for (size_t i = 0; i < n; i++)
		rq->tasks[i] = fod_route_task(rt, i, id);
	rq->cfg = fod_route_config(rt, policy, g->pool, FOD_WORK_HTTP);
	fod_http_set_cancel(c, cancel_request, rq);
	rq->origin = (struct fod_call_origin){.loop = l, .request_id = rq->request_id};
	int r = fo_unit_start(rq->ctx, rq->tasks, n, NULL, &rq->origin, &rq->cfg, rq->results,
			      unit_done, rq, &rq->unit);
	if (r < 0) {
		fod_http_set_cancel(c, NULL, NULL);
		rq->conn = NULL;
		/* Answered first (rq is freed after): the route's counters live while rq
		 * holds the generation. */
		fod_http_error(c, r == -EINVAL ? 500 : 503, "",
			       r == -ENOMEM ? "out of memory" : strerror(-r));
		return r == -ENOMEM ? r : 0;
	}
	rq = NULL; /* the unit's now: its done callback frees it */
	return 0;
}

/* Starting a request is an allocation-failure window (daemon/faults.h, failalloc.sh). */
static int serve(struct fod_conn *c, struct fod_loop *l, const struct fod_http_req *req, void *arg)
{
	(void)arg;
	fod_fault_open("request");
	fod_fault_close("request", start_request(c, l, req));
	return 0;
}

/*
 * Every path the other routes of the table leave: a route's `http` prefix,
 * else 404 (503 while drained).
 */
int fod_gateway_register(void)
{
	return fod_http_route_add(&(struct fod_http_route){
		.path = "/", .prefix = true, .methods = FOD_HTTP_GET, .serve = serve});
}
