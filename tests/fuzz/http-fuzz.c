/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the HTTP request path: each input is what one client
 * sends on one connection, in segments the input chooses, with time passing
 * between them. The daemon's own accept, parser callbacks and limits, query
 * and id parsing, routing, the gateway's fan-out over the sim downstreams and
 * the rendering of every answer run as in production, on loop 0, driven by
 * hand. The generation is built from the shipped etc/fanoutd.conf with the
 * build's modules.
 *
 * Input: byte 0 holds flags, the rest is the byte stream. In the stream 0xFF
 * escapes: FF FF is one FF byte, FF c ends a segment (sent, then the clock
 * advances by steps_ms[c & 7]). Flags: bits 0-1 how the client ends
 * (0, 3: half-close and read everything; 1: close without reading; 2: stay
 * silent until the server hangs up), bit 2 the gateway is draining, bit 3
 * the connection limit and its monitoring reserve are reached, bit 4 only the
 * limit (the connection is one of the reserve: internal endpoints only),
 * bit 5 the sim endpoint is enabled (GET /sim/{branch}/{id}, drawing
 * failures and stragglers; otherwise /sim/ paths are the gateway's).
 *
 * Time is virtual: the monotonic clocks (libev's timers, fo_now_ns, the
 * deadline thread) read the real clock plus an offset the harness advances,
 * so header and idle timeouts, downstream latencies and budgets all play out
 * without waiting. libFuzzer's own clock (CLOCK_REALTIME) is untouched.
 *
 * Checked for every input: the bytes the client receives are well-formed
 * HTTP/1.1 answers (status line with a known status, one Content-Length equal
 * to the body's length, a Connection header, nothing after a
 * "Connection: close" answer, JSON bodies that parse), and afterwards no
 * connection, request or branch is left behind.
 *
 * Built and run by tools/fuzz.sh http (FANOUTD_MODULES names the module dir).
 */
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "endpoints.h"
#include "fuzz.h"
#include "gateway.h"
#include "simsrv.h"
#include "generation.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"

#ifndef FUZZ_SHIPPED_CONF
#define FUZZ_SHIPPED_CONF "etc/fanoutd.conf"
#endif

/* ---- virtual monotonic time */

static int64_t clock_offset_ns;

/* Overrides libc's (and the sanitizers' weak interceptor) for the whole process. */
int clock_gettime(clockid_t id, struct timespec *ts)
{
	typedef int (*clock_fn)(clockid_t, struct timespec *);
	static clock_fn libc_clock; /* any thread may be first: each finds the same */
	clock_fn real = __atomic_load_n(&libc_clock, __ATOMIC_RELAXED);
	if (!real) {
		real = (clock_fn)dlsym(RTLD_NEXT, "clock_gettime");
		__atomic_store_n(&libc_clock, real, __ATOMIC_RELAXED);
	}
	int r = real(id, ts);
	if (r == 0 && id != CLOCK_REALTIME && id != CLOCK_REALTIME_COARSE &&
	    id != CLOCK_PROCESS_CPUTIME_ID && id != CLOCK_THREAD_CPUTIME_ID) {
		int64_t ns = ts->tv_nsec + clock_offset_ns % 1000000000;
		ts->tv_sec += clock_offset_ns / 1000000000 + ns / 1000000000;
		ts->tv_nsec = ns % 1000000000;
	}
	return r;
}

/* ---- the client side */

static const int64_t steps_ms[8] = {0, 1, 3, 20, 300, 2000, 10000, 60000};

static struct sockaddr_un server_addr;
static socklen_t server_addr_len;
static struct fod_gen *shipped, *with_sim;

/* The shipped config and an enabled sim endpoint (bit 5): a file beside nothing, gone at once. */
static struct fod_gen *build_with_sim(const char *conf, const struct fod_overrides *ov)
{
	char path[] = "/tmp/fanoutd-http-fuzz-XXXXXX", err[1024], buf[4096];
	int fd = mkstemp(path);
	FILE *in = fopen(conf, "r"), *out = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!in || !out)
		return NULL;
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		fwrite(buf, 1, n, out);
	fputs("\nsim_endpoint = { enabled = true; err_rate = 0.3; tail_rate = 0.2; "
	      "tail_ms = 2000; fail_branch = \"reviews\"; };\n",
	      out);
	fclose(in);
	fclose(out);
	struct fod_gen *g = fod_gen_build(path, ov, err, sizeof(err));
	unlink(path);
	if (!g)
		fprintf(stderr, "fuzz: %s\n", err);
	return g;
}

struct client {
	int fd;
	char *in; /* what the server sent */
	size_t in_len, in_cap;
	bool eof;
};

static void receive(struct client *cl)
{
	while (cl->fd >= 0 && !cl->eof) {
		if (cl->in_cap - cl->in_len < 4096) {
			cl->in_cap = cl->in_cap * 2 + 8192;
			cl->in = realloc(cl->in, cl->in_cap);
			if (!cl->in)
				abort();
		}
		ssize_t n = read(cl->fd, cl->in + cl->in_len, cl->in_cap - cl->in_len);
		if (n > 0)
			cl->in_len += (size_t)n;
		else if (n == 0 || (errno != EAGAIN && errno != EINTR))
			cl->eof = true;
		else
			return;
	}
}

/* A few turns of the loop: enough for posted tasks and due timers to run. */
static void pump(struct client *cl)
{
	for (int i = 0; i < 4; i++) {
		ev_run(fod_loops[0].ev, EVRUN_NOWAIT);
		receive(cl);
	}
}

/*
 * Bytes ready to move are moved before time passes: the client reads at
 * once, so a timeout never finds an answer waiting in the socket (a large
 * /metrics answer was cut by the idle timeout in a long run, when the clock
 * jumped first).
 */
static void advance(struct client *cl, int64_t ms)
{
	pump(cl);
	clock_offset_ns += ms * 1000000;
	pump(cl);
}

static void send_segment(struct client *cl, const char *p, size_t len)
{
	/* The server stops reading while its buffer is full: give up then. */
	for (int stalls = 0; len > 0 && stalls < 4;) {
		ssize_t n = send(cl->fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			stalls = 0;
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			return; /* the server has hung up */
		} else {
			stalls++;
		}
		pump(cl);
	}
}

/* ---- what a well-formed answer stream looks like */

static void fail(const char *why, const struct client *cl, size_t at)
{
	fprintf(stderr, "fuzz: %s at byte %zu of the answers:\n%.*s\n", why, at,
		(int)(cl->in_len > 2048 ? 2048 : cl->in_len), cl->in);
	abort();
}

static const char *json_value(const char *p, const char *end, int depth);

static const char *json_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	return p;
}

static const char *json_string(const char *p, const char *end)
{
	if (p >= end || *p != '"')
		return NULL;
	for (p++; p < end; p++) {
		if (*p == '"')
			return p + 1;
		if ((unsigned char)*p < 0x20)
			return NULL;
		if (*p == '\\' && ++p == end)
			return NULL;
	}
	return NULL;
}

static const char *json_items(const char *p, const char *end, int depth, char close, bool keyed)
{
	p = json_ws(p + 1, end);
	if (p < end && *p == close)
		return p + 1;
	for (;;) {
		if (keyed) {
			if (!(p = json_string(p, end)))
				return NULL;
			p = json_ws(p, end);
			if (p >= end || *p != ':')
				return NULL;
			p = json_ws(p + 1, end);
		}
		if (!(p = json_value(p, end, depth + 1)))
			return NULL;
		p = json_ws(p, end);
		if (p < end && *p == close)
			return p + 1;
		if (p >= end || *p != ',')
			return NULL;
		p = json_ws(p + 1, end);
	}
}

static const char *json_value(const char *p, const char *end, int depth)
{
	if (p >= end || depth > 32)
		return NULL;
	if (*p == '{')
		return json_items(p, end, depth, '}', true);
	if (*p == '[')
		return json_items(p, end, depth, ']', false);
	if (*p == '"')
		return json_string(p, end);
	const char *start = p;
	while (p < end && (strchr("+-.0123456789eE", *p) || (*p >= 'a' && *p <= 'z')))
		p++;
	size_t n = (size_t)(p - start);
	if (n == 0)
		return NULL;
	if ((*start >= 'a' && *start <= 'z') && !((n == 4 && memcmp(start, "null", 4) == 0) ||
						  (n == 4 && memcmp(start, "true", 4) == 0) ||
						  (n == 5 && memcmp(start, "false", 5) == 0)))
		return NULL;
	return p;
}

static bool known_status(int s)
{
	static const int known[] = {200, 400, 404, 405, 408, 413, 414, 431, 500, 502, 503, 504};
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (s == known[i])
			return true;
	return false;
}

/* The value of header NAME in head[0..len), or NULL; *count says how many there were. */
static const char *header(const char *head, size_t len, const char *name, int *count)
{
	const char *found = NULL;
	size_t nlen = strlen(name);
	*count = 0;
	for (const char *p = head; p && p < head + len;) {
		const char *eol = memmem(p, (size_t)(head + len - p), "\r\n", 2);
		if (!eol)
			break;
		if ((size_t)(eol - p) > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
			found = p + nlen + 1;
			(*count)++;
		}
		p = eol + 2;
	}
	return found;
}

/*
 * complete: the client read until the server hung up, so no answer may be cut
 * short. heads: how many requests may have been HEAD, whose answers carry a
 * Content-Length but no body (one is then followed at once by the next
 * answer's status line or by the end).
 */
static void check_answers(const struct client *cl, bool complete, size_t heads)
{
	size_t at = 0;
	while (at < cl->in_len) {
		const char *r = cl->in + at;
		size_t left = cl->in_len - at;
		const char *end_head = memmem(r, left, "\r\n\r\n", 4);
		if (!end_head) {
			if (complete)
				fail("an answer's head is cut short", cl, at);
			return;
		}
		size_t head_len = (size_t)(end_head - r) + 2; /* through the last header's CRLF */
		int status = 0, count;
		char reason[64];
		if (left < 13 || memcmp(r, "HTTP/1.1 ", 9) != 0 ||
		    sscanf(r + 9, "%3d %63[^\r]", &status, reason) != 2 || !known_status(status) ||
		    strcmp(reason, "Unknown") == 0)
			fail("bad status line", cl, at);
		const char *cl_hdr = header(r, head_len, "Content-Length", &count);
		if (!cl_hdr || count != 1)
			fail("not exactly one Content-Length", cl, at);
		char *num_end;
		unsigned long long body_len = strtoull(cl_hdr, &num_end, 10);
		if (num_end == cl_hdr || strncmp(num_end, "\r\n", 2) != 0)
			fail("Content-Length is not a number", cl, at);
		const char *conn = header(r, head_len, "Connection", &count);
		bool close = conn && strncmp(conn, " close\r\n", 8) == 0;
		if (count != 1 || !(close || strncmp(conn, " keep-alive\r\n", 13) == 0))
			fail("not exactly one Connection: close | keep-alive", cl, at);
		size_t body_at = head_len + 2;
		if (heads && body_len &&
		    (left == body_at ||
		     (left - body_at >= 9 && memcmp(r + body_at, "HTTP/1.1 ", 9) == 0))) {
			heads--; /* a HEAD answer */
			at += body_at;
			if (close && at != cl->in_len)
				fail("bytes after a Connection: close answer", cl, at);
			continue;
		}
		if (left - body_at < body_len) {
			if (complete)
				fail("the body is shorter than Content-Length", cl, at);
			return;
		}
		const char *body = r + body_at;
		const char *ct = header(r, head_len, "Content-Type", &count);
		if (ct && strncmp(ct, " application/json", 17) == 0) {
			const char *v =
				json_value(json_ws(body, body + body_len), body + body_len, 0);
			if (!v || json_ws(v, body + body_len) != body + body_len)
				fail("the JSON body does not parse", cl, at);
		}
		at += body_at + body_len;
		if (close && at != cl->in_len)
			fail("bytes after a Connection: close answer", cl, at);
	}
}

/* ---- setup and one input */

static int listen_unix(void)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	server_addr.sun_family = AF_UNIX;
	/* Abstract namespace: nothing in the file system, gone with the process. */
	int n = snprintf(server_addr.sun_path + 1, sizeof(server_addr.sun_path) - 1,
			 "fanoutd-http-fuzz-%ld", (long)getpid());
	server_addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
	if (bind(fd, (struct sockaddr *)&server_addr, server_addr_len) < 0 || listen(fd, 16) < 0)
		return -1;
	return fd;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fod_log_set_level(FO_LOG_ERR);
	signal(SIGPIPE, SIG_IGN);
	const char *conf = getenv("FANOUTD_CONF") ? getenv("FANOUTD_CONF") : FUZZ_SHIPPED_CONF;
	struct fod_overrides ov = {.modules = getenv("FANOUTD_MODULES")};
	char err[1024];
	shipped = fod_gen_build(conf, &ov, err, sizeof(err));
	if (!shipped) {
		fprintf(stderr, "fuzz: %s\n", err);
		abort();
	}
	if (!(with_sim = build_with_sim(conf, &ov)))
		abort();
	/* Both kept here: each input publishes one of them. */
	fod_gen_publish(fod_gen_ref(shipped));
	int fd = listen_unix();
	if (fd < 0 || fod_loops_init(1) < 0) {
		perror("fuzz: setup");
		abort();
	}
	fod_loop_adopt(&fod_loops[0]);
	if (fod_http_adopt_listener(fd) < 0) {
		fprintf(stderr, "fuzz: cannot adopt the listener\n");
		abort();
	}
	if (fod_endpoints_register() < 0 || fod_simsrv_register() < 0 ||
	    fod_gateway_register() < 0) {
		fprintf(stderr, "fuzz: cannot register the HTTP routes\n");
		abort();
	}
	if (fod_http_start() < 0) {
		fprintf(stderr, "fuzz: cannot start HTTP\n");
		abort();
	}
	ev_run(fod_loops[0].ev, EVRUN_NOWAIT); /* runs the posted start of accepting */
	return 0;
}

static bool settled(void)
{
	return fod_http_loop_connections(0) == 0 && fod_gateway_in_flight() == 0 &&
	       fo_live_branches() == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	unsigned flags = data[0];
	int end_mode = flags & 3;
	long open_before = atomic_load(&fod_counters.http_connections_open);
	fod_control_set_draining(flags & 4);
	fod_gen_publish(fod_gen_ref(flags & 32 ? with_sim : shipped));
	/* The connection arrives with the daemon full (8), or with only the
	 * monitoring reserve left (16: /metrics, /healthz, /readyz only). */
	long forced = flags & 8	   ? shipped->http.max_connections + FOD_HTTP_MONITOR_RESERVE
		      : flags & 16 ? shipped->http.max_connections
				   : -1;
	if (forced >= 0)
		atomic_store(&fod_counters.http_connections_open, forced);

	struct client cl = {.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
	if (cl.fd < 0 || connect(cl.fd, (struct sockaddr *)&server_addr, server_addr_len) < 0) {
		perror("fuzz: connect");
		abort();
	}
	pump(&cl);	 /* the server accepts */
	if (forced >= 0) /* keep the count of this connection, if it was taken */
		atomic_store(&fod_counters.http_connections_open,
			     open_before + atomic_load(&fod_counters.http_connections_open) -
				     forced);

	/* The stream as sent, all segments together: segments are sent from it. */
	char *stream = malloc(size);
	size_t stream_len = 0, seg_at = 0;
	for (size_t i = 1; i <= size; i++) {
		if (i < size && data[i] != 0xff) {
			stream[stream_len++] = (char)data[i];
			continue;
		}
		if (i + 1 < size && data[i + 1] == 0xff) {
			stream[stream_len++] = (char)0xff;
			i++;
			continue;
		}
		send_segment(&cl, stream + seg_at, stream_len - seg_at);
		seg_at = stream_len;
		if (i + 1 < size)
			advance(&cl, steps_ms[data[++i] & 7]);
	}

	bool complete = end_mode != 1;
	if (end_mode == 1) {
		close(cl.fd);
		cl.fd = -1;
	} else if (end_mode != 2) {
		shutdown(cl.fd, SHUT_WR);
	}
	/* Time passes until the server has let go of everything (budgets are at most 600 s). */
	for (int round = 0; round < 80 && !(settled() && (cl.fd < 0 || cl.eof)); round++)
		advance(&cl, 10000);
	if (!settled() || (cl.fd >= 0 && !cl.eof)) {
		fprintf(stderr,
			"fuzz: left behind: %ld connections, %ld requests, %ld branches%s\n",
			fod_http_loop_connections(0), fod_gateway_in_flight(), fo_live_branches(),
			cl.fd >= 0 && !cl.eof ? ", the connection still open" : "");
		abort();
	}
	/* Counted in the stream as sent: a HEAD may be split across segments. */
	size_t heads = 0;
	for (const char *h = stream; (h = memmem(h, stream_len - (size_t)(h - stream), "HEAD", 4));
	     h += 4)
		heads++;
	free(stream);
	check_answers(&cl, complete, heads);
	if (atomic_load(&fod_counters.http_connections_open) != open_before) {
		fprintf(stderr, "fuzz: http_connections_open %ld, was %ld\n",
			atomic_load(&fod_counters.http_connections_open), open_before);
		abort();
	}
	if (cl.fd >= 0)
		close(cl.fd);
	free(cl.in);
	fod_control_set_draining(false);
	return 0;
}
