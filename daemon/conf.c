/* SPDX-License-Identifier: MIT */
/*
 * Reading the configuration (conf.h): typed readers with ranges and
 * "file:line" errors, the known-settings marks, and the unknown-setting check.
 */
#include "conf.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fanoutd/fanout.h"
#include "log.h"

/* A file read again for its integer literals. */
struct fod_conf_source {
	char *file, *text;
	size_t *line_at; /* offset of line n + 1 in text */
	unsigned nlines;
};

/* ---- errors: the first one of a build wins */

void fod_conf_sink_init(struct fod_conf_sink *k, const char *path, char *err, size_t errlen)
{
	*k = (struct fod_conf_sink){.err = err, .errlen = errlen, .path = path};
	if (errlen)
		err[0] = '\0';
}

struct fod_conf_asked {
	const config_setting_t *in;
	char *name;
};

void fod_conf_sink_fini(struct fod_conf_sink *k)
{
	for (size_t i = 0; i < k->nsources; i++) {
		free(k->sources[i].file);
		free(k->sources[i].text);
		free(k->sources[i].line_at);
	}
	free(k->sources);
	for (size_t i = 0; i < k->nasked; i++)
		free(k->asked[i].name);
	free(k->asked);
	k->sources = NULL;
	k->asked = NULL;
	k->nsources = k->nasked = k->askedcap = 0;
}

static void where(const struct fod_conf_sink *k, const config_setting_t *s, char *buf, size_t len)
{
	const char *file = s ? config_setting_source_file(s) : NULL;
	unsigned line = s ? config_setting_source_line(s) : 0;
	if (!file)
		file = k && k->path ? k->path : "(config)";
	/* The root setting has no line: "file" rather than a made-up ":0". */
	if (line)
		snprintf(buf, len, "%s:%u", file, line);
	else
		snprintf(buf, len, "%s", file);
}

void fod_conf_verror(struct fod_conf_sink *k, const config_setting_t *s, const char *fmt,
		     va_list ap)
{
	if (k && k->failed)
		return;
	char msg[512], at[320];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	where(k, s, at, sizeof(at));
	if (!k) { /* a module reading its settings outside a build */
		log_err("%s: %s", at, msg);
		return;
	}
	k->failed = true;
	snprintf(k->err, k->errlen, "%s: %s", at, msg);
}

void fod_conf_error(struct fod_conf_sink *k, const config_setting_t *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fod_conf_verror(k, s, fmt, ap);
	va_end(ap);
}

/* ---- known settings */

static char known_mark; /* a setting's libconfig hook points here once something read it */

void fod_conf_known(const config_setting_t *s)
{
	if (s)
		config_setting_set_hook((config_setting_t *)s, &known_mark);
}

static bool marked(const config_setting_t *s)
{
	return config_setting_get_hook(s) == &known_mark;
}

static void remember_asked(struct fod_conf_sink *k, const config_setting_t *in, const char *name)
{
	if (!k || !in)
		return;
	for (size_t i = 0; i < k->nasked; i++)
		if (k->asked[i].in == in && strcmp(k->asked[i].name, name) == 0)
			return;
	if (k->nasked == k->askedcap) {
		size_t cap = k->askedcap ? 2 * k->askedcap : 32;
		struct fod_conf_asked *a = realloc(k->asked, cap * sizeof(*a));
		if (!a)
			return; /* only a suggestion is lost */
		k->asked = a;
		k->askedcap = cap;
	}
	char *copy = strdup(name);
	if (copy)
		k->asked[k->nasked++] = (struct fod_conf_asked){in, copy};
}

const config_setting_t *fod_conf_child(struct fod_conf_sink *k, const config_setting_t *s,
				       const char *name)
{
	const config_setting_t *v = s ? config_setting_get_member(s, name) : NULL;
	if (v)
		fod_conf_known(v);
	else
		remember_asked(k, s, name);
	return v;
}

/* 1 with *v set, 0 when an optional setting is absent, -EINVAL when a required one is. */
static int member(struct fod_conf_sink *k, const config_setting_t *s, const char *name,
		  bool required, const config_setting_t **v)
{
	*v = name ? fod_conf_child(k, s, name) : s;
	if (*v) {
		fod_conf_known(*v);
		return 1;
	}
	if (required) {
		fod_conf_error(k, s, "'%s' is required", name ? name : "(value)");
		return -EINVAL;
	}
	return 0;
}

/* What a message calls the setting: its name, or "element N" of a list. */
static const char *label(const config_setting_t *v, const char *name, char *buf, size_t len)
{
	if (name)
		return name;
	if (config_setting_name(v))
		return config_setting_name(v);
	snprintf(buf, len, "element %d", config_setting_index(v) + 1);
	return buf;
}

/* A reader's start: the setting (1, with *v and what messages call it), absent (0) or -EINVAL. */
struct found {
	const config_setting_t *v;
	const char *what;
	char buf[32];
};

static int find(struct fod_conf_sink *k, const config_setting_t *s, const char *name, bool required,
		struct found *f)
{
	int r = member(k, s, name, required, &f->v);
	if (r > 0)
		f->what = label(f->v, name, f->buf, sizeof(f->buf));
	return r;
}

/* ---- integers as written
 *
 * libconfig 1.5 (Debian's) stores an integer literal without the L suffix as a
 * 32-bit int and wraps it silently: "max_url = 4294967312;" reads back as 16,
 * whatever the lookup (config_setting_get_int64 returns the wrapped int). So
 * for such a setting the literal is read again from its file, at its line, and
 * taken when it wraps to the stored value; the 64-bit value then meets the
 * range check, and messages show the number as written. A file is read once
 * per build. A file rewritten since libconfig read it may no longer hold a
 * matching literal: then the stored value stands, as before.
 */

static char *read_whole(const char *file)
{
	FILE *f = fopen(file, "re");
	if (!f)
		return NULL;
	size_t len = 0, cap = 4096;
	char *text = malloc(cap + 1);
	size_t n;
	while (text && (n = fread(text + len, 1, cap - len, f)) > 0) {
		len += n;
		if (len == cap) {
			char *t = realloc(text, cap * 2 + 1);
			if (!t) {
				free(text);
				text = NULL;
				break;
			}
			text = t;
			cap *= 2;
		}
	}
	fclose(f);
	if (text)
		text[len] = '\0';
	return text;
}

/*
 * The text of FILE, read at its first use in this build; NULL if unreadable.
 * libconfig names an @included file as written, relative to the include
 * directory; the top file as it was given.
 */
static const struct fod_conf_source *source_of(struct fod_conf_sink *k, const config_t *cfg,
					       const char *file)
{
	for (size_t i = 0; i < k->nsources; i++)
		if (strcmp(k->sources[i].file, file) == 0)
			return &k->sources[i];
	struct fod_conf_source *all = realloc(k->sources, (k->nsources + 1) * sizeof(*all));
	if (!all)
		return NULL;
	k->sources = all;
	const char *dir = config_get_include_dir(cfg);
	char *text = NULL, *joined;
	if (file[0] != '/' && dir && !(k->path && strcmp(file, k->path) == 0) &&
	    asprintf(&joined, "%s/%s", dir, file) >= 0) {
		text = read_whole(joined);
		free(joined);
	}
	struct fod_conf_source *src = &k->sources[k->nsources];
	*src = (struct fod_conf_source){.file = strdup(file),
					.text = text ? text : read_whole(file)};
	if (!src->file) {
		free(src->text);
		return NULL;
	}
	k->nsources++;
	/* Where each line starts, so that finding one is not a walk from the top. */
	size_t cap = 0;
	for (const char *p = src->text; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (src->nlines == cap) {
			cap = cap ? cap * 2 : 256;
			size_t *l = realloc(src->line_at, cap * sizeof(*l));
			if (!l)
				break;
			src->line_at = l;
		}
		src->line_at[src->nlines++] = (size_t)(p - src->text);
	}
	return src;
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c == '*';
}

/* p past blanks and comments (libconfig's #, // and slash-star ones). */
static const char *skip_blank(const char *p)
{
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f')
			p++;
		if (*p == '#' || (p[0] == '/' && p[1] == '/'))
			p += strcspn(p, "\n");
		else if (p[0] == '/' && p[1] == '*') {
			const char *end = strstr(p + 2, "*/");
			p = end ? end + 2 : p + strlen(p);
		} else
			return p;
	}
}

/*
 * An integer literal as libconfig's scanner takes one: [-+]?[0-9]+ or
 * 0[xX][0-9a-fA-F]+, not followed by what would make it an int64 (L) or a float.
 * Its length, or 0.
 */
static size_t int_literal_len(const char *p)
{
	size_t n = 0;
	if ((p[0] == '0') && (p[1] == 'x' || p[1] == 'X')) {
		n = 2;
		while ((p[n] >= '0' && p[n] <= '9') || (p[n] >= 'a' && p[n] <= 'f') ||
		       (p[n] >= 'A' && p[n] <= 'F'))
			n++;
		if (n == 2)
			return 0;
	} else {
		if (p[n] == '-' || p[n] == '+')
			n++;
		size_t digits = n;
		while (p[n] >= '0' && p[n] <= '9')
			n++;
		if (n == digits)
			return 0;
	}
	if (p[n] == 'L' || p[n] == '.' || p[n] == 'e' || p[n] == 'E' || name_char(p[n]))
		return 0;
	return n;
}

/*
 * Copies into buf the literal of integer setting v as written, if found on or
 * just after its line: "NAME = LITERAL" or "NAME : LITERAL" whose 32-bit
 * wrap is the stored value.
 */
static bool find_literal(struct fod_conf_sink *k, const config_setting_t *v, char *buf,
			 size_t buflen)
{
	const char *file = config_setting_source_file(v), *name = config_setting_name(v);
	unsigned line = config_setting_source_line(v);
	if (!k || !file || !name || !line)
		return false;
	const struct fod_conf_source *src = source_of(k, v->config, file);
	const char *p = src && line <= src->nlines ? src->text + src->line_at[line - 1] : NULL;
	bool found = false;
	size_t namelen = strlen(name);
	/* The setting starts on its line; its value may follow a few lines on. */
	const char *stop = p ? p + strnlen(p, 4096) : NULL;
	while (p && !found && (p = skip_blank(p)) < stop && *p) {
		if (*p == '"') { /* a string: skip it, escapes included */
			for (p++; *p && *p != '"'; p++)
				if (*p == '\\' && p[1])
					p++;
			p += *p == '"';
			continue;
		}
		if (!name_char(*p)) {
			p++;
			continue;
		}
		const char *word = p;
		while (name_char(*p))
			p++;
		if ((size_t)(p - word) != namelen || strncmp(word, name, namelen) != 0)
			continue;
		const char *q = skip_blank(p);
		if (*q != '=' && *q != ':')
			continue;
		q = skip_blank(q + 1);
		size_t n = int_literal_len(q);
		if (!n || n >= buflen)
			continue;
		memcpy(buf, q, n);
		buf[n] = '\0';
		bool hex = buf[0] == '0' && (buf[1] == 'x' || buf[1] == 'X');
		unsigned long long bits =
			hex ? strtoull(buf, NULL, 16) : (unsigned long long)strtoll(buf, NULL, 10);
		found = (int)(uint32_t)bits == config_setting_get_int(v);
	}
	return found;
}

/*
 * The integer setting v as a 64-bit value, with the text it was written as in
 * given. -ERANGE when the literal does not fit 64 bits either.
 */
static int int_value(struct fod_conf_sink *k, const config_setting_t *v, long long *x, char *given,
		     size_t givenlen)
{
	*x = config_setting_get_int64(v);
	snprintf(given, givenlen, "%lld", *x);
	char lit[64];
	if (config_setting_type(v) != CONFIG_TYPE_INT || !find_literal(k, v, lit, sizeof(lit)))
		return 0;
	snprintf(given, givenlen, "%s", lit);
	bool hex = lit[0] == '0' && (lit[1] == 'x' || lit[1] == 'X');
	errno = 0;
	if (hex) {
		unsigned long long u = strtoull(lit, NULL, 16);
		if (errno == ERANGE || u > (unsigned long long)LLONG_MAX)
			return -ERANGE;
		*x = (long long)u;
	} else {
		*x = strtoll(lit, NULL, 10);
		if (errno == ERANGE)
			return -ERANGE;
	}
	return 0;
}

/* ---- the readers */

int fod_conf_int(struct fod_conf_sink *k, const config_setting_t *s, const char *name, int64_t min,
		 int64_t max, bool required, int64_t *out)
{
	struct found f;
	int r = find(k, s, name, required, &f);
	if (r <= 0)
		return r;
	const config_setting_t *v = f.v;
	const char *what = f.what;
	int t = config_setting_type(v);
	if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) {
		fod_conf_error(k, v, "'%s' must be an integer in [%lld, %lld]", what,
			       (long long)min, (long long)max);
		return -EINVAL;
	}
	long long x;
	char given[64];
	if (int_value(k, v, &x, given, sizeof(given)) < 0 || x < min || x > max) {
		fod_conf_error(k, v, "'%s' = %s is out of range [%lld, %lld]", what, given,
			       (long long)min, (long long)max);
		return -EINVAL;
	}
	*out = x;
	return 0;
}

int fod_conf_double(struct fod_conf_sink *k, const config_setting_t *s, const char *name,
		    double min, double max, bool required, double *out)
{
	struct found f;
	int r = find(k, s, name, required, &f);
	if (r <= 0)
		return r;
	const config_setting_t *v = f.v;
	const char *what = f.what;
	int t = config_setting_type(v);
	double x;
	char given[64];
	if (t == CONFIG_TYPE_FLOAT) {
		x = config_setting_get_float(v);
		snprintf(given, sizeof(given), "%g", x);
	} else if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64) {
		long long i;
		x = int_value(k, v, &i, given, sizeof(given)) < 0 ? HUGE_VAL : (double)i;
	} else {
		fod_conf_error(k, v, "'%s' must be a number in [%g, %g]", what, min, max);
		return -EINVAL;
	}
	if (!(x >= min && x <= max)) {
		fod_conf_error(k, v, "'%s' = %s is out of range [%g, %g]", what, given, min, max);
		return -EINVAL;
	}
	*out = x;
	return 0;
}

int fod_conf_bool(struct fod_conf_sink *k, const config_setting_t *s, const char *name,
		  bool required, bool *out)
{
	struct found f;
	int r = find(k, s, name, required, &f);
	if (r <= 0)
		return r;
	if (config_setting_type(f.v) != CONFIG_TYPE_BOOL) {
		fod_conf_error(k, f.v, "'%s' must be true or false", f.what);
		return -EINVAL;
	}
	*out = config_setting_get_bool(f.v);
	return 0;
}

int fod_conf_string(struct fod_conf_sink *k, const config_setting_t *s, const char *name,
		    size_t max_len, bool required, const char **out)
{
	struct found f;
	int r = find(k, s, name, required, &f);
	if (r <= 0)
		return r;
	const config_setting_t *v = f.v;
	const char *what = f.what;
	if (config_setting_type(v) != CONFIG_TYPE_STRING) {
		fod_conf_error(k, v, "'%s' must be a string", what);
		return -EINVAL;
	}
	const char *str = config_setting_get_string(v);
	if (max_len && strlen(str) > max_len) {
		fod_conf_error(k, v, "'%s' is longer than %zu bytes", what, max_len);
		return -EINVAL;
	}
	*out = str;
	return 0;
}

int fod_conf_ms(struct fod_conf_sink *k, const config_setting_t *s, const char *name,
		int64_t min_ms, int64_t max_ms, bool required, int64_t *out_ns)
{
	int64_t ms = *out_ns / FO_MSEC;
	int r = fod_conf_int(k, s, name, min_ms, max_ms, required, &ms);
	if (r == 0)
		*out_ns = ms * FO_MSEC;
	return r;
}

/* ---- unknown settings */

/* Levenshtein distance, capped: names longer than 63 bytes are never "close". */
static unsigned distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 63 || lb > 63)
		return UINT32_MAX;
	unsigned row[64];
	for (size_t j = 0; j <= lb; j++)
		row[j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		unsigned diag = row[0];
		row[0] = (unsigned)i;
		for (size_t j = 1; j <= lb; j++) {
			unsigned up = row[j];
			unsigned best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* The closest name a reader asked for in the same group, or a known sibling's. */
static const char *suggest(const struct fod_conf_sink *k, const config_setting_t *s)
{
	const config_setting_t *parent = config_setting_parent(s);
	const char *name = config_setting_name(s), *best = NULL;
	unsigned bestd = (unsigned)strlen(name) / 3 + 1;
	if (bestd < 2)
		bestd = 2;
	bestd++; /* strictly closer than the bound */
	for (size_t i = 0; k && i < k->nasked; i++) {
		unsigned d = distance(name, k->asked[i].name);
		if (k->asked[i].in == parent && d < bestd) {
			bestd = d;
			best = k->asked[i].name;
		}
	}
	for (int i = 0; parent && i < config_setting_length(parent); i++) {
		const config_setting_t *sib = config_setting_get_elem(parent, (unsigned)i);
		const char *n = sib ? config_setting_name(sib) : NULL;
		unsigned d = n && marked(sib) ? distance(name, n) : UINT32_MAX;
		if (d < bestd) {
			bestd = d;
			best = n;
		}
	}
	return best;
}

static bool aggregate(const config_setting_t *s)
{
	return config_setting_is_group(s) || config_setting_is_list(s) ||
	       config_setting_is_array(s);
}

/* Whether anything read s or a setting inside it. */
static bool used(const config_setting_t *s)
{
	if (marked(s))
		return true;
	for (int i = 0; aggregate(s) && i < config_setting_length(s); i++)
		if (used(config_setting_get_elem(s, (unsigned)i)))
			return true;
	return false;
}

/* The first setting under s that nobody read; s itself is known. */
static const config_setting_t *first_unknown(const config_setting_t *s)
{
	for (int i = 0; aggregate(s) && i < config_setting_length(s); i++) {
		const config_setting_t *c = config_setting_get_elem(s, (unsigned)i);
		/* A list's unnamed elements are known with the list (read by index). */
		bool known = used(c) || (!config_setting_name(c) && marked(s));
		if (!known)
			return c;
		const config_setting_t *u = first_unknown(c);
		if (u)
			return u;
	}
	return NULL;
}

int fod_conf_check_unknown(struct fod_conf_sink *k, const config_setting_t *root)
{
	const config_setting_t *u = root ? first_unknown(root) : NULL;
	if (!u)
		return 0;
	const char *name = config_setting_name(u), *hint = name ? suggest(k, u) : NULL;
	const config_setting_t *parent = config_setting_parent(u);
	const char *in = parent ? config_setting_name(parent) : NULL;
	char ctx[160] = "";
	if (in)
		snprintf(ctx, sizeof(ctx), " in '%s'", in);
	if (!name)
		fod_conf_error(k, u, "this element%s is not used by anything", ctx);
	else if (hint)
		fod_conf_error(k, u, "unknown setting '%s'%s: did you mean '%s'?", name, ctx, hint);
	else
		fod_conf_error(k, u, "unknown setting '%s'%s", name, ctx);
	return -EINVAL;
}
