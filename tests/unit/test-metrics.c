/* SPDX-License-Identifier: MIT */
/*
 * daemon/metrics-render.c (the one /metrics renderer, over a small declared
 * table), daemon/strmap.c (the registries' map) and daemon/metrics-module.c
 * (the module SDK's metrics service).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "strmap.h"
#include "testutil.h"

static const struct fo_metric_def table[] = {
	{"t_up", "Up or not.", FO_METRIC_GAUGE, {NULL}},
	{"t_requests_total",
	 "Requests\\ by \"route\"\nand code.",
	 FO_METRIC_COUNTER,
	 {"route", "code"}},
	{"t_latency_seconds", "Latency.", FO_METRIC_HISTOGRAM, {"route"}},
	{"t_never", "No series: left out.", FO_METRIC_GAUGE, {NULL}},
};

static void test_render_table(void)
{
	struct fod_mbuf b = {0};
	struct fod_mr r;
	fod_mr_begin(&r, &b, "", &table[0]);
	fod_mr_int(&r, NULL, 1);
	fod_mr_begin(&r, &b, "", &table[1]);
	fod_mr_uint(&r, (const char *const[]){"a\"b\\c\nd", "200"}, 7);
	fod_mr_uint(&r, (const char *const[]){"plain", "503"}, 0);
	fod_mr_uint(&r, (const char *const[]){"max", "200"}, ULLONG_MAX);
	fod_mr_begin(&r, &b, "", &table[0]);
	fod_mr_int(&r, NULL, -1);
	fod_mr_int(&r, NULL, LLONG_MIN);
	fod_mr_int(&r, NULL, LLONG_MAX);
	fod_mr_real(&r, NULL, -2.5, 3);
	fod_mr_begin(&r, &b, "", &table[3]);
	CU_ASSERT_FALSE(b.failed);
	const char *want = "# HELP t_up Up or not.\n"
			   "# TYPE t_up gauge\n"
			   "t_up 1\n"
			   "# HELP t_requests_total Requests\\\\ by \"route\"\\nand code.\n"
			   "# TYPE t_requests_total counter\n"
			   "t_requests_total{route=\"a\\\"b\\\\c\\nd\",code=\"200\"} 7\n"
			   "t_requests_total{route=\"plain\",code=\"503\"} 0\n"
			   "t_requests_total{route=\"max\",code=\"200\"} 18446744073709551615\n"
			   "# HELP t_up Up or not.\n"
			   "# TYPE t_up gauge\n"
			   "t_up -1\n"
			   "t_up -9223372036854775808\n"
			   "t_up 9223372036854775807\n"
			   "t_up -2.500\n";
	CU_ASSERT_EQUAL(b.len, strlen(want));
	CU_ASSERT_STRING_EQUAL(b.p, want);
	if (strcmp(b.p, want) != 0)
		printf("\n--- got:\n%s--- want:\n%s", b.p, want);
	free(b.p);
}

static void test_render_histogram(void)
{
	struct fod_hist h = {0};
	fod_hist_observe(&h, 2 * FO_MSEC); /* (0.001, 0.0025] */
	fod_hist_observe(&h, 40 * FO_SEC); /* past 30 s: +Inf */
	struct fod_mbuf b = {0};
	struct fod_mr r;
	fod_mr_begin(&r, &b, "fanoutd_module_x_", &table[2]);
	fod_mr_hist(&r, (const char *const[]){"r"}, &h);
	fod_mr_hist(&r, (const char *const[]){"e\"s\\c"}, &h);
	static const char *const lines[] = {
		"# TYPE fanoutd_module_x_t_latency_seconds histogram\n",
		"fanoutd_module_x_t_latency_seconds_bucket{route=\"r\",le=\"0.001\"} 0\n",
		"fanoutd_module_x_t_latency_seconds_bucket{route=\"r\",le=\"0.0025\"} 1\n",
		"fanoutd_module_x_t_latency_seconds_bucket{route=\"r\",le=\"30\"} 1\n",
		"fanoutd_module_x_t_latency_seconds_bucket{route=\"r\",le=\"+Inf\"} 2\n",
		"fanoutd_module_x_t_latency_seconds_sum{route=\"r\"} 40.002000000\n",
		"fanoutd_module_x_t_latency_seconds_count{route=\"r\"} 2\n",
		/* A series' escaped labels on each of its lines. */
		"\nfanoutd_module_x_t_latency_seconds_bucket{route=\"e\\\"s\\\\c\",le=\"0.001\"} "
		"0\n",
		"\nfanoutd_module_x_t_latency_seconds_bucket{route=\"e\\\"s\\\\c\",le=\"+Inf\"} "
		"2\n",
		"\nfanoutd_module_x_t_latency_seconds_sum{route=\"e\\\"s\\\\c\"} 40.002000000\n",
		"\nfanoutd_module_x_t_latency_seconds_count{route=\"e\\\"s\\\\c\"} 2\n",
	};
	for (size_t i = 0; i < ARRAY_SIZE(lines); i++) {
		if (!strstr(b.p, lines[i]))
			printf("\n  missing: %s", lines[i]);
		CU_ASSERT_PTR_NOT_NULL(strstr(b.p, lines[i]));
	}
	/* A histogram without labels: {le=...} alone, and the sum without braces. */
	static const struct fo_metric_def bare = {
		"t_bare_seconds", "Bare.", FO_METRIC_HISTOGRAM, {NULL}};
	fod_mr_begin(&r, &b, "", &bare);
	fod_mr_hist(&r, NULL, &h);
	CU_ASSERT_PTR_NOT_NULL(strstr(b.p, "\nt_bare_seconds_bucket{le=\"+Inf\"} 2\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(b.p, "\nt_bare_seconds_sum 40.002000000\n"));
	free(b.p);
}

/* 100,000 keys, each found, none confused with another of the same bytes up to a NUL. */
static void test_strmap(void)
{
	enum { N = 100000 };
	struct fod_strmap m = {0};
	char(*keys)[24] = calloc(N, sizeof(*keys));
	CU_ASSERT_PTR_NOT_NULL_FATAL(keys);
	for (int i = 0; i < N; i++) {
		int n = snprintf(keys[i], sizeof(keys[i]), "route%c%d", '\0', i);
		CU_ASSERT_EQUAL(fod_strmap_add(&m, keys[i], (size_t)n, &keys[i]), 0);
	}
	CU_ASSERT_EQUAL(m.n, N);
	int wrong = 0;
	for (int i = 0; i < N; i++) {
		char k[24];
		int n = snprintf(k, sizeof(k), "route%c%d", '\0', i);
		wrong += fod_strmap_get(&m, k, (size_t)n) != &keys[i];
	}
	CU_ASSERT_EQUAL(wrong, 0);
	CU_ASSERT_PTR_NULL(fod_strmap_get(&m, "route", 5));
	CU_ASSERT_PTR_NULL(fod_strmap_get(&m,
					  "route\0"
					  "100000",
					  12));
	fod_strmap_clear(&m);
	CU_ASSERT_PTR_NULL(fod_strmap_get(&m, keys[0], 7));
	free(keys);
}

static char *render_modules(void)
{
	struct fod_mbuf b = {0};
	fod_metrics_modules_render(&b);
	return b.p ? b.p : strdup("");
}

static void test_module_service(void)
{
	char err[256];
	struct fo_metric_family *f[2], *g[1];
	static const struct fo_metric_def bad[][1] = {
		{{"calls", "A counter without _total.", FO_METRIC_COUNTER, {"kind"}}},
		{{"depth_total", "A gauge with _total.", FO_METRIC_GAUGE, {NULL}}},
		{{"Calls_total", "Upper case.", FO_METRIC_COUNTER, {NULL}}},
		{{"wait_seconds", "le is the histogram's.", FO_METRIC_HISTOGRAM, {"le"}}},
		{{"x_total", "A label twice.", FO_METRIC_COUNTER, {"a", "a"}}},
		{{"y_total", "A reserved label.", FO_METRIC_COUNTER, {"__name"}}},
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		err[0] = '\0';
		CU_ASSERT_EQUAL(fod_metrics_module_declare("m", bad[i], 1, g, err, sizeof(err)),
				-EINVAL);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, bad[i][0].name));
	}
	static const struct fo_metric_def defs[] = {
		{"failures_total", "Failures by kind.", FO_METRIC_COUNTER, {"branch", "kind"}},
		{"queue_depth", "Queued.", FO_METRIC_GAUGE, {NULL}},
	};
	CU_ASSERT_EQUAL_FATAL(fod_metrics_module_declare("my-mod", defs, 2, f, err, sizeof(err)),
			      0);
	/* A second instance (a reload's) shares the family; another shape is refused. */
	CU_ASSERT_EQUAL(fod_metrics_module_declare("my-mod", defs, 1, g, err, sizeof(err)), 0);
	CU_ASSERT_PTR_EQUAL(g[0], f[0]);
	struct fo_metric_def other = defs[0];
	other.labels[1] = "reason";
	struct fo_metric_family *h;
	CU_ASSERT_EQUAL(fod_metrics_module_declare("my-mod", &other, 1, &h, err, sizeof(err)),
			-EEXIST);

	struct fo_metric *a = fod_metrics_module_series(f[0], (const char *const[]){"b1", "dns"});
	struct fo_metric *a2 = fod_metrics_module_series(f[0], (const char *const[]){"b1", "dns"});
	struct fo_metric *c = fod_metrics_module_series(f[0], (const char *const[]){"b1\"", "tls"});
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_EQUAL(a, a2);
	CU_ASSERT_PTR_NOT_EQUAL(a, c);
	fod_metrics_module_add(a, 2);
	fod_metrics_module_add(a2, 1);
	fod_metrics_module_add(a, -5);	  /* a counter never goes back */
	fod_metrics_module_set(a, 0);	  /* nor is set */
	fod_metrics_module_observe(a, 1); /* not a histogram */
	fod_metrics_module_add(NULL, 1);
	struct fo_metric *q = fod_metrics_module_series(f[1], NULL);
	fod_metrics_module_set(q, 42);
	fod_metrics_module_add(q, -2);
	char *text = render_modules();
	CU_ASSERT_PTR_NOT_NULL(
		strstr(text, "# TYPE fanoutd_module_my_mod_failures_total counter\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(
		text, "\nfanoutd_module_my_mod_failures_total{branch=\"b1\",kind=\"dns\"} 3\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(
		text,
		"\nfanoutd_module_my_mod_failures_total{branch=\"b1\\\"\",kind=\"tls\"} 0\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "\nfanoutd_module_my_mod_queue_depth 40\n"));
	free(text);

	/* The first instance goes: the second keeps the family and its counts. */
	fod_metrics_module_release(f[0]);
	fod_metrics_module_release(f[1]);
	text = render_modules();
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "{branch=\"b1\",kind=\"dns\"} 3\n"));
	CU_ASSERT_PTR_NULL(strstr(text, "queue_depth"));
	free(text);
	/* The last one goes: so does the family, and another shape may take its name. */
	fod_metrics_module_release(g[0]);
	text = render_modules();
	CU_ASSERT_STRING_EQUAL(text, "");
	free(text);
	CU_ASSERT_EQUAL(fod_metrics_module_declare("my-mod", &other, 1, &h, err, sizeof(err)), 0);
	fod_metrics_module_release(h);
}

int main(void)
{
	static const struct fo_test tests[] = {
		FO_TEST(test_render_table),
		FO_TEST(test_render_histogram),
		FO_TEST(test_strmap),
		FO_TEST(test_module_service),
	};
	return fo_test_main("metrics", tests, ARRAY_SIZE(tests));
}
