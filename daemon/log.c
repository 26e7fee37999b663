/* SPDX-License-Identifier: MIT */
#include "log.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Read and written with relaxed atomics: set on loop 0 while every thread logs. */
static int fod_log_level = FO_LOG_INFO;

void fod_log_set_level(int level)
{
	__atomic_store_n(&fod_log_level, level, __ATOMIC_RELAXED);
}

bool fod_log_enabled(int prio)
{
	return prio <= __atomic_load_n(&fod_log_level, __ATOMIC_RELAXED);
}

int fod_log_level_parse(const char *name)
{
	static const struct {
		const char *name;
		int level;
	} levels[] = {{"err", FO_LOG_ERR},
		      {"warning", FO_LOG_WARNING},
		      {"notice", FO_LOG_NOTICE},
		      {"info", FO_LOG_INFO},
		      {"debug", FO_LOG_DEBUG}};
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (strcmp(name, levels[i].name) == 0)
			return levels[i].level;
	return -EINVAL;
}

static void vlog(int prio, int err, const char *fmt, va_list ap)
{
	if (!fod_log_enabled(prio))
		return;
	/* One write per line, so lines from several threads never interleave. */
	char line[1024];
	int n = snprintf(line, sizeof(line), "<%d>", prio);
	errno = err;
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	fwrite(line, 1, (size_t)n, stderr);
}

void fod_log(int prio, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(prio, errno, fmt, ap);
	va_end(ap);
}

int fod_log_errno(int r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(FO_LOG_ERR, r < 0 ? -r : r, fmt, ap);
	va_end(ap);
	return r;
}

/* ---- access logs */

struct access_file {
	char *path;
	int fd; /* -1: could not be opened (said once); retried at the next reopen */
};

/* Few paths (one per distinct access_log): a list searched under the lock is enough. */
static pthread_mutex_t access_lock = PTHREAD_MUTEX_INITIALIZER;
static struct access_file *access_files;
static size_t naccess_files;

static int open_access_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		log_err("cannot open the access log %s: %m: its lines are dropped until SIGUSR1 "
			"or a reload",
			path);
	return fd;
}

/* The file's descriptor, opened on first use; under access_lock. */
static int access_fd(const char *path)
{
	for (size_t i = 0; i < naccess_files; i++)
		if (strcmp(access_files[i].path, path) == 0)
			return access_files[i].fd;
	struct access_file *a = realloc(access_files, (naccess_files + 1) * sizeof(*a));
	if (!a)
		return -1;
	access_files = a;
	char *copy = strdup(path);
	if (!copy)
		return -1;
	access_files[naccess_files] = (struct access_file){copy, open_access_file(path)};
	return access_files[naccess_files++].fd;
}

void fod_access_log_write(const char *path, const char *line, size_t len)
{
	char *out = malloc(len + 5);
	if (!out)
		return;
	size_t n = 0;
	bool to_stderr = strcmp(path, "stderr") == 0;
	if (to_stderr) {
		/* journald reads the priority prefix: access lines are info. */
		memcpy(out, "<6>", 3);
		n = 3;
	}
	memcpy(out + n, line, len);
	n += len;
	out[n++] = '\n';
	if (to_stderr) {
		fwrite(out, 1, n, stderr);
	} else {
		/*
		 * Written under the lock: a reopen swaps the descriptor under it, and
		 * one write(2) per line with O_APPEND keeps lines whole.
		 */
		pthread_mutex_lock(&access_lock);
		int fd = access_fd(path);
		if (fd >= 0) {
			ssize_t w = write(fd, out, n);
			(void)w; /* a full disk must not stop the answers */
		}
		pthread_mutex_unlock(&access_lock);
	}
	free(out);
}

void fod_access_log_reopen(void)
{
	pthread_mutex_lock(&access_lock);
	for (size_t i = 0; i < naccess_files; i++) {
		struct access_file *a = &access_files[i];
		int fd = open_access_file(a->path);
		if (fd < 0)
			continue; /* the old file (if any) keeps the lines */
		if (a->fd >= 0)
			close(a->fd);
		a->fd = fd;
	}
	size_t n = naccess_files;
	pthread_mutex_unlock(&access_lock);
	fod_log(n ? FO_LOG_INFO : FO_LOG_DEBUG, "access logs reopened (%zu files)", n);
}
