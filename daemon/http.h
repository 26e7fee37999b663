/* SPDX-License-Identifier: MIT */
/*
 * The HTTP/1.1 server: libev watchers per connection, the packaged
 * http_parser for framing (no hand-written parser), keep-alive, and the
 * limits of DESIGN.md section 8: request line (414), headers (431), body
 * (413), malformed input (400), header and idle timeouts, max connections.
 * A connection belongs to one loop and is touched only there.
 */
#ifndef FOD_HTTP_H
#define FOD_HTTP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct fod_conn;
struct fod_loop;

#include "fanoutd/fanout.h"

/*
 * Connections accepted beyond http.max_connections that may only ask for
 * /metrics, /healthz and /readyz (anything else: 503), so monitoring and
 * load balancers still reach a full daemon. Past this reserve, a connection
 * gets 503 and is closed.
 */
#define FOD_HTTP_MONITOR_RESERVE 8

/* Opens the listening socket ("ADDR:PORT"); returns the fd or -errno. */
int fod_http_listen(const char *addr);
/* Every loop accepts from fd; http.c owns fd from now on and closes it. */
void fod_http_start(int fd);
/*
 * Starts the shutdown drain: every loop stops accepting (the last one closes
 * the listener, so new connects are refused), idle keep-alive connections
 * are closed, and requests in progress are answered with Connection: close.
 */
void fod_http_drain(void);
/* Drain time over: requests still in progress are answered 503 at once. */
void fod_http_expire(void);
/*
 * Just before the loops stop: closes every connection left (lingering ones,
 * clients that did not close yet), except one still serving a request that
 * a forced stop leaves behind.
 */
void fod_http_close_all(void);
/* Connections with a request in progress: from its first byte to its answer's last. */
long fod_http_busy(void);

/*
 * A request id: the client's X-Request-Id when it is 1 to this many
 * printable characters (no space, quote or backslash, so it goes into logs
 * and JSON as it is), else one generated here.
 */
#define FOD_REQUEST_ID_MAX 64

/* The request being served: method, path (without query), query string, request id. */
struct fod_http_req {
	const char *path, *query;
	size_t path_len, query_len;
	const char *request_id; /* every answer carries it back as X-Request-Id */
};

/* Answers the connection's current request. body is copied. */
void fod_http_respond(struct fod_conn *c, int status, const char *content_type,
		      const char *extra_headers, const char *body, size_t len);
/*
 * The by-status counters (metrics.h) the connection's answer is counted in:
 * a route's, once the gateway has matched it (by default, "no route").
 */
void fod_http_count_as(struct fod_conn *c, atomic_ulong *by_status);
/* JSON error body {"error": msg, "field": field} with the status. */
void fod_http_error(struct fod_conn *c, int status, const char *field, const char *msg);

/*
 * The gateway's hook into a connection whose request is in flight: called
 * with FO_CAUSE_CLIENT_GONE when the client leaves, FO_CAUSE_SHUTDOWN when
 * the drain time is over (the request's answer then becomes a 503).
 */
void fod_http_set_cancel(struct fod_conn *c, void (*cancel)(void *arg, enum fo_cause why),
			 void *arg);

#endif
