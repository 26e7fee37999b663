/* SPDX-License-Identifier: MIT */
/*
 * A configuration generation: the parsed config plus every module instance it
 * needs, immutable once built and refcounted. Each request holds the
 * generation it started on; a reload builds a whole new one to the side and
 * swaps it in only if everything succeeded; the old one is released (its
 * modules fini'd and dlclose'd) when its last request ends.
 */
#ifndef FOD_GENERATION_H
#define FOD_GENERATION_H

#include <libconfig.h>
#include <stdatomic.h>
#include <stdio.h>

#include "fanoutd/module.h"
#include "module.h"
#include "simsrv.h"

struct fod_metrics_branch;
struct fod_metrics_route;
struct fod_hedge;
struct fod_hedge_target;

/* A partitioned limiter's partitions: what HTTP requests and job rows are each guaranteed. */
enum { FOD_PARTITION_HTTP, FOD_PARTITION_JOBS, FOD_PARTITIONS };
extern const char *const fod_partition_names[FOD_PARTITIONS];

struct fod_limiter {
	char *name;
	struct fod_instance in;
	const struct fo_limiter_ops *ops;
	bool partitioned; /* `partitions = { http = ...; jobs = ...; }` */
};

struct fod_downstream {
	struct fod_instance in;
	const struct fo_downstream_ops *ops;
};

static inline struct fo_sem *fod_limiter_sem(const struct fod_limiter *l)
{
	return l->ops->sem((struct fo_mod *)&l->in.self);
}

struct fod_branch {
	char *name; /* "price", or "lookup#3" for replica 3 */
	unsigned index;
	const config_setting_t *setting; /* its entry in 'branches' (shared by its replicas) */
	int64_t timeout_ns;
	uint32_t weight;
	struct fod_downstream *ds;
	void *ds_state;
	struct fod_metrics_branch *metrics;
	struct fod_hedge *hedge; /* its `hedge` settings and budgets (hedge.h), or NULL */
};

struct fod_route {
	char *name, *http_prefix, *job;
	const struct fo_policy *policy;
	struct fod_instance policy_in;	 /* when the policy is a module */
	const void *policy_params;	 /* what the policy module parsed, for every unit */
	const config_setting_t *setting; /* the route's settings */
	unsigned limit;
	int64_t budget_ns, join_reserve_ns, min_branch_ns;
	/* Guardrails on what a client's ?budget_ms= and ?policy= may ask for. */
	int64_t max_budget_ns;
	bool allow_policy_override;
	struct fod_limiter *limiter;
	struct fod_branch *branches;
	size_t nbranches;
	struct fod_metrics_route *metrics;
	/* Health and logs (fanoutd.conf(5), routes): strings point into the generation's cfg. */
	unsigned min_ok;	     /* fewer branches ok: the answer is a 502 */
	double ready_min_success;    /* /readyz floor on the recent success ratio; 0: none */
	int64_t ready_window_ns;     /* "recent": this long back */
	unsigned ready_min_requests; /* fewer requests in the window: no verdict (ready) */
	const char *access_log;	     /* NULL: off; "stderr", or a file path */
	bool access_log_json;	     /* JSON lines instead of the text format */
};

/* The `http` section: listeners and the request limits (http.c). */
struct fod_http_settings {
	/* listen and admin_listen: addresses separated by spaces ("": none) */
	char *listen, *admin_listen;
	bool admin_on_public; /* internal endpoints on the public listeners too */
	long max_connections;
	size_t max_url, max_headers, max_body;
	int64_t header_timeout_ns, idle_timeout_ns;
};

/* The `api` section: the admin socket and who may do what on it. */
struct fod_api_settings {
	char *socket, *mode, *group, *admin_group, *operator_group, *job_group;
	long max_connections;	 /* admin socket connections at once */
	int64_t idle_timeout_ns; /* an admin connection with no traffic and no job closes */
};

/* The `workers` section. */
struct fod_workers_settings {
	unsigned loops, pool_threads;
};

/* The `shutdown` section. */
struct fod_shutdown_settings {
	int64_t drain_ns;
};

/* log_level (fanoutd -v overrides it with debug); one failure line per interval. */
struct fod_log_settings {
	int level;
	int64_t failure_interval_ns;
};

struct fod_gen {
	atomic_long refs;
	uint64_t id;
	config_t cfg;
	const config_setting_t *root;
	char *path;
	struct fod_conf_sink *sink; /* while it is being built: where config errors go */
	bool trial_bind;	    /* fanoutd -t: the listen addresses are bound to try them */
	size_t max_branches;	    /* per route (fod_overrides) */
	/* settings, one group per section, each read by its subsystem */
	struct fod_http_settings http;	       /* http.c */
	struct fod_api_settings api;	       /* api.c, control.c (the socket) */
	struct fod_workers_settings workers;   /* loops and the blocking pool */
	struct fod_shutdown_settings shutdown; /* control.c */
	struct fod_log_settings log;	       /* log.c, metrics.c's failure lines */
	char *modules_path;
	struct fod_sim_endpoint sim_endpoint; /* GET /sim/{branch}/{id} (simsrv.c) */
	/* instances */
	struct fod_limiter *limiters;
	size_t nlimiters;
	struct fod_downstream **downstreams;
	size_t ndownstreams;
	struct fod_route *routes;
	size_t nroutes;
	struct fo_pool *pool;
	struct fod_hedge_target *hedge_targets; /* hedged branches' token counts (hedge.h) */
};

/* Overrides from the command line, applied to every generation. */
struct fod_overrides {
	const char *listen, *socket, *modules;
	/* -t / -T: also resolve and try binding the listen addresses (never when serving). */
	bool trial_bind;
	/*
	 * Branches a route may have, replicas counted (0: FOD_MAX_BRANCHES). The
	 * config fuzz harness sets a few hundred: under ASan a route of 10,000
	 * replicas takes a tenth of a second to build, and a corpus fills with
	 * them (a campaign fell to 350 inputs/s).
	 */
	size_t max_branches;
};
#define FOD_MAX_BRANCHES 100000

/*
 * Reads and instantiates FILE. On failure returns NULL and err holds
 * "file:line: message" (or the loader's message naming the module file).
 */
struct fod_gen *fod_gen_build(const char *path, const struct fod_overrides *ov, char *err,
			      size_t errlen);
/*
 * fanoutd -T: writes g's configuration with every core setting at the value
 * in effect (defaults filled in, overrides applied) in libconfig syntax.
 * Changes g's config tree: for a generation that does not serve. 0 or -errno.
 */
int fod_gen_write_effective(struct fod_gen *g, FILE *out);
/* Another reference to g (the fuzz harness publishes a generation it keeps). */
struct fod_gen *fod_gen_ref(struct fod_gen *g);
void fod_gen_unref(struct fod_gen *g);
/*
 * Generations in memory: the serving one and older ones that something
 * (a request, a job, a fuzz harness) still holds, and one being built.
 */
long fod_gen_live(void);

/* The current generation (a new reference) and the swap. */
struct fod_gen *fod_gen_current(void);
void fod_gen_publish(struct fod_gen *g);

struct fod_route *fod_gen_route_http(struct fod_gen *g, const char *path, const char **rest);
struct fod_route *fod_gen_route_job(struct fod_gen *g, const char *kind);
struct fod_limiter *fod_gen_limiter(struct fod_gen *g, const char *name);

/* The core API table handed to modules. */

#endif
