/* SPDX-License-Identifier: MIT */
#include "simsrv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "generation.h"
#include "http.h"
#include "loop.h"
#include "metrics.h"

/* ---- GET /sim/{branch}/{id} */

/* A request waiting out its draw: its answer is ready, only the time is not. */
struct sim_call {
	ev_timer timer;
	struct fod_loop *loop;
	struct fod_conn *conn;
	bool fail;
	int len;
	char body[40];
};

#define FAIL_BODY      "{\"error\":\"injected\"}\n"
#define CANCELLED_BODY "{\"error\":\"cancelled\"}\n"

static void fired(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)ev, (void)revents;
	struct sim_call *k = (struct sim_call *)w;
	struct fod_conn *c = k->conn;
	if (k->fail)
		fod_http_respond(c, 503, "application/json", NULL, FAIL_BODY,
				 sizeof(FAIL_BODY) - 1);
	else
		fod_http_respond(c, 200, "application/json", NULL, k->body, (size_t)k->len);
	free(k);
}

/*
 * The client left (the connection closes once answered) or the drain time
 * is over (http.c turns the answer into its 503): the timer goes with the
 * call, at once.
 */
static void cancelled(void *arg, enum fo_cause why)
{
	(void)why;
	struct sim_call *k = arg;
	struct fod_conn *c = k->conn;
	ev_timer_stop(k->loop->ev, &k->timer);
	free(k);
	fod_http_respond(c, 503, "application/json", NULL, CANCELLED_BODY,
			 sizeof(CANCELLED_BODY) - 1);
}

/* A decimal id as the Go peer's strconv.ParseUint takes it: digits only, in 64 bits. */
static bool parse_id(const char *s, uint64_t *out)
{
	if (!*s || strlen(s) > 20)
		return false;
	uint64_t v = 0;
	for (; *s; s++) {
		unsigned d = (unsigned)(*s - '0');
		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/*
 * The sim module's value for (id, branch), and a newline as every answer of
 * fanoutd (the http module embeds it without): the same joined product over
 * HTTP as in-process.
 */
static int value(char *buf, size_t len, uint64_t id, unsigned branch)
{
	uint64_t h = fo_splitmix_mix(id ^ ((uint64_t)branch << 56));
	return snprintf(buf, len, "{\"v\":%llu}\n", (unsigned long long)(h % 1000000));
}

static int serve(struct fod_conn *c, struct fod_loop *l, const struct fod_http_req *req, void *arg)
{
	(void)arg;
	struct fod_gen *g = fod_gen_current();
	if (!g || !g->sim_endpoint.enabled) {
		/* Not enabled in this generation: the path is the gateway's to route. */
		fod_gen_unref(g);
		return FOD_HTTP_DECLINED;
	}
	const struct fod_sim_endpoint *s = &g->sim_endpoint;
	const char *name = req->path + strlen(FOD_SIM_PATH), *slash = strchr(name, '/');
	int b = slash ? fod_sim_endpoint_branch(s, name, (size_t)(slash - name)) : -1;
	uint64_t id;
	char msg[256];
	if (b < 0) {
		/* The branches, not the path's bytes: those are not escaped for JSON. */
		int n = snprintf(msg, sizeof(msg), "want /sim/{branch}/{id}, {branch} one of");
		for (size_t i = 0; i < s->nbranches && n > 0 && (size_t)n < sizeof(msg); i++)
			n += snprintf(msg + n, sizeof(msg) - (size_t)n, "%s %s", i ? "," : "",
				      s->branches[i]);
		fod_gen_unref(g);
		fod_http_error(c, 404, "branch", msg);
		return 0;
	}
	if (!parse_id(slash + 1, &id)) {
		fod_gen_unref(g);
		fod_http_error(c, 400, "id", "the id must be a decimal integer");
		return 0;
	}
	struct fo_sim_draw d = fo_sim_draw(&s->p, id, (unsigned)b);
	fod_gen_unref(g);
	struct sim_call *k = calloc(1, sizeof(*k));
	if (!k) {
		fod_http_error(c, 503, "", "out of memory");
		return 0;
	}
	k->loop = l;
	k->conn = c;
	k->fail = d.fail;
	k->len = value(k->body, sizeof(k->body), id, (unsigned)b);
	/* ev_now is when this loop woke for the request: the wait starts then. */
	ev_timer_init(&k->timer, fired, (double)d.latency_ns / 1e9, 0.);
	ev_timer_start(l->ev, &k->timer);
	fod_http_set_cancel(c, cancelled, k);
	return 0;
}

int fod_simsrv_register(void)
{
	return fod_http_route_add(&(struct fod_http_route){
		.path = FOD_SIM_PATH,
		.prefix = true,
		.methods = FOD_HTTP_GET,
		.access = FOD_HTTP_PUBLIC,
		.responses = fod_counters.http_sim,
		.serve = serve,
	});
}
