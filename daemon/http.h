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

#include <libconfig.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fod_conn;
struct fod_loop;

#include "fanoutd/fanout.h"
#include "router.h"

/*
 * Connections accepted beyond http.max_connections that may only ask for
 * /metrics, /healthz and /readyz (anything else: 503), so monitoring and
 * load balancers still reach a full daemon. Past this reserve, a connection
 * gets 503 and is closed.
 */
#define FOD_HTTP_MONITOR_RESERVE 8

/*
 * Connections at once on the admin listeners (http.admin_listen), apart
 * from http.max_connections: monitoring stays reachable when the public
 * listeners are full.
 */
#define FOD_HTTP_ADMIN_MAX_CONNECTIONS 64
/* Listening sockets at most, every address of every listener counted. */
#define FOD_HTTP_MAX_LISTENERS 32
/* The largest http.max_url and http.max_headers a configuration may set. */
#define FOD_HTTP_MAX_URL_LIMIT	   65536
#define FOD_HTTP_MAX_HEADERS_LIMIT (1 << 20)
/* Counted and logged for a request whose client left before its answer (never sent). */
#define FOD_HTTP_CLIENT_GONE 499

struct fod_gen;

struct fod_conf_sink;
/*
 * Reads http.listen or http.admin_listen (name) from the http group: one
 * address or a list of them, each checked by fod_http_split_addr. *out is
 * the addresses separated by spaces (malloc'd; dflt when the setting is
 * absent). 0 or -EINVAL after an error at the setting.
 */
int fod_http_conf_listen(struct fod_conf_sink *k, const config_setting_t *http, const char *name,
			 const char *dflt, char **out);
/*
 * Opens the listeners: the sockets systemd passed (named "admin": the admin
 * listener; any other: public) and, for each kind systemd passed none of,
 * the addresses of g's http.listen and http.admin_listen. 0 or -errno
 * (logged, naming the address).
 */
int fod_http_open_listeners(const struct fod_gen *g);
/* A public listening socket opened by the caller (the fuzz harness's): http.c owns it from now. */
int fod_http_adopt_listener(int fd);
/*
 * Every loop accepts from the listeners; http.c owns them and closes them.
 * Each loop's HTTP state (its connections, accept watchers, drain) is
 * http.c's, made here: 0 or -ENOMEM.
 */
int fod_http_start(void);
/* After the loops have stopped: frees the per-loop HTTP state. */
void fod_http_free(void);
/* Connections on loop i's list (read on that loop's thread, or with the loops still). */
long fod_http_loop_connections(unsigned loop);
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

/*
 * The status the current request's answer is counted and logged with, given
 * the one the caller answers: 499 when the client has gone (nginx's "client
 * closed request": nothing is sent, and a client's leaving is no downstream
 * failure), 503 once the drain time is over (fod_http_respond sends that
 * instead), else status. c may be NULL (no connection): status.
 */
int fod_http_final_status(const struct fod_conn *c, int status);
/* Answers the connection's current request. body is copied. */
void fod_http_respond(struct fod_conn *c, int status, const char *content_type,
		      const char *extra_headers, const char *body, size_t len);
/*
 * The by-status counters (metrics.h) the connection's answer is counted in:
 * a route's, once the gateway has matched it (by default, "no route").
 */
void fod_http_count_as(struct fod_conn *c, atomic_ulong *by_status);
/*
 * s as JSON string content in dst (cap >= 1 bytes, NUL included), cut short
 * to fit; its length. For bodies that carry configured names (a route's, a
 * branch's), which may hold quotes.
 */
size_t fod_http_json_text(char *dst, size_t cap, const char *s);
/* JSON error body {"error": msg, "field": field} with the status (both escaped). */
void fod_http_error(struct fod_conn *c, int status, const char *field, const char *msg);

/*
 * The gateway's hook into a connection whose request is in flight: called
 * with FO_CAUSE_CLIENT_GONE when the client leaves, FO_CAUSE_SHUTDOWN when
 * the drain time is over (the request's answer then becomes a 503).
 */
void fod_http_set_cancel(struct fod_conn *c, void (*cancel)(void *arg, enum fo_cause why),
			 void *arg);

#endif
