/* SPDX-License-Identifier: MIT */
#include "api.h"

#include <errno.h>
#include <grp.h>
#include <msgpack.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "apiconn.h"
#include "generation.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"

/* Output waiting to be written beyond which a connection's input is not taken. */
#define OUT_HIGH   (4u << 20)
#define OUT_LOW	   (1u << 20)
#define READ_CHUNK 65536

static const char *const level_names[] = {"user", "job", "operator", "admin"};

const char *fod_api_level_str(enum fod_api_level lv)
{
	return (unsigned)lv < sizeof(level_names) / sizeof(level_names[0]) ? level_names[lv] : "?";
}

struct fod_api_conn {
	ev_io rio, wio;
	ev_timer idle; /* no traffic and no owner (a job) for the idle timeout: closed */
	int fd;
	enum fod_api_level level;
	unsigned uid;
	char *in;
	size_t in_len, in_cap;
	char *out;
	size_t out_len, out_pos, out_cap;
	bool close_after; /* close once the output is written */
	bool peer_done;	  /* the peer will send nothing more */
	bool processing, again;
	bool hup_watched; /* in hup_fd's set while its input is not read */
	/* Installed by fod_api_take (job.open) until fod_api_release: frames go to them. */
	const struct fod_api_conn_ops *ops;
	void *owner;
};

/* Bytes queued on every connection and not yet written: a shutdown waits for them. */
static size_t unsent;

static int listen_fd = -1;
static char *listen_path;
static dev_t listen_dev; /* the socket file we bound: only that one is unlinked at exit */
static ino_t listen_ino;
static ev_io accept_io;
static ev_timer accept_pause; /* out of descriptors: accepting resumes after it */
static bool accept_paused;
static long nconns;

/*
 * Peers that hung up while their input is not being read (a job at its
 * limit, a backlog of replies): libev watches readability only, and a
 * stopped reader would notice the hang-up only when it reads again. An
 * epoll set with no events requested still reports EPOLLHUP, which a Unix
 * stream socket raises once its peer has closed both directions.
 */
static int hup_fd = -1;
static ev_io hup_io;

static void process_input(struct fod_api_conn *c);

/* ---- output */

static size_t backlog(const struct fod_api_conn *c)
{
	return c->out_len - c->out_pos;
}

void fod_api_send(struct fod_api_conn *c, const void *data, size_t len)
{
	if (c->out_len + 4 + len > c->out_cap) {
		/* Written-out bytes at the front make room first. */
		if (c->out_pos) {
			memmove(c->out, c->out + c->out_pos, c->out_len - c->out_pos);
			c->out_len -= c->out_pos;
			c->out_pos = 0;
		}
		size_t cap = c->out_cap ? c->out_cap : 65536;
		while (cap < c->out_len + 4 + len)
			cap *= 2;
		char *o = cap == c->out_cap ? c->out : realloc(c->out, cap);
		if (!o) {
			c->close_after = true;
			return;
		}
		c->out = o;
		c->out_cap = cap;
	}
	mp_frame_prefix((uint32_t)len, (unsigned char *)c->out + c->out_len);
	memcpy(c->out + c->out_len + 4, data, len);
	c->out_len += 4 + len;
	unsent += 4 + len;
	ev_io_start(fod_loops[0].ev, &c->wio);
}

void fod_api_reply(struct fod_api_conn *c, struct fod_reply *r)
{
	size_t len;
	const char *bytes = fod_reply_bytes(r, &len);
	fod_api_send(c, bytes, len);
	msgpack_sbuffer_destroy(&r->buf);
}

void fod_api_error(struct fod_api_conn *c, enum fod_status st, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	struct fod_reply r;
	msgpack_pack_nil(fod_reply_begin(&r, st, msg));
	fod_api_reply(c, &r);
}

unsigned fod_api_peer_uid(const struct fod_api_conn *c)
{
	return c->uid;
}

/* ---- commands */

static void cmd_stats(struct fod_api_conn *c, const msgpack_object *req)
{
	(void)req;
	struct fod_reply r;
	msgpack_packer *pk = fod_reply_begin(&r, FOD_ST_OK, "ok");
	msgpack_pack_map(pk, 6);
	mp_kv_int(pk, "reloads_ok", atomic_load(&fod_counters.reloads_ok));
	mp_kv_int(pk, "reloads_failed", atomic_load(&fod_counters.reloads_failed));
	mp_kv_int(pk, "http_connections_accepted",
		  atomic_load(&fod_counters.http_connections_total));
	mp_kv_int(pk, "http_2xx", atomic_load(&fod_counters.http_requests[2]));
	mp_kv_int(pk, "http_4xx", atomic_load(&fod_counters.http_requests[4]));
	mp_kv_int(pk, "http_5xx", atomic_load(&fod_counters.http_requests[5]));
	fod_api_reply(c, &r);
}

static void pack_module(msgpack_packer *pk, const struct fod_module *m, const char *instance)
{
	msgpack_pack_map(pk, 5);
	mp_kv_str(pk, "name", m->desc->name);
	mp_kv_str(pk, "type", fod_module_type_str(m->desc->type));
	mp_kv_str(pk, "version", m->desc->version ? m->desc->version : "");
	mp_kv_str(pk, "instance", instance);
	mp_kv_str(pk, "path", m->path);
}

static void cmd_modules(struct fod_api_conn *c, const msgpack_object *req)
{
	(void)req;
	struct fod_gen *g = fod_gen_current();
	size_t n = g->nlimiters + g->ndownstreams;
	for (size_t i = 0; i < g->nroutes; i++)
		n += g->routes[i].policy_in.live;
	struct fod_reply r;
	msgpack_packer *pk = fod_reply_begin(&r, FOD_ST_OK, "ok");
	msgpack_pack_array(pk, n);
	for (size_t i = 0; i < g->nlimiters; i++)
		pack_module(pk, &g->limiters[i].in.mod, g->limiters[i].name);
	for (size_t i = 0; i < g->ndownstreams; i++)
		pack_module(pk, &g->downstreams[i]->in.mod, g->downstreams[i]->in.mod.desc->name);
	for (size_t i = 0; i < g->nroutes; i++)
		if (g->routes[i].policy_in.live)
			pack_module(pk, &g->routes[i].policy_in.mod, g->routes[i].name);
	fod_api_reply(c, &r);
	fod_gen_unref(g);
}

static void pack_limiter(msgpack_packer *pk, struct fod_limiter *l)
{
	struct fo_sem *sem = fod_limiter_sem(l);
	msgpack_pack_map(pk, 6);
	mp_kv_str(pk, "name", l->name);
	mp_kv_str(pk, "module", l->in.mod.desc->name);
	mp_kv_int(pk, "limit", fo_sem_size(sem));
	mp_kv_int(pk, "in_use", fo_sem_in_use(sem));
	mp_kv_int(pk, "high_water", fo_sem_high_water(sem));
	mp_kv_int(pk, "waiting", (long long)fo_sem_waiting(sem));
}

static void cmd_limits(struct fod_api_conn *c, const msgpack_object *req)
{
	(void)req;
	struct fod_gen *g = fod_gen_current();
	struct fod_reply r;
	msgpack_packer *pk = fod_reply_begin(&r, FOD_ST_OK, "ok");
	msgpack_pack_array(pk, g->nlimiters);
	for (size_t i = 0; i < g->nlimiters; i++)
		pack_limiter(pk, &g->limiters[i]);
	fod_api_reply(c, &r);
	fod_gen_unref(g);
}

static struct fod_limiter *named_limiter(struct fod_api_conn *c, const msgpack_object *req,
					 struct fod_gen *g)
{
	char name[128];
	int r = fod_mp_arg_str(req, "name", name, sizeof(name));
	if (r != 1) {
		fod_api_error(c, FOD_ST_BAD_REQUEST,
			      "'name' (a string of at most %zu bytes) is required: %s",
			      sizeof(name) - 1, fod_mp_str_problem(r));
		return NULL;
	}
	struct fod_limiter *l = fod_gen_limiter(g, name);
	if (!l)
		fod_api_error(c, FOD_ST_BAD_REQUEST, "no limiter named '%s'", name);
	return l;
}

static void cmd_limit_get(struct fod_api_conn *c, const msgpack_object *req)
{
	struct fod_gen *g = fod_gen_current();
	struct fod_limiter *l = named_limiter(c, req, g);
	if (l) {
		struct fod_reply r;
		pack_limiter(fod_reply_begin(&r, FOD_ST_OK, "ok"), l);
		fod_api_reply(c, &r);
	}
	fod_gen_unref(g);
}

/* What a limiter took when it was not the value asked for (clamped to its range). */
static void limit_clamped_msg(char *msg, size_t len, const struct fod_limiter *l, uint64_t want,
			      long long took)
{
	snprintf(msg, len, "limit %llu is %s the range of limiter '%s' (%s): set to its %s, %lld",
		 (unsigned long long)want, took < (long long)want ? "above" : "below", l->name,
		 l->in.mod.desc->name, took < (long long)want ? "maximum" : "minimum", took);
}

static void cmd_limit_set(struct fod_api_conn *c, const msgpack_object *req)
{
	struct fod_gen *g = fod_gen_current();
	struct fod_limiter *l = named_limiter(c, req, g);
	const msgpack_object *v = mp_member(req, "limit");
	int r = 0;
	int64_t took = 0;
	if (!l) {
		/* answered */
	} else if (!v || v->type != MSGPACK_OBJECT_POSITIVE_INTEGER || v->via.u64 < 1 ||
		   v->via.u64 > 100000000) {
		fod_api_error(c, FOD_ST_BAD_REQUEST,
			      "'limit' must be an integer in [1, 100000000]");
	} else if (!l->ops->set_limit) {
		fod_api_error(c, FOD_ST_BAD_REQUEST, "limiter '%s' (%s) takes no live limit",
			      l->name, l->in.mod.desc->name);
	} else if ((r = l->ops->set_limit(&l->in.self, (int64_t)v->via.u64, &took)) < 0) {
		fod_api_error(c, FOD_ST_BAD_REQUEST, "limiter '%s' (%s) refused limit %llu: %s",
			      l->name, l->in.mod.desc->name, (unsigned long long)v->via.u64,
			      strerror(-r));
	} else {
		/* A limiter with a range (aimd's min..max) clamps into it and says what it took. */
		char msg[256] = "ok";
		bool clamped = (uint64_t)took != v->via.u64;
		if (clamped)
			limit_clamped_msg(msg, sizeof(msg), l, v->via.u64, (long long)took);
		log_notice("limiter %s: limit set to %lld over the API%s%s", l->name,
			   (long long)took, clamped ? ": " : "", clamped ? msg : "");
		struct fod_reply rep;
		pack_limiter(fod_reply_begin(&rep, FOD_ST_OK, msg), l);
		fod_api_reply(c, &rep);
	}
	fod_gen_unref(g);
}

/* Raw histograms and outcome counts per branch: `fanoutctl top` turns deltas into rates and p99. */
static void cmd_branches(struct fod_api_conn *c, const msgpack_object *req)
{
	(void)req;
	struct fod_metrics_branch *const *bs;
	size_t n = fod_metrics_branches(&bs);
	const double *bounds = fod_hist_bounds();
	struct fod_reply r;
	msgpack_packer *pk = fod_reply_begin(&r, FOD_ST_OK, "ok");
	msgpack_pack_map(pk, 3);
	mp_str(pk, "bounds_s");
	msgpack_pack_array(pk, FOD_HIST_BUCKETS - 1);
	for (int i = 0; i < FOD_HIST_BUCKETS - 1; i++)
		msgpack_pack_double(pk, bounds[i]);
	mp_str(pk, "outcomes");
	msgpack_pack_array(pk, FO_OUTCOME_MAX);
	for (int o = 0; o < FO_OUTCOME_MAX; o++)
		mp_str(pk, fo_outcome_str((enum fo_outcome)o));
	mp_str(pk, "branches");
	msgpack_pack_array(pk, n);
	for (size_t i = 0; i < n; i++) {
		msgpack_pack_map(pk, 5);
		mp_kv_str(pk, "route", bs[i]->route);
		mp_kv_str(pk, "branch", bs[i]->branch);
		mp_kv_int(pk, "count", (long long)atomic_load(&bs[i]->latency.count));
		mp_str(pk, "buckets");
		msgpack_pack_array(pk, FOD_HIST_BUCKETS);
		for (int b = 0; b < FOD_HIST_BUCKETS; b++)
			msgpack_pack_unsigned_long(pk, atomic_load(&bs[i]->latency.bucket[b]));
		mp_str(pk, "outcomes");
		msgpack_pack_array(pk, FO_OUTCOME_MAX);
		for (int o = 0; o < FO_OUTCOME_MAX; o++)
			msgpack_pack_unsigned_long(pk, atomic_load(&bs[i]->outcomes[o]));
	}
	fod_api_reply(c, &r);
}

static const struct fod_api_command api_commands[] = {
	{"stats", FOD_LEVEL_USER, cmd_stats},
	{"modules", FOD_LEVEL_USER, cmd_modules},
	{"limits", FOD_LEVEL_USER, cmd_limits},
	{"limit.get", FOD_LEVEL_USER, cmd_limit_get},
	{"branches", FOD_LEVEL_USER, cmd_branches},
	{"limit.set", FOD_LEVEL_OPERATOR, cmd_limit_set},
	{NULL, 0, NULL},
};

/*
 * The command table: the socket's own ops first, then each subsystem's
 * list as it registered it (job.c's job ops; control.c's status, drain,
 * reload and shutdown). Filled at start, before the socket serves:
 * read-only after.
 */
#define MAX_COMMAND_LISTS 16
static const struct fod_api_command *command_lists[MAX_COMMAND_LISTS] = {api_commands};
static size_t ncommand_lists = 1;

const struct fod_api_command *fod_api_command(const char *op)
{
	for (size_t i = 0; i < ncommand_lists; i++)
		for (const struct fod_api_command *cmd = command_lists[i]; cmd->op; cmd++)
			if (strcmp(cmd->op, op) == 0)
				return cmd;
	return NULL;
}

void fod_api_each_command(void (*fn)(const struct fod_api_command *cmd, void *arg), void *arg)
{
	for (size_t i = 0; i < ncommand_lists; i++)
		for (const struct fod_api_command *cmd = command_lists[i]; cmd->op; cmd++)
			fn(cmd, arg);
}

int fod_api_register(const struct fod_api_command *cmds)
{
	for (const struct fod_api_command *cmd = cmds; cmd->op; cmd++)
		if (fod_api_command(cmd->op)) {
			log_err("admin socket: op '%s' is registered twice", cmd->op);
			return -EEXIST;
		}
	if (ncommand_lists == MAX_COMMAND_LISTS)
		return -ENOSPC;
	command_lists[ncommand_lists++] = cmds;
	return 0;
}

static void dispatch(struct fod_api_conn *c, const char *frame, size_t len)
{
	enum fod_scan scan = fod_mp_prescan(frame, len);
	if (scan == FOD_SCAN_MALFORMED) {
		fod_api_error(c, FOD_ST_BAD_REQUEST,
			      "malformed frame: not exactly one msgpack value");
		return;
	}
	if (scan == FOD_SCAN_TOO_BIG) {
		fod_api_error(c, FOD_ST_BAD_REQUEST,
			      "frame too deep (> %d) or too wide (> %d elements)", FOD_MAX_DEPTH,
			      FOD_MAX_ELEMENTS);
		return;
	}
	msgpack_unpacked u;
	msgpack_unpacked_init(&u);
	size_t off = 0;
	int r = msgpack_unpack_next(&u, frame, len, &off);
	char op[64];
	int have_op = 0;
	if (r != MSGPACK_UNPACK_SUCCESS || off != len) {
		fod_api_error(c, FOD_ST_BAD_REQUEST,
			      "malformed frame: not exactly one msgpack value");
	} else if (u.data.type != MSGPACK_OBJECT_MAP) {
		fod_api_error(c, FOD_ST_BAD_REQUEST, "a request is a map with an 'op'");
	} else if ((have_op = fod_mp_arg_str(&u.data, "op", op, sizeof(op))) != 1) {
		fod_api_error(c, FOD_ST_BAD_REQUEST,
			      "'op' (a string of at most %zu bytes) is required: %s",
			      sizeof(op) - 1, fod_mp_str_problem(have_op));
	} else {
		const struct fod_api_command *cmd = fod_api_command(op);
		if (!cmd)
			fod_api_error(c, FOD_ST_UNKNOWN_OP, "unknown op '%s'", op);
		else if (c->level < cmd->level)
			fod_api_error(c, FOD_ST_FORBIDDEN,
				      "'%s' needs the %s level; this peer has %s", op,
				      fod_api_level_str(cmd->level), fod_api_level_str(c->level));
		else
			cmd->fn(c, &u.data);
	}
	msgpack_unpacked_destroy(&u);
}

/* ---- connections */

static void watch_hup(struct fod_api_conn *c, bool on)
{
	if (on == c->hup_watched || hup_fd < 0)
		return;
	struct epoll_event e = {.events = 0, .data.ptr = c};
	if (epoll_ctl(hup_fd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, c->fd, &e) == 0)
		c->hup_watched = on;
}

/*
 * The peer sends nothing more (can_reply: it still reads) or is gone: the
 * owner lets go, unless it keeps the connection to send what it still owes
 * (a closed job finishing its rows; job.c cancels one left open).
 */
static void owner_peer_gone(struct fod_api_conn *c, bool can_reply)
{
	if (c->ops && !c->ops->peer_gone(c->owner, can_reply)) {
		c->ops = NULL;
		c->owner = NULL;
	}
}

static void conn_close(struct fod_api_conn *c)
{
	unsent -= backlog(c);
	owner_peer_gone(c, false); /* cancels what the client left in flight */
	watch_hup(c, false);
	ev_io_stop(fod_loops[0].ev, &c->rio);
	ev_io_stop(fod_loops[0].ev, &c->wio);
	ev_timer_stop(fod_loops[0].ev, &c->idle);
	nconns--;
	close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
}

/* Read while there is room for what the frames will cause; stop otherwise. */
static void update_reading(struct fod_api_conn *c)
{
	bool want = !c->close_after && !c->peer_done && backlog(c) < OUT_HIGH &&
		    (!c->ops || c->ops->has_room(c->owner));
	if (want)
		ev_io_start(fod_loops[0].ev, &c->rio);
	else
		ev_io_stop(fod_loops[0].ev, &c->rio);
	/* Paused, not finished: a peer that leaves now is noticed at once (on_hup). */
	watch_hup(c, !want && !c->close_after && !c->peer_done);
}

static void on_write(struct ev_loop *ev, ev_io *w, int revents)
{
	(void)revents;
	struct fod_api_conn *c =
		(struct fod_api_conn *)((char *)w - offsetof(struct fod_api_conn, wio));
	bool was_full = backlog(c) >= OUT_LOW;
	size_t before = c->out_pos;
	int r = fod_write_some(c->fd, c->out, c->out_len, &c->out_pos);
	unsent -= c->out_pos - before;
	if (c->out_pos != before)
		ev_timer_again(ev, &c->idle);
	if (r < 0) {
		conn_close(c);
		return;
	}
	if (r == 1) {
		ev_io_stop(ev, w);
		c->out_len = c->out_pos = 0;
		if (c->close_after && !c->ops) {
			conn_close(c);
			return;
		}
	}
	if (was_full && backlog(c) < OUT_LOW)
		process_input(c); /* the client reads again: so can we */
}

/* Frames already buffered, as far as the connection has room for them. */
static void process_input(struct fod_api_conn *c)
{
	if (c->processing) {
		c->again = true; /* a frame's handler ended the job: the outer loop goes on */
		return;
	}
	c->processing = true;
	do {
		c->again = false;
		size_t pos = 0;
		while (!c->close_after && c->in_len - pos >= 4 && backlog(c) < OUT_HIGH) {
			uint32_t len = mp_frame_len((const unsigned char *)c->in + pos);
			if (len == 0 || len > MP_MAX_FRAME) {
				/* The stream cannot be framed any more: say why, then close. */
				fod_api_error(c, FOD_ST_BAD_REQUEST,
					      "frame length %u is outside [1, %u]: closing", len,
					      MP_MAX_FRAME);
				c->close_after = true;
				break;
			}
			if (c->in_len - pos < 4 + (size_t)len)
				break;
			if (c->ops) {
				if (!c->ops->has_room(c->owner))
					break;
				c->ops->frame(c->owner, c->in + pos + 4, len);
			} else {
				dispatch(c, c->in + pos + 4, len);
			}
			pos += 4 + len;
		}
		memmove(c->in, c->in + pos, c->in_len - pos);
		c->in_len -= pos;
		if (c->ops)
			c->ops->flush(c->owner);
	} while (c->again);
	c->processing = false;
	if (c->close_after && c->ops) {
		/* An unframeable stream mid-job: the job goes with the connection. */
		c->ops->peer_gone(c->owner, false);
		c->ops = NULL;
		c->owner = NULL;
	}
	update_reading(c);
	if (c->close_after)
		ev_io_start(fod_loops[0].ev, &c->wio); /* on_write closes once flushed */
}

size_t fod_api_unsent(void)
{
	return unsent;
}

void fod_api_kick(struct fod_api_conn *c)
{
	process_input(c);
}

void fod_api_take(struct fod_api_conn *c, const struct fod_api_conn_ops *ops, void *owner)
{
	c->ops = ops;
	c->owner = owner;
}

void fod_api_release(struct fod_api_conn *c, bool close)
{
	c->ops = NULL;
	c->owner = NULL;
	if (close || c->peer_done) {
		c->close_after = true;
		ev_io_start(fod_loops[0].ev, &c->wio);
	}
	process_input(c); /* requests pipelined behind the job */
}

static void on_read(struct ev_loop *ev, ev_io *w, int revents)
{
	(void)ev;
	(void)revents;
	struct fod_api_conn *c =
		(struct fod_api_conn *)((char *)w - offsetof(struct fod_api_conn, rio));
	if (c->in_cap - c->in_len < READ_CHUNK) {
		size_t cap = c->in_cap ? c->in_cap : 2 * READ_CHUNK;
		while (cap - c->in_len < READ_CHUNK)
			cap *= 2;
		char *in = realloc(c->in, cap);
		if (!in) {
			conn_close(c);
			return;
		}
		c->in = in;
		c->in_cap = cap;
	}
	ssize_t n = read(c->fd, c->in + c->in_len, READ_CHUNK);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		/*
		 * The peer is done sending. A job it closed keeps running to its
		 * summary; one it left open is abandoned: its rows are cancelled.
		 */
		c->peer_done = true;
		owner_peer_gone(c, true);
		c->close_after = !c->ops;
		update_reading(c);
		if (backlog(c) == 0 && !c->ops)
			conn_close(c);
		return;
	}
	if (n < 0)
		return;
	c->in_len += (size_t)n;
	ev_timer_again(fod_loops[0].ev, &c->idle);
	process_input(c);
}

/* Quiet for the idle timeout: a connection holding no job is closed (its slot is freed). */
static void on_idle(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)revents;
	struct fod_api_conn *c =
		(struct fod_api_conn *)((char *)w - offsetof(struct fod_api_conn, idle));
	if (c->ops) {
		ev_timer_again(ev, w); /* a job's rows are bounded by their route's budget */
		return;
	}
	if (fod_peer_ready(c->fd, &c->rio, &c->wio)) {
		ev_timer_again(ev, w); /* traffic the loop has not run yet: not idle */
		return;
	}
	log_debug("admin connection (uid %u) idle for %.0f s: closing", c->uid, w->repeat);
	conn_close(c);
}

/* Peers that hung up while not being read: their jobs are cancelled now, not at the next read. */
static void on_hup(struct ev_loop *ev, ev_io *w, int revents)
{
	(void)ev;
	(void)revents;
	struct epoll_event evs[64];
	int n = epoll_wait(w->fd, evs, 64, 0);
	for (int i = 0; i < n; i++) {
		struct fod_api_conn *c = evs[i].data.ptr;
		if (c->ops)
			log_info("admin connection (uid %u) closed with its job running: "
				 "cancelling its rows",
				 c->uid);
		conn_close(c);
	}
}

static bool in_group(uid_t uid, gid_t gid, const char *group)
{
	if (!group || !*group)
		return false;
	struct group *gr = getgrnam(group);
	if (!gr)
		return false;
	if (gr->gr_gid == gid)
		return true;
	struct passwd *pw = getpwuid(uid);
	if (!pw)
		return false;
	gid_t groups[256];
	int n = 256;
	if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) < 0)
		return false;
	for (int i = 0; i < n; i++)
		if (groups[i] == gr->gr_gid)
			return true;
	return false;
}

static enum fod_api_level peer_level(int fd, unsigned *uid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	*uid = (unsigned)-1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return FOD_LEVEL_USER;
	*uid = cred.uid;
	/* root, and the daemon's own user (ExecReload under DynamicUser), administer it. */
	if (cred.uid == 0 || cred.uid == geteuid())
		return FOD_LEVEL_ADMIN;
	struct fod_gen *g = fod_gen_current();
	enum fod_api_level lv = FOD_LEVEL_USER;
	if (g && in_group(cred.uid, cred.gid, g->api.admin_group))
		lv = FOD_LEVEL_ADMIN;
	else if (g && in_group(cred.uid, cred.gid, g->api.operator_group))
		lv = FOD_LEVEL_OPERATOR;
	else if (g && in_group(cred.uid, cred.gid, g->api.job_group))
		lv = FOD_LEVEL_JOB;
	fod_gen_unref(g);
	return lv;
}

/* Over api.max_connections: one error frame, then the connection is closed. */
static void refuse(int fd, long max)
{
	char msg[128];
	snprintf(msg, sizeof(msg),
		 "too many admin connections (api.max_connections = %ld): closing", max);
	struct fod_reply r;
	msgpack_pack_nil(fod_reply_begin(&r, FOD_ST_BUSY, msg));
	char frame[4 + 256];
	if (r.buf.size <= sizeof(frame) - 4) {
		mp_frame_prefix((uint32_t)r.buf.size, (unsigned char *)frame);
		memcpy(frame + 4, r.buf.data, r.buf.size);
		/* A new socket's buffer takes it whole; a peer that is not there loses nothing. */
		ssize_t n = write(fd, frame, 4 + r.buf.size);
		(void)n;
	}
	msgpack_sbuffer_destroy(&r.buf);
	close(fd);
}

/* A connection on fd (not yet watched) at a level, or NULL. */
static struct fod_api_conn *conn_new(int fd, enum fod_api_level level)
{
	struct fod_api_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	struct fod_gen *g = fod_gen_current();
	double idle_s = g ? (double)g->api.idle_timeout_ns / 1e9 : 60.;
	fod_gen_unref(g);
	nconns++;
	c->fd = fd;
	c->level = level;
	c->uid = (unsigned)-1;
	ev_io_init(&c->rio, on_read, fd, EV_READ);
	ev_io_init(&c->wio, on_write, fd, EV_WRITE);
	ev_init(&c->idle, on_idle);
	c->idle.repeat = idle_s;
	return c;
}

static void resume_accepting(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	if (listen_fd >= 0)
		ev_io_start(ev, &accept_io);
}

static void on_accept(struct ev_loop *ev, ev_io *w, int revents)
{
	(void)revents;
	for (int i = 0; i < 64; i++) { /* a flood of connects does not hold the loop */
		int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/*
				 * The pending connection stays queued and the listener
				 * readable: accepting again at once would spin. Pause.
				 */
				if (!accept_paused) /* once per shortage, not every 100 ms */
					log_warn("admin socket: accept: %m: pausing accepts for "
						 "100 ms at a time");
				accept_paused = true;
				ev_io_stop(ev, w);
				ev_timer_set(&accept_pause, 0.1, 0.);
				ev_timer_start(ev, &accept_pause);
			} else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
				log_warn("admin socket: accept: %m");
			}
			return;
		}
		accept_paused = false;
		struct fod_gen *g = fod_gen_current();
		long max = g ? g->api.max_connections : 1;
		fod_gen_unref(g);
		unsigned uid;
		enum fod_api_level lv = nconns < max ? peer_level(fd, &uid) : FOD_LEVEL_USER;
		struct fod_api_conn *c = nconns < max ? conn_new(fd, lv) : NULL;
		if (!c) {
			refuse(fd, max);
			continue;
		}
		c->uid = uid;
		ev_timer_again(ev, &c->idle);
		ev_io_start(ev, &c->rio);
	}
}

int fod_api_serve(int fd, enum fod_api_level level)
{
	struct fod_api_conn *c = conn_new(fd, level);
	if (!c)
		return -ENOMEM;
	ev_timer_again(fod_loops[0].ev, &c->idle);
	ev_io_start(fod_loops[0].ev, &c->rio);
	return 0;
}

#ifdef FOD_FUZZING
/* tests/fuzz: one admin connection fed these bytes as if read from the socket, then closed. */
void fod_api_fuzz_feed(const char *data, size_t len)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return;
	struct fod_api_conn *c = conn_new(sv[0], FOD_LEVEL_ADMIN);
	c->in = malloc(len + 1);
	memcpy(c->in, data, len);
	c->in_len = len;
	c->in_cap = len + 1;
	process_input(c);
	conn_close(c);
	close(sv[1]);
}
#endif

/*
 * What is at the socket path before we bind: nothing, or a stale socket
 * (nobody accepts on it), which is removed. A live instance answering there
 * is never taken over, and a file that is not a socket is never deleted.
 */
static int claim_path(const char *path, const struct sockaddr_un *sun)
{
	struct stat st;
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		log_err("admin socket %s: %m", path);
		return -errno;
	}
	if (!S_ISSOCK(st.st_mode)) {
		log_err("admin socket %s: the path exists and is not a socket: not replacing it",
			path);
		return -EEXIST;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int r = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) < 0 ? errno : 0;
	close(fd);
	if (r == 0 || r == EAGAIN) {
		log_err("admin socket %s: another process (a running fanoutd?) answers on it: "
			"refusing to take it over",
			path);
		return -EADDRINUSE;
	}
	if (r != ECONNREFUSED && r != ENOENT)
		return log_errno(-r, "admin socket %s: cannot tell whether it is in use: %m", path);
	if (unlink(path) < 0 && errno != ENOENT) {
		log_err("admin socket %s: cannot remove the stale socket: %m", path);
		return -errno;
	}
	return 0;
}

int fod_api_listen(const char *path, const char *mode, const char *group)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_err("admin socket %s: the path is longer than %zu bytes", path,
			sizeof(sun.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	strcpy(sun.sun_path, path);
	int r = claim_path(path, &sun);
	if (r < 0)
		return r;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	mode_t m = (mode_t)strtoul(mode && *mode ? mode : "0660", NULL, 8);
	struct stat st;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || chmod(path, m) < 0 ||
	    lstat(path, &st) < 0 || listen(fd, 64) < 0) {
		r = -errno;
		close(fd);
		return log_errno(r, "admin socket %s: %m", path);
	}
	if (group && *group) {
		struct group *gr = getgrnam(group);
		if (!gr || chown(path, (uid_t)-1, gr->gr_gid) < 0)
			log_warn("api.group '%s': cannot give the socket to it", group);
	}
	listen_path = strdup(path);
	listen_dev = st.st_dev;
	listen_ino = st.st_ino;
	return fd;
}

void fod_api_start(int fd)
{
	listen_fd = fd;
	ev_io_init(&accept_io, on_accept, fd, EV_READ);
	ev_io_start(fod_loops[0].ev, &accept_io);
	ev_init(&accept_pause, resume_accepting);
	hup_fd = epoll_create1(EPOLL_CLOEXEC);
	if (hup_fd < 0) {
		log_warn("admin socket: epoll_create1: %m: a client that leaves a job at its "
			 "limit is noticed only when the job reads again");
		return;
	}
	ev_io_init(&hup_io, on_hup, hup_fd, EV_READ);
	ev_io_start(fod_loops[0].ev, &hup_io);
}

void fod_api_stop(void)
{
	if (listen_fd < 0)
		return;
	ev_io_stop(fod_loops[0].ev, &accept_io);
	ev_timer_stop(fod_loops[0].ev, &accept_pause);
	close(listen_fd);
	listen_fd = -1;
	/* Only our own socket: another file put at the path since is not ours to remove. */
	struct stat st;
	if (listen_path && lstat(listen_path, &st) == 0 && st.st_dev == listen_dev &&
	    st.st_ino == listen_ino)
		unlink(listen_path);
	free(listen_path);
	listen_path = NULL;
}
