/* SPDX-License-Identifier: MIT */
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

void ctl_pack_str(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

void ctl_req_init(struct ctl_req *r, const char *op, size_t nargs)
{
	msgpack_sbuffer_init(&r->buf);
	msgpack_packer_init(&r->pk, &r->buf, msgpack_sbuffer_write);
	msgpack_pack_map(&r->pk, 1 + nargs);
	ctl_pack_str(&r->pk, "op");
	ctl_pack_str(&r->pk, op);
}

void ctl_req_free(struct ctl_req *r)
{
	msgpack_sbuffer_destroy(&r->buf);
}

const msgpack_object *ctl_member(const msgpack_object *map, const char *key)
{
	if (!map || map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	size_t n = strlen(key);
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object *k = &map->via.map.ptr[i].key;
		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
		    memcmp(k->via.str.ptr, key, n) == 0)
			return &map->via.map.ptr[i].val;
	}
	return NULL;
}

uint64_t ctl_uint(const msgpack_object *o)
{
	return o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? o->via.u64 : 0;
}

double ctl_number(const msgpack_object *o)
{
	if (!o)
		return 0;
	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		return (double)o->via.u64;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return (double)o->via.i64;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		return o->via.f64;
	case MSGPACK_OBJECT_BOOLEAN:
		return o->via.boolean;
	default:
		return 0;
	}
}

bool ctl_str_is(const msgpack_object *o, const char *s)
{
	return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) &&
	       memcmp(o->via.str.ptr, s, o->via.str.size) == 0;
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
	const msgpack_object *st = ctl_member(&r->u.data, "status");
	if (!st || st->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return -1;
	r->status = (long long)st->via.u64;
	ctl_scalar(ctl_member(&r->u.data, "msg"), r->msg, sizeof(r->msg));
	r->data = ctl_member(&r->u.data, "data");
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
		ssize_t n = writing ? write(fd, p, len) : read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* send() without SIGPIPE: a daemon that refused us has closed, but its reason is there to read. */
static int send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
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
	uint32_t be = htonl((uint32_t)req->buf.size);
	if (send_all(fd, &be, 4) < 0)
		return -1;
	return send_all(fd, req->buf.data, req->buf.size);
}

long ctl_recv(int fd, char **out)
{
	uint32_t be, len;
	if (ctl_full_io(fd, &be, 4, false) < 0 || (len = ntohl(be)) == 0 || len > CTL_MAX_FRAME)
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

static void json_str(FILE *f, const char *p, size_t n)
{
	fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
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
