/* SPDX-License-Identifier: MIT */
#include "common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

void ctl_req_init(struct ctl_req *r, const char *op, size_t nargs)
{
	msgpack_sbuffer_init(&r->buf);
	msgpack_packer_init(&r->pk, &r->buf, msgpack_sbuffer_write);
	msgpack_pack_map(&r->pk, 1 + nargs);
	mp_str(&r->pk, "op");
	mp_str(&r->pk, op);
}

void ctl_req_free(struct ctl_req *r)
{
	msgpack_sbuffer_destroy(&r->buf);
}

int ctl_reply_parse(char *raw, size_t len, struct ctl_reply *r)
{
	memset(r, 0, sizeof(*r));
	r->raw = raw;
	r->status = -1;
	msgpack_unpacked_init(&r->u);
	size_t off = 0;
	if (msgpack_unpack_next(&r->u, raw, len, &off) != MSGPACK_UNPACK_SUCCESS ||
	    r->u.data.type != MSGPACK_OBJECT_MAP)
		return -1;
	const msgpack_object *st = mp_member(&r->u.data, "status");
	if (!st || st->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return -1;
	r->status = (long long)st->via.u64;
	ctl_scalar(mp_member(&r->u.data, "msg"), r->msg, sizeof(r->msg));
	r->data = mp_member(&r->u.data, "data");
	return 0;
}

void ctl_reply_free(struct ctl_reply *r)
{
	msgpack_unpacked_destroy(&r->u);
	free(r->raw);
	r->raw = NULL;
}

int ctl_connect(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

int ctl_full_io(int fd, void *buf, size_t len, bool writing)
{
	char *p = buf;
	while (len) {
		/* send() without SIGPIPE: a daemon that refused us has closed, but its reason
		 * is there to read. */
		ssize_t n = writing ? send(fd, p, len, MSG_NOSIGNAL) : read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int ctl_send(int fd, const struct ctl_req *req)
{
	unsigned char prefix[4];
	mp_frame_prefix((uint32_t)req->buf.size, prefix);
	if (ctl_full_io(fd, prefix, 4, true) < 0)
		return -1;
	return ctl_full_io(fd, req->buf.data, req->buf.size, true);
}

long ctl_recv(int fd, char **out)
{
	unsigned char prefix[4];
	uint32_t len;
	if (ctl_full_io(fd, prefix, 4, false) < 0 || (len = mp_frame_len(prefix)) == 0 ||
	    len > MP_MAX_FRAME)
		return -1;
	char *p = malloc(len);
	if (!p || ctl_full_io(fd, p, len, false) < 0) {
		free(p);
		return -1;
	}
	*out = p;
	return (long)len;
}

int ctl_call(const char *path, const struct ctl_req *req, struct ctl_reply *rep)
{
	int fd = ctl_connect(path);
	if (fd < 0) {
		fprintf(stderr, "fanoutctl: cannot reach fanoutd at %s: %s\n", path, strerror(-fd));
		return CTL_UNREACHABLE;
	}
	char *raw = NULL;
	/* Read even when the send failed: a refusal (too many connections) comes before any
	 * request. */
	ctl_send(fd, req);
	long len = ctl_recv(fd, &raw);
	close(fd);
	if (len < 0) {
		fprintf(stderr, "fanoutctl: the connection to %s broke\n", path);
		return CTL_UNREACHABLE;
	}
	if (ctl_reply_parse(raw, (size_t)len, rep) < 0) {
		ctl_reply_free(rep);
		fprintf(stderr, "fanoutctl: malformed reply\n");
		return CTL_UNREACHABLE;
	}
	return CTL_OK;
}

static size_t utf8_len(const unsigned char *p, const unsigned char *end);

/* UTF-8 text as it is; control characters and bytes that are not UTF-8 as \u escapes. */
static void json_str(FILE *f, const char *p, size_t n)
{
	const unsigned char *u = (const unsigned char *)p, *end = u + n;
	fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = u[i];
		size_t seq = ch >= 0x80 ? utf8_len(u + i, end) : 0;
		if (ch == '"' || ch == '\\') {
			fprintf(f, "\\%c", ch);
		} else if (seq > 1) {
			fwrite(u + i, 1, seq, f);
			i += seq - 1;
		} else if (ch < 0x20 || ch >= 0x7f) {
			fprintf(f, "\\u%04x", ch);
		} else {
			fputc(ch, f);
		}
	}
	fputc('"', f);
}

void ctl_json(FILE *f, const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		fputs("null", f);
		break;
	case MSGPACK_OBJECT_BOOLEAN:
		fputs(o->via.boolean ? "true" : "false", f);
		break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		fprintf(f, "%llu", (unsigned long long)o->via.u64);
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		fprintf(f, "%lld", (long long)o->via.i64);
		break;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		fprintf(f, "%.6g", o->via.f64);
		break;
	case MSGPACK_OBJECT_STR:
		json_str(f, o->via.str.ptr, o->via.str.size);
		break;
	case MSGPACK_OBJECT_BIN: {
		/* Printable bytes as a string, anything else as hex. */
		bool text = true;
		for (uint32_t i = 0; i < o->via.bin.size && text; i++)
			text = o->via.bin.ptr[i] >= 0x20 && o->via.bin.ptr[i] < 0x7f;
		if (text) {
			json_str(f, o->via.bin.ptr, o->via.bin.size);
		} else {
			fputc('"', f);
			for (uint32_t i = 0; i < o->via.bin.size; i++)
				fprintf(f, "%02x", (unsigned char)o->via.bin.ptr[i]);
			fputc('"', f);
		}
		break;
	}
	case MSGPACK_OBJECT_ARRAY:
		fputc('[', f);
		for (uint32_t i = 0; i < o->via.array.size; i++) {
			if (i)
				fputc(',', f);
			ctl_json(f, &o->via.array.ptr[i]);
		}
		fputc(']', f);
		break;
	case MSGPACK_OBJECT_MAP:
		fputc('{', f);
		for (uint32_t i = 0; i < o->via.map.size; i++) {
			if (i)
				fputc(',', f);
			ctl_json(f, &o->via.map.ptr[i].key);
			fputc(':', f);
			ctl_json(f, &o->via.map.ptr[i].val);
		}
		fputc('}', f);
		break;
	default:
		fputs("null", f);
		break;
	}
}

void ctl_scalar(const msgpack_object *o, char *buf, size_t len)
{
	switch (o ? o->type : MSGPACK_OBJECT_NIL) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		snprintf(buf, len, "%llu", (unsigned long long)o->via.u64);
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		snprintf(buf, len, "%lld", (long long)o->via.i64);
		break;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		snprintf(buf, len, "%.3f", o->via.f64);
		break;
	case MSGPACK_OBJECT_STR:
		snprintf(buf, len, "%.*s", (int)o->via.str.size, o->via.str.ptr);
		break;
	case MSGPACK_OBJECT_BOOLEAN:
		snprintf(buf, len, "%s", o->via.boolean ? "yes" : "no");
		break;
	default:
		snprintf(buf, len, "-");
		break;
	}
}

void ctl_human(FILE *f, const msgpack_object *o)
{
	char v[512];
	if (o->type == MSGPACK_OBJECT_MAP) {
		for (uint32_t i = 0; i < o->via.map.size; i++) {
			char k[128];
			ctl_scalar(&o->via.map.ptr[i].key, k, sizeof(k));
			ctl_scalar(&o->via.map.ptr[i].val, v, sizeof(v));
			fprintf(f, "%-20s %s\n", k, v);
		}
	} else if (o->type == MSGPACK_OBJECT_ARRAY) {
		if (o->via.array.size == 0)
			fprintf(f, "(none)\n");
		for (uint32_t r = 0; r < o->via.array.size; r++) {
			const msgpack_object *row = &o->via.array.ptr[r];
			if (row->type != MSGPACK_OBJECT_MAP)
				continue;
			if (r == 0) {
				for (uint32_t i = 0; i < row->via.map.size; i++) {
					ctl_scalar(&row->via.map.ptr[i].key, v, sizeof(v));
					fprintf(f, "%-12s ", v);
				}
				fputc('\n', f);
			}
			for (uint32_t i = 0; i < row->via.map.size; i++) {
				ctl_scalar(&row->via.map.ptr[i].val, v, sizeof(v));
				fprintf(f, "%-12s ", v);
			}
			fputc('\n', f);
		}
	}
}

void ctl_json_str(FILE *f, const char *s)
{
	json_str(f, s, strlen(s));
}

/* ---- JSON values from modules: checked, then embedded as they are */

struct jparse {
	const unsigned char *p, *end;
	struct ctl_buf *out;
	int depth;
};

#define JSON_MAX_DEPTH 64

static int put(struct jparse *j, const unsigned char *s, size_t n)
{
	struct ctl_buf *b = j->out;
	if (b->len + n > b->cap) {
		size_t cap = (b->len + n) * 2;
		char *p = realloc(b->p, cap);
		if (!p)
			return -1;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	return 0;
}

static void skip_ws(struct jparse *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

/* The length of one well-formed UTF-8 sequence at p (no overlongs, surrogates or > U+10FFFF),
 * or 0. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
	unsigned char c = p[0];
	size_t n;
	unsigned lo = 0x80, hi = 0xbf;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		lo = c == 0xe0 ? 0xa0 : 0x80;
		hi = c == 0xed ? 0x9f : 0xbf;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		lo = c == 0xf0 ? 0x90 : 0x80;
		hi = c == 0xf4 ? 0x8f : 0xbf;
	} else
		return 0;
	if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

static int parse_string(struct jparse *j)
{
	const unsigned char *start = j->p++;
	while (j->p < j->end && *j->p != '"') {
		if (*j->p < 0x20)
			return -1;
		if (*j->p == '\\') {
			if (++j->p >= j->end)
				return -1;
			if (*j->p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (j->p + i >= j->end ||
					    !strchr("0123456789abcdefABCDEF", j->p[i]) || !j->p[i])
						return -1;
				j->p += 5;
			} else if (strchr("\"\\/bfnrt", *j->p) && *j->p) {
				j->p++;
			} else {
				return -1;
			}
			continue;
		}
		size_t n = utf8_len(j->p, j->end);
		if (!n)
			return -1;
		j->p += n;
	}
	if (j->p >= j->end)
		return -1;
	j->p++;
	return put(j, start, (size_t)(j->p - start));
}

static bool is_digit(const struct jparse *j)
{
	return j->p < j->end && *j->p >= '0' && *j->p <= '9';
}

/* -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static int parse_number(struct jparse *j)
{
	const unsigned char *start = j->p;
	if (*j->p == '-')
		j->p++;
	if (!is_digit(j))
		return -1;
	if (*j->p++ != '0')
		while (is_digit(j))
			j->p++;
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		if (!is_digit(j))
			return -1;
		while (is_digit(j))
			j->p++;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (!is_digit(j))
			return -1;
		while (is_digit(j))
			j->p++;
	}
	return put(j, start, (size_t)(j->p - start));
}

static int parse_word(struct jparse *j, const char *w)
{
	size_t n = strlen(w);
	if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n) != 0)
		return -1;
	j->p += n;
	return put(j, (const unsigned char *)w, n);
}

static int parse_value(struct jparse *j);

/* An object or an array: members separated by commas, a key before each object member. */
static int parse_container(struct jparse *j, unsigned char close, bool keyed)
{
	if (++j->depth > JSON_MAX_DEPTH || put(j, j->p, 1) < 0)
		return -1;
	j->p++;
	skip_ws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		j->depth--;
		return put(j, &close, 1);
	}
	for (;;) {
		skip_ws(j);
		if (keyed) {
			if (j->p >= j->end || *j->p != '"' || parse_string(j) < 0)
				return -1;
			skip_ws(j);
			if (j->p >= j->end || *j->p != ':' || put(j, j->p, 1) < 0)
				return -1;
			j->p++;
		}
		if (parse_value(j) < 0)
			return -1;
		skip_ws(j);
		if (j->p >= j->end)
			return -1;
		if (*j->p == close) {
			j->p++;
			j->depth--;
			return put(j, &close, 1);
		}
		if (*j->p != ',' || put(j, j->p, 1) < 0)
			return -1;
		j->p++;
	}
}

static int parse_value(struct jparse *j)
{
	skip_ws(j);
	if (j->p >= j->end)
		return -1;
	switch (*j->p) {
	case '{':
		return parse_container(j, '}', true);
	case '[':
		return parse_container(j, ']', false);
	case '"':
		return parse_string(j);
	case 't':
		return parse_word(j, "true");
	case 'f':
		return parse_word(j, "false");
	case 'n':
		return parse_word(j, "null");
	default:
		return *j->p == '-' || (*j->p >= '0' && *j->p <= '9') ? parse_number(j) : -1;
	}
}

int ctl_json_compact(const char *p, size_t n, struct ctl_buf *out)
{
	struct jparse j = {(const unsigned char *)p, (const unsigned char *)p + n, out, 0};
	out->len = 0;
	if (parse_value(&j) < 0)
		return -1;
	skip_ws(&j);
	return j.p == j.end ? 0 : -1;
}

void ctl_json_value(FILE *f, const msgpack_object *o, struct ctl_buf *scratch)
{
	const char *p = NULL;
	size_t n = 0;
	if (o->type == MSGPACK_OBJECT_BIN) {
		p = o->via.bin.ptr;
		n = o->via.bin.size;
	} else if (o->type == MSGPACK_OBJECT_STR) {
		p = o->via.str.ptr;
		n = o->via.str.size;
	}
	if (p && n && ctl_json_compact(p, n, scratch) == 0)
		fwrite(scratch->p, 1, scratch->len, f);
	else
		ctl_json(f, o);
}
