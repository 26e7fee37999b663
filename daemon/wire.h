/* SPDX-License-Identifier: MIT */
/*
 * The socket API's wire format (doc/PROTOCOL.md): frame bounds, reply
 * statuses, the argument readers every op handler and the job engine share,
 * and the frame pre-scan (packing and member lookup: common/mp.h, shared with
 * fanoutctl and fanout-gen).
 */
#ifndef FOD_WIRE_H
#define FOD_WIRE_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

#include "mp.h"

#define FOD_MAX_DEPTH	 8
#define FOD_MAX_ELEMENTS 1024

enum fod_status {
	FOD_ST_OK,
	FOD_ST_BAD_REQUEST,
	FOD_ST_UNKNOWN_OP,
	FOD_ST_FORBIDDEN,
	FOD_ST_BUSY,
	FOD_ST_INTERNAL,
	FOD_ST_CANCELLED, /* a job ended early (job.cancel, shutdown); data holds its summary */
};

/*
 * A string member copied into out (NUL-terminated): 1; 0 when absent or nil
 * (out untouched); -EINVAL when not a string, -ENAMETOOLONG when it does not
 * fit in len bytes. A present but unusable argument is the caller's error to
 * report, never a reason to fall back to a default.
 */
int fod_mp_arg_str(const msgpack_object *map, const char *key, char *out, size_t len);
/* What was wrong with a string argument, from fod_mp_arg_str's result: "missing", ... */
const char *fod_mp_str_problem(int r);
/*
 * An unsigned member in [min, max]: 1 and *out set; 0 when absent (*out
 * untouched); -1 when present but not such an integer.
 */
int fod_mp_arg_uint(const msgpack_object *map, const char *key, uint64_t min, uint64_t max,
		    uint64_t *out);
/* A boolean member: as fod_mp_arg_uint. */
int fod_mp_arg_bool(const msgpack_object *map, const char *key, bool *out);
/*
 * Checks a frame before msgpack-c decodes it: exactly one well-formed value
 * whose lengths fit the frame, nested at most FOD_MAX_DEPTH containers deep,
 * at most FOD_MAX_ELEMENTS array/map elements in all.
 */
enum fod_scan { FOD_SCAN_OK, FOD_SCAN_MALFORMED, FOD_SCAN_TOO_BIG };
enum fod_scan fod_mp_prescan(const char *frame, size_t len);

/* A reply {status, msg, data} being built: pack data after begin (or nothing: nil). */
struct fod_reply {
	msgpack_sbuffer buf;
	msgpack_packer pk;
	bool failed; /* a write found no memory: the reply is cut, not to be sent */
};
msgpack_packer *fod_reply_begin(struct fod_reply *r, enum fod_status st, const char *msg);
/*
 * The reply's bytes: what was packed, or, when packing ran out of memory,
 * a fixed {status: internal, msg: "out of memory"} instead of a cut frame.
 */
const char *fod_reply_bytes(const struct fod_reply *r, size_t *len);

#endif
