/* SPDX-License-Identifier: MIT */
/*
 * The sim endpoint: GET /sim/{branch}/{id} answers after the canonical drawn
 * latency of (seed, id, branch index) (include/fanoutd/sim.h, DESIGN.md
 * section 6) with the sim module's value {"v":N}, or 503 when the draw
 * fails, on a timer of the connection's loop. So one fanoutd can be the
 * downstream tier of another, over real HTTP, with the draws of the
 * in-process sim module and of the Go peer's simserver.
 */
#ifndef FOD_SIMSRV_H
#define FOD_SIMSRV_H

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>

#include "fanoutd/sim.h"

struct fod_conf_sink;

/* Branches at most: fail_branch is a bit of fo_sim_params.fail_mask. */
#define FOD_SIM_MAX_BRANCHES 64
#define FOD_SIM_PATH	     "/sim/"

/* The sim_endpoint section of a generation (fanoutd.conf(5)). */
struct fod_sim_endpoint {
	bool enabled;
	struct fo_sim_params p;
	const char *fail_branch; /* "" for none; strings point into the generation's config */
	const char *branches[FOD_SIM_MAX_BRANCHES]; /* {branch} -> its index here */
	size_t nbranches;
};

/* Reads root's sim_endpoint section into *out (defaults when absent). 0 or -EINVAL (simsrv-conf.c).
 */
int fod_simsrv_conf(struct fod_conf_sink *k, const config_setting_t *root,
		    struct fod_sim_endpoint *out);
/* The index of branch name (len bytes) in s's branches, or -1. */
int fod_sim_endpoint_branch(const struct fod_sim_endpoint *s, const char *name, size_t len);
/* Registers GET /sim/ in http.c's route table; 0 or -errno. */
int fod_simsrv_register(void);

#endif
