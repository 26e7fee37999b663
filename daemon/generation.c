/* SPDX-License-Identifier: MIT */
/*
 * Building a generation from the config file: settings, limiter and
 * downstream instances, routes with their branches and policies, the pool.
 * Everything is validated here, so a bad config (at start or at reload) is
 * refused with "file:line: message" before anything runs on it.
 */
#include "generation.h"

#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <netdb.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "call.h"
#include "faults.h"
#include "gateway.h"
#include "hedge.h"
#include "http.h"
#include "includes.h"
#include "log.h"
#include "metrics.h"
#include "query.h"

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

/* An allocation failed: the build is refused saying so, at the setting it was for. */
static int oom(struct fod_gen *g, const config_setting_t *at)
{
	error_at(g, at, "out of memory");
	return -ENOMEM;
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
	size_t n = (size_t)config_setting_length(list);
	if (!(g->limiters = calloc(n ? n : 1, sizeof(*g->limiters))))
		return oom(g, list);
	g->nlimiters = n;
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
			return oom(g, e);
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
	if (!all) {
		oom(g, where);
		return NULL;
	}
	g->downstreams = all;
	struct fod_downstream *d = calloc(1, sizeof(*d));
	if (!d) {
		oom(g, where);
		return NULL;
	}
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

static int check_branch_names(struct fod_gen *g, struct fod_route *rt);

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
	if (total > g->max_branches) {
		error_at(g, list, "route '%s' has %zu branches (max %zu)", rt->name, total,
			 g->max_branches);
		return -EINVAL;
	}
	if (!(rt->branches = calloc(total, sizeof(*rt->branches))))
		return oom(g, list);
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
			b->setting = e;
			b->timeout_ns = timeout;
			b->weight = (uint32_t)weight;
			b->ds = d;
			if (replicas == 1)
				b->name = strdup(name);
			else if (asprintf(&b->name, "%s#%lld", name, (long long)r) < 0)
				b->name = NULL;
			rt->nbranches = k + 1;
			if (!b->name)
				return oom(g, e);
			int rc = d->ops->branch_init
					 ? d->ops->branch_init(&d->in.self,
							       (const struct fo_conf *)e, b->index,
							       &b->ds_state)
					 : 0;
			if (rc < 0) {
				/* A module that said why has refused the configuration already. */
				error_at(g, e, "downstream %s refused branch '%s': %s", ds, b->name,
					 strerror(-rc));
				b->ds = NULL;
				return -EINVAL;
			}
			if (!(b->metrics = fod_metrics_branch(rt->name, b->name)))
				return oom(g, e);
			if (fod_hedge_init(g, rt, b, e) < 0)
				return -EINVAL;
		}
	}
	return check_branch_names(g, rt);
}

struct named_branch {
	const char *name;
	const config_setting_t *at;
};

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct named_branch *)a)->name,
		      ((const struct named_branch *)b)->name);
}

/*
 * Branch names are the keys of the joined JSON: two of one name would give
 * an object with the key twice. Sorted, so that 100,000 branches take no
 * quadratic time; a replica's "name#N" counts as its name.
 */
static int check_branch_names(struct fod_gen *g, struct fod_route *rt)
{
	struct named_branch *all = calloc(rt->nbranches, sizeof(*all));
	if (!all)
		return oom(g, rt->setting);
	for (size_t i = 0; i < rt->nbranches; i++)
		all[i] = (struct named_branch){rt->branches[i].name, rt->branches[i].setting};
	qsort(all, rt->nbranches, sizeof(*all), by_name);
	int r = 0;
	for (size_t i = 1; i < rt->nbranches && r == 0; i++)
		if (strcmp(all[i - 1].name, all[i].name) == 0) {
			/* The later one in the file is the duplicate. */
			const config_setting_t *at =
				config_setting_index(all[i].at) >
						config_setting_index(all[i - 1].at)
					? all[i].at
					: all[i - 1].at;
			error_at(g, at, "route '%s' has two branches named '%s'", rt->name,
				 all[i].name);
			r = -EINVAL;
		}
	free(all);
	return r;
}

static int by_string(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * A policy that is neither built in nor a module file: the names there are,
 * rather than the loader's "cannot load module ...". The modules directory
 * is looked through only then, each file opened to see if it is a policy.
 */
static void no_such_policy(struct fod_gen *g, const config_setting_t *at, const char *name)
{
	char list[512] = "";
	size_t n = 0, count = 0;
	char *names[64];
	DIR *d = opendir(g->modules_path);
	for (struct dirent *de; d && count < 64 && (de = readdir(d));) {
		size_t len = strlen(de->d_name);
		if (len <= 3 || strcmp(de->d_name + len - 3, ".so") != 0)
			continue;
		char *stem = strndup(de->d_name, len - 3), err[512];
		struct fod_module m;
		if (stem && fod_module_open(g->modules_path, stem, FO_MODULE_POLICY, &m, err,
					    sizeof(err)) == 0) {
			fod_module_close(&m);
			names[count++] = stem;
		} else {
			free(stem);
		}
	}
	if (d)
		closedir(d);
	qsort(names, count, sizeof(names[0]), by_string);
	for (size_t i = 0; i < count; i++) {
		if (n < sizeof(list))
			n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "",
					      names[i]);
		free(names[i]);
	}
	if (count)
		error_at(g, at,
			 "no policy named '%s' (failfast, collectall, besteffort, or a policy "
			 "module: %s)",
			 name, list);
	else
		error_at(g, at,
			 "no policy named '%s' (failfast, collectall or besteffort; no policy "
			 "module in %s)",
			 name, g->modules_path);
}

static int build_policy(struct fod_gen *g, struct fod_route *rt)
{
	const char *name = "besteffort";
	if (conf_string(g, rt->setting, "policy", false, &name) < 0)
		return -EINVAL;
	if ((rt->policy = fo_policy_by_name(name)))
		return 0;
	char *file;
	if (asprintf(&file, "%s/%s.so", g->modules_path, name) < 0)
		return oom(g, child(g, rt->setting, "policy"));
	bool absent = access(file, F_OK) < 0 && errno == ENOENT;
	free(file);
	if (absent) {
		no_such_policy(g, child(g, rt->setting, "policy"), name);
		return -EINVAL;
	}
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
	/* A back tier may serve the sim endpoint alone (etc/two-tier/back.conf). */
	if (!list && g->sim_endpoint.enabled)
		return 0;
	if (!list) {
		error_at(g, NULL,
			 "no 'routes': a non-empty list of routes is needed (or an enabled "
			 "sim_endpoint)");
		return -EINVAL;
	}
	if (!config_setting_is_list(list) || config_setting_length(list) == 0) {
		error_at(g, list ? list : config_root_setting(&g->cfg),
			 "'routes' must be a non-empty list");
		return -EINVAL;
	}
	if (!(g->routes = calloc((size_t)config_setting_length(list), sizeof(*g->routes))))
		return oom(g, list);
	g->nroutes = (size_t)config_setting_length(list);
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
		    conf_double(g, e, "ready_min_success", 0, 1, false, &rt->ready_min_success) <
			    0 ||
		    conf_ms(g, e, "ready_window_ms", 1000, 60000, &rt->ready_window_ns) < 0 ||
		    conf_int(g, e, "ready_min_requests", 1, 1000000, false, &ready_min_requests) <
			    0 ||
		    conf_string(g, e, "access_log", false, &rt->access_log) < 0 ||
		    conf_string(g, e, "access_log_format", false, &alog_format) < 0)
			return -EINVAL;
		if (rt->join_reserve_ns >= rt->budget_ns) {
			const config_setting_t *at = child(g, e, "join_reserve_ms");
			error_at(g,
				 at			    ? at
				 : child(g, e, "budget_ms") ? child(g, e, "budget_ms")
							    : e,
				 "'join_reserve_ms' = %lld is not below 'budget_ms' = %lld: the "
				 "branches would have no time (their deadline is budget - reserve)",
				 (long long)(rt->join_reserve_ns / FO_MSEC),
				 (long long)(rt->budget_ns / FO_MSEC));
			return -EINVAL;
		}
		if (rt->budget_ns < fod_query_min_budget_ns(rt)) {
			const config_setting_t *at = child(g, e, "budget_ms");
			error_at(g, at ? at : e,
				 "'budget_ms' = %lld leaves no branch time to start: it must be at "
				 "least 'join_reserve_ms' + 'min_branch_ms' + 1 = %lld",
				 (long long)(rt->budget_ns / FO_MSEC),
				 (long long)(fod_query_min_budget_ns(rt) / FO_MSEC));
			return -EINVAL;
		}
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
		if (!(rt->name = strdup(name)))
			return oom(g, e);
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
			if (!(rt->http_prefix = strndup(http, (size_t)(brace - http))))
				return oom(g, e);
		}
		if (job && !(rt->job = strdup(job)))
			return oom(g, e);
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
		if (!(rt->metrics = fod_metrics_route(rt->name)))
			return oom(g, e);
	}
	return 0;
}

/* ---- what would keep the daemon from starting: checked at -t, not found out at start */

/*
 * Splits a listen address as the listeners take it: "127.0.0.1:8080",
 * "[::1]:8080" or "name:8080", the port 1..65535. host gets the address
 * without brackets, port its digits. NULL, or what is wrong with it.
 */
static const char *split_listen(const char *spec, char *host, size_t hostlen, char *port,
				size_t portlen)
{
	const char *start = spec, *colon;
	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');
		if (!close || close[1] != ':')
			return "an IPv6 address is written [ADDR]:PORT, like [::1]:8080";
		start = spec + 1;
		colon = close + 1;
		if (close == start)
			return "no address between the brackets";
	} else {
		colon = strrchr(spec, ':');
		if (!colon)
			return "needs ADDR:PORT, like 127.0.0.1:8080";
		if (memchr(spec, ':', (size_t)(colon - spec)))
			return "an IPv6 address is written [ADDR]:PORT, like [::1]:8080";
		if (colon == spec)
			return "needs an address before the port, like 127.0.0.1:8080";
	}
	size_t n = (size_t)(colon - start) - (spec[0] == '[');
	const char *digits = colon + 1;
	size_t nd = strspn(digits, "0123456789");
	long p = nd && nd <= 5 && !digits[nd] ? strtol(digits, NULL, 10) : -1;
	if (p < 1 || p > 65535)
		return "the port must be a number from 1 to 65535";
	if (n >= hostlen || nd >= portlen)
		return "the address is too long";
	memcpy(host, start, n);
	host[n] = '\0';
	memcpy(port, digits, nd + 1);
	return NULL;
}

/* A trial bind of one resolved address, closed at once: 0 or -errno. */
static int try_bind(const struct addrinfo *ai)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return -errno;
	int one = 1, r = 0;
	/* As the listener binds: SO_REUSEADDR lets TIME_WAIT pass, not another listener. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0)
		r = -errno;
	close(fd);
	return r;
}

/*
 * The listen address: its syntax always; at -t (g->trial_bind) also that it
 * resolves and that every address it resolves to can be bound now (not an
 * address of another host, not a port the user may not bind), as nginx -t
 * does. Not when the daemon runs: a socket systemd passes needs no bind.
 *
 * A port in use is said, as a warning: -t is run beside the instance it
 * checks a reload for, and before a socket-activated start (ExecStartPre),
 * while systemd holds the port; refusing would fail both. Only a second
 * instance on the same port could not start.
 */
static int check_listen(struct fod_gen *g, const config_setting_t *at, const char *spec)
{
	char host[256], port[8];
	const char *why = split_listen(spec, host, sizeof(host), port, sizeof(port));
	if (why) {
		error_at(g, at, "listen '%s': %s", spec, why);
		return -EINVAL;
	}
	if (!g->trial_bind)
		return 0;
	struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV,
				 .ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	int r = getaddrinfo(host, port, &hints, &res);
	if (r != 0) {
		error_at(g, at, "listen '%s': cannot resolve '%s': %s", spec, host,
			 r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
		return -EINVAL;
	}
	for (const struct addrinfo *ai = res; ai && r == 0; ai = ai->ai_next) {
		r = try_bind(ai);
		if (r == -EADDRINUSE) {
			log_warn("listen '%s': the address is in use (by a running fanoutd, or "
				 "another program): an instance started now could not listen there",
				 spec);
			r = 0;
		} else if (r < 0) {
			error_at(g, at, "listen '%s': cannot bind: %s", spec, strerror(-r));
		}
	}
	freeaddrinfo(res);
	return r < 0 ? -EINVAL : 0;
}

/* Each of the space-separated addresses of a listen setting (none: nothing to check). */
static int check_listens(struct fod_gen *g, const config_setting_t *at, const char *list)
{
	char *copy = strdup(list), *save = NULL;
	if (!copy)
		return oom(g, at);
	int r = 0;
	for (char *a = strtok_r(copy, " ", &save); a && r == 0; a = strtok_r(NULL, " ", &save))
		r = check_listen(g, at, a);
	free(copy);
	return r;
}

/* A group the admin socket is given to or that grants a level must exist. */
static int check_group(struct fod_gen *g, const config_setting_t *api, const char *name,
		       const char *group)
{
	errno = 0;
	if (!*group || getgrnam(group))
		return 0;
	/* Not found leaves errno 0 (or ENOENT, ESRCH...): out of memory is not "no group". */
	if (errno == ENOMEM)
		return oom(g, child(g, api, name));
	error_at(g, child(g, api, name), "api.%s: no group named '%s'", name, group);
	return -EINVAL;
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
	g->log.failure_interval_ns = 10 * FO_SEC;
	int64_t loops = 0, pool = 4, maxconn = 10000, url = 2048, hdr = 8192, body = 0;
	int64_t api_maxconn = 64;
	g->api.idle_timeout_ns = 60 * FO_SEC;
	g->http.header_timeout_ns = 10 * FO_SEC;
	g->http.idle_timeout_ns = 60 * FO_SEC;
	g->shutdown.drain_ns = 10 * FO_SEC;
	bool admin_on_public = false;
	int r = fod_http_conf_listen(g->sink, http, "listen", listen, &g->http.listen);
	if (r == 0)
		r = fod_http_conf_listen(g->sink, http, "admin_listen", "", &g->http.admin_listen);
	if (r == -ENOMEM)
		return oom(g, http);
	if (r < 0 || fod_conf_bool(g->sink, http, "admin_on_public", false, &admin_on_public) < 0 ||
	    conf_int(g, http, "max_connections", 1, 1000000, false, &maxconn) < 0 ||
	    conf_int(g, http, "max_url", 16, FOD_HTTP_MAX_URL_LIMIT, false, &url) < 0 ||
	    conf_int(g, http, "max_headers", 256, FOD_HTTP_MAX_HEADERS_LIMIT, false, &hdr) < 0 ||
	    conf_int(g, http, "max_body", 0, 1 << 30, false, &body) < 0 ||
	    conf_ms(g, http, "header_timeout_ms", 1, 3600000, &g->http.header_timeout_ns) < 0 ||
	    conf_ms(g, http, "idle_timeout_ms", 1, 86400000, &g->http.idle_timeout_ns) < 0 ||
	    conf_string(g, api, "socket", false, &sock) < 0 ||
	    conf_string(g, api, "mode", false, &amode) < 0 ||
	    conf_string(g, api, "group", false, &agroup) < 0 ||
	    conf_string(g, api, "admin_group", false, &admin) < 0 ||
	    conf_string(g, api, "operator_group", false, &oper) < 0 ||
	    conf_string(g, api, "job_group", false, &jobgrp) < 0 ||
	    conf_int(g, api, "max_connections", 1, 100000, false, &api_maxconn) < 0 ||
	    conf_ms(g, api, "idle_timeout_ms", 1, 86400000, &g->api.idle_timeout_ns) < 0 ||
	    conf_int(g, workers, "loops", 0, 256, false, &loops) < 0 ||
	    conf_int(g, workers, "pool", 1, 4096, false, &pool) < 0 ||
	    conf_string(g, modules, "path", false, &mpath) < 0 ||
	    conf_ms(g, shutdown, "drain_ms", 0, 3600000, &g->shutdown.drain_ns) < 0 ||
	    conf_string(g, root, "log_level", false, &log_level) < 0 ||
	    conf_ms(g, root, "log_failure_interval_ms", 100, 3600000, &g->log.failure_interval_ns) <
		    0 ||
	    fod_simsrv_conf(g->sink, root, &g->sim_endpoint) < 0)
		return -EINVAL;
	if ((g->log.level = fod_log_level_parse(log_level)) < 0) {
		error_at(g, child(g, root, "log_level"),
			 "'log_level' must be err, warning, notice, info or debug");
		return -EINVAL;
	}
	if (ov && ov->listen) {
		free(g->http.listen);
		if (!(g->http.listen = strdup(ov->listen)))
			return oom(g, NULL);
	}
	g->http.admin_on_public = admin_on_public;
	/* Each listener's address (one from --listen is not at the file's line). */
	if (check_listens(g, ov && ov->listen ? NULL : child(g, http, "listen"), g->http.listen) <
		    0 ||
	    check_listens(g, child(g, http, "admin_listen"), g->http.admin_listen) < 0)
		return -EINVAL;
	if (check_group(g, api, "group", agroup) < 0 ||
	    check_group(g, api, "admin_group", admin) < 0 ||
	    check_group(g, api, "operator_group", oper) < 0 ||
	    check_group(g, api, "job_group", jobgrp) < 0)
		return -EINVAL;
	g->api.socket = strdup(ov && ov->socket ? ov->socket : sock);
	g->modules_path = strdup(ov && ov->modules ? ov->modules : mpath);
	if (!g->api.socket || !g->modules_path)
		return oom(g, NULL);
	char *end;
	long m = strtol(amode, &end, 8);
	if (*end || m < 0 || m > 0777) {
		error_at(g, child(g, api, "mode"), "'mode' must be octal, like \"0660\"");
		return -EINVAL;
	}
	g->api.mode = strdup(amode);
	g->api.group = strdup(agroup);
	g->api.admin_group = strdup(admin);
	g->api.operator_group = strdup(oper);
	g->api.job_group = strdup(jobgrp);
	if (!g->api.mode || !g->api.group || !g->api.admin_group || !g->api.operator_group ||
	    !g->api.job_group)
		return oom(g, api);
	g->workers.loops = (unsigned)loops;
	g->workers.pool_threads = (unsigned)pool;
	g->http.max_connections = (long)maxconn;
	g->api.max_connections = (long)api_maxconn;
	g->http.max_url = (size_t)url;
	g->http.max_headers = (size_t)hdr;
	g->http.max_body = (size_t)body;
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
 * The file named by the @include directive at line of file (as libconfig
 * names it: relative to the include directory, or the top file), resolved
 * as libconfig resolves it. 0, or -ENOENT when there is none to be found.
 */
static int include_at(const config_t *cfg, const char *top, const char *file, int line, char *out,
		      size_t outlen)
{
	const char *dir = config_get_include_dir(cfg);
	char path[PATH_MAX];
	if (dir && strcmp(file, top) != 0) /* libconfig 1.5: dir/name, absolute names too */
		snprintf(path, sizeof(path), "%s/%s", dir, file);
	else
		snprintf(path, sizeof(path), "%s", file);
	struct stat st; /* a pipe is read once, and a FIFO without a writer would block */
	FILE *f = stat(path, &st) == 0 && S_ISREG(st.st_mode) ? fopen(path, "re") : NULL;
	char buf[4096];
	int r = -ENOENT;
	for (int n = 1; f && fgets(buf, sizeof(buf), f); n++) {
		if (n < line)
			continue;
		const char *p = strstr(buf, "@include"), *q = p ? strchr(p, '"') : NULL;
		const char *end = q ? strchr(q + 1, '"') : NULL;
		if (end) {
			int len = (int)(end - q - 1);
			if (dir)
				snprintf(out, outlen, "%s/%.*s", dir, len, q + 1);
			else
				snprintf(out, outlen, "%.*s", len, q + 1);
			r = 0;
		}
		break;
	}
	if (f)
		fclose(f);
	return r;
}

/*
 * libconfig's parse error as "file:line: message"; a missing @include file
 * named, with why it could not be opened: the file's access error, or else
 * what errno was when libconfig gave up (saved_errno: out of memory).
 */
static void read_error(struct fod_gen *g, int saved_errno, char *err, size_t errlen)
{
	const char *file = config_error_file(&g->cfg) ? config_error_file(&g->cfg) : g->path;
	const char *text = config_error_text(&g->cfg);
	int line = config_error_line(&g->cfg);
	char inc[PATH_MAX];
	/* libconfig says "cannot open include file" and not which one. */
	if (text && strstr(text, "include file") &&
	    include_at(&g->cfg, g->path, file, line, inc, sizeof(inc)) == 0) {
		int e = access(inc, R_OK) < 0 ? errno : saved_errno;
		snprintf(err, errlen, "%s:%d: cannot open include file %s%s%s", file, line, inc,
			 e ? ": " : "", e ? strerror(e) : "");
		return;
	}
	snprintf(err, errlen, "%s:%d: %s", file, line, text);
}

/* Every generation from its allocation in fod_gen_build to its last unref. */
static atomic_long live_gens;

long fod_gen_live(void)
{
	return atomic_load(&live_gens);
}

struct fod_gen *fod_gen_build(const char *path, const struct fod_overrides *ov, char *err,
			      size_t errlen)
{
	static atomic_ulong next_id = 1;
	static pthread_mutex_t serial = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&serial);
	fod_fault_open("gen");
	struct fod_conf_sink sink;
	fod_conf_sink_init(&sink, path, err, errlen);
	struct fod_gen *g = calloc(1, sizeof(*g));
	if (!g) {
		snprintf(err, errlen, "%s: out of memory", path);
		fod_fault_close("gen", -ENOMEM);
		pthread_mutex_unlock(&serial);
		return NULL;
	}
	atomic_fetch_add(&live_gens, 1);
	g->sink = &sink;
	g->trial_bind = ov && ov->trial_bind;
	g->max_branches = ov && ov->max_branches ? ov->max_branches : FOD_MAX_BRANCHES;
	atomic_init(&g->refs, 1);
	g->path = strdup(path);
	config_init(&g->cfg);
	/* @include paths are relative to the including file's directory. */
	char *dir = strdup(path), *slash = dir ? strrchr(dir, '/') : NULL;
	if (slash) {
		*slash = '\0';
		config_set_include_dir(&g->cfg, dir);
	}
	static char empty_text[] = "\n"; /* fmemopen wants at least a byte */
	char *piped = NULL;		 /* a pipe's text, read once by the @include check */
	size_t piped_len = 0;
	int inc = g->path && dir ? fod_check_includes(path, slash ? dir : NULL, &piped, &piped_len,
						      err, errlen)
				 : 0;
	free(dir);
	FILE *mem = NULL;
	struct stat st;
	if (!g->path || !dir) {
		snprintf(err, errlen, "%s: out of memory", path);
		sink.failed = true;
	} else if (inc < 0) {
		sink.failed = true;
	} else if (stat(path, &st) < 0) {
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		sink.failed = true;
	} else if (S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: is a directory, not a configuration file", path);
		sink.failed = true;
	} else if (piped && !(mem = fmemopen(piped_len ? piped : empty_text,
					     piped_len ? piped_len : 1, "r"))) {
		snprintf(err, errlen, "%s: out of memory", path);
		sink.failed = true;
	} else if ((errno = 0),
		   !(mem ? config_read(&g->cfg, mem) : config_read_file(&g->cfg, path))) {
		/* libconfig leaves errno as its last call left it (0: none failed). */
		int e = errno;
		if (config_error_type(&g->cfg) == CONFIG_ERR_FILE_IO)
			snprintf(err, errlen, "%s: cannot read: %s", path,
				 e ? strerror(e) : "read error");
		else
			read_error(g, e, err, errlen);
		sink.failed = true;
	} else if ((g->root = config_root_setting(&g->cfg)),
		   build_settings(g, ov) < 0 || build_limiters(g) < 0 || build_routes(g) < 0 ||
			   fod_conf_check_unknown(&sink, g->root) < 0) {
		sink.failed = true;
	} else if (!(g->pool = fo_pool_new(g->workers.pool_threads))) {
		snprintf(err, errlen, "cannot start the worker pool: %s", strerror(errno));
		sink.failed = true;
	}
	if (mem)
		fclose(mem);
	free(piped);
	if (sink.failed && !err[0])
		snprintf(err, errlen, "%s: invalid configuration", path);
	bool failed = sink.failed;
	/* The sink lives on this stack: nobody reports into it after the build. */
	g->sink = NULL;
	for_each_instance(g, forget_sink);
	fod_conf_sink_fini(&sink);
	if (failed)
		fod_gen_unref(g);
	fod_fault_close("gen", failed ? -EINVAL : 0);
	pthread_mutex_unlock(&serial);
	if (failed)
		return NULL;
	/* Numbered once built: a refused reload does not use up a generation number. */
	g->id = atomic_fetch_add(&next_id, 1);
	return g;
}

/* ---- fanoutd -T: the effective configuration
 *
 * Every setting the core reads is put into the generation's own config tree
 * with the value in effect (a default where the file has none, a
 * command-line override over the file's), and the tree is written out in
 * libconfig syntax: module-specific settings stay as written. The tree is
 * changed for good: only for a generation that will not serve.
 */

static config_setting_t *put_group(config_setting_t *parent, const char *name)
{
	config_setting_t *s = config_setting_get_member(parent, name);
	if (s && config_setting_is_group(s))
		return s;
	if (s)
		config_setting_remove(parent, name);
	return config_setting_add(parent, name, CONFIG_TYPE_GROUP);
}

/* The member name of parent, of type type: the one there, or a new one in its place. */
static config_setting_t *put(config_setting_t *parent, const char *name, int type)
{
	config_setting_t *s = config_setting_get_member(parent, name);
	if (s && config_setting_type(s) == type)
		return s;
	if (s)
		config_setting_remove(parent, name);
	return config_setting_add(parent, name, type);
}

static int put_int(config_setting_t *parent, const char *name, long long v)
{
	/* libconfig 1.5 keeps a plain int in 32 bits: wider ones are written with L. */
	bool fits = v >= INT_MIN && v <= INT_MAX;
	config_setting_t *s = put(parent, name, fits ? CONFIG_TYPE_INT : CONFIG_TYPE_INT64);
	int ok = s && (fits ? config_setting_set_int(s, (int)v) : config_setting_set_int64(s, v));
	return ok ? 0 : -ENOMEM;
}

static int put_ms(config_setting_t *parent, const char *name, int64_t ns)
{
	return put_int(parent, name, (long long)(ns / FO_MSEC));
}

static int put_double(config_setting_t *parent, const char *name, double v)
{
	config_setting_t *s = put(parent, name, CONFIG_TYPE_FLOAT);
	return s && config_setting_set_float(s, v) ? 0 : -ENOMEM;
}

static int put_string(config_setting_t *parent, const char *name, const char *v)
{
	config_setting_t *s = put(parent, name, CONFIG_TYPE_STRING);
	if (!s)
		return -ENOMEM;
	const char *old = config_setting_get_string(s);
	if (old && strcmp(old, v) == 0)
		return 0; /* v may be the string itself */
	return config_setting_set_string(s, v) ? 0 : -ENOMEM;
}

static const char *log_level_name(int level)
{
	static const char *const names[] = {"err", "warning", "notice", "info", "debug"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (fod_log_level_parse(names[i]) == level)
			return names[i];
	return "info";
}

static int put_settings(struct fod_gen *g, config_setting_t *root)
{
	config_setting_t *http = put_group(root, "http"), *api = put_group(root, "api");
	config_setting_t *workers = put_group(root, "workers"), *mods = put_group(root, "modules");
	config_setting_t *shutdown = put_group(root, "shutdown");
	if (!http || !api || !workers || !mods || !shutdown)
		return -ENOMEM;
	int r = put_string(http, "listen", g->http.listen) |
		put_int(http, "max_connections", g->http.max_connections) |
		put_ms(http, "header_timeout_ms", g->http.header_timeout_ns) |
		put_ms(http, "idle_timeout_ms", g->http.idle_timeout_ns) |
		put_int(http, "max_url", (long long)g->http.max_url) |
		put_int(http, "max_headers", (long long)g->http.max_headers) |
		put_int(http, "max_body", (long long)g->http.max_body) |
		put_string(api, "socket", g->api.socket) | put_string(api, "mode", g->api.mode) |
		put_string(api, "group", g->api.group) |
		put_string(api, "admin_group", g->api.admin_group) |
		put_string(api, "operator_group", g->api.operator_group) |
		put_string(api, "job_group", g->api.job_group) |
		put_int(api, "max_connections", g->api.max_connections) |
		put_ms(api, "idle_timeout_ms", g->api.idle_timeout_ns) |
		put_int(workers, "loops", g->workers.loops) |
		put_int(workers, "pool", g->workers.pool_threads) |
		put_string(mods, "path", g->modules_path) |
		put_ms(shutdown, "drain_ms", g->shutdown.drain_ns) |
		put_string(root, "log_level", log_level_name(g->log.level)) |
		put_ms(root, "log_failure_interval_ms", g->log.failure_interval_ns);
	return r ? -ENOMEM : 0;
}

/* The sim_endpoint section as in effect (written even when absent: enabled = false). */
static int put_sim_endpoint(const struct fod_sim_endpoint *se, config_setting_t *root)
{
	/* The names (and fail_branch) point into this tree: copied before it changes. */
	char *names[FOD_SIM_MAX_BRANCHES] = {0}, *fail = strdup(se->fail_branch);
	int r = fail ? 0 : -ENOMEM;
	for (size_t i = 0; i < se->nbranches; i++)
		if (!(names[i] = strdup(se->branches[i])))
			r = -ENOMEM;
	config_setting_t *s = r ? NULL : put_group(root, "sim_endpoint");
	config_setting_t *en = s ? put(s, "enabled", CONFIG_TYPE_BOOL) : NULL;
	config_setting_t *b = s ? put(s, "branches", CONFIG_TYPE_ARRAY) : NULL;
	if (!b || !en || !config_setting_set_bool(en, se->enabled))
		r = -ENOMEM;
	if (r == 0)
		r = put_int(s, "seed", (long long)se->p.seed) |
		    put_ms(s, "base_ms", se->p.base_ns) | put_ms(s, "p99_ms", se->p.p99_ns) |
		    put_ms(s, "tail_ms", se->p.tail_ns) |
		    put_double(s, "tail_rate", se->p.tail_rate) |
		    put_double(s, "err_rate", se->p.err_rate) | put_string(s, "fail_branch", fail);
	while (r == 0 && config_setting_length(b) > 0)
		config_setting_remove_elem(b, 0);
	for (size_t i = 0; r == 0 && i < se->nbranches; i++)
		if (!config_setting_set_string_elem(b, -1, names[i]))
			r = -ENOMEM;
	for (size_t i = 0; i < se->nbranches; i++)
		free(names[i]);
	free(fail);
	return r ? -ENOMEM : 0;
}

/* One entry of 'branches': its first branch holds what its replicas share. */
static int put_branch(const struct fod_route *rt, size_t first, size_t replicas)
{
	const struct fod_branch *b = &rt->branches[first];
	config_setting_t *e = (config_setting_t *)b->setting;
	return put_ms(e, "timeout_ms", b->timeout_ns) | put_int(e, "weight", b->weight) |
	       put_int(e, "replicas", (long long)replicas);
}

static int put_route(const struct fod_route *rt)
{
	config_setting_t *e = (config_setting_t *)rt->setting;
	/* The policy as written (a module's name); the default spelt out. */
	int r = config_setting_get_member(e, "policy") ? 0 : put_string(e, "policy", "besteffort");
	r |= put_int(e, "limit", rt->limit) | put_ms(e, "budget_ms", rt->budget_ns) |
	     put_ms(e, "join_reserve_ms", rt->join_reserve_ns) |
	     put_ms(e, "min_branch_ms", rt->min_branch_ns) | put_int(e, "min_ok", rt->min_ok) |
	     put_double(e, "ready_min_success", rt->ready_min_success) |
	     put_ms(e, "ready_window_ms", rt->ready_window_ns) |
	     put_int(e, "ready_min_requests", rt->ready_min_requests) |
	     put_string(e, "access_log_format", rt->access_log_json ? "json" : "text");
	if (!config_setting_get_member(e, "access_log"))
		r |= put_string(e, "access_log", "");
	for (size_t i = 0; i < rt->nbranches;) {
		size_t n = 1;
		while (i + n < rt->nbranches &&
		       rt->branches[i + n].setting == rt->branches[i].setting)
			n++;
		r |= put_branch(rt, i, n);
		i += n;
	}
	return r ? -ENOMEM : 0;
}

int fod_gen_write_effective(struct fod_gen *g, FILE *out)
{
	config_setting_t *root = config_root_setting(&g->cfg);
	int r = put_settings(g, root);
	if (r == 0)
		r = put_sim_endpoint(&g->sim_endpoint, root);
	for (size_t i = 0; r == 0 && i < g->nroutes; i++)
		r = put_route(&g->routes[i]);
	if (r < 0)
		return r;
	fprintf(out, "# fanoutd -T: the effective configuration of %s (defaults filled in)\n",
		g->path);
	config_write(&g->cfg, out);
	return fflush(out) == 0 ? 0 : -errno;
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
			fod_hedge_free(b->hedge);
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
	fod_hedge_targets_free(g);
	free(g->routes);
	free(g->downstreams);
	free(g->limiters);
	free(g->http.listen);
	free(g->http.admin_listen);
	free(g->api.socket);
	free(g->modules_path);
	free(g->api.mode);
	free(g->api.group);
	free(g->api.admin_group);
	free(g->api.operator_group);
	free(g->api.job_group);
	free(g->path);
	config_destroy(&g->cfg);
	free(g);
	atomic_fetch_sub(&live_gens, 1);
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
