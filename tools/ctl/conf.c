/* SPDX-License-Identifier: MIT */
/*
 * What fanoutctl takes from fanoutd's configuration file: the admin socket
 * (api.socket) and, for `top`, each branch's deadline. Read with libconfig,
 * the parser fanoutd itself uses, so quoting, comments and @include are
 * understood exactly as the daemon understands them.
 *
 * A file that cannot be read is not fatal: `fanoutctl reload` after a bad
 * edit must still reach the daemon, which then names the error.
 */
#include "conf.h"

#include <libconfig.h>
#include <stdlib.h>
#include <string.h>

/* The daemon's defaults (fanoutd.conf(5)). */
#define DEFAULT_BUDGET_MS  300
#define DEFAULT_TIMEOUT_MS 250

static long long int_or(const config_setting_t *s, const char *name, long long dflt)
{
	long long v;
	return s && config_setting_lookup_int64(s, name, &v) == CONFIG_TRUE ? v : dflt;
}

static void add_deadline(struct ctl_conf *c, const char *route, const char *branch, double ms)
{
	if (c->ndeadlines == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct ctl_deadline *d = realloc(c->deadlines, cap * sizeof(*d));
		if (!d)
			return;
		c->deadlines = d;
		c->cap = cap;
	}
	struct ctl_deadline *d = &c->deadlines[c->ndeadlines++];
	snprintf(d->route, sizeof(d->route), "%s", route);
	snprintf(d->branch, sizeof(d->branch), "%s", branch);
	d->ms = ms;
}

/* A branch cannot run past min(its timeout, the route's budget). */
static void read_deadlines(struct ctl_conf *c, const config_t *cfg)
{
	const config_setting_t *routes = config_lookup(cfg, "routes");
	for (int i = 0; routes && i < config_setting_length(routes); i++) {
		const config_setting_t *r = config_setting_get_elem(routes, (unsigned)i);
		const char *rname, *bname;
		if (config_setting_lookup_string(r, "name", &rname) != CONFIG_TRUE)
			continue;
		long long budget = int_or(r, "budget_ms", DEFAULT_BUDGET_MS);
		const config_setting_t *bs = config_setting_get_member(r, "branches");
		for (int k = 0; bs && k < config_setting_length(bs); k++) {
			const config_setting_t *b = config_setting_get_elem(bs, (unsigned)k);
			if (config_setting_lookup_string(b, "name", &bname) != CONFIG_TRUE)
				continue;
			long long t = int_or(b, "timeout_ms", DEFAULT_TIMEOUT_MS);
			add_deadline(c, rname, bname, (double)(t < budget ? t : budget));
		}
	}
}

int ctl_conf_read(struct ctl_conf *c, const char *path, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	config_t cfg;
	config_init(&cfg);
	/* @include paths are relative to the including file, as in fanoutd. */
	char *dir = strdup(path), *slash = dir ? strrchr(dir, '/') : NULL;
	if (slash) {
		*slash = '\0';
		config_set_include_dir(&cfg, dir);
	}
	int rc = 0;
	const char *sock;
	if (!config_read_file(&cfg, path)) {
		if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO) {
			snprintf(err, errlen, "%s: cannot read it", path);
			rc = -2;
		} else {
			snprintf(err, errlen, "%s:%d: %s",
				 config_error_file(&cfg) ? config_error_file(&cfg) : path,
				 config_error_line(&cfg), config_error_text(&cfg));
			rc = -1;
		}
	} else {
		c->has_socket = config_lookup_string(&cfg, "api.socket", &sock) == CONFIG_TRUE;
		if (c->has_socket)
			snprintf(c->socket, sizeof(c->socket), "%s", sock);
		read_deadlines(c, &cfg);
	}
	config_destroy(&cfg);
	free(dir);
	return rc;
}

double ctl_conf_deadline(const struct ctl_conf *c, const char *route, const char *branch)
{
	/* A replica "name#3" has its template's deadline. */
	size_t blen = strcspn(branch, "#");
	for (size_t i = 0; c && i < c->ndeadlines; i++)
		if (strcmp(c->deadlines[i].route, route) == 0 &&
		    strlen(c->deadlines[i].branch) == blen &&
		    strncmp(c->deadlines[i].branch, branch, blen) == 0)
			return c->deadlines[i].ms;
	return 0;
}

void ctl_conf_free(struct ctl_conf *c)
{
	free(c->deadlines);
	c->deadlines = NULL;
	c->ndeadlines = c->cap = 0;
}
