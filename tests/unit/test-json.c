/* SPDX-License-Identifier: MIT */
/* modules/downstream/http/json.c: the http downstream's body check. */
#include <string.h>

#include "../../modules/downstream/http/json.h"
#include "testutil.h"

static bool valid(const char *s)
{
	return fo_json_valid(s, strlen(s));
}

static void test_accepts_json(void)
{
	static const char *const ok[] = {
		"{}",	       "[]",
		" {\"a\":1} ", "\"x\"",
		"0",	       "-0.5e+10",
		"true",	       "false",
		"null",	       "{\"a\":[1,2,{\"b\":null}],\"c\":\"\\u00e9\\n\\\"\"}",
		"[[[[]]]]",    "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"",
		"1E5",	       "[1.0,-2,3e-2]",
	};
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		if (!valid(ok[i]))
			fprintf(stderr, "refused: %s\n", ok[i]);
		CU_ASSERT_TRUE(valid(ok[i]));
	}
}

static void test_refuses_the_rest(void)
{
	static const char *const bad[] = {
		"",
		" ",
		"{",
		"}",
		"[1,]",
		"{\"a\":}",
		"{\"a\"1}",
		"{a:1}",
		"[1 2]",
		"01",
		"1.",
		".5",
		"-",
		"1e",
		"tru",
		"nul",
		"\"abc",
		"\"\\x\"",
		"\"\\u12\"",
		"\"a\tb\"",
		"{} {}",
		"[1]]",
		"{\"a\":1,}",
		"<html>",
		"\xff",
		"\"\xc0\xaf\"",
		"\"\xed\xa0\x80\"",
		"\"\xf4\x90\x80\x80\"",
		"\"\xe2\x82\"",
		"[\"a\",]",
		"{,}",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (valid(bad[i]))
			fprintf(stderr, "accepted: %s\n", bad[i]);
		CU_ASSERT_FALSE(valid(bad[i]));
	}
	/* A NUL byte inside is not JSON either (length-based, not a C string). */
	CU_ASSERT_FALSE(fo_json_valid("{}\0", 3));
	CU_ASSERT_FALSE(fo_json_valid("\"a\0b\"", 5));
}

static void test_depth_is_bounded(void)
{
	static char deep[2 * (FO_JSON_MAX_DEPTH + 1) + 1];
	for (int i = 0; i < FO_JSON_MAX_DEPTH; i++) {
		deep[i] = '[';
		deep[FO_JSON_MAX_DEPTH + i] = ']';
	}
	CU_ASSERT_TRUE(fo_json_valid(deep, 2 * FO_JSON_MAX_DEPTH));
	memset(deep, 0, sizeof(deep));
	for (int i = 0; i <= FO_JSON_MAX_DEPTH; i++) {
		deep[i] = '[';
		deep[FO_JSON_MAX_DEPTH + 1 + i] = ']';
	}
	CU_ASSERT_FALSE(fo_json_valid(deep, 2 * (FO_JSON_MAX_DEPTH + 1)));
}

int main(void)
{
	static const struct fo_test tests[] = {
		FO_TEST(test_accepts_json),
		FO_TEST(test_refuses_the_rest),
		FO_TEST(test_depth_is_bounded),
	};
	return fo_test_main("json", tests, ARRAY_SIZE(tests));
}
