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
	mp_kv_str(&pk, "policy", "besteffort");
	mp_kv_int(&pk, "kind", 5);
	mp_kv_uint(&pk, "id", UINT64_MAX);
	mp_kv_str(&pk, "long", "0123456789");
	mp_str(&pk, "flag");
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

/* A reply as its client decodes it: status, msg and whether data is nil. */
static void decode_reply(const char *bytes, size_t len, int64_t *status, char *msg, size_t msglen,
			 bool *nil_data)
{
	msgpack_unpacked u;
	msgpack_unpacked_init(&u);
	size_t off = 0;
	CU_ASSERT_EQUAL_FATAL(msgpack_unpack_next(&u, bytes, len, &off), MSGPACK_UNPACK_SUCCESS);
	CU_ASSERT_EQUAL(off, len); /* one value, the whole frame */
	CU_ASSERT_EQUAL(fod_mp_prescan(bytes, len), FOD_SCAN_OK);
	uint64_t st = 99;
	CU_ASSERT_EQUAL(fod_mp_arg_uint(&u.data, "status", 0, 100, &st), 1);
	*status = (int64_t)st;
	CU_ASSERT_EQUAL(fod_mp_arg_str(&u.data, "msg", msg, msglen), 1);
	const msgpack_object *d = mp_member(&u.data, "data");
	*nil_data = d && d->type == MSGPACK_OBJECT_NIL;
	msgpack_unpacked_destroy(&u);
}

/*
 * A reply whose packing ran out of memory (a write failed: r.failed) is not
 * sent cut: later writes add nothing, and its bytes are the fixed
 * {status: internal, msg: "out of memory", data: nil}.
 */
static void test_reply_out_of_memory(void)
{
	struct fod_reply r;
	msgpack_packer *pk = fod_reply_begin(&r, FOD_ST_OK, "job open");
	msgpack_pack_map(pk, 1);
	mp_kv_uint(pk, "job", 7);
	size_t len;
	const char *bytes = fod_reply_bytes(&r, &len);
	int64_t st;
	char msg[64];
	bool nil;
	decode_reply(bytes, len, &st, msg, sizeof(msg), &nil);
	CU_ASSERT_EQUAL(st, FOD_ST_OK);
	CU_ASSERT_STRING_EQUAL(msg, "job open");
	CU_ASSERT_FALSE(nil);

	r.failed = true; /* as a write that found no memory leaves it */
	size_t size = r.buf.size;
	CU_ASSERT_NOT_EQUAL(msgpack_pack_nil(pk), 0); /* the write fails, */
	mp_kv_str(pk, "more", "after the failure");
	CU_ASSERT_EQUAL(r.buf.size, size); /* nothing more is written */
	bytes = fod_reply_bytes(&r, &len);
	decode_reply(bytes, len, &st, msg, sizeof(msg), &nil);
	CU_ASSERT_EQUAL(st, FOD_ST_INTERNAL);
	CU_ASSERT_STRING_EQUAL(msg, "out of memory");
	CU_ASSERT_TRUE(nil);
	msgpack_sbuffer_destroy(&r.buf);
}

int main(void)
{
	static const struct fo_test tests[] = {
		FO_TEST(test_prescan_table),
		FO_TEST(test_prescan_counts_every_element),
		FO_TEST(test_argument_readers),
		FO_TEST(test_reply_out_of_memory),
	};
	return fo_test_main("wire", tests, ARRAY_SIZE(tests));
}
