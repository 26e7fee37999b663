/* SPDX-License-Identifier: MIT */
#include "module.h"

#include <dlfcn.h>
#include <stddef.h>
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

/* The daemon's sizes: time_t as configure measured it, the rest as compiled here. */
static const struct fo_module_sizes daemon_sizes = FO_MODULE_SIZES;
_Static_assert(sizeof(time_t) == SIZEOF_TIME_T, "time_t differs from what configure measured");

/* Whether a module's compiled sizes differ from the daemon's; err names the first that does. */
static bool sizes_differ(const struct fo_module_sizes *got, char *err, size_t errlen,
			 const char *path)
{
	static const struct {
		const char *what;
		size_t offset;
	} fields[] = {
#define FIELD(f, what) {what, offsetof(struct fo_module_sizes, f)}
		FIELD(time_t_, "time_t"),
		FIELD(result, "struct fo_result"),
		FIELD(task, "struct fo_task"),
		FIELD(report, "struct fo_report"),
		FIELD(config, "struct fo_config"),
		FIELD(policy, "struct fo_policy"),
		FIELD(sem_waiter, "struct fo_sem_waiter"),
		FIELD(ctx_hook, "struct fo_ctx_hook"),
		FIELD(limiter_ops, "struct fo_limiter_ops"),
		FIELD(downstream_ops, "struct fo_downstream_ops"),
		FIELD(ds_call, "struct fo_ds_call"),
#undef FIELD
	};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		uint32_t want = *(const uint32_t *)((const char *)&daemon_sizes + fields[i].offset);
		uint32_t have = *(const uint32_t *)((const char *)got + fields[i].offset);
		if (want != have) {
			snprintf(err, errlen,
				 "%s: built with sizeof(%s) = %u, this fanoutd has %u: rebuild the "
				 "module against this fanoutd's headers",
				 path, fields[i].what, have, want);
			return true;
		}
	}
	return false;
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
	} else if (sizes_differ(&d->sizes, err, errlen, m->path)) {
		/* err says which */
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
