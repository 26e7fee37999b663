/* SPDX-License-Identifier: MIT */
/*
 * http: a real HTTP downstream. Each call is one request through libcurl's
 * multi socket interface, driven by the call's own event loop through the
 * SDK's fd watchers and timers: no thread per call, one multi handle per
 * loop (made on that loop's thread at its first call), so connections are
 * kept alive and reused per loop.
 *
 * Settings (fanoutd.conf(5), doc/MODULES.md):
 *   downstreams.http = { max_host_connections = 32; max_connections = 256; };
 * process-wide caps, shared out equally among the loops (each loop's multi
 * gets cap / loops, at least 1), so the process never holds more than the
 * cap (unless it is below the number of loops); calls beyond it wait in
 * curl's queue for a connection, within their own deadline.
 *   branch: http = { url = "http://h:p/x/{id}"; method = "GET" | "POST";
 *                    headers = ["Name: value", ...]; max_body = 1048576;
 *                    success = [200, ...]; };
 * {id} is the unit id, {branch} and {route} the names. Every call of an HTTP
 * request sends its X-Request-Id on. POST sends the job
 * row's payload as the body. The answer is the response body, checked to be
 * one JSON value (embedded as is under the branch's name), or null for a
 * success without content (204, Content-Length: 0); anything else is an
 * error outcome whose text names the kind: connection refused, connection
 * reset, DNS failure, TLS failure, timeout, 4xx, 5xx, oversized, bad body.
 * The status is judged before the body: a 5xx is a 5xx whatever its size.
 *
 * Lifetime. A call is answered (fo_call_done) only as the last thing a
 * callback does: the answer may end the unit, its request, its generation
 * and so this instance (fini) on this thread or another, so nothing of the
 * instance is touched after it. Before answering, a loop whose multi has no
 * transfer left stops its timer and every fd watcher ("quiescent"): when the
 * generation ends (no call in flight anywhere), every loop's multi is
 * quiescent and fini may clean it from any thread. The module is linked
 * -z nodelete: its code stays mapped while a callback that answered the last
 * call returns through it, and libcurl is initialised once per process.
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fanoutd/module.h"
#include "json.h"

/* configure requires 7.87.0: see the quick exit in start. */
#if !CURL_AT_LEAST_VERSION(7, 87, 0)
#error "the http downstream needs libcurl 7.87.0 or later (CURLOPT_QUICK_EXIT)"
#endif

#define MAX_URL	     2048
#define MAX_ID_PARTS 8 /* {id} at most 8 times in a URL */
#define MAX_HEADER   1024

/* How a call failed: each kind its own counter (fanoutd_module_http_failures_total). */
enum kind {
	K_NONE, /* succeeded, or cancelled by the unit: not a failure (a zeroed call's) */
	K_REFUSED,
	K_RESET,
	K_DNS,
	K_TLS,
	K_TIMEOUT,
	K_4XX,
	K_5XX,
	K_OVERSIZED,
	K_BAD_BODY,
	K_CONNECT,
	K_OTHER,
	K_N
};
static const char *const kind_names[K_N] = {NULL,	 "refused",  "reset",	"dns",
					    "tls",	 "timeout",  "4xx",	"5xx",
					    "oversized", "bad_body", "connect", "other"};

struct branch {
	/* For the failure counters' labels (strings kept for the instance's life). */
	const char *route, *name;
	/* A kind's series, got at its first failure (no lock after that). */
	_Atomic(struct fo_metric *) failures[K_N];
	_Atomic(struct fo_metric *) conn_wait; /* got at its first call that had a connection */
	/* The URL template split at each {id}: parts[0] id parts[1] id ... */
	char *parts[MAX_ID_PARTS + 1];
	size_t nparts;
	bool post;
	struct curl_slist *headers;
	int64_t max_body;
	uint64_t success[10]; /* bit per status code 0..639 */
	char *target;	      /* the URL's host:port, what hedging budgets per (ops.target) */
};

struct loopstate;

/* A socket curl watches, with the events it last asked for. */
struct sock {
	struct fo_io io;
	struct loopstate *ls;
	curl_socket_t fd;
	unsigned want;
	bool active;
	struct sock *next, **pprev;
};

/* One per loop: touched only on that loop's thread, or by fini when quiescent. */
struct loopstate {
	struct fo_mod *self;
	struct fo_loop *loop;
	CURLM *multi;
	struct fo_timer timer;
	bool timer_on;
	bool closing; /* fini: curl's callbacks must not touch the loop */
	long transfers;
	struct sock *socks;
};

struct loops {
	unsigned n;
	struct loopstate *slot[];
};

enum { FAM_FAILURES, FAM_CONN_WAIT, FAM_N };

struct http {
	int64_t max_host, max_total;
	struct fo_metric_family *fam[FAM_N]; /* metric_defs' families */
	_Atomic(struct loops *) loops;	     /* made at the first call, when the loops exist */
};

struct call {
	struct fo_ds_call *dc;
	struct loopstate *ls;
	CURL *easy;
	char *body;
	size_t len, cap;
	struct curl_slist *headers; /* the branch's plus X-Request-Id (NULL: the branch's) */
	int64_t max_body;
	bool oversized, nomem;
	/* The outcome, kept until the answer (errmsg may point at msg: the core copies it). */
	int err;
	const char *errmsg;
	enum kind kind;
	int64_t added_ns;     /* when the transfer joined the loop's multi */
	int64_t conn_wait_ns; /* from then until it had a connection; -1: had none */
	char msg[160];
	struct call *next;
};

/* ------------------------------------------------------------ metrics */

static const struct fo_metric_def metric_defs[] = {
	{"failures_total",
	 "Failed calls of http downstream branches, by kind (refused, reset, dns, tls, timeout, "
	 "4xx, 5xx, oversized, bad_body, connect, other); replicas count under their branch's "
	 "name.",
	 FO_METRIC_COUNTER,
	 {"route", "branch", "kind"}},
	{"connection_wait_seconds",
	 "Time from an http branch call's start until it had a connection: a kept-alive one "
	 "freed within the connection caps, or a new one connected. The wait the caps impose "
	 "is this, not admission; calls that never had one (refused, cancelled while waiting) "
	 "are not in it.",
	 FO_METRIC_HISTOGRAM,
	 {"route", "branch"}},
};

/* Counts the call's failure, if it is one; before the answer (which may end the instance). */
static void count_failure(struct fo_mod *self, const struct branch *b, enum kind kind)
{
	struct http *h = self->state;
	if (kind == K_NONE || kind >= K_N)
		return;
	struct branch *mb = (struct branch *)b; /* only its atomic cache changes */
	struct fo_metric *m = atomic_load_explicit(&mb->failures[kind], memory_order_acquire);
	if (!m) {
		/* The same series whoever asks: a race only looks it up twice. */
		m = fo_metric_series(self, h->fam[FAM_FAILURES],
				     (const char *const[]){b->route, b->name, kind_names[kind]});
		atomic_store_explicit(&mb->failures[kind], m, memory_order_release);
	}
	fo_metric_add(self, m, 1);
}

/* Observes how long the call waited for its connection, if it had one. */
static void observe_conn_wait(struct fo_mod *self, const struct branch *b, int64_t ns)
{
	struct http *h = self->state;
	if (ns < 0)
		return;
	struct branch *mb = (struct branch *)b; /* only its atomic cache changes */
	struct fo_metric *m = atomic_load_explicit(&mb->conn_wait, memory_order_acquire);
	if (!m) {
		m = fo_metric_series(self, h->fam[FAM_CONN_WAIT],
				     (const char *const[]){b->route, b->name});
		atomic_store_explicit(&mb->conn_wait, m, memory_order_release);
	}
	fo_metric_observe(self, m, ns);
}

/* ---------------------------------------------------------------- settings */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init_once(void)
{
	/* Never cleaned up: the module stays loaded (-z nodelete) and the
	 * process's exit releases it. */
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int init(struct fo_mod *self)
{
	pthread_once(&curl_once, curl_init_once);
	if (curl_init_rc != CURLE_OK) {
		fo_log(self, FO_LOG_ERR, "libcurl failed to initialise: %s",
		       curl_easy_strerror(curl_init_rc));
		return -EIO;
	}
	/*
	 * The headers had CURLOPT_QUICK_EXIT; the library loaded at run time may
	 * be older. Its version says so without an allocation that could fail.
	 */
	const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
	if (v->version_num < 0x075700) {
		fo_log(self, FO_LOG_ERR,
		       "libcurl %s has no CURLOPT_QUICK_EXIT: the http downstream needs 7.87.0 or "
		       "later, or a call cut while its host name resolves would block its event "
		       "loop until the resolver gives up",
		       v->version);
		return -ENOTSUP;
	}
	struct http *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->max_host = 32;
	h->max_total = 256;
	if (fo_conf_int(self, self->conf, "max_host_connections", 1, 1000000, false, &h->max_host) <
		    0 ||
	    fo_conf_int(self, self->conf, "max_connections", 1, 1000000, false, &h->max_total) <
		    0) {
		free(h);
		return -EINVAL;
	}
	int r = fo_metrics_declare(self, metric_defs, FAM_N, h->fam);
	if (r < 0) {
		free(h);
		return r;
	}
	atomic_init(&h->loops, NULL);
	self->state = h;
	return 0;
}

static void branch_free(struct branch *b)
{
	for (size_t i = 0; i < b->nparts; i++)
		free(b->parts[i]);
	curl_slist_free_all(b->headers);
	free(b->target);
	free(b);
}

/* The authority of a URL ("http://h:p/x" -> "h:p"), or NULL without memory. */
static char *url_target(const char *url)
{
	const char *h = strstr(url, "://");
	h = h ? h + 3 : url;
	return strndup(h, strcspn(h, "/?#"));
}

static const char *target(struct fo_mod *self, void *bs)
{
	(void)self;
	return ((const struct branch *)bs)->target;
}

/* Appends s[0..n) to the part being built. */
static int part_append(char **part, size_t *len, const char *s, size_t n)
{
	char *p = realloc(*part, *len + n + 1);
	if (!p)
		return -ENOMEM;
	memcpy(p + *len, s, n);
	*len += n;
	p[*len] = '\0';
	*part = p;
	return 0;
}

/* Splits the template at {id}, substituting {branch} and {route} now. */
static int parse_url(struct fo_mod *self, const struct fo_conf *where, struct branch *b,
		     const char *tmpl, const char *branch_name, const char *route_name)
{
	if (strncmp(tmpl, "http://", 7) != 0 && strncmp(tmpl, "https://", 8) != 0) {
		fo_conf_error(self, where, "url '%s' must start with http:// or https://", tmpl);
		return -EINVAL;
	}
	char *part = NULL;
	size_t len = 0;
	if (part_append(&part, &len, "", 0) < 0)
		return -ENOMEM;
	for (const char *p = tmpl; *p;) {
		const char *open = strchr(p, '{');
		if (!open) {
			if (part_append(&part, &len, p, strlen(p)) < 0)
				goto nomem;
			break;
		}
		if (part_append(&part, &len, p, (size_t)(open - p)) < 0)
			goto nomem;
		const char *close = strchr(open, '}');
		size_t n = close ? (size_t)(close - open - 1) : 0;
		if (close && n == 2 && strncmp(open + 1, "id", 2) == 0) {
			if (b->nparts == MAX_ID_PARTS) {
				fo_conf_error(self, where, "url has {id} more than %d times",
					      MAX_ID_PARTS);
				free(part);
				return -EINVAL;
			}
			b->parts[b->nparts++] = part;
			part = NULL;
			len = 0;
			if (part_append(&part, &len, "", 0) < 0)
				goto nomem;
		} else if (close && n == 6 && strncmp(open + 1, "branch", 6) == 0) {
			if (part_append(&part, &len, branch_name, strlen(branch_name)) < 0)
				goto nomem;
		} else if (close && n == 5 && strncmp(open + 1, "route", 5) == 0) {
			if (part_append(&part, &len, route_name, strlen(route_name)) < 0)
				goto nomem;
		} else {
			fo_conf_error(self, where,
				      "url '%s': unknown placeholder at '%.20s' (known: {id}, "
				      "{branch}, {route})",
				      tmpl, open);
			free(part);
			return -EINVAL;
		}
		p = close + 1;
	}
	b->parts[b->nparts++] = part;
	return 0;
nomem:
	free(part);
	return -ENOMEM;
}

static int read_headers(struct fo_mod *self, const struct fo_conf *g, struct branch *b)
{
	const struct fo_conf *list = fo_conf_child(self, g, "headers");
	bool content_type = false;
	for (unsigned i = 0; list && i < fo_conf_length(self, list); i++) {
		const struct fo_conf *e = fo_conf_elem(self, list, i);
		const char *hdr = NULL;
		if (fo_conf_string(self, e, NULL, MAX_HEADER, true, &hdr) < 0)
			return -EINVAL;
		const char *colon = strchr(hdr, ':');
		if (!colon || colon == hdr || strpbrk(hdr, "\r\n")) {
			fo_conf_error(self, e, "header '%s' must be 'Name: value' on one line",
				      hdr);
			return -EINVAL;
		}
		if ((size_t)(colon - hdr) == 12 && strncasecmp(hdr, "Content-Type", 12) == 0)
			content_type = true;
		struct curl_slist *l = curl_slist_append(b->headers, hdr);
		if (!l)
			return -ENOMEM;
		b->headers = l;
	}
	/* No "Expect: 100-continue" round trip for a POST body. */
	struct curl_slist *l = curl_slist_append(b->headers, "Expect:");
	if (!l)
		return -ENOMEM;
	b->headers = l;
	/* A job row's payload is bytes: not curl's default form encoding. */
	if (b->post && !content_type) {
		l = curl_slist_append(b->headers, "Content-Type: application/octet-stream");
		if (!l)
			return -ENOMEM;
		b->headers = l;
	}
	return 0;
}

static int read_success(struct fo_mod *self, const struct fo_conf *g, struct branch *b)
{
	const struct fo_conf *list = fo_conf_child(self, g, "success");
	unsigned n = list ? fo_conf_length(self, list) : 0;
	if (list && n == 0) {
		fo_conf_error(self, list, "success must list at least one status code");
		return -EINVAL;
	}
	if (!list) {
		for (int s = 200; s < 300; s++)
			b->success[s / 64] |= UINT64_C(1) << (s % 64);
		return 0;
	}
	for (unsigned i = 0; i < n; i++) {
		int64_t s = 0;
		if (fo_conf_int(self, fo_conf_elem(self, list, i), NULL, 100, 599, true, &s) < 0)
			return -EINVAL;
		b->success[s / 64] |= UINT64_C(1) << (s % 64);
	}
	return 0;
}

static bool status_ok(const struct branch *b, long s)
{
	return s >= 100 && s < 600 && (b->success[s / 64] >> (s % 64)) & 1;
}

static int branch_init(struct fo_mod *self, const struct fo_conf *conf, unsigned index, void **out)
{
	(void)index;
	const struct fo_conf *g = fo_conf_child(self, conf, "http");
	const char *name = NULL, *route = NULL, *url = NULL, *method = "GET";
	/* branch -> branches list -> route */
	const struct fo_conf *rt = fo_conf_parent(self, fo_conf_parent(self, conf));
	if (fo_conf_string(self, conf, "name", 0, true, &name) < 0 ||
	    fo_conf_string(self, rt, "name", 0, true, &route) < 0)
		return -EINVAL;
	if (!g) {
		fo_conf_error(self, conf,
			      "branch '%s' uses the http downstream: it needs an 'http' group "
			      "with its 'url'",
			      name);
		return -EINVAL;
	}
	struct branch *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->max_body = 1 << 20;
	b->route = route;
	b->name = name;
	int r = -EINVAL;
	if (fo_conf_string(self, g, "url", MAX_URL, true, &url) < 0 ||
	    fo_conf_string(self, g, "method", 8, false, &method) < 0 ||
	    fo_conf_int(self, g, "max_body", 1, INT64_C(1) << 30, false, &b->max_body) < 0)
		goto fail;
	if (strcmp(method, "GET") == 0) {
		b->post = false;
	} else if (strcmp(method, "POST") == 0) {
		b->post = true;
	} else {
		fo_conf_error(self, fo_conf_child(self, g, "method"),
			      "method '%s' must be GET or POST", method);
		goto fail;
	}
	if ((r = parse_url(self, fo_conf_child(self, g, "url"), b, url, name, route)) < 0 ||
	    (r = read_headers(self, g, b)) < 0 || (r = read_success(self, g, b)) < 0)
		goto fail;
	if (!(b->target = url_target(b->parts[0]))) {
		r = -ENOMEM;
		goto fail;
	}
	*out = b;
	return 0;
fail:
	branch_free(b);
	return r;
}

static void branch_fini(struct fo_mod *self, void *bs)
{
	(void)self;
	branch_free(bs);
}

/* -------------------------------------------------------- the loop's multi */

static void on_io(struct fo_mod *self, struct fo_io *io, int fd, unsigned revents);
static void on_timer(struct fo_mod *self, struct fo_timer *t);

/* Watches s for events (0: paused); the watcher is made at its first use. */
static void sock_watch(struct loopstate *ls, struct sock *s, unsigned events)
{
	if (!s->io.udata) {
		s->io.udata = s;
		fo_io_start(ls->self, ls->loop, &s->io, s->fd, events, on_io);
	} else {
		fo_io_set(ls->self, &s->io, events);
	}
	s->active = events != 0;
}

static void sock_free(struct loopstate *ls, struct sock *s)
{
	if (s->active && !ls->closing)
		fo_io_stop(ls->self, &s->io);
	*s->pprev = s->next;
	if (s->next)
		s->next->pprev = s->pprev;
	free(s);
}

/* CURLMOPT_SOCKETFUNCTION: what curl wants watched on a socket. */
static int curl_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	(void)easy;
	struct loopstate *ls = userp;
	struct sock *s = socketp;
	if (what == CURL_POLL_REMOVE) {
		if (s)
			sock_free(ls, s);
		return 0;
	}
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -1;
		s->ls = ls;
		s->fd = fd;
		s->next = ls->socks;
		if (s->next)
			s->next->pprev = &s->next;
		s->pprev = &ls->socks;
		ls->socks = s;
		curl_multi_assign(ls->multi, fd, s);
	}
	s->want = (what & CURL_POLL_IN ? FO_IO_READ : 0) | (what & CURL_POLL_OUT ? FO_IO_WRITE : 0);
	if (!ls->closing && (ls->transfers > 0 || s->active))
		sock_watch(ls, s, s->want);
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: curl's next deadline, ms from now (-1: none). */
static int curl_timer_cb(CURLM *multi, long ms, void *userp)
{
	(void)multi;
	struct loopstate *ls = userp;
	if (ls->closing)
		return 0;
	if (ms < 0) {
		fo_timer_stop(ls->self, &ls->timer);
		ls->timer_on = false;
	} else {
		/* Never run curl from inside its own callback: the timer fires on the next turn. */
		ls->timer.udata = ls;
		fo_timer_start(ls->self, ls->loop, &ls->timer, fo_now_ns() + ms * FO_MSEC,
			       on_timer);
		ls->timer_on = true;
	}
	return 0;
}

/*
 * With no transfer left, nothing of this multi may stay armed on the loop:
 * idle keep-alive connections stay open in curl's pool, unwatched, and fini
 * may then clean the multi from any thread.
 */
static void quiesce_if_idle(struct loopstate *ls)
{
	if (ls->transfers > 0)
		return;
	if (ls->timer_on) {
		fo_timer_stop(ls->self, &ls->timer);
		ls->timer_on = false;
	}
	for (struct sock *s = ls->socks; s; s = s->next)
		if (s->active)
			sock_watch(ls, s, 0);
}

/*
 * The first transfer after a quiet spell: watch again what curl asked for,
 * and let curl run its timeouts now (the timer it had asked for may have
 * been stopped while quiet).
 */
static void wake(struct loopstate *ls)
{
	for (struct sock *s = ls->socks; s; s = s->next)
		if (s->want && !s->active)
			sock_watch(ls, s, s->want);
	if (!ls->timer_on) {
		ls->timer.udata = ls;
		fo_timer_start(ls->self, ls->loop, &ls->timer, fo_now_ns(), on_timer);
		ls->timer_on = true;
	}
}

static struct loopstate *loopstate_new(struct fo_mod *self, struct http *h, struct fo_loop *loop)
{
	struct loopstate *ls = calloc(1, sizeof(*ls));
	if (!ls)
		return NULL;
	ls->self = self;
	ls->loop = loop;
	ls->multi = curl_multi_init();
	if (!ls->multi) {
		free(ls);
		return NULL;
	}
	/* The caps are the process's: each loop's multi gets an equal share. */
	unsigned n = fo_loop_count(self) ? fo_loop_count(self) : 1;
	long host = (long)(h->max_host / n), total = (long)(h->max_total / n);
	host = host > 0 ? host : 1;
	total = total > 0 ? total : 1;
	curl_multi_setopt(ls->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb);
	curl_multi_setopt(ls->multi, CURLMOPT_SOCKETDATA, ls);
	curl_multi_setopt(ls->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
	curl_multi_setopt(ls->multi, CURLMOPT_TIMERDATA, ls);
	curl_multi_setopt(ls->multi, CURLMOPT_MAX_HOST_CONNECTIONS, host);
	curl_multi_setopt(ls->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, total);
	/* Keep every connection the cap allows open for reuse. */
	curl_multi_setopt(ls->multi, CURLMOPT_MAXCONNECTS, total);
	return ls;
}

/*
 * Cleans a quiescent loop's multi (no transfer, nothing armed): from any
 * thread, the loops running or not (at shutdown fini runs after they have
 * stopped and been freed): closing keeps curl's callbacks off the loop, and
 * a stopped watcher is no longer known to the event library, so its memory
 * may go.
 */
static void loopstate_free(struct loopstate *ls)
{
	ls->closing = true;
	curl_multi_cleanup(ls->multi); /* closes the pooled connections */
	while (ls->socks)
		sock_free(ls, ls->socks);
	free(ls);
}

/* This loop's state, made on its own thread at its first call. */
static struct loopstate *loopstate_for(struct fo_mod *self, struct fo_loop *loop)
{
	struct http *h = self->state;
	struct loops *all = atomic_load(&h->loops);
	if (!all) {
		unsigned n = fo_loop_count(self);
		struct loops *mine = calloc(1, sizeof(*mine) + n * sizeof(mine->slot[0]));
		if (!mine)
			return NULL;
		mine->n = n;
		if (atomic_compare_exchange_strong(&h->loops, &all, mine))
			all = mine;
		else
			free(mine); /* another loop was first: all is its array */
	}
	for (unsigned i = 0; i < all->n; i++) {
		if (fo_loop_at(self, i) != loop)
			continue;
		if (!all->slot[i])
			all->slot[i] = loopstate_new(self, h, loop);
		return all->slot[i];
	}
	return NULL;
}

static void fini(struct fo_mod *self)
{
	struct http *h = self->state;
	if (!h)
		return;
	/*
	 * The generation has ended: no call of this instance is in flight, so
	 * every loop's multi is quiescent (see quiesce_if_idle) and nothing of
	 * it is armed on any loop. Cleaning them here is safe whichever thread
	 * this is (the last request's loop, the reloading thread, or main
	 * after the loops have stopped at shutdown).
	 */
	struct loops *all = atomic_load(&h->loops);
	for (unsigned i = 0; all && i < all->n; i++)
		if (all->slot[i])
			loopstate_free(all->slot[i]);
	free(all);
	free(h);
	self->state = NULL;
}

/* ------------------------------------------------------------------- calls */

static size_t on_body(char *data, size_t size, size_t n, void *userp)
{
	struct call *k = userp;
	size_t len = size * n;
	if ((int64_t)(k->len + len) > k->max_body) {
		k->oversized = true;
		return 0; /* CURLE_WRITE_ERROR: the transfer stops here */
	}
	if (k->len + len > k->cap) {
		size_t cap = k->cap ? k->cap * 2 : 4096;
		while (cap < k->len + len)
			cap *= 2;
		if ((int64_t)cap > k->max_body)
			cap = (size_t)k->max_body;
		char *p = realloc(k->body, cap);
		if (!p) {
			k->nomem = true;
			return 0;
		}
		k->body = p;
		k->cap = cap;
	}
	memcpy(k->body + k->len, data, len);
	k->len += len;
	return len;
}

static bool tls_error(CURLcode rc)
{
	switch (rc) {
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CLIENTCERT:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_USE_SSL_FAILED:
		return true;
	default:
		return false;
	}
}

/* "addr:port" of the peer curl talked to (or tried), for a message; "" if unknown. */
static void peer(struct call *k, char *buf, size_t size)
{
	char *ip = NULL;
	long port = 0;
	buf[0] = '\0';
	if (curl_easy_getinfo(k->easy, CURLINFO_PRIMARY_IP, &ip) != CURLE_OK || !ip || !*ip)
		return;
	curl_easy_getinfo(k->easy, CURLINFO_PRIMARY_PORT, &port);
	snprintf(buf, size, strchr(ip, ':') ? "[%s]:%ld" : "%s:%ld", ip, port);
}

/* The call's message, formatted in its own buffer (the core copies it at the answer). */
static void say(struct call *k, enum kind kind, int err, const char *what)
{
	char from[80];
	peer(k, from, sizeof(from));
	snprintf(k->msg, sizeof(k->msg), "%s%s%s", what, *from ? " from " : "", from);
	k->kind = kind;
	k->err = err;
	k->errmsg = k->msg;
}

/* Fails the call if its status is not one of the branch's successes: whether it did. */
static bool failed_status(struct call *k, const struct branch *b, long status)
{
	char what[64];
	if (status_ok(b, status))
		return false;
	if (status >= 400 && status < 600) {
		snprintf(what, sizeof(what), "http: %s: status %ld", status >= 500 ? "5xx" : "4xx",
			 status);
		say(k, status >= 500 ? K_5XX : K_4XX, status >= 500 ? -EREMOTEIO : -EPROTO, what);
	} else {
		snprintf(what, sizeof(what), "http: unexpected status %ld: not one of the branch's",
			 status);
		say(k, K_OTHER, -EPROTO, what);
	}
	return true;
}

/*
 * A success status that says it has no content: 204 No Content, or a
 * Content-Length of 0. Its empty body is the answer (JSON null), not a bad
 * body; an empty body of unknown length (chunked, or up to the close) still is.
 */
static bool no_content(struct call *k, long status)
{
	curl_off_t length = -1;
	curl_easy_getinfo(k->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
	return k->len == 0 && (status == 204 || length == 0);
}

/* Sets k->err, k->errmsg and k->kind from how the transfer ended. */
static void classify(struct call *k, CURLcode rc)
{
	const struct branch *b = k->dc->branch_state;
	long os_errno = 0, status = 0;
	curl_easy_getinfo(k->easy, CURLINFO_OS_ERRNO, &os_errno);
	/* Known once the head is in, whatever stopped the body after it. */
	curl_easy_getinfo(k->easy, CURLINFO_RESPONSE_CODE, &status);
	bool oversized = (rc == CURLE_WRITE_ERROR && k->oversized) || rc == CURLE_FILESIZE_EXCEEDED;
	k->err = -EIO;
	k->kind = K_OTHER;
	/* The status first: the body of a failing one (a 5xx's error page,
	 * however big) is not the answer, so its size says nothing. */
	if ((rc == CURLE_OK || oversized) && failed_status(k, b, status))
		return;
	if (rc == CURLE_OK) {
		if (!no_content(k, status) && !fo_json_valid(k->body, k->len)) {
			say(k, K_BAD_BODY, -EBADMSG,
			    "http: bad body: the response is not one valid JSON value");
		} else {
			k->err = 0;
			k->kind = K_NONE;
		}
		return;
	}
	if (oversized)
		say(k, K_OVERSIZED, -EFBIG,
		    "http: oversized: the response body is over the branch's max_body");
	else if (rc == CURLE_WRITE_ERROR && k->nomem)
		say(k, K_OTHER, -ENOMEM, "http: out of memory for the response body");
	else if (rc == CURLE_COULDNT_RESOLVE_HOST)
		say(k, K_DNS, -EHOSTUNREACH, "http: DNS failure: cannot resolve the host");
	else if (rc == CURLE_COULDNT_CONNECT && os_errno == ECONNREFUSED)
		say(k, K_REFUSED, -ECONNREFUSED, "http: connection refused");
	else if (rc == CURLE_COULDNT_CONNECT)
		say(k, K_CONNECT, -EHOSTUNREACH, "http: cannot connect to the host");
	else if (rc == CURLE_OPERATION_TIMEDOUT)
		say(k, K_TIMEOUT, -ETIMEDOUT, "http: timeout");
	else if (tls_error(rc))
		say(k, K_TLS, -EPROTO, "http: TLS failure");
	else if (rc == CURLE_PARTIAL_FILE)
		say(k, K_RESET, -ECONNRESET,
		    "http: connection reset: closed in the middle of the response");
	else if (rc == CURLE_GOT_NOTHING)
		say(k, K_RESET, -ECONNRESET, "http: connection reset: closed before any response");
	else if (rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR)
		say(k, K_RESET, -ECONNRESET, "http: connection reset by the server");
	else
		say(k, K_OTHER, -EIO, curl_easy_strerror(rc));
}

/* Takes the call's transfer off the loop's multi. */
static void detach(struct call *k)
{
	if (!k->easy)
		return;
	curl_multi_remove_handle(k->ls->multi, k->easy);
	curl_easy_cleanup(k->easy);
	k->easy = NULL;
	k->ls->transfers--;
}

static bool json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * Answers a call: the last use of anything the call or the instance owns;
 * its failure is counted first.
 */
static void answer(struct call *k)
{
	struct fo_ds_call *dc = k->dc;
	count_failure(dc->self, dc->branch_state, k->kind);
	observe_conn_wait(dc->self, dc->branch_state, k->conn_wait_ns);
	char *body = k->body;
	int err = k->err;
	/* Without the whitespace around the value (a file's last newline): the
	 * joined answer stays on one line. */
	size_t from = 0, to = k->len;
	while (from < to && json_space(body[from]))
		from++;
	while (to > from && json_space(body[to - 1]))
		to--;
	/* A success without content (no_content) answers JSON null. */
	const char *value = from < to ? body + from : "null";
	size_t len = from < to ? to - from : 4;
	curl_slist_free_all(k->headers); /* curl is done with it: the handle is gone */
	fo_call_done(dc, err, err ? NULL : value, err ? 0 : len, k->errmsg);
	free(body); /* fo_call_done copied the value */
}

/* After curl ran: ends the finished transfers, quiesces, then answers them. */
static void reap(struct loopstate *ls)
{
	struct call *done = NULL;
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(ls->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		struct call *k = NULL;
		CURLcode rc = m->data.result;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&k);
		classify(k, rc);
		detach(k); /* m is gone after this */
		k->next = done;
		done = k;
	}
	quiesce_if_idle(ls);
	/* Each answer may end the instance once no other call holds it: the
	 * next pointer is read first, and ls is not touched again. */
	while (done) {
		struct call *k = done;
		done = k->next;
		answer(k);
	}
}

static void on_io(struct fo_mod *self, struct fo_io *io, int fd, unsigned revents)
{
	(void)self;
	struct sock *s = io->udata;
	struct loopstate *ls = s->ls;
	int ev = (revents & FO_IO_READ ? CURL_CSELECT_IN : 0) |
		 (revents & FO_IO_WRITE ? CURL_CSELECT_OUT : 0);
	int running;
	curl_multi_socket_action(ls->multi, fd, ev, &running);
	reap(ls);
}

static void on_timer(struct fo_mod *self, struct fo_timer *t)
{
	(void)self;
	struct loopstate *ls = t->udata;
	ls->timer_on = false;
	int running;
	curl_multi_socket_action(ls->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	reap(ls);
}

/* The URL with the unit id in place of each {id}; -ENAMETOOLONG past the buffer. */
static int make_url(const struct branch *b, uint64_t id, char *buf, size_t size)
{
	char num[24];
	int nl = snprintf(num, sizeof(num), "%" PRIu64, id);
	size_t pos = 0;
	for (size_t i = 0; i < b->nparts; i++) {
		size_t pl = strlen(b->parts[i]);
		size_t need = pl + (i + 1 < b->nparts ? (size_t)nl : 0);
		if (pos + need + 1 > size)
			return -ENAMETOOLONG;
		memcpy(buf + pos, b->parts[i], pl);
		pos += pl;
		if (i + 1 < b->nparts) {
			memcpy(buf + pos, num, (size_t)nl);
			pos += (size_t)nl;
		}
	}
	buf[pos] = '\0';
	return 0;
}

/*
 * The transfer has its connection (a kept-alive one or a new one), just
 * before its request goes out: how long it waited for it. curl's own
 * timings start again when a transfer leaves its queue of transfers waiting
 * for a connection (7.88; CURLINFO_QUEUE_TIME_T came in 8.6), so the wait
 * the caps impose is measured here.
 */
static int on_connection(void *clientp, char *primary_ip, char *local_ip, int primary_port,
			 int local_port)
{
	(void)primary_ip;
	(void)local_ip;
	(void)primary_port;
	(void)local_port;
	struct call *k = clientp;
	k->conn_wait_ns = fo_now_ns() - k->added_ns;
	return CURL_PREREQFUNC_OK;
}

static void fail_now(struct call *k, int err, enum kind kind, const char *why)
{
	k->err = err;
	k->kind = kind;
	k->errmsg = why;
	answer(k);
}

/* The branch's headers and the request's id: a list of the call's own. */
static struct curl_slist *with_request_id(const struct curl_slist *branch, const char *id)
{
	char hdr[MAX_HEADER];
	struct curl_slist *l = NULL, *n;
	for (; branch; branch = branch->next, l = n)
		if (!(n = curl_slist_append(l, branch->data)))
			goto fail;
	snprintf(hdr, sizeof(hdr), "X-Request-Id: %s", id);
	if ((n = curl_slist_append(l, hdr)))
		return n;
fail:
	curl_slist_free_all(l);
	return NULL;
}

static void start(struct fo_mod *self, struct fo_ds_call *c)
{
	const struct branch *b = c->branch_state;
	struct call *k = c->priv;
	k->dc = c;
	k->max_body = b->max_body;
	k->conn_wait_ns = -1; /* until curl says it had a connection */
	int64_t left = c->deadline_ns == FO_NO_DEADLINE ? 0 : c->deadline_ns - fo_now_ns();
	if (c->deadline_ns != FO_NO_DEADLINE && left <= 0)
		return fail_now(k, -ETIMEDOUT, K_TIMEOUT, "http: timeout");
	char url[MAX_URL + MAX_ID_PARTS * 24];
	if (make_url(b, c->task->id, url, sizeof(url)) < 0)
		return fail_now(k, -ENAMETOOLONG, K_OTHER, "http: the URL is too long");
	/* The HTTP request's id goes on to the downstream (job rows have none). */
	if (c->request_id && !(k->headers = with_request_id(b->headers, c->request_id)))
		return fail_now(k, -ENOMEM, K_OTHER, "http: out of memory starting the request");
	k->ls = loopstate_for(self, c->loop);
	if (!k->ls || !(k->easy = curl_easy_init()))
		return fail_now(k, -ENOMEM, K_OTHER, "http: out of memory starting the request");
	CURL *e = k->easy;
	/*
	 * A transfer that leaves the multi while its host name is resolving
	 * (cancel, or curl's own timeout) has libcurl's threaded resolver join
	 * the resolver thread, blocking this loop until getaddrinfo returns
	 * (seconds with a silent DNS server), unless the handle may quit
	 * quickly: then the thread is detached and frees itself when the
	 * resolve ends. curl_easy_cleanup and curl_multi_cleanup only detach.
	 */
	if (curl_easy_setopt(e, CURLOPT_QUICK_EXIT, 1L) != CURLE_OK) {
		curl_easy_cleanup(e);
		k->easy = NULL;
		return fail_now(k, -ENOTSUP, K_OTHER, "http: libcurl lacks CURLOPT_QUICK_EXIT");
	}
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, k);
	curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_connection);
	curl_easy_setopt(e, CURLOPT_PREREQDATA, k);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, k);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, k->headers ? k->headers : b->headers);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	/* One request per connection: a cancel closes exactly its own connection,
	 * and the per-host cap counts connections that carry one call each. */
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)b->max_body);
	if (c->deadline_ns != FO_NO_DEADLINE) {
		/* The branch's remaining budget, rounded up: the core's deadline
		 * cancels the call at the same moment in any case. */
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)((left + FO_MSEC - 1) / FO_MSEC));
	}
	if (b->post) {
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->task->len);
		/* Not copied: the task outlives the call, and a cancel detaches first. */
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->task->len ? c->task->payload : "");
	}
	k->added_ns = fo_now_ns();
	if (curl_multi_add_handle(k->ls->multi, e) != CURLM_OK) {
		curl_easy_cleanup(e);
		k->easy = NULL;
		return fail_now(k, -ENOMEM, K_OTHER, "http: cannot add the request to the loop");
	}
	if (k->ls->transfers++ == 0)
		wake(k->ls);
}

/*
 * The unit no longer wants the answer: the transfer leaves the multi now. A
 * transfer removed before its response is complete has its connection
 * closed by curl, not returned to the pool, so the downstream sees the
 * close at once.
 */
static void cancel(struct fo_mod *self, struct fo_ds_call *c)
{
	(void)self;
	struct call *k = c->priv;
	struct loopstate *ls = k->ls;
	detach(k);
	quiesce_if_idle(ls);
	bool late = c->deadline_ns != FO_NO_DEADLINE && fo_now_ns() >= c->deadline_ns;
	k->err = late ? -ETIMEDOUT : -ECANCELED;
	k->kind = late ? K_TIMEOUT : K_NONE; /* a cancel is the unit's doing, not a failure */
	k->errmsg = late ? "http: timeout" : "http: cancelled";
	answer(k);
}

static const struct fo_downstream_ops ops = {
	.call_size = sizeof(struct call),
	.branch_init = branch_init,
	.branch_fini = branch_fini,
	.start = start,
	.cancel = cancel,
	.target = target,
};

FO_MODULE_DEFINE(.type = FO_MODULE_DOWNSTREAM, .name = "http", .version = "1", .init = init,
		 .fini = fini, .ops = &ops);
