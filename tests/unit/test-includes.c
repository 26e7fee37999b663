/* SPDX-License-Identifier: MIT */
/*
 * daemon/includes.c: every @include found and resolved as libconfig 1.5
 * resolves it, and refused unless it names a regular file (libconfig's
 * scanner ends the process on a directory).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "includes.h"
#include "testutil.h"

static char dir[64];

static void put(const char *name, const char *text, size_t len)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_EQUAL(fwrite(text, 1, len, f), len);
	fclose(f);
}

/* check TEXT as top.conf: its result, the message in err. */
static int check(const char *text, size_t len, char *err, size_t errlen)
{
	put("top.conf", text, len);
	char top[128];
	snprintf(top, sizeof(top), "%s/top.conf", dir);
	err[0] = '\0';
	return fod_check_includes(top, dir, err, errlen);
}

#define CHECK(lit, err) check(lit, sizeof(lit) - 1, err, sizeof(err))

static void name_is(const char *lit, size_t len, const char *want, size_t consumed)
{
	const char *end;
	char *name = fod_include_name(lit, lit + len, &end);
	CU_ASSERT_PTR_NOT_NULL_FATAL(name);
	CU_ASSERT_STRING_EQUAL(name, want);
	CU_ASSERT_EQUAL((size_t)(end - lit), consumed);
	free(name);
}

/* The scanner's rules, from just after the opening quote. */
static void test_name_decoding(void)
{
	name_is("a.conf\" x", 9, "a.conf", 7);
	name_is("\\sub\"", 5, "sub", 5);	   /* a lone backslash is dropped */
	name_is("s\\\\u\\\"b\"", 8, "s\\u\"b", 8); /* \\ and \" stand for \ and " */
	name_is("ab\ncd\"", 6, "ab\ncd", 6);	   /* across lines */
	name_is("ab\0cd\\ef\"", 9, "abef", 9);	   /* a NUL ends its run only */
	name_is("\"", 1, "", 1);
	const char *end = "set";
	static const char open1[] = "never closed\\\"", open2[] = "trailing\\";
	CU_ASSERT_PTR_NULL(fod_include_name(open1, open1 + sizeof(open1) - 1, &end));
	CU_ASSERT_PTR_NULL(end);
	CU_ASSERT_PTR_NULL(fod_include_name(open2, open2 + sizeof(open2) - 1, &end));
	CU_ASSERT_PTR_NULL(end);
}

static void test_directories_refused(void)
{
	char err[512];
	/* Each of these made libconfig open dir/sub and end the process. */
	static const char *const dirs[] = {
		"@include \"sub\"\n",	  "@include \"\\sub\"\n", "@include \"s\\ub\"\n",
		"  @include\t\"sub/\"\n", "@include \"\"\n",	  "x = 1;\n@include \".\"\n",
	};
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		CU_ASSERT_EQUAL(check(dirs[i], strlen(dirs[i]), err, sizeof(err)), -EISDIR);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "is a directory"));
		CU_ASSERT_PTR_NOT_NULL(strstr(err, "top.conf:"));
	}
	/* The line is the directive's; a name with a newline is shown on one line. */
	CU_ASSERT_EQUAL(CHECK("a = 1;\n\n@include \"\\.\"\n", err), -EISDIR);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "top.conf:3: @include \".\" is a directory"));
	char odd[128];
	snprintf(odd, sizeof(odd), "%s/s\nb", dir);
	CU_ASSERT_EQUAL(mkdir(odd, 0700), 0);
	CU_ASSERT_EQUAL(CHECK("@include \"s\nb\"\n", err), -EISDIR);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "@include \"s?b\" is a directory"));
}

static void test_regular_files_followed(void)
{
	char err[512];
	put("ok.conf", "x = 1;\n", 7);
	CU_ASSERT_EQUAL(CHECK("@include \"ok.conf\"\n", err), 0);
	/* Missing: libconfig names it. */
	CU_ASSERT_EQUAL(CHECK("@include \"none.conf\"\n", err), 0);
	/* Not a directive: not at a line's start, or no blank before the quote. */
	CU_ASSERT_EQUAL(CHECK("x = 1; @include \"sub\"\n@include\"sub\"\n", err), 0);
	/* A directory two includes down is found, in the file that names it. */
	put("mid.conf", "y = 2;\n@include \"\\sub\"\n", 24);
	CU_ASSERT_EQUAL(CHECK("@include \"ok.conf\"\n@include \"mid.conf\"\n", err), -EISDIR);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "mid.conf:2: @include \"sub\" is a directory"));
	/* Absolute names get the directory before them too (libconfig 1.5). */
	char abs[256];
	int n = snprintf(abs, sizeof(abs), "@include \"%s/ok.conf\"\n", dir);
	CU_ASSERT_EQUAL(check(abs, (size_t)n, err, sizeof(err)), 0);
	n = snprintf(abs, sizeof(abs), "@include \"%s\"\n", "/");
	CU_ASSERT_EQUAL(check(abs, (size_t)n, err, sizeof(err)), -EISDIR); /* dir + "//" */
}

static void test_special_files_refused(void)
{
	char err[512], fifo[128];
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	CU_ASSERT_EQUAL_FATAL(mkfifo(fifo, 0600), 0);
	CU_ASSERT_EQUAL(CHECK("@include \"fifo\"\n", err), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "@include \"fifo\" is not a regular file"));
	unlink(fifo);
}

/* A file that includes itself many times stops at libconfig's depth, at once. */
static void test_self_inclusion_bounded(void)
{
	char err[512], text[4096] = "";
	for (int i = 0; i < 100; i++)
		strcat(text, "@include \"top.conf\"\n");
	CU_ASSERT_EQUAL(check(text, strlen(text), err, sizeof(err)), 0);
}

static void test_without_include_dir(void)
{
	char err[512], top[128], cwd[512];
	put("bare.conf", "@include \"sub\"\n", 15);
	snprintf(top, sizeof(top), "%s/bare.conf", dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(getcwd(cwd, sizeof(cwd)));
	CU_ASSERT_EQUAL_FATAL(chdir(dir), 0);
	CU_ASSERT_EQUAL(fod_check_includes(top, NULL, err, sizeof(err)), -EISDIR);
	CU_ASSERT_EQUAL(chdir(cwd), 0);
}

int main(void)
{
	strcpy(dir, "/tmp/fanoutd-includes.XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	char sub[128];
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	mkdir(sub, 0700);
	static const struct fo_test tests[] = {
		FO_TEST(test_name_decoding),	      FO_TEST(test_directories_refused),
		FO_TEST(test_regular_files_followed), FO_TEST(test_special_files_refused),
		FO_TEST(test_self_inclusion_bounded), FO_TEST(test_without_include_dir),
	};
	int r = fo_test_main("includes", tests, ARRAY_SIZE(tests));
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		r = 1;
	return r;
}
