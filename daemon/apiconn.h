/* SPDX-License-Identifier: MIT */
/*
 * What a subsystem sees of the admin socket: a command table it adds its
 * ops to (each with an access level), and the connection an op runs for,
 * which it may answer, and which it may take over (a job: every frame goes
 * to its owner's handlers until it gives the connection back). api.c knows
 * the handlers, never the subsystems behind them. All of it runs on loop 0.
 */
#ifndef FOD_APICONN_H
#define FOD_APICONN_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>

#include "wire.h"

struct fod_api_conn;

/*
 * Each level may do what the ones below it may: users read; job submitters
 * (api.job_group) also run batch jobs, which take limiter capacity and so
 * are not for every reader; operators also change limits, drain and cancel
 * jobs; admins also reload and shut down.
 */
enum fod_api_level { FOD_LEVEL_USER, FOD_LEVEL_JOB, FOD_LEVEL_OPERATOR, FOD_LEVEL_ADMIN };

/* "user", "job", "operator", "admin". */
const char *fod_api_level_str(enum fod_api_level lv);

struct fod_api_command {
	const char *op;
	enum fod_api_level level; /* a peer below it is answered "forbidden"; nothing runs */
	/* Answers the request (on success or error) through c. */
	void (*fn)(struct fod_api_conn *c, const msgpack_object *req);
};

/*
 * A subsystem's ops, added to the command table at start (HAProxy's
 * cli_register_kw): cmds ends with an entry whose op is NULL and must
 * outlive the daemon. 0, or -EEXIST (nothing added) when one of its ops is
 * already in the table.
 */
int fod_api_register(const struct fod_api_command *cmds);
/* A registered op's entry, or NULL. */
const struct fod_api_command *fod_api_command(const char *op);
/* Calls fn for every registered op (the table's order: a subsystem's ops in theirs). */
void fod_api_each_command(void (*fn)(const struct fod_api_command *cmd, void *arg), void *arg);

/* Queues one frame (len bytes of msgpack) for the peer. */
void fod_api_send(struct fod_api_conn *c, const void *frame, size_t len);
/* Sends a built reply and releases its buffer. */
void fod_api_reply(struct fod_api_conn *c, struct fod_reply *r);
/* An error reply: {status, msg, nil}. */
void fod_api_error(struct fod_api_conn *c, enum fod_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The peer's uid (for `jobs`). */
unsigned fod_api_peer_uid(const struct fod_api_conn *c);

/*
 * The handlers of whoever has taken a connection over (job.c, on job.open).
 * While they are installed the connection's frames are theirs, not
 * commands, and it is read only while has_room says so.
 */
struct fod_api_conn_ops {
	/* One frame (len bytes, not yet decoded). */
	void (*frame)(void *owner, const char *frame, size_t len);
	/* The end of a pass over the frames read (work gathered in it may be handed on). */
	void (*flush)(void *owner);
	/* Whether the owner takes another frame now. */
	bool (*has_room)(const void *owner);
	/*
	 * The peer sends nothing more. With can_reply (it only closed its
	 * writing side) the owner may keep the connection to send what it still
	 * owes, and returns true (it gives the connection back later); it
	 * returns false when it has let go. Without can_reply the connection is
	 * being closed: the owner must let go, and returns false.
	 */
	bool (*peer_gone)(void *owner, bool can_reply);
};

/* Hands c's frames to ops until fod_api_release(); from inside an op's fn. */
void fod_api_take(struct fod_api_conn *c, const struct fod_api_conn_ops *ops, void *owner);
/*
 * The owner is done with c (its last frame sent): frames are commands
 * again; with close, c is closed once its output is written.
 */
void fod_api_release(struct fod_api_conn *c, bool close);
/* The owner has room again: take buffered frames, read again. */
void fod_api_kick(struct fod_api_conn *c);

#endif
