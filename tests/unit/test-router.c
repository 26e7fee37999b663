/* SPDX-License-Identifier: MIT */
/*
 * daemon/router.c: the HTTP route table http.c serves through. An exact
 * path wins over a prefix that also matches it, a longer prefix over a
 * shorter one, whatever the order of registration; an admin listener sees
 * only internal routes; a declined route hands on to the next that matches.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "router.h"
#include "testutil.h"

static int serve(struct fod_conn *c, struct fod_loop *l, const struct fod_http_req *req, void *arg)
{
	(void)c, (void)l, (void)req, (void)arg;
	return 0;
}

static struct fod_http_route route(const char *path, bool prefix, enum fod_http_access access)
{
	return (struct fod_http_route){.path = path,
				       .prefix = prefix,
				       .methods = FOD_HTTP_GET,
				       .access = access,
				       .serve = serve};
}

/* The path of the route that serves path on a public listener with no admin listener. */
static const char *first(const char *path, bool *prefix)
{
	const struct fod_http_route *r = fod_http_route_next(NULL, path, false, true);
	if (prefix)
		*prefix = r && r->prefix;
	return r ? r->path : "(none)";
}

/* Registered catch-all first, as a careless caller might: the order must not matter. */
static void register_all(void)
{
	fod_http_routes_clear();
	struct fod_http_route rs[] = {
		route("/", true, FOD_HTTP_PUBLIC),     /* the gateway */
		route("/sim/", true, FOD_HTTP_PUBLIC), /* the sim endpoint */
		route("/metrics", false, FOD_HTTP_INTERNAL),
		route("/", false, FOD_HTTP_INTERNAL),	 /* the dashboard */
		route("/sim/x/", true, FOD_HTTP_PUBLIC), /* a longer prefix */
	};
	for (size_t i = 0; i < ARRAY_SIZE(rs); i++)
		CU_ASSERT_EQUAL(fod_http_route_add(&rs[i]), 0);
}

static void test_exact_before_prefix(void)
{
	register_all();
	bool prefix = true;
	CU_ASSERT_STRING_EQUAL(first("/", &prefix), "/");
	CU_ASSERT_FALSE(prefix); /* the dashboard, not the gateway's "/" */
	CU_ASSERT_STRING_EQUAL(first("/metrics", &prefix), "/metrics");
	CU_ASSERT_FALSE(prefix);
	/* Only the exact path: /metrics/x and /metricsx are the gateway's. */
	CU_ASSERT_STRING_EQUAL(first("/metrics/x", &prefix), "/");
	CU_ASSERT_TRUE(prefix);
	CU_ASSERT_STRING_EQUAL(first("/metricsx", &prefix), "/");
	CU_ASSERT_TRUE(prefix);
	CU_ASSERT_STRING_EQUAL(first("/product/1", &prefix), "/");
	CU_ASSERT_TRUE(prefix);
}

static void test_longest_prefix_first(void)
{
	register_all();
	CU_ASSERT_STRING_EQUAL(first("/sim/price/1", NULL), "/sim/");
	CU_ASSERT_STRING_EQUAL(first("/sim/x/1", NULL), "/sim/x/");
	CU_ASSERT_STRING_EQUAL(first("/sim", NULL), "/"); /* not under the prefix "/sim/" */
}

/* A declined route: the walk goes on to the next match, down to the catch-all, then ends. */
static void test_decline_chain(void)
{
	register_all();
	const char *want[] = {"/sim/x/", "/sim/", "/"};
	const struct fod_http_route *r = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		r = fod_http_route_next(r, "/sim/x/7", false, true);
		CU_ASSERT_PTR_NOT_NULL_FATAL(r);
		CU_ASSERT_STRING_EQUAL(r->path, want[i]);
	}
	CU_ASSERT_PTR_NULL(fod_http_route_next(r, "/sim/x/7", false, true));
}

static void test_listeners(void)
{
	register_all();
	/* Admin listener: internal routes only, nothing else (the caller answers 404). */
	const struct fod_http_route *r = fod_http_route_next(NULL, "/metrics", true, false);
	CU_ASSERT(r && strcmp(r->path, "/metrics") == 0);
	CU_ASSERT_PTR_NULL(fod_http_route_next(NULL, "/product/1", true, false));
	CU_ASSERT_PTR_NULL(fod_http_route_next(NULL, "/sim/price/1", true, false));
	/* Public listener beside an admin one: /metrics is only a path for the gateway. */
	r = fod_http_route_next(NULL, "/metrics", false, false);
	CU_ASSERT(r && r->prefix && strcmp(r->path, "/") == 0);
	char paths[64];
	fod_http_routes_internal(paths, sizeof(paths));
	CU_ASSERT_STRING_EQUAL(paths, "/metrics, /");
}

static void test_add_refuses(void)
{
	register_all();
	struct fod_http_route dup = route("/sim/", true, FOD_HTTP_PUBLIC);
	CU_ASSERT_EQUAL(fod_http_route_add(&dup), -EEXIST);
	struct fod_http_route bad = route("sim", true, FOD_HTTP_PUBLIC);
	CU_ASSERT_EQUAL(fod_http_route_add(&bad), -EINVAL);
	char p[FOD_HTTP_MAX_ROUTES][16];
	int r = 0;
	for (int i = 0; i < FOD_HTTP_MAX_ROUTES && r == 0; i++) {
		snprintf(p[i], sizeof(p[i]), "/r%d", i);
		struct fod_http_route x = route(p[i], false, FOD_HTTP_PUBLIC);
		r = fod_http_route_add(&x);
	}
	CU_ASSERT_EQUAL(r, -ENOSPC);
	fod_http_routes_clear();
	CU_ASSERT_PTR_NULL(fod_http_route_next(NULL, "/", false, true));
}

int main(void)
{
	static const struct fo_test tests[] = {
		FO_TEST(test_exact_before_prefix), FO_TEST(test_longest_prefix_first),
		FO_TEST(test_decline_chain),	   FO_TEST(test_listeners),
		FO_TEST(test_add_refuses),
	};
	return fo_test_main("router", tests, ARRAY_SIZE(tests));
}
