/* SPDX-License-Identifier: MIT */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway.h"
#include "gen.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"

#define RBUF 16384

enum conn_state {
	WAITING,  /* for (the rest of) a request */
	SERVING,  /* a request is in flight: its answer is pending */
	WRITING,  /* sending the answer */
	CLOSING,  /* sending a final answer, then close */
	LINGERING /* answer sent, write side shut: reading the rest until EOF, then close */
};

struct fod_conn {
	struct fod_loop *loop;
	int fd;
	ev_io rio, wio;
	ev_timer timer;
	http_parser parser;
	enum conn_state state;
	char rbuf[RBUF];
	size_t rlen, rpos; /* received bytes; parsed up to rpos */
	char *url;
	size_t url_len, header_bytes, body_bytes;
	bool in_request, keep_alive, peer_gone;
	int error; /* an HTTP status to answer with, found while parsing */
	char *out;
	size_t out_len, out_pos;
	void (*cancel)(void *arg);
	void *cancel_arg;
	struct fod_gen *gen; /* limits for this connection's life */
};

static int listen_fd = -1;

static void conn_close(struct fod_conn *c);
static void conn_resume(struct fod_conn *c);
static void parse_more(struct fod_conn *c);

/* ---- listening and accepting */

int fod_http_listen(const char *addr)
{
	char host[256];
	const char *colon = strrchr(addr, ':');
	if (!colon || (size_t)(colon - addr) >= sizeof(host))
		return -EINVAL;
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || port < 0 || port > 65535)
		return -EINVAL;
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
		return -EINVAL;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 4096) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

static void on_accept(struct ev_loop *ev, ev_io *w, int revents);

static void resume_accepting(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)revents;
	struct fod_loop *l =
		(struct fod_loop *)((char *)w - offsetof(struct fod_loop, accept_pause));
	if (l->accepting)
		ev_io_start(ev, &l->accept_watcher);
}

static void start_accepting(struct fod_task *t)
{
	(void)t;
	struct fod_loop *l = fod_loop_self();
	ev_init(&l->accept_pause, resume_accepting);
	ev_io_init(&l->accept_watcher, on_accept, listen_fd, EV_READ);
	ev_io_start(l->ev, &l->accept_watcher);
	l->accepting = true;
}

void fod_http_start(int fd)
{
	listen_fd = fd;
	for (unsigned i = 0; i < fod_nloops; i++) {
		fod_loops[i].accept_start.fn = start_accepting;
		fod_loop_post(&fod_loops[i], &fod_loops[i].accept_start);
	}
}

static void stop_accepting(struct fod_task *t)
{
	(void)t;
	struct fod_loop *l = fod_loop_self();
	if (l->accepting)
		ev_io_stop(l->ev, &l->accept_watcher);
	ev_timer_stop(l->ev, &l->accept_pause);
	l->accepting = false;
}

void fod_http_stop_accepting(void)
{
	for (unsigned i = 0; i < fod_nloops; i++) {
		fod_loops[i].accept_stop.fn = stop_accepting;
		fod_loop_post(&fod_loops[i], &fod_loops[i].accept_stop);
	}
}

static const char busy_reply[] =
	"HTTP/1.1 503 Service Unavailable\r\nContent-Type: "
	"application/json\r\nContent-Length: 43\r\nRetry-After: 1\r\n"
	"Connection: close\r\n\r\n{\"error\":\"too many connections\",\"field\":\"\"}";

static void on_timer(struct ev_loop *ev, ev_timer *w, int revents);
static void on_read(struct ev_loop *ev, ev_io *w, int revents);
static void on_write(struct ev_loop *ev, ev_io *w, int revents);

static void on_accept(struct ev_loop *ev, ev_io *w, int revents)
{
	(void)revents;
	struct fod_loop *l = ev_userdata(ev);
	for (int i = 0; i < 64; i++) {
		int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				/* Out of descriptors: pause accepting a moment instead of spinning.
				 */
				log_warn("accept: %m: pausing accepts for 100 ms");
				ev_io_stop(ev, w);
				ev_timer_set(&l->accept_pause, 0.1, 0.);
				ev_timer_start(ev, &l->accept_pause);
			} else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
				log_warn("accept: %m");
			}
			return;
		}
		struct fod_gen *g = fod_gen_current();
		long open = atomic_fetch_add(&fod_counters.http_connections_open, 1) + 1;
		atomic_fetch_add(&fod_counters.http_connections_total, 1);
		struct fod_conn *c = g && open <= g->max_connections ? calloc(1, sizeof(*c)) : NULL;
		if (!c) {
			/* Over the limit: say so and hang up; nothing else is affected. */
			ssize_t n = write(fd, busy_reply, sizeof(busy_reply) - 1);
			(void)n;
			atomic_fetch_add(&fod_counters.http_requests[5], 1);
			atomic_fetch_sub(&fod_counters.http_connections_open, 1);
			close(fd);
			fod_gen_unref(g);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->loop = l;
		c->fd = fd;
		c->gen = g;
		l->connections++;
		ev_io_init(&c->rio, on_read, fd, EV_READ);
		ev_io_init(&c->wio, on_write, fd, EV_WRITE);
		ev_init(&c->timer, on_timer);
		conn_resume(c);
	}
}

/* ---- parser callbacks */

static int on_message_begin(http_parser *p)
{
	struct fod_conn *c = p->data;
	c->in_request = true;
	c->url_len = c->header_bytes = c->body_bytes = 0;
	c->error = 0;
	/* The header timeout runs from the first byte of a request. */
	c->timer.repeat = (double)c->gen->header_timeout_ns / 1e9;
	ev_timer_again(c->loop->ev, &c->timer);
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct fod_conn *c = p->data;
	if (c->url_len + len > c->gen->max_url) {
		c->error = 414;
		return -1;
	}
	char *u = realloc(c->url, c->url_len + len + 1);
	if (!u) {
		c->error = 503;
		return -1;
	}
	memcpy(u + c->url_len, at, len);
	c->url = u;
	c->url_len += len;
	c->url[c->url_len] = '\0';
	return 0;
}

static int on_header(http_parser *p, const char *at, size_t len)
{
	(void)at;
	struct fod_conn *c = p->data;
	c->header_bytes += len + 4;
	if (c->header_bytes > c->gen->max_headers) {
		c->error = 431;
		return -1;
	}
	return 0;
}

static int on_headers_complete(http_parser *p)
{
	struct fod_conn *c = p->data;
	if (p->content_length != ULLONG_MAX && p->content_length > c->gen->max_body) {
		c->error = 413;
		return -1;
	}
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	(void)at;
	struct fod_conn *c = p->data;
	c->body_bytes += len;
	if (c->body_bytes > c->gen->max_body) {
		c->error = 413;
		return -1;
	}
	return 0;
}

static void dispatch(struct fod_conn *c);

static int on_message_complete(http_parser *p)
{
	struct fod_conn *c = p->data;
	c->in_request = false;
	c->keep_alive = http_should_keep_alive(p);
	/* One request at a time: stop parsing here, pipelined bytes wait in rbuf. */
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header,
	.on_header_value = on_header,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

/* ---- reading */

static void conn_resume(struct fod_conn *c)
{
	c->state = WAITING;
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	ev_io_start(c->loop->ev, &c->rio);
	/* Idle until the next request's first byte. */
	c->timer.repeat = (double)c->gen->idle_timeout_ns / 1e9;
	ev_timer_again(c->loop->ev, &c->timer);
	if (c->rpos < c->rlen)
		parse_more(c);
}

static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 413:
		return "Payload Too Large";
	case 414:
		return "URI Too Long";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return "Unknown";
	}
}

static void parse_more(struct fod_conn *c)
{
	size_t n = http_parser_execute(&c->parser, &settings, c->rbuf + c->rpos, c->rlen - c->rpos);
	c->rpos += n;
	enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
	if (e == HPE_PAUSED) {
		/* A complete request: serve it. */
		http_parser_pause(&c->parser, 0);
		dispatch(c);
		return;
	}
	if (e != HPE_OK) {
		int status = c->error ? c->error : 400;
		atomic_fetch_add(&fod_counters.http_bad_requests, 1);
		c->keep_alive = false;
		fod_http_error(c, status,
			       status == 414   ? "url"
			       : status == 431 ? "headers"
					       : "request",
			       status == 400 ? http_errno_description(e) : reason(status));
		return;
	}
	/* Everything parsed and no complete request: make room for more. */
	if (c->rpos == c->rlen)
		c->rpos = c->rlen = 0;
}

static void on_read(struct ev_loop *ev, ev_io *w, int revents)
{
	(void)ev;
	(void)revents;
	struct fod_conn *c = (struct fod_conn *)((char *)w - offsetof(struct fod_conn, rio));
	if (c->state == LINGERING) {
		char sink[4096];
		ssize_t n = read(c->fd, sink, sizeof(sink));
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			conn_close(c);
		return;
	}
	if (c->rpos > 0 && c->rpos == c->rlen)
		c->rpos = c->rlen = 0;
	if (c->rlen == RBUF && c->rpos > 0) {
		memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
		c->rlen -= c->rpos;
		c->rpos = 0;
	}
	if (c->rlen == RBUF) {
		/* Full of unparsed (pipelined) bytes while serving: stop reading for now. */
		ev_io_stop(c->loop->ev, &c->rio);
		return;
	}
	ssize_t n = read(c->fd, c->rbuf + c->rlen, RBUF - c->rlen);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		/* The client went away: a request in flight is cancelled at once. */
		c->peer_gone = true;
		if (c->state == SERVING && c->cancel) {
			ev_io_stop(c->loop->ev, &c->rio);
			c->cancel(c->cancel_arg);
			return;
		}
		conn_close(c);
		return;
	}
	if (n < 0)
		return;
	c->rlen += (size_t)n;
	if (c->state == WAITING)
		parse_more(c);
}

static void on_timer(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)ev;
	(void)revents;
	struct fod_conn *c = (struct fod_conn *)((char *)w - offsetof(struct fod_conn, timer));
	if (c->state == WAITING && c->in_request) {
		c->keep_alive = false;
		fod_http_error(c, 408, "request", "header timeout");
		return;
	}
	conn_close(c); /* idle, or a reader too slow to take its answer */
}

/* ---- answering */

static void on_write(struct ev_loop *ev, ev_io *w, int revents)
{
	(void)ev;
	(void)revents;
	struct fod_conn *c = (struct fod_conn *)((char *)w - offsetof(struct fod_conn, wio));
	int r = fod_write_some(c->fd, c->out, c->out_len, &c->out_pos);
	if (r <= 0) {
		if (r < 0)
			conn_close(c);
		return;
	}
	ev_io_stop(c->loop->ev, &c->wio);
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_pos = 0;
	if (c->peer_gone) {
		conn_close(c);
		return;
	}
	if (c->state == CLOSING || !c->keep_alive) {
		/*
		 * Closing with unread input would send a reset that can overtake
		 * the answer: shut the write side, read until the peer closes (at
		 * most a second), then close.
		 */
		c->state = LINGERING;
		shutdown(c->fd, SHUT_WR);
		ev_io_start(c->loop->ev, &c->rio);
		c->timer.repeat = 1.0;
		ev_timer_again(c->loop->ev, &c->timer);
		return;
	}
	free(c->url);
	c->url = NULL;
	conn_resume(c);
}

void fod_http_respond(struct fod_conn *c, int status, const char *content_type,
		      const char *extra_headers, const char *body, size_t len)
{
	c->cancel = NULL;
	if (status >= 100 && status < 600)
		atomic_fetch_add(&fod_counters.http_requests[status / 100], 1);
	if (c->peer_gone) {
		conn_close(c);
		return;
	}
	char head[512];
	int hn = snprintf(head, sizeof(head),
			  "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
			  "Connection: %s\r\n\r\n",
			  status, reason(status), content_type, len,
			  extra_headers ? extra_headers : "",
			  c->keep_alive ? "keep-alive" : "close");
	c->out = malloc((size_t)hn + len);
	if (!c->out) {
		conn_close(c);
		return;
	}
	memcpy(c->out, head, (size_t)hn);
	memcpy(c->out + hn, body, len);
	c->out_len = (size_t)hn + len;
	c->out_pos = 0;
	c->state = c->keep_alive ? WRITING : CLOSING;
	/* The idle timeout bounds a reader that will not take its answer. */
	c->timer.repeat = (double)c->gen->idle_timeout_ns / 1e9;
	ev_timer_again(c->loop->ev, &c->timer);
	ev_io_start(c->loop->ev, &c->wio);
	on_write(c->loop->ev, &c->wio, EV_WRITE);
}

void fod_http_error(struct fod_conn *c, int status, const char *field, const char *msg)
{
	char body[512];
	int n = snprintf(body, sizeof(body), "{\"error\":\"%s\",\"field\":\"%s\"}\n", msg, field);
	fod_http_respond(c, status, "application/json", NULL, body, (size_t)n);
}

void fod_http_set_cancel(struct fod_conn *c, void (*cancel)(void *arg), void *arg)
{
	c->cancel = cancel;
	c->cancel_arg = arg;
}

static void conn_close(struct fod_conn *c)
{
	ev_io_stop(c->loop->ev, &c->rio);
	ev_io_stop(c->loop->ev, &c->wio);
	ev_timer_stop(c->loop->ev, &c->timer);
	close(c->fd);
	c->loop->connections--;
	atomic_fetch_sub(&fod_counters.http_connections_open, 1);
	fod_gen_unref(c->gen);
	free(c->url);
	free(c->out);
	free(c);
}

/* ---- routing */

static const char dashboard[] =
	"<!doctype html><meta charset=utf-8><title>fanoutd</title>"
	"<style>body{font:14px monospace;margin:2em}pre{white-space:pre-wrap}</style>"
	"<h1>fanoutd</h1><p>Live metrics, refreshed every second. Try <a "
	"href=/product/1>/product/1</a>.</p><pre id=m></pre><script>"
	"async function t(){const r=await fetch('/metrics');const x=await r.text();"
	"document.getElementById('m').textContent=x.split('\\n').filter(l=>l&&l[0]!='#'&&"
	"!l.includes('_bucket')).join('\\n')}t();setInterval(t,1000)</script>";

static void dispatch(struct fod_conn *c)
{
	c->state = SERVING;
	ev_timer_stop(c->loop->ev, &c->timer);
	int method = c->parser.method;
	struct http_parser_url u;
	http_parser_url_init(&u);
	if (!c->url || http_parser_parse_url(c->url, c->url_len, 0, &u) != 0 ||
	    !(u.field_set & (1 << UF_PATH))) {
		fod_http_error(c, 400, "url", "malformed request target");
		return;
	}
	struct fod_http_req req = {
		.path = c->url + u.field_data[UF_PATH].off,
		.path_len = u.field_data[UF_PATH].len,
		.query = (u.field_set & (1 << UF_QUERY)) ? c->url + u.field_data[UF_QUERY].off : "",
		.query_len = (u.field_set & (1 << UF_QUERY)) ? u.field_data[UF_QUERY].len : 0,
	};
	c->url[u.field_data[UF_PATH].off + u.field_data[UF_PATH].len] = '\0';
	if (method != HTTP_GET && method != HTTP_HEAD) {
		fod_http_error(c, 405, "method", "only GET is served");
		return;
	}
	if (strcmp(req.path, "/metrics") == 0) {
		struct fod_gen *g = fod_gen_current();
		size_t len;
		char *text = fod_metrics_render(g, &len);
		fod_gen_unref(g);
		fod_http_respond(c, 200, "text/plain; version=0.0.4", NULL, text ? text : "",
				 text ? len : 0);
		free(text);
	} else if (strcmp(req.path, "/healthz") == 0) {
		struct fod_gen *g = fod_gen_current();
		char body[128];
		bool draining = fod_gateway_draining();
		int n = snprintf(body, sizeof(body), "{\"status\":\"%s\",\"generation\":%lu}\n",
				 draining ? "draining" : "ok", g ? (unsigned long)g->id : 0UL);
		fod_gen_unref(g);
		/* A draining instance tells load balancers to move away. */
		fod_http_respond(c, draining ? 503 : 200, "application/json", NULL, body,
				 (size_t)n);
	} else if (strcmp(req.path, "/") == 0) {
		fod_http_respond(c, 200, "text/html; charset=utf-8", NULL, dashboard,
				 sizeof(dashboard) - 1);
	} else {
		fod_gateway_serve(c, c->loop, &req);
	}
}
