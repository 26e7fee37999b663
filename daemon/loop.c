/* SPDX-License-Identifier: MIT */
#include "loop.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fanoutd/fanout.h"
#include "log.h"

struct fod_loop *fod_loops;
unsigned fod_nloops;
static __thread struct fod_loop *self;

struct fod_loop *fod_loop_self(void)
{
	return self;
}

static void drain_inbox(struct ev_loop *ev, ev_async *w, int revents)
{
	(void)ev;
	(void)revents;
	struct fod_loop *l = (struct fod_loop *)((char *)w - offsetof(struct fod_loop, wake));
	pthread_mutex_lock(&l->lock);
	struct fod_task *t = l->inbox;
	l->inbox = NULL;
	l->inbox_tail = &l->inbox;
	bool stop = l->stop;
	pthread_mutex_unlock(&l->lock);
	while (t) {
		struct fod_task *next = t->next;
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
	self = l;
	ev_run(l->ev, 0);
	return NULL;
}

void fod_loop_adopt(struct fod_loop *l)
{
	self = l;
}

void fod_loops_run(void)
{
	for (unsigned i = 1; i < fod_nloops; i++) {
		pthread_create(&fod_loops[i].thread, NULL, loop_main, &fod_loops[i]);
		char name[16];
		snprintf(name, sizeof(name), "fanoutd-loop%u", i % 1000u);
		pthread_setname_np(fod_loops[i].thread, name);
	}
	self = &fod_loops[0];
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

void fod_loop_post(struct fod_loop *l, struct fod_task *t)
{
	t->next = NULL;
	pthread_mutex_lock(&l->lock);
	*l->inbox_tail = t;
	l->inbox_tail = &t->next;
	pthread_mutex_unlock(&l->lock);
	ev_async_send(l->ev, &l->wake);
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
