/* SPDX-License-Identifier: MIT */
/*
 * Building a generation from the config file: settings, limiter and
 * downstream instances, routes with their branches and policies, the pool.
 * Everything is validated here, so a bad config (at start or at reload) is
 * refused with "file:line: message" before anything runs on it.
 */
#include "gen.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "call.h"
#include "gateway.h"
#include "log.h"
#include "metrics.h"

#ifndef FOD_MODULEDIR
#define FOD_MODULEDIR "/usr/lib/fanoutd/modules"
#endif

/* ---- errors: the first one of a build wins; builds run one at a time */

static char *build_err;
static size_t build_errlen;
static bool build_failed;

static void verror_at(const config_setting_t *s, const char *fmt, va_list ap)
{
	if (build_failed)
		return;
	build_failed = true;
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	const char *file = s ? config_setting_source_file(s) : NULL;
	snprintf(build_err, build_errlen, "%s:%u: %s", file ? file : "(config)",
		 s ? config_setting_source_line(s) : 0, msg);
}

static void error_at(const config_setting_t *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void error_at(const config_setting_t *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verror_at(s, fmt, ap);
	va_end(ap);
}

/* ---- config readers (also the modules', through the core API) */

/* 1 with *v set, 0 when an optional setting is absent, -EINVAL when a required one is. */
static int member(const config_setting_t *s, const char *name, bool required,
		  const config_setting_t **v)
{
	*v = s ? config_setting_get_member(s, name) : NULL;
	if (*v)
		return 1;
	if (required) {
		error_at(s, "'%s' is required", name);
		return -EINVAL;
	}
	return 0;
}

static int conf_int(const config_setting_t *s, const char *name, long long min, long long max,
		    bool required, long long *out)
{
	const config_setting_t *v;
	int r = member(s, name, required, &v);
	if (r <= 0)
		return r;
	int t = config_setting_type(v);
	if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) {
		error_at(v, "'%s' must be an integer", name);
		return -EINVAL;
	}
	long long x = config_setting_get_int64(v);
	if (x < min || x > max) {
		error_at(v, "'%s' = %lld is out of range [%lld, %lld]", name, x, min, max);
		return -EINVAL;
	}
	*out = x;
	return 0;
}

static int conf_double(const config_setting_t *s, const char *name, double min, double max,
		       bool required, double *out)
{
	const config_setting_t *v;
	int r = member(s, name, required, &v);
	if (r <= 0)
		return r;
	int t = config_setting_type(v);
	double x;
	if (t == CONFIG_TYPE_FLOAT)
		x = config_setting_get_float(v);
	else if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64)
		x = (double)config_setting_get_int64(v);
	else {
		error_at(v, "'%s' must be a number", name);
		return -EINVAL;
	}
	if (!(x >= min && x <= max)) {
		error_at(v, "'%s' = %g is out of range [%g, %g]", name, x, min, max);
		return -EINVAL;
	}
	*out = x;
	return 0;
}

static int conf_string(const config_setting_t *s, const char *name, bool required, const char **out)
{
	const config_setting_t *v;
	int r = member(s, name, required, &v);
	if (r <= 0)
		return r;
	if (config_setting_type(v) != CONFIG_TYPE_STRING) {
		error_at(v, "'%s' must be a string", name);
		return -EINVAL;
	}
	*out = config_setting_get_string(v);
	return 0;
}

static int conf_ms(const config_setting_t *s, const char *name, long long min, long long max,
		   int64_t *out_ns)
{
	long long ms = *out_ns / FO_MSEC;
	int r = conf_int(s, name, min, max, false, &ms);
	*out_ns = ms * FO_MSEC;
	return r;
}

static void conf_error(const config_setting_t *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verror_at(s, fmt, ap);
	va_end(ap);
}

const struct fo_core_api fod_core_api = {
	.size = sizeof(struct fo_core_api),
	.log = fo_log,
	.conf_int = conf_int,
	.conf_double = conf_double,
	.conf_error = conf_error,
	.call_done = fod_call_done,
};

/* ---- pieces */

static int load(struct fod_gen *g, const config_setting_t *where, const char *name,
		enum fo_module_type type, struct fod_module *m)
{
	char err[512];
	int r = fod_module_open(g->modules_path, name, type, m, err, sizeof(err));
	if (r < 0)
		error_at(where, "%s", err);
	return r;
}

static int init_instance(struct fod_module *m, const config_setting_t *conf, void **state)
{
	if (!m->desc->init) {
		*state = NULL;
		return 0;
	}
	int r = m->desc->init(&fod_core_api, conf, state);
	if (r < 0)
		error_at(conf, "module %s failed to initialise: %s", m->desc->name, strerror(-r));
	return r;
}

static int build_limiters(struct fod_gen *g)
{
	const config_setting_t *list = config_lookup(&g->cfg, "limiters");
	if (!list)
		return 0;
	if (!config_setting_is_list(list)) {
		error_at(list, "'limiters' must be a list ( {...}, ... )");
		return -EINVAL;
	}
	g->nlimiters = (size_t)config_setting_length(list);
	g->limiters = calloc(g->nlimiters ? g->nlimiters : 1, sizeof(*g->limiters));
	for (size_t i = 0; i < g->nlimiters; i++) {
		const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
		const char *name = NULL, *module = NULL;
		if (conf_string(e, "name", true, &name) < 0 ||
		    conf_string(e, "module", true, &module) < 0)
			return -EINVAL;
		for (size_t j = 0; j < i; j++)
			if (strcmp(g->limiters[j].name, name) == 0) {
				error_at(e, "limiter '%s' is defined twice", name);
				return -EINVAL;
			}
		struct fod_limiter *l = &g->limiters[i];
		l->name = strdup(name);
		if (load(g, e, module, FO_MODULE_LIMITER, &l->mod) < 0 ||
		    init_instance(&l->mod, e, &l->state) < 0) {
			fod_module_close(&l->mod);
			return -EINVAL;
		}
		l->ops = l->mod.desc->ops;
	}
	return 0;
}

/* One module instance per downstream module name, shared by the branches that use it. */
static struct fod_downstream *downstream(struct fod_gen *g, const config_setting_t *where,
					 const char *name)
{
	for (size_t i = 0; i < g->ndownstreams; i++)
		if (strcmp(g->downstreams[i]->mod.desc->name, name) == 0)
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
	const config_setting_t *own = config_lookup(&g->cfg, "downstreams");
	own = own ? config_setting_get_member(own, name) : NULL;
	if (load(g, where, name, FO_MODULE_DOWNSTREAM, &d->mod) < 0) {
		free(d);
		return NULL;
	}
	if (init_instance(&d->mod, own ? own : where, &d->state) < 0) {
		fod_module_close(&d->mod);
		free(d);
		return NULL;
	}
	d->ops = d->mod.desc->ops;
	g->downstreams[g->ndownstreams++] = d;
	return d;
}

static int build_branches(struct fod_gen *g, struct fod_route *rt, const config_setting_t *list)
{
	if (!list || !config_setting_is_list(list) || config_setting_length(list) == 0) {
		error_at(list ? list : rt->setting, "route '%s' needs a non-empty 'branches' list",
			 rt->name);
		return -EINVAL;
	}
	/* Count with replicas first: every replica is a branch of its own. */
	size_t total = 0;
	unsigned n = (unsigned)config_setting_length(list);
	for (unsigned i = 0; i < n; i++) {
		long long replicas = 1;
		if (conf_int(config_setting_get_elem(list, i), "replicas", 1, 100000, false,
			     &replicas) < 0)
			return -EINVAL;
		total += (size_t)replicas;
	}
	if (total > 100000) {
		error_at(list, "route '%s' has %zu branches (max 100000)", rt->name, total);
		return -EINVAL;
	}
	rt->branches = calloc(total, sizeof(*rt->branches));
	size_t k = 0;
	for (unsigned i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(list, i);
		const char *name = NULL, *ds = NULL;
		long long replicas = 1, weight = 1;
		int64_t timeout = 250 * FO_MSEC;
		if (conf_string(e, "name", true, &name) < 0 ||
		    conf_string(e, "downstream", true, &ds) < 0 ||
		    conf_int(e, "replicas", 1, 100000, false, &replicas) < 0 ||
		    conf_int(e, "weight", 1, 1 << 20, false, &weight) < 0 ||
		    conf_ms(e, "timeout_ms", 1, 3600000, &timeout) < 0)
			return -EINVAL;
		struct fod_downstream *d = downstream(g, e, ds);
		if (!d)
			return -EINVAL;
		for (long long r = 0; r < replicas; r++, k++) {
			struct fod_branch *b = &rt->branches[k];
			b->index = (unsigned)k;
			b->timeout_ns = timeout;
			b->weight = (uint32_t)weight;
			b->ds = d;
			if (replicas == 1)
				b->name = strdup(name);
			else if (asprintf(&b->name, "%s#%lld", name, r) < 0)
				b->name = NULL;
			rt->nbranches = k + 1;
			if (!b->name)
				return -ENOMEM;
			if (d->ops->branch_init &&
			    d->ops->branch_init(d->state, e, b->index, &b->ds_state) < 0) {
				error_at(e, "downstream %s refused branch '%s'", ds, b->name);
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
	if (conf_string(rt->setting, "policy", false, &name) < 0)
		return -EINVAL;
	if ((rt->policy = fo_policy_by_name(name)))
		return 0;
	/* Not built in: a policy module of that name. */
	if (load(g, config_setting_get_member(rt->setting, "policy"), name, FO_MODULE_POLICY,
		 &rt->policy_mod) < 0 ||
	    init_instance(&rt->policy_mod, rt->setting, &rt->policy_state) < 0)
		return -EINVAL;
	rt->policy = rt->policy_mod.desc->ops;
	return 0;
}

static int build_routes(struct fod_gen *g)
{
	const config_setting_t *list = config_lookup(&g->cfg, "routes");
	if (!list || !config_setting_is_list(list) || config_setting_length(list) == 0) {
		error_at(list ? list : config_root_setting(&g->cfg),
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
		long long limit = 0;
		rt->budget_ns = 300 * FO_MSEC;
		rt->join_reserve_ns = 2 * FO_MSEC;
		rt->min_branch_ns = 1 * FO_MSEC;
		if (conf_string(e, "name", true, &name) < 0 ||
		    conf_string(e, "http", false, &http) < 0 ||
		    conf_string(e, "job", false, &job) < 0 ||
		    conf_string(e, "limiter", false, &limiter) < 0 ||
		    conf_int(e, "limit", 0, 1000000, false, &limit) < 0 ||
		    conf_ms(e, "budget_ms", 1, 3600000, &rt->budget_ns) < 0 ||
		    conf_ms(e, "join_reserve_ms", 0, 60000, &rt->join_reserve_ns) < 0 ||
		    conf_ms(e, "min_branch_ms", 0, 60000, &rt->min_branch_ns) < 0)
			return -EINVAL;
		rt->name = strdup(name);
		rt->limit = (unsigned)limit;
		if (!http && !job) {
			error_at(e, "route '%s' needs an 'http' path or a 'job' kind", name);
			return -EINVAL;
		}
		if (http) {
			/* "/product/{id}": the prefix before {id}; the id is the rest. */
			const char *brace = strstr(http, "{id}");
			if (http[0] != '/' || !brace || brace[4] != '\0') {
				error_at(config_setting_get_member(e, "http"),
					 "'http' must be a path ending in {id}, like "
					 "\"/product/{id}\"");
				return -EINVAL;
			}
			rt->http_prefix = strndup(http, (size_t)(brace - http));
		}
		if (job)
			rt->job = strdup(job);
		if (limiter && !(rt->limiter = fod_gen_limiter(g, limiter))) {
			error_at(config_setting_get_member(e, "limiter"), "no limiter named '%s'",
				 limiter);
			return -EINVAL;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(g->routes[j].name, name) == 0 ||
			    (http && g->routes[j].http_prefix &&
			     strcmp(g->routes[j].http_prefix, rt->http_prefix) == 0)) {
				error_at(e, "route '%s' duplicates route '%s'", name,
					 g->routes[j].name);
				return -EINVAL;
			}
		if (build_policy(g, rt) < 0 ||
		    build_branches(g, rt, config_setting_get_member(e, "branches")) < 0)
			return -EINVAL;
		rt->metrics = fod_metrics_route(rt->name);
	}
	return 0;
}

static int build_settings(struct fod_gen *g, const struct fod_overrides *ov)
{
	const config_setting_t *http = config_lookup(&g->cfg, "http");
	const config_setting_t *api = config_lookup(&g->cfg, "api");
	const config_setting_t *workers = config_lookup(&g->cfg, "workers");
	const config_setting_t *modules = config_lookup(&g->cfg, "modules");
	const config_setting_t *shutdown = config_lookup(&g->cfg, "shutdown");
	const char *listen = "127.0.0.1:8080", *sock = "/run/fanoutd/fanoutd.sock",
		   *mpath = FOD_MODULEDIR, *amode = "0660", *agroup = "", *admin = "", *oper = "";
	long long loops = 0, pool = 4, maxconn = 10000, url = 2048, hdr = 8192, body = 0;
	g->header_timeout_ns = 10 * FO_SEC;
	g->idle_timeout_ns = 60 * FO_SEC;
	g->drain_ns = 10 * FO_SEC;
	if (conf_string(http, "listen", false, &listen) < 0 ||
	    conf_int(http, "max_connections", 1, 1000000, false, &maxconn) < 0 ||
	    conf_int(http, "max_url", 16, 65536, false, &url) < 0 ||
	    conf_int(http, "max_headers", 256, 1 << 20, false, &hdr) < 0 ||
	    conf_int(http, "max_body", 0, 1 << 30, false, &body) < 0 ||
	    conf_ms(http, "header_timeout_ms", 1, 3600000, &g->header_timeout_ns) < 0 ||
	    conf_ms(http, "idle_timeout_ms", 1, 86400000, &g->idle_timeout_ns) < 0 ||
	    conf_string(api, "socket", false, &sock) < 0 ||
	    conf_string(api, "mode", false, &amode) < 0 ||
	    conf_string(api, "group", false, &agroup) < 0 ||
	    conf_string(api, "admin_group", false, &admin) < 0 ||
	    conf_string(api, "operator_group", false, &oper) < 0 ||
	    conf_int(workers, "loops", 0, 256, false, &loops) < 0 ||
	    conf_int(workers, "pool", 1, 4096, false, &pool) < 0 ||
	    conf_string(modules, "path", false, &mpath) < 0 ||
	    conf_ms(shutdown, "drain_ms", 0, 3600000, &g->drain_ns) < 0)
		return -EINVAL;
	g->http_listen = strdup(ov && ov->listen ? ov->listen : listen);
	g->api_socket = strdup(ov && ov->socket ? ov->socket : sock);
	g->modules_path = strdup(ov && ov->modules ? ov->modules : mpath);
	char *end;
	long m = strtol(amode, &end, 8);
	if (*end || m < 0 || m > 0777) {
		error_at(config_setting_get_member(api, "mode"),
			 "'mode' must be octal, like \"0660\"");
		return -EINVAL;
	}
	g->api_mode = strdup(amode);
	g->api_group = strdup(agroup);
	g->api_admin_group = strdup(admin);
	g->api_operator_group = strdup(oper);
	g->loops = (unsigned)loops;
	g->pool_threads = (unsigned)pool;
	g->max_connections = (long)maxconn;
	g->max_url = (size_t)url;
	g->max_headers = (size_t)hdr;
	g->max_body = (size_t)body;
	return 0;
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
	build_err = err;
	build_errlen = errlen;
	build_failed = false;
	err[0] = '\0';
	struct fod_gen *g = calloc(1, sizeof(*g));
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
	if (inc < 0) {
		build_failed = true;
	} else if (!config_read_file(&g->cfg, path)) {
		if (config_error_type(&g->cfg) == CONFIG_ERR_FILE_IO)
			snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		else
			snprintf(err, errlen, "%s:%d: %s",
				 config_error_file(&g->cfg) ? config_error_file(&g->cfg) : path,
				 config_error_line(&g->cfg), config_error_text(&g->cfg));
		build_failed = true;
	} else if (build_settings(g, ov) < 0 || build_limiters(g) < 0 || build_routes(g) < 0) {
		build_failed = true;
	} else if (!(g->pool = fo_pool_new(g->pool_threads))) {
		snprintf(err, errlen, "cannot start the worker pool: %s", strerror(errno));
		build_failed = true;
	}
	if (build_failed && !err[0])
		snprintf(err, errlen, "%s: invalid configuration", path);
	bool failed = build_failed;
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
				b->ds->ops->branch_fini(b->ds_state);
			free(b->name);
		}
		if (rt->policy_mod.desc && rt->policy_mod.desc->fini)
			rt->policy_mod.desc->fini(rt->policy_state);
		fod_module_close(&rt->policy_mod);
		free(rt->branches);
		free(rt->name);
		free(rt->http_prefix);
		free(rt->job);
	}
	for (size_t i = 0; i < g->ndownstreams; i++) {
		if (g->downstreams[i]->mod.desc->fini)
			g->downstreams[i]->mod.desc->fini(g->downstreams[i]->state);
		fod_module_close(&g->downstreams[i]->mod);
		free(g->downstreams[i]);
	}
	for (size_t i = 0; i < g->nlimiters; i++) {
		struct fod_limiter *l = &g->limiters[i];
		if (l->mod.desc && l->mod.desc->fini)
			l->mod.desc->fini(l->state);
		fod_module_close(&l->mod);
		free(l->name);
	}
	fo_pool_free(g->pool);
	free(g->routes);
	free(g->downstreams);
	free(g->limiters);
	free(g->http_listen);
	free(g->api_socket);
	free(g->modules_path);
	free(g->api_mode);
	free(g->api_group);
	free(g->api_admin_group);
	free(g->api_operator_group);
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
