/* SPDX-License-Identifier: MIT */
/* One line per message on stderr with an sd-daemon <N> priority prefix (journald adds time). */
#ifndef FOD_LOG_H
#define FOD_LOG_H

#include <errno.h>
#include <stdarg.h>

#include "fanoutd/module.h"

void fod_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fod_vlog(int prio, const char *fmt, va_list ap);
/* Logs (with %m meaning strerror(-r)) and returns r: `return log_errno(r, "...: %m")`. */
int fod_log_errno(int r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_errno(r, ...) fod_log_errno((r), __VA_ARGS__)

#define log_err(...)	fod_log(FO_LOG_ERR, __VA_ARGS__)
#define log_warn(...)	fod_log(FO_LOG_WARNING, __VA_ARGS__)
#define log_notice(...) fod_log(FO_LOG_NOTICE, __VA_ARGS__)
#define log_info(...)	fod_log(FO_LOG_INFO, __VA_ARGS__)
#define log_debug(...)	fod_log(FO_LOG_DEBUG, __VA_ARGS__)

/* Messages at this priority or more urgent are written (default: info). */
extern int fod_log_level;

#endif
