/* SPDX-License-Identifier: MIT */
/*
 * fanoutctl: fanoutd's admin tool, a client of the msgpack socket API
 * (doc/PROTOCOL.md).
 *
 *   fanoutctl [-s SOCKET] [--json] status | stats | modules | limits
 *   fanoutctl [-s SOCKET] [--json] limit get NAME | limit set NAME N
 *   fanoutctl [-s SOCKET] reload | shutdown
 *
 * Exit status: 0 done; 1 the daemon refused or failed the command (its
 * message on stderr, e.g. the file:line of a refused config); 2 usage;
 * 3 the daemon could not be reached.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_FRAME (1u << 20)

static void pack_str(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

static int connect_to(const char *path)
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

static int full_io(int fd, void *buf, size_t len, bool writing)
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

/* ---- printing a reply's data */

static void json(const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		printf("null");
		break;
	case MSGPACK_OBJECT_BOOLEAN:
		printf(o->via.boolean ? "true" : "false");
		break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		printf("%llu", (unsigned long long)o->via.u64);
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		printf("%lld", (long long)o->via.i64);
		break;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		printf("%g", o->via.f64);
		break;
	case MSGPACK_OBJECT_STR:
		putchar('"');
		for (uint32_t i = 0; i < o->via.str.size; i++) {
			unsigned char ch = (unsigned char)o->via.str.ptr[i];
			if (ch == '"' || ch == '\\')
				printf("\\%c", ch);
			else if (ch < 0x20)
				printf("\\u%04x", ch);
			else
				putchar(ch);
		}
		putchar('"');
		break;
	case MSGPACK_OBJECT_ARRAY:
		putchar('[');
		for (uint32_t i = 0; i < o->via.array.size; i++) {
			if (i)
				putchar(',');
			json(&o->via.array.ptr[i]);
		}
		putchar(']');
		break;
	case MSGPACK_OBJECT_MAP:
		putchar('{');
		for (uint32_t i = 0; i < o->via.map.size; i++) {
			if (i)
				putchar(',');
			json(&o->via.map.ptr[i].key);
			putchar(':');
			json(&o->via.map.ptr[i].val);
		}
		putchar('}');
		break;
	default:
		printf("null");
		break;
	}
}

static void scalar(const msgpack_object *o, char *buf, size_t len)
{
	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		snprintf(buf, len, "%llu", (unsigned long long)o->via.u64);
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		snprintf(buf, len, "%lld", (long long)o->via.i64);
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

/* A map: "key: value" lines. An array of maps: a table with a header row. */
static void human(const msgpack_object *o)
{
	char v[512];
	if (o->type == MSGPACK_OBJECT_MAP) {
		for (uint32_t i = 0; i < o->via.map.size; i++) {
			char k[128];
			scalar(&o->via.map.ptr[i].key, k, sizeof(k));
			scalar(&o->via.map.ptr[i].val, v, sizeof(v));
			printf("%-20s %s\n", k, v);
		}
	} else if (o->type == MSGPACK_OBJECT_ARRAY) {
		for (uint32_t r = 0; r < o->via.array.size; r++) {
			const msgpack_object *row = &o->via.array.ptr[r];
			if (row->type != MSGPACK_OBJECT_MAP)
				continue;
			if (r == 0) {
				for (uint32_t i = 0; i < row->via.map.size; i++) {
					scalar(&row->via.map.ptr[i].key, v, sizeof(v));
					printf("%-14s", v);
				}
				putchar('\n');
			}
			for (uint32_t i = 0; i < row->via.map.size; i++) {
				scalar(&row->via.map.ptr[i].val, v, sizeof(v));
				printf("%-14s", v);
			}
			putchar('\n');
		}
	}
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: fanoutctl [-s SOCKET] [--json] COMMAND\n"
		"  status | stats | modules | limits       read-only (any peer)\n"
		"  limit get NAME                          one limiter\n"
		"  limit set NAME N                        live limit change (operator)\n"
		"  reload                                  reload the config (admin); fails with\n"
		"                                          file:line when it is refused\n"
		"  shutdown                                graceful stop (admin)\n"
		"  -s, --socket PATH   default /run/fanoutd/fanoutd.sock\n"
		"      --json          the reply's data as JSON\n");
}

int main(int argc, char **argv)
{
	static const struct option longs[] = {{"socket", required_argument, NULL, 's'},
					      {"json", no_argument, NULL, 'j'},
					      {"help", no_argument, NULL, 'h'},
					      {NULL, 0, NULL, 0}};
	const char *path = "/run/fanoutd/fanoutd.sock";
	bool as_json = false;
	int c;
	while ((c = getopt_long(argc, argv, "s:h", longs, NULL)) != -1) {
		if (c == 's')
			path = optarg;
		else if (c == 'j')
			as_json = true;
		else if (c == 'h') {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	int nargs = argc - optind;
	char **a = argv + optind;
	msgpack_sbuffer buf;
	msgpack_sbuffer_init(&buf);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
	if (nargs == 1 &&
	    (!strcmp(a[0], "status") || !strcmp(a[0], "stats") || !strcmp(a[0], "modules") ||
	     !strcmp(a[0], "limits") || !strcmp(a[0], "reload") || !strcmp(a[0], "shutdown"))) {
		msgpack_pack_map(&pk, 1);
		pack_str(&pk, "op");
		pack_str(&pk, a[0]);
	} else if (nargs == 3 && !strcmp(a[0], "limit") && !strcmp(a[1], "get")) {
		msgpack_pack_map(&pk, 2);
		pack_str(&pk, "op");
		pack_str(&pk, "limit.get");
		pack_str(&pk, "name");
		pack_str(&pk, a[2]);
	} else if (nargs == 4 && !strcmp(a[0], "limit") && !strcmp(a[1], "set")) {
		char *end;
		unsigned long long n = strtoull(a[3], &end, 10);
		if (*end || !*a[3]) {
			fprintf(stderr, "fanoutctl: limit must be a positive integer, not '%s'\n",
				a[3]);
			return 2;
		}
		msgpack_pack_map(&pk, 3);
		pack_str(&pk, "op");
		pack_str(&pk, "limit.set");
		pack_str(&pk, "name");
		pack_str(&pk, a[2]);
		pack_str(&pk, "limit");
		msgpack_pack_unsigned_long_long(&pk, n);
	} else {
		usage(stderr);
		return 2;
	}
	int fd = connect_to(path);
	if (fd < 0) {
		fprintf(stderr, "fanoutctl: cannot reach fanoutd at %s: %s\n", path, strerror(-fd));
		return 3;
	}
	uint32_t be = htonl((uint32_t)buf.size), len;
	char *reply = NULL;
	if (full_io(fd, &be, 4, true) < 0 || full_io(fd, buf.data, buf.size, true) < 0 ||
	    full_io(fd, &be, 4, false) < 0 || (len = ntohl(be)) == 0 || len > MAX_FRAME ||
	    !(reply = malloc(len)) || full_io(fd, reply, len, false) < 0) {
		fprintf(stderr, "fanoutctl: the connection to %s broke\n", path);
		return 3;
	}
	close(fd);
	msgpack_sbuffer_destroy(&buf);
	msgpack_unpacked u;
	msgpack_unpacked_init(&u);
	size_t off = 0;
	if (msgpack_unpack_next(&u, reply, len, &off) != MSGPACK_UNPACK_SUCCESS ||
	    u.data.type != MSGPACK_OBJECT_MAP) {
		fprintf(stderr, "fanoutctl: malformed reply\n");
		return 3;
	}
	long long status = -1;
	char msg[1024] = "";
	const msgpack_object *data = NULL;
	for (uint32_t i = 0; i < u.data.via.map.size; i++) {
		const msgpack_object_kv *kv = &u.data.via.map.ptr[i];
		if (kv->key.type != MSGPACK_OBJECT_STR)
			continue;
		if (!strncmp(kv->key.via.str.ptr, "status", kv->key.via.str.size))
			status = (long long)kv->val.via.u64;
		else if (!strncmp(kv->key.via.str.ptr, "msg", kv->key.via.str.size))
			scalar(&kv->val, msg, sizeof(msg));
		else if (!strncmp(kv->key.via.str.ptr, "data", kv->key.via.str.size))
			data = &kv->val;
	}
	if (status != 0) {
		fprintf(stderr, "fanoutctl: %s\n", msg);
		return 1;
	}
	if (data && as_json) {
		json(data);
		putchar('\n');
	} else if (data && data->type != MSGPACK_OBJECT_NIL) {
		human(data);
	} else {
		printf("%s\n", msg);
	}
	msgpack_unpacked_destroy(&u);
	free(reply);
	return 0;
}
