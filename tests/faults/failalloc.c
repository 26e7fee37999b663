/* SPDX-License-Identifier: MIT */
/*
 * failalloc.so: fails one allocation at a time inside the daemon's fault
 * windows, for tests/integration/failalloc.sh. Loaded with LD_PRELOAD; it
 * defines the window hooks daemon/faults.h declares weak, so the daemon
 * tells it when a generation build or a job.open starts and ends.
 *
 * The walk: the windows named by FAILALLOC_WINDOW are numbered; the first
 * FAILALLOC_FROM of them (the start's build, a warm-up) only count. In the
 * next one the 1st allocation its thread makes fails (the FAILALLOC_N-th if
 * set: `fanoutd -t` under the shim reproduces one case), in the one after the
 * 2nd, and so on, until a window makes fewer allocations than its number:
 * then every allocation of the operation has been failed once and the walk
 * is done. Each window appends a line to FAILALLOC_LOG:
 *
 *   window gen 7 n=5 allocs=212 failed=malloc(24) from gen.c... result=-1 live=0
 *   window gen 300 n=298 allocs=212 failed=none result=0 live=57 done
 *
 * live: what the window allocated and has not freed when it closes (a
 * refused build must leave nothing behind). Allocations whose caller is in
 * an object named in FAILALLOC_SKIP (substrings, comma-separated) are not
 * counted: libconfig 1.5 cannot survive an allocation failure (config_init
 * dereferences an unchecked calloc, its flex scanner exits the process), so
 * its allocations are not walked (doc/FINDINGS.md).
 *
 * Under ASan the shim sits in front of ASan's allocator
 * (ASAN_OPTIONS=verify_asan_link_order=0): what it lets through is ASan's,
 * so LeakSanitizer still sees every leak. Only the window's own thread
 * counts; other threads' allocations pass untouched.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "faults.h"

#define EXPORT __attribute__((visibility("default")))

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static char *(*real_strdup)(const char *);
static char *(*real_strndup)(const char *, size_t);
static int (*real_posix_memalign)(void **, size_t, size_t);

/* dlsym may allocate before the real functions are known: served from here, never freed. */
static _Alignas(16) char early[4096];
static size_t early_used;

static void *early_alloc(size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (early_used + n > sizeof(early))
		return NULL;
	void *p = early + early_used;
	early_used += n;
	return p;
}

static bool is_early(const void *p)
{
	return (const char *)p >= early && (const char *)p < early + sizeof(early);
}

#define TLS __thread __attribute__((tls_model("initial-exec")))
static TLS int depth;	   /* inside one of ours: nested calls pass through */
static TLS bool in_window; /* this thread is in a window being walked or counted */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static volatile int tracking; /* a window is open: frees are looked up */

/*
 * The walk's state (under lock). Windows must not overlap: the daemon
 * serialises builds and job.opens, but two loops may start requests at
 * once, so the request walk needs a client that sends one at a time (as
 * failalloc.sh's does).
 */
static char want[64], skip[256], logpath[512];
static long from, seen, next_n = 1;
static bool done;
static long target, count;
static char failed[512]; /* fn(size) from where<beyond: room for both descriptions */
enum { LIVE_CAP = 1 << 16 };
static void *live[LIVE_CAP];
static const void *live_from[LIVE_CAP];
static size_t nlive;
static bool live_overflow;

static bool under_asan;

static void resolve(void)
{
	static bool resolving;
	if (real_malloc || resolving)
		return;
	resolving = true;
	real_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
	real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
	real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
	real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
	real_strdup = (char *(*)(const char *))dlsym(RTLD_NEXT, "strdup");
	real_strndup = (char *(*)(const char *, size_t))dlsym(RTLD_NEXT, "strndup");
	real_posix_memalign = (int (*)(void **, size_t, size_t))dlsym(RTLD_NEXT, "posix_memalign");
	resolving = false;
}

__attribute__((constructor)) static void init(void)
{
	resolve();
	const char *s;
	if ((s = getenv("FAILALLOC_WINDOW")))
		snprintf(want, sizeof(want), "%s", s);
	if ((s = getenv("FAILALLOC_SKIP")))
		snprintf(skip, sizeof(skip), "%s", s);
	if ((s = getenv("FAILALLOC_LOG")))
		snprintf(logpath, sizeof(logpath), "%s", s);
	if ((s = getenv("FAILALLOC_FROM")))
		from = strtol(s, NULL, 10);
	if ((s = getenv("FAILALLOC_N"))) /* start the walk there: one run reproduces one N */
		next_n = strtol(s, NULL, 10);
	/*
	 * backtrace() loads its unwinder (a dlopen) at its first call: here, not
	 * inside a window. Not under ASan: LeakSanitizer takes that dlopen's
	 * blocks for leaks, and there the leak check matters, not the naming.
	 */
	under_asan = dlsym(RTLD_DEFAULT, "__asan_init") != NULL;
	if (!under_asan) {
		void *frames[2];
		depth++;
		backtrace(frames, 2);
		depth--;
	}
}

/* "gen.c:fod_gen_build+0x1f" style: the object's base name and the nearest symbol. */
static void describe(const void *addr, char *out, size_t len)
{
	Dl_info di;
	if (!dladdr(addr, &di) || !di.dli_fname) {
		snprintf(out, len, "%p", addr);
		return;
	}
	const char *obj = strrchr(di.dli_fname, '/');
	obj = obj ? obj + 1 : di.dli_fname;
	if (di.dli_sname)
		snprintf(out, len, "%s:%s+%#lx", obj, di.dli_sname,
			 (unsigned long)((const char *)addr - (const char *)di.dli_saddr));
	else
		snprintf(out, len, "%s+%#lx", obj,
			 (unsigned long)((const char *)addr - (const char *)di.dli_fbase));
}

static bool skipped_caller(const void *caller)
{
	if (!skip[0])
		return false;
	Dl_info di;
	if (!dladdr(caller, &di) || !di.dli_fname)
		return false;
	char list[sizeof(skip)];
	snprintf(list, sizeof(list), "%s", skip);
	char *save = NULL;
	for (char *w = strtok_r(list, ",", &save); w; w = strtok_r(NULL, ",", &save))
		if (strstr(di.dli_fname, w))
			return true;
	return false;
}

/* Whether this allocation (by fn, of size, for caller) is the one to fail. */
static bool should_fail(const char *fn, size_t size, const void *caller)
{
	if (!in_window || depth > 0 || skipped_caller(caller))
		return false;
	pthread_mutex_lock(&lock);
	bool fail = ++count == target;
	if (fail) {
		/* Who asked: the caller, and when that is libc, the first caller beyond it. */
		char where[200], beyond[200] = "";
		describe(caller, where, sizeof(where));
		void *frames[12];
		depth++;
		int n = under_asan ? 0 : backtrace(frames, 12);
		for (int i = 1; i < n && strstr(where, "libc.so") && !beyond[0]; i++) {
			Dl_info di;
			if (dladdr(frames[i], &di) && di.dli_fname &&
			    !strstr(di.dli_fname, "libc.so") && !strstr(di.dli_fname, "failalloc"))
				describe(frames[i], beyond, sizeof(beyond));
		}
		depth--;
		snprintf(failed, sizeof(failed), "%s(%zu) from %s%s%s", fn, size, where,
			 beyond[0] ? "<" : "", beyond);
	}
	pthread_mutex_unlock(&lock);
	return fail;
}

static void track(void *p, const void *caller)
{
	if (!p || !in_window || depth > 0)
		return;
	pthread_mutex_lock(&lock);
	if (nlive < LIVE_CAP) {
		live[nlive] = p;
		live_from[nlive++] = caller;
	} else {
		live_overflow = true;
	}
	pthread_mutex_unlock(&lock);
}

/* Forgets p if the window allocated it; returns where it was allocated from, or NULL. */
static const void *untrack(void *p)
{
	if (!p || !tracking)
		return NULL;
	const void *from_ = NULL;
	pthread_mutex_lock(&lock);
	for (size_t i = nlive; i-- > 0;)
		if (live[i] == p) {
			from_ = live_from[i];
			live[i] = live[--nlive];
			live_from[i] = live_from[nlive];
			break;
		}
	pthread_mutex_unlock(&lock);
	return from_;
}

EXPORT void *malloc(size_t n)
{
	if (!real_malloc) {
		resolve();
		if (!real_malloc)
			return early_alloc(n);
	}
	const void *caller = __builtin_return_address(0);
	if (should_fail("malloc", n, caller)) {
		errno = ENOMEM;
		return NULL;
	}
	depth++;
	void *p = real_malloc(n);
	depth--;
	track(p, caller);
	return p;
}

EXPORT void *calloc(size_t n, size_t size)
{
	if (!real_calloc) {
		resolve();
		if (!real_calloc) {
			void *p = early_alloc(n * size);
			return p; /* static storage: already zero */
		}
	}
	const void *caller = __builtin_return_address(0);
	if (should_fail("calloc", n * size, caller)) {
		errno = ENOMEM;
		return NULL;
	}
	depth++;
	void *p = real_calloc(n, size);
	depth--;
	track(p, caller);
	return p;
}

EXPORT void *realloc(void *old, size_t n)
{
	if (is_early(old)) {
		void *p = malloc(n);
		if (p)
			memcpy(p, old,
			       (size_t)(early + sizeof(early) - (char *)old) < n
				       ? (size_t)(early + sizeof(early) - (char *)old)
				       : n);
		return p;
	}
	resolve();
	const void *caller = __builtin_return_address(0);
	if (n && should_fail("realloc", n, caller)) {
		errno = ENOMEM;
		return NULL;
	}
	const void *was = untrack(old);
	depth++;
	void *p = real_realloc(old, n);
	depth--;
	if (!p && n && was) /* the old block stays, and stays the window's */
		track(old, was);
	else if (was || !old) /* a block from before the window, grown, is still not the window's */
		track(p, was ? was : caller);
	return p;
}

EXPORT void *reallocarray(void *old, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(old, n * size);
}

EXPORT void free(void *p)
{
	if (!p || is_early(p))
		return;
	untrack(p);
	resolve();
	real_free(p);
}

/* strdup and __strdup: the copy, or NULL when this allocation is the one to fail. */
static char *dup_or_fail(const char *fn, const char *s, const void *caller)
{
	resolve();
	if (should_fail(fn, strlen(s) + 1, caller)) {
		errno = ENOMEM;
		return NULL;
	}
	depth++;
	char *p = real_strdup(s);
	depth--;
	track(p, caller);
	return p;
}

EXPORT char *strdup(const char *s)
{
	return dup_or_fail("strdup", s, __builtin_return_address(0));
}

/* What strdup() compiled against old glibc headers calls (libconfig 1.5 does). */
EXPORT char *__strdup(const char *s);
EXPORT char *__strdup(const char *s)
{
	return dup_or_fail("__strdup", s, __builtin_return_address(0));
}

EXPORT char *strndup(const char *s, size_t n)
{
	resolve();
	const void *caller = __builtin_return_address(0);
	if (should_fail("strndup", strnlen(s, n) + 1, caller)) {
		errno = ENOMEM;
		return NULL;
	}
	depth++;
	char *p = real_strndup(s, n);
	depth--;
	track(p, caller);
	return p;
}

EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
	resolve();
	const void *caller = __builtin_return_address(0);
	if (should_fail("posix_memalign", n, caller))
		return ENOMEM;
	depth++;
	int r = real_posix_memalign(out, align, n);
	depth--;
	if (r == 0)
		track(*out, caller);
	return r;
}

/* ---- the windows (daemon/faults.h) */

static void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_line(const char *fmt, ...)
{
	if (!logpath[0])
		return;
	char line[2048];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	FILE *f = fopen(logpath, "ae");
	if (!f)
		return;
	fwrite(line, 1, n < (int)sizeof(line) ? (size_t)n : sizeof(line) - 1, f);
	fclose(f);
}

EXPORT void fod_fault_window_open(const char *what)
{
	if (strcmp(what, want) != 0)
		return;
	pthread_mutex_lock(&lock);
	seen++;
	count = 0;
	failed[0] = '\0';
	target = seen > from && !done ? next_n++ : 0;
	nlive = 0;
	live_overflow = false;
	tracking = 1;
	pthread_mutex_unlock(&lock);
	in_window = true;
}

EXPORT void fod_fault_window_close(const char *what, int result)
{
	if (!in_window || strcmp(what, want) != 0)
		return;
	in_window = false;
	depth++; /* what is said here is not the window's */
	pthread_mutex_lock(&lock);
	tracking = 0;
	bool walked = target > 0;
	if (walked && count < target)
		done = true;
	/* Where the live ones were allocated: every one when they are few (a refused build's). */
	enum { SHOWN = 32 };
	char where[SHOWN * 64] = "";
	size_t at = 0;
	for (size_t i = 0; i < nlive && i < (nlive <= SHOWN ? SHOWN : 3); i++) {
		char one[200];
		describe(live_from[i], one, sizeof(one));
		if (at < sizeof(where))
			at += (size_t)snprintf(where + at, sizeof(where) - at, "%s%s", i ? " " : "",
					       one);
	}
	long n = target, allocs = count, lives = (long)nlive, w = seen;
	char f[sizeof(failed)];
	snprintf(f, sizeof(f), "%s", failed[0] ? failed : "none");
	bool over = live_overflow, finished = walked && done;
	pthread_mutex_unlock(&lock);
	log_line("window %s %ld n=%ld allocs=%ld failed=%s result=%d live=%ld%s [%s]%s\n", what, w,
		 n, allocs, f, result, lives, over ? "+" : "", where, finished ? " done" : "");
	depth--;
}
