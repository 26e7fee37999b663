/* SPDX-License-Identifier: MIT */
/*
 * tools/ctl/common.c: which branch values fanoutctl embeds as JSON in its
 * result lines. Only a complete RFC 8259 value in valid UTF-8 is embedded
 * (anything else would make the line unparseable), and it is put on one line.
 */
#include <stdlib.h>
#include <string.h>

#include "ctl/common.h"
#include "testutil.h"

static struct ctl_buf buf;

/* The compact form of s, or NULL when s is not one JSON value. */
static const char *compact(const char *s, size_t n)
{
	if (ctl_json_compact(s, n, &buf) < 0)
		return NULL;
	static char out[4096];
	snprintf(out, sizeof(out), "%.*s", (int)buf.len, buf.p);
	return out;
}
#define C(s) compact(s, sizeof(s) - 1)

static void test_values_kept(void)
{
	CU_ASSERT_STRING_EQUAL(C("{\"v\":315980}"), "{\"v\":315980}");
	CU_ASSERT_STRING_EQUAL(C("[1,-2.5e+3,0.25,true,false,null,\"x\"]"),
			       "[1,-2.5e+3,0.25,true,false,null,\"x\"]");
	CU_ASSERT_STRING_EQUAL(C("\"caf\xc3\xa9 \\u00e9 \\\" \\\\ \\n\""),
			       "\"caf\xc3\xa9 \\u00e9 \\\" \\\\ \\n\"");
	CU_ASSERT_STRING_EQUAL(C("0"), "0");
	CU_ASSERT_STRING_EQUAL(C("{}"), "{}");
	CU_ASSERT_STRING_EQUAL(C("[]"), "[]");
	CU_ASSERT_STRING_EQUAL(C("\"\xf0\x9f\x98\x80\""), "\"\xf0\x9f\x98\x80\"");
}

static void test_whitespace_dropped(void)
{
	/* A module's pretty-printed value must not break the one-result-per-line output. */
	CU_ASSERT_STRING_EQUAL(C(" {\n  \"a\" : [ 1 ,\r\n\t2 ] ,\n \"b\": \"x y\"\n}\n"),
			       "{\"a\":[1,2],\"b\":\"x y\"}");
}

static void test_not_json(void)
{
	static const char *const bad[] = {
		"",
		" ",
		"{",
		"}",
		"[1,]",
		"[,1]",
		"{\"a\"}",
		"{\"a\":}",
		"{a:1}",
		"{\"a\":1,}",
		"01",
		"-",
		"1.",
		".5",
		"1e",
		"+1",
		"1 2",
		"tru",
		"nul",
		"\"abc",
		"\"a\\x\"",
		"\"\\u12\"",
		"\"\\u12g4\"",
		"\"a\nb\"",
		"'a'",
		"{\"v\":315980}x",
		"NaN",
		"[1]]",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (compact(bad[i], strlen(bad[i])) != NULL)
			fprintf(stderr, "taken as JSON: '%s'\n", bad[i]);
		CU_ASSERT_PTR_NULL(compact(bad[i], strlen(bad[i])));
	}
	/* Bytes that are not UTF-8: a lone continuation, an overlong, a surrogate, > U+10FFFF,
	 * a truncated sequence, and a NUL inside. */
	static const char *const bytes[] = {"\"\x80\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"",
					    "\"\xf4\x90\x80\x80\"", "\"\xe2\x82\""};
	for (size_t i = 0; i < ARRAY_SIZE(bytes); i++)
		CU_ASSERT_PTR_NULL(compact(bytes[i], strlen(bytes[i])));
	CU_ASSERT_PTR_NULL(compact("\"a\0b\"", 5));
	CU_ASSERT_PTR_NULL(compact("1\0", 2));
	/* A 16-byte digest (what the echo module answers) is not JSON. */
	static const char digest[16] = {0x7f, 0x12, 0x00, (char)0xff, 'a', 'b', 1, 2,
					3,    4,    5,	  6,	      7,   8,	9, 10};
	CU_ASSERT_PTR_NULL(compact(digest, sizeof(digest)));
}

static void test_depth_bounded(void)
{
	/* Deep nesting is refused, not recursed into without end. */
	size_t n = 100000;
	char *deep = malloc(2 * n);
	CU_ASSERT_PTR_NOT_NULL_FATAL(deep);
	memset(deep, '[', n);
	memset(deep + n, ']', n);
	CU_ASSERT_PTR_NULL(compact(deep, 2 * n));
	CU_ASSERT_STRING_EQUAL(compact(deep + n - 64, 128), "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
							    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
							    "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
							    "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]");
	CU_ASSERT_PTR_NULL(compact(deep + n - 65, 130));
	free(deep);
}

static void test_value_written(void)
{
	/* ctl_json_value: JSON bytes embedded, other bytes as a string (hex when not text). */
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	msgpack_object o = {.type = MSGPACK_OBJECT_BIN};
	o.via.bin.ptr = "{\"v\": 1}";
	o.via.bin.size = 8;
	ctl_json_value(f, &o, &buf);
	fputc(' ', f);
	o.via.bin.ptr = "\x01\x02";
	o.via.bin.size = 2;
	ctl_json_value(f, &o, &buf);
	fputc(' ', f);
	o.type = MSGPACK_OBJECT_STR;
	o.via.str.ptr = "plain text";
	o.via.str.size = 10;
	ctl_json_value(f, &o, &buf);
	fputc(' ', f);
	/* UTF-8 text stays as it is; other bytes (a lone 0xe9) and controls are escaped. */
	o.via.str.ptr = "caf\xc3\xa9 \xe9\t";
	o.via.str.size = 8;
	ctl_json_value(f, &o, &buf);
	fclose(f);
	CU_ASSERT_STRING_EQUAL(out,
			       "{\"v\":1} \"0102\" \"plain text\" \"caf\xc3\xa9 \\u00e9\\u0009\"");
	free(out);
}

int main(void)
{
	static const struct fo_test tests[] = {
		FO_TEST(test_values_kept),   FO_TEST(test_whitespace_dropped),
		FO_TEST(test_not_json),	     FO_TEST(test_depth_bounded),
		FO_TEST(test_value_written),
	};
	int rc = fo_test_main("ctl-json", tests, ARRAY_SIZE(tests));
	free(buf.p);
	return rc;
}
