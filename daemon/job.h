/* SPDX-License-Identifier: MIT */
/*
 * Batch jobs over the socket API (doc/PROTOCOL.md, "Jobs"). A job is bound
 * to the connection that opened it: each task frame becomes one row, a
 * fo_unit of the kind's route (its branches, policy, deadlines and global
 * limiter, exactly as an HTTP request), and each row's result goes back as
 * a frame, as it completes or in input order.
 *
 * Bounds: at most `limit` rows in flight, `window` rows held (in flight
 * plus finished rows waiting for their turn in ordered output), and 48 MiB
 * held, counted as allocated (job.c, MAX_HELD_BYTES). While the job has no
 * room, the connection is not read, so the client's writes block: the
 * backpressure crosses the socket. A client that goes away cancels every
 * row it left in flight; a shutdown lets rows in flight finish until its
 * drain time, taking no further task.
 *
 * The job itself lives on loop 0 (the API's loop): its state, reading,
 * decoding, encoding and writing. Each row's unit, calls and join run on the
 * row's engine loop (rows take turns over all loops); rows cross between
 * loops in batches (job.c, struct handoff).
 */
#ifndef FOD_JOB_H
#define FOD_JOB_H

#include <msgpack.h>
#include <stdbool.h>

#include "fanoutd/fanout.h"

struct fod_api_conn;
struct fod_job;

/* job.open: on success replies {job, ...} and returns the job bound to c; else replies the error.
 */
struct fod_job *fod_job_open(struct fod_api_conn *c, const msgpack_object *req);
/* Whether the job takes another frame now (room in its window, not closing). */
bool fod_job_has_room(const struct fod_job *j);
/* Whether job.close has arrived (or the job was cancelled): no more task frames. */
bool fod_job_closed(const struct fod_job *j);
/* One frame on the job's connection: a task, or {op: "job.close"}. */
void fod_job_frame(struct fod_job *j, const char *frame, size_t len);
/* End of a pass over the connection's frames: rows read for other loops go to them, in one batch
 * each. */
void fod_job_flush(struct fod_job *j);
/* The connection is gone: cancel every row; the job frees itself when they have ended. */
void fod_job_detach(struct fod_job *j);

/* job.cancel: 0, or -ENOENT. The job's client gets the summary with status cancelled. */
int fod_job_cancel(uint64_t id);
/* Shutdown begins: no job takes another task frame; rows in flight go on. */
void fod_jobs_drain(void);
/* Shutdown's drain time is over: cancel every job (rows left are cancelled, clients told). */
void fod_jobs_cancel_all(void);
/* The `jobs` op: an array of every open job. */
void fod_jobs_pack(msgpack_packer *pk);
/* Rows in flight across every job (drain waits for 0). */
long fod_jobs_rows_in_flight(void);
size_t fod_jobs_open(void);

#endif
