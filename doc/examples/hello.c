/* SPDX-License-Identifier: MIT */
/*
 * hello: a complete, minimal downstream module (doc/MODULES.md walks through
 * it). Each call answers {"hello":"GREETING","id":ID} after `delay_ms`, on a
 * timer of the call's own loop, or ends at once when cancelled. Settings, in
 * fanoutd.conf's `downstreams.hello` group: greeting (string, "world"),
 * delay_ms (0..60000, 10).
 *
 * Build it out of tree against the installed headers:
 *   cc -shared -fPIC -o hello.so hello.c $(pkg-config --cflags --libs libfanout)
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <fanoutd/module.h>

/* The instance's state: its settings, read once by init(). */
struct hello {
	const char *greeting;
	int64_t delay_ns;
};

/* Per call: the core allocates call_size bytes of this, zeroed, at c->priv. */
struct call {
	struct fo_timer timer;
	struct fo_ds_call *c;
};

static int init(struct fo_mod *self)
{
	struct hello *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->greeting = "world";
	h->delay_ns = 10 * FO_MSEC;
	/* self->conf is NULL without a downstreams.hello group: the defaults stand. */
	if (fo_conf_string(self, self->conf, "greeting", 64, false, &h->greeting) < 0 ||
	    fo_conf_ms(self, self->conf, "delay_ms", 0, 60000, false, &h->delay_ns) < 0) {
		free(h);
		return -EINVAL; /* the reader has said why, at the setting's file:line */
	}
	self->state = h;
	return 0;
}

static void fini(struct fo_mod *self)
{
	free(self->state);
}

static void answer(struct fo_mod *self, struct fo_timer *t)
{
	struct hello *h = self->state;
	struct call *k = t->udata;
	char value[128];
	int n = snprintf(value, sizeof(value), "{\"hello\":\"%s\",\"id\":%" PRIu64 "}", h->greeting,
			 k->c->task->id);
	fo_call_done(k->c, 0, value, (size_t)n, NULL);
}

static void start(struct fo_mod *self, struct fo_ds_call *c)
{
	struct hello *h = self->state;
	struct call *k = c->priv;
	int64_t at = fo_now_ns() + h->delay_ns;
	k->c = c;
	k->timer.udata = k;
	if (c->deadline_ns != FO_NO_DEADLINE && c->deadline_ns < at) {
		/* Never wait past the branch's deadline: end at it instead. */
		fo_call_done(c, -ETIMEDOUT, NULL, 0, "hello: slower than the deadline");
		return;
	}
	fo_timer_start(self, c->loop, &k->timer, at, answer);
}

/* The unit no longer wants the answer: stop the work, answer at once. */
static void cancel(struct fo_mod *self, struct fo_ds_call *c)
{
	struct call *k = c->priv;
	fo_timer_stop(self, &k->timer);
	fo_call_done(c, -ECANCELED, NULL, 0, "hello: cancelled");
}

static const struct fo_downstream_ops ops = {
	.call_size = sizeof(struct call),
	.start = start,
	.cancel = cancel,
};

FO_MODULE_DEFINE(.type = FO_MODULE_DOWNSTREAM, .name = "hello", .version = "1", .init = init,
		 .fini = fini, .ops = &ops);
