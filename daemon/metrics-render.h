/* SPDX-License-Identifier: MIT */
/*
 * The one renderer of /metrics (the Prometheus text format): a family is
 * declared once (struct fo_metric_def, the module SDK's form, for the
 * daemon's families and the modules' alike) and its series are written
 * through these calls, which write its HELP and TYPE before its first
 * series (a family without series is left out), the label pairs in the
 * declared order with their values escaped, and a histogram's buckets, sum
 * and count. Also the fixed-bucket histogram itself.
 */
#ifndef FOD_METRICS_RENDER_H
#define FOD_METRICS_RENDER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fanoutd/module.h"

#define FOD_HIST_BUCKETS 15
struct fod_hist {
	atomic_ulong bucket[FOD_HIST_BUCKETS]; /* not cumulative; the last is +Inf */
	atomic_ulong count;
	atomic_ullong sum_ns;
};
void fod_hist_observe(struct fod_hist *h, int64_t ns);
/* The histogram's upper bounds in seconds (FOD_HIST_BUCKETS - 1 of them; the last is +Inf). */
const double *fod_hist_bounds(void);

/* A growing text buffer; a failed allocation drops the rest (failed says so). */
struct fod_mbuf {
	char *p;
	size_t len, cap;
	bool failed;
};

/* One family being written: prefix (may be "") and def's name make its name. */
struct fod_mr {
	struct fod_mbuf *b;
	const struct fo_metric_def *def;
	const char *prefix;
	bool headed;
};
void fod_mr_begin(struct fod_mr *r, struct fod_mbuf *b, const char *prefix,
		  const struct fo_metric_def *def);
/* One series: values has one value per declared label (NULL when there are none). */
void fod_mr_uint(struct fod_mr *r, const char *const *values, unsigned long long v);
void fod_mr_int(struct fod_mr *r, const char *const *values, long long v);
/* A real number with this many decimals (timestamps, seconds). */
void fod_mr_real(struct fod_mr *r, const char *const *values, double v, int decimals);
void fod_mr_hist(struct fod_mr *r, const char *const *values, struct fod_hist *h);

#endif
