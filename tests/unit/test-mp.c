/* SPDX-License-Identifier: MIT */
/*
 * common/mp.c: the msgpack layer fanoutd, fanoutctl and fanout-gen share.
 * Frames round-trip through their length prefix (big-endian, whatever the
 * host), members are found by exact key in maps only, and the readers turn
 * anything that is not what they read into 0.
 */
#include <string.h>

#include "mp.h"
#include "testutil.h"

static void test_frame_prefix_is_big_endian(void)
{
	unsigned char p[4];
	mp_frame_prefix(0x01020304u, p);
	CU_ASSERT(p[0] == 1 && p[1] == 2 && p[2] == 3 && p[3] == 4);
	CU_ASSERT_EQUAL(mp_frame_len(p), 0x01020304u);
	mp_frame_prefix(MP_MAX_FRAME, p);
	CU_ASSERT_EQUAL(mp_frame_len(p), MP_MAX_FRAME);
	mp_frame_prefix(0xffffffffu, p);
	CU_ASSERT_EQUAL(mp_frame_len(p), 0xffffffffu);
}

/* Two frames built in one buffer: each prefix holds its own map's length. */
static void test_frames_built_in_place(void)
{
	msgpack_sbuffer buf;
	msgpack_sbuffer_init(&buf);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
	size_t at = mp_frame_begin(&buf);
	msgpack_pack_map(&pk, 2);
	mp_kv_str(&pk, "op", "status");
	mp_kv_uint(&pk, "id", UINT64_MAX);
	mp_frame_end(&buf, at);
	size_t second = mp_frame_begin(&buf);
	msgpack_pack_map(&pk, 1);
	mp_kv_double(&pk, "x", 0.5);
	mp_frame_end(&buf, second);

	uint32_t len = mp_frame_len((const unsigned char *)buf.data);
	CU_ASSERT_EQUAL(4 + len, second);
	CU_ASSERT_EQUAL(mp_frame_len((const unsigned char *)buf.data + second),
			buf.size - second - 4);

	msgpack_unpacked u;
	msgpack_unpacked_init(&u);
	size_t off = 0;
	CU_ASSERT_EQUAL_FATAL(msgpack_unpack_next(&u, buf.data + 4, len, &off),
			      MSGPACK_UNPACK_SUCCESS);
	CU_ASSERT_EQUAL(off, len);
	CU_ASSERT(mp_str_is(mp_member(&u.data, "op"), "status"));
	CU_ASSERT_EQUAL(mp_uint(mp_member(&u.data, "id")), UINT64_MAX);
	CU_ASSERT_PTR_NULL(mp_member(&u.data, "o"));   /* a prefix of a key is not the key */
	CU_ASSERT_PTR_NULL(mp_member(&u.data, "opx")); /* nor is a longer one */
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&buf);
}

static void test_readers_refuse_other_types(void)
{
	msgpack_object neg = {.type = MSGPACK_OBJECT_NEGATIVE_INTEGER, .via.i64 = -3};
	msgpack_object flt = {.type = MSGPACK_OBJECT_FLOAT64, .via.f64 = 2.5};
	msgpack_object str = {.type = MSGPACK_OBJECT_STR, .via.str = {.size = 2, .ptr = "ab"}};
	msgpack_object yes = {.type = MSGPACK_OBJECT_BOOLEAN, .via.boolean = true};
	CU_ASSERT_EQUAL(mp_uint(&neg), 0);
	CU_ASSERT_EQUAL(mp_uint(&flt), 0);
	CU_ASSERT_EQUAL(mp_uint(NULL), 0);
	CU_ASSERT_DOUBLE_EQUAL(mp_number(&neg), -3, 0);
	CU_ASSERT_DOUBLE_EQUAL(mp_number(&flt), 2.5, 0);
	CU_ASSERT_DOUBLE_EQUAL(mp_number(&yes), 1, 0);
	CU_ASSERT_DOUBLE_EQUAL(mp_number(&str), 0, 0);
	CU_ASSERT(mp_str_is(&str, "ab"));
	CU_ASSERT(!mp_str_is(&str, "a"));
	CU_ASSERT(!mp_str_is(&str, "abc"));
	CU_ASSERT(!mp_str_is(&flt, "ab"));
	CU_ASSERT_PTR_NULL(mp_member(&str, "ab")); /* not a map */
	CU_ASSERT_PTR_NULL(mp_member(NULL, "ab"));
}

int main(void)
{
	static const struct fo_test tests[] = {
		FO_TEST(test_frame_prefix_is_big_endian),
		FO_TEST(test_frames_built_in_place),
		FO_TEST(test_readers_refuse_other_types),
	};
	return fo_test_main("mp", tests, ARRAY_SIZE(tests));
}
