/* SPDX-License-Identifier: MIT */
/*
 * Scope-exit cleanup (GCC and clang's cleanup attribute, as systemd uses it):
 * a variable declared with _cleanup_(f) has f(&var) run when it goes out of
 * scope, so each early return frees what was built so far instead of a
 * ladder of frees copied at every exit. Setting the variable to NULL hands
 * the value on (f must ignore NULL).
 */
#ifndef FOD_CLEANUP_H
#define FOD_CLEANUP_H

#define _cleanup_(f) __attribute__((cleanup(f)))

#endif
