/* SPDX-License-Identifier: MIT */
#include "wire.h"

#include <string.h>

void fod_mp_str(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

void fod_mp_kv_str(msgpack_packer *pk, const char *k, const char *v)
{
	fod_mp_str(pk, k);
	fod_mp_str(pk, v);
}

void fod_mp_kv_int(msgpack_packer *pk, const char *k, long long v)
{
	fod_mp_str(pk, k);
	msgpack_pack_long_long(pk, v);
}

void fod_mp_kv_double(msgpack_packer *pk, const char *k, double v)
{
	fod_mp_str(pk, k);
	msgpack_pack_double(pk, v);
}

const msgpack_object *fod_mp_arg(const msgpack_object *map, const char *key)
{
	size_t klen = strlen(key);
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object_kv *kv = &map->via.map.ptr[i];
		if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == klen &&
		    memcmp(kv->key.via.str.ptr, key, klen) == 0)
			return &kv->val;
	}
	return NULL;
}

bool fod_mp_arg_str(const msgpack_object *map, const char *key, char *out, size_t len)
{
	const msgpack_object *v = fod_mp_arg(map, key);
	if (!v || v->type != MSGPACK_OBJECT_STR || v->via.str.size >= len)
		return false;
	memcpy(out, v->via.str.ptr, v->via.str.size);
	out[v->via.str.size] = '\0';
	return true;
}

int fod_mp_arg_uint(const msgpack_object *map, const char *key, uint64_t min, uint64_t max,
		    uint64_t *out)
{
	const msgpack_object *v = fod_mp_arg(map, key);
	if (!v || v->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER || v->via.u64 < min || v->via.u64 > max)
		return -1;
	*out = v->via.u64;
	return 1;
}

int fod_mp_arg_bool(const msgpack_object *map, const char *key, bool *out)
{
	const msgpack_object *v = fod_mp_arg(map, key);
	if (!v || v->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (v->type != MSGPACK_OBJECT_BOOLEAN)
		return -1;
	*out = v->via.boolean;
	return 1;
}

static bool limits_walk(const msgpack_object *o, int depth, size_t *elements)
{
	if (depth > FOD_MAX_DEPTH)
		return false;
	if (o->type == MSGPACK_OBJECT_ARRAY) {
		if ((*elements += o->via.array.size) > FOD_MAX_ELEMENTS)
			return false;
		for (uint32_t i = 0; i < o->via.array.size; i++)
			if (!limits_walk(&o->via.array.ptr[i], depth + 1, elements))
				return false;
	} else if (o->type == MSGPACK_OBJECT_MAP) {
		if ((*elements += o->via.map.size) > FOD_MAX_ELEMENTS)
			return false;
		for (uint32_t i = 0; i < o->via.map.size; i++)
			if (!limits_walk(&o->via.map.ptr[i].key, depth + 1, elements) ||
			    !limits_walk(&o->via.map.ptr[i].val, depth + 1, elements))
				return false;
	}
	return true;
}

bool fod_mp_within_limits(const msgpack_object *o)
{
	size_t elements = 0;
	return limits_walk(o, 0, &elements);
}

msgpack_packer *fod_reply_begin(struct fod_reply *r, enum fod_status st, const char *msg)
{
	msgpack_sbuffer_init(&r->buf);
	msgpack_packer_init(&r->pk, &r->buf, msgpack_sbuffer_write);
	msgpack_pack_map(&r->pk, 3);
	fod_mp_kv_int(&r->pk, "status", st);
	fod_mp_kv_str(&r->pk, "msg", msg);
	fod_mp_str(&r->pk, "data");
	return &r->pk;
}
