/* SPDX-License-Identifier: MIT */
/*
 * Event-loop threads: N libev loops, one thread each, sharing the listening
 * sockets. Work for a loop from another thread goes through its inbox (a
 * mutex-protected list and an ev_async): connections, requests and
 * downstream calls are only ever touched by the loop that owns them.
 */
#ifndef FOD_LOOP_H
#define FOD_LOOP_H

#include <ev.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "fanoutd/module.h"

struct fod_post {
	void (*fn)(struct fod_post *t);
	struct fod_post *next;
};

struct fod_loop {
	unsigned index;
	struct ev_loop *ev;
	pthread_t thread;
	ev_async wake;
	ev_timer beat;
	pthread_mutex_t lock;
	struct fod_post *inbox, **inbox_tail;
	atomic_llong heartbeat_ns; /* last time the loop ran its beat: the watchdog reads it */
	bool stop;
};

extern struct fod_loop *fod_loops;
extern unsigned fod_nloops;

/* Creates n loops (0 = online CPUs); loop 0 runs on the calling thread (fod_loops_run). */
int fod_loops_init(unsigned n);
/* Starts loops 1..n-1 on their own threads and runs loop 0 here until stopped. */
void fod_loops_run(void);
/* Asks every loop to stop; fod_loops_run() returns after joining them. */
void fod_loops_stop(void);
void fod_loops_free(void);

/* Queues t->fn to run on loop l's thread (even when called from it: never re-entrant). */
void fod_loop_post(struct fod_loop *l, struct fod_post *t);
/*
 * Writes buf[*pos..len) to a non-blocking fd, advancing *pos: 1 when all is
 * written, 0 when the fd is full (wait for EV_WRITE), -1 when it failed.
 */
int fod_write_some(int fd, const char *buf, size_t len, size_t *pos);

/*
 * Whether a peer's socket is ready now for what its active watchers wait for
 * (read: rio active; write: wio active). An idle timer asks before it closes:
 * a timer and the socket's readiness can fall due in the same loop turn (the
 * loop was held up past the timeout), and libev runs the later-queued timer
 * first, so a peer that took bytes, or sent some, meanwhile is not idle.
 */
bool fod_peer_ready(int fd, const ev_io *rio, const ev_io *wio);

/* Makes the calling thread loop l's without running it (the fuzz harness drives loop 0 by hand). */
void fod_loop_adopt(struct fod_loop *l);
/* The loop whose thread this is, or NULL. */
struct fod_loop *fod_loop_self(void);

/* The module SDK's loop services (fo_core_api: timers, fd watchers, posts; a
 * struct fo_loop is a struct fod_loop). */
void fod_timer_start(struct fo_mod *self, struct fo_loop *loop, struct fo_timer *t,
		     int64_t deadline_ns, fo_timer_fn fn);
void fod_timer_stop(struct fo_mod *self, struct fo_timer *t);
void fod_io_start(struct fo_mod *self, struct fo_loop *loop, struct fo_io *io, int fd,
		  unsigned events, fo_io_fn fn);
void fod_io_set(struct fo_mod *self, struct fo_io *io, unsigned events);
void fod_io_stop(struct fo_mod *self, struct fo_io *io);
void fod_post(struct fo_mod *self, struct fo_loop *loop, struct fo_post *p, fo_post_fn fn);

#endif
