/* SPDX-License-Identifier: MIT */
/*
 * fanoutctl submit: one batch job over the socket.
 *
 * Task frames (fanout-gen's stream: a {kind, count, seed} header, then
 * {id, payload} frames) are forwarded to the daemon byte for byte; only their
 * lengths are read here. One poll loop moves input to the socket while the
 * socket takes it and results from the socket to the output: when the
 * daemon stops reading (the job's window is full) our writes stop, we stop
 * reading the input, and the producer upstream blocks. Nothing here grows
 * with the work-set.
 *
 * Results reach a pipe or terminal as each batch arrives from the socket,
 * not when a 1 MiB buffer fills. SIGINT/SIGTERM and a closed output end
 * the job early: whatever already arrived is written, the connection is
 * closed (the daemon cancels the rows in flight), and the exit status is
 * 128 + the signal (SIGPIPE's for a closed output).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define IN_CAP	   (2u * MP_MAX_FRAME + 8)
#define IN_REFILL  (256u << 10)
#define SOCK_CHUNK (256u << 10)

static const char *const outcome_names[] = {"ok",      "error", "timeout", "cancelled",
					    "skipped", "shed",	"lost"};

struct submit {
	int in_fd, sock;
	FILE *out;
	bool discard, raw, progress;
	bool streaming; /* the output is a pipe, socket or terminal: flushed per batch */
	/* input: [pos, scan) whole frames waiting for the socket, [scan, len) a partial one */
	char *ib;
	size_t ib_pos, ib_scan, ib_len;
	bool in_eof;
	char closebuf[32];
	size_t close_len, close_pos;
	bool close_queued;
	/* socket input */
	char *rb;
	size_t rb_len, rb_cap;
	msgpack_zone zone;
	struct ctl_buf scratch; /* a JSON value being checked */
	/* the job */
	uint64_t job, total, results, errors_shown, errors;
	char (*branch)[128]; /* the branch names of the open reply, in result order */
	size_t nbranches;
	bool finished;
	int rc;
	int64_t t0, last_ns;
	uint64_t last_results;
};

static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
	stop_signal = sig;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void human_count(char *buf, size_t len, double v)
{
	if (v >= 1e6)
		snprintf(buf, len, "%.2fM", v / 1e6);
	else if (v >= 1e3)
		snprintf(buf, len, "%.1fk", v / 1e3);
	else
		snprintf(buf, len, "%.0f", v);
}

static void progress(struct submit *s, bool final)
{
	int64_t now = now_ns();
	if (!s->progress || (!final && now - s->last_ns < 250000000))
		return;
	double dt = (double)(now - s->last_ns) / 1e9;
	double rate = dt > 0 ? (double)(s->results - s->last_results) / dt : 0;
	s->last_ns = now;
	s->last_results = s->results;
	char done[32], total[32], r[32];
	human_count(done, sizeof(done), (double)s->results);
	human_count(r, sizeof(r), rate);
	if (s->total) {
		human_count(total, sizeof(total), (double)s->total);
		double left = rate > 0 ? (double)(s->total - s->results) / rate : 0;
		fprintf(stderr, "\rjob %llu: %s/%s rows (%.1f%%)  %s rows/s  ETA %dm%02ds   ",
			(unsigned long long)s->job, done, total,
			100.0 * (double)s->results / (double)s->total, r, (int)left / 60,
			(int)left % 60);
	} else {
		fprintf(stderr, "\rjob %llu: %s rows  %s rows/s   ", (unsigned long long)s->job,
			done, r);
	}
	if (final)
		fputc('\n', stderr);
}

/* ---- results */

/* What a branch's outcome code means, for its "error" text (HTTP answers' words where they have
 * them). */
static const char *const outcome_texts[] = {
	"ok",
	"branch failed",
	"deadline exceeded",
	"cancelled",
	"not started: too little budget left",
	"overloaded: no admission within the budget",
	"lost: never answered",
};
#define NOUTCOMES (sizeof(outcome_names) / sizeof(outcome_names[0]))

static bool is_array(const msgpack_object *o)
{
	return o && o->type == MSGPACK_OBJECT_ARRAY;
}

/*
 * A failed branch's error text: the daemon's own for that branch when it
 * sends one per branch (an "errors" array); else the row's "error" (the
 * first failure's text) when this is the row's only failed branch, so it
 * must be that one; else what its outcome means.
 */
static void branch_error(FILE *out, const msgpack_object *o, uint32_t i, unsigned code,
			 unsigned failed)
{
	const msgpack_object *errs = mp_member(o, "errors"), *err = mp_member(o, "error");
	if (is_array(errs) && i < errs->via.array.size &&
	    errs->via.array.ptr[i].type == MSGPACK_OBJECT_STR) {
		ctl_json(out, &errs->via.array.ptr[i]);
		return;
	}
	/* A bare outcome name ("timeout") says less than the outcome's text. */
	bool named = err && err->type == MSGPACK_OBJECT_STR;
	for (size_t k = 0; named && k < NOUTCOMES; k++)
		named = !mp_str_is(err, outcome_names[k]);
	if (failed == 1 && named)
		ctl_json(out, err);
	else
		ctl_json_str(out, code < NOUTCOMES ? outcome_texts[code] : "unknown outcome");
}

/*
 * One result line: {id, outcome, ms, error?, branches: {NAME: {outcome,
 * value, error?}}}. "ms" is the row's duration in milliseconds as in HTTP
 * answers; a value that is JSON is embedded as JSON (as HTTP answers embed
 * it), anything else is a string.
 */
static void print_result(struct submit *s, const char *frame, size_t len)
{
	msgpack_object o;
	size_t off = 0;
	msgpack_zone_clear(&s->zone);
	if (msgpack_unpack(frame, len, &off, &s->zone, &o) != MSGPACK_UNPACK_SUCCESS ||
	    o.type != MSGPACK_OBJECT_MAP)
		return;
	const msgpack_object *br = mp_member(&o, "branches"), *val = mp_member(&o, "values"),
			     *err = mp_member(&o, "error");
	/* The id as sent: unsigned and exact (not through a double). */
	const msgpack_object *id = mp_member(&o, "id");
	fputs("{\"id\":", s->out);
	if (id)
		ctl_json(s->out, id);
	else
		fputs("null", s->out);
	fputs(",\"outcome\":", s->out);
	const msgpack_object *oc = mp_member(&o, "outcome");
	if (oc)
		ctl_json(s->out, oc);
	else
		fputs("null", s->out);
	fprintf(s->out, ",\"ms\":%.3f", mp_number(mp_member(&o, "us")) / 1000.0);
	if (err) {
		fputs(",\"error\":", s->out);
		ctl_json(s->out, err);
	}
	uint32_t n = is_array(br) ? br->via.array.size : 0;
	unsigned failed = 0;
	for (uint32_t i = 0; i < n; i++)
		failed += mp_number(&br->via.array.ptr[i]) != 0;
	fputs(",\"branches\":{", s->out);
	for (uint32_t i = 0; i < n; i++) {
		unsigned code = (unsigned)mp_number(&br->via.array.ptr[i]);
		fprintf(s->out, "%s", i ? "," : "");
		/* A branch the open reply did not name is keyed by its index: keys stay unique. */
		char unnamed[32];
		snprintf(unnamed, sizeof(unnamed), "#%u", i);
		ctl_json_str(s->out, i < s->nbranches ? s->branch[i] : unnamed);
		fprintf(s->out, ":{\"outcome\":\"%s\",\"value\":",
			code < NOUTCOMES ? outcome_names[code] : "?");
		if (is_array(val) && i < val->via.array.size)
			ctl_json_value(s->out, &val->via.array.ptr[i], &s->scratch);
		else
			fputs("null", s->out);
		if (code != 0) {
			fputs(",\"error\":", s->out);
			branch_error(s->out, &o, i, code, failed);
		}
		fputc('}', s->out);
	}
	fputs("}}\n", s->out);
}

static void summary(struct submit *s, struct ctl_reply *rep)
{
	const msgpack_object *d = rep->data;
	double failed = mp_number(mp_member(d, "failed")),
	       cancelled = mp_number(mp_member(d, "cancelled")),
	       rejected = mp_number(mp_member(d, "rejected"));
	progress(s, true);
	fprintf(stderr,
		"job %llu %s: %.0f rows: %.0f ok, %.0f degraded, %.0f failed, %.0f skipped, "
		"%.0f cancelled, %.0f rejected; %.2f s, %.0f rows/s\n",
		(unsigned long long)s->job, rep->status == 0 ? "done" : "CANCELLED",
		mp_number(mp_member(d, "rows")), mp_number(mp_member(d, "ok")),
		mp_number(mp_member(d, "degraded")), failed, mp_number(mp_member(d, "skipped")),
		cancelled, rejected, mp_number(mp_member(d, "duration_s")),
		mp_number(mp_member(d, "rows_per_s")));
	if (rep->status != 0)
		fprintf(stderr, "fanoutctl: %s\n", rep->msg);
	s->rc = rep->status == 0 && failed == 0 && cancelled == 0 && rejected == 0 && !s->errors
			? CTL_OK
			: CTL_FAILED;
	s->finished = true;
}

/* A frame from the daemon: a result, an error about one task frame, or the summary. */
static void on_frame(struct submit *s, char *frame, size_t len)
{
	/* Result frames are maps whose first key is "id": count them without decoding. */
	bool result = len > 4 && ((unsigned char)frame[0] & 0xf0) == 0x80 &&
		      memcmp(frame + 1, "\xa2id", 3) == 0;
	if (result) {
		s->results++;
		if (s->raw) {
			unsigned char prefix[4];
			mp_frame_prefix((uint32_t)len, prefix);
			fwrite(prefix, 4, 1, s->out);
			fwrite(frame, 1, len, s->out);
		} else if (!s->discard) {
			print_result(s, frame, len);
		}
		return;
	}
	char *copy = malloc(len);
	if (!copy)
		return;
	memcpy(copy, frame, len);
	struct ctl_reply rep;
	if (ctl_reply_parse(copy, len, &rep) < 0) {
		fprintf(stderr, "fanoutctl: a malformed frame from the daemon\n");
	} else if (rep.data && rep.data->type == MSGPACK_OBJECT_MAP &&
		   mp_member(rep.data, "rows")) {
		summary(s, &rep);
	} else {
		s->errors++;
		if (s->errors_shown++ < 10)
			fprintf(stderr, "%sfanoutd: %s\n", s->progress ? "\n" : "", rep.msg);
	}
	ctl_reply_free(&rep);
}

static int read_socket(struct submit *s)
{
	if (s->rb_cap - s->rb_len < SOCK_CHUNK) {
		size_t cap = s->rb_cap ? s->rb_cap * 2 : 2 * MP_MAX_FRAME;
		char *p = realloc(s->rb, cap);
		if (!p)
			return -1;
		s->rb = p;
		s->rb_cap = cap;
	}
	ssize_t n = read(s->sock, s->rb + s->rb_len, s->rb_cap - s->rb_len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		fprintf(stderr, "%sfanoutctl: fanoutd closed the connection before the summary\n",
			s->progress ? "\n" : "");
		return -1;
	}
	s->rb_len += (size_t)n;
	size_t pos = 0;
	while (s->rb_len - pos >= 4) {
		uint32_t len = mp_frame_len((const unsigned char *)s->rb + pos);
		if (len == 0 || len > MP_MAX_FRAME) {
			fprintf(stderr, "fanoutctl: the daemon sent an unframeable length %u\n",
				len);
			return -1;
		}
		if (s->rb_len - pos < 4 + (size_t)len)
			break;
		on_frame(s, s->rb + pos + 4, len);
		pos += 4 + len;
	}
	memmove(s->rb, s->rb + pos, s->rb_len - pos);
	s->rb_len -= pos;
	/* A reader downstream (a pipe, a terminal) sees each result as it came. */
	if (s->streaming && pos)
		fflush(s->out);
	return 0;
}

/* ---- tasks */

static int read_input(struct submit *s)
{
	if (s->ib_pos && s->ib_len + IN_REFILL > IN_CAP) {
		memmove(s->ib, s->ib + s->ib_pos, s->ib_len - s->ib_pos);
		s->ib_len -= s->ib_pos;
		s->ib_scan -= s->ib_pos;
		s->ib_pos = 0;
	}
	ssize_t n = read(s->in_fd, s->ib + s->ib_len, IN_CAP - s->ib_len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n < 0) {
		fprintf(stderr, "fanoutctl: reading the tasks: %s\n", strerror(errno));
		return -1;
	}
	if (n == 0) {
		if (s->ib_scan != s->ib_len) {
			fprintf(stderr, "fanoutctl: the task stream ends inside a frame\n");
			return -1;
		}
		s->in_eof = true;
		return 0;
	}
	s->ib_len += (size_t)n;
	while (s->ib_len - s->ib_scan >= 4) {
		uint32_t len = mp_frame_len((const unsigned char *)s->ib + s->ib_scan);
		if (len == 0 || len > MP_MAX_FRAME) {
			fprintf(stderr, "fanoutctl: the input is not a frame stream (length %u)\n",
				len);
			return -1;
		}
		if (s->ib_len - s->ib_scan < 4 + (size_t)len)
			break;
		s->ib_scan += 4 + len;
	}
	return 0;
}

static int write_socket(struct submit *s)
{
	const char *p;
	size_t *pos, end;
	if (s->ib_scan > s->ib_pos) {
		p = s->ib;
		pos = &s->ib_pos;
		end = s->ib_scan;
	} else {
		p = s->closebuf;
		pos = &s->close_pos;
		end = s->close_len;
	}
	ssize_t n = write(s->sock, p + *pos, end - *pos);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n < 0) {
		fprintf(stderr, "fanoutctl: writing to fanoutd: %s\n", strerror(errno));
		return -1;
	}
	*pos += (size_t)n;
	return 0;
}

static void queue_close(struct submit *s)
{
	struct ctl_req req;
	ctl_req_init(&req, "job.close", 0);
	mp_frame_prefix((uint32_t)req.buf.size, (unsigned char *)s->closebuf);
	memcpy(s->closebuf + 4, req.buf.data, req.buf.size);
	s->close_len = 4 + req.buf.size;
	ctl_req_free(&req);
	s->close_queued = true;
}

/*
 * fanout-gen's first frame is {kind, count, seed}: it names the kind and
 * the total (for the ETA) and is not a task. Anything else is left in the
 * buffer as the first task.
 */
static int read_header(struct submit *s, char *kind, size_t kind_len)
{
	while (!s->in_eof && s->ib_scan == 0)
		if (read_input(s) < 0)
			return -1;
	if (s->ib_scan == 0)
		return 0;
	size_t len = mp_frame_len((const unsigned char *)s->ib);
	msgpack_unpacked u;
	msgpack_unpacked_init(&u);
	size_t off = 0;
	if (msgpack_unpack_next(&u, s->ib + 4, len, &off) == MSGPACK_UNPACK_SUCCESS &&
	    u.data.type == MSGPACK_OBJECT_MAP && !mp_member(&u.data, "id") &&
	    mp_member(&u.data, "count")) {
		s->total = (uint64_t)mp_number(mp_member(&u.data, "count"));
		const msgpack_object *k = mp_member(&u.data, "kind");
		if (!*kind && k && k->type == MSGPACK_OBJECT_STR && k->via.str.size < kind_len) {
			memcpy(kind, k->via.str.ptr, k->via.str.size);
			kind[k->via.str.size] = '\0';
		}
		s->ib_pos = 4 + len;
	}
	msgpack_unpacked_destroy(&u);
	return 0;
}

/* ---- the command */

static void usage(void)
{
	fprintf(stderr, "usage: fanoutctl submit [--kind KIND] [--policy P] [--limit N] "
			"[--window N] [--ordered] [-i FILE|-] [-o FILE|-] [--raw] [--quiet]\n");
}

static bool is_dev_null(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3);
}

static int open_job(struct submit *s, const char *kind, const char *policy,
		    unsigned long long limit, unsigned long long window, bool ordered)
{
	struct ctl_req req;
	ctl_req_init(&req, "job.open", 2 + (policy != NULL) + (limit != 0) + (window != 0));
	mp_str(&req.pk, "kind");
	mp_str(&req.pk, kind);
	mp_str(&req.pk, "ordered");
	ordered ? msgpack_pack_true(&req.pk) : msgpack_pack_false(&req.pk);
	if (policy) {
		mp_str(&req.pk, "policy");
		mp_str(&req.pk, policy);
	}
	if (limit) {
		mp_str(&req.pk, "limit");
		msgpack_pack_unsigned_long_long(&req.pk, limit);
	}
	if (window) {
		mp_str(&req.pk, "window");
		msgpack_pack_unsigned_long_long(&req.pk, window);
	}
	char *raw = NULL;
	ctl_send(s->sock, &req); /* a refusal is read even when the send failed */
	long len = ctl_recv(s->sock, &raw);
	ctl_req_free(&req);
	struct ctl_reply rep;
	if (len < 0 || ctl_reply_parse(raw, (size_t)len, &rep) < 0) {
		if (len >= 0)
			ctl_reply_free(&rep);
		fprintf(stderr, "fanoutctl: the connection to fanoutd broke\n");
		return CTL_UNREACHABLE;
	}
	if (rep.status != 0) {
		fprintf(stderr, "fanoutctl: %s\n", rep.msg);
		ctl_reply_free(&rep);
		return CTL_FAILED;
	}
	s->job = mp_uint(mp_member(rep.data, "job"));
	const msgpack_object *br = mp_member(rep.data, "branches");
	size_t n = br && br->type == MSGPACK_OBJECT_ARRAY ? br->via.array.size : 0;
	s->branch = n ? calloc(n, sizeof(*s->branch)) : NULL;
	for (size_t i = 0; s->branch && i < n; i++)
		ctl_scalar(&br->via.array.ptr[i], s->branch[s->nbranches++], sizeof(s->branch[0]));
	if (s->progress) {
		char p[64], l[32], w[32];
		ctl_scalar(mp_member(rep.data, "policy"), p, sizeof(p));
		ctl_scalar(mp_member(rep.data, "limit"), l, sizeof(l));
		ctl_scalar(mp_member(rep.data, "window"), w, sizeof(w));
		fprintf(stderr, "job %llu: kind %s, policy %s, limit %s, window %s, %s\n",
			(unsigned long long)s->job, kind, p, l, w,
			ordered ? "ordered" : "unordered");
	}
	ctl_reply_free(&rep);
	return CTL_OK;
}

/* Whatever the daemon already sent, without waiting for more. */
static void drain_socket(struct submit *s)
{
	struct pollfd p = {.fd = s->sock, .events = POLLIN};
	while (!s->finished && poll(&p, 1, 0) == 1 && (p.revents & POLLIN) && !ferror(s->out))
		if (read_socket(s) < 0)
			break;
}

/*
 * Ends the job early: the completed results are written, and closing the
 * connection (by the caller) makes the daemon cancel the rows in flight.
 */
static int stop_early(struct submit *s, const char *why, int status)
{
	drain_socket(s);
	fflush(s->out);
	if (s->progress)
		fputc('\n', stderr);
	fprintf(stderr, "fanoutctl: %s: job %llu cancelled after %llu results\n", why,
		(unsigned long long)s->job, (unsigned long long)s->results);
	return status;
}

static bool output_closed(const struct submit *s, const struct pollfd *out)
{
	return ferror(s->out) || (out->revents & (POLLERR | POLLHUP));
}

static int run(struct submit *s)
{
	fcntl(s->sock, F_SETFL, fcntl(s->sock, F_GETFL) | O_NONBLOCK);
	while (!s->finished) {
		if (stop_signal)
			return stop_early(s, stop_signal == SIGINT ? "interrupted" : "terminated",
					  128 + stop_signal);
		bool pending =
			s->ib_scan > s->ib_pos || (s->close_queued && s->close_pos < s->close_len);
		/* The output is watched for its reader leaving (events 0: POLLERR/POLLHUP only),
		 * so a job whose results stopped coming is still cancelled at once. */
		struct pollfd p[3] = {
			{.fd = s->sock, .events = POLLIN | (pending ? POLLOUT : 0)},
			{.fd = s->streaming ? fileno(s->out) : -1, .events = 0},
			{.fd = s->in_fd, .events = POLLIN},
		};
		/* Read tasks only while few wait for the socket: its backpressure is ours. */
		bool want_input = !s->in_eof && s->ib_len - s->ib_pos < IN_REFILL;
		if (poll(p, want_input ? 3 : 2, 250) < 0) {
			if (errno == EINTR)
				continue;
			perror("fanoutctl: poll");
			return CTL_UNREACHABLE;
		}
		if (output_closed(s, &p[1]))
			return stop_early(s, "the output closed", 128 + SIGPIPE);
		if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) && read_socket(s) < 0)
			return CTL_UNREACHABLE;
		if (ferror(s->out))
			return stop_early(s, "the output closed", 128 + SIGPIPE);
		if (s->finished)
			break;
		if ((p[0].revents & POLLOUT) && write_socket(s) < 0)
			return CTL_UNREACHABLE;
		if (want_input && (p[2].revents & (POLLIN | POLLHUP)) && read_input(s) < 0)
			return CTL_FAILED;
		if (s->in_eof && !s->close_queued && s->ib_pos == s->ib_scan)
			queue_close(s);
		progress(s, false);
	}
	return s->rc;
}

static bool is_stream(int fd)
{
	struct stat st;
	return isatty(fd) ||
	       (fstat(fd, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)));
}

/* The output, opened (and a file truncated) only once the daemon has accepted the job. */
static int open_output(struct submit *s, const char *outp)
{
	s->out = strcmp(outp, "-") == 0 ? stdout : fopen(outp, "w");
	if (!s->out) {
		fprintf(stderr, "fanoutctl: %s: %s\n", outp, strerror(errno));
		return -1;
	}
	static char outbuf[1 << 20];
	setvbuf(s->out, outbuf, _IOFBF, sizeof(outbuf));
	s->discard = is_dev_null(fileno(s->out)); /* counted, not formatted */
	s->streaming = is_stream(fileno(s->out));
	return 0;
}

static void catch_stop_signals(void)
{
	/* No SA_RESTART: poll() returns EINTR and the loop sees the signal. */
	struct sigaction sa = {.sa_handler = on_stop_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

int ctl_submit(const char *path, int argc, char **argv)
{
	static const struct option longs[] = {
		{"kind", required_argument, NULL, 'k'},	  {"policy", required_argument, NULL, 'p'},
		{"limit", required_argument, NULL, 'l'},  {"window", required_argument, NULL, 'w'},
		{"ordered", no_argument, NULL, 'O'},	  {"input", required_argument, NULL, 'i'},
		{"output", required_argument, NULL, 'o'}, {"raw", no_argument, NULL, 'r'},
		{"quiet", no_argument, NULL, 'q'},	  {NULL, 0, NULL, 0}};
	char kind[128] = "";
	const char *policy = NULL, *in = "-", *outp = "-";
	unsigned long long limit = 0, window = 0;
	bool ordered = false, quiet = false, raw = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "k:p:l:w:i:o:q", longs, NULL)) != -1) {
		char *end = NULL;
		switch (c) {
		case 'k':
			snprintf(kind, sizeof(kind), "%s", optarg);
			break;
		case 'p':
			policy = optarg;
			break;
		case 'l':
		case 'w': {
			errno = 0;
			unsigned long long v = strtoull(optarg, &end, 10);
			if (*end || !v || *optarg == '-' || errno == ERANGE) {
				fprintf(stderr, "fanoutctl: --%s must be a positive integer\n",
					c == 'l' ? "limit" : "window");
				return CTL_USAGE;
			}
			*(c == 'l' ? &limit : &window) = v;
			break;
		}
		case 'O':
			ordered = true;
			break;
		case 'i':
			in = optarg;
			break;
		case 'o':
			outp = optarg;
			break;
		case 'r':
			raw = true;
			break;
		case 'q':
			quiet = true;
			break;
		default:
			usage();
			return CTL_USAGE;
		}
	}
	if (optind != argc) {
		usage();
		return CTL_USAGE;
	}
	signal(SIGPIPE, SIG_IGN);
	struct submit s = {.rc = CTL_FAILED, .out = NULL, .sock = -1};
	s.in_fd = strcmp(in, "-") == 0 ? 0 : open(in, O_RDONLY | O_CLOEXEC);
	if (s.in_fd < 0) {
		fprintf(stderr, "fanoutctl: %s: %s\n", in, strerror(errno));
		return CTL_USAGE;
	}
	s.raw = raw;
	s.progress = !quiet && isatty(2);
	s.ib = malloc(IN_CAP);
	msgpack_zone_init(&s.zone, 4096);
	int rc = CTL_FAILED;
	if (!s.ib || read_header(&s, kind, sizeof(kind)) < 0)
		goto out;
	if (!*kind) {
		fprintf(stderr, "fanoutctl: no --kind and no fanout-gen header naming one\n");
		rc = CTL_USAGE;
		goto out;
	}
	s.sock = ctl_connect(path);
	if (s.sock < 0) {
		fprintf(stderr, "fanoutctl: cannot reach fanoutd at %s: %s\n", path,
			strerror(-s.sock));
		rc = CTL_UNREACHABLE;
		goto out;
	}
	rc = open_job(&s, kind, policy, limit, window, ordered);
	if (rc == CTL_OK && open_output(&s, outp) < 0)
		rc = CTL_USAGE; /* closing the connection below cancels the job */
	if (rc == CTL_OK) {
		catch_stop_signals();
		s.t0 = s.last_ns = now_ns();
		rc = run(&s);
	}
	close(s.sock);
out:
	if (s.out && fflush(s.out) != 0 && rc == CTL_OK) {
		fprintf(stderr, "fanoutctl: writing results: %s\n", strerror(errno));
		rc = CTL_FAILED;
	}
	if (s.out && s.out != stdout)
		fclose(s.out);
	if (s.in_fd > 0)
		close(s.in_fd);
	free(s.ib);
	free(s.rb);
	free(s.scratch.p);
	free(s.branch);
	msgpack_zone_destroy(&s.zone);
	return rc;
}
