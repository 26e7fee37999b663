/* SPDX-License-Identifier: MIT */
/*
 * The sim_endpoint section, read for a generation (generation.c): apart from
 * the endpoint itself (simsrv.c), so that reading a configuration does not
 * bring the HTTP server along.
 */
#include "simsrv.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "conf.h"

/* The Go peer's simserver's branches, in its order: the default {branch} -> index map. */
static const char *const default_branches[] = {"price", "inventory", "reviews", "recommendations",
					       "shipping"};

static int read_branches(struct fod_conf_sink *k, const config_setting_t *sec,
			 struct fod_sim_endpoint *out)
{
	const config_setting_t *list = fod_conf_child(k, sec, "branches");
	if (!list) {
		out->nbranches = sizeof(default_branches) / sizeof(default_branches[0]);
		memcpy(out->branches, default_branches, sizeof(default_branches));
		return 0;
	}
	unsigned n = config_setting_is_aggregate(list) ? (unsigned)config_setting_length(list) : 0;
	if (n == 0 || n > FOD_SIM_MAX_BRANCHES) {
		fod_conf_error(k, list,
			       "'branches' must be a list of 1 to %d branch names, like "
			       "[\"price\", \"inventory\"]",
			       FOD_SIM_MAX_BRANCHES);
		return -EINVAL;
	}
	for (unsigned i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(list, i);
		const char *name = NULL;
		if (fod_conf_string(k, e, NULL, 64, true, &name) < 0)
			return -EINVAL;
		/* A path segment as it is, and safe in a JSON error message. */
		if (!*name ||
		    name[strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				      "0123456789_.-")]) {
			fod_conf_error(k, e,
				       "sim branch name '%s' must be letters, digits, '_', '.' or "
				       "'-'",
				       name);
			return -EINVAL;
		}
		for (unsigned j = 0; j < i; j++)
			if (strcmp(out->branches[j], name) == 0) {
				fod_conf_error(k, e, "sim branch '%s' is listed twice", name);
				return -EINVAL;
			}
		out->branches[i] = name;
	}
	out->nbranches = n;
	return 0;
}

int fod_sim_endpoint_branch(const struct fod_sim_endpoint *s, const char *name, size_t len)
{
	for (size_t i = 0; i < s->nbranches; i++)
		if (strlen(s->branches[i]) == len && memcmp(s->branches[i], name, len) == 0)
			return (int)i;
	return -1;
}

int fod_simsrv_conf(struct fod_conf_sink *k, const config_setting_t *root,
		    struct fod_sim_endpoint *out)
{
	memset(out, 0, sizeof(*out));
	fo_sim_defaults(&out->p);
	out->fail_branch = "";
	const config_setting_t *sec = fod_conf_child(k, root, "sim_endpoint");
	if (sec && !config_setting_is_group(sec)) {
		fod_conf_error(k, sec, "'sim_endpoint' must be a group { enabled = true; ... }");
		return -EINVAL;
	}
	int64_t seed = (int64_t)out->p.seed;
	/* The ranges of the sim module's own settings (modules/downstream/sim). */
	if (fod_conf_bool(k, sec, "enabled", false, &out->enabled) < 0 ||
	    fod_conf_int(k, sec, "seed", 0, INT64_MAX, false, &seed) < 0 ||
	    fod_conf_ms(k, sec, "base_ms", 0, 3600000, false, &out->p.base_ns) < 0 ||
	    fod_conf_ms(k, sec, "p99_ms", 0, 3600000, false, &out->p.p99_ns) < 0 ||
	    fod_conf_ms(k, sec, "tail_ms", 0, 3600000, false, &out->p.tail_ns) < 0 ||
	    fod_conf_double(k, sec, "tail_rate", 0, 1, false, &out->p.tail_rate) < 0 ||
	    fod_conf_double(k, sec, "err_rate", 0, 1, false, &out->p.err_rate) < 0 ||
	    fod_conf_string(k, sec, "fail_branch", 64, false, &out->fail_branch) < 0 ||
	    (sec && read_branches(k, sec, out) < 0))
		return -EINVAL;
	if (!sec)
		read_branches(k, NULL, out);
	out->p.seed = (uint64_t)seed;
	if (*out->fail_branch) {
		int b = fod_sim_endpoint_branch(out, out->fail_branch, strlen(out->fail_branch));
		if (b < 0) {
			fod_conf_error(k, fod_conf_child(k, sec, "fail_branch"),
				       "fail_branch '%s' is not one of the sim_endpoint's branches",
				       out->fail_branch);
			return -EINVAL;
		}
		out->p.fail_mask = UINT64_C(1) << b;
	}
	return 0;
}
