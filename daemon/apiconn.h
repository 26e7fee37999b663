/* SPDX-License-Identifier: MIT */
/*
 * What the job engine may do with the API connection a job is bound to.
 * All of it runs on loop 0.
 */
#ifndef FOD_APICONN_H
#define FOD_APICONN_H

#include <stdbool.h>
#include <stddef.h>

#include "wire.h"

struct fod_api_conn;

/* Queues one frame (len bytes of msgpack) for the peer. */
void fod_api_send(struct fod_api_conn *c, const void *frame, size_t len);
/* Sends a built reply and releases its buffer. */
void fod_api_reply(struct fod_api_conn *c, struct fod_reply *r);
/* An error reply: {status, msg, nil}. */
void fod_api_error(struct fod_api_conn *c, enum fod_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The job has room again: take buffered frames, read again. */
void fod_api_kick(struct fod_api_conn *c);
/* The connection's job has ended and sent its summary; close after flushing if asked. */
void fod_api_job_ended(struct fod_api_conn *c, bool close);
/* The peer's uid (for `jobs`). */
unsigned fod_api_peer_uid(const struct fod_api_conn *c);

#endif
