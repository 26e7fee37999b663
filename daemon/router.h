/* SPDX-License-Identifier: MIT */
/*
 * The HTTP route table: http.c serves what its subsystems register before
 * fod_http_start() (the internal endpoints, the sim endpoint, the gateway's
 * routes) and names no handler itself. A path is served by the first route
 * that matches it and is served on the connection's listener: exact paths
 * before prefixes, a longer prefix before a shorter one, and among equals
 * the first registered. A handler that returns FOD_HTTP_DECLINED passes the
 * request on to the next route that matches.
 */
#ifndef FOD_ROUTER_H
#define FOD_ROUTER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct fod_conn;
struct fod_loop;
struct fod_http_req;

enum fod_http_access {
	FOD_HTTP_PUBLIC,  /* the public listeners only */
	FOD_HTTP_INTERNAL /* the admin listeners, and the public ones when there is no admin
			     listener or http.admin_on_public says so */
};
#define FOD_HTTP_GET	    (1u << 0) /* and HEAD: the same answer without its body */
#define FOD_HTTP_DECLINED   1
#define FOD_HTTP_MAX_ROUTES 16

struct fod_http_route {
	const char *path; /* "/metrics"; a prefix: "/sim/" */
	bool prefix;
	unsigned methods; /* FOD_HTTP_GET; another method is answered 405 */
	enum fod_http_access access;
	bool monitoring;	 /* served in the monitoring reserve past max_connections */
	atomic_ulong *responses; /* its answers' by-status counters (NULL: "no route"'s) */
	/* 0 (answered now or later through fod_http_respond), or FOD_HTTP_DECLINED. */
	int (*serve)(struct fod_conn *c, struct fod_loop *l, const struct fod_http_req *req,
		     void *arg);
	void *arg;
};

/* Adds r (copied; its path is kept, not copied) before the loops serve. 0, -EINVAL, -EEXIST or
 * -ENOSPC. */
int fod_http_route_add(const struct fod_http_route *r);
/* Forgets every route (tests). */
void fod_http_routes_clear(void);
/*
 * The next route after `after` (NULL: the first) that matches path and is
 * served on this kind of listener: on an admin listener only internal
 * routes; on a public one internal routes only when internal_here. NULL.
 */
const struct fod_http_route *fod_http_route_next(const struct fod_http_route *after,
						 const char *path, bool admin, bool internal_here);
/*
 * The internal routes' paths for a message, "/metrics, /healthz" (a prefix
 * with "*" after it), cut to len.
 */
void fod_http_routes_internal(char *out, size_t len);

#endif
