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
#include "log.h"
#include "metrics.h"

#ifndef FOD_MODULEDIR
#define FOD_MODULEDIR "/usr/lib/fanoutd/modules"
#endif

/* ---- errors: the first one of a build wins; builds run one at a time */

static char *build_err;
static size_t build_errlen;
static bool build_failed;
static const char *build_path;

static void verror_at(const config_setting_t *s, const char *fmt, va_list ap)
{
	if (build_failed)
		return;
	build_failed = true;
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	const char *file = s ? config_setting_source_file(s) : NULL;
	unsigned line = s ? config_setting_source_line(s) : 0;
	if (!file)
		file = build_path ? build_path : "(config)";
	/* The root setting has no line: "file: message" rather than a made-up ":0". */
	if (line)
		snprintf(build_err, build_errlen, "%s:%u: %s", file, line, msg);
	else
		snprintf(build_err, build_errlen, "%s: %s", file, msg);
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

/* ---- integers as written
 *
 * libconfig 1.5 (Debian's) stores an integer literal without the L suffix as a
 * 32-bit int and wraps it silently: "max_url = 4294967312;" reads back as 16,
 * whatever the lookup (config_setting_get_int64 returns the wrapped int). So
 * for such a setting the literal is read again from its file, at its line, and
 * taken when it wraps to the stored value; the 64-bit value then meets the
 * range check, and messages show the number as written. The file is read once
 * per build. A file rewritten since libconfig read it may no longer hold a
 * matching literal: then the stored value stands, as before.
 */

struct source {
	char *file, *text;
	size_t *line_at; /* offset of line n + 1 in text */
	unsigned nlines;
};
static pthread_mutex_t sources_lock = PTHREAD_MUTEX_INITIALIZER;
static struct source *sources;
static size_t nsources;

static char *read_whole(const char *file)
{
	FILE *f = fopen(file, "re");
	if (!f)
		return NULL;
	size_t len = 0, cap = 4096;
	char *text = malloc(cap + 1);
	size_t n;
	while (text && (n = fread(text + len, 1, cap - len, f)) > 0) {
		len += n;
		if (len == cap) {
			char *t = realloc(text, cap * 2 + 1);
			if (!t) {
				free(text);
				text = NULL;
				break;
			}
			text = t;
			cap *= 2;
		}
	}
	fclose(f);
	if (text)
		text[len] = '\0';
	return text;
}

/*
 * The text of FILE, read at its first use in this build; NULL if unreadable.
 * libconfig names an @included file as written, relative to the include
 * directory; the top file as it was given.
 */
static const struct source *source_of(const config_t *cfg, const char *file)
{
	for (size_t i = 0; i < nsources; i++)
		if (strcmp(sources[i].file, file) == 0)
			return &sources[i];
	struct source *all = realloc(sources, (nsources + 1) * sizeof(*all));
	if (!all)
		return NULL;
	sources = all;
	const char *dir = config_get_include_dir(cfg);
	char *text = NULL, *joined;
	if (file[0] != '/' && dir && !(build_path && strcmp(file, build_path) == 0) &&
	    asprintf(&joined, "%s/%s", dir, file) >= 0) {
		text = read_whole(joined);
		free(joined);
	}
	struct source *src = &sources[nsources];
	*src = (struct source){.file = strdup(file), .text = text ? text : read_whole(file)};
	if (!src->file) {
		free(src->text);
		return NULL;
	}
	nsources++;
	/* Where each line starts, so that finding one is not a walk from the top. */
	size_t cap = 0;
	for (const char *p = src->text; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (src->nlines == cap) {
			cap = cap ? cap * 2 : 256;
			size_t *l = realloc(src->line_at, cap * sizeof(*l));
			if (!l)
				break;
			src->line_at = l;
		}
		src->line_at[src->nlines++] = (size_t)(p - src->text);
	}
	return src;
}

static void sources_free(void)
{
	pthread_mutex_lock(&sources_lock);
	for (size_t i = 0; i < nsources; i++) {
		free(sources[i].file);
		free(sources[i].text);
		free(sources[i].line_at);
	}
	free(sources);
	sources = NULL;
	nsources = 0;
	pthread_mutex_unlock(&sources_lock);
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c == '*';
}

/* p past blanks and comments (libconfig's #, // and slash-star ones). */
static const char *skip_blank(const char *p)
{
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f')
			p++;
		if (*p == '#' || (p[0] == '/' && p[1] == '/'))
			p += strcspn(p, "\n");
		else if (p[0] == '/' && p[1] == '*') {
			const char *end = strstr(p + 2, "*/");
			p = end ? end + 2 : p + strlen(p);
		} else
			return p;
	}
}

/*
 * An integer literal as libconfig's scanner takes one: [-+]?[0-9]+ or
 * 0[xX][0-9a-fA-F]+, not followed by what would make it an int64 (L) or a float.
 * Its length, or 0.
 */
static size_t int_literal_len(const char *p)
{
	size_t n = 0;
	if ((p[0] == '0') && (p[1] == 'x' || p[1] == 'X')) {
		n = 2;
		while ((p[n] >= '0' && p[n] <= '9') || (p[n] >= 'a' && p[n] <= 'f') ||
		       (p[n] >= 'A' && p[n] <= 'F'))
			n++;
		if (n == 2)
			return 0;
	} else {
		if (p[n] == '-' || p[n] == '+')
			n++;
		size_t digits = n;
		while (p[n] >= '0' && p[n] <= '9')
			n++;
		if (n == digits)
			return 0;
	}
	if (p[n] == 'L' || p[n] == '.' || p[n] == 'e' || p[n] == 'E' || name_char(p[n]))
		return 0;
	return n;
}

/*
 * Copies into buf the literal of integer setting v as written, if found on or
 * just after its line: "NAME = LITERAL" or "NAME : LITERAL" whose 32-bit
 * wrap is the stored value.
 */
static bool find_literal(const config_setting_t *v, char *buf, size_t buflen)
{
	const char *file = config_setting_source_file(v), *name = config_setting_name(v);
	unsigned line = config_setting_source_line(v);
	if (!file || !name || !line)
		return false;
	pthread_mutex_lock(&sources_lock);
	const struct source *src = source_of(v->config, file);
	const char *p = src && line <= src->nlines ? src->text + src->line_at[line - 1] : NULL;
	bool found = false;
	size_t namelen = strlen(name);
	/* The setting starts on its line; its value may follow a few lines on. */
	const char *stop = p ? p + strnlen(p, 4096) : NULL;
	while (p && !found && (p = skip_blank(p)) < stop && *p) {
		if (*p == '"') { /* a string: skip it, escapes included */
			for (p++; *p && *p != '"'; p++)
				if (*p == '\\' && p[1])
					p++;
			p += *p == '"';
			continue;
		}
		if (!name_char(*p)) {
			p++;
			continue;
		}
		const char *word = p;
		while (name_char(*p))
			p++;
		if ((size_t)(p - word) != namelen || strncmp(word, name, namelen) != 0)
			continue;
		const char *q = skip_blank(p);
		if (*q != '=' && *q != ':')
			continue;
		q = skip_blank(q + 1);
		size_t n = int_literal_len(q);
		if (!n || n >= buflen)
			continue;
		memcpy(buf, q, n);
		buf[n] = '\0';
		bool hex = buf[0] == '0' && (buf[1] == 'x' || buf[1] == 'X');
		unsigned long long bits =
			hex ? strtoull(buf, NULL, 16) : (unsigned long long)strtoll(buf, NULL, 10);
		found = (int)(uint32_t)bits == config_setting_get_int(v);
	}
	pthread_mutex_unlock(&sources_lock);
	return found;
}

/*
 * The integer setting v as a 64-bit value, with the text it was written as in
 * given. -ERANGE when the literal does not fit 64 bits either.
 */
static int int_value(const config_setting_t *v, long long *x, char *given, size_t givenlen)
{
	*x = config_setting_get_int64(v);
	snprintf(given, givenlen, "%lld", *x);
	char lit[64];
	if (config_setting_type(v) != CONFIG_TYPE_INT || !find_literal(v, lit, sizeof(lit)))
		return 0;
	snprintf(given, givenlen, "%s", lit);
	bool hex = lit[0] == '0' && (lit[1] == 'x' || lit[1] == 'X');
	errno = 0;
	if (hex) {
		unsigned long long u = strtoull(lit, NULL, 16);
		if (errno == ERANGE || u > (unsigned long long)LLONG_MAX)
			return -ERANGE;
		*x = (long long)u;
	} else {
		*x = strtoll(lit, NULL, 10);
		if (errno == ERANGE)
			return -ERANGE;
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
		error_at(v, "'%s' must be an integer in [%lld, %lld]", name, min, max);
		return -EINVAL;
	}
	long long x;
	char given[64];
	if (int_value(v, &x, given, sizeof(given)) < 0 || x < min || x > max) {
		error_at(v, "'%s' = %s is out of range [%lld, %lld]", name, given, min, max);
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
	char given[64];
	if (t == CONFIG_TYPE_FLOAT) {
		x = config_setting_get_float(v);
		snprintf(given, sizeof(given), "%g", x);
	} else if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64) {
		long long i;
		x = int_value(v, &i, given, sizeof(given)) < 0 ? HUGE_VAL : (double)i;
	} else {
		error_at(v, "'%s' must be a number in [%g, %g]", name, min, max);
		return -EINVAL;
	}
	if (!(x >= min && x <= max)) {
		error_at(v, "'%s' = %s is out of range [%g, %g]", name, given, min, max);
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

const char *const fod_partition_names[FOD_PARTITIONS] = {"http", "jobs"};

/*
 * `partitions = { http = 0.8; jobs = 0.2; }`: the limiter's size is shared
 * between HTTP requests and job rows, each guaranteed its share and free to
 * borrow what the other leaves idle (fo_sem_partition), so a batch job
 * cannot take the gateway's capacity.
 */
static int build_partitions(const config_setting_t *e, struct fod_limiter *l)
{
	const config_setting_t *parts = config_setting_get_member(e, "partitions");
	if (!parts)
		return 0;
	if (!config_setting_is_group(parts)) {
		error_at(parts, "'partitions' must be a group { http = 0.8; jobs = 0.2; }");
		return -EINVAL;
	}
	for (int i = 0; i < config_setting_length(parts); i++) {
		const char *key = config_setting_name(config_setting_get_elem(parts, (unsigned)i));
		if (strcmp(key, "http") != 0 && strcmp(key, "jobs") != 0) {
			error_at(config_setting_get_elem(parts, (unsigned)i),
				 "unknown partition '%s' (the partitions are 'http' and 'jobs')",
				 key);
			return -EINVAL;
		}
	}
	double shares[FOD_PARTITIONS];
	for (unsigned i = 0; i < FOD_PARTITIONS; i++)
		if (conf_double(parts, fod_partition_names[i], 0, 1, true, &shares[i]) < 0)
			return -EINVAL;
	if (shares[0] + shares[1] > 1 + 1e-9) {
		error_at(parts, "partition shares add up to %g: at most 1 (the size is shared)",
			 shares[0] + shares[1]);
		return -EINVAL;
	}
	int r = fo_sem_partition(l->ops->sem(l->state), shares, FOD_PARTITIONS);
	if (r < 0) {
		error_at(parts, "cannot partition limiter '%s': %s", l->name, strerror(-r));
		return r;
	}
	l->partitioned = true;
	return 0;
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
		if (build_partitions(e, l) < 0)
			return -EINVAL;
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
	if (!list && config_setting_length(config_root_setting(&g->cfg)) == 0) {
		error_at(NULL, "no settings at all (an empty file?): at least a 'routes' list "
			       "is needed, see fanoutd.conf(5)");
		return -EINVAL;
	}
	if (!list) {
		error_at(NULL, "no 'routes': a non-empty list of routes is needed");
		return -EINVAL;
	}
	if (!config_setting_is_list(list) || config_setting_length(list) == 0) {
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
		const char *alog_format = "text";
		long long limit = 0, min_ok = 1, ready_min_requests = 10;
		rt->ready_window_ns = 10 * FO_SEC;
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
		    conf_ms(e, "min_branch_ms", 0, 60000, &rt->min_branch_ns) < 0 ||
		    conf_int(e, "min_ok", 0, 100000, false, &min_ok) < 0 ||
		    conf_double(e, "ready_min_success", 0, 1, false, &rt->ready_min_success) < 0 ||
		    conf_ms(e, "ready_window_ms", 1000, 60000, &rt->ready_window_ns) < 0 ||
		    conf_int(e, "ready_min_requests", 1, 1000000, false, &ready_min_requests) < 0 ||
		    conf_string(e, "access_log", false, &rt->access_log) < 0 ||
		    conf_string(e, "access_log_format", false, &alog_format) < 0)
			return -EINVAL;
		rt->min_ok = (unsigned)min_ok;
		rt->ready_min_requests = (unsigned)ready_min_requests;
		if (rt->access_log && !*rt->access_log)
			rt->access_log = NULL; /* "": off, as when absent */
		rt->access_log_json = strcmp(alog_format, "json") == 0;
		if (!rt->access_log_json && strcmp(alog_format, "text") != 0) {
			error_at(config_setting_get_member(e, "access_log_format"),
				 "'access_log_format' must be \"text\" or \"json\"");
			return -EINVAL;
		}
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
		if (rt->min_ok > rt->nbranches) {
			error_at(config_setting_get_member(e, "min_ok"),
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
	const config_setting_t *http = config_lookup(&g->cfg, "http");
	const config_setting_t *api = config_lookup(&g->cfg, "api");
	const config_setting_t *workers = config_lookup(&g->cfg, "workers");
	const config_setting_t *modules = config_lookup(&g->cfg, "modules");
	const config_setting_t *shutdown = config_lookup(&g->cfg, "shutdown");
	const char *listen = "127.0.0.1:8080", *sock = "/run/fanoutd/fanoutd.sock",
		   *mpath = FOD_MODULEDIR, *amode = "0660", *agroup = "", *admin = "", *oper = "",
		   *jobgrp = "", *log_level = "info";
	const config_setting_t *root = config_root_setting(&g->cfg);
	g->log_failure_interval_ns = 10 * FO_SEC;
	long long loops = 0, pool = 4, maxconn = 10000, url = 2048, hdr = 8192, body = 0;
	long long api_maxconn = 64;
	g->api_idle_timeout_ns = 60 * FO_SEC;
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
	    conf_string(api, "job_group", false, &jobgrp) < 0 ||
	    conf_int(api, "max_connections", 1, 100000, false, &api_maxconn) < 0 ||
	    conf_ms(api, "idle_timeout_ms", 1, 86400000, &g->api_idle_timeout_ns) < 0 ||
	    conf_int(workers, "loops", 0, 256, false, &loops) < 0 ||
	    conf_int(workers, "pool", 1, 4096, false, &pool) < 0 ||
	    conf_string(modules, "path", false, &mpath) < 0 ||
	    conf_ms(shutdown, "drain_ms", 0, 3600000, &g->drain_ns) < 0 ||
	    conf_string(root, "log_level", false, &log_level) < 0 ||
	    conf_ms(root, "log_failure_interval_ms", 100, 3600000, &g->log_failure_interval_ns) < 0)
		return -EINVAL;
	if ((g->log_level = fod_log_level_parse(log_level)) < 0) {
		error_at(config_setting_get_member(root, "log_level"),
			 "'log_level' must be err, warning, notice, info or debug");
		return -EINVAL;
	}
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

struct fod_gen *fod_gen_build(const char *path, const struct fod_overrides *ov, char *err,
			      size_t errlen)
{
	static atomic_ulong next_id = 1;
	static pthread_mutex_t serial = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&serial);
	build_err = err;
	build_errlen = errlen;
	build_failed = false;
	build_path = path;
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
	free(dir);
	struct stat st;
	if (stat(path, &st) < 0) {
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		build_failed = true;
	} else if (S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: is a directory, not a configuration file", path);
		build_failed = true;
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
	build_path = NULL;
	sources_free();
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
			fod_metrics_branch_put(b->metrics);
			free(b->name);
		}
		if (rt->policy_mod.desc && rt->policy_mod.desc->fini)
			rt->policy_mod.desc->fini(rt->policy_state);
		fod_module_close(&rt->policy_mod);
		fod_metrics_route_put(rt->metrics);
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
