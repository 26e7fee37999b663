/* SPDX-License-Identifier: MIT */
/* What fanoutctl reads from fanoutd.conf: the admin socket and branch deadlines. */
#ifndef CTL_CONF_H
#define CTL_CONF_H

#include <stdbool.h>
#include <stdio.h>

struct ctl_deadline {
	char route[128], branch[128];
	double ms; /* min(timeout_ms, budget_ms): no call of the branch lasts longer */
};

struct ctl_conf {
	bool has_socket; /* api.socket is set (possibly to "": no socket) */
	char socket[4096];
	struct ctl_deadline *deadlines;
	size_t ndeadlines, cap;
};

/*
 * 0; -1 when the file is not valid (file:line: message in err); -2 when it
 * cannot be read at all. c is usable (empty) either way.
 */
int ctl_conf_read(struct ctl_conf *c, const char *path, char *err, size_t errlen);
/* The branch's deadline in ms, or 0 when the configuration does not say. */
double ctl_conf_deadline(const struct ctl_conf *c, const char *route, const char *branch);
void ctl_conf_free(struct ctl_conf *c);

#endif
