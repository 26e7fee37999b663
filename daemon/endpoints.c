/* SPDX-License-Identifier: MIT */
/*
 * The internal endpoints: /metrics, /healthz, /readyz and the dashboard at
 * /, registered in http.c's route table (router.h). /metrics and the probes
 * are also served in the monitoring reserve past http.max_connections.
 */
#include "endpoints.h"

#include <stdio.h>
#include <stdlib.h>

#include "control.h"
#include "generation.h"
#include "http.h"
#include "metrics.h"

static const char dashboard[] =
	"<!doctype html><meta charset=utf-8><title>fanoutd</title>"
	"<style>body{font:14px monospace;margin:2em}pre{white-space:pre-wrap}</style>"
	"<h1>fanoutd</h1><p>Live metrics, refreshed every second. Try <a "
	"href=/product/1>/product/1</a>.</p><pre id=m></pre><script>"
	"async function t(){const r=await fetch('/metrics');const x=await r.text();"
	"document.getElementById('m').textContent=x.split('\\n').filter(l=>l&&l[0]!='#'&&"
	"!l.includes('_bucket')).join('\\n')}t();setInterval(t,1000)</script>";

static int serve_metrics(struct fod_conn *c, struct fod_loop *l, const struct fod_http_req *req,
			 void *arg)
{
	(void)l, (void)req, (void)arg;
	struct fod_gen *g = fod_gen_current();
	size_t len;
	char *text = fod_metrics_render(g, &len);
	fod_gen_unref(g);
	fod_http_respond(c, 200, "text/plain; version=0.0.4", NULL, text ? text : "",
			 text ? len : 0);
	free(text);
	return 0;
}

/* Liveness: the loops turn and answer. Nothing else: a restart would not cure it. */
static int serve_healthz(struct fod_conn *c, struct fod_loop *l, const struct fod_http_req *req,
			 void *arg)
{
	(void)l, (void)req, (void)arg;
	struct fod_gen *g = fod_gen_current();
	char body[128];
	int n = snprintf(body, sizeof(body), "{\"status\":\"alive\",\"generation\":%lu}\n",
			 g ? (unsigned long)g->id : 0UL);
	fod_gen_unref(g);
	fod_http_respond(c, 200, "application/json", NULL, body, (size_t)n);
	return 0;
}

/*
 * Readiness: whether a load balancer should send requests here. Not while
 * drained by the operator, nor while a route's recent success ratio is
 * under its ready_min_success floor (the first such route is named).
 */
static int serve_readyz(struct fod_conn *c, struct fod_loop *l, const struct fod_http_req *req,
			void *arg)
{
	(void)l, (void)req, (void)arg;
	struct fod_gen *g = fod_gen_current();
	char body[512];
	int n = 0;
	if (fod_control_draining())
		n = snprintf(body, sizeof(body),
			     "{\"status\":\"not ready\",\"reason\":\"draining\"}\n");
	for (size_t i = 0; g && !n && i < g->nroutes; i++) {
		unsigned long ok, total;
		const struct fod_route *rt = &g->routes[i];
		char name[256];
		if (fod_metrics_route_ready(rt, &ok, &total))
			continue;
		fod_http_json_text(name, sizeof(name), rt->name);
		n = snprintf(body, sizeof(body),
			     "{\"status\":\"not ready\",\"reason\":\"success ratio\","
			     "\"route\":\"%s\",\"ok\":%lu,\"requests\":%lu,"
			     "\"floor\":%g,\"window_ms\":%lld}\n",
			     name, ok, total, rt->ready_min_success,
			     (long long)(rt->ready_window_ns / FO_MSEC));
	}
	bool ready = n == 0;
	if (ready)
		n = snprintf(body, sizeof(body), "{\"status\":\"ready\",\"generation\":%lu}\n",
			     g ? (unsigned long)g->id : 0UL);
	fod_gen_unref(g);
	if (n >= (int)sizeof(body))
		n = (int)sizeof(body) - 1;
	fod_http_respond(c, ready ? 200 : 503, "application/json", NULL, body, (size_t)n);
	return 0;
}

static int serve_dashboard(struct fod_conn *c, struct fod_loop *l, const struct fod_http_req *req,
			   void *arg)
{
	(void)l, (void)req, (void)arg;
	fod_http_respond(c, 200, "text/html; charset=utf-8", NULL, dashboard,
			 sizeof(dashboard) - 1);
	return 0;
}

int fod_endpoints_register(void)
{
	static int (*const serve[FOD_EP_N])(struct fod_conn *, struct fod_loop *,
					    const struct fod_http_req *, void *) = {
		[FOD_EP_METRICS] = serve_metrics,
		[FOD_EP_HEALTHZ] = serve_healthz,
		[FOD_EP_READYZ] = serve_readyz,
		[FOD_EP_DASHBOARD] = serve_dashboard,
	};
	for (int e = 0; e < FOD_EP_N; e++) {
		int r = fod_http_route_add(&(struct fod_http_route){
			.path = fod_endpoint_paths[e],
			.methods = FOD_HTTP_GET,
			.access = FOD_HTTP_INTERNAL,
			/* Monitoring and probes, not the dashboard. */
			.monitoring = e != FOD_EP_DASHBOARD,
			.responses = fod_counters.http_internal[e],
			.serve = serve[e],
		});
		if (r < 0)
			return r;
	}
	return 0;
}
