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

#include <stddef.h>

/* Adds the job ops (job.open, job.cancel, jobs) to the admin socket's command table: 0 or -errno.
 */
int fod_jobs_init(void);
/* Shutdown begins: no job takes another task frame; rows in flight go on. */
void fod_jobs_drain(void);
/* Shutdown's drain time is over: cancel every job (rows left are cancelled, clients told). */
void fod_jobs_cancel_all(void);
/* Rows in flight across every job (drain waits for 0). */
long fod_jobs_rows_in_flight(void);
size_t fod_jobs_open(void);

#endif
