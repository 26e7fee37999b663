/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the configuration loader: each input is the text of
 * a configuration file, built into a generation exactly as a start or a
 * reload would (libconfig, settings, limiter and downstream instances from the
 * build's real modules, routes, branches, policies, the worker pool), then
 * released. A build must either succeed or fail with a message; it must never
 * crash or leak (libFuzzer checks leaks input by input).
 *
 * A route may have 256 branches here, replicas counted (100,000 in fanoutd):
 * the per-branch code is the same loop at any count, and corpora filled
 * with 10,000-replica routes that cost a tenth of a second each under ASan.
 *
 * The modules come from FANOUTD_MODULES whatever `modules.path` says, and
 * while a generation is built files are opened only inside the harness's own
 * directory: it holds inc.conf, a small valid fragment, so `@include
 * "inc.conf"` and an input including itself ("fuzz.conf") are reachable, but
 * no input can make the loader read /dev/zero or load a library from
 * elsewhere. Only reads are confined, and only during a build: libFuzzer's
 * own files (new corpus inputs, crash reports, written between inputs or by
 * its exit handler inside one) are not. Confining those too lost every input
 * a campaign found, and the report of an input that made libconfig exit.
 *
 * Built and run by tools/fuzz.sh config.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "generation.h"
#include "log.h"
#include "metrics.h"

static char dir[64], path[96];
static bool confined; /* while fod_gen_build runs */

/* ---- file access confined to the harness's directory */

/* libconfig opens the file and its @includes with fopen: this one comes first. */
FILE *fopen(const char *name, const char *mode)
{
	static FILE *(*real)(const char *, const char *);
	if (!real)
		real = (FILE * (*)(const char *, const char *)) dlsym(RTLD_NEXT, "fopen");
	size_t n = strlen(dir);
	if (confined && mode[0] == 'r' &&
	    (strncmp(name, dir, n) != 0 || name[n] != '/' || strstr(name, "/.."))) {
		errno = EACCES;
		return NULL;
	}
	return real(name, mode);
}

static void write_file(const char *name, const void *data, size_t len)
{
	FILE *f = fopen(name, "w");
	if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		perror(name);
		abort();
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fod_log_set_level(FO_LOG_ERR);
	strcpy(dir, access("/dev/shm", W_OK) == 0 ? "/dev/shm/fanoutd-config-fuzz.XXXXXX"
						  : "/tmp/fanoutd-config-fuzz.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("fuzz: mkdtemp");
		abort();
	}
	snprintf(path, sizeof(path), "%s/fuzz.conf", dir);
	char inc[96];
	snprintf(inc, sizeof(inc), "%s/inc.conf", dir);
	static const char fragment[] =
		"limiters = ( { name = \"inc\"; module = \"fixed\"; limit = 3; } );\n";
	write_file(inc, fragment, sizeof(fragment) - 1);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	write_file(path, data, size);
	struct fod_overrides ov = {.modules = getenv("FANOUTD_MODULES"), .max_branches = 256};
	char err[1024];
	memset(err, 'x', sizeof(err));
	confined = true;
	struct fod_gen *g = fod_gen_build(path, &ov, err, sizeof(err));
	confined = false;
	if (!g) {
		if (!memchr(err, '\0', sizeof(err)) || err[0] == '\0') {
			fprintf(stderr, "fuzz: the build failed without a message\n");
			abort();
		}
		return 0;
	}
	/* What the rest of the daemon relies on once a generation is built. */
	if (g->nroutes == 0 || !g->pool || err[0] != '\0') {
		fprintf(stderr, "fuzz: built, but nroutes %zu, pool %p, err '%s'\n", g->nroutes,
			(void *)g->pool, err);
		abort();
	}
	for (size_t i = 0; i < g->nroutes; i++) {
		const struct fod_route *rt = &g->routes[i];
		if (!rt->policy || rt->nbranches == 0 || (!rt->http_prefix && !rt->job) ||
		    (rt->http_prefix && rt->http_prefix[0] != '/')) {
			fprintf(stderr, "fuzz: route %zu built incomplete\n", i);
			abort();
		}
		for (size_t j = 0; j < rt->nbranches; j++)
			if (!rt->branches[j].name || !rt->branches[j].ds) {
				fprintf(stderr, "fuzz: route %zu branch %zu built incomplete\n", i,
					j);
				abort();
			}
	}
	/*
	 * The generation's metrics render as they would on /metrics, up to a few
	 * hundred branches: past that the same loops only run longer. Inputs with
	 * thousands of replicas fill a corpus, and rendering theirs (megabytes
	 * each under ASan) took 70 % of a campaign's time, at 600 inputs/s.
	 */
	size_t len, branches = 0;
	for (size_t i = 0; i < g->nroutes; i++)
		branches += g->routes[i].nbranches;
	if (branches <= 256)
		free(fod_metrics_render(g, &len));
	fod_gen_unref(g);
	return 0;
}
