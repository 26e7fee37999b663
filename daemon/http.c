/* SPDX-License-Identifier: MIT */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <limits.h>
#include <netinet/in.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "conf.h"
#include "control.h"
#include "generation.h"
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

/* Each loop's share of HTTP: its accept watchers, its connections, its drain. */
struct http_loop {
	struct fod_loop *loop;
	ev_io accept_watchers[FOD_HTTP_MAX_LISTENERS]; /* one per listener */
	ev_timer accept_pause; /* out of descriptors: accept again after it */
	struct fod_post accept_start, accept_stop, drain_expire, close_all;
	struct fod_conn *conns; /* walked by the drain */
	long connections;
	bool accepting;
	bool draining; /* shutting down: no keep-alive, idle connections closed */
};
/* fod_nloops of them, indexed like fod_loops (fod_http_start makes them). */
static struct http_loop *http_loops;

struct fod_conn {
	struct fod_loop *loop;
	struct http_loop *hl;	      /* the same loop's HTTP state */
	struct fod_conn *prev, *next; /* hl's list */
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
	bool busy;	   /* a request in progress: counted by fod_http_busy() */
	bool head;	   /* the request is HEAD: the answer carries no body */
	bool monitor_only; /* accepted into the monitoring reserve */
	bool admin;	   /* accepted on an admin listener: internal endpoints only */
	bool expired;	   /* drain time over: whatever is answered becomes a 503 */
	bool in_value;	   /* the parser's last header callback was for a value */
	int error;	   /* an HTTP status to answer with, found while parsing */
	char *out;
	size_t out_len, out_pos;
	void (*cancel)(void *arg, enum fo_cause why);
	void *cancel_arg;
	/*
	 * The http limits of the request in progress (between requests: of the
	 * last one), copied from the generation current at accept and at each
	 * request's first byte. A copy, not a reference: a keep-alive connection
	 * must not keep a replaced generation (its threads, module instances and
	 * downstream connections) alive, and its next request gets the new limits.
	 */
	struct conn_limits {
		size_t max_url, max_headers, max_body;
		int64_t header_timeout_ns, idle_timeout_ns;
		bool admin_on_public;
	} lim;
	atomic_ulong *responses; /* where this request's answer is counted, by status */
	char hname[16];		 /* the header name being read, lower case, if short */
	size_t hname_len;	 /* its length so far (past sizeof(hname): not one we read) */
	size_t rid_len;		 /* X-Request-Id bytes so far; past the max: replaced */
	bool rid_ready;		 /* request_id checked (or made) and terminated: answers carry it */
	bool write_failed;	 /* a direct write (100 Continue) failed: close, answer nothing */
	char expect[16];	 /* the Expect header's value, lower case, if short */
	size_t expect_len;	 /* its length so far */
	char request_id[FOD_REQUEST_ID_MAX + 1];
};

/* The listening sockets, shared by every loop (each has a watcher per listener). */
struct listener {
	int fd;
	bool admin;
	bool passed; /* by systemd, which keeps its own copy listening */
};
static struct listener listeners[FOD_HTTP_MAX_LISTENERS];
static size_t nlisteners;
static bool have_admin_listener;
/* Open connections by kind: the public ones are held to http.max_connections. */
static atomic_long public_open, admin_open;
static atomic_uint loops_still_accepting;
static atomic_long busy_conns;

static void conn_close(struct fod_conn *c);
static void conn_resume(struct fod_conn *c, int64_t wait_ns);

static void conn_limits_set(struct fod_conn *c, const struct fod_gen *g)
{
	c->lim = (struct conn_limits){.max_url = g->http.max_url,
				      .max_headers = g->http.max_headers,
				      .max_body = g->http.max_body,
				      .header_timeout_ns = g->http.header_timeout_ns,
				      .idle_timeout_ns = g->http.idle_timeout_ns,
				      .admin_on_public = g->http.admin_on_public};
}
static void parse_more(struct fod_conn *c);

/* A request is in progress from its first byte until its answer is written. */
static void conn_set_busy(struct fod_conn *c, bool busy)
{
	if (c->busy == busy)
		return;
	c->busy = busy;
	atomic_fetch_add(&busy_conns, busy ? 1 : -1);
}

long fod_http_busy(void)
{
	return atomic_load(&busy_conns);
}

/* ---- listening and accepting */

#define BUSY_BODY  "{\"error\":\"too many connections\",\"field\":\"\"}\n"
#define DRAIN_BODY "{\"error\":\"shutting down: drain time over\",\"field\":\"\"}\n"

/* Written straight to a connection past the reserve; Content-Length is the body's. */
static char busy_reply[256];
static size_t busy_reply_len;

static void format_busy_reply(void)
{
	int n = snprintf(busy_reply, sizeof(busy_reply),
			 "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\nRetry-After: 1\r\nConnection: close\r\n\r\n%s",
			 sizeof(BUSY_BODY) - 1, BUSY_BODY);
	busy_reply_len = (size_t)n;
}

/*
 * Splits "HOST:PORT", "[V6ADDR]:PORT" or ":PORT" into host (brackets
 * removed; "" for every address) and port; 0 or -EINVAL.
 */
static int fod_http_split_addr(const char *addr, char *host, size_t hostlen, char *port,
			       size_t portlen)
{
	const char *colon = strrchr(addr, ':');
	if (!colon || colon[1] == '\0' || strlen(colon + 1) >= portlen)
		return -EINVAL;
	const char *h = addr, *hend = colon;
	if (*h == '[') {
		/* "[::1]:8080": the brackets keep the address's colons apart from the port's. */
		if (hend == h || hend[-1] != ']')
			return -EINVAL;
		h++;
		hend--;
	} else if (memchr(addr, ':', (size_t)(colon - addr))) {
		return -EINVAL; /* an IPv6 address needs its brackets */
	}
	if ((size_t)(hend - h) >= hostlen)
		return -EINVAL;
	char *end;
	long p = strtol(colon + 1, &end, 10);
	if (*end || p < 0 || p > 65535)
		return -EINVAL;
	memcpy(host, h, (size_t)(hend - h));
	host[hend - h] = '\0';
	snprintf(port, portlen, "%ld", p);
	return 0;
}

/* One listening socket on ai; the fd or -errno. */
static int listen_on(const struct addrinfo *ai)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			ai->ai_protocol);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* "localhost" is 127.0.0.1 and ::1 on one port: the IPv6 socket must not take IPv4 too. */
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 4096) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/*
 * Binds and listens on every address "HOST:PORT" resolves to (a name may be
 * IPv4 and IPv6), appending the fds to fds[*n], at most max. 0 or -errno
 * (then nothing is left open).
 */
static int fod_http_listen(const char *addr, int *fds, size_t max, size_t *n)
{
	char host[256], port[8];
	if (fod_http_split_addr(addr, host, sizeof(host), port, sizeof(port)) < 0)
		return -EINVAL;
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV},
			*res;
	/* "" or "*": every address of the host (0.0.0.0 and ::). */
	bool any = !*host || strcmp(host, "*") == 0;
	int e = getaddrinfo(any ? NULL : host, port, &hints, &res);
	if (e) {
		log_err("cannot resolve %s: %s", addr, gai_strerror(e));
		return e == EAI_SYSTEM ? -errno : e == EAI_MEMORY ? -ENOMEM : -EADDRNOTAVAIL;
	}
	size_t first = *n;
	int r = 0;
	for (struct addrinfo *ai = res; ai && r >= 0; ai = ai->ai_next) {
		bool seen = false; /* a name listed twice in /etc/hosts resolves twice */
		for (struct addrinfo *p = res; p != ai && !seen; p = p->ai_next)
			seen = p->ai_addrlen == ai->ai_addrlen &&
			       memcmp(p->ai_addr, ai->ai_addr, ai->ai_addrlen) == 0;
		if (seen)
			continue;
		if (*n == max) {
			r = -EMFILE;
			break;
		}
		if ((r = listen_on(ai)) >= 0)
			fds[(*n)++] = r;
	}
	freeaddrinfo(res);
	if (r < 0)
		while (*n > first)
			close(fds[--*n]);
	return r < 0 ? r : 0;
}

static int add_listener(int fd, bool admin, bool passed)
{
	if (nlisteners == FOD_HTTP_MAX_LISTENERS)
		return -EMFILE;
	listeners[nlisteners++] = (struct listener){.fd = fd, .admin = admin, .passed = passed};
	have_admin_listener |= admin;
	return 0;
}

int fod_http_adopt_listener(int fd)
{
	return add_listener(fd, false, false);
}

/* The address a listening socket is bound to, "127.0.0.1:8080" or "[::1]:8080". */
static void describe(int fd, char *out, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
			inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
			port = ntohs(s6->sin6_port);
			snprintf(out, len, "[%s]:%u", host, port);
			return;
		}
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
			inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
			port = ntohs(s4->sin_port);
		}
	}
	snprintf(out, len, "%s:%u", host, port);
}

/* Binds every address of a space-separated list; 0, or -errno after logging which one failed. */
static int bind_list(const char *list, bool admin)
{
	char *copy = strdup(list), *save = NULL;
	if (!copy)
		return -ENOMEM;
	int r = 0;
	for (char *a = strtok_r(copy, " ", &save); a && r >= 0; a = strtok_r(NULL, " ", &save)) {
		int fds[FOD_HTTP_MAX_LISTENERS];
		size_t n = 0;
		r = fod_http_listen(a, fds, FOD_HTTP_MAX_LISTENERS, &n);
		if (r < 0) {
			log_errno(r, "cannot listen on %s (%s): %m", a,
				  admin ? "http.admin_listen" : "http.listen");
			break;
		}
		for (size_t i = 0; i < n; i++) {
			char where[INET6_ADDRSTRLEN + 8];
			describe(fds[i], where, sizeof(where));
			if (r < 0 || (r = add_listener(fds[i], admin, false)) < 0) {
				close(fds[i]); /* those added are closed with the others */
				continue;
			}
			log_info("listening on http://%s%s (%s)", where,
				 admin ? " for the internal endpoints" : "", a);
		}
		if (r < 0)
			log_err("cannot listen on %s: more than %d listening sockets", a,
				FOD_HTTP_MAX_LISTENERS);
	}
	free(copy);
	return r;
}

/*
 * Sockets systemd passed (fanoutd.socket): public listeners, except those
 * named "admin" (FileDescriptorName=admin). The number taken, or -errno.
 */
static int take_passed(void)
{
	char **names = NULL;
	int n = sd_listen_fds_with_names(1, &names);
	int taken = 0;
	for (int i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;
		bool admin = names && names[i] && strcmp(names[i], "admin") == 0;
		if (sd_is_socket_inet(fd, AF_UNSPEC, SOCK_STREAM, 1, 0) <= 0) {
			log_warn(
				"ignoring the descriptor systemd passed as %d: not a listening TCP "
				"socket",
				fd);
			continue;
		}
		/* Every loop accepts until EAGAIN: the socket must not block. */
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		if (add_listener(fd, admin, true) < 0)
			break;
		char where[INET6_ADDRSTRLEN + 8];
		describe(fd, where, sizeof(where));
		log_info("listening on the socket systemd passed (fd %d, %s%s)", fd, where,
			 admin ? ", internal endpoints" : "");
		taken++;
	}
	if (names)
		for (int i = 0; i < n; i++)
			free(names[i]);
	free(names);
	return taken;
}

/* Once no loop runs (or none started): every loop's epoll has let go of them. */
static void close_listeners(void)
{
	for (size_t i = 0; i < nlisteners; i++)
		close(listeners[i].fd);
	nlisteners = 0;
}

int fod_http_open_listeners(const struct fod_gen *g)
{
	int r = 0;
	bool passed_admin = false, passed_public = false;
	if (take_passed() > 0)
		for (size_t i = 0; i < nlisteners; i++) {
			passed_admin |= listeners[i].admin;
			passed_public |= !listeners[i].admin;
		}
	/* What systemd passed replaces the configured addresses of its kind. */
	if (!passed_public)
		r = bind_list(g->http.listen, false);
	if (r >= 0 && !passed_admin && *g->http.admin_listen)
		r = bind_list(g->http.admin_listen, true);
	if (r >= 0 && !passed_public && nlisteners == 0)
		r = -EINVAL;
	if (r < 0)
		close_listeners();
	return r;
}

static void on_accept(struct ev_loop *ev, ev_io *w, int revents);

static void resume_accepting(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)revents;
	struct http_loop *l =
		(struct http_loop *)((char *)w - offsetof(struct http_loop, accept_pause));
	if (l->accepting)
		for (size_t i = 0; i < nlisteners; i++)
			ev_io_start(ev, &l->accept_watchers[i]);
}

static void start_accepting(struct fod_post *t)
{
	struct http_loop *l =
		(struct http_loop *)((char *)t - offsetof(struct http_loop, accept_start));
	ev_init(&l->accept_pause, resume_accepting);
	for (size_t i = 0; i < nlisteners; i++) {
		ev_io_init(&l->accept_watchers[i], on_accept, listeners[i].fd, EV_READ);
		l->accept_watchers[i].data = &listeners[i];
		ev_io_start(l->loop->ev, &l->accept_watchers[i]);
	}
	l->accepting = true;
}

int fod_http_start(void)
{
	/*
	 * http_parser's own cap on a request's start line and headers (80 KiB
	 * by default, process-wide) must sit above any max_url + max_headers a
	 * reload may set, or it refuses first, with a 400, what the
	 * configuration allows (http-limits.sh: 1 MiB of headers).
	 */
	http_parser_set_max_header_size(FOD_HTTP_MAX_URL_LIMIT + FOD_HTTP_MAX_HEADERS_LIMIT + 4096);
	http_loops = calloc(fod_nloops, sizeof(*http_loops));
	if (!http_loops)
		return -ENOMEM;
	format_busy_reply();
	atomic_store(&loops_still_accepting, fod_nloops);
	for (unsigned i = 0; i < fod_nloops; i++) {
		http_loops[i].loop = &fod_loops[i];
		http_loops[i].accept_start.fn = start_accepting;
		fod_loop_post(&fod_loops[i], &http_loops[i].accept_start);
	}
	return 0;
}

void fod_http_free(void)
{
	close_listeners();
	free(http_loops);
	http_loops = NULL;
}

long fod_http_loop_connections(unsigned loop)
{
	return http_loops ? http_loops[loop].connections : 0;
}

/*
 * The listeners are shared by every loop: when the last loop has stopped
 * watching them, new connects are refused and those waiting in the backlog
 * reset (shutdown of a listening socket stops its listening), instead of
 * being left to time out. They are not closed before the loops have stopped:
 * libev takes a stopped watcher's descriptor out of its epoll set lazily, at
 * an event it no longer wants, so a close on another loop's thread would race
 * that epoll_ctl (TSan saw it; libev survives the reused number, by its
 * generation counts, but not silently). A socket systemd passed is left
 * listening: systemd's copy queues connects for the next start.
 * have_admin_listener stays too: it is how the daemon was started, and the
 * loops still route the connections they have by it.
 */
static void refuse_connects(void)
{
	for (size_t i = 0; i < nlisteners; i++)
		if (!listeners[i].passed && shutdown(listeners[i].fd, SHUT_RD) < 0)
			log_warn("cannot stop listening on fd %d: %m", listeners[i].fd);
}

static void stop_listening(struct http_loop *l)
{
	if (l->accepting)
		for (size_t i = 0; i < nlisteners; i++)
			ev_io_stop(l->loop->ev, &l->accept_watchers[i]);
	ev_timer_stop(l->loop->ev, &l->accept_pause);
	l->accepting = false;
	if (atomic_fetch_sub(&loops_still_accepting, 1) == 1)
		refuse_connects();
}

/*
 * An idle keep-alive connection would only bring a new request: close it
 * now. One whose next request has reached the socket but not yet been read
 * is not idle: that request is served (with Connection: close).
 */
static bool conn_idle(const struct fod_conn *c)
{
	char byte;
	return c->state == WAITING && !c->busy && c->rpos == c->rlen &&
	       recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) <= 0;
}

static void drain_loop(struct fod_post *t)
{
	struct http_loop *l =
		(struct http_loop *)((char *)t - offsetof(struct http_loop, accept_stop));
	l->draining = true;
	stop_listening(l);
	for (struct fod_conn *c = l->conns, *next; c; c = next) {
		next = c->next;
		if (conn_idle(c))
			conn_close(c);
	}
}

void fod_http_drain(void)
{
	for (unsigned i = 0; i < fod_nloops; i++) {
		http_loops[i].accept_stop.fn = drain_loop;
		fod_loop_post(&fod_loops[i], &http_loops[i].accept_stop);
	}
}

/* Drain time over on this loop: every request in progress gets its 503 now. */
static void expire_loop(struct fod_post *t)
{
	struct http_loop *l =
		(struct http_loop *)((char *)t - offsetof(struct http_loop, drain_expire));
	for (struct fod_conn *c = l->conns, *next; c; c = next) {
		next = c->next;
		/* A client already gone has had its request cancelled: nobody to answer. */
		if (!c->busy || c->expired || c->peer_gone)
			continue;
		if (c->state == SERVING && c->cancel) {
			/* The unit ends at once and its answer, turned into the 503, closes c. */
			c->expired = true;
			c->cancel(c->cancel_arg, FO_CAUSE_SHUTDOWN);
		} else if (c->state == WAITING) {
			/* Headers still arriving: no need to wait for the rest. */
			c->expired = true;
			c->keep_alive = false;
			fod_http_respond(c, 503, "application/json", NULL, "", 0);
		}
		/* WRITING or CLOSING: the answer is on its way already. */
	}
}

static void close_loop(struct fod_post *t)
{
	struct http_loop *l =
		(struct http_loop *)((char *)t - offsetof(struct http_loop, close_all));
	for (struct fod_conn *c = l->conns, *next; c; c = next) {
		next = c->next;
		/*
		 * A serving connection belongs to its request: freeing it would
		 * leave the request a dangling pointer.
		 */
		if (c->state != SERVING)
			conn_close(c);
	}
}

void fod_http_close_all(void)
{
	/* Posted before fod_loops_stop(): each loop runs it before it breaks. */
	for (unsigned i = 0; i < fod_nloops; i++) {
		http_loops[i].close_all.fn = close_loop;
		fod_loop_post(&fod_loops[i], &http_loops[i].close_all);
	}
}

void fod_http_expire(void)
{
	for (unsigned i = 0; i < fod_nloops; i++) {
		http_loops[i].drain_expire.fn = expire_loop;
		fod_loop_post(&fod_loops[i], &http_loops[i].drain_expire);
	}
}

static void on_timer(struct ev_loop *ev, ev_timer *w, int revents);
static void on_read(struct ev_loop *ev, ev_io *w, int revents);
static void on_write(struct ev_loop *ev, ev_io *w, int revents);

static void on_accept(struct ev_loop *ev, ev_io *w, int revents)
{
	(void)revents;
	struct fod_loop *loop = ev_userdata(ev);
	struct http_loop *l = &http_loops[loop->index];
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
		const struct listener *ln = w->data;
		atomic_long *kind_open = ln->admin ? &admin_open : &public_open;
		long open = atomic_fetch_add(kind_open, 1) + 1;
		atomic_fetch_add(&fod_counters.http_connections_open, 1);
		atomic_fetch_add(&fod_counters.http_connections_total, 1);
		/* An admin listener has its own cap: public traffic cannot crowd it out. */
		long cap = ln->admin ? FOD_HTTP_ADMIN_MAX_CONNECTIONS
				     : (g ? g->http.max_connections + FOD_HTTP_MONITOR_RESERVE : 0);
		struct fod_conn *c = g && open <= cap ? calloc(1, sizeof(*c)) : NULL;
		if (!c) {
			/* Over the limit: say so and hang up; nothing else is affected. */
			ssize_t n = write(fd, busy_reply, busy_reply_len);
			(void)n;
			fod_metrics_count_response(fod_counters.http_unrouted, 503);
			atomic_fetch_sub(kind_open, 1);
			atomic_fetch_sub(&fod_counters.http_connections_open, 1);
			close(fd);
			fod_gen_unref(g);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->loop = loop;
		c->hl = l;
		c->fd = fd;
		conn_limits_set(c, g);
		c->admin = ln->admin;
		c->monitor_only = !ln->admin && open > g->http.max_connections;
		fod_gen_unref(g);
		c->next = l->conns;
		if (l->conns)
			l->conns->prev = c;
		l->conns = c;
		l->connections++;
		ev_io_init(&c->rio, on_read, fd, EV_READ);
		ev_io_init(&c->wio, on_write, fd, EV_WRITE);
		ev_init(&c->timer, on_timer);
		/* A new connection must start its request within the header timeout. */
		conn_resume(c, c->lim.header_timeout_ns);
	}
}

/* ---- parser callbacks */

static int on_message_begin(http_parser *p)
{
	struct fod_conn *c = p->data;
	c->in_request = true;
	c->responses = fod_counters.http_unrouted;
	c->rid_ready = false;
	c->rid_len = c->hname_len = c->expect_len = 0;
	conn_set_busy(c, true);
	c->url_len = c->header_bytes = c->body_bytes = 0;
	c->in_value = false;
	c->head = false;
	c->error = 0;
	struct fod_gen *g = fod_gen_current();
	if (g) /* none only while the daemon ends: the last limits stand */
		conn_limits_set(c, g);
	fod_gen_unref(g);
	/* The header timeout runs from the first byte of a request. */
	c->timer.repeat = (double)c->lim.header_timeout_ns / 1e9;
	ev_timer_again(c->loop->ev, &c->timer);
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct fod_conn *c = p->data;
	if (c->url_len + len > c->lim.max_url) {
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

/*
 * Header bytes are counted as each line is sent: name + ": " + value + CRLF,
 * that is name + value + 4. The parser may hand a name or a value over in
 * several pieces (as it arrived): the 4 is added once per line, when its
 * name begins.
 */
static int count_header_bytes(struct fod_conn *c, size_t len, bool value)
{
	if (!value && (c->in_value || c->header_bytes == 0))
		c->header_bytes += 4;
	c->in_value = value;
	c->header_bytes += len;
	if (c->header_bytes > c->lim.max_headers) {
		c->error = 431;
		return -1;
	}
	return 0;
}

#define REQUEST_ID_HEADER "x-request-id"
#define EXPECT_HEADER	  "expect"

static int on_header_field(http_parser *p, const char *at, size_t len)
{
	struct fod_conn *c = p->data;
	if (c->in_value || c->header_bytes == 0)
		c->hname_len = 0; /* a new header line begins */
	/* The name may come in pieces: keep what fits, lower case, to compare when done. */
	for (size_t i = 0; i < len; i++, c->hname_len++)
		if (c->hname_len < sizeof(c->hname))
			c->hname[c->hname_len] =
				(char)(at[i] >= 'A' && at[i] <= 'Z' ? at[i] + 32 : at[i]);
	return count_header_bytes(c, len, false);
}

static bool header_is(const struct fod_conn *c, const char *name)
{
	return c->hname_len == strlen(name) && memcmp(c->hname, name, c->hname_len) == 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	struct fod_conn *c = p->data;
	/* After the headers, these are a chunked body's trailers: counted, not read. */
	if (c->rid_ready)
		return count_header_bytes(c, len, true);
	if (header_is(c, REQUEST_ID_HEADER)) {
		/* The last X-Request-Id wins; one too long or with bad bytes is replaced. */
		if (!c->in_value)
			c->rid_len = 0;
		for (size_t i = 0; i < len; i++, c->rid_len++)
			if (c->rid_len < FOD_REQUEST_ID_MAX)
				c->request_id[c->rid_len] = at[i];
	} else if (header_is(c, EXPECT_HEADER)) {
		if (!c->in_value)
			c->expect_len = 0;
		for (size_t i = 0; i < len; i++, c->expect_len++)
			if (c->expect_len < sizeof(c->expect))
				c->expect[c->expect_len] =
					(char)(at[i] >= 'A' && at[i] <= 'Z' ? at[i] + 32 : at[i]);
	}
	return count_header_bytes(c, len, true);
}

static bool request_id_usable(const char *id, size_t len)
{
	if (len == 0 || len > FOD_REQUEST_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (id[i] < 0x21 || id[i] > 0x7e || id[i] == '"' || id[i] == '\\')
			return false;
	return true;
}

/* Unique within the process, and unlikely to repeat across restarts: a random start. */
static void generate_request_id(char *out, size_t size)
{
	static atomic_ullong next;
	static atomic_bool seeded;
	if (!atomic_load(&seeded)) {
		unsigned long long seed =
			(unsigned long long)fo_now_ns() ^ ((unsigned long long)getpid() << 32);
		unsigned long long zero = 0;
		atomic_compare_exchange_strong(&next, &zero, seed);
		atomic_store(&seeded, true);
	}
	/* splitmix64 of a counter: distinct inputs give distinct ids. */
	unsigned long long z = atomic_fetch_add(&next, 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	snprintf(out, size, "%016llx", z ^ (z >> 31));
}

/*
 * "Expect: 100-continue" (RFC 9110 10.1.1): a client waits for a 100 before
 * sending its body (curl for about 1 s). Answered here, once the headers
 * showed the body may come (a length within max_body, or chunked with
 * max_body above 0); a body too large got its 413 instead. The interim
 * answer goes straight out: the connection has nothing else to write while
 * it reads a request. Other expectations are ignored (the request is served).
 */
static int expect_continue(struct fod_conn *c, const http_parser *p)
{
	static const char interim[] = "HTTP/1.1 100 Continue\r\n\r\n";
	bool body = (p->content_length != ULLONG_MAX && p->content_length > 0) ||
		    ((p->flags & F_CHUNKED) && c->lim.max_body > 0);
	if (!body || p->http_major != 1 || p->http_minor < 1 ||
	    c->expect_len != sizeof("100-continue") - 1 ||
	    memcmp(c->expect, "100-continue", c->expect_len) != 0)
		return 0;
	ssize_t n = write(c->fd, interim, sizeof(interim) - 1);
	if (n == (ssize_t)sizeof(interim) - 1 || (n < 0 && (errno == EAGAIN || errno == EINTR)))
		return 0; /* sent, or no room (a client not reading): it sends after its wait */
	/* A partial interim answer cannot be followed by a valid one; or the client is gone. */
	c->write_failed = true;
	return -1;
}

static int on_headers_complete(http_parser *p)
{
	struct fod_conn *c = p->data;
	if (request_id_usable(c->request_id, c->rid_len))
		c->request_id[c->rid_len] = '\0';
	else
		generate_request_id(c->request_id, sizeof(c->request_id));
	c->rid_ready = true;
	if (p->content_length != ULLONG_MAX && p->content_length > c->lim.max_body) {
		c->error = 413;
		return -1;
	}
	return expect_continue(c, p);
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	(void)at;
	struct fod_conn *c = p->data;
	c->body_bytes += len;
	if (c->body_bytes > c->lim.max_body) {
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
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

/* ---- reading */

/* Waits up to wait_ns for the next request's first byte. */
static void conn_resume(struct fod_conn *c, int64_t wait_ns)
{
	c->state = WAITING;
	/*
	 * Nothing of the previous request may answer for the next one: bytes
	 * the parser refuses before a request begins are answered 400 with a
	 * body (not as a HEAD) and without the previous request's id.
	 */
	c->head = false;
	c->rid_ready = false;
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	ev_io_start(c->loop->ev, &c->rio);
	c->timer.repeat = (double)wait_ns / 1e9;
	ev_timer_again(c->loop->ev, &c->timer);
	/*
	 * Pipelined bytes already here: parsed from on_read, not from here. This
	 * runs at the end of an answer, inside the previous request's call chain
	 * (respond, write, resume); parsing and serving the next request from
	 * here nested one chain per pipelined request (~1,000 in a full buffer).
	 * A fed event unwinds the stack first (ev_io_stop, in conn_close, drops it;
	 * so must nothing else stop rio before it runs, or the bytes wait for more).
	 */
	if (c->rpos < c->rlen)
		ev_feed_event(c->loop->ev, &c->rio, EV_CUSTOM);
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
	if (e != HPE_OK && c->write_failed) {
		c->peer_gone = true;
		conn_close(c);
		return;
	}
	if (e != HPE_OK) {
		/* The parser's own header cap (set above every limit) is a 431 too. */
		int status = c->error ? c->error : e == HPE_HEADER_OVERFLOW ? 431 : 400;
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
	struct fod_conn *c = (struct fod_conn *)((char *)w - offsetof(struct fod_conn, rio));
	if (c->state == LINGERING) {
		char sink[4096];
		ssize_t n = read(c->fd, sink, sizeof(sink));
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			conn_close(c);
		return;
	}
	if (revents & EV_CUSTOM) {
		/* conn_resume's: the pipelined bytes it left, if still waiting for them. */
		if (c->state == WAITING && c->rpos < c->rlen)
			parse_more(c);
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
	if (n == 0 && (c->state == WRITING || c->state == CLOSING)) {
		/*
		 * The client has sent all it will (a half-close) while its answer
		 * is being written: finish the answer, then read again (LINGERING
		 * or the next request), where the end is seen once more. A client
		 * really gone makes the write fail instead. Closing here cut long
		 * answers short (http-fuzz: a 38 KB /metrics).
		 */
		ev_io_stop(c->loop->ev, &c->rio);
		return;
	}
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		/* The client went away: a request in flight is cancelled at once. */
		c->peer_gone = true;
		if (c->state == SERVING && c->cancel) {
			ev_io_stop(c->loop->ev, &c->rio);
			c->cancel(c->cancel_arg, FO_CAUSE_CLIENT_GONE);
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
	/*
	 * A socket that takes the answer's bytes now, or holds the next request,
	 * says the peer is not idle (fod_peer_ready): its watcher runs next.
	 */
	bool writing = c->state == WRITING || c->state == CLOSING;
	if (fod_peer_ready(c->fd, c->state == WAITING ? &c->rio : NULL, writing ? &c->wio : NULL)) {
		ev_timer_again(c->loop->ev, &c->timer);
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
	size_t before = c->out_pos;
	int r = fod_write_some(c->fd, c->out, c->out_len, &c->out_pos);
	if (r <= 0) {
		if (r < 0)
			conn_close(c);
		else if (c->out_pos > before)
			/* The idle timeout bounds a reader that takes nothing, not a long
			 * answer to one that reads (a 1.5 MB answer stream was cut). */
			ev_timer_again(c->loop->ev, &c->timer);
		return;
	}
	ev_io_stop(c->loop->ev, &c->wio);
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_pos = 0;
	conn_set_busy(c, false);
	if (c->peer_gone) {
		conn_close(c);
		return;
	}
	/* A drain began while this answer was written: no next request. */
	if (c->state == CLOSING || !c->keep_alive || c->hl->draining) {
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
	/* Idle until the next request's first byte. */
	conn_resume(c, c->lim.idle_timeout_ns);
}

int fod_http_final_status(const struct fod_conn *c, int status)
{
	if (!c)
		return status;
	return c->peer_gone ? FOD_HTTP_CLIENT_GONE : c->expired ? 503 : status;
}

void fod_http_respond(struct fod_conn *c, int status, const char *content_type,
		      const char *extra_headers, const char *body, size_t len)
{
	c->cancel = NULL;
	status = fod_http_final_status(c, status);
	if (c->expired && !c->peer_gone) {
		/* Whatever the request came to, the drain time is over: say so. */
		content_type = "application/json";
		extra_headers = "Retry-After: 1\r\n";
		body = DRAIN_BODY;
		len = sizeof(DRAIN_BODY) - 1;
	}
	fod_metrics_count_response(c->responses ? c->responses : fod_counters.http_unrouted,
				   status);
	/* A route's counters may go with its generation: never kept past this answer. */
	c->responses = NULL;
	if (c->peer_gone) {
		conn_close(c);
		return;
	}
	/* Draining: this is the connection's last answer, and the client is told. */
	if (c->hl->draining)
		c->keep_alive = false;
	/* A HEAD answer has the headers a GET would have, and no body. */
	size_t body_len = c->head ? 0 : len;
	char head[1024], rid[FOD_REQUEST_ID_MAX + 20] = "";
	/* An answer before the headers were complete (431, 408, 400) has no id yet. */
	if (c->rid_ready)
		snprintf(rid, sizeof(rid), "X-Request-Id: %s\r\n", c->request_id);
	int hn = snprintf(head, sizeof(head),
			  "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s"
			  "Connection: %s\r\n\r\n",
			  status, reason(status), content_type, len, rid,
			  extra_headers ? extra_headers : "",
			  c->keep_alive ? "keep-alive" : "close");
	if (hn < 0 || hn >= (int)sizeof(head)) {
		conn_close(c); /* our own headers never come near: a bug, not an answer to cut */
		return;
	}
	c->out = malloc((size_t)hn + body_len);
	if (!c->out) {
		conn_close(c);
		return;
	}
	memcpy(c->out, head, (size_t)hn);
	memcpy(c->out + hn, body, body_len);
	c->out_len = (size_t)hn + body_len;
	c->out_pos = 0;
	c->state = c->keep_alive ? WRITING : CLOSING;
	/* The idle timeout bounds a reader that will not take its answer. */
	c->timer.repeat = (double)c->lim.idle_timeout_ns / 1e9;
	ev_timer_again(c->loop->ev, &c->timer);
	ev_io_start(c->loop->ev, &c->wio);
	on_write(c->loop->ev, &c->wio, EV_WRITE);
}

size_t fod_http_json_text(char *dst, size_t cap, const char *s)
{
	size_t n = 0;
	for (; *s && n + 3 <= cap; s++) {
		if (*s == '"' || *s == '\\')
			dst[n++] = '\\';
		dst[n++] = (unsigned char)*s < 0x20 ? ' ' : *s;
	}
	dst[n] = '\0';
	return n;
}

void fod_http_error(struct fod_conn *c, int status, const char *field, const char *msg)
{
	char body[512], m[384], f[64];
	fod_http_json_text(m, sizeof(m), msg);
	fod_http_json_text(f, sizeof(f), field);
	int n = snprintf(body, sizeof(body), "{\"error\":\"%s\",\"field\":\"%s\"}\n", m, f);
	fod_http_respond(c, status, "application/json", NULL, body, (size_t)n);
}

void fod_http_count_as(struct fod_conn *c, atomic_ulong *by_status)
{
	c->responses = by_status;
}

void fod_http_set_cancel(struct fod_conn *c, void (*cancel)(void *arg, enum fo_cause why),
			 void *arg)
{
	c->cancel = cancel;
	c->cancel_arg = arg;
}

static void conn_close(struct fod_conn *c)
{
	conn_set_busy(c, false);
	if (c->prev)
		c->prev->next = c->next;
	else
		c->hl->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	ev_io_stop(c->loop->ev, &c->rio);
	ev_io_stop(c->loop->ev, &c->wio);
	ev_timer_stop(c->loop->ev, &c->timer);
	close(c->fd);
	c->hl->connections--;
	atomic_fetch_sub(c->admin ? &admin_open : &public_open, 1);
	atomic_fetch_sub(&fod_counters.http_connections_open, 1);
	free(c->url);
	free(c->out);
	free(c);
}

/* ---- routing: through the table the subsystems registered (router.h) */

/*
 * The internal endpoints are served on the admin listeners; on the public
 * ones only when there is no admin listener, or http.admin_on_public says so.
 */
static bool internal_served_here(const struct fod_conn *c)
{
	return c->admin || !have_admin_listener || c->lim.admin_on_public;
}

static void dispatch(struct fod_conn *c)
{
	c->state = SERVING;
	ev_timer_stop(c->loop->ev, &c->timer);
	int method = c->parser.method;
	c->head = method == HTTP_HEAD;
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
		.request_id = c->request_id,
	};
	c->url[u.field_data[UF_PATH].off + u.field_data[UF_PATH].len] = '\0';
	bool here = internal_served_here(c);
	for (const struct fod_http_route *r = fod_http_route_next(NULL, req.path, c->admin, here);
	     r; r = fod_http_route_next(r, req.path, c->admin, here)) {
		c->responses = r->responses ? r->responses : fod_counters.http_unrouted;
		if (!(r->methods & FOD_HTTP_GET) || (method != HTTP_GET && method != HTTP_HEAD)) {
			/* A 405 must say what is allowed (RFC 9110 15.5.6). */
			static const char body[] = "{\"error\":\"only GET and HEAD are "
						   "served\",\"field\":\"method\"}\n";
			fod_http_respond(c, 405, "application/json", "Allow: GET, HEAD\r\n", body,
					 sizeof(body) - 1);
			return;
		}
		if (c->monitor_only && !r->monitoring) {
			/* The reserve beyond max_connections is for monitoring only. */
			c->keep_alive = false;
			fod_http_respond(c, 503, "application/json", "Retry-After: 1\r\n",
					 BUSY_BODY, sizeof(BUSY_BODY) - 1);
			return;
		}
		if (r->serve(c, c->loop, &req, r->arg) != FOD_HTTP_DECLINED)
			return;
	}
	c->responses = fod_counters.http_unrouted;
	if (c->admin) {
		/* An admin listener serves the internal endpoints, never the routes. */
		char msg[256], paths[200];
		fod_http_routes_internal(paths, sizeof(paths));
		snprintf(msg, sizeof(msg), "the admin listener serves only %s", paths);
		fod_http_error(c, 404, "path", msg);
		return;
	}
	fod_http_error(c, 404, "path", "no such route");
}
