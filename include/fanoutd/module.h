/* SPDX-License-Identifier: MIT */
/*
 * The fanoutd module SDK. A module is a shared object exporting exactly one
 * symbol, FO_MODULE_SYMBOL, a struct fo_module. The daemon dlopen()s it with
 * RTLD_NOW | RTLD_LOCAL, checks abi, signature, size and type, and refuses it
 * (naming the file) on any mismatch. Everything else in a module is static.
 *
 * Modules reach the daemon only through the struct fo_core_api handed to
 * init(); the daemon needs no -rdynamic and the table only ever grows at its
 * end (check core->size before using a later member).
 *
 * init() must validate its configuration without side effects visible to the
 * running generation: a reload builds every new instance before committing
 * to any, and drops them all if one fails.
 */
#ifndef FANOUTD_MODULE_H
#define FANOUTD_MODULE_H

#include <libconfig.h>
#include <stdint.h>
#include <time.h>

#include "fanoutd/fanout.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Date-stamped; bumped on any incompatible change of this header. */
#define FO_MODULE_ABI 20261130u
/* What else must match between daemon and module: the C data model. */
#define FO_MODULE_SIGNATURE_(p)	    "ptr" #p "-fanout2"
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

struct ev_loop;
struct fo_ds_call;

/* What the daemon offers a module. */
struct fo_core_api {
	uint32_t size; /* sizeof the table the daemon has */
	/* One line to the journal with its priority. */
	void (*log)(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
	/* Config readers: "file:line: message" errors, 0 or -EINVAL. A missing
	 * optional setting leaves *out at its default (what the caller put there). */
	int (*conf_int)(const config_setting_t *s, const char *name, long long min, long long max,
			bool required, long long *out);
	int (*conf_double)(const config_setting_t *s, const char *name, double min, double max,
			   bool required, double *out);
	/* Reports a config error at the setting's file:line (log + counts it). */
	void (*conf_error)(const config_setting_t *s, const char *fmt, ...)
		__attribute__((format(printf, 2, 3)));
	/* Ends a downstream call (fo_downstream_ops.start), on the call's loop. */
	void (*call_done)(struct fo_ds_call *c, int err, const void *value, size_t len,
			  const char *errmsg);
};

/* ---------------------------------------------------------------- limiters */

/*
 * A limiter is a shared semaphore every branch of the routes that name it
 * holds while it runs, plus feedback. fixed: a counting semaphore (weight 1);
 * weighted: branch weights count; aimd: the size follows observed outcomes.
 */
struct fo_limiter_ops {
	struct fo_sem *(*sem)(void *state);
	/* Whether branch weights count (else every branch weighs 1). */
	bool weighted;
	/* Outcome feedback (may be NULL): the engine's fo_feedback_fn. */
	void (*feedback)(void *state, enum fo_outcome o, int64_t dur_ns);
	/*
	 * Live limit change (fanoutctl limit set): 0 (taken as asked), the limit
	 * taken instead (> 0: a limiter with a range clamps into it, and the
	 * caller says so), or -EINVAL.
	 */
	int (*set_limit)(void *state, int64_t limit);
};

/* ------------------------------------------------------------- downstreams */

/*
 * One call to a downstream: the core allocates it (with call_size bytes of
 * module scratch at priv), fills it and calls start on the loop thread that
 * owns it. The module answers exactly once through core->call_done, on that
 * loop. If the branch's context ends first, the core calls cancel (same
 * thread) and the module must answer at once (-ECANCELED / -ETIMEDOUT).
 */
struct fo_ds_call {
	struct ev_loop *loop;
	const struct fo_task *task; /* id: the unit id (product id / job row id) */
	unsigned branch;	    /* index of the branch (replica) in its route */
	int64_t deadline_ns;	    /* the branch's own deadline: never wait past it */
	void *branch_state;	    /* from branch_init */
	void *priv;		    /* call_size bytes, zeroed */
};

struct fo_downstream_ops {
	size_t call_size;
	/* Per route branch: reads the branch's own settings (e.g. its sim group). */
	int (*branch_init)(void *state, const config_setting_t *branch, unsigned index,
			   void **branch_state);
	void (*branch_fini)(void *branch_state);
	void (*start)(struct fo_ds_call *c);
	void (*cancel)(struct fo_ds_call *c);
};

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
		downstream_ops, ds_call;
};
#define FO_MODULE_SIZES                                                             \
	{                                                                           \
		sizeof(time_t), sizeof(struct fo_result), sizeof(struct fo_task),   \
			sizeof(struct fo_report), sizeof(struct fo_config),         \
			sizeof(struct fo_policy), sizeof(struct fo_sem_waiter),     \
			sizeof(struct fo_ctx_hook), sizeof(struct fo_limiter_ops),  \
			sizeof(struct fo_downstream_ops), sizeof(struct fo_ds_call) \
	}

struct fo_module {
	uint32_t abi;		      /* FO_MODULE_ABI */
	const char *signature;	      /* FO_MODULE_SIGNATURE */
	uint32_t size;		      /* sizeof(struct fo_module) */
	struct fo_module_sizes sizes; /* FO_MODULE_SIZES */
	enum fo_module_type type;
	const char *name, *version;
	/* One instance; conf is the instance's setting (a limiter entry, the
	 * module's own group); may be called several times (one per instance). */
	int (*init)(const struct fo_core_api *core, const config_setting_t *conf, void **state);
	void (*fini)(void *state);
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
