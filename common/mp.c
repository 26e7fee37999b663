/* SPDX-License-Identifier: MIT */
#include "mp.h"

#include <string.h>

void mp_str(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

void mp_kv_str(msgpack_packer *pk, const char *k, const char *v)
{
	mp_str(pk, k);
	mp_str(pk, v);
}

void mp_kv_int(msgpack_packer *pk, const char *k, long long v)
{
	mp_str(pk, k);
	msgpack_pack_long_long(pk, v);
}

void mp_kv_uint(msgpack_packer *pk, const char *k, uint64_t v)
{
	mp_str(pk, k);
	msgpack_pack_uint64(pk, v);
}

void mp_kv_double(msgpack_packer *pk, const char *k, double v)
{
	mp_str(pk, k);
	msgpack_pack_double(pk, v);
}

const msgpack_object *mp_member(const msgpack_object *map, const char *key)
{
	if (!map || map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (uint32_t i = 0; i < map->via.map.size; i++)
		if (mp_str_is(&map->via.map.ptr[i].key, key))
			return &map->via.map.ptr[i].val;
	return NULL;
}

uint64_t mp_uint(const msgpack_object *o)
{
	return o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? o->via.u64 : 0;
}

double mp_number(const msgpack_object *o)
{
	if (!o)
		return 0;
	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		return (double)o->via.u64;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return (double)o->via.i64;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		return o->via.f64;
	case MSGPACK_OBJECT_BOOLEAN:
		return o->via.boolean;
	default:
		return 0;
	}
}

bool mp_str_is(const msgpack_object *o, const char *s)
{
	return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) &&
	       memcmp(o->via.str.ptr, s, o->via.str.size) == 0;
}

void mp_frame_prefix(uint32_t len, unsigned char out[4])
{
	out[0] = (unsigned char)(len >> 24);
	out[1] = (unsigned char)(len >> 16);
	out[2] = (unsigned char)(len >> 8);
	out[3] = (unsigned char)len;
}

uint32_t mp_frame_len(const unsigned char prefix[4])
{
	return (uint32_t)prefix[0] << 24 | (uint32_t)prefix[1] << 16 | (uint32_t)prefix[2] << 8 |
	       prefix[3];
}

size_t mp_frame_begin(msgpack_sbuffer *buf)
{
	size_t at = buf->size;
	msgpack_sbuffer_write(buf, "\0\0\0\0", 4);
	return at;
}

void mp_frame_end(msgpack_sbuffer *buf, size_t at)
{
	mp_frame_prefix((uint32_t)(buf->size - at - 4), (unsigned char *)buf->data + at);
}
