/* SPDX-License-Identifier: MIT */
#include "metrics-render.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* Upper bounds in seconds; the last bucket is +Inf. */
static const double bounds[FOD_HIST_BUCKETS - 1] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
						    0.25,  0.5,	   1,	  2.5,	5,     10,   30};

const double *fod_hist_bounds(void)
{
	return bounds;
}

void fod_hist_observe(struct fod_hist *h, int64_t ns)
{
	double s = (double)ns / 1e9;
	int i = 0;
	while (i < FOD_HIST_BUCKETS - 1 && s > bounds[i])
		i++;
	atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_ns, (unsigned long long)(ns > 0 ? ns : 0),
				  memory_order_relaxed);
}

static void __attribute__((format(printf, 2, 3))) mbuf_put(struct fod_mbuf *b, const char *fmt, ...)
{
	while (!b->failed) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = true;
			return;
		}
		if (b->p && (size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = (b->cap + (size_t)n + 1) * 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->failed = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
}

/* Text with \ and the given quote (if any) and newlines escaped, as the format wants. */
static void put_escaped(struct fod_mbuf *b, const char *s, bool quote)
{
	const char *run = s;
	for (; *s; s++) {
		const char *esc = *s == '\\'	       ? "\\\\"
				  : *s == '\n'	       ? "\\n"
				  : quote && *s == '"' ? "\\\""
						       : NULL;
		if (!esc)
			continue;
		mbuf_put(b, "%.*s%s", (int)(s - run), run, esc);
		run = s + 1;
	}
	mbuf_put(b, "%s", run);
}

static const char *type_name(enum fo_metric_type t)
{
	return t == FO_METRIC_COUNTER ? "counter" : t == FO_METRIC_GAUGE ? "gauge" : "histogram";
}

void fod_mr_begin(struct fod_mr *r, struct fod_mbuf *b, const char *prefix,
		  const struct fo_metric_def *def)
{
	*r = (struct fod_mr){.b = b, .def = def, .prefix = prefix ? prefix : ""};
}

/* The family's name, and its HELP and TYPE before its first series. */
static void name(struct fod_mr *r, const char *suffix)
{
	if (!r->headed) {
		r->headed = true;
		mbuf_put(r->b, "# HELP %s%s ", r->prefix, r->def->name);
		put_escaped(r->b, r->def->help, false);
		mbuf_put(r->b, "\n# TYPE %s%s %s\n", r->prefix, r->def->name,
			 type_name(r->def->type));
	}
	mbuf_put(r->b, "%s%s%s", r->prefix, r->def->name, suffix);
}

/* {a="x",b="y"[,le="..."]}, or nothing without a pair. */
static void labels(struct fod_mr *r, const char *const *values, const char *le)
{
	bool any = false;
	for (int i = 0; i < FO_METRIC_LABELS && r->def->labels[i]; i++) {
		mbuf_put(r->b, "%s%s=\"", any ? "," : "{", r->def->labels[i]);
		put_escaped(r->b, values && values[i] ? values[i] : "", true);
		mbuf_put(r->b, "\"");
		any = true;
	}
	if (le) {
		mbuf_put(r->b, "%sle=\"%s\"", any ? "," : "{", le);
		any = true;
	}
	if (any)
		mbuf_put(r->b, "}");
}

void fod_mr_uint(struct fod_mr *r, const char *const *values, unsigned long long v)
{
	name(r, "");
	labels(r, values, NULL);
	mbuf_put(r->b, " %llu\n", v);
}

void fod_mr_int(struct fod_mr *r, const char *const *values, long long v)
{
	name(r, "");
	labels(r, values, NULL);
	mbuf_put(r->b, " %lld\n", v);
}

void fod_mr_real(struct fod_mr *r, const char *const *values, double v, int decimals)
{
	name(r, "");
	labels(r, values, NULL);
	mbuf_put(r->b, " %.*f\n", decimals, v);
}

void fod_mr_hist(struct fod_mr *r, const char *const *values, struct fod_hist *h)
{
	unsigned long cum = 0;
	char le[32];
	for (int i = 0; i < FOD_HIST_BUCKETS; i++) {
		cum += atomic_load(&h->bucket[i]);
		if (i < FOD_HIST_BUCKETS - 1)
			snprintf(le, sizeof(le), "%g", bounds[i]);
		else
			snprintf(le, sizeof(le), "+Inf");
		name(r, "_bucket");
		labels(r, values, le);
		mbuf_put(r->b, " %lu\n", cum);
	}
	name(r, "_sum");
	labels(r, values, NULL);
	mbuf_put(r->b, " %.9f\n", (double)atomic_load(&h->sum_ns) / 1e9);
	name(r, "_count");
	labels(r, values, NULL);
	mbuf_put(r->b, " %lu\n", atomic_load(&h->count));
}
