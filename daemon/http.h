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

#include <stddef.h>
#include <stdint.h>

struct fod_conn;
struct fod_loop;

/* Opens the listening socket ("ADDR:PORT"); returns the fd or -errno. */
int fod_http_listen(const char *addr);
/* Every loop accepts from fd. */
void fod_http_start(int fd);
/* Stops accepting (shutdown); open connections finish their request. */
void fod_http_stop_accepting(void);

/* The request being served: method, path (without query), query string. */
struct fod_http_req {
	const char *path, *query;
	size_t path_len, query_len;
};

/* Answers the connection's current request. body is copied. */
void fod_http_respond(struct fod_conn *c, int status, const char *content_type,
		      const char *extra_headers, const char *body, size_t len);
/* JSON error body {"error": msg, "field": field} with the status. */
void fod_http_error(struct fod_conn *c, int status, const char *field, const char *msg);

/* The gateway's hooks into a connection whose request is in flight. */
void fod_http_set_cancel(struct fod_conn *c, void (*cancel)(void *arg), void *arg);

#endif
