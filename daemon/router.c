/* SPDX-License-Identifier: MIT */
#include "router.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/*
 * Written before the loops start, read-only after: no lock. Kept in serving
 * order (exact paths, then prefixes longest first) so a lookup is one walk.
 */
static struct fod_http_route routes[FOD_HTTP_MAX_ROUTES];
static size_t nroutes;

/* Whether a is served before b: exact before prefix, then the longer prefix. */
static bool before(const struct fod_http_route *a, const struct fod_http_route *b)
{
	if (a->prefix != b->prefix)
		return !a->prefix;
	return a->prefix && strlen(a->path) > strlen(b->path);
}

int fod_http_route_add(const struct fod_http_route *r)
{
	if (!r->path || r->path[0] != '/' || !r->serve || !r->methods)
		return -EINVAL;
	for (size_t i = 0; i < nroutes; i++)
		if (routes[i].prefix == r->prefix && routes[i].access == r->access &&
		    strcmp(routes[i].path, r->path) == 0)
			return -EEXIST;
	if (nroutes == FOD_HTTP_MAX_ROUTES)
		return -ENOSPC;
	size_t at = nroutes;
	while (at > 0 && before(r, &routes[at - 1]))
		at--;
	memmove(&routes[at + 1], &routes[at], (nroutes - at) * sizeof(routes[0]));
	routes[at] = *r;
	nroutes++;
	return 0;
}

void fod_http_routes_clear(void)
{
	nroutes = 0;
}

static bool matches(const struct fod_http_route *r, const char *path)
{
	return r->prefix ? strncmp(path, r->path, strlen(r->path)) == 0
			 : strcmp(path, r->path) == 0;
}

const struct fod_http_route *fod_http_route_next(const struct fod_http_route *after,
						 const char *path, bool admin, bool internal_here)
{
	size_t i = after ? (size_t)(after - routes) + 1 : 0;
	for (; i < nroutes; i++) {
		const struct fod_http_route *r = &routes[i];
		bool here = r->access == FOD_HTTP_INTERNAL ? admin || internal_here : !admin;
		if (here && matches(r, path))
			return r;
	}
	return NULL;
}

void fod_http_routes_internal(char *out, size_t len)
{
	size_t n = 0;
	if (len)
		out[0] = '\0';
	for (size_t i = 0; i < nroutes && n < len; i++) {
		if (routes[i].access != FOD_HTTP_INTERNAL)
			continue;
		int w = snprintf(out + n, len - n, "%s%s%s", n ? ", " : "", routes[i].path,
				 routes[i].prefix ? "*" : "");
		if (w < 0)
			break;
		n += (size_t)w;
	}
}
