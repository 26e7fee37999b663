/* SPDX-License-Identifier: MIT */
/* Loading module shared objects (DESIGN.md section 4). */
#ifndef FOD_MODULE_H
#define FOD_MODULE_H

#include "conf.h"
#include "fanoutd/module.h"

struct fod_module {
	char *path;
	void *handle;
	const struct fo_module *desc;
};

/*
 * Opens DIR/NAME.so and checks its descriptor against this daemon's ABI,
 * signature, size and the expected type. On any mismatch the object is
 * closed again and the error, naming the file, is written to err.
 */
int fod_module_open(const char *dir, const char *name, enum fo_module_type type,
		    struct fod_module *m, char *err, size_t errlen);
void fod_module_close(struct fod_module *m);
const char *fod_module_type_str(enum fo_module_type t);

/* One instance of a module: the handle its callbacks get, and what the core keeps beside it. */
struct fod_instance {
	struct fo_mod self; /* self.core_priv points back here */
	struct fod_module mod;
	/* While its generation is built: where its config errors go (NULL after). */
	struct fod_conf_sink *sink;
	char *name;
	bool live; /* init succeeded: fini is owed */
	/* Its metric families (the SDK's metrics_declare), given back at close. */
	struct fo_metric_family **families;
	size_t nfamilies;
	/* One copy of each distinct errmsg its calls ended with, kept for its life. */
	struct fod_errmsgs *errmsgs;
};

/*
 * Loads DIR/MODULE.so (of the given type) and initialises it as the instance
 * NAME with its settings conf (may be NULL); errors go to sink, at where
 * when they concern the module itself. 0 or -errno.
 */
int fod_instance_open(struct fod_instance *in, struct fod_conf_sink *sink, const char *dir,
		      const char *module, enum fo_module_type type, const char *name,
		      const config_setting_t *where, const config_setting_t *conf,
		      size_t route_branches);
/* fini (if init succeeded), then unload. */
void fod_instance_close(struct fod_instance *in);
static inline const void *fod_instance_ops(const struct fod_instance *in)
{
	return in->mod.desc->ops;
}

#endif
