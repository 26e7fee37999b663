/* SPDX-License-Identifier: MIT */
/*
 * The daemon's run state, with one owner: the operator's drain (new requests
 * and jobs refused while work in flight ends), reloads (a new configuration
 * generation, or the refusal's file:line) and the graceful shutdown (every
 * subsystem drained, then the loops stopped). Signals (main.c) and the admin
 * socket's ops (`status`, `drain`, `reload`, `shutdown`, registered here)
 * both come through these functions. All of it runs on loop 0, except
 * fod_control_draining(), which any loop may read.
 */
#ifndef FOD_CONTROL_H
#define FOD_CONTROL_H

#include <stdbool.h>
#include <stddef.h>

struct fod_gen;
struct fod_overrides;

/*
 * What control.c asks of the HTTP side (http.c and the gateway), given by
 * main.c: control.c does not link them, so the socket API, the job engine
 * and control.c link without the HTTP server (tests/unit/api.test). Without
 * it (NULL) there is no HTTP work to wait for.
 */
struct fod_control_http {
	long (*requests_in_flight)(void); /* gateway units running */
	long (*answering)(void);	  /* requests from first byte to last answer byte */
	void (*drain)(void);	 /* stop accepting; answer what is in progress, then close */
	void (*expire)(void);	 /* drain time over: what is in progress is answered 503 */
	void (*close_all)(void); /* the loops stop: close every connection left */
};

/*
 * At start, once the first generation is built: where reloads read the
 * configuration (path and overrides are kept, not copied), whether -v forces
 * debug logging over log_level (applied now, and at every reload), and the
 * settings that apply only at start (a reload that changes one says so),
 * and the HTTP side's hooks (kept, not copied). Registers the control ops in
 * the admin socket's command table: 0 or -errno.
 */
int fod_control_init(const char *config_path, const struct fod_overrides *ov, bool verbose,
		     const struct fod_gen *first, const struct fod_control_http *http);
/* Frees what fod_control_init kept. */
void fod_control_free(void);

/* systemd's STATUS= line: what ("serving", "reloaded"), the generation, connections, requests. */
void fod_control_notify(const char *what);

/* Operator drain (`fanoutctl drain`): new requests and jobs are refused (503 / busy). */
bool fod_control_draining(void);
void fod_control_set_draining(bool on);
/* A shutdown has begun (it is never undone). */
bool fod_control_stopping(void);

/*
 * A synchronous reload: 0 with note holding the settings it changed that
 * apply only at start ("" when none), or -EINVAL with note holding why it
 * was refused (the running generation is kept).
 */
int fod_control_reload(char *note, size_t len);
/* Begins a graceful shutdown, as SIGTERM does (once: later calls do nothing). */
void fod_control_shutdown(void);

#endif
