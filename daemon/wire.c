/* SPDX-License-Identifier: MIT */
#include "wire.h"

#include <errno.h>
#include <string.h>

int fod_mp_arg_str(const msgpack_object *map, const char *key, char *out, size_t len)
{
	const msgpack_object *v = mp_member(map, key);
	if (!v || v->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (v->type != MSGPACK_OBJECT_STR)
		return -EINVAL;
	if (v->via.str.size >= len)
		return -ENAMETOOLONG;
	memcpy(out, v->via.str.ptr, v->via.str.size);
	out[v->via.str.size] = '\0';
	return 1;
}

const char *fod_mp_str_problem(int r)
{
	return r == -ENAMETOOLONG ? "too long" : r == -EINVAL ? "not a string" : "missing";
}

int fod_mp_arg_uint(const msgpack_object *map, const char *key, uint64_t min, uint64_t max,
		    uint64_t *out)
{
	const msgpack_object *v = mp_member(map, key);
	if (!v || v->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER || v->via.u64 < min || v->via.u64 > max)
		return -1;
	*out = v->via.u64;
	return 1;
}

int fod_mp_arg_bool(const msgpack_object *map, const char *key, bool *out)
{
	const msgpack_object *v = mp_member(map, key);
	if (!v || v->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (v->type != MSGPACK_OBJECT_BOOLEAN)
		return -1;
	*out = v->via.boolean;
	return 1;
}

static uint64_t be_uint(const unsigned char *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/*
 * msgpack-c allocates a container's whole element array from its header
 * before reading a single element, so a 6-byte frame claiming a map of
 * 2^31 entries would ask for gigabytes (found by tests/fuzz). The C API has
 * no limits, so frames are walked first, header by header, without decoding
 * anything: every length must fit in what is left of the frame, and depth
 * and element totals must stay within bounds. Decoding is left to msgpack-c.
 */
enum fod_scan fod_mp_prescan(const char *frame, size_t len)
{
	const unsigned char *p = (const unsigned char *)frame, *end = p + len;
	uint64_t pending[FOD_MAX_DEPTH + 2]; /* values still to read, per open container */
	int depth = 0;
	size_t elements = 0;
	pending[0] = 1;
	while (depth >= 0) {
		if (pending[depth] == 0) {
			depth--;
			continue;
		}
		pending[depth]--;
		if (p >= end)
			return FOD_SCAN_MALFORMED;
		unsigned t = *p++;
		uint64_t skip = 0, count = 0;
		int width = 0;
		bool container = false;
		if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3) {
			/* fixint, nil, bool */
		} else if (t <= 0x8f) {
			count = 2 * (uint64_t)(t & 0x0f), container = true;
		} else if (t <= 0x9f) {
			count = t & 0x0f, container = true;
		} else if (t <= 0xbf) {
			skip = t & 0x1f;
		} else if (t == 0xc1) {
			return FOD_SCAN_MALFORMED; /* never used */
		} else if (t >= 0xc4 && t <= 0xc6) {
			width = 1 << (t - 0xc4); /* bin 8/16/32 */
		} else if (t >= 0xc7 && t <= 0xc9) {
			width = 1 << (t - 0xc7), skip = 1; /* ext: length, type, data */
		} else if (t == 0xca || t == 0xcb) {
			skip = t == 0xca ? 4 : 8;
		} else if (t >= 0xcc && t <= 0xd3) {
			skip = (uint64_t)1 << ((t - 0xcc) & 3); /* uint / int 8..64 */
		} else if (t >= 0xd4 && t <= 0xd8) {
			skip = 1 + ((uint64_t)1 << (t - 0xd4)); /* fixext: type + 1..16 */
		} else if (t >= 0xd9 && t <= 0xdb) {
			width = 1 << (t - 0xd9); /* str 8/16/32 */
		} else {			 /* 0xdc..0xdf: array / map 16 and 32 */
			int w = (t & 1) ? 4 : 2;
			if ((size_t)(end - p) < (size_t)w)
				return FOD_SCAN_MALFORMED;
			count = be_uint(p, w) * (t >= 0xde ? 2 : 1);
			p += w;
			container = true;
		}
		if (width) {
			if ((size_t)(end - p) < (size_t)width)
				return FOD_SCAN_MALFORMED;
			skip += be_uint(p, width);
			p += width;
		}
		if (skip > (uint64_t)(end - p))
			return FOD_SCAN_MALFORMED;
		p += skip;
		if (container) {
			/* every value takes at least a byte */
			if (count > (uint64_t)(end - p))
				return FOD_SCAN_MALFORMED;
			if ((elements += count / (t <= 0x8f || t >= 0xde ? 2 : 1)) >
				    FOD_MAX_ELEMENTS ||
			    depth + 1 > FOD_MAX_DEPTH)
				return FOD_SCAN_TOO_BIG;
			pending[++depth] = count;
		}
	}
	return p == end ? FOD_SCAN_OK : FOD_SCAN_MALFORMED;
}

/* msgpack_sbuffer_write, but a write that finds no memory fails every later one too. */
static int reply_write(void *data, const char *buf, size_t len)
{
	struct fod_reply *r = data;
	if (r->failed || msgpack_sbuffer_write(&r->buf, buf, len) < 0) {
		r->failed = true;
		return -1;
	}
	return 0;
}

msgpack_packer *fod_reply_begin(struct fod_reply *r, enum fod_status st, const char *msg)
{
	msgpack_sbuffer_init(&r->buf);
	r->failed = false;
	msgpack_packer_init(&r->pk, r, reply_write);
	msgpack_pack_map(&r->pk, 3);
	mp_kv_int(&r->pk, "status", st);
	mp_kv_str(&r->pk, "msg", msg);
	mp_str(&r->pk, "data");
	return &r->pk;
}

const char *fod_reply_bytes(const struct fod_reply *r, size_t *len)
{
	/* {"status": FOD_ST_INTERNAL, "msg": "out of memory", "data": nil}, packed by hand. */
	static const char oom[] = "\x83\xa6status\x05\xa3msg\xadout of memory\xa4"
				  "data\xc0";
	_Static_assert(FOD_ST_INTERNAL == 5, "the packed reply's status");
	if (r->failed) {
		*len = sizeof(oom) - 1;
		return oom;
	}
	*len = r->buf.size;
	return r->buf.data;
}
