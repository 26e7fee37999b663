/* SPDX-License-Identifier: MIT */
/*
 * The fanoutd module SDK (doc/MODULES.md is the guide). A module is a shared
 * object exporting exactly one symbol, FO_MODULE_SYMBOL, a struct fo_module.
 * The daemon checks the file, dlopen()s it with RTLD_NOW | RTLD_LOCAL,
 * checks abi, signature, the sizes of every struct the module compiled
 * against, and type, and refuses it (naming the file) on any mismatch.
 * Everything else in a module is static.
 *
 * Every callback gets the instance's handle, struct fo_mod: the core's
 * services (the fo_* inline functions below, through self->core), the
 * instance's name, its settings and the module's own state. A module keeps
 * nothing in globals: one module may have several instances, and a reload
 * builds new ones while the old ones still serve.
 *
 * No third-party type crosses this header. Settings are read through
 * fo_conf_*() over an opaque struct fo_conf (errors say "file:line: ..." and
 * refuse the configuration); event-loop work goes through the core's timers,
 * fd watchers and posts on an opaque struct fo_loop, enough to drive libcurl
 * multi or a hiredis adapter. The daemon's config format or event library
 * can change without breaking a module.
 *
 * init() must validate its settings without side effects visible to the
 * running generation: a reload builds every new instance before committing
 * to any, and drops them all (fini) if one fails.
 */
#ifndef FANOUTD_MODULE_H
#define FANOUTD_MODULE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "fanoutd/fanout.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Date-stamped; bumped on any incompatible change of this header. */
#define FO_MODULE_ABI 20261202u
/* What else must match between daemon and module: the C data model. */
#define FO_MODULE_SIGNATURE_(p)	    "ptr" #p "-fanout3"
#define FO_MODULE_SIGNATURE_EVAL(p) FO_MODULE_SIGNATURE_(p)
#if UINTPTR_MAX == 0xffffffffffffffffu
#define FO_MODULE_PTR_BITS 64
#else
#define FO_MODULE_PTR_BITS 32
#endif
#define FO_MODULE_SIGNATURE FO_MODULE_SIGNATURE_EVAL(FO_MODULE_PTR_BITS)
#define FO_MODULE_SYMBOL    "fo_module_descriptor"

enum fo_module_type {
	FO_MODULE_POLICY = 1,
	FO_MODULE_LIMITER,
	FO_MODULE_DOWNSTREAM,
};

/* syslog priorities, as sd-daemon's <N> prefixes */
enum { FO_LOG_ERR = 3, FO_LOG_WARNING = 4, FO_LOG_NOTICE = 5, FO_LOG_INFO = 6, FO_LOG_DEBUG = 7 };

struct fo_core_api;
struct fo_conf;		 /* a setting of the configuration: opaque */
struct fo_metric_family; /* a declared metric family: opaque */
struct fo_metric;	 /* one series of a family: opaque */
struct fo_loop;		 /* one of the daemon's event loops: opaque */
struct fo_ds_call;

/* ---------------------------------------------------------------- handle */

/* One module instance, handed to every callback. */
struct fo_mod {
	const struct fo_core_api *core;
	/* The instance's name: the module's, or the limiter's for a limiter. */
	const char *name;
	/* Its settings: a limiter's entry, a policy's route, a downstream's
	 * `downstreams.NAME` group (NULL when there is none). */
	const struct fo_conf *conf;
	/* For a policy instance: how many branches its route has (else 0). */
	size_t route_branches;
	/* The module's own; set it in init, free it in fini. */
	void *state;
	/* private: the core's */
	void *core_priv;
};

/* ----------------------------------------------------------- loop services */

/*
 * Storage for the core's timers, fd watchers and posts, embedded in the
 * module's own structures (no allocation per call). Opaque: the core keeps
 * its event library's watcher here. A timer or watcher belongs to the loop
 * it was started on and is only touched on that loop's thread.
 */
struct fo_timer {
	void *core_[12];
	void *udata; /* the module's */
};
struct fo_io {
	void *core_[12];
	void *udata; /* the module's */
};
struct fo_post {
	void *core_[4];
	void *udata; /* the module's */
};

enum { FO_IO_READ = 1, FO_IO_WRITE = 2 };

typedef void (*fo_timer_fn)(struct fo_mod *self, struct fo_timer *t);
typedef void (*fo_io_fn)(struct fo_mod *self, struct fo_io *io, int fd, unsigned revents);
typedef void (*fo_post_fn)(struct fo_mod *self, struct fo_post *p);

/* ----------------------------------------------------------------- metrics */

/*
 * A metric family, declared once: its name, help, type and label names. The
 * daemon's own families are declared in this same form (daemon/metrics.c)
 * and one renderer writes them all to /metrics. A module's family is shown
 * as fanoutd_module_<module>_<name> (a '-' in the module's name becomes
 * '_'), so it never clashes with the daemon's.
 *
 * name: lower-case snake_case ([a-z_][a-z0-9_]*); a counter's ends in
 * _total, no other's does; base units (_seconds, _bytes). labels: up to
 * FO_METRIC_LABELS names ([a-z_][a-z0-9_]*, not "le", not __...), the unused
 * ones NULL.
 */
enum fo_metric_type { FO_METRIC_COUNTER = 1, FO_METRIC_GAUGE, FO_METRIC_HISTOGRAM };
#define FO_METRIC_LABELS 4
struct fo_metric_def {
	const char *name;
	const char *help;
	enum fo_metric_type type;
	const char *labels[FO_METRIC_LABELS];
};

/* --------------------------------------------------------------- the core */

/*
 * What the daemon offers a module: use the fo_*() wrappers below. The table
 * only ever grows at its end; check core->size before using a later member.
 */
struct fo_core_api {
	uint32_t size; /* sizeof the table the daemon has */
	void (*log)(struct fo_mod *self, int prio, const char *fmt, va_list ap);

	/*
	 * Settings. name names a member of s; NULL reads s itself (a list's
	 * element). A missing optional setting leaves *out as the caller set
	 * it (its default). Errors ("file:line: 'x' = 7 is out of range
	 * [1, 5]") refuse the configuration; the readers return -EINVAL then.
	 * Every setting read counts as known: one nobody reads is refused as
	 * unknown, with a suggestion.
	 */
	int (*conf_int)(struct fo_mod *self, const struct fo_conf *s, const char *name, int64_t min,
			int64_t max, bool required, int64_t *out);
	int (*conf_double)(struct fo_mod *self, const struct fo_conf *s, const char *name,
			   double min, double max, bool required, double *out);
	int (*conf_bool)(struct fo_mod *self, const struct fo_conf *s, const char *name,
			 bool required, bool *out);
	/* The string stays valid for the instance's life. */
	int (*conf_string)(struct fo_mod *self, const struct fo_conf *s, const char *name,
			   size_t max_len, bool required, const char **out);
	/* Milliseconds in the file, nanoseconds out. */
	int (*conf_ms)(struct fo_mod *self, const struct fo_conf *s, const char *name,
		       int64_t min_ms, int64_t max_ms, bool required, int64_t *out_ns);
	/* A member (group, list or scalar), or NULL when absent. */
	const struct fo_conf *(*conf_child)(struct fo_mod *self, const struct fo_conf *s,
					    const char *name);
	/* Elements of a list, array or group (0 for a scalar), and element i. */
	unsigned (*conf_length)(struct fo_mod *self, const struct fo_conf *s);
	const struct fo_conf *(*conf_elem)(struct fo_mod *self, const struct fo_conf *s,
					   unsigned i);
	/* The setting that holds s (NULL at the top). */
	const struct fo_conf *(*conf_parent)(struct fo_mod *self, const struct fo_conf *s);
	/* Refuses the configuration with "file:line: message" at s. */
	void (*conf_error)(struct fo_mod *self, const struct fo_conf *s, const char *fmt,
			   va_list ap);

	/* The loop whose thread calls (NULL off the loops), and every loop. */
	struct fo_loop *(*loop_self)(struct fo_mod *self);
	unsigned (*loop_count)(struct fo_mod *self);
	struct fo_loop *(*loop_at)(struct fo_mod *self, unsigned i);
	/* A one-shot timer at deadline_ns (CLOCK_MONOTONIC, fo_now_ns()), to
	 * the microsecond; restarting a running one moves it. */
	void (*timer_start)(struct fo_mod *self, struct fo_loop *loop, struct fo_timer *t,
			    int64_t deadline_ns, fo_timer_fn fn);
	void (*timer_stop)(struct fo_mod *self, struct fo_timer *t);
	/* Readiness of fd (FO_IO_READ | FO_IO_WRITE); events 0 pauses it. */
	void (*io_start)(struct fo_mod *self, struct fo_loop *loop, struct fo_io *io, int fd,
			 unsigned events, fo_io_fn fn);
	void (*io_set)(struct fo_mod *self, struct fo_io *io, unsigned events);
	void (*io_stop)(struct fo_mod *self, struct fo_io *io);
	/* Runs fn on loop's thread soon; callable from any thread. */
	void (*post)(struct fo_mod *self, struct fo_loop *loop, struct fo_post *p, fo_post_fn fn);

	/*
	 * Ends a downstream call (fo_downstream_ops.start), on the call's loop.
	 * errmsg (or NULL) is copied, up to FO_ERRMSG_MAX - 1 bytes: it may be
	 * formatted in the module's own buffer ("http: 5xx: status 503 from
	 * 127.0.0.1:8080"). The core keeps one copy of each distinct text for
	 * the instance's life, so keep their variety low (a status and a host,
	 * not a request id): past FO_ERRMSG_DISTINCT texts a call's is replaced
	 * by a fixed one that says so.
	 */
	void (*call_done)(struct fo_ds_call *c, int err, const void *value, size_t len,
			  const char *errmsg);

	/*
	 * Metrics (see struct fo_metric_def). metrics_declare, in init only:
	 * the instance's n families; out[i] is defs[i]'s handle, valid until
	 * fini returns. Another instance (of this or a later generation) that
	 * declares the same family shares it, so counts go on across reloads;
	 * declaring one name with another type, help or labels is refused
	 * (-EEXIST, with the configuration error saying why).
	 *
	 * metric_series: the series of family f with these label values (one
	 * per declared label, in order, copied; NULL for a family without
	 * labels), made at 0 at its first use; NULL when out of memory. It
	 * takes a lock: get it once (in branch_init, or at a kind's first use)
	 * and keep the handle, valid as long as the family. A series lives as
	 * long as its family: a label value that is no longer used keeps its
	 * last count until no instance declares the family any more.
	 *
	 * The updates are lock-free, from any thread (a relaxed atomic add):
	 * metric_add for a counter (delta >= 0) or a gauge, metric_set for a
	 * gauge, metric_observe (nanoseconds, shown in seconds) for a histogram.
	 * A NULL series is ignored, as is an update of the wrong type.
	 */
	int (*metrics_declare)(struct fo_mod *self, const struct fo_metric_def *defs, size_t n,
			       struct fo_metric_family **out);
	struct fo_metric *(*metric_series)(struct fo_mod *self, struct fo_metric_family *f,
					   const char *const *values);
	void (*metric_add)(struct fo_metric *m, int64_t delta);
	void (*metric_set)(struct fo_metric *m, int64_t value);
	void (*metric_observe)(struct fo_metric *m, int64_t ns);
};

/* An errmsg of fo_call_done is kept up to this many bytes (with its NUL). */
#define FO_ERRMSG_MAX	   256
#define FO_ERRMSG_DISTINCT 4096

/* The wrappers modules call. */
static inline void fo_log(struct fo_mod *self, int prio, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static inline void fo_log(struct fo_mod *self, int prio, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	self->core->log(self, prio, fmt, ap);
	va_end(ap);
}
static inline void fo_conf_error(struct fo_mod *self, const struct fo_conf *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static inline void fo_conf_error(struct fo_mod *self, const struct fo_conf *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	self->core->conf_error(self, s, fmt, ap);
	va_end(ap);
}
static inline int fo_conf_int(struct fo_mod *self, const struct fo_conf *s, const char *name,
			      int64_t min, int64_t max, bool required, int64_t *out)
{
	return self->core->conf_int(self, s, name, min, max, required, out);
}
static inline int fo_conf_double(struct fo_mod *self, const struct fo_conf *s, const char *name,
				 double min, double max, bool required, double *out)
{
	return self->core->conf_double(self, s, name, min, max, required, out);
}
static inline int fo_conf_bool(struct fo_mod *self, const struct fo_conf *s, const char *name,
			       bool required, bool *out)
{
	return self->core->conf_bool(self, s, name, required, out);
}
static inline int fo_conf_string(struct fo_mod *self, const struct fo_conf *s, const char *name,
				 size_t max_len, bool required, const char **out)
{
	return self->core->conf_string(self, s, name, max_len, required, out);
}
static inline int fo_conf_ms(struct fo_mod *self, const struct fo_conf *s, const char *name,
			     int64_t min_ms, int64_t max_ms, bool required, int64_t *out_ns)
{
	return self->core->conf_ms(self, s, name, min_ms, max_ms, required, out_ns);
}
static inline const struct fo_conf *fo_conf_child(struct fo_mod *self, const struct fo_conf *s,
						  const char *name)
{
	return self->core->conf_child(self, s, name);
}
static inline unsigned fo_conf_length(struct fo_mod *self, const struct fo_conf *s)
{
	return self->core->conf_length(self, s);
}
static inline const struct fo_conf *fo_conf_elem(struct fo_mod *self, const struct fo_conf *s,
						 unsigned i)
{
	return self->core->conf_elem(self, s, i);
}
static inline const struct fo_conf *fo_conf_parent(struct fo_mod *self, const struct fo_conf *s)
{
	return self->core->conf_parent(self, s);
}
static inline struct fo_loop *fo_loop_self(struct fo_mod *self)
{
	return self->core->loop_self(self);
}
static inline unsigned fo_loop_count(struct fo_mod *self)
{
	return self->core->loop_count(self);
}
static inline struct fo_loop *fo_loop_at(struct fo_mod *self, unsigned i)
{
	return self->core->loop_at(self, i);
}
static inline void fo_timer_start(struct fo_mod *self, struct fo_loop *loop, struct fo_timer *t,
				  int64_t deadline_ns, fo_timer_fn fn)
{
	self->core->timer_start(self, loop, t, deadline_ns, fn);
}
static inline void fo_timer_stop(struct fo_mod *self, struct fo_timer *t)
{
	self->core->timer_stop(self, t);
}
static inline void fo_io_start(struct fo_mod *self, struct fo_loop *loop, struct fo_io *io, int fd,
			       unsigned events, fo_io_fn fn)
{
	self->core->io_start(self, loop, io, fd, events, fn);
}
static inline void fo_io_set(struct fo_mod *self, struct fo_io *io, unsigned events)
{
	self->core->io_set(self, io, events);
}
static inline void fo_io_stop(struct fo_mod *self, struct fo_io *io)
{
	self->core->io_stop(self, io);
}
static inline void fo_post(struct fo_mod *self, struct fo_loop *loop, struct fo_post *p,
			   fo_post_fn fn)
{
	self->core->post(self, loop, p, fn);
}
static inline int fo_metrics_declare(struct fo_mod *self, const struct fo_metric_def *defs,
				     size_t n, struct fo_metric_family **out)
{
	return self->core->metrics_declare(self, defs, n, out);
}
static inline struct fo_metric *fo_metric_series(struct fo_mod *self, struct fo_metric_family *f,
						 const char *const *values)
{
	return self->core->metric_series(self, f, values);
}
static inline void fo_metric_add(struct fo_mod *self, struct fo_metric *m, int64_t delta)
{
	self->core->metric_add(m, delta);
}
static inline void fo_metric_set(struct fo_mod *self, struct fo_metric *m, int64_t value)
{
	self->core->metric_set(m, value);
}
static inline void fo_metric_observe(struct fo_mod *self, struct fo_metric *m, int64_t ns)
{
	self->core->metric_observe(m, ns);
}

/* ---------------------------------------------------------------- limiters */

/*
 * A limiter is a shared semaphore every branch of the routes that name it
 * holds while it runs, plus feedback. fixed: a counting semaphore (weight 1);
 * weighted: branch weights count; aimd: the size follows observed outcomes.
 */
struct fo_limiter_ops {
	struct fo_sem *(*sem)(struct fo_mod *self);
	/* Whether branch weights count (else every branch weighs 1). */
	bool weighted;
	/* Outcome feedback (may be NULL), from any thread. */
	void (*feedback)(struct fo_mod *self, enum fo_outcome o, int64_t dur_ns);
	/*
	 * Live limit change (fanoutctl limit set): 0 with *taken the limit now
	 * in force (a limiter with a range clamps into it; the caller says so
	 * when *taken differs from limit), or -EINVAL.
	 */
	int (*set_limit)(struct fo_mod *self, int64_t limit, int64_t *taken);
};

/* ------------------------------------------------------------- downstreams */

/*
 * One call to a downstream: the core allocates it (with call_size bytes of
 * module scratch at priv), fills it and calls start on the loop thread that
 * owns it. The module answers exactly once through fo_call_done(), on that
 * loop. If the branch's context ends first, the core calls cancel (same
 * thread) and the module must answer at once (-ECANCELED / -ETIMEDOUT).
 */
struct fo_ds_call {
	struct fo_mod *self;	    /* the downstream instance */
	struct fo_loop *loop;	    /* the call's loop: its timers and watchers go there */
	const struct fo_task *task; /* id: the unit id (product id / job row id) */
	unsigned branch;	    /* index of the branch (replica) in its route */
	int64_t deadline_ns;	    /* the branch's own deadline: never wait past it */
	void *branch_state;	    /* from branch_init */
	void *priv;		    /* call_size bytes, zeroed */
	/*
	 * The X-Request-Id of the HTTP request the call serves (the client's or
	 * the daemon's own), for the module to send on; NULL for a job row (its
	 * job and row ids say which it is). Valid until the call is answered.
	 */
	const char *request_id;
	/*
	 * 0 for a branch's call; 1, 2, ... for its hedges (copies of the same
	 * call sent while the earlier ones have not answered, fanoutd.conf(5)
	 * hedge), each a call of its own with its own priv.
	 */
	unsigned attempt;
};

static inline void fo_call_done(struct fo_ds_call *c, int err, const void *value, size_t len,
				const char *errmsg)
{
	c->self->core->call_done(c, err, value, len, errmsg);
}

struct fo_downstream_ops {
	size_t call_size;
	/* Per route branch: reads the branch's own settings (e.g. its sim group). */
	int (*branch_init)(struct fo_mod *self, const struct fo_conf *branch, unsigned index,
			   void **branch_state);
	void (*branch_fini)(struct fo_mod *self, void *branch_state);
	void (*start)(struct fo_mod *self, struct fo_ds_call *c);
	void (*cancel)(struct fo_mod *self, struct fo_ds_call *c);
	/*
	 * Optional: what a branch's calls go to ("host:port"), for what the core
	 * keeps per downstream target (the token budget of hedged branches).
	 * NULL here, or a NULL answer: the instance is one target. The string
	 * lives as long as branch_state.
	 */
	const char *(*target)(struct fo_mod *self, void *branch_state);
};

/* ---------------------------------------------------------------- policies */

/*
 * A policy module's ops are a struct fo_policy (fanout.h). Its instance is
 * per route: init() parses and validates the route's parameters once
 * (self->conf is the route, self->route_branches its branch count) into
 * self->state, and every unit's fo_policy.init() gets that state as params.
 */

/* ------------------------------------------------------------- descriptor */

/*
 * The sizes of what a module compiles against, measured by the module's own
 * compiler (with its own flags: -D_TIME_BITS=64, packing, a different
 * header version). The loader compares each with the daemon's (time_t with
 * the width configure measured) and names the first that differs, so a
 * module built against other headers is refused instead of misreading a
 * struct. The core table is not here: it only grows (check core->size).
 */
struct fo_module_sizes {
	uint32_t time_t_, result, task, report, config, policy, sem_waiter, ctx_hook, limiter_ops,
		downstream_ops, ds_call, mod, timer, io, post, metric_def;
};
#define FO_MODULE_SIZES                                                                       \
	{                                                                                     \
		sizeof(time_t), sizeof(struct fo_result), sizeof(struct fo_task),             \
			sizeof(struct fo_report), sizeof(struct fo_config),                   \
			sizeof(struct fo_policy), sizeof(struct fo_sem_waiter),               \
			sizeof(struct fo_ctx_hook), sizeof(struct fo_limiter_ops),            \
			sizeof(struct fo_downstream_ops), sizeof(struct fo_ds_call),          \
			sizeof(struct fo_mod), sizeof(struct fo_timer), sizeof(struct fo_io), \
			sizeof(struct fo_post), sizeof(struct fo_metric_def)                  \
	}

struct fo_module {
	uint32_t abi;		      /* FO_MODULE_ABI */
	const char *signature;	      /* FO_MODULE_SIGNATURE */
	uint32_t size;		      /* sizeof(struct fo_module) */
	struct fo_module_sizes sizes; /* FO_MODULE_SIZES */
	enum fo_module_type type;
	const char *name, *version;
	/* One instance (several per process: one per limiter entry, per route
	 * for a policy, one per downstream module). 0 or -errno; config errors
	 * through fo_conf_error(). May be NULL. */
	int (*init)(struct fo_mod *self);
	void (*fini)(struct fo_mod *self);
	/* struct fo_policy / fo_limiter_ops / fo_downstream_ops */
	const void *ops;
};

#define FO_MODULE_DEFINE(...)                                                            \
	__attribute__((visibility("default")))                                           \
	const struct fo_module fo_module_descriptor = {.abi = FO_MODULE_ABI,             \
						       .signature = FO_MODULE_SIGNATURE, \
						       .size = sizeof(struct fo_module), \
						       .sizes = FO_MODULE_SIZES,         \
						       __VA_ARGS__}

#ifdef __cplusplus
}
#endif
#endif
