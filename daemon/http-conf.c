/* SPDX-License-Identifier: MIT */
/*
 * The http section's listen settings, read for a generation (generation.c):
 * apart from the server (http.c), so that reading a configuration does not
 * bring the HTTP server along (tests/integration/layers.sh).
 */
#include "http.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

int fod_http_conf_listen(struct fod_conf_sink *k, const config_setting_t *http, const char *name,
			 const char *dflt, char **out)
{
	const config_setting_t *s = fod_conf_child(k, http, name);
	bool many = s && (config_setting_is_list(s) || config_setting_is_array(s));
	if (s && !many && config_setting_type(s) != CONFIG_TYPE_STRING) {
		fod_conf_error(k, s, "'%s' must be a string \"HOST:PORT\" or a list of them", name);
		return -EINVAL;
	}
	size_t n = many ? (size_t)config_setting_length(s) : 1;
	/* http.listen needs an address; http.admin_listen = [] is "none", as when absent. */
	if (many && n == 0 && *dflt) {
		fod_conf_error(k, s, "'%s' must name at least one address", name);
		return -EINVAL;
	}
	size_t len = 1;
	for (size_t i = 0; s && i < n; i++) {
		const config_setting_t *e = many ? config_setting_get_elem(s, (unsigned)i) : s;
		const char *a = config_setting_get_string(e);
		fod_conf_known(e);
		/* Each address's syntax is checked by the build, with the reason (gen.c). */
		if (!a || strchr(a, ' ')) {
			fod_conf_error(k, e,
				       "'%s' must be \"HOST:PORT\", \"[IPV6]:PORT\" or a list of "
				       "them (%s)",
				       name, a ? a : "not a string");
			return -EINVAL;
		}
		len += strlen(a) + 1;
	}
	if (!(*out = malloc(s ? len : strlen(dflt) + 1)))
		return -ENOMEM;
	strcpy(*out, s ? "" : dflt);
	for (size_t i = 0; s && i < n; i++) {
		const config_setting_t *e = many ? config_setting_get_elem(s, (unsigned)i) : s;
		if (i)
			strcat(*out, " ");
		strcat(*out, config_setting_get_string(e));
	}
	return 0;
}
