/* SPDX-License-Identifier: MIT */
/*
 * sim-model: what the simulated downstream promises a job, from its draws
 * alone (no daemon): for rows 1..N of F branches, each branch's drawn
 * latency capped at its timeout, the mean latency of a row's slowest branch.
 * Little's law then bounds a job's steady throughput at limit / that mean.
 *
 *   sim-model --count N [--branches F] [--timeout-ms T] [--seed S]
 *             [--base-ms B] [--p99-ms P] [--tail-rate R] [--tail-ms M]
 * Defaults: the shipped `enrich` kind (3 branches, 500 ms, sim seed 1, 5/200 ms, 0.001 x 2 s).
 * Prints one JSON line.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "fanoutd/fanout.h"
#include "fanoutd/sim.h"
#include "options.h"

int main(int argc, char **argv)
{
	static const struct option longs[] = {{"count", required_argument, NULL, 'n'},
					      {"branches", required_argument, NULL, 'f'},
					      {"timeout-ms", required_argument, NULL, 't'},
					      {"seed", required_argument, NULL, 's'},
					      {"base-ms", required_argument, NULL, 'b'},
					      {"p99-ms", required_argument, NULL, 'p'},
					      {"tail-rate", required_argument, NULL, 'r'},
					      {"tail-ms", required_argument, NULL, 'm'},
					      {NULL, 0, NULL, 0}};
	struct fo_sim_params p;
	fo_sim_defaults(&p);
	p.seed = 1;
	unsigned long long n = 1000000;
	unsigned branches = 3;
	double timeout_ms = 500;
	int c;
	opt_program = "sim-model";
	while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		switch (c) {
		case 'n':
			n = opt_u64("count", optarg, 1, UINT64_MAX);
			break;
		case 'f':
			branches = (unsigned)opt_u64("branches", optarg, 1, 100000);
			break;
		case 't':
			timeout_ms = opt_real("timeout-ms", optarg, 0.001, 3600000);
			break;
		case 's':
			p.seed = opt_u64("seed", optarg, 0, UINT64_MAX);
			break;
		case 'b':
			p.base_ns = opt_ms("base-ms", optarg, 0, 3600000);
			break;
		case 'p':
			p.p99_ns = opt_ms("p99-ms", optarg, 0, 3600000);
			break;
		case 'r':
			p.tail_rate = opt_real("tail-rate", optarg, 0, 1);
			break;
		case 'm':
			p.tail_ns = opt_ms("tail-ms", optarg, 0, 3600000);
			break;
		default:
			fprintf(stderr,
				"usage: sim-model --count N [--branches F] [--timeout-ms T] "
				"[--seed S] [--base-ms B] [--p99-ms P] [--tail-rate R] "
				"[--tail-ms M]\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sim-model: unexpected argument '%s' (options only)\n",
			argv[optind]);
		return 2;
	}
	int64_t cap = (int64_t)(timeout_ms * 1e6);
	double sum = 0;
	for (unsigned long long id = 1; id <= n; id++) {
		int64_t slowest = 0;
		for (unsigned b = 0; b < branches; b++) {
			int64_t l = fo_sim_draw(&p, id, b).latency_ns;
			if (l > cap)
				l = cap;
			if (l > slowest)
				slowest = l;
		}
		sum += (double)slowest;
	}
	printf("{\"rows\":%llu,\"branches\":%u,\"timeout_ms\":%.0f,\"mean_row_ms\":%.4f}\n", n,
	       branches, timeout_ms, sum / (double)n / 1e6);
	return 0;
}
