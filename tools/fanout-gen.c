/* SPDX-License-Identifier: MIT */
/*
 * fanout-gen: a deterministic work-set as a stream of task frames (the socket
 * API's framing: 4-byte big-endian length + one msgpack map {id, payload}),
 * written to stdout. Task ids run 1..N; task i's payload is the splitmix
 * words of Mix(seed ^ i) (the Go peer's generator), so the same seed gives
 * byte-identical output, and nothing but one buffer is held whatever N.
 *
 *   fanout-gen [--seed S] --count N [--kind K] [--payload-bytes B] [--first-id ID]
 *
 * The first frame names the stream: {kind, count, seed}.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fanoutd/sim.h"
#include "mp.h"
#include "options.h"

static msgpack_sbuffer buf;

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

static void usage(FILE *f)
{
	fprintf(f, "usage: fanout-gen [--seed S] --count N [--kind K] [--payload-bytes B]"
		   " [--first-id ID]\n"
		   "  S: 0 to 2^64-1 (default 1); N > 0; K default \"enrich\";\n"
		   "  B: 0 to 65536 (default 32); ID: default 1, ID + N - 1 <= 2^64-1\n");
}

int main(int argc, char **argv)
{
	static const struct option longs[] = {{"seed", required_argument, NULL, 's'},
					      {"count", required_argument, NULL, 'n'},
					      {"kind", required_argument, NULL, 'k'},
					      {"payload-bytes", required_argument, NULL, 'b'},
					      {"first-id", required_argument, NULL, 'f'},
					      {"help", no_argument, NULL, 'h'},
					      {"version", no_argument, NULL, 'V'},
					      {NULL, 0, NULL, 0}};
	uint64_t seed = 1, count = 0, first = 1, bytes = 32;
	const char *kind = "enrich";
	int c;
	opt_program = "fanout-gen";
	while ((c = getopt_long(argc, argv, "s:n:k:b:f:hV", longs, NULL)) != -1) {
		switch (c) {
		case 's':
			seed = opt_u64("seed", optarg, 0, UINT64_MAX);
			break;
		case 'n':
			count = opt_u64("count", optarg, 1, UINT64_MAX);
			break;
		case 'k':
			kind = optarg;
			break;
		case 'b':
			bytes = opt_u64("payload-bytes", optarg, 0, 65536);
			break;
		case 'f':
			/* ids are unsigned 64-bit: up to 2^64-1, never a negative number */
			first = opt_u64("first-id", optarg, 0, UINT64_MAX);
			break;
		case 'V':
			printf("fanout-gen %s\n", PACKAGE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "fanout-gen: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (count == 0) {
		fprintf(stderr, "fanout-gen: --count is required\n");
		usage(stderr);
		return 2;
	}
	if (count - 1 > UINT64_MAX - first) {
		fprintf(stderr,
			"fanout-gen: --first-id %" PRIu64 " with --count %" PRIu64
			" runs past 2^64-1\n",
			first, count);
		return 2;
	}
	msgpack_sbuffer_init(&buf);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
	size_t at = mp_frame_begin(&buf);
	msgpack_pack_map(&pk, 3);
	mp_str(&pk, "kind");
	mp_str(&pk, kind);
	mp_str(&pk, "count");
	msgpack_pack_uint64(&pk, count);
	mp_str(&pk, "seed");
	msgpack_pack_uint64(&pk, seed);
	mp_frame_end(&buf, at);
	uint8_t *payload = malloc((size_t)bytes + 8);
	for (uint64_t i = 1; i <= count; i++) {
		uint64_t s = fo_splitmix_mix(seed ^ i);
		for (uint64_t off = 0; off < bytes; off += 8) {
			uint64_t w = fo_splitmix_next(&s);
			memcpy(payload + off, &w, 8);
		}
		at = mp_frame_begin(&buf);
		msgpack_pack_map(&pk, 2);
		mp_str(&pk, "id");
		msgpack_pack_uint64(&pk, first + (i - 1));
		mp_str(&pk, "payload");
		msgpack_pack_bin(&pk, (size_t)bytes);
		msgpack_pack_bin_body(&pk, payload, (size_t)bytes);
		mp_frame_end(&buf, at);
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
