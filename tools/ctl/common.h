/* SPDX-License-Identifier: MIT */
/*
 * What every fanoutctl command shares: the socket, frames (their msgpack
 * layer is common/mp.h, shared with fanoutd and fanout-gen), one
 * request-reply call, and printing a reply's data (JSON or tables).
 */
#ifndef CTL_COMMON_H
#define CTL_COMMON_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdio.h>

#include "mp.h"

#define CTL_DEFAULT_SOCKET "/run/fanoutd/fanoutd.sock"
#ifndef FOD_SYSCONFDIR
#define FOD_SYSCONFDIR "/etc"
#endif
#define CTL_DEFAULT_CONFIG FOD_SYSCONFDIR "/fanoutd.conf"

/* Exit statuses (fanoutctl(8)). */
enum { CTL_OK = 0, CTL_FAILED = 1, CTL_USAGE = 2, CTL_UNREACHABLE = 3 };

/* The request being built: msgpack_pack_map(&req->pk, n) then members. */
struct ctl_req {
	msgpack_sbuffer buf;
	msgpack_packer pk;
};
void ctl_req_init(struct ctl_req *r, const char *op, size_t nargs);
void ctl_req_free(struct ctl_req *r);

struct ctl_reply {
	char *raw;
	msgpack_unpacked u;
	long long status;
	char msg[1024];
	const msgpack_object *data;
};
/* Decodes one reply frame (raw is taken over); 0, or -1 if it is not a reply map. */
int ctl_reply_parse(char *raw, size_t len, struct ctl_reply *r);
void ctl_reply_free(struct ctl_reply *r);

/* A connected blocking socket, or -errno. */
int ctl_connect(const char *path);
int ctl_full_io(int fd, void *buf, size_t len, bool writing);
int ctl_send(int fd, const struct ctl_req *req);
/* Reads one frame (malloc'd into *out); its length, or -1. */
long ctl_recv(int fd, char **out);
/* connect + send + one reply; CTL_OK or CTL_UNREACHABLE (message printed). */
int ctl_call(const char *path, const struct ctl_req *req, struct ctl_reply *rep);

void ctl_json(FILE *f, const msgpack_object *o);
void ctl_json_str(FILE *f, const char *s);

/* A growable byte buffer. */
struct ctl_buf {
	char *p;
	size_t len, cap;
};
/*
 * Checks that [p, p + n) is one JSON value (RFC 8259, UTF-8) and puts it in
 * out without insignificant whitespace (so it fits on one line); 0, or -1 if
 * it is not JSON.
 */
int ctl_json_compact(const char *p, size_t n, struct ctl_buf *out);
/* A branch value: embedded as JSON when its bytes are JSON, else as ctl_json() writes it. */
void ctl_json_value(FILE *f, const msgpack_object *o, struct ctl_buf *scratch);
void ctl_scalar(const msgpack_object *o, char *buf, size_t len);
/* A map: "key value" lines. An array of maps: a table with a header row. */
void ctl_human(FILE *f, const msgpack_object *o);

int ctl_submit(const char *path, int argc, char **argv);
struct ctl_conf;
/* conf: branch deadlines percentiles are capped at (may be empty). */
int ctl_top(const char *path, const struct ctl_conf *conf, bool json, int argc, char **argv);

#endif
