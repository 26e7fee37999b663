/* SPDX-License-Identifier: MIT */
/* daemon/wire.c: the frame pre-scanner (the fuzzer's regressions as rows) and argument readers. */
#include <errno.h>
#include <string.h>

#include "testutil.h"
#include "wire.h"

struct scan_case {
	const char *what;
	const char *bytes;
	size_t len;
	enum fod_scan want;
};

#define ROW(what, lit, want)                     \
	{                                        \
		what, lit, sizeof(lit) - 1, want \
	}

static void test_prescan_table(void)
{
	static const struct scan_case cases[] = {
		ROW("empty map", "\x80", FOD_SCAN_OK),
		ROW("{op: status}", "\x81\xa2op\xa6status", FOD_SCAN_OK),
		ROW("nil", "\xc0", FOD_SCAN_OK),
		ROW("nothing at all", "", FOD_SCAN_MALFORMED),
		ROW("two values", "\x80\x80", FOD_SCAN_MALFORMED),
		ROW("a map missing its value", "\x81\xa2op", FOD_SCAN_MALFORMED),
		ROW("a string longer than the frame",
		    "\xa5"
		    "ab",
		    FOD_SCAN_MALFORMED),
		ROW("str8 length past the end",
		    "\xd9\xff"
		    "abc",
		    FOD_SCAN_MALFORMED),
		ROW("bin32 claiming 4 GiB", "\xc6\xff\xff\xff\xff", FOD_SCAN_MALFORMED),
		ROW("the reserved byte", "\xc1", FOD_SCAN_MALFORMED),
		/* The fuzzer's find: a 6-byte map header claiming 2^31 entries made
		 * msgpack-c allocate 128 GiB before noticing the frame was short. */
		ROW("map32 claiming 2^31 entries", "\xdf\x80\x00\x00\x00\x80", FOD_SCAN_MALFORMED),
		ROW("array32 claiming 2^32-1 elements", "\xdd\xff\xff\xff\xff", FOD_SCAN_MALFORMED),
		ROW("nine nested arrays", "\x91\x91\x91\x91\x91\x91\x91\x91\x91\xc0",
		    FOD_SCAN_TOO_BIG),
		ROW("eight nested arrays", "\x91\x91\x91\x91\x91\x91\x91\x91\xc0", FOD_SCAN_OK),
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		enum fod_scan got = fod_mp_prescan(cases[i].bytes, cases[i].len);
		if (got != cases[i].want)
			printf("\n  %s: got %d, want %d", cases[i].what, got, cases[i].want);
		CU_ASSERT_EQUAL(got, cases[i].want);
	}
}

/* More than FOD_MAX_ELEMENTS elements in all, however they are nested. */
static void test_prescan_counts_every_element(void)
{
	char frame[8 + 2 * (FOD_MAX_ELEMENTS + 1)];
	size_t n = 0;
	frame[n++] = '\xdc'; /* array16 */
	frame[n++] = (char)((FOD_MAX_ELEMENTS + 1) >> 8);
	frame[n++] = (char)((FOD_MAX_ELEMENTS + 1) & 0xff);
	for (int i = 0; i < FOD_MAX_ELEMENTS + 1; i++)
		frame[n++] = '\x01';
	CU_ASSERT_EQUAL(fod_mp_prescan(frame, n), FOD_SCAN_TOO_BIG);
	frame[2] = (char)(FOD_MAX_ELEMENTS & 0xff);
	frame[1] = (char)(FOD_MAX_ELEMENTS >> 8);
	CU_ASSERT_EQUAL(fod_mp_prescan(frame, n - 1), FOD_SCAN_OK);
}

static msgpack_object unpack(msgpack_unpacked *u, msgpack_sbuffer *b)
{
	msgpack_unpacked_init(u);
	size_t off = 0;
	CU_ASSERT_EQUAL(msgpack_unpack_next(u, b->data, b->size, &off), MSGPACK_UNPACK_SUCCESS);
	return u->data;
}

static void test_argument_readers(void)
{
	msgpack_sbuffer b;
	msgpack_sbuffer_init(&b);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &b, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 5);
	fod_mp_kv_str(&pk, "policy", "besteffort");
	fod_mp_kv_int(&pk, "kind", 5);
	fod_mp_kv_uint(&pk, "id", UINT64_MAX);
	fod_mp_kv_str(&pk, "long", "0123456789");
	fod_mp_str(&pk, "flag");
	msgpack_pack_true(&pk);
	msgpack_unpacked u;
	msgpack_object m = unpack(&u, &b);

	char s[8] = "unset";
	CU_ASSERT_EQUAL(fod_mp_arg_str(&m, "absent", s, sizeof(s)), 0);
	CU_ASSERT_STRING_EQUAL(s, "unset");
	CU_ASSERT_EQUAL(fod_mp_arg_str(&m, "kind", s, sizeof(s)), -EINVAL);
	CU_ASSERT_EQUAL(fod_mp_arg_str(&m, "long", s, sizeof(s)), -ENAMETOOLONG);
	char p[16];
	CU_ASSERT_EQUAL(fod_mp_arg_str(&m, "policy", p, sizeof(p)), 1);
	CU_ASSERT_STRING_EQUAL(p, "besteffort");
	/* Ids are unsigned: 2^64-1 comes back as itself. */
	uint64_t id = 0;
	CU_ASSERT_EQUAL(fod_mp_arg_uint(&m, "id", 1, UINT64_MAX, &id), 1);
	CU_ASSERT_EQUAL(id, UINT64_MAX);
	CU_ASSERT_EQUAL(fod_mp_arg_uint(&m, "id", 1, 100, &id), -1);
	CU_ASSERT_EQUAL(fod_mp_arg_uint(&m, "policy", 0, 10, &id), -1);
	bool flag = false;
	CU_ASSERT_EQUAL(fod_mp_arg_bool(&m, "flag", &flag), 1);
	CU_ASSERT_TRUE(flag);
	CU_ASSERT_EQUAL(fod_mp_arg_bool(&m, "kind", &flag), -1);
	CU_ASSERT_STRING_NOT_EQUAL(fod_mp_str_problem(-EINVAL), fod_mp_str_problem(-ENAMETOOLONG));
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&b);
}

int main(void)
{
	static const struct fo_test tests[] = {
		FO_TEST(test_prescan_table),
		FO_TEST(test_prescan_counts_every_element),
		FO_TEST(test_argument_readers),
	};
	return fo_test_main("wire", tests, ARRAY_SIZE(tests));
}
