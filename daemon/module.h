/* SPDX-License-Identifier: MIT */
/* Loading module shared objects (DESIGN.md section 4). */
#ifndef FOD_MODULE_H
#define FOD_MODULE_H

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

#endif
