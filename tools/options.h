/* SPDX-License-Identifier: MIT */
/*
 * Numeric command-line options for the tools (fanout-gen, fanout-load,
 * fo-bench, fo-demo, sim-model): each value is read whole and checked
 * against its range. A bad one exits 2 with one line naming the program,
 * the option, the value and what it takes, e.g.
 *   fanout-load: --rate 'abc': not a number from 0.001 to 1000000
 * (strtoull and strtod alone read "abc" as 0, "10x" as 10 and "-5" as 2^64-5,
 * silently).
 *
 * NAME is the option without its dashes: "rate" prints as --rate, "n" as -n.
 */
#ifndef FANOUTD_TOOLS_OPTIONS_H
#define FANOUTD_TOOLS_OPTIONS_H

#include <stdint.h>

/* Set by main before reading options: the prefix of every message. */
extern const char *opt_program;

/* Prints "PROGRAM: --NAME 'ARG': WHAT" and exits 2. */
_Noreturn void opt_bad(const char *name, const char *arg, const char *what);

/* A decimal integer in [lo, hi]. */
long long opt_int(const char *name, const char *arg, long long lo, long long hi);

/* A decimal unsigned integer in [lo, hi]: no sign, no blank, no exponent. */
uint64_t opt_u64(const char *name, const char *arg, uint64_t lo, uint64_t hi);

/* A finite number in [lo, hi] (no "nan", "inf" or leading blank). */
double opt_real(const char *name, const char *arg, double lo, double hi);

/* Milliseconds in [lo, hi], fractions allowed, as nanoseconds. */
int64_t opt_ms(const char *name, const char *arg, double lo, double hi);

#endif
