/* SPDX-License-Identifier: MIT */
/*
 * The admin socket API (doc/PROTOCOL.md): a Unix stream socket carrying
 * length-framed msgpack maps; one command table with an access level per
 * command (apiconn.h: each subsystem registers its ops), the level taken
 * from the peer's credentials (SO_PEERCRED). Served on loop 0, where reloads
 * happen.
 */
#ifndef FOD_API_H
#define FOD_API_H

#include <stddef.h>

#include "apiconn.h"

/* Binds the socket at path (replacing a stale one); returns the fd or -errno. */
int fod_api_listen(const char *path, const char *mode, const char *group);
/* Starts serving fd on loop 0. */
void fod_api_start(int fd);
/*
 * Serves one connected stream socket fd at a level, as if accepted (the
 * level is given, not taken from its peer's credentials): 0, or -ENOMEM.
 * The connection owns fd from then on.
 */
int fod_api_serve(int fd, enum fod_api_level level);
/* Closes the listener and unlinks the path (shutdown). */
void fod_api_stop(void);
/* Bytes queued for API clients and not yet written (a drain waits for job summaries). */
size_t fod_api_unsent(void);

#ifdef FOD_FUZZING
void fod_api_fuzz_feed(const char *data, size_t len);
#endif

#endif
