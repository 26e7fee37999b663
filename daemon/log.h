/* SPDX-License-Identifier: MIT */
/*
 * One line per message on stderr with an sd-daemon <N> priority prefix
 * (journald adds time), and the routes' access logs (fanoutd.conf(5),
 * access_log): to stderr or to a file that SIGUSR1 and reloads reopen.
 */
#ifndef FOD_LOG_H
#define FOD_LOG_H

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>

#include "fanoutd/module.h"

void fod_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Logs (with %m meaning strerror(-r)) and returns r: `return log_errno(r, "...: %m")`. */
int fod_log_errno(int r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_errno(r, ...) fod_log_errno((r), __VA_ARGS__)

#define log_err(...)	fod_log(FO_LOG_ERR, __VA_ARGS__)
#define log_warn(...)	fod_log(FO_LOG_WARNING, __VA_ARGS__)
#define log_notice(...) fod_log(FO_LOG_NOTICE, __VA_ARGS__)
#define log_info(...)	fod_log(FO_LOG_INFO, __VA_ARGS__)
#define log_debug(...)	fod_log(FO_LOG_DEBUG, __VA_ARGS__)

/*
 * Messages at this priority or more urgent are written (default: info).
 * Set on loop 0 (startup, reload) while every thread logs.
 */
void fod_log_set_level(int level);
/* Whether a message at prio would be written: skip building costly debug text otherwise. */
bool fod_log_enabled(int prio);
/* "err", "warning", "notice", "info" or "debug": the FO_LOG_ level, or -EINVAL. */
int fod_log_level_parse(const char *name);

/*
 * Access logs. A route's access_log is "stderr" or a file path; files are
 * opened on first use, shared by every route naming the same path, appended
 * to one whole line per write, and never closed while the daemon runs.
 * Writes a line (without its newline) to the access log at path; a file that
 * cannot be opened is reported once per (re)open and its lines are dropped.
 */
void fod_access_log_write(const char *path, const char *line, size_t len);
/* SIGUSR1 and reloads: every access log file is opened again by path (after a rotation). */
void fod_access_log_reopen(void);

#endif
