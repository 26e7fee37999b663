/* SPDX-License-Identifier: MIT */
/*
 * The module SDK's metrics service: families a module declares once (the
 * same struct fo_metric_def as the daemon's own), their series by label
 * values, updated lock-free from any thread, written by metrics-render.
 *
 * A family is kept by name and counted per declaring instance: a reload's
 * new instance declares it while the old one still holds it, so it (with
 * every series) carries on and counters never go back; it goes when no
 * instance declares it any more (the module left the configuration).
 * Series are made at their first use and kept as long as their family:
 * a module gets a series once and keeps the pointer (no lookup per update).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "strmap.h"

struct fo_metric {
	const struct fo_metric_family *family;
	char *key; /* the label values, each ending in NUL */
	const char *values[FO_METRIC_LABELS];
	atomic_llong value; /* counter, gauge */
	struct fod_hist hist;
};

struct fo_metric_family {
	struct fo_metric_def def; /* name with the prefix; every string owned */
	unsigned refs;		  /* declaring instances (under fam_lock) */
	pthread_mutex_t lock;	  /* series and map: made on first use */
	struct fo_metric **series;
	size_t nseries, cap;
	struct fod_strmap map;
	struct fo_metric_family *next;
};

/* Every family: few (a handful per module), so a list. */
static pthread_mutex_t fam_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fo_metric_family *families;

static bool snake(const char *s)
{
	if (!s || !*s || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);
	return n >= t && strcmp(s + n - t, tail) == 0;
}

/* Why def cannot be a family (NULL: it can). */
static const char *bad_def(const struct fo_metric_def *def, char *why, size_t len)
{
	if (!snake(def->name))
		return "a metric name must be lower-case snake_case ([a-z_][a-z0-9_]*)";
	if (def->type != FO_METRIC_COUNTER && def->type != FO_METRIC_GAUGE &&
	    def->type != FO_METRIC_HISTOGRAM)
		return "unknown metric type";
	if ((def->type == FO_METRIC_COUNTER) != ends_with(def->name, "_total"))
		return "a counter's name, and only a counter's, ends in _total";
	if (!def->help || !*def->help)
		return "a metric needs its help text";
	for (int i = 0; i < FO_METRIC_LABELS && def->labels[i]; i++) {
		const char *l = def->labels[i];
		if (!snake(l) || strncmp(l, "__", 2) == 0 ||
		    (def->type == FO_METRIC_HISTOGRAM && strcmp(l, "le") == 0)) {
			snprintf(why, len, "label name '%s' is not allowed", l);
			return why;
		}
		for (int j = 0; j < i; j++)
			if (strcmp(def->labels[j], l) == 0) {
				snprintf(why, len, "label '%s' twice", l);
				return why;
			}
	}
	return NULL;
}

static int nlabels(const struct fo_metric_def *def)
{
	int n = 0;
	while (n < FO_METRIC_LABELS && def->labels[n])
		n++;
	return n;
}

static bool same_def(const struct fo_metric_def *a, const struct fo_metric_def *b)
{
	if (a->type != b->type || strcmp(a->help, b->help) != 0 || nlabels(a) != nlabels(b))
		return false;
	for (int i = 0; i < nlabels(a); i++)
		if (strcmp(a->labels[i], b->labels[i]) != 0)
			return false;
	return true;
}

static void family_free(struct fo_metric_family *f)
{
	for (size_t i = 0; i < f->nseries; i++) {
		free(f->series[i]->key);
		free(f->series[i]);
	}
	free(f->series);
	fod_strmap_clear(&f->map);
	pthread_mutex_destroy(&f->lock);
	free((char *)f->def.name);
	free((char *)f->def.help);
	for (int i = 0; i < FO_METRIC_LABELS; i++)
		free((char *)f->def.labels[i]);
	free(f);
}

static struct fo_metric_family *family_new(const char *name, const struct fo_metric_def *def)
{
	struct fo_metric_family *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	pthread_mutex_init(&f->lock, NULL);
	f->def.type = def->type;
	f->def.name = strdup(name);
	f->def.help = strdup(def->help);
	bool ok = f->def.name && f->def.help;
	for (int i = 0; i < nlabels(def); i++)
		ok = ok && (f->def.labels[i] = strdup(def->labels[i]));
	if (!ok) {
		family_free(f);
		return NULL;
	}
	return f;
}

/* Under fam_lock. */
static void release_locked(struct fo_metric_family *f)
{
	if (--f->refs)
		return;
	for (struct fo_metric_family **p = &families; *p; p = &(*p)->next)
		if (*p == f) {
			*p = f->next;
			break;
		}
	family_free(f);
}

void fod_metrics_module_release(struct fo_metric_family *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&fam_lock);
	release_locked(f);
	pthread_mutex_unlock(&fam_lock);
}

int fod_metrics_module_declare(const char *module, const struct fo_metric_def *defs, size_t n,
			       struct fo_metric_family **out, char *err, size_t errlen)
{
	char why[96];
	for (size_t i = 0; i < n; i++) {
		const char *bad = bad_def(&defs[i], why, sizeof(why));
		if (bad) {
			snprintf(err, errlen, "metric '%s': %s",
				 defs[i].name ? defs[i].name : "(null)", bad);
			return -EINVAL;
		}
	}
	int r = 0;
	size_t done = 0;
	pthread_mutex_lock(&fam_lock);
	for (; done < n; done++) {
		/* fanoutd_module_<module>_<name>, '-' in the module's name as '_' */
		char name[256];
		int len = snprintf(name, sizeof(name), "fanoutd_module_%s_%s", module,
				   defs[done].name);
		if (len < 0 || (size_t)len >= sizeof(name)) {
			snprintf(err, errlen, "metric '%s': name too long", defs[done].name);
			r = -EINVAL;
			break;
		}
		for (char *p = name; *p; p++)
			if (*p == '-')
				*p = '_';
		struct fo_metric_family *f = families;
		while (f && strcmp(f->def.name, name) != 0)
			f = f->next;
		if (f && !same_def(&f->def, &defs[done])) {
			snprintf(err, errlen,
				 "metric %s is declared with another type, help or labels by a "
				 "live instance",
				 name);
			r = -EEXIST;
			break;
		}
		if (!f) {
			if (!(f = family_new(name, &defs[done]))) {
				snprintf(err, errlen, "out of memory");
				r = -ENOMEM;
				break;
			}
			f->next = families;
			families = f;
		}
		f->refs++;
		out[done] = f;
	}
	if (r < 0)
		while (done > 0)
			release_locked(out[--done]);
	pthread_mutex_unlock(&fam_lock);
	return r;
}

struct fo_metric *fod_metrics_module_series(struct fo_metric_family *f, const char *const *values)
{
	if (!f)
		return NULL;
	int nl = nlabels(&f->def);
	size_t len = 0;
	for (int i = 0; i < nl; i++)
		len += strlen(values && values[i] ? values[i] : "") + 1;
	char *key = malloc(len + 1);
	if (!key)
		return NULL;
	char *p = key;
	for (int i = 0; i < nl; i++) {
		const char *v = values && values[i] ? values[i] : "";
		size_t vl = strlen(v) + 1;
		memcpy(p, v, vl);
		p += vl;
	}
	pthread_mutex_lock(&f->lock);
	struct fo_metric *m = fod_strmap_get(&f->map, key, len);
	if (m) {
		free(key);
	} else if ((m = calloc(1, sizeof(*m)))) {
		m->family = f;
		m->key = key;
		for (int i = 0, off = 0; i < nl; i++) {
			m->values[i] = key + off;
			off += (int)strlen(key + off) + 1;
		}
		if (f->nseries == f->cap) {
			size_t cap = f->cap ? f->cap * 2 : 16;
			struct fo_metric **s = realloc(f->series, cap * sizeof(*s));
			if (s) {
				f->series = s;
				f->cap = cap;
			}
		}
		if (f->nseries == f->cap || fod_strmap_add(&f->map, key, len, m) < 0) {
			free(m);
			free(key);
			m = NULL;
		} else {
			f->series[f->nseries++] = m;
		}
	} else {
		free(key);
	}
	pthread_mutex_unlock(&f->lock);
	return m;
}

void fod_metrics_module_add(struct fo_metric *m, int64_t delta)
{
	if (!m || m->family->def.type == FO_METRIC_HISTOGRAM ||
	    (m->family->def.type == FO_METRIC_COUNTER && delta < 0))
		return;
	atomic_fetch_add_explicit(&m->value, delta, memory_order_relaxed);
}

void fod_metrics_module_set(struct fo_metric *m, int64_t value)
{
	if (m && m->family->def.type == FO_METRIC_GAUGE)
		atomic_store_explicit(&m->value, value, memory_order_relaxed);
}

void fod_metrics_module_observe(struct fo_metric *m, int64_t ns)
{
	if (m && m->family->def.type == FO_METRIC_HISTOGRAM)
		fod_hist_observe(&m->hist, ns);
}

void fod_metrics_modules_render(struct fod_mbuf *b)
{
	pthread_mutex_lock(&fam_lock);
	for (struct fo_metric_family *f = families; f; f = f->next) {
		struct fod_mr r;
		fod_mr_begin(&r, b, "", &f->def);
		pthread_mutex_lock(&f->lock);
		for (size_t i = 0; i < f->nseries; i++) {
			struct fo_metric *m = f->series[i];
			if (f->def.type == FO_METRIC_HISTOGRAM)
				fod_mr_hist(&r, m->values, &m->hist);
			else
				fod_mr_int(&r, m->values, atomic_load(&m->value));
		}
		pthread_mutex_unlock(&f->lock);
	}
	pthread_mutex_unlock(&fam_lock);
}
