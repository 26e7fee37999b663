/* SPDX-License-Identifier: MIT */
/*
 * The socket API's msgpack layer, shared by fanoutd, fanoutctl and
 * fanout-gen (doc/PROTOCOL.md): frames are a 4-byte big-endian length and
 * one msgpack map; these pack strings and key-value members, read members of
 * a decoded map, and build frames in a msgpack_sbuffer. What each program
 * does with a frame (the daemon's argument checks and pre-scan, fanoutctl's
 * printing) stays with it.
 */
#ifndef MP_H
#define MP_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

/* The largest frame either side accepts (the length prefix excluded). */
#define MP_MAX_FRAME (1u << 20)

void mp_str(msgpack_packer *pk, const char *s);
void mp_kv_str(msgpack_packer *pk, const char *k, const char *v);
void mp_kv_int(msgpack_packer *pk, const char *k, long long v);
/* Ids are unsigned on the wire: 2^64-1 stays 2^64-1. */
void mp_kv_uint(msgpack_packer *pk, const char *k, uint64_t v);
void mp_kv_double(msgpack_packer *pk, const char *k, double v);

/* A map's member by string key, or NULL (also when o is NULL or not a map). */
const msgpack_object *mp_member(const msgpack_object *map, const char *key);
/* An unsigned integer exactly (ids go up to 2^64-1, past a double's 2^53); 0 if it is not one. */
uint64_t mp_uint(const msgpack_object *o);
/* Any number (or boolean) as a double; 0 if it is none. */
double mp_number(const msgpack_object *o);
/* Whether o is the string s. */
bool mp_str_is(const msgpack_object *o, const char *s);

/* A frame's length prefix, and the length it holds. */
void mp_frame_prefix(uint32_t len, unsigned char out[4]);
uint32_t mp_frame_len(const unsigned char prefix[4]);
/*
 * A frame built in place: begin reserves the prefix and returns where it is;
 * pack the frame's map; end writes its length there.
 */
size_t mp_frame_begin(msgpack_sbuffer *buf);
void mp_frame_end(msgpack_sbuffer *buf, size_t at);

#endif
