/* SPDX-License-Identifier: MIT */
/* Numeric command-line options read whole and range-checked (options.h). */
#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

const char *opt_program = "fanoutd-tool";

_Noreturn void opt_bad(const char *name, const char *arg, const char *what)
{
	fprintf(stderr, "%s: %s%s '%s': %s\n", opt_program, name[0] && name[1] ? "--" : "-", name,
		arg, what);
	exit(2);
}

long long opt_int(const char *name, const char *arg, long long lo, long long hi)
{
	char *end = NULL;
	long long v = 0;
	bool ok = false;
	if (isdigit((unsigned char)arg[0]) || (arg[0] == '-' && isdigit((unsigned char)arg[1]))) {
		errno = 0;
		v = strtoll(arg, &end, 10);
		ok = !*end && errno != ERANGE && v >= lo && v <= hi;
	}
	if (!ok) {
		char what[96];
		snprintf(what, sizeof(what), "not an integer from %lld to %lld", lo, hi);
		opt_bad(name, arg, what);
	}
	return v;
}

uint64_t opt_u64(const char *name, const char *arg, uint64_t lo, uint64_t hi)
{
	char *end = NULL;
	unsigned long long v = 0;
	bool ok = false;
	/* strtoull would take "-5" as 2^64-5 and skip blanks and a '+': a digit must lead. */
	if (isdigit((unsigned char)arg[0])) {
		errno = 0;
		v = strtoull(arg, &end, 10);
		ok = !*end && errno != ERANGE && v >= lo && v <= hi;
	}
	if (!ok) {
		char what[96];
		snprintf(what, sizeof(what), "not an integer from %" PRIu64 " to %" PRIu64, lo, hi);
		opt_bad(name, arg, what);
	}
	return v;
}

double opt_real(const char *name, const char *arg, double lo, double hi)
{
	char *end = NULL;
	double v = NAN;
	/* strtod skips leading blanks and reads "nan" and "inf": neither is a number here. */
	if (*arg && !isspace((unsigned char)*arg)) {
		errno = 0;
		v = strtod(arg, &end);
		if (*end || errno == ERANGE)
			v = NAN;
	}
	if (!(v >= lo && v <= hi)) {
		char what[96];
		snprintf(what, sizeof(what), "not a number from %.15g to %.15g", lo, hi);
		opt_bad(name, arg, what);
	}
	return v;
}

int64_t opt_ms(const char *name, const char *arg, double lo, double hi)
{
	return (int64_t)llround(opt_real(name, arg, lo, hi) * 1e6);
}
