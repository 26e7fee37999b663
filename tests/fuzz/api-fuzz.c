/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the socket API: each input is the byte stream one
 * admin peer sends (frames: 4-byte length + msgpack), run through the same
 * framing, decoding, bounds checks, command table and job engine as a real
 * connection, then the connection closes. The configuration has one job
 * kind served by the echo downstream, so rows end inside their own start and
 * nothing outlives an input. The command table is the socket's own ops and
 * the job ops (job.c registers them); control.c's drain, reload and shutdown
 * are not registered: a fuzzer that stopped the daemon would stop itself.
 *
 * Built and run by tools/fuzz.sh (FANOUTD_MODULES names the module dir).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "fuzz.h"
#include "generation.h"
#include "job.h"
#include "log.h"
#include "loop.h"

static const char config[] =
	"api = { socket = \"/nonexistent/fuzz.sock\"; };\n"
	"workers = { loops = 1; pool = 1; };\n"
	"limiters = ( { name = \"l\"; module = \"fixed\"; limit = 64; } );\n"
	"routes = ( { name = \"echo\"; job = \"echo\"; policy = \"collectall\";\n"
	"  limiter = \"l\"; branches = ( { name = \"a\"; downstream = \"echo\"; },\n"
	"  { name = \"b\"; downstream = \"echo\"; } ); } );\n";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fod_log_set_level(FO_LOG_ERR);
	char path[] = "/tmp/fanoutd-fuzz.XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0 || write(fd, config, sizeof(config) - 1) != (ssize_t)(sizeof(config) - 1)) {
		perror("fuzz: config");
		abort();
	}
	close(fd);
	struct fod_overrides ov = {.modules = getenv("FANOUTD_MODULES")};
	char err[1024];
	struct fod_gen *g = fod_gen_build(path, &ov, err, sizeof(err));
	unlink(path);
	if (!g) {
		fprintf(stderr, "fuzz: %s\n", err);
		abort();
	}
	fod_gen_publish(g);
	if (fod_jobs_init() < 0 || fod_loops_init(1) < 0)
		abort();
	fod_loop_adopt(&fod_loops[0]);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fod_api_fuzz_feed((const char *)data, size);
	/* Whatever a frame posted to the loop runs now; nothing may stay behind. */
	ev_run(fod_loops[0].ev, EVRUN_NOWAIT);
	if (fod_jobs_open() != 0 || fod_jobs_rows_in_flight() != 0 || fo_live_branches() != 0) {
		fprintf(stderr, "fuzz: state left behind: %zu jobs, %ld rows, %ld branches\n",
			fod_jobs_open(), fod_jobs_rows_in_flight(), fo_live_branches());
		abort();
	}
	return 0;
}
