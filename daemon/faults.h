/* SPDX-License-Identifier: MIT */
/*
 * Fault-injection windows: the operations that must survive any one failed
 * allocation (a generation build, a job.open, the start of an HTTP request)
 * say where they start and end.
 * Nothing in fanoutd defines these hooks: tests/faults/failalloc.so, loaded
 * with LD_PRELOAD by tests/integration/failalloc.sh, does, and fails one
 * allocation of the window's thread at a time. Weak, so a normal run pays a
 * test of a null pointer.
 */
#ifndef FOD_FAULTS_H
#define FOD_FAULTS_H

void fod_fault_window_open(const char *what) __attribute__((weak));
/* result: 0 when the operation succeeded, -errno when it was refused. */
void fod_fault_window_close(const char *what, int result) __attribute__((weak));

static inline void fod_fault_open(const char *what)
{
	if (fod_fault_window_open)
		fod_fault_window_open(what);
}

static inline void fod_fault_close(const char *what, int result)
{
	if (fod_fault_window_close)
		fod_fault_window_close(what, result);
}

#endif
