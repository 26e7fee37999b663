/* SPDX-License-Identifier: MIT */
#include "includes.h"

#include <errno.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* libconfig's own limit on @include nesting: past it libconfig refuses the file. */
#define INCLUDE_DEPTH 10

char *fod_include_name(const char *p, const char *limit, const char **end)
{
	char *name = malloc((size_t)(limit - p) + 1);
	size_t n = 0;
	bool cut = false; /* a NUL ended this run of plain characters */
	*end = NULL;
	while (p < limit) {
		if (*p == '"') {
			*end = p + 1;
			if (name)
				name[n] = '\0';
			return name;
		}
		if (*p == '\\') {
			cut = false;
			if (p + 1 < limit && (p[1] == '\\' || p[1] == '"')) {
				if (name)
					name[n++] = p[1];
				p += 2;
			} else {
				p++; /* no rule takes it: flex's default rule echoes it, unkept */
			}
			continue;
		}
		/* A run is appended with strlen: it ends at its first NUL. */
		if (*p == '\0')
			cut = true;
		else if (!cut && name)
			name[n++] = *p;
		p++;
	}
	free(name);
	return NULL;
}

/* Where the name starts if the line at p opens an @include (flex: ^[ \t]*@include[ \t]+\"). */
static const char *directive(const char *p, const char *limit)
{
	while (p < limit && (*p == ' ' || *p == '\t'))
		p++;
	if (limit - p < 9 || memcmp(p, "@include", 8) != 0 || (p[8] != ' ' && p[8] != '\t'))
		return NULL;
	p += 8;
	while (p < limit && (*p == ' ' || *p == '\t'))
		p++;
	return p < limit && *p == '"' ? p + 1 : NULL;
}

/* Past this a configuration is refused unread (/dev/zero given as one would never end). */
#define TEXT_MAX ((size_t)64 << 20)

/* The whole file; NULL with errno set when it cannot be read (EFBIG: past TEXT_MAX). */
static char *slurp(FILE *f, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *text = malloc(cap);
	while (text) {
		n += fread(text + n, 1, cap - n, f);
		if (n < cap)
			break;
		char *bigger = cap < TEXT_MAX ? realloc(text, cap * 2) : NULL;
		if (!bigger) {
			free(text);
			errno = cap < TEXT_MAX ? ENOMEM : EFBIG;
			return NULL;
		}
		text = bigger;
		cap *= 2;
	}
	if (text && ferror(f)) {
		int e = errno ? errno : EIO;
		free(text);
		errno = e;
		return NULL;
	}
	*len = n;
	return text;
}

/* The name as an error message shows it: one line, control characters as '?'. */
static void shown(const char *name, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s", name);
	for (char *c = out; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
}

static int check_file(const char *file, const char *dir, int depth, char *err, size_t errlen);

/* The file an @include at line of file names: 0, 1 (too deep: stop), or -errno. */
static int check_one(const char *file, unsigned line, const char *name, const char *dir, int depth,
		     char *err, size_t errlen)
{
	char *path, what[256];
	/* libconfig 1.5 puts its include directory before every name, absolute ones too. */
	if (asprintf(&path, "%s%s%s", dir ? dir : "", dir ? "/" : "", name) < 0) {
		snprintf(err, errlen, "%s:%u: out of memory", file, line);
		return -ENOMEM;
	}
	struct stat st;
	int r = 0;
	if (stat(path, &st) < 0) {
		r = 0; /* libconfig says it cannot open it */
	} else if (S_ISDIR(st.st_mode)) {
		shown(name, what, sizeof(what));
		snprintf(err, errlen, "%s:%u: @include \"%s\" is a directory", file, line, what);
		r = -EISDIR;
	} else if (!S_ISREG(st.st_mode)) {
		/* A FIFO would hold the reload forever, a device feed it without end. */
		shown(name, what, sizeof(what));
		snprintf(err, errlen, "%s:%u: @include \"%s\" is not a regular file", file, line,
			 what);
		r = -EINVAL;
	} else {
		r = check_file(path, dir, depth + 1, err, errlen);
	}
	free(path);
	return r;
}

/* The @includes of one file's text, depth 1 for the top file. */
static int check_text(const char *file, const char *text, size_t len, const char *dir, int depth,
		      char *err, size_t errlen)
{
	/*
	 * Every line that opens an @include, even inside a comment or a string
	 * where libconfig would not take it: a refusal there is the safe mistake.
	 */
	int r = 0;
	unsigned line = 1;
	const char *limit = text + len;
	for (const char *p = text; r == 0 && p < limit; line++) {
		const char *at = directive(p, limit), *end = NULL;
		char *name = at ? fod_include_name(at, limit, &end) : NULL;
		if (at && depth > INCLUDE_DEPTH) {
			/* libconfig refuses it too; its parents' later lines are never read. */
			snprintf(err, errlen, "%s:%u: @include nested more than %d files deep",
				 file, line, INCLUDE_DEPTH);
			r = -ELOOP;
		} else if (name) {
			r = check_one(file, line, name, dir, depth, err, errlen);
		} else if (end) {
			snprintf(err, errlen, "%s:%u: out of memory", file, line);
			r = -ENOMEM;
		} else if (at) {
			/*
			 * libconfig would go on with the name in the including file, after
			 * its @include's closing quote: refused rather than followed.
			 */
			snprintf(err, errlen,
				 "%s:%u: @include name not closed before the file ends", file,
				 line);
			r = -EINVAL;
		}
		free(name);
		const char *nl = memchr(p, '\n', (size_t)(limit - p));
		if (!nl)
			break;
		p = nl + 1;
	}
	return r;
}

/* The file's text, or NULL with err set and *r the -errno. */
static char *read_text(const char *file, FILE *f, size_t *len, int *r, char *err, size_t errlen)
{
	char *text = slurp(f, len);
	if (!text) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", file,
			 e == ENOMEM  ? "out of memory"
			 : e == EFBIG ? "larger than 64 MiB: not a configuration"
				      : "cannot read the file");
		*r = e == ENOMEM ? -ENOMEM : e == EFBIG ? -EFBIG : -EIO;
	}
	return text;
}

static int check_file(const char *file, const char *dir, int depth, char *err, size_t errlen)
{
	FILE *f = fopen(file, "re");
	if (!f && errno == ENOMEM) {
		snprintf(err, errlen, "%s: out of memory", file);
		return -ENOMEM;
	}
	if (!f)
		return 0; /* libconfig says why it cannot open it */
	size_t len = 0;
	int r = 0;
	char *text = read_text(file, f, &len, &r, err, errlen);
	fclose(f);
	if (text)
		r = check_text(file, text, len, dir, depth, err, errlen);
	free(text);
	return r;
}

int fod_check_includes(const char *file, const char *include_dir, char **text, size_t *len,
		       char *err, size_t errlen)
{
	*text = NULL;
	*len = 0;
	FILE *f = fopen(file, "re");
	if (!f && errno == ENOMEM) {
		snprintf(err, errlen, "%s: out of memory", file);
		return -ENOMEM;
	}
	if (!f)
		return 0; /* the caller says why it cannot open it */
	struct stat st;
	int r = 0;
	if (fstat(fileno(f), &st) < 0 || S_ISDIR(st.st_mode)) {
		fclose(f); /* the caller names a directory */
		return 0;
	}
	char *t = read_text(file, f, len, &r, err, errlen);
	fclose(f);
	if (t)
		r = check_text(file, t, *len, include_dir, 1, err, errlen);
	/* A pipe's text cannot be read twice: the caller parses this copy. */
	if (r == 0 && !S_ISREG(st.st_mode))
		*text = t;
	else
		free(t);
	return r;
}
