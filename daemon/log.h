/* SPDX-License-Identifier: MIT */
/* One line per message on stderr with an sd-daemon <N> priority prefix (journald adds time). */
#ifndef FOD_LOG_H
#define FOD_LOG_H

#include <errno.h>

#include "fanoutd/module.h"

void fo_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Logs (with %m meaning strerror(-r)) and returns r: `return fo_log_errno(r, "...")`. */
int fo_log_errno_internal(int r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define fo_log_errno(r, ...) fo_log_errno_internal((r), __VA_ARGS__)

#define log_err(...)	fo_log(FO_LOG_ERR, __VA_ARGS__)
#define log_warn(...)	fo_log(FO_LOG_WARNING, __VA_ARGS__)
#define log_notice(...) fo_log(FO_LOG_NOTICE, __VA_ARGS__)
#define log_info(...)	fo_log(FO_LOG_INFO, __VA_ARGS__)
#define log_debug(...)	fo_log(FO_LOG_DEBUG, __VA_ARGS__)

/* Messages at this priority or more urgent are written (default: info). */
extern int fo_log_level;

#endif
