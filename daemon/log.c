/* SPDX-License-Identifier: MIT */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int fod_log_level = FO_LOG_INFO;

static void vlog(int prio, int err, const char *fmt, va_list ap)
{
	if (prio > fod_log_level)
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

void fod_vlog(int prio, const char *fmt, va_list ap)
{
	vlog(prio, errno, fmt, ap);
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
