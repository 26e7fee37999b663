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
	char *piped;
	size_t n;
	int r = fod_check_includes(top, dir, &piped, &n, err, errlen);
	CU_ASSERT_PTR_NULL(piped); /* a regular file is libconfig's to read again */
	return r;
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

/* A file that includes itself many times is refused at libconfig's depth, at once. */
static void test_self_inclusion_bounded(void)
{
	char err[512], text[4096] = "";
	for (int i = 0; i < 100; i++)
		strcat(text, "@include \"top.conf\"\n");
	CU_ASSERT_EQUAL(check(text, strlen(text), err, sizeof(err)), -ELOOP);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "nested more than 10 files deep"));
}

/*
 * Ten files deep is libconfig's limit and not an error in itself: after the
 * tenth returns, the files that included it go on, and their later
 * @includes are checked (a first version stopped looking there).
 */
static void test_depth_ten_then_more(void)
{
	char err[512], name[32], text[64];
	for (int i = 1; i <= 10; i++) {
		snprintf(name, sizeof(name), "l%d.conf", i);
		int n = i < 10 ? snprintf(text, sizeof(text), "@include \"l%d.conf\"\n", i + 1)
			       : snprintf(text, sizeof(text), "x = 1;\n");
		put(name, text, (size_t)n);
	}
	CU_ASSERT_EQUAL(CHECK("@include \"l1.conf\"\n", err), 0);
	CU_ASSERT_EQUAL(CHECK("@include \"l1.conf\"\n@include \"sub\"\n", err), -EISDIR);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "top.conf:2: @include \"sub\" is a directory"));
	/* An @include in the tenth file is one too deep. */
	put("l10.conf", "@include \"ok.conf\"\n", 20);
	CU_ASSERT_EQUAL(CHECK("@include \"l1.conf\"\n", err), -ELOOP);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "l10.conf:1: @include nested more than 10 files deep"));
}

/*
 * An included file ending inside an @include name: libconfig goes on with
 * the name in the including file, past its closing quote ("b.conf"sub" opens
 * sub). Refused instead of followed.
 */
static void test_name_left_open_at_end_of_file(void)
{
	char err[512];
	put("b.conf", "@include \"", 10);
	CU_ASSERT_EQUAL(CHECK("@include \"b.conf\"sub\"\n", err), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(
		strstr(err, "b.conf:1: @include name not closed before the file ends"));
}

/* A pipe (-c <(...)) is read once, here, checked, and its text handed back. */
static void test_pipe_read_once(void)
{
	char err[512], file[64], *text;
	size_t n;
	static const char good[] = "x = 1;\n", bad[] = "@include \"\\sub\"\n";
	const char *const texts[] = {good, bad};
	for (int i = 0; i < 2; i++) {
		int fds[2];
		CU_ASSERT_EQUAL_FATAL(pipe(fds), 0);
		CU_ASSERT_EQUAL(write(fds[1], texts[i], strlen(texts[i])),
				(ssize_t)strlen(texts[i]));
		close(fds[1]);
		snprintf(file, sizeof(file), "/dev/fd/%d", fds[0]);
		int r = fod_check_includes(file, dir, &text, &n, err, sizeof(err));
		close(fds[0]);
		if (i == 0) {
			CU_ASSERT_EQUAL(r, 0);
			CU_ASSERT_EQUAL(n, strlen(good));
			CU_ASSERT_TRUE(text && memcmp(text, good, n) == 0);
		} else {
			CU_ASSERT_EQUAL(r, -EISDIR);
			CU_ASSERT_PTR_NULL(text);
		}
		free(text);
	}
}

static void test_without_include_dir(void)
{
	char err[512], top[128], cwd[512];
	put("bare.conf", "@include \"sub\"\n", 15);
	snprintf(top, sizeof(top), "%s/bare.conf", dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(getcwd(cwd, sizeof(cwd)));
	CU_ASSERT_EQUAL_FATAL(chdir(dir), 0);
	char *text;
	size_t n;
	CU_ASSERT_EQUAL(fod_check_includes(top, NULL, &text, &n, err, sizeof(err)), -EISDIR);
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
		FO_TEST(test_depth_ten_then_more),    FO_TEST(test_name_left_open_at_end_of_file),
		FO_TEST(test_pipe_read_once),
	};
	int r = fo_test_main("includes", tests, ARRAY_SIZE(tests));
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		r = 1;
	return r;
}
