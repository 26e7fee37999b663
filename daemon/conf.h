/* SPDX-License-Identifier: MIT */
/*
 * Reading the configuration: typed, range-checked readers over libconfig
 * settings, shared by the generation builder and (through the module SDK's
 * opaque struct fo_conf) the modules.
 *
 * A build has one sink: its first error ("file:line: message") wins and the
 * build is refused. Every setting a reader looks at is marked known; after
 * the build, fod_conf_check_unknown() refuses the first setting nobody read,
 * suggesting the name a reader asked for that is closest to it
 * (max_conections: did you mean 'max_connections'?).
 */
#ifndef FOD_CONF_H
#define FOD_CONF_H

#include <libconfig.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fod_conf_source;
struct fod_conf_asked;

struct fod_conf_sink {
	char *err;
	size_t errlen;
	bool failed;
	const char *path; /* the top file, for errors without a line */
	/* Files read again for integer literals (libconfig 1.5 wraps them). */
	struct fod_conf_source *sources;
	size_t nsources;
	/* Names readers asked for and did not find: suggestions for unknown ones. */
	struct fod_conf_asked *asked;
	size_t nasked, askedcap;
};

void fod_conf_sink_init(struct fod_conf_sink *k, const char *path, char *err, size_t errlen);
void fod_conf_sink_fini(struct fod_conf_sink *k);

/* Refuses the build with "file:line: message" at s (the first error wins). k may be NULL: logged.
 */
void fod_conf_verror(struct fod_conf_sink *k, const config_setting_t *s, const char *fmt,
		     va_list ap);
void fod_conf_error(struct fod_conf_sink *k, const config_setting_t *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * The readers: name is a member of s, or NULL for s itself. 0 (a missing
 * optional setting leaves *out alone), or -EINVAL after an error.
 */
int fod_conf_int(struct fod_conf_sink *k, const config_setting_t *s, const char *name, int64_t min,
		 int64_t max, bool required, int64_t *out);
int fod_conf_double(struct fod_conf_sink *k, const config_setting_t *s, const char *name,
		    double min, double max, bool required, double *out);
int fod_conf_bool(struct fod_conf_sink *k, const config_setting_t *s, const char *name,
		  bool required, bool *out);
/* max_len 0: no limit but the setting's own. */
int fod_conf_string(struct fod_conf_sink *k, const config_setting_t *s, const char *name,
		    size_t max_len, bool required, const char **out);
int fod_conf_ms(struct fod_conf_sink *k, const config_setting_t *s, const char *name,
		int64_t min_ms, int64_t max_ms, bool required, int64_t *out_ns);

/* A member of s, marked known (NULL when absent: the name is remembered for suggestions). */
const config_setting_t *fod_conf_child(struct fod_conf_sink *k, const config_setting_t *s,
				       const char *name);
/* Marks s known (a setting read by other means). */
void fod_conf_known(const config_setting_t *s);
/* Refuses the first setting under root that nobody read. */
int fod_conf_check_unknown(struct fod_conf_sink *k, const config_setting_t *root);

#endif
