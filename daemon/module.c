/* SPDX-License-Identifier: MIT */
#include "module.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *fod_module_type_str(enum fo_module_type t)
{
	switch (t) {
	case FO_MODULE_POLICY:
		return "policy";
	case FO_MODULE_LIMITER:
		return "limiter";
	case FO_MODULE_DOWNSTREAM:
		return "downstream";
	}
	return "unknown";
}

static bool valid_name(const char *name)
{
	if (!*name || strlen(name) > 64)
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' ||
		      *p == '-'))
			return false;
	return true;
}

int fod_module_open(const char *dir, const char *name, enum fo_module_type type,
		    struct fod_module *m, char *err, size_t errlen)
{
	memset(m, 0, sizeof(*m));
	if (!valid_name(name)) {
		snprintf(err, errlen, "invalid module name '%s' (a-z, 0-9, '-', '_')", name);
		return -EINVAL;
	}
	if (asprintf(&m->path, "%s/%s.so", dir, name) < 0) {
		m->path = NULL;
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	/* RTLD_LOCAL: modules cannot see each other's symbols, only the core table. */
	m->handle = dlopen(m->path, RTLD_NOW | RTLD_LOCAL);
	if (!m->handle) {
		snprintf(err, errlen, "cannot load module %s: %s", m->path, dlerror());
		goto fail;
	}
	m->desc = dlsym(m->handle, FO_MODULE_SYMBOL);
	const struct fo_module *d = m->desc;
	if (!d) {
		snprintf(err, errlen, "%s: no %s symbol: not a fanoutd module", m->path,
			 FO_MODULE_SYMBOL);
	} else if (d->abi != FO_MODULE_ABI) {
		snprintf(err, errlen,
			 "%s: module ABI %u, this fanoutd speaks %u: rebuild the module", m->path,
			 d->abi, FO_MODULE_ABI);
	} else if (!d->signature || strcmp(d->signature, FO_MODULE_SIGNATURE) != 0) {
		snprintf(err, errlen, "%s: build signature '%s', expected '%s'", m->path,
			 d->signature ? d->signature : "(none)", FO_MODULE_SIGNATURE);
	} else if (d->size != sizeof(struct fo_module)) {
		snprintf(err, errlen, "%s: descriptor size %u, expected %zu", m->path, d->size,
			 sizeof(struct fo_module));
	} else if (d->type != type) {
		snprintf(err, errlen, "%s: a %s module, a %s module was asked for", m->path,
			 fod_module_type_str(d->type), fod_module_type_str(type));
	} else if (!d->name || strcmp(d->name, name) != 0 || !d->ops) {
		snprintf(err, errlen, "%s: descriptor names '%s', or has no ops", m->path,
			 d->name ? d->name : "(none)");
	} else {
		return 0;
	}
fail:
	fod_module_close(m);
	return -EINVAL;
}

void fod_module_close(struct fod_module *m)
{
	if (m->handle)
		dlclose(m->handle);
	free(m->path);
	memset(m, 0, sizeof(*m));
}
