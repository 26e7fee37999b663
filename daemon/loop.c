/* SPDX-License-Identifier: MIT */
#include "loop.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fanoutd/fanout.h"
#include "log.h"

struct fod_loop *fod_loops;
unsigned fod_nloops;
static __thread struct fod_loop *this_loop;

struct fod_loop *fod_loop_self(void)
{
	return this_loop;
}

static void drain_inbox(struct ev_loop *ev, ev_async *w, int revents)
{
	(void)ev;
	(void)revents;
	struct fod_loop *l = (struct fod_loop *)((char *)w - offsetof(struct fod_loop, wake));
	pthread_mutex_lock(&l->lock);
	struct fod_post *t = l->inbox;
	l->inbox = NULL;
	l->inbox_tail = &l->inbox;
	bool stop = l->stop;
	pthread_mutex_unlock(&l->lock);
	while (t) {
		struct fod_post *next = t->next;
		t->fn(t);
		t = next;
	}
	if (stop)
		ev_break(l->ev, EVBREAK_ALL);
}

/* Proves to the watchdog that this loop still turns. */
static void beat(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)revents;
	struct fod_loop *l = (struct fod_loop *)((char *)w - offsetof(struct fod_loop, beat));
	atomic_store(&l->heartbeat_ns, (long long)fo_now_ns());
	(void)ev;
}

int fod_loops_init(unsigned n)
{
	if (n == 0) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);
		n = c > 0 ? (unsigned)c : 1;
	}
	fod_loops = calloc(n, sizeof(*fod_loops));
	if (!fod_loops)
		return -ENOMEM;
	fod_nloops = n;
	for (unsigned i = 0; i < n; i++) {
		struct fod_loop *l = &fod_loops[i];
		l->index = i;
		l->ev = i == 0 ? ev_default_loop(EVFLAG_AUTO) : ev_loop_new(EVFLAG_AUTO);
		if (!l->ev)
			return -ENOMEM;
		ev_set_userdata(l->ev, l);
		pthread_mutex_init(&l->lock, NULL);
		l->inbox_tail = &l->inbox;
		ev_async_init(&l->wake, drain_inbox);
		ev_async_start(l->ev, &l->wake);
		ev_timer_init(&l->beat, beat, 0., 1.);
		ev_timer_again(l->ev, &l->beat);
		/* Loops end only through fod_loops_stop(): ev_break, never by running dry. */
		atomic_store(&l->heartbeat_ns, (long long)fo_now_ns());
	}
	return 0;
}

static void *loop_main(void *arg)
{
	struct fod_loop *l = arg;
	this_loop = l;
	ev_run(l->ev, 0);
	return NULL;
}

void fod_loop_adopt(struct fod_loop *l)
{
	this_loop = l;
}

void fod_loops_run(void)
{
	for (unsigned i = 1; i < fod_nloops; i++) {
		pthread_create(&fod_loops[i].thread, NULL, loop_main, &fod_loops[i]);
		char name[16];
		snprintf(name, sizeof(name), "fanoutd-loop%u", i % 1000u);
		pthread_setname_np(fod_loops[i].thread, name);
	}
	this_loop = &fod_loops[0];
	ev_run(fod_loops[0].ev, 0);
	for (unsigned i = 1; i < fod_nloops; i++)
		pthread_join(fod_loops[i].thread, NULL);
}

void fod_loops_stop(void)
{
	for (unsigned i = 0; i < fod_nloops; i++) {
		struct fod_loop *l = &fod_loops[i];
		pthread_mutex_lock(&l->lock);
		l->stop = true;
		pthread_mutex_unlock(&l->lock);
		ev_async_send(l->ev, &l->wake);
	}
}

void fod_loops_free(void)
{
	for (unsigned i = 0; i < fod_nloops; i++) {
		struct fod_loop *l = &fod_loops[i];
		if (i > 0)
			ev_loop_destroy(l->ev);
		pthread_mutex_destroy(&l->lock);
	}
	free(fod_loops);
	fod_loops = NULL;
	fod_nloops = 0;
}

void fod_loop_post(struct fod_loop *l, struct fod_post *t)
{
	t->next = NULL;
	pthread_mutex_lock(&l->lock);
	*l->inbox_tail = t;
	l->inbox_tail = &t->next;
	pthread_mutex_unlock(&l->lock);
	ev_async_send(l->ev, &l->wake);
}

bool fod_peer_ready(int fd, const ev_io *rio, const ev_io *wio)
{
	struct pollfd pfd = {.fd = fd,
			     .events = (short)((rio && ev_is_active(rio) ? POLLIN : 0) |
					       (wio && ev_is_active(wio) ? POLLOUT : 0))};
	return pfd.events && poll(&pfd, 1, 0) == 1 && (pfd.revents & pfd.events);
}

int fod_write_some(int fd, const char *buf, size_t len, size_t *pos)
{
	while (*pos < len) {
		ssize_t n = write(fd, buf + *pos, len - *pos);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		*pos += (size_t)n;
	}
	return 1;
}

/* ---- the module SDK's loop services: libev watchers kept in the module's opaque storage */

struct timer_impl {
	ev_timer w;
	struct fo_mod *self;
	fo_timer_fn fn;
	struct fod_loop *loop;
};
struct io_impl {
	ev_io w;
	struct fo_mod *self;
	fo_io_fn fn;
	struct fod_loop *loop;
};
struct post_impl {
	struct fod_post t;
	struct fo_mod *self;
	fo_post_fn fn;
};
_Static_assert(sizeof(struct timer_impl) <= sizeof(((struct fo_timer *)0)->core_),
	       "struct fo_timer cannot hold a libev timer");
_Static_assert(sizeof(struct io_impl) <= sizeof(((struct fo_io *)0)->core_),
	       "struct fo_io cannot hold a libev watcher");
_Static_assert(sizeof(struct post_impl) <= sizeof(((struct fo_post *)0)->core_),
	       "struct fo_post cannot hold a loop task");

static void timer_fired(struct ev_loop *ev, ev_timer *w, int revents)
{
	(void)revents;
	struct timer_impl *ti = (struct timer_impl *)w;
	ev_timer_stop(ev, w); /* one-shot: the callback may start it again */
	ti->fn(ti->self, (struct fo_timer *)ti);
}

void fod_timer_start(struct fo_mod *self, struct fo_loop *loop, struct fo_timer *t,
		     int64_t deadline_ns, fo_timer_fn fn)
{
	struct timer_impl *ti = (struct timer_impl *)t->core_;
	struct fod_loop *l = (struct fod_loop *)loop;
	if (ti->loop && ev_is_active(&ti->w))
		ev_timer_stop(ti->loop->ev, &ti->w);
	ti->self = self;
	ti->fn = fn;
	ti->loop = l;
	/* libev times from the loop's cached clock: refresh it, so a timer
	 * started late in a loop iteration does not fire early. */
	ev_now_update(l->ev);
	int64_t in = deadline_ns - fo_now_ns();
	ev_timer_init(&ti->w, timer_fired, in > 0 ? (double)in / 1e9 : 0., 0.);
	ev_timer_start(l->ev, &ti->w);
}

void fod_timer_stop(struct fo_mod *self, struct fo_timer *t)
{
	(void)self;
	struct timer_impl *ti = (struct timer_impl *)t->core_;
	if (ti->loop)
		ev_timer_stop(ti->loop->ev, &ti->w);
}

static int ev_events(unsigned events)
{
	return (events & FO_IO_READ ? EV_READ : 0) | (events & FO_IO_WRITE ? EV_WRITE : 0);
}

static void io_ready(struct ev_loop *ev, ev_io *w, int revents)
{
	(void)ev;
	struct io_impl *ii = (struct io_impl *)w;
	unsigned r = (revents & EV_READ ? FO_IO_READ : 0) | (revents & EV_WRITE ? FO_IO_WRITE : 0);
	ii->fn(ii->self, (struct fo_io *)ii, w->fd, r);
}

void fod_io_start(struct fo_mod *self, struct fo_loop *loop, struct fo_io *io, int fd,
		  unsigned events, fo_io_fn fn)
{
	struct io_impl *ii = (struct io_impl *)io->core_;
	ii->self = self;
	ii->fn = fn;
	ii->loop = (struct fod_loop *)loop;
	ev_io_init(&ii->w, io_ready, fd, ev_events(events));
	if (events)
		ev_io_start(ii->loop->ev, &ii->w);
}

void fod_io_set(struct fo_mod *self, struct fo_io *io, unsigned events)
{
	(void)self;
	struct io_impl *ii = (struct io_impl *)io->core_;
	ev_io_stop(ii->loop->ev, &ii->w);
	ev_io_set(&ii->w, ii->w.fd, ev_events(events));
	if (events)
		ev_io_start(ii->loop->ev, &ii->w);
}

void fod_io_stop(struct fo_mod *self, struct fo_io *io)
{
	(void)self;
	struct io_impl *ii = (struct io_impl *)io->core_;
	if (ii->loop)
		ev_io_stop(ii->loop->ev, &ii->w);
}

static void post_run(struct fod_post *t)
{
	struct post_impl *pi = (struct post_impl *)t;
	pi->fn(pi->self, (struct fo_post *)pi);
}

void fod_post(struct fo_mod *self, struct fo_loop *loop, struct fo_post *p, fo_post_fn fn)
{
	struct post_impl *pi = (struct post_impl *)p->core_;
	pi->self = self;
	pi->fn = fn;
	pi->t.fn = post_run;
	fod_loop_post((struct fod_loop *)loop, &pi->t);
}
