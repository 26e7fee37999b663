/* SPDX-License-Identifier: MIT */
/*
 * fo-demo: Stage 0 of the brief with libfanout alone. For each product id,
 * fan out to five simulated downstreams (price, inventory, reviews,
 * recommendations, shipping: base 5 ms, p99 200 ms, 1/1000 stragglers of
 * 2 s), best-effort, 300 ms budget, 250 ms per branch, and join. Prints
 * each joined product as JSON, then the latency summary and the proof that
 * threads and live branches are back at their baseline.
 *
 *   fo-demo [-n REQUESTS] [--seed S] [--policy failfast|collectall|besteffort] [--quiet]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evsim.h"
#include "fanoutd/fanout.h"
#include "fanoutd/sim.h"
#include "options.h"
#include "procstat.h"

static const char *const branches[] = {"price", "inventory", "reviews", "recommendations",
				       "shipping"};
enum { F = 5 };

/*
 * evsim draws (task id, branch 0); give each (product, branch) its own task
 * id so every branch gets its own draw, deterministically from the seed.
 */
static uint64_t task_id(uint64_t product, unsigned branch)
{
	return product * F + branch;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	static const struct option longs[] = {{"seed", required_argument, NULL, 's'},
					      {"policy", required_argument, NULL, 'p'},
					      {"quiet", no_argument, NULL, 'q'},
					      {NULL, 0, NULL, 0}};
	long n = 20;
	uint64_t seed = 1;
	bool quiet = false;
	const struct fo_policy *policy = fo_policy_builtin(FO_BESTEFFORT);
	int c;
	opt_program = "fo-demo";
	while ((c = getopt_long(argc, argv, "n:", longs, NULL)) != -1) {
		if (c == 'n') {
			n = (long)opt_int("n", optarg, 1, 100000000);
		} else if (c == 's') {
			seed = opt_u64("seed", optarg, 0, UINT64_MAX);
		} else if (c == 'p') {
			if (!(policy = fo_policy_by_name(optarg))) {
				fprintf(stderr, "fo-demo: unknown policy '%s'\n", optarg);
				return 2;
			}
		} else if (c == 'q') {
			quiet = true;
		} else {
			fprintf(stderr,
				"usage: fo-demo [-n REQUESTS] [--seed S] [--policy P] [--quiet]\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "fo-demo: unexpected argument '%s' (options only)\n", argv[optind]);
		return 2;
	}
	struct fo_sim_params sp;
	fo_sim_defaults(&sp);
	sp.seed = seed;
	struct evsim *es = evsim_new(&sp);
	if (!es) {
		fprintf(stderr, "fo-demo: cannot start the event loop\n");
		return 1;
	}
	/* The baseline: before any request, with libfanout's timer thread started. */
	struct fo_ctx *warm = fo_ctx_new(fo_now_ns() + FO_MSEC);
	fo_ctx_sleep(warm, FO_SEC);
	fo_ctx_unref(warm);
	struct procstat before, after;
	procstat_read(&before);
	long live_before = fo_live_branches();
	int64_t *lat = calloc((size_t)n, sizeof(*lat));
	long degraded = 0, failed = 0;
	struct fo_config cfg = {.limit = F,
				.policy = policy,
				.ordered = true,
				.per_task_timeout_ns = 250 * FO_MSEC,
				.join_reserve_ns = 2 * FO_MSEC,
				.min_task_budget_ns = FO_MSEC,
				.start = evsim_start};
	for (long i = 0; i < n; i++) {
		uint64_t id = (uint64_t)i + 1;
		struct fo_task tasks[F];
		for (unsigned b = 0; b < F; b++)
			tasks[b] = (struct fo_task){.id = task_id(id, b),
						    .kind = branches[b],
						    .payload = &id,
						    .len = sizeof(id)};
		struct fo_ctx *ctx = fo_ctx_new(fo_now_ns() + 300 * FO_MSEC);
		struct fo_result res[F];
		struct fo_report rep;
		int64_t t0 = fo_now_ns();
		int rc = fo_fanout(ctx, tasks, F, NULL, es, &cfg, res, &rep);
		lat[i] = fo_now_ns() - t0;
		fo_ctx_unref(ctx);
		degraded += rep.failed > 0;
		failed += rc != 0;
		if (!quiet) {
			printf("{\"id\":%llu", (unsigned long long)id);
			for (unsigned b = 0; b < F; b++)
				if (res[b].outcome == FO_OK)
					printf(",\"%s\":{\"ms\":%.1f}", branches[b],
					       res[b].dur_ns / 1e6);
			printf(",\"degraded\":[");
			for (size_t e = 0; e < rep.nerrors; e++)
				printf("%s{\"branch\":\"%s\",\"outcome\":\"%s\"}", e ? "," : "",
				       branches[rep.errors[e].index],
				       fo_outcome_str(rep.errors[e].outcome));
			printf("],\"ms\":%.1f,\"rc\":%d}\n", lat[i] / 1e6, rc);
		}
		for (unsigned b = 0; b < F; b++)
			fo_result_clear(&res[b]);
		fo_report_clear(&rep);
	}
	qsort(lat, (size_t)n, sizeof(*lat), cmp64);
	procstat_read(&after);
	long live_after = fo_live_branches();
	printf("requests %ld (F=%d, %s): p50 %.1f ms, p99 %.1f ms, max %.1f ms; degraded %ld, "
	       "failed %ld\n",
	       n, F, policy->name, lat[n / 2] / 1e6, lat[(n * 99) / 100] / 1e6, lat[n - 1] / 1e6,
	       degraded, failed);
	printf("threads before %ld, after %ld; live branches before %ld, after %ld; RSS %ld KiB\n",
	       before.threads, after.threads, live_before, live_after, after.rss_kib);
	free(lat);
	evsim_free(es);
	/* Stage 0's bar: the pool and the branches are back at their baseline. */
	return after.threads <= before.threads && live_after == live_before ? 0 : 1;
}
