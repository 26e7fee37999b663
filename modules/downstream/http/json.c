/* SPDX-License-Identifier: MIT */
#include "json.h"

#include <stdint.h>

struct scan {
	const unsigned char *p, *end;
};

static void skip_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool digits(struct scan *s)
{
	const unsigned char *start = s->p;
	while (s->p < s->end && is_digit(*s->p))
		s->p++;
	return s->p > start;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool number(struct scan *s)
{
	if (s->p < s->end && *s->p == '-')
		s->p++;
	if (s->p >= s->end || !is_digit(*s->p))
		return false;
	if (*s->p == '0')
		s->p++;
	else
		digits(s);
	if (s->p < s->end && *s->p == '.') {
		s->p++;
		if (!digits(s))
			return false;
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
		s->p++;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		if (!digits(s))
			return false;
	}
	return true;
}

static bool literal(struct scan *s, const char *word, size_t n)
{
	if ((size_t)(s->end - s->p) < n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s->p[i] != (unsigned char)word[i])
			return false;
	s->p += n;
	return true;
}

/* One UTF-8 sequence starting with a byte >= 0x80: no overlong forms, no
 * surrogates, nothing past U+10FFFF. */
static bool utf8(struct scan *s)
{
	unsigned char c = *s->p;
	size_t more;
	uint32_t cp, min;
	if (c >= 0xc2 && c <= 0xdf) {
		more = 1, cp = c & 0x1f, min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		more = 2, cp = c & 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		more = 3, cp = c & 0x07, min = 0x10000;
	} else {
		return false;
	}
	if ((size_t)(s->end - s->p) <= more)
		return false;
	for (size_t i = 1; i <= more; i++) {
		if ((s->p[i] & 0xc0) != 0x80)
			return false;
		cp = (cp << 6) | (s->p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return false;
	s->p += more + 1;
	return true;
}

static bool is_hex(unsigned char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A string, the opening quote at s->p. */
static bool string(struct scan *s)
{
	s->p++;
	while (s->p < s->end) {
		unsigned char c = *s->p;
		if (c == '"') {
			s->p++;
			return true;
		}
		if (c < 0x20)
			return false;
		if (c == '\\') {
			if (s->end - s->p < 2)
				return false;
			unsigned char e = s->p[1];
			if (e == 'u') {
				if (s->end - s->p < 6)
					return false;
				for (int i = 2; i < 6; i++)
					if (!is_hex(s->p[i]))
						return false;
				s->p += 6;
			} else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' ||
				   e == 'n' || e == 'r' || e == 't') {
				s->p += 2;
			} else {
				return false;
			}
		} else if (c >= 0x80) {
			if (!utf8(s))
				return false;
		} else {
			s->p++;
		}
	}
	return false;
}

/* A scalar value at s->p (the caller has handled '{' and '['). */
static bool scalar(struct scan *s)
{
	switch (*s->p) {
	case '"':
		return string(s);
	case 't':
		return literal(s, "true", 4);
	case 'f':
		return literal(s, "false", 5);
	case 'n':
		return literal(s, "null", 4);
	default:
		return number(s);
	}
}

/* `"key" :` inside an object, whitespace before it skipped. */
static bool key(struct scan *s)
{
	if (s->p >= s->end || *s->p != '"' || !string(s))
		return false;
	skip_ws(s);
	if (s->p >= s->end || *s->p != ':')
		return false;
	s->p++;
	return true;
}

bool fo_json_valid(const char *text, size_t n)
{
	struct scan s = {(const unsigned char *)text, (const unsigned char *)text + n};
	/* The open containers, innermost last: '{' or '['. */
	unsigned char stack[FO_JSON_MAX_DEPTH];
	size_t depth = 0;
	for (;;) {
		/* A value is expected here. */
		skip_ws(&s);
		if (s.p >= s.end)
			return false;
		if (*s.p == '{' || *s.p == '[') {
			if (depth == FO_JSON_MAX_DEPTH)
				return false;
			unsigned char open = *s.p++;
			stack[depth++] = open;
			skip_ws(&s);
			if (s.p < s.end && *s.p == (open == '{' ? '}' : ']')) {
				s.p++;
				depth--;
			} else {
				if (open == '{' && !key(&s))
					return false;
				continue; /* the first member's value */
			}
		} else if (!scalar(&s)) {
			return false;
		}
		/* After a value: close containers, or a comma for the next member. */
		for (;;) {
			skip_ws(&s);
			if (depth == 0)
				return s.p == s.end;
			if (s.p >= s.end)
				return false;
			unsigned char open = stack[depth - 1];
			if (*s.p == (open == '{' ? '}' : ']')) {
				s.p++;
				depth--;
				continue;
			}
			if (*s.p != ',')
				return false;
			s.p++;
			if (open == '{') {
				skip_ws(&s);
				if (!key(&s))
					return false;
			}
			break; /* the next member's value */
		}
	}
}
