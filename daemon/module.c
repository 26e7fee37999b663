/* SPDX-License-Identifier: MIT */
/*
 * Modules: checking and loading their files, their instances, and the core
 * API table every instance's handle carries (the module SDK's services).
 */
#include "module.h"
/* Before <elf.h>, whose EV_NONE macro would break libev's enum. */
#include "loop.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "call.h"
#include "log.h"
#include "metrics.h"
#include "strmap.h"

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
		FIELD(mod, "struct fo_mod"),
		FIELD(timer, "struct fo_timer"),
		FIELD(io, "struct fo_io"),
		FIELD(post, "struct fo_post"),
		FIELD(metric_def, "struct fo_metric_def"),
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

/* ---- checking a module file before dlopen maps it */

/*
 * This program's own ELF header, placed by the linker: a module must match
 * its class, byte order and machine.
 */
extern const ElfW(Ehdr) __ehdr_start __attribute__((visibility("hidden")));

/* [off, off + len) lies within a file of size bytes, without overflowing. */
static bool within(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

static int read_exact(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO; /* shorter than fstat said: changed under us */
		done += (size_t)n;
	}
	return 0;
}

static int check_ehdr(const ElfW(Ehdr) * h, uint64_t size, char *why, size_t whylen)
{
	if (memcmp(h->e_ident, ELFMAG, SELFMAG) != 0)
		snprintf(why, whylen, "no ELF magic");
	else if (h->e_ident[EI_CLASS] != __ehdr_start.e_ident[EI_CLASS] ||
		 h->e_ident[EI_DATA] != __ehdr_start.e_ident[EI_DATA] ||
		 h->e_ident[EI_VERSION] != EV_CURRENT)
		snprintf(why, whylen, "ELF class, byte order or version differs from fanoutd's");
	else if (h->e_type != ET_DYN)
		snprintf(why, whylen, "ELF type %u, not a shared object", h->e_type);
	else if (h->e_machine != __ehdr_start.e_machine)
		snprintf(why, whylen, "built for machine %u, fanoutd runs on %u", h->e_machine,
			 __ehdr_start.e_machine);
	else if (h->e_phentsize != sizeof(ElfW(Phdr)) || h->e_phnum == 0 || h->e_phnum == PN_XNUM)
		snprintf(why, whylen, "no usable program header table");
	else if (!within(h->e_phoff, (uint64_t)h->e_phnum * sizeof(ElfW(Phdr)), size))
		snprintf(why, whylen, "program headers end past the end of the file");
	else if (h->e_shoff != 0 &&
		 (h->e_shentsize != sizeof(ElfW(Shdr)) ||
		  !within(h->e_shoff, (uint64_t)(h->e_shnum ? h->e_shnum : 1) * sizeof(ElfW(Shdr)),
			  size)))
		snprintf(why, whylen, "section headers end past the end of the file");
	else
		return 0;
	return -ENOEXEC;
}

/* Every segment the loader maps or reads must be backed by the file. */
static int check_phdrs(int fd, const ElfW(Ehdr) * h, uint64_t size, char *why, size_t whylen)
{
	ElfW(Phdr) *ph = calloc(h->e_phnum, sizeof(*ph));
	if (!ph)
		return -ENOMEM;
	int r = read_exact(fd, ph, h->e_phnum * sizeof(*ph), h->e_phoff);
	for (unsigned i = 0; r == 0 && i < h->e_phnum; i++) {
		const ElfW(Phdr) *p = &ph[i];
		if (p->p_type != PT_LOAD && p->p_type != PT_DYNAMIC)
			continue;
		if (!within(p->p_offset, p->p_filesz, size)) {
			snprintf(why, whylen, "segment %u ends at byte %llu, past the end", i,
				 (unsigned long long)p->p_offset + p->p_filesz);
			r = -ENOEXEC;
		} else if (p->p_type == PT_LOAD && p->p_filesz > p->p_memsz) {
			snprintf(why, whylen, "segment %u is larger in the file than in memory", i);
			r = -ENOEXEC;
		}
	}
	free(ph);
	return r;
}

/*
 * dlopen maps a shared object's segments as they are described, so a
 * truncated file kills the process with SIGBUS when the loader touches a
 * page past its end, before any error can be reported: check the header and
 * every segment against the file's size first.
 *
 * This is a check-then-use: it protects against a file that is truncated,
 * damaged or not a module when it is looked at (a failed copy, a half-written
 * build). It does not protect against the file being replaced between this
 * check and dlopen (dlopen opens the path again), nor against a file that is
 * already loaded being truncated in place, which breaks any mapping of it:
 * install modules by renaming a complete file over the old one, as
 * install(1) does.
 */
static int check_module_file(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "cannot load module %s: %s", path, strerror(e));
		return -e;
	}
	char why[160] = "";
	ElfW(Ehdr) h;
	struct stat st;
	int r = fstat(fd, &st) < 0 ? -errno : 0;
	if (r == 0 && !S_ISREG(st.st_mode)) {
		snprintf(why, sizeof(why), "not a regular file");
		r = -ENOEXEC;
	} else if (r == 0 && (uint64_t)st.st_size < sizeof(h)) {
		snprintf(why, sizeof(why), "%lld bytes, shorter than an ELF header",
			 (long long)st.st_size);
		r = -ENOEXEC;
	}
	if (r == 0)
		r = read_exact(fd, &h, sizeof(h), 0);
	if (r == 0)
		r = check_ehdr(&h, (uint64_t)st.st_size, why, sizeof(why));
	if (r == 0)
		r = check_phdrs(fd, &h, (uint64_t)st.st_size, why, sizeof(why));
	close(fd);
	if (r == -ENOEXEC)
		snprintf(err, errlen, "%s: truncated or not a shared object (%s)", path, why);
	else if (r < 0)
		snprintf(err, errlen, "cannot load module %s: %s", path, strerror(-r));
	return r;
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
	if (check_module_file(m->path, err, errlen) < 0) {
		fod_module_close(m);
		return -EINVAL;
	}
	/* RTLD_LOCAL: modules cannot see each other's symbols, only the core table. */
	m->handle = dlopen(m->path, RTLD_NOW | RTLD_LOCAL);
	if (!m->handle) {
		/* dlerror() begins with the path ("X.so: undefined symbol: f"): say it once. */
		const char *why = dlerror();
		size_t len = strlen(m->path);
		if (why && strncmp(why, m->path, len) == 0 && why[len] == ':' &&
		    why[len + 1] == ' ')
			why += len + 2;
		snprintf(err, errlen, "cannot load module %s: %s", m->path,
			 why ? why : "dlopen failed");
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

/* ---- instances */

static const struct fo_core_api fod_core_api; /* the table: at the end of the file */

int fod_instance_open(struct fod_instance *in, struct fod_conf_sink *sink, const char *dir,
		      const char *module, enum fo_module_type type, const char *name,
		      const config_setting_t *where, const config_setting_t *conf,
		      size_t route_branches)
{
	memset(in, 0, sizeof(*in));
	char err[512];
	if (fod_module_open(dir, module, type, &in->mod, err, sizeof(err)) < 0) {
		fod_conf_error(sink, where, "%s", err);
		return -EINVAL;
	}
	in->name = strdup(name);
	if (!in->name) {
		fod_conf_error(sink, where, "out of memory");
		fod_module_close(&in->mod);
		return -ENOMEM;
	}
	in->sink = sink;
	in->self = (struct fo_mod){
		.core = &fod_core_api,
		.name = in->name,
		.conf = (const struct fo_conf *)conf,
		.route_branches = route_branches,
		.core_priv = in,
	};
	fod_conf_known(conf);
	int r = in->mod.desc->init ? in->mod.desc->init(&in->self) : 0;
	if (r < 0) {
		/* A module that said why has refused the configuration already. */
		fod_conf_error(sink, conf ? conf : where, "module %s failed to initialise: %s",
			       in->mod.desc->name, strerror(-r));
		for (size_t i = 0; i < in->nfamilies; i++)
			fod_metrics_module_release(in->families[i]);
		free(in->families);
		free(in->name);
		fod_module_close(&in->mod);
		memset(in, 0, sizeof(*in));
		return r;
	}
	in->live = true;
	return 0;
}

static void errmsgs_free(struct fod_errmsgs *e);

void fod_instance_close(struct fod_instance *in)
{
	if (in->live && in->mod.desc->fini)
		in->mod.desc->fini(&in->self);
	/* After fini: no call of the instance is left, nor any report of one. */
	for (size_t i = 0; i < in->nfamilies; i++)
		fod_metrics_module_release(in->families[i]);
	free(in->families);
	errmsgs_free(in->errmsgs);
	fod_module_close(&in->mod);
	free(in->name);
	memset(in, 0, sizeof(*in));
}

/* ---- the core API: what a handle's core table does */

static struct fod_instance *instance(struct fo_mod *self)
{
	return self->core_priv;
}

static const config_setting_t *setting(const struct fo_conf *s)
{
	return (const config_setting_t *)s;
}

static void api_log(struct fo_mod *self, int prio, const char *fmt, va_list ap)
{
	char line[1024];
	vsnprintf(line, sizeof(line), fmt, ap);
	fod_log(prio, "%s: %s", self->name, line);
}

static int api_conf_int(struct fo_mod *self, const struct fo_conf *s, const char *name, int64_t min,
			int64_t max, bool required, int64_t *out)
{
	return fod_conf_int(instance(self)->sink, setting(s), name, min, max, required, out);
}

static int api_conf_double(struct fo_mod *self, const struct fo_conf *s, const char *name,
			   double min, double max, bool required, double *out)
{
	return fod_conf_double(instance(self)->sink, setting(s), name, min, max, required, out);
}

static int api_conf_bool(struct fo_mod *self, const struct fo_conf *s, const char *name,
			 bool required, bool *out)
{
	return fod_conf_bool(instance(self)->sink, setting(s), name, required, out);
}

static int api_conf_string(struct fo_mod *self, const struct fo_conf *s, const char *name,
			   size_t max_len, bool required, const char **out)
{
	return fod_conf_string(instance(self)->sink, setting(s), name, max_len, required, out);
}

static int api_conf_ms(struct fo_mod *self, const struct fo_conf *s, const char *name,
		       int64_t min_ms, int64_t max_ms, bool required, int64_t *out_ns)
{
	return fod_conf_ms(instance(self)->sink, setting(s), name, min_ms, max_ms, required,
			   out_ns);
}

static const struct fo_conf *api_conf_child(struct fo_mod *self, const struct fo_conf *s,
					    const char *name)
{
	return (const struct fo_conf *)fod_conf_child(instance(self)->sink, setting(s), name);
}

static unsigned api_conf_length(struct fo_mod *self, const struct fo_conf *s)
{
	(void)self;
	const config_setting_t *c = setting(s);
	return c && (config_setting_is_aggregate(c)) ? (unsigned)config_setting_length(c) : 0;
}

static const struct fo_conf *api_conf_elem(struct fo_mod *self, const struct fo_conf *s, unsigned i)
{
	(void)self;
	const config_setting_t *e = s ? config_setting_get_elem(setting(s), i) : NULL;
	fod_conf_known(e);
	return (const struct fo_conf *)e;
}

static const struct fo_conf *api_conf_parent(struct fo_mod *self, const struct fo_conf *s)
{
	(void)self;
	return s ? (const struct fo_conf *)config_setting_parent(setting(s)) : NULL;
}

static void api_conf_error(struct fo_mod *self, const struct fo_conf *s, const char *fmt,
			   va_list ap)
{
	fod_conf_verror(instance(self)->sink, setting(s), fmt, ap);
}

static struct fo_loop *api_loop_self(struct fo_mod *self)
{
	(void)self;
	return (struct fo_loop *)fod_loop_self();
}

static unsigned api_loop_count(struct fo_mod *self)
{
	(void)self;
	return fod_nloops;
}

static struct fo_loop *api_loop_at(struct fo_mod *self, unsigned i)
{
	(void)self;
	return i < fod_nloops ? (struct fo_loop *)&fod_loops[i] : NULL;
}

/* ---- errmsg: one copy of each distinct text, for the instance's life */

struct fod_errmsgs {
	pthread_mutex_t lock;
	struct fod_strmap map; /* each copy, its own key and value */
};

#define STR_(x) #x
#define STR(x)	STR_(x)
static const char too_many_errmsgs[] =
	"(this module's error text was not kept: over " STR(FO_ERRMSG_DISTINCT) " distinct texts)";

static void errmsgs_free(struct fod_errmsgs *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->map.cap; i++)
		free(e->map.slot[i].val);
	fod_strmap_clear(&e->map);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

/*
 * The kept copy of text (cut to FO_ERRMSG_MAX - 1 bytes): the report keeps
 * the pointer past the module's answer, until the unit is answered, which
 * is before the generation, and so this instance, ends. Called on loops
 * with an error only: a lock per distinct-text lookup, not per call.
 */
static const char *errmsg_keep(struct fod_instance *in, const char *text)
{
	size_t len = strnlen(text, FO_ERRMSG_MAX - 1);
	struct fod_errmsgs *e = __atomic_load_n(&in->errmsgs, __ATOMIC_ACQUIRE);
	if (!e) {
		struct fod_errmsgs *mine = calloc(1, sizeof(*mine));
		if (!mine)
			return "out of memory keeping the module's error text";
		pthread_mutex_init(&mine->lock, NULL);
		if (__atomic_compare_exchange_n(&in->errmsgs, &e, mine, false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			e = mine;
		else
			errmsgs_free(mine); /* another loop was first: e is its table */
	}
	pthread_mutex_lock(&e->lock);
	const char *kept = fod_strmap_get(&e->map, text, len);
	if (!kept && e->map.n >= FO_ERRMSG_DISTINCT) {
		kept = too_many_errmsgs;
	} else if (!kept) {
		char *copy = strndup(text, len);
		if (copy && fod_strmap_add(&e->map, copy, len, copy) == 0) {
			kept = copy;
		} else {
			free(copy);
			kept = "out of memory keeping the module's error text";
		}
	}
	pthread_mutex_unlock(&e->lock);
	return kept;
}

static void api_call_done(struct fo_ds_call *c, int err, const void *value, size_t len,
			  const char *errmsg)
{
	if (errmsg)
		errmsg = errmsg_keep(instance(c->self), errmsg);
	fod_call_done(c, err, value, len, errmsg);
}

/* ---- metrics: the families and series of metrics-module.c */

static int api_metrics_declare(struct fo_mod *self, const struct fo_metric_def *defs, size_t n,
			       struct fo_metric_family **out)
{
	struct fod_instance *in = instance(self);
	char err[256];
	if (!in->sink) {
		fo_log(self, FO_LOG_ERR, "metrics_declare is only for init");
		return -EINVAL;
	}
	struct fo_metric_family **all = realloc(in->families, (in->nfamilies + n) * sizeof(*all));
	if (!all)
		return -ENOMEM;
	in->families = all;
	int r = fod_metrics_module_declare(in->mod.desc->name, defs, n, all + in->nfamilies, err,
					   sizeof(err));
	if (r < 0) {
		fod_conf_error(in->sink, setting(self->conf), "module %s: %s", in->mod.desc->name,
			       err);
		return r;
	}
	memcpy(out, all + in->nfamilies, n * sizeof(*out));
	in->nfamilies += n;
	return 0;
}

static struct fo_metric *api_metric_series(struct fo_mod *self, struct fo_metric_family *f,
					   const char *const *values)
{
	(void)self;
	return fod_metrics_module_series(f, values);
}

static const struct fo_core_api fod_core_api = {
	.size = sizeof(struct fo_core_api),
	.log = api_log,
	.conf_int = api_conf_int,
	.conf_double = api_conf_double,
	.conf_bool = api_conf_bool,
	.conf_string = api_conf_string,
	.conf_ms = api_conf_ms,
	.conf_child = api_conf_child,
	.conf_length = api_conf_length,
	.conf_elem = api_conf_elem,
	.conf_parent = api_conf_parent,
	.conf_error = api_conf_error,
	.loop_self = api_loop_self,
	.loop_count = api_loop_count,
	.loop_at = api_loop_at,
	.timer_start = fod_timer_start,
	.timer_stop = fod_timer_stop,
	.io_start = fod_io_start,
	.io_set = fod_io_set,
	.io_stop = fod_io_stop,
	.post = fod_post,
	.call_done = api_call_done,
	.metrics_declare = api_metrics_declare,
	.metric_series = api_metric_series,
	.metric_add = fod_metrics_module_add,
	.metric_set = fod_metrics_module_set,
	.metric_observe = fod_metrics_module_observe,
};
