/* SPDX-License-Identifier: MIT */
#include "metrics-render.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/*
 * The writer. A scrape renders every series of every family: at thousands of
 * branches that is hundreds of thousands of fragments, so text is copied and
 * integers converted by hand; printf is left to the few real numbers.
 */

/* Room for n more bytes and a terminating NUL; false once an allocation failed. */
static bool mbuf_reserve(struct fod_mbuf *b, size_t n)
{
	if (b->failed)
		return false;
	if (b->p && b->cap - b->len > n)
		return true;
	size_t cap = (b->cap + n + 1) * 2; /* cap may be a size hint before the first write */
	char *p = realloc(b->p, cap);
	if (!p) {
		b->failed = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

static void mbuf_add(struct fod_mbuf *b, const char *s, size_t n)
{
	if (!mbuf_reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void mbuf_str(struct fod_mbuf *b, const char *s)
{
	mbuf_add(b, s, strlen(s));
}

/* A copy of the bytes the buffer already holds at [at, at + n). */
static void mbuf_again(struct fod_mbuf *b, size_t at, size_t n)
{
	if (!mbuf_reserve(b, n))
		return;
	memcpy(b->p + b->len, b->p + at, n); /* behind len: the ranges never overlap */
	b->len += n;
	b->p[b->len] = '\0';
}

static void mbuf_uint(struct fod_mbuf *b, unsigned long long v)
{
	char digits[24], *p = digits + sizeof(digits);
	do
		*--p = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	mbuf_add(b, p, (size_t)(digits + sizeof(digits) - p));
}

static void mbuf_int(struct fod_mbuf *b, long long v)
{
	if (v < 0)
		mbuf_add(b, "-", 1);
	/* The magnitude in unsigned arithmetic: -LLONG_MIN does not fit a long long. */
	mbuf_uint(b, v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v);
}

static void __attribute__((format(printf, 2, 3))) mbuf_put(struct fod_mbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = true;
		return;
	}
	if (!mbuf_reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* Text with \ and the given quote (if any) and newlines escaped, as the format wants. */
static void put_escaped(struct fod_mbuf *b, const char *s, bool quote)
{
	const char *special = quote ? "\\\n\"" : "\\\n";
	for (;;) {
		size_t run = strcspn(s, special);
		mbuf_add(b, s, run);
		s += run;
		if (!*s)
			return;
		mbuf_add(b, *s == '\n' ? "\\n" : *s == '"' ? "\\\"" : "\\\\", 2);
		s++;
	}
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
		mbuf_str(r->b, "# HELP ");
		mbuf_str(r->b, r->prefix);
		mbuf_str(r->b, r->def->name);
		mbuf_add(r->b, " ", 1);
		put_escaped(r->b, r->def->help, false);
		mbuf_str(r->b, "\n# TYPE ");
		mbuf_str(r->b, r->prefix);
		mbuf_str(r->b, r->def->name);
		mbuf_add(r->b, " ", 1);
		mbuf_str(r->b, type_name(r->def->type));
		mbuf_add(r->b, "\n", 1);
	}
	mbuf_str(r->b, r->prefix);
	mbuf_str(r->b, r->def->name);
	mbuf_str(r->b, suffix);
}

/* Where a series' label pairs were written, to be written again on its next line. */
struct label_text {
	size_t at, len;
};

/* {a="x",b="y" without its closing brace, or nothing without a label. */
static struct label_text labels_open(struct fod_mr *r, const char *const *values)
{
	struct label_text t = {.at = r->b->len};
	for (int i = 0; i < FO_METRIC_LABELS && r->def->labels[i]; i++) {
		mbuf_add(r->b, i ? "," : "{", 1);
		mbuf_str(r->b, r->def->labels[i]);
		mbuf_add(r->b, "=\"", 2);
		put_escaped(r->b, values && values[i] ? values[i] : "", true);
		mbuf_add(r->b, "\"", 1);
	}
	t.len = r->b->failed ? 0 : r->b->len - t.at;
	return t;
}

/* The series' pairs again, an le pair if given, and the closing brace if any pair. */
static void labels_close(struct fod_mr *r, struct label_text t, bool again, const char *le)
{
	if (again)
		mbuf_again(r->b, t.at, t.len);
	if (le) {
		mbuf_str(r->b, t.len ? ",le=\"" : "{le=\"");
		mbuf_str(r->b, le);
		mbuf_add(r->b, "\"}", 2);
	} else if (t.len) {
		mbuf_add(r->b, "}", 1);
	}
}

/* name{pairs} before a plain value. */
static void series(struct fod_mr *r, const char *const *values)
{
	name(r, "");
	labels_close(r, labels_open(r, values), false, NULL);
	mbuf_add(r->b, " ", 1);
}

void fod_mr_uint(struct fod_mr *r, const char *const *values, unsigned long long v)
{
	series(r, values);
	mbuf_uint(r->b, v);
	mbuf_add(r->b, "\n", 1);
}

void fod_mr_int(struct fod_mr *r, const char *const *values, long long v)
{
	series(r, values);
	mbuf_int(r->b, v);
	mbuf_add(r->b, "\n", 1);
}

void fod_mr_real(struct fod_mr *r, const char *const *values, double v, int decimals)
{
	series(r, values);
	mbuf_put(r->b, "%.*f\n", decimals, v);
}

/* The bounds as the le label writes them (%g), made once. */
static char le_text[FOD_HIST_BUCKETS][16];
static pthread_once_t le_once = PTHREAD_ONCE_INIT;

static void le_init(void)
{
	for (int i = 0; i < FOD_HIST_BUCKETS - 1; i++)
		snprintf(le_text[i], sizeof(le_text[i]), "%g", bounds[i]);
	snprintf(le_text[FOD_HIST_BUCKETS - 1], sizeof(le_text[0]), "+Inf");
}

void fod_mr_hist(struct fod_mr *r, const char *const *values, struct fod_hist *h)
{
	pthread_once(&le_once, le_init);
	unsigned long cum = 0;
	struct label_text t = {0};
	for (int i = 0; i < FOD_HIST_BUCKETS; i++) {
		cum += atomic_load(&h->bucket[i]);
		name(r, "_bucket");
		if (i == 0)
			t = labels_open(r, values);
		labels_close(r, t, i > 0, le_text[i]);
		mbuf_add(r->b, " ", 1);
		mbuf_uint(r->b, cum);
		mbuf_add(r->b, "\n", 1);
	}
	name(r, "_sum");
	labels_close(r, t, true, NULL);
	mbuf_put(r->b, " %.9f\n", (double)atomic_load(&h->sum_ns) / 1e9);
	name(r, "_count");
	labels_close(r, t, true, NULL);
	mbuf_add(r->b, " ", 1);
	mbuf_uint(r->b, atomic_load(&h->count));
	mbuf_add(r->b, "\n", 1);
}
