/* SPDX-License-Identifier: MIT */
#include "api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <msgpack.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "gateway.h"
#include "gen.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "procstat.h"

#define MAX_FRAME    (1u << 20)
#define MAX_DEPTH    8
#define MAX_ELEMENTS 1024

enum level { LEVEL_USER, LEVEL_OPERATOR, LEVEL_ADMIN };
static const char *const level_names[] = {"user", "operator", "admin"};

enum status { ST_OK, ST_BAD_REQUEST, ST_UNKNOWN_OP, ST_FORBIDDEN, ST_BUSY, ST_INTERNAL };

struct api_conn {
	ev_io rio, wio;
	int fd;
	enum level level;
	char *in;
	size_t in_len, in_cap;
	char *out;
	size_t out_len, out_pos;
	bool close_after;
};

static int listen_fd = -1;
static char *listen_path;
static ev_io accept_io;
static int64_t started_ns;

/* ---- replies */

static void pack_str(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

static void kv_str(msgpack_packer *pk, const char *k, const char *v)
{
	pack_str(pk, k);
	pack_str(pk, v);
}

static void kv_int(msgpack_packer *pk, const char *k, long long v)
{
	pack_str(pk, k);
	msgpack_pack_long_long(pk, v);
}

static void queue_out(struct api_conn *c, const char *data, size_t len)
{
	char *o = realloc(c->out, c->out_len + 4 + len);
	if (!o) {
		c->close_after = true;
		return;
	}
	c->out = o;
	uint32_t be = htonl((uint32_t)len);
	memcpy(c->out + c->out_len, &be, 4);
	memcpy(c->out + c->out_len + 4, data, len);
	c->out_len += 4 + len;
	ev_io_start(fod_loops[0].ev, &c->wio);
}

/* A reply whose data the handler packs (or nil when data is NULL). */
struct reply {
	msgpack_sbuffer buf;
	msgpack_packer pk;
};

static msgpack_packer *reply_begin(struct reply *r, enum status st, const char *msg)
{
	msgpack_sbuffer_init(&r->buf);
	msgpack_packer_init(&r->pk, &r->buf, msgpack_sbuffer_write);
	msgpack_pack_map(&r->pk, 3);
	kv_int(&r->pk, "status", st);
	kv_str(&r->pk, "msg", msg);
	pack_str(&r->pk, "data");
	return &r->pk;
}

static void reply_end(struct api_conn *c, struct reply *r)
{
	queue_out(c, r->buf.data, r->buf.size);
	msgpack_sbuffer_destroy(&r->buf);
}

static void reply_error(struct api_conn *c, enum status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void reply_error(struct api_conn *c, enum status st, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	struct reply r;
	msgpack_pack_nil(reply_begin(&r, st, msg));
	reply_end(c, &r);
}

/* ---- arguments */

static const msgpack_object *arg(const msgpack_object *req, const char *key)
{
	for (uint32_t i = 0; i < req->via.map.size; i++) {
		const msgpack_object_kv *kv = &req->via.map.ptr[i];
		if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == strlen(key) &&
		    memcmp(kv->key.via.str.ptr, key, kv->key.via.str.size) == 0)
			return &kv->val;
	}
	return NULL;
}

static bool arg_str(const msgpack_object *req, const char *key, char *out, size_t len)
{
	const msgpack_object *v = arg(req, key);
	if (!v || v->type != MSGPACK_OBJECT_STR || v->via.str.size >= len)
		return false;
	memcpy(out, v->via.str.ptr, v->via.str.size);
	out[v->via.str.size] = '\0';
	return true;
}

/* ---- commands */

static void cmd_status(struct api_conn *c, const msgpack_object *req)
{
	(void)req;
	struct fod_gen *g = fod_gen_current();
	struct procstat ps;
	procstat_read(&ps);
	struct reply r;
	msgpack_packer *pk = reply_begin(&r, ST_OK, "ok");
	msgpack_pack_map(pk, 11);
	kv_str(pk, "version", PACKAGE_VERSION);
	kv_int(pk, "generation", g ? (long long)g->id : 0);
	kv_str(pk, "config", g ? g->path : "");
	kv_int(pk, "uptime_s", (fo_now_ns() - started_ns) / FO_SEC);
	kv_int(pk, "loops", fod_nloops);
	kv_int(pk, "pool_threads", g ? g->pool_threads : 0);
	kv_int(pk, "threads", ps.threads);
	kv_int(pk, "rss_bytes", ps.rss_kib * 1024);
	kv_int(pk, "connections", atomic_load(&fod_counters.http_connections_open));
	kv_int(pk, "requests_in_flight", fod_gateway_in_flight());
	kv_int(pk, "branches_in_flight", fo_live_branches());
	reply_end(c, &r);
	fod_gen_unref(g);
}

static void cmd_stats(struct api_conn *c, const msgpack_object *req)
{
	(void)req;
	struct reply r;
	msgpack_packer *pk = reply_begin(&r, ST_OK, "ok");
	msgpack_pack_map(pk, 6);
	kv_int(pk, "reloads_ok", atomic_load(&fod_counters.reloads_ok));
	kv_int(pk, "reloads_failed", atomic_load(&fod_counters.reloads_failed));
	kv_int(pk, "http_connections_accepted", atomic_load(&fod_counters.http_connections_total));
	kv_int(pk, "http_2xx", atomic_load(&fod_counters.http_requests[2]));
	kv_int(pk, "http_4xx", atomic_load(&fod_counters.http_requests[4]));
	kv_int(pk, "http_5xx", atomic_load(&fod_counters.http_requests[5]));
	reply_end(c, &r);
}

static void pack_module(msgpack_packer *pk, const struct fod_module *m, const char *instance)
{
	msgpack_pack_map(pk, 5);
	kv_str(pk, "name", m->desc->name);
	kv_str(pk, "type", fod_module_type_str(m->desc->type));
	kv_str(pk, "version", m->desc->version ? m->desc->version : "");
	kv_str(pk, "instance", instance);
	kv_str(pk, "path", m->path);
}

static void cmd_modules(struct api_conn *c, const msgpack_object *req)
{
	(void)req;
	struct fod_gen *g = fod_gen_current();
	size_t n = g->nlimiters + g->ndownstreams;
	for (size_t i = 0; i < g->nroutes; i++)
		n += g->routes[i].policy_mod.desc != NULL;
	struct reply r;
	msgpack_packer *pk = reply_begin(&r, ST_OK, "ok");
	msgpack_pack_array(pk, n);
	for (size_t i = 0; i < g->nlimiters; i++)
		pack_module(pk, &g->limiters[i].mod, g->limiters[i].name);
	for (size_t i = 0; i < g->ndownstreams; i++)
		pack_module(pk, &g->downstreams[i].mod, g->downstreams[i].mod.desc->name);
	for (size_t i = 0; i < g->nroutes; i++)
		if (g->routes[i].policy_mod.desc)
			pack_module(pk, &g->routes[i].policy_mod, g->routes[i].name);
	reply_end(c, &r);
	fod_gen_unref(g);
}

static void pack_limiter(msgpack_packer *pk, struct fod_limiter *l)
{
	struct fo_sem *sem = l->ops->sem(l->state);
	msgpack_pack_map(pk, 6);
	kv_str(pk, "name", l->name);
	kv_str(pk, "module", l->mod.desc->name);
	kv_int(pk, "limit", fo_sem_size(sem));
	kv_int(pk, "in_use", fo_sem_in_use(sem));
	kv_int(pk, "high_water", fo_sem_high_water(sem));
	kv_int(pk, "waiting", (long long)fo_sem_waiting(sem));
}

static void cmd_limits(struct api_conn *c, const msgpack_object *req)
{
	(void)req;
	struct fod_gen *g = fod_gen_current();
	struct reply r;
	msgpack_packer *pk = reply_begin(&r, ST_OK, "ok");
	msgpack_pack_array(pk, g->nlimiters);
	for (size_t i = 0; i < g->nlimiters; i++)
		pack_limiter(pk, &g->limiters[i]);
	reply_end(c, &r);
	fod_gen_unref(g);
}

static struct fod_limiter *named_limiter(struct api_conn *c, const msgpack_object *req,
					 struct fod_gen *g)
{
	char name[128];
	if (!arg_str(req, "name", name, sizeof(name))) {
		reply_error(c, ST_BAD_REQUEST, "'name' (a string) is required");
		return NULL;
	}
	struct fod_limiter *l = fod_gen_limiter(g, name);
	if (!l)
		reply_error(c, ST_BAD_REQUEST, "no limiter named '%s'", name);
	return l;
}

static void cmd_limit_get(struct api_conn *c, const msgpack_object *req)
{
	struct fod_gen *g = fod_gen_current();
	struct fod_limiter *l = named_limiter(c, req, g);
	if (l) {
		struct reply r;
		pack_limiter(reply_begin(&r, ST_OK, "ok"), l);
		reply_end(c, &r);
	}
	fod_gen_unref(g);
}

static void cmd_limit_set(struct api_conn *c, const msgpack_object *req)
{
	struct fod_gen *g = fod_gen_current();
	struct fod_limiter *l = named_limiter(c, req, g);
	const msgpack_object *v = arg(req, "limit");
	if (!l) {
		/* answered */
	} else if (!v || v->type != MSGPACK_OBJECT_POSITIVE_INTEGER || v->via.u64 < 1 ||
		   v->via.u64 > 100000000) {
		reply_error(c, ST_BAD_REQUEST, "'limit' must be an integer in [1, 100000000]");
	} else if (!l->ops->set_limit || l->ops->set_limit(l->state, (int64_t)v->via.u64) < 0) {
		reply_error(c, ST_BAD_REQUEST, "limiter '%s' refused limit %llu", l->name,
			    (unsigned long long)v->via.u64);
	} else {
		log_notice("limiter %s: limit set to %llu over the API", l->name,
			   (unsigned long long)v->via.u64);
		struct reply r;
		pack_limiter(reply_begin(&r, ST_OK, "ok"), l);
		reply_end(c, &r);
	}
	fod_gen_unref(g);
}

static void cmd_reload(struct api_conn *c, const msgpack_object *req)
{
	(void)req;
	char err[1024];
	if (fod_reload(err, sizeof(err)) < 0) {
		reply_error(c, ST_BAD_REQUEST, "%s", err);
		return;
	}
	struct fod_gen *g = fod_gen_current();
	struct reply r;
	msgpack_packer *pk = reply_begin(&r, ST_OK, "reloaded");
	msgpack_pack_map(pk, 1);
	kv_int(pk, "generation", (long long)g->id);
	reply_end(c, &r);
	fod_gen_unref(g);
}

static void cmd_shutdown(struct api_conn *c, const msgpack_object *req)
{
	(void)req;
	reply_error(c, ST_OK, "stopping");
	fod_shutdown();
}

static const struct command {
	const char *op;
	enum level level;
	void (*fn)(struct api_conn *c, const msgpack_object *req);
} commands[] = {
	{"status", LEVEL_USER, cmd_status},	  {"stats", LEVEL_USER, cmd_stats},
	{"modules", LEVEL_USER, cmd_modules},	  {"limits", LEVEL_USER, cmd_limits},
	{"limit.get", LEVEL_USER, cmd_limit_get}, {"limit.set", LEVEL_OPERATOR, cmd_limit_set},
	{"reload", LEVEL_ADMIN, cmd_reload},	  {"shutdown", LEVEL_ADMIN, cmd_shutdown},
};

/* Depth and element counts stay bounded whatever a frame claims. */
static bool within_limits(const msgpack_object *o, int depth, size_t *elements)
{
	if (depth > MAX_DEPTH)
		return false;
	if (o->type == MSGPACK_OBJECT_ARRAY) {
		if ((*elements += o->via.array.size) > MAX_ELEMENTS)
			return false;
		for (uint32_t i = 0; i < o->via.array.size; i++)
			if (!within_limits(&o->via.array.ptr[i], depth + 1, elements))
				return false;
	} else if (o->type == MSGPACK_OBJECT_MAP) {
		if ((*elements += o->via.map.size) > MAX_ELEMENTS)
			return false;
		for (uint32_t i = 0; i < o->via.map.size; i++)
			if (!within_limits(&o->via.map.ptr[i].key, depth + 1, elements) ||
			    !within_limits(&o->via.map.ptr[i].val, depth + 1, elements))
				return false;
	}
	return true;
}

static void dispatch(struct api_conn *c, const char *frame, size_t len)
{
	msgpack_unpacked u;
	msgpack_unpacked_init(&u);
	size_t off = 0;
	int r = msgpack_unpack_next(&u, frame, len, &off);
	size_t elements = 0;
	char op[64];
	if (r != MSGPACK_UNPACK_SUCCESS || off != len) {
		reply_error(c, ST_BAD_REQUEST, "malformed frame: not exactly one msgpack value");
	} else if (!within_limits(&u.data, 0, &elements)) {
		reply_error(c, ST_BAD_REQUEST, "frame too deep (> %d) or too wide (> %d elements)",
			    MAX_DEPTH, MAX_ELEMENTS);
	} else if (u.data.type != MSGPACK_OBJECT_MAP) {
		reply_error(c, ST_BAD_REQUEST, "a request is a map with an 'op'");
	} else if (!arg_str(&u.data, "op", op, sizeof(op))) {
		reply_error(c, ST_BAD_REQUEST, "'op' (a string) is required");
	} else {
		const struct command *cmd = NULL;
		for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
			if (strcmp(commands[i].op, op) == 0)
				cmd = &commands[i];
		if (!cmd)
			reply_error(c, ST_UNKNOWN_OP, "unknown op '%s'", op);
		else if (c->level < cmd->level)
			reply_error(c, ST_FORBIDDEN, "'%s' needs the %s level; this peer has %s",
				    op, level_names[cmd->level], level_names[c->level]);
		else
			cmd->fn(c, &u.data);
	}
	msgpack_unpacked_destroy(&u);
}

/* ---- connections */

static void conn_close(struct api_conn *c)
{
	ev_io_stop(fod_loops[0].ev, &c->rio);
	ev_io_stop(fod_loops[0].ev, &c->wio);
	close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
}

static void on_write(struct ev_loop *ev, ev_io *w, int revents)
{
	(void)revents;
	struct api_conn *c = (struct api_conn *)((char *)w - offsetof(struct api_conn, wio));
	int r = fod_write_some(c->fd, c->out, c->out_len, &c->out_pos);
	if (r <= 0) {
		if (r < 0)
			conn_close(c);
		return;
	}
	ev_io_stop(ev, w);
	c->out_len = c->out_pos = 0;
	if (c->close_after)
		conn_close(c);
}

static void on_read(struct ev_loop *ev, ev_io *w, int revents)
{
	(void)ev;
	(void)revents;
	struct api_conn *c = (struct api_conn *)((char *)w - offsetof(struct api_conn, rio));
	if (c->in_cap - c->in_len < 4096) {
		size_t cap = c->in_cap ? c->in_cap * 2 : 8192;
		char *in = realloc(c->in, cap);
		if (!in) {
			conn_close(c);
			return;
		}
		c->in = in;
		c->in_cap = cap;
	}
	ssize_t n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		/* The peer is done sending: finish writing what it asked for, then close. */
		ev_io_stop(fod_loops[0].ev, &c->rio);
		c->close_after = true;
		if (c->out_pos == c->out_len)
			conn_close(c);
		return;
	}
	if (n < 0)
		return;
	c->in_len += (size_t)n;
	size_t pos = 0;
	while (!c->close_after && c->in_len - pos >= 4) {
		uint32_t be;
		memcpy(&be, c->in + pos, 4);
		uint32_t len = ntohl(be);
		if (len == 0 || len > MAX_FRAME) {
			/* The stream cannot be framed any more: say why, then close. */
			reply_error(c, ST_BAD_REQUEST,
				    "frame length %u is outside [1, %u]: closing", len, MAX_FRAME);
			c->close_after = true;
			ev_io_stop(fod_loops[0].ev, &c->rio);
			break;
		}
		if (c->in_len - pos < 4 + (size_t)len)
			break;
		dispatch(c, c->in + pos + 4, len);
		pos += 4 + len;
	}
	memmove(c->in, c->in + pos, c->in_len - pos);
	c->in_len -= pos;
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

static enum level peer_level(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return LEVEL_USER;
	/* root, and the daemon's own user (ExecReload under DynamicUser), administer it. */
	if (cred.uid == 0 || cred.uid == geteuid())
		return LEVEL_ADMIN;
	struct fod_gen *g = fod_gen_current();
	enum level lv = LEVEL_USER;
	if (g && in_group(cred.uid, cred.gid, g->api_admin_group))
		lv = LEVEL_ADMIN;
	else if (g && in_group(cred.uid, cred.gid, g->api_operator_group))
		lv = LEVEL_OPERATOR;
	fod_gen_unref(g);
	return lv;
}

static void on_accept(struct ev_loop *ev, ev_io *w, int revents)
{
	(void)revents;
	for (;;) {
		int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		struct api_conn *c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->level = peer_level(fd);
		ev_io_init(&c->rio, on_read, fd, EV_READ);
		ev_io_init(&c->wio, on_write, fd, EV_WRITE);
		ev_io_start(ev, &c->rio);
	}
}

int fod_api_listen(const char *path, const char *mode, const char *group)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(path); /* a stale socket from a previous run */
	mode_t m = (mode_t)strtoul(mode && *mode ? mode : "0660", NULL, 8);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || chmod(path, m) < 0 ||
	    listen(fd, 64) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	if (group && *group) {
		struct group *gr = getgrnam(group);
		if (!gr || chown(path, (uid_t)-1, gr->gr_gid) < 0)
			log_warn("api.group '%s': cannot give the socket to it", group);
	}
	listen_path = strdup(path);
	return fd;
}

void fod_api_start(int fd)
{
	started_ns = fo_now_ns();
	listen_fd = fd;
	ev_io_init(&accept_io, on_accept, fd, EV_READ);
	ev_io_start(fod_loops[0].ev, &accept_io);
}

void fod_api_stop(void)
{
	if (listen_fd < 0)
		return;
	ev_io_stop(fod_loops[0].ev, &accept_io);
	close(listen_fd);
	listen_fd = -1;
	if (listen_path)
		unlink(listen_path);
	free(listen_path);
	listen_path = NULL;
}
