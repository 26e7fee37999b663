/* SPDX-License-Identifier: MIT */
/*
 * Building a generation from the config file: settings, limiter and
 * downstream instances, routes with their branches and policies, the pool.
 * Everything is validated here, so a bad config (at start or at reload) is
 * refused with "file:line: message" before anything runs on it.
 */
#include "gen.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "call.h"
#include "gateway.h"
#include "http.h"
#include "log.h"
#include "metrics.h"

#ifndef FOD_MODULEDIR
#define FOD_MODULEDIR "/usr/lib/fanoutd/modules"
#endif

/* ---- the build's config readers: conf.c's, with this build's error sink */

static void error_at(struct fod_gen *g, const config_setting_t *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void error_at(struct fod_gen *g, const config_setting_t *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fod_conf_verror(g->sink, s, fmt, ap);
	va_end(ap);
}

static int conf_int(struct fod_gen *g, const config_setting_t *s, const char *name, int64_t min,
		    int64_t max, bool required, int64_t *out)
{
	return fod_conf_int(g->sink, s, name, min, max, required, out);
}

static int conf_double(struct fod_gen *g, const config_setting_t *s, const char *name, double min,
		       double max, bool required, double *out)
{
	return fod_conf_double(g->sink, s, name, min, max, required, out);
}

static int conf_string(struct fod_gen *g, const config_setting_t *s, const char *name,
		       bool required, const char **out)
{
	return fod_conf_string(g->sink, s, name, 0, required, out);
}

static int conf_ms(struct fod_gen *g, const config_setting_t *s, const char *name, int64_t min,
		   int64_t max, int64_t *out_ns)
{
	return fod_conf_ms(g->sink, s, name, min, max, false, out_ns);
}

/* A member (marked known), or NULL. */
static const config_setting_t *child(struct fod_gen *g, const config_setting_t *s, const char *name)
{
	return fod_conf_child(g->sink, s, name);
}

/* ---- pieces */

const char *const fod_partition_names[FOD_PARTITIONS] = {"http", "jobs"};

/*
 * `partitions = { http = 0.8; jobs = 0.2; }`: the limiter's size is shared
 * between HTTP requests and job rows, each guaranteed its share and free to
 * borrow what the other leaves idle (fo_sem_partition), so a batch job
 * cannot take the gateway's capacity.
 */
static int build_partitions(struct fod_gen *g, const config_setting_t *e, struct fod_limiter *l)
{
	const config_setting_t *parts = child(g, e, "partitions");
	if (!parts)
		return 0;
	if (!config_setting_is_group(parts)) {
		error_at(g, parts, "'partitions' must be a group { http = 0.8; jobs = 0.2; }");
		return -EINVAL;
	}
	for (int i = 0; i < config_setting_length(parts); i++) {
		const char *key = config_setting_name(config_setting_get_elem(parts, (unsigned)i));
		if (strcmp(key, "http") != 0 && strcmp(key, "jobs") != 0) {
			error_at(g, config_setting_get_elem(parts, (unsigned)i),
				 "unknown partition '%s' (the partitions are 'http' and 'jobs')",
				 key);
			return -EINVAL;
		}
	}
	double shares[FOD_PARTITIONS];
	for (unsigned i = 0; i < FOD_PARTITIONS; i++)
		if (conf_double(g, parts, fod_partition_names[i], 0, 1, true, &shares[i]) < 0)
			return -EINVAL;
	if (shares[0] + shares[1] > 1 + 1e-9) {
		error_at(g, parts, "partition shares add up to %g: at most 1 (the size is shared)",
			 shares[0] + shares[1]);
		return -EINVAL;
	}
	int r = fo_sem_partition(fod_limiter_sem(l), shares, FOD_PARTITIONS);
	if (r < 0) {
		error_at(g, parts, "cannot partition limiter '%s': %s", l->name, strerror(-r));
		return r;
	}
	l->partitioned = true;
	return 0;
}

static int build_limiters(struct fod_gen *g)
{
	const config_setting_t *list = child(g, g->root, "limiters");
	if (!list)
		return 0;
	if (!config_setting_is_list(list)) {
		error_at(g, list, "'limiters' must be a list ( {...}, ... )");
		return -EINVAL;
	}
	g->nlimiters = (size_t)config_setting_length(list);
	g->limiters = calloc(g->nlimiters ? g->nlimiters : 1, sizeof(*g->limiters));
	for (size_t i = 0; i < g->nlimiters; i++) {
		const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
		const char *name = NULL, *module = NULL;
		if (conf_string(g, e, "name", true, &name) < 0 ||
		    conf_string(g, e, "module", true, &module) < 0)
			return -EINVAL;
		for (size_t j = 0; j < i; j++)
			if (strcmp(g->limiters[j].name, name) == 0) {
				error_at(g, e, "limiter '%s' is defined twice", name);
				return -EINVAL;
			}
		struct fod_limiter *l = &g->limiters[i];
		l->name = strdup(name);
		if (!l->name)
			return -ENOMEM;
		if (fod_instance_open(&l->in, g->sink, g->modules_path, module, FO_MODULE_LIMITER,
				      name, child(g, e, "module"), e, 0) < 0)
			return -EINVAL;
		l->ops = fod_instance_ops(&l->in);
		if (build_partitions(g, e, l) < 0)
			return -EINVAL;
	}
	return 0;
}

/* One module instance per downstream module name, shared by the branches that use it. */
static struct fod_downstream *downstream(struct fod_gen *g, const config_setting_t *where,
					 const char *name)
{
	for (size_t i = 0; i < g->ndownstreams; i++)
		if (strcmp(g->downstreams[i]->in.mod.desc->name, name) == 0)
			return g->downstreams[i];
	/* Each instance has its own allocation: branches keep pointers to it. */
	struct fod_downstream **all = realloc(g->downstreams, (g->ndownstreams + 1) * sizeof(*all));
	if (!all)
		return NULL;
	g->downstreams = all;
	struct fod_downstream *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	/* The module's own settings live in a top-level group of its name, if any. */
	const config_setting_t *own = child(g, child(g, g->root, "downstreams"), name);
	if (fod_instance_open(&d->in, g->sink, g->modules_path, name, FO_MODULE_DOWNSTREAM, name,
			      child(g, where, "downstream"), own, 0) < 0) {
		free(d);
		return NULL;
	}
	d->ops = fod_instance_ops(&d->in);
	g->downstreams[g->ndownstreams++] = d;
	return d;
}

static int build_branches(struct fod_gen *g, struct fod_route *rt, const config_setting_t *list)
{
	if (!list || !config_setting_is_list(list) || config_setting_length(list) == 0) {
		error_at(g, list ? list : rt->setting,
			 "route '%s' needs a non-empty 'branches' list", rt->name);
		return -EINVAL;
	}
	/* Count with replicas first: every replica is a branch of its own. */
	size_t total = 0;
	unsigned n = (unsigned)config_setting_length(list);
	for (unsigned i = 0; i < n; i++) {
		int64_t replicas = 1;
		if (conf_int(g, config_setting_get_elem(list, i), "replicas", 1, 100000, false,
			     &replicas) < 0)
			return -EINVAL;
		total += (size_t)replicas;
	}
	if (total > 100000) {
		error_at(g, list, "route '%s' has %zu branches (max 100000)", rt->name, total);
		return -EINVAL;
	}
	rt->branches = calloc(total, sizeof(*rt->branches));
	size_t k = 0;
	for (unsigned i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(list, i);
		const char *name = NULL, *ds = NULL;
		int64_t replicas = 1, weight = 1;
		int64_t timeout = 250 * FO_MSEC;
		if (conf_string(g, e, "name", true, &name) < 0 ||
		    conf_string(g, e, "downstream", true, &ds) < 0 ||
		    conf_int(g, e, "replicas", 1, 100000, false, &replicas) < 0 ||
		    conf_int(g, e, "weight", 1, 1 << 20, false, &weight) < 0 ||
		    conf_ms(g, e, "timeout_ms", 1, 3600000, &timeout) < 0)
			return -EINVAL;
		struct fod_downstream *d = downstream(g, e, ds);
		if (!d)
			return -EINVAL;
		for (int64_t r = 0; r < replicas; r++, k++) {
			struct fod_branch *b = &rt->branches[k];
			b->index = (unsigned)k;
			b->timeout_ns = timeout;
			b->weight = (uint32_t)weight;
			b->ds = d;
			if (replicas == 1)
				b->name = strdup(name);
			else if (asprintf(&b->name, "%s#%lld", name, (long long)r) < 0)
				b->name = NULL;
			rt->nbranches = k + 1;
			if (!b->name)
				return -ENOMEM;
			if (d->ops->branch_init &&
			    d->ops->branch_init(&d->in.self, (const struct fo_conf *)e, b->index,
						&b->ds_state) < 0) {
				error_at(g, e, "downstream %s refused branch '%s'", ds, b->name);
				b->ds = NULL;
				return -EINVAL;
			}
			b->metrics = fod_metrics_branch(rt->name, b->name);
		}
	}
	return 0;
}

static int build_policy(struct fod_gen *g, struct fod_route *rt)
{
	const char *name = "besteffort";
	if (conf_string(g, rt->setting, "policy", false, &name) < 0)
		return -EINVAL;
	if ((rt->policy = fo_policy_by_name(name)))
		return 0;
	/* Not built in: a policy module of that name. */
	if (fod_instance_open(&rt->policy_in, g->sink, g->modules_path, name, FO_MODULE_POLICY,
			      name, child(g, rt->setting, "policy"), rt->setting,
			      rt->nbranches) < 0)
		return -EINVAL;
	rt->policy = fod_instance_ops(&rt->policy_in);
	rt->policy_params = rt->policy_in.self.state; /* parsed once, handed to every unit */
	return 0;
}

static int build_routes(struct fod_gen *g)
{
	const config_setting_t *list = child(g, g->root, "routes");
	if (!list && config_setting_length(config_root_setting(&g->cfg)) == 0) {
		error_at(g, NULL,
			 "no settings at all (an empty file?): at least a 'routes' list "
			 "is needed, see fanoutd.conf(5)");
		return -EINVAL;
	}
	if (!list) {
		error_at(g, NULL, "no 'routes': a non-empty list of routes is needed");
		return -EINVAL;
	}
	if (!config_setting_is_list(list) || config_setting_length(list) == 0) {
		error_at(g, list ? list : config_root_setting(&g->cfg),
			 "'routes' must be a non-empty list");
		return -EINVAL;
	}
	g->nroutes = (size_t)config_setting_length(list);
	g->routes = calloc(g->nroutes, sizeof(*g->routes));
	for (size_t i = 0; i < g->nroutes; i++) {
		struct fod_route *rt = &g->routes[i];
		const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
		rt->setting = e;
		const char *name = NULL, *http = NULL, *job = NULL, *limiter = NULL;
		const char *alog_format = "text";
		int64_t limit = 0, min_ok = 1, ready_min_requests = 10;
		rt->ready_window_ns = 10 * FO_SEC;
		rt->budget_ns = 300 * FO_MSEC;
		rt->join_reserve_ns = 2 * FO_MSEC;
		rt->min_branch_ns = 1 * FO_MSEC;
		rt->max_budget_ns = 60 * FO_SEC;
		rt->allow_policy_override = true;
		if (conf_string(g, e, "name", true, &name) < 0 ||
		    conf_string(g, e, "http", false, &http) < 0 ||
		    conf_string(g, e, "job", false, &job) < 0 ||
		    conf_string(g, e, "limiter", false, &limiter) < 0 ||
		    conf_int(g, e, "limit", 0, 1000000, false, &limit) < 0 ||
		    conf_ms(g, e, "budget_ms", 1, 3600000, &rt->budget_ns) < 0 ||
		    conf_ms(g, e, "join_reserve_ms", 0, 60000, &rt->join_reserve_ns) < 0 ||
		    conf_ms(g, e, "min_branch_ms", 0, 60000, &rt->min_branch_ns) < 0 ||
		    conf_ms(g, e, "max_budget_ms", 1, 3600000, &rt->max_budget_ns) < 0 ||
		    fod_conf_bool(g->sink, e, "allow_policy_override", false,
				  &rt->allow_policy_override) < 0 ||
		    conf_int(g, e, "min_ok", 0, 100000, false, &min_ok) < 0 ||
		    conf_double(g, e, "ready_min_success", 0, 1, false, &rt->ready_min_success) < 0 ||
		    conf_ms(g, e, "ready_window_ms", 1000, 60000, &rt->ready_window_ns) < 0 ||
		    conf_int(g, e, "ready_min_requests", 1, 1000000, false, &ready_min_requests) < 0 ||
		    conf_string(g, e, "access_log", false, &rt->access_log) < 0 ||
		    conf_string(g, e, "access_log_format", false, &alog_format) < 0)
			return -EINVAL;
		rt->min_ok = (unsigned)min_ok;
		rt->ready_min_requests = (unsigned)ready_min_requests;
		if (rt->access_log && !*rt->access_log)
			rt->access_log = NULL; /* "": off, as when absent */
		rt->access_log_json = strcmp(alog_format, "json") == 0;
		if (!rt->access_log_json && strcmp(alog_format, "text") != 0) {
			error_at(g, child(g, e, "access_log_format"),
				 "'access_log_format' must be \"text\" or \"json\"");
			return -EINVAL;
		}
		rt->name = strdup(name);
		rt->limit = (unsigned)limit;
		if (!http && !job) {
			error_at(g, e, "route '%s' needs an 'http' path or a 'job' kind", name);
			return -EINVAL;
		}
		if (http) {
			/* "/product/{id}": the prefix before {id}; the id is the rest. */
			const char *brace = strstr(http, "{id}");
			if (http[0] != '/' || !brace || brace[4] != '\0') {
				error_at(g, child(g, e, "http"),
					 "'http' must be a path ending in {id}, like "
					 "\"/product/{id}\"");
				return -EINVAL;
			}
			rt->http_prefix = strndup(http, (size_t)(brace - http));
		}
		if (job)
			rt->job = strdup(job);
		if (limiter && !(rt->limiter = fod_gen_limiter(g, limiter))) {
			error_at(g, child(g, e, "limiter"), "no limiter named '%s'", limiter);
			return -EINVAL;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(g->routes[j].name, name) == 0 ||
			    (http && g->routes[j].http_prefix &&
			     strcmp(g->routes[j].http_prefix, rt->http_prefix) == 0)) {
				error_at(g, e, "route '%s' duplicates route '%s'", name,
					 g->routes[j].name);
				return -EINVAL;
			}
		/* Branches first: a policy module validates its parameters against them. */
		if (build_branches(g, rt, child(g, e, "branches")) < 0 || build_policy(g, rt) < 0)
			return -EINVAL;
		if (rt->min_ok > rt->nbranches) {
			error_at(g, child(g, e, "min_ok"),
				 "'min_ok' = %u is more than the %zu branches of route '%s'",
				 rt->min_ok, rt->nbranches, name);
			return -EINVAL;
		}
		rt->metrics = fod_metrics_route(rt->name);
	}
	return 0;
}

static int build_settings(struct fod_gen *g, const struct fod_overrides *ov)
{
	const config_setting_t *http = child(g, g->root, "http");
	const config_setting_t *api = child(g, g->root, "api");
	const config_setting_t *workers = child(g, g->root, "workers");
	const config_setting_t *modules = child(g, g->root, "modules");
	const config_setting_t *shutdown = child(g, g->root, "shutdown");
	const char *listen = "127.0.0.1:8080", *sock = "/run/fanoutd/fanoutd.sock",
		   *mpath = FOD_MODULEDIR, *amode = "0660", *agroup = "", *admin = "", *oper = "",
		   *jobgrp = "", *log_level = "info";
	const config_setting_t *root = g->root;
	g->log_failure_interval_ns = 10 * FO_SEC;
	int64_t loops = 0, pool = 4, maxconn = 10000, url = 2048, hdr = 8192, body = 0;
	int64_t api_maxconn = 64;
	g->api_idle_timeout_ns = 60 * FO_SEC;
	g->header_timeout_ns = 10 * FO_SEC;
	g->idle_timeout_ns = 60 * FO_SEC;
	g->drain_ns = 10 * FO_SEC;
	bool admin_on_public = false;
	if (fod_http_conf_listen(g->sink, http, "listen", listen, &g->http_listen) < 0 ||
	    fod_http_conf_listen(g->sink, http, "admin_listen", "", &g->http_admin_listen) < 0 ||
	    fod_conf_bool(g->sink, http, "admin_on_public", false, &admin_on_public) < 0 ||
	    conf_int(g, http, "max_connections", 1, 1000000, false, &maxconn) < 0 ||
	    conf_int(g, http, "max_url", 16, 65536, false, &url) < 0 ||
	    conf_int(g, http, "max_headers", 256, 1 << 20, false, &hdr) < 0 ||
	    conf_int(g, http, "max_body", 0, 1 << 30, false, &body) < 0 ||
	    conf_ms(g, http, "header_timeout_ms", 1, 3600000, &g->header_timeout_ns) < 0 ||
	    conf_ms(g, http, "idle_timeout_ms", 1, 86400000, &g->idle_timeout_ns) < 0 ||
	    conf_string(g, api, "socket", false, &sock) < 0 ||
	    conf_string(g, api, "mode", false, &amode) < 0 ||
	    conf_string(g, api, "group", false, &agroup) < 0 ||
	    conf_string(g, api, "admin_group", false, &admin) < 0 ||
	    conf_string(g, api, "operator_group", false, &oper) < 0 ||
	    conf_string(g, api, "job_group", false, &jobgrp) < 0 ||
	    conf_int(g, api, "max_connections", 1, 100000, false, &api_maxconn) < 0 ||
	    conf_ms(g, api, "idle_timeout_ms", 1, 86400000, &g->api_idle_timeout_ns) < 0 ||
	    conf_int(g, workers, "loops", 0, 256, false, &loops) < 0 ||
	    conf_int(g, workers, "pool", 1, 4096, false, &pool) < 0 ||
	    conf_string(g, modules, "path", false, &mpath) < 0 ||
	    conf_ms(g, shutdown, "drain_ms", 0, 3600000, &g->drain_ns) < 0 ||
	    conf_string(g, root, "log_level", false, &log_level) < 0 ||
	    conf_ms(g, root, "log_failure_interval_ms", 100, 3600000, &g->log_failure_interval_ns) < 0)
		return -EINVAL;
	if ((g->log_level = fod_log_level_parse(log_level)) < 0) {
		error_at(g, child(g, root, "log_level"),
			 "'log_level' must be err, warning, notice, info or debug");
		return -EINVAL;
	}
	if (ov && ov->listen) {
		free(g->http_listen);
		g->http_listen = strdup(ov->listen);
	}
	g->http_admin_on_public = admin_on_public;
	g->api_socket = strdup(ov && ov->socket ? ov->socket : sock);
	g->modules_path = strdup(ov && ov->modules ? ov->modules : mpath);
	char *end;
	long m = strtol(amode, &end, 8);
	if (*end || m < 0 || m > 0777) {
		error_at(g, child(g, api, "mode"), "'mode' must be octal, like \"0660\"");
		return -EINVAL;
	}
	g->api_mode = strdup(amode);
	g->api_group = strdup(agroup);
	g->api_admin_group = strdup(admin);
	g->api_operator_group = strdup(oper);
	g->api_job_group = strdup(jobgrp);
	g->loops = (unsigned)loops;
	g->pool_threads = (unsigned)pool;
	g->max_connections = (long)maxconn;
	g->api_max_connections = (long)api_maxconn;
	g->max_url = (size_t)url;
	g->max_headers = (size_t)hdr;
	g->max_body = (size_t)body;
	return 0;
}

static void forget_sink(struct fod_instance *in)
{
	in->sink = NULL;
}

static void for_each_instance(struct fod_gen *g, void (*fn)(struct fod_instance *in))
{
	for (size_t i = 0; i < g->nlimiters; i++)
		fn(&g->limiters[i].in);
	for (size_t i = 0; i < g->ndownstreams; i++)
		fn(&g->downstreams[i]->in);
	for (size_t i = 0; i < g->nroutes; i++)
		fn(&g->routes[i].policy_in);
}

/*
 * libconfig 1.5's scanner exits the whole process (flex's fatal error) when an
 * @include opens but cannot be read, as a directory does: a reload naming one
 * would kill the daemon instead of being refused. So the includes are looked
 * at first, resolved as libconfig does (relative to dir unless absolute), to
 * libconfig's depth of 10; the rest of their checking stays libconfig's.
 * 0, 1 to stop looking (libconfig will refuse the nesting), or -EISDIR.
 */
static int check_includes(const char *file, const char *dir, int depth, char *err, size_t errlen)
{
	if (depth > 10)
		return 1;
	FILE *f = fopen(file, "r");
	if (!f)
		return 0;
	char *line = NULL, *name = NULL, *inc = NULL;
	size_t cap = 0;
	unsigned lineno = 0;
	int r = 0;
	while (r == 0 && getline(&line, &cap, f) >= 0) {
		lineno++;
		const char *p = line + strspn(line, " \t");
		if (strncmp(p, "@include", 8) != 0 || !strchr(" \t", p[8]) || !p[8])
			continue;
		p += 8 + strspn(p + 8, " \t");
		if (*p++ != '"')
			continue;
		free(name);
		name = malloc(strlen(p) + 1);
		size_t n = 0;
		for (; name && *p && *p != '"'; p++) {
			if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
				p++;
			name[n++] = *p;
		}
		if (!name)
			break;
		name[n] = '\0';
		free(inc);
		bool relative = dir && name[0] != '/';
		if (asprintf(&inc, "%s%s%s", relative ? dir : "", relative ? "/" : "", name) < 0) {
			inc = NULL;
			break;
		}
		struct stat st;
		if (stat(inc, &st) < 0)
			continue; /* libconfig says it cannot open it */
		if (S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "%s:%u: @include \"%s\" is a directory", file, lineno,
				 name);
			r = -EISDIR;
		} else if (S_ISREG(st.st_mode)) {
			r = check_includes(inc, dir, depth + 1, err, errlen);
		}
	}
	free(line);
	free(name);
	free(inc);
	fclose(f);
	return r;
}

struct fod_gen *fod_gen_build(const char *path, const struct fod_overrides *ov, char *err,
			      size_t errlen)
{
	static atomic_ulong next_id = 1;
	static pthread_mutex_t serial = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&serial);
	struct fod_conf_sink sink;
	fod_conf_sink_init(&sink, path, err, errlen);
	struct fod_gen *g = calloc(1, sizeof(*g));
	if (!g) {
		snprintf(err, errlen, "%s: out of memory", path);
		pthread_mutex_unlock(&serial);
		return NULL;
	}
	g->sink = &sink;
	atomic_init(&g->refs, 1);
	g->id = atomic_fetch_add(&next_id, 1);
	g->path = strdup(path);
	config_init(&g->cfg);
	/* @include paths are relative to the including file's directory. */
	char *dir = strdup(path), *slash = strrchr(dir, '/');
	if (slash) {
		*slash = '\0';
		config_set_include_dir(&g->cfg, dir);
	}
	int inc = check_includes(path, slash ? dir : NULL, 1, err, errlen);
	free(dir);
	struct stat st;
	if (inc < 0) {
		sink.failed = true;
	} else if (stat(path, &st) < 0) {
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		sink.failed = true;
	} else if (S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: is a directory, not a configuration file", path);
		sink.failed = true;
	} else if (!config_read_file(&g->cfg, path)) {
		/* libconfig leaves errno as it happens to be: do not print "Success". */
		int e = errno;
		if (config_error_type(&g->cfg) == CONFIG_ERR_FILE_IO)
			snprintf(err, errlen, "%s: cannot read: %s", path,
				 e ? strerror(e) : "read error");
		else
			snprintf(err, errlen, "%s:%d: %s",
				 config_error_file(&g->cfg) ? config_error_file(&g->cfg) : path,
				 config_error_line(&g->cfg), config_error_text(&g->cfg));
		sink.failed = true;
	} else if ((g->root = config_root_setting(&g->cfg)),
		   build_settings(g, ov) < 0 || build_limiters(g) < 0 || build_routes(g) < 0 ||
			   fod_conf_check_unknown(&sink, g->root) < 0) {
		sink.failed = true;
	} else if (!(g->pool = fo_pool_new(g->pool_threads))) {
		snprintf(err, errlen, "cannot start the worker pool: %s", strerror(errno));
		sink.failed = true;
	}
	if (sink.failed && !err[0])
		snprintf(err, errlen, "%s: invalid configuration", path);
	bool failed = sink.failed;
	/* The sink lives on this stack: nobody reports into it after the build. */
	g->sink = NULL;
	for_each_instance(g, forget_sink);
	fod_conf_sink_fini(&sink);
	pthread_mutex_unlock(&serial);
	if (failed) {
		fod_gen_unref(g);
		return NULL;
	}
	return g;
}

struct fod_gen *fod_gen_ref(struct fod_gen *g)
{
	atomic_fetch_add(&g->refs, 1);
	return g;
}

void fod_gen_unref(struct fod_gen *g)
{
	if (!g || atomic_fetch_sub(&g->refs, 1) != 1)
		return;
	for (size_t i = 0; i < g->nroutes; i++) {
		struct fod_route *rt = &g->routes[i];
		for (size_t j = 0; j < rt->nbranches; j++) {
			struct fod_branch *b = &rt->branches[j];
			if (b->ds && b->ds->ops->branch_fini)
				b->ds->ops->branch_fini(&b->ds->in.self, b->ds_state);
			fod_metrics_branch_put(b->metrics);
			free(b->name);
		}
		fod_instance_close(&rt->policy_in);
		fod_metrics_route_put(rt->metrics);
		free(rt->branches);
		free(rt->name);
		free(rt->http_prefix);
		free(rt->job);
	}
	for (size_t i = 0; i < g->ndownstreams; i++) {
		fod_instance_close(&g->downstreams[i]->in);
		free(g->downstreams[i]);
	}
	for (size_t i = 0; i < g->nlimiters; i++) {
		struct fod_limiter *l = &g->limiters[i];
		fod_instance_close(&l->in);
		free(l->name);
	}
	fo_pool_free(g->pool);
	free(g->routes);
	free(g->downstreams);
	free(g->limiters);
	free(g->http_listen);
	free(g->http_admin_listen);
	free(g->api_socket);
	free(g->modules_path);
	free(g->api_mode);
	free(g->api_group);
	free(g->api_admin_group);
	free(g->api_operator_group);
	free(g->api_job_group);
	free(g->path);
	config_destroy(&g->cfg);
	free(g);
}

static pthread_mutex_t current_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fod_gen *current;

struct fod_gen *fod_gen_current(void)
{
	pthread_mutex_lock(&current_lock);
	struct fod_gen *g = current ? fod_gen_ref(current) : NULL;
	pthread_mutex_unlock(&current_lock);
	return g;
}

void fod_gen_publish(struct fod_gen *g)
{
	pthread_mutex_lock(&current_lock);
	struct fod_gen *old = current;
	current = g;
	pthread_mutex_unlock(&current_lock);
	fod_gen_unref(old); /* freed when its last request lets go */
}

struct fod_route *fod_gen_route_http(struct fod_gen *g, const char *path, const char **rest)
{
	for (size_t i = 0; i < g->nroutes; i++) {
		const char *p = g->routes[i].http_prefix;
		if (p && strncmp(path, p, strlen(p)) == 0) {
			*rest = path + strlen(p);
			return &g->routes[i];
		}
	}
	return NULL;
}

struct fod_route *fod_gen_route_job(struct fod_gen *g, const char *kind)
{
	for (size_t i = 0; i < g->nroutes; i++)
		if (g->routes[i].job && strcmp(g->routes[i].job, kind) == 0)
			return &g->routes[i];
	return NULL;
}

struct fod_limiter *fod_gen_limiter(struct fod_gen *g, const char *name)
{
	for (size_t i = 0; i < g->nlimiters; i++)
		if (strcmp(g->limiters[i].name, name) == 0)
			return &g->limiters[i];
	return NULL;
}
