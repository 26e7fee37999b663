/* SPDX-License-Identifier: MIT */
/*
 * fanout-gen: a deterministic work-set as a stream of task frames (the socket
 * API's framing: 4-byte big-endian length + one msgpack map {id, payload}),
 * written to stdout. Task ids run 1..N; task i's payload is the splitmix
 * words of Mix(seed ^ i) (the Go peer's generator), so the same seed gives
 * byte-identical output, and nothing but one buffer is held whatever N.
 *
 *   fanout-gen --seed S --count N [--kind K] [--payload-bytes B]
 *
 * The first frame names the stream: {kind, count, seed}.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fanoutd/sim.h"

static msgpack_sbuffer buf;

static void pack_str(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

static int flush_out(void)
{
	size_t off = 0;
	while (off < buf.size) {
		ssize_t n = write(STDOUT_FILENO, buf.data + off, buf.size - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	msgpack_sbuffer_clear(&buf);
	return 0;
}

/* Packs one frame: reserves the length, packs the map, patches the length in. */
static size_t frame_begin(void)
{
	size_t at = buf.size;
	msgpack_sbuffer_write(&buf, "\0\0\0\0", 4);
	return at;
}

static void frame_end(size_t at)
{
	uint32_t be = htonl((uint32_t)(buf.size - at - 4));
	memcpy(buf.data + at, &be, 4);
}

int main(int argc, char **argv)
{
	static const struct option longs[] = {{"seed", required_argument, NULL, 's'},
					      {"count", required_argument, NULL, 'n'},
					      {"kind", required_argument, NULL, 'k'},
					      {"payload-bytes", required_argument, NULL, 'b'},
					      {"first-id", required_argument, NULL, 'f'},
					      {"help", no_argument, NULL, 'h'},
					      {NULL, 0, NULL, 0}};
	uint64_t seed = 1, count = 0, first = 1;
	bool first_ok = true;
	char *end;
	const char *kind = "enrich";
	long bytes = 32;
	int c;
	while ((c = getopt_long(argc, argv, "s:n:k:b:f:h", longs, NULL)) != -1) {
		switch (c) {
		case 's':
			seed = strtoull(optarg, NULL, 10);
			break;
		case 'n':
			count = strtoull(optarg, NULL, 10);
			break;
		case 'k':
			kind = optarg;
			break;
		case 'b':
			bytes = strtol(optarg, NULL, 10);
			break;
		case 'f':
			/* ids are unsigned 64-bit: up to 2^64-1, never a negative number */
			errno = 0;
			first = strtoull(optarg, &end, 10);
			first_ok = *optarg && *optarg != '-' && !*end && errno != ERANGE;
			break;
		case 'h':
			printf("usage: fanout-gen --seed S --count N [--kind K] [--payload-bytes "
			       "B] [--first-id ID]\n");
			return 0;
		default:
			return 2;
		}
	}
	if (count == 0 || bytes < 0 || bytes > 65536 || optind < argc || !first_ok ||
	    count - 1 > UINT64_MAX - first) {
		fprintf(stderr,
			"usage: fanout-gen --seed S --count N [--kind K] [--payload-bytes B]"
			" [--first-id ID] (N > 0, 0 <= B <= 65536, ID + N - 1 <= 2^64-1)\n");
		return 2;
	}
	msgpack_sbuffer_init(&buf);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
	size_t at = frame_begin();
	msgpack_pack_map(&pk, 3);
	pack_str(&pk, "kind");
	pack_str(&pk, kind);
	pack_str(&pk, "count");
	msgpack_pack_uint64(&pk, count);
	pack_str(&pk, "seed");
	msgpack_pack_uint64(&pk, seed);
	frame_end(at);
	uint8_t *payload = malloc((size_t)bytes + 8);
	for (uint64_t i = 1; i <= count; i++) {
		uint64_t s = fo_splitmix_mix(seed ^ i);
		for (long off = 0; off < bytes; off += 8) {
			uint64_t w = fo_splitmix_next(&s);
			memcpy(payload + off, &w, 8);
		}
		at = frame_begin();
		msgpack_pack_map(&pk, 2);
		pack_str(&pk, "id");
		msgpack_pack_uint64(&pk, first + (i - 1));
		pack_str(&pk, "payload");
		msgpack_pack_bin(&pk, (size_t)bytes);
		msgpack_pack_bin_body(&pk, payload, (size_t)bytes);
		frame_end(at);
		if (buf.size >= (1u << 20) && flush_out() < 0)
			break;
	}
	int r = flush_out();
	free(payload);
	msgpack_sbuffer_destroy(&buf);
	if (r < 0 && errno != EPIPE) {
		fprintf(stderr, "fanout-gen: write: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}
