/* SPDX-License-Identifier: MIT */
/*
 * daemon/conf.c: typed readers with ranges and file:line errors, 64-bit
 * integers as written (libconfig 1.5 wraps L-less literals at 32 bits), the
 * first error winning, and unknown settings refused with a suggestion.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "testutil.h"

static char path[64];
static config_t cfg;
static struct fod_conf_sink sink;
static char err[512];

/* Parses text as a config file (a real file: errors name it and its lines). */
static const config_setting_t *load(const char *text)
{
	snprintf(path, sizeof(path), "/tmp/fanoutd-conf-test.XXXXXX");
	int fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	config_init(&cfg);
	CU_ASSERT_FATAL(config_read_file(&cfg, path) == CONFIG_TRUE);
	fod_conf_sink_init(&sink, path, err, sizeof(err));
	return config_root_setting(&cfg);
}

static void unload(void)
{
	fod_conf_sink_fini(&sink);
	config_destroy(&cfg);
	unlink(path);
}

/* err is "PATH:LINE: message": the message from LINE on. */
static bool error_is(unsigned line, const char *message)
{
	char want[640];
	snprintf(want, sizeof(want), "%s:%u: %s", path, line, message);
	if (strcmp(err, want) != 0)
		printf("\n  got  '%s'\n  want '%s'", err, want);
	return strcmp(err, want) == 0;
}

static void test_integers_range_checked_as_written(void)
{
	const config_setting_t *root =
		load("a = 7;\nwrapped = 4294967312;\nbig = 9223372036854775807L;\n"
		     "neg = -3;\nhex = 0x10;\ntext = \"7\";\n");
	int64_t v = 0;
	CU_ASSERT_EQUAL(fod_conf_int(&sink, root, "a", 1, 10, true, &v), 0);
	CU_ASSERT_EQUAL(v, 7);
	CU_ASSERT_EQUAL(fod_conf_int(&sink, root, "big", 0, INT64_MAX, true, &v), 0);
	CU_ASSERT_EQUAL(v, INT64_MAX);
	CU_ASSERT_EQUAL(fod_conf_int(&sink, root, "hex", 0, 100, true, &v), 0);
	CU_ASSERT_EQUAL(v, 16);
	v = 42;
	CU_ASSERT_EQUAL(fod_conf_int(&sink, root, "absent", 0, 100, false, &v), 0);
	CU_ASSERT_EQUAL(v, 42); /* a missing optional setting keeps its default */
	CU_ASSERT_FALSE(sink.failed);
	/* libconfig stores 4294967312 as 16: the literal as written is what is checked. */
	CU_ASSERT_EQUAL(fod_conf_int(&sink, root, "wrapped", 16, 65536, true, &v), -EINVAL);
	CU_ASSERT_TRUE(error_is(2, "'wrapped' = 4294967312 is out of range [16, 65536]"));
	unload();

	root = load("neg = -3;\n");
	CU_ASSERT_EQUAL(fod_conf_int(&sink, root, "neg", 0, 10, true, &v), -EINVAL);
	CU_ASSERT_TRUE(error_is(1, "'neg' = -3 is out of range [0, 10]"));
	unload();

	root = load("text = \"7\";\n");
	CU_ASSERT_EQUAL(fod_conf_int(&sink, root, "text", 0, 10, true, &v), -EINVAL);
	CU_ASSERT_TRUE(error_is(1, "'text' must be an integer in [0, 10]"));
	unload();
}

static void test_other_readers_and_first_error_wins(void)
{
	const config_setting_t *root =
		load("g = {\n  ms = 250;\n  ratio = 0.5;\n  on = true;\n  name = \"abcdef\";\n};\n"
		     "x = 1.5;\n");
	const config_setting_t *g = fod_conf_child(&sink, root, "g");
	CU_ASSERT_PTR_NOT_NULL_FATAL(g);
	int64_t ns = 0;
	double d = 0;
	bool b = false;
	const char *s = NULL;
	CU_ASSERT_EQUAL(fod_conf_ms(&sink, g, "ms", 1, 1000, true, &ns), 0);
	CU_ASSERT_EQUAL(ns, 250 * FO_MSEC);
	CU_ASSERT_EQUAL(fod_conf_double(&sink, g, "ratio", 0, 1, true, &d), 0);
	CU_ASSERT_DOUBLE_EQUAL(d, 0.5, 1e-12);
	CU_ASSERT_EQUAL(fod_conf_bool(&sink, g, "on", true, &b), 0);
	CU_ASSERT_TRUE(b);
	CU_ASSERT_EQUAL(fod_conf_string(&sink, g, "name", 0, true, &s), 0);
	CU_ASSERT_STRING_EQUAL(s, "abcdef");
	CU_ASSERT_FALSE(sink.failed);
	CU_ASSERT_EQUAL(fod_conf_string(&sink, g, "name", 3, true, &s), -EINVAL);
	CU_ASSERT_TRUE(error_is(5, "'name' is longer than 3 bytes"));
	/* A later error does not replace the first. */
	CU_ASSERT_EQUAL(fod_conf_double(&sink, root, "x", 0, 1, true, &d), -EINVAL);
	CU_ASSERT_TRUE(error_is(5, "'name' is longer than 3 bytes"));
	unload();

	root = load("g = { };\n");
	CU_ASSERT_EQUAL(fod_conf_bool(&sink, fod_conf_child(&sink, root, "g"), "on", true, &b),
			-EINVAL);
	CU_ASSERT_TRUE(error_is(1, "'on' is required"));
	unload();
}

static void test_unknown_settings_refused_with_a_suggestion(void)
{
	const config_setting_t *root =
		load("http = {\n  max_conections = 5;\n  listen = \"x\";\n};\n");
	const config_setting_t *http = fod_conf_child(&sink, root, "http");
	int64_t v = 0;
	const char *s;
	CU_ASSERT_EQUAL(fod_conf_int(&sink, http, "max_connections", 1, 10, false, &v), 0);
	CU_ASSERT_EQUAL(fod_conf_string(&sink, http, "listen", 0, false, &s), 0);
	CU_ASSERT_EQUAL(fod_conf_check_unknown(&sink, root), -EINVAL);
	CU_ASSERT_TRUE(error_is(
		2, "unknown setting 'max_conections' in 'http': did you mean 'max_connections'?"));
	unload();

	/* Everything read: nothing unknown; a list's unnamed elements come with the list. */
	root = load("names = [\"a\", \"b\"];\nn = 1;\n");
	CU_ASSERT_PTR_NOT_NULL(fod_conf_child(&sink, root, "names"));
	CU_ASSERT_EQUAL(fod_conf_int(&sink, root, "n", 0, 5, true, &v), 0);
	CU_ASSERT_EQUAL(fod_conf_check_unknown(&sink, root), 0);
	CU_ASSERT_FALSE(sink.failed);
	unload();

	/* Nothing close enough: no suggestion. */
	root = load("colour = 1;\nn = 1;\n");
	CU_ASSERT_EQUAL(fod_conf_int(&sink, root, "n", 0, 5, true, &v), 0);
	CU_ASSERT_EQUAL(fod_conf_check_unknown(&sink, root), -EINVAL);
	CU_ASSERT_TRUE(error_is(1, "unknown setting 'colour'"));
	unload();
}

int main(void)
{
	static const struct fo_test tests[] = {
		FO_TEST(test_integers_range_checked_as_written),
		FO_TEST(test_other_readers_and_first_error_wins),
		FO_TEST(test_unknown_settings_refused_with_a_suggestion),
	};
	return fo_test_main("conf", tests, ARRAY_SIZE(tests));
}
