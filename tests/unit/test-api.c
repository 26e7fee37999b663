/* SPDX-License-Identifier: MIT */
/*
 * daemon/api.c: the command table as the subsystems register it (api.c's
 * own ops, job.c's, control.c's), each op at the level doc/PROTOCOL.md
 * gives it; peers below an op's level refused with status 3 before it runs;
 * and a connection taken over by handlers that are not a job's (the
 * connection sees a handler table, not job.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api.h"
#include "control.h"
#include "generation.h"
#include "job.h"
#include "log.h"
#include "loop.h"
#include "testutil.h"

/* ---- a client on the other end of a socketpair, the daemon's loop turned by hand */

struct peer {
	int fd;		 /* the client's end */
	char buf[65536]; /* what the daemon sent, not yet taken */
	size_t len;
	bool eof;
};

static bool peer_open(struct peer *p, enum fod_api_level level)
{
	int sv[2];
	memset(p, 0, sizeof(*p));
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return false;
	p->fd = sv[1];
	return fod_api_serve(sv[0], level) == 0;
}

static void peer_close(struct peer *p)
{
	close(p->fd);
	/* The daemon's side notices and closes its end. */
	for (int i = 0; i < 10; i++)
		ev_run(fod_loops[0].ev, EVRUN_NOWAIT);
}

static void send_frame(struct peer *p, const void *body, size_t len)
{
	char frame[4 + 512];
	uint32_t be = htonl((uint32_t)len);
	CU_ASSERT_FATAL(len <= sizeof(frame) - 4);
	memcpy(frame, &be, 4);
	memcpy(frame + 4, body, len);
	CU_ASSERT_EQUAL(write(p->fd, frame, 4 + len), (ssize_t)(4 + len));
}

static void send_op(struct peer *p, const char *op)
{
	msgpack_sbuffer b;
	msgpack_packer pk;
	msgpack_sbuffer_init(&b);
	msgpack_packer_init(&pk, &b, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	mp_kv_str(&pk, "op", op);
	send_frame(p, b.data, b.size);
	msgpack_sbuffer_destroy(&b);
}

/* Turns the loop until a whole frame is there (or 2 s): its body in out, or false. */
static bool recv_frame(struct peer *p, char *out, size_t cap, size_t *len, int ms)
{
	for (int waited = 0; waited <= ms; waited++) {
		ev_run(fod_loops[0].ev, EVRUN_NOWAIT);
		ssize_t n = read(p->fd, p->buf + p->len, sizeof(p->buf) - p->len);
		if (n > 0)
			p->len += (size_t)n;
		else if (n == 0)
			p->eof = true;
		if (p->len >= 4) {
			uint32_t be;
			memcpy(&be, p->buf, 4);
			size_t flen = ntohl(be);
			if (p->len >= 4 + flen && flen <= cap) {
				memcpy(out, p->buf + 4, flen);
				memmove(p->buf, p->buf + 4 + flen, p->len - 4 - flen);
				p->len -= 4 + flen;
				*len = flen;
				return true;
			}
		}
		if (p->eof)
			return false;
		poll(&(struct pollfd){.fd = p->fd, .events = POLLIN}, 1, 1);
	}
	return false;
}

/* The next reply's status and msg; false when none came. */
static bool recv_reply(struct peer *p, int *status, char *msg, size_t msglen)
{
	char body[65536];
	size_t len;
	if (!recv_frame(p, body, sizeof(body), &len, 2000))
		return false;
	msgpack_unpacked u;
	msgpack_unpacked_init(&u);
	bool ok = msgpack_unpack_next(&u, body, len, NULL) == MSGPACK_UNPACK_SUCCESS;
	uint64_t st = 99;
	ok = ok && fod_mp_arg_uint(&u.data, "status", 0, 99, &st) == 1 &&
	     fod_mp_arg_str(&u.data, "msg", msg, msglen) == 1;
	*status = (int)st;
	msgpack_unpacked_destroy(&u);
	return ok;
}

/* ---- the command table against doc/PROTOCOL.md's table of ops */

struct documented {
	char op[32];
	char level[16];
	bool seen;
};

/* Rows "| `op` | level | ..." of the "## Ops" section. */
static size_t read_documented(struct documented *docs, size_t max)
{
	const char *srcdir = getenv("SRCDIR");
	char path[4096];
	snprintf(path, sizeof(path), "%s/doc/PROTOCOL.md", srcdir ? srcdir : ".");
	FILE *f = fopen(path, "r");
	if (!f) {
		printf("\n  %s: %s (SRCDIR names the source tree)", path, strerror(errno));
		return 0;
	}
	char line[4096];
	bool in_ops = false;
	size_t n = 0;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "## ", 3) == 0)
			in_ops = strncmp(line, "## Ops", 6) == 0;
		if (in_ops && n < max &&
		    sscanf(line, "| `%31[^`]` | %15[a-z] |", docs[n].op, docs[n].level) == 2)
			n++;
	}
	fclose(f);
	return n;
}

struct table_check {
	struct documented *docs;
	size_t ndocs, registered;
};

static void check_one(const struct fod_api_command *cmd, void *arg)
{
	struct table_check *t = arg;
	t->registered++;
	for (size_t i = 0; i < t->ndocs; i++)
		if (strcmp(t->docs[i].op, cmd->op) == 0) {
			t->docs[i].seen = true;
			if (strcmp(t->docs[i].level, fod_api_level_str(cmd->level)) != 0)
				printf("\n  '%s' is registered at %s, documented at %s", cmd->op,
				       fod_api_level_str(cmd->level), t->docs[i].level);
			CU_ASSERT_STRING_EQUAL(fod_api_level_str(cmd->level), t->docs[i].level);
			return;
		}
	printf("\n  '%s' is registered but not in PROTOCOL.md's table", cmd->op);
	CU_FAIL("an undocumented op");
}

static void test_every_op_has_its_documented_level(void)
{
	struct documented docs[64];
	struct table_check t = {docs, read_documented(docs, 64), 0};
	CU_ASSERT_FATAL(t.ndocs >= 13); /* the table is found and read */
	fod_api_each_command(check_one, &t);
	for (size_t i = 0; i < t.ndocs; i++) {
		if (!docs[i].seen)
			printf("\n  '%s' is documented but not registered", docs[i].op);
		CU_ASSERT(docs[i].seen);
	}
	CU_ASSERT_EQUAL(t.registered, t.ndocs);
}

static void test_register_refuses_a_second_owner(void)
{
	static const struct fod_api_command again[] = {
		{"fresh.op", FOD_LEVEL_USER, NULL},
		{"reload", FOD_LEVEL_USER, NULL}, /* control.c's: not to be taken over */
		{NULL, 0, NULL},
	};
	CU_ASSERT_EQUAL(fod_api_register(again), -EEXIST);
	CU_ASSERT_PTR_NULL(fod_api_command("fresh.op")); /* nothing of the list was added */
	CU_ASSERT_EQUAL(fod_api_command("reload")->level, FOD_LEVEL_ADMIN);
}

/* ---- levels enforced */

struct level_check {
	enum fod_api_level peer;
	unsigned refused;
};

static void refuse_one(const struct fod_api_command *cmd, void *arg)
{
	struct level_check *lc = arg;
	if (cmd->level <= lc->peer)
		return;
	struct peer p;
	CU_ASSERT_FATAL(peer_open(&p, lc->peer));
	send_op(&p, cmd->op);
	int st;
	char msg[256], want[256];
	CU_ASSERT_FATAL(recv_reply(&p, &st, msg, sizeof(msg)));
	snprintf(want, sizeof(want), "'%s' needs the %s level; this peer has %s", cmd->op,
		 fod_api_level_str(cmd->level), fod_api_level_str(lc->peer));
	CU_ASSERT_EQUAL(st, FOD_ST_FORBIDDEN);
	CU_ASSERT_STRING_EQUAL(msg, want);
	lc->refused++;
	peer_close(&p);
}

static void test_lower_levels_are_refused(void)
{
	/* A user is refused job, operator and admin ops; a job submitter operator and admin ops;
	 * an operator admin ops. */
	unsigned refused[3] = {0};
	for (enum fod_api_level lv = FOD_LEVEL_USER; lv < FOD_LEVEL_ADMIN; lv++) {
		struct level_check lc = {lv, 0};
		fod_api_each_command(refuse_one, &lc);
		refused[lv] = lc.refused;
	}
	/* job.open; + limit.set, job.cancel, drain; + reload, shutdown */
	CU_ASSERT_EQUAL(refused[FOD_LEVEL_USER], 6);
	CU_ASSERT_EQUAL(refused[FOD_LEVEL_JOB], 5);
	CU_ASSERT_EQUAL(refused[FOD_LEVEL_OPERATOR], 2);
	/* Nothing ran: no drain, no shutdown. */
	CU_ASSERT_FALSE(fod_control_draining());
	CU_ASSERT_FALSE(fod_control_stopping());
}

static void test_user_may_read(void)
{
	struct peer p;
	CU_ASSERT_FATAL(peer_open(&p, FOD_LEVEL_USER));
	send_op(&p, "jobs");
	int st;
	char msg[256];
	CU_ASSERT_FATAL(recv_reply(&p, &st, msg, sizeof(msg)));
	CU_ASSERT_EQUAL(st, FOD_ST_OK);
	send_op(&p, "no.such.op");
	CU_ASSERT_FATAL(recv_reply(&p, &st, msg, sizeof(msg)));
	CU_ASSERT_EQUAL(st, FOD_ST_UNKNOWN_OP);
	peer_close(&p);
}

/* ---- a connection taken over by handlers that are not job.c's */

static struct fake {
	struct fod_api_conn *conn;
	unsigned frames, flushes, gone;
	char last[64];
	bool room, keep, gone_could_reply;
} fake;

static void fake_frame(void *owner, const char *frame, size_t len)
{
	CU_ASSERT_PTR_EQUAL(owner, &fake);
	fake.frames++;
	snprintf(fake.last, sizeof(fake.last), "%.*s", (int)len, frame);
}

static void fake_flush(void *owner)
{
	(void)owner;
	fake.flushes++;
}

static bool fake_has_room(const void *owner)
{
	(void)owner;
	return fake.room;
}

static bool fake_peer_gone(void *owner, bool can_reply)
{
	(void)owner;
	fake.gone++;
	fake.gone_could_reply = can_reply;
	return can_reply && fake.keep;
}

static const struct fod_api_conn_ops fake_ops = {
	.frame = fake_frame,
	.flush = fake_flush,
	.has_room = fake_has_room,
	.peer_gone = fake_peer_gone,
};

static void cmd_take(struct fod_api_conn *c, const msgpack_object *req)
{
	(void)req;
	fod_api_error(c, FOD_ST_OK, "taken");
	fake.conn = c;
	fod_api_take(c, &fake_ops, &fake);
}

static const struct fod_api_command test_commands[] = {
	{"test.take", FOD_LEVEL_USER, cmd_take},
	{NULL, 0, NULL},
};

static void turn(int n)
{
	for (int i = 0; i < n; i++)
		ev_run(fod_loops[0].ev, EVRUN_NOWAIT);
}

static void test_taken_connection_feeds_its_owner(void)
{
	memset(&fake, 0, sizeof(fake));
	fake.room = true;
	struct peer p;
	CU_ASSERT_FATAL(peer_open(&p, FOD_LEVEL_USER));
	send_op(&p, "test.take");
	int st;
	char msg[256];
	CU_ASSERT_FATAL(recv_reply(&p, &st, msg, sizeof(msg)));
	CU_ASSERT_STRING_EQUAL(msg, "taken");
	/* Frames are the owner's now, even one that reads as a command. */
	send_frame(&p, "one", 3);
	send_op(&p, "shutdown");
	for (int i = 0; i < 2000 && fake.frames < 2; i++)
		turn(1), poll(NULL, 0, 1);
	CU_ASSERT_EQUAL(fake.frames, 2);
	CU_ASSERT(fake.flushes >= 1);
	CU_ASSERT_FALSE(fod_control_stopping());
	/* No room: frames wait in the connection; a kick delivers them. */
	fake.room = false;
	send_frame(&p, "two", 3);
	turn(20);
	CU_ASSERT_EQUAL(fake.frames, 2);
	fake.room = true;
	fod_api_kick(fake.conn);
	CU_ASSERT_EQUAL(fake.frames, 3);
	CU_ASSERT_STRING_EQUAL(fake.last, "two");
	/* Given back: commands again. */
	fod_api_release(fake.conn, false);
	send_op(&p, "jobs");
	CU_ASSERT_FATAL(recv_reply(&p, &st, msg, sizeof(msg)));
	CU_ASSERT_EQUAL(st, FOD_ST_OK);
	CU_ASSERT_EQUAL(fake.frames, 3);
	CU_ASSERT_EQUAL(fake.gone, 0);
	/* The peer leaves while the owner has it: the owner lets go. */
	send_op(&p, "test.take");
	CU_ASSERT_FATAL(recv_reply(&p, &st, msg, sizeof(msg)));
	close(p.fd);
	for (int i = 0; i < 2000 && !fake.gone; i++)
		turn(1), poll(NULL, 0, 1);
	CU_ASSERT_EQUAL(fake.gone, 1);
}

/* A peer that only stops writing: an owner that keeps the connection answers, then lets go. */
static void test_owner_may_finish_after_peer_is_done(void)
{
	memset(&fake, 0, sizeof(fake));
	fake.room = fake.keep = true;
	struct peer p;
	CU_ASSERT_FATAL(peer_open(&p, FOD_LEVEL_USER));
	send_op(&p, "test.take");
	int st;
	char msg[256];
	CU_ASSERT_FATAL(recv_reply(&p, &st, msg, sizeof(msg)));
	CU_ASSERT_EQUAL(shutdown(p.fd, SHUT_WR), 0);
	for (int i = 0; i < 2000 && !fake.gone; i++)
		turn(1), poll(NULL, 0, 1);
	CU_ASSERT_EQUAL(fake.gone, 1);
	CU_ASSERT_TRUE(fake.gone_could_reply);
	/* Still the owner's: it sends what it owed, then gives the connection back. */
	fod_api_error(fake.conn, FOD_ST_OK, "summary");
	fod_api_release(fake.conn, false);
	CU_ASSERT_FATAL(recv_reply(&p, &st, msg, sizeof(msg)));
	CU_ASSERT_STRING_EQUAL(msg, "summary");
	char body[64];
	size_t len;
	CU_ASSERT_FALSE(recv_frame(&p, body, sizeof(body), &len, 2000));
	CU_ASSERT_TRUE(p.eof); /* closed once written */
	close(p.fd);
}

int main(void)
{
	fod_log_set_level(FO_LOG_ERR);
	if (fod_loops_init(1) < 0)
		return 1;
	fod_loop_adopt(&fod_loops[0]);
	/* What control.c keeps from the first generation: only its start-time settings. */
	struct fod_gen first = {.http = {.listen = "", .admin_listen = ""},
				.api = {.socket = "", .mode = "", .group = ""},
				.workers = {.loops = 1},
				.log = {.level = FO_LOG_ERR}};
	static struct fod_overrides ov;
	if (fod_jobs_init() < 0 ||
	    fod_control_init("/nonexistent.conf", &ov, false, &first, NULL) < 0)
		return 1;
	static const struct fo_test tests[] = {
		FO_TEST(test_every_op_has_its_documented_level),
		FO_TEST(test_register_refuses_a_second_owner),
		FO_TEST(test_lower_levels_are_refused),
		FO_TEST(test_user_may_read),
		FO_TEST(test_taken_connection_feeds_its_owner),
		FO_TEST(test_owner_may_finish_after_peer_is_done),
	};
	/* The test op is registered after the documented table is checked (it is not an op). */
	int r = fo_test_main("api", tests, 2);
	if (fod_api_register(test_commands) < 0)
		return 1;
	r |= fo_test_main("api-conn", tests + 2, ARRAY_SIZE(tests) - 2);
	fod_control_free();
	fod_loops_free();
	return r;
}
