/* SPDX-License-Identifier: MIT */
/* lib/sim.c: the canonical downstream model, bit-for-bit with the Go peer. */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fanoutd/fanout.h"
#include "fanoutd/sim.h"
#include "testutil.h"

static struct fo_sim_params seed42(void)
{
	struct fo_sim_params p;
	fo_sim_defaults(&p);
	p.seed = 42;
	p.err_rate = 0.1;
	return p;
}

/* Values printed by peers/go-ref/pkg/sim (Model.Draw) for the same inputs. */
static void test_matches_go_peer(void)
{
	static const struct {
		uint64_t id;
		unsigned branch;
		int64_t latency;
		bool fail, tail;
	} gold[] = {
		{1, 0, 6194579, false, false},	    {1, 4, 9444240, false, false},
		{7, 3, 7448240, false, false},	    {12345, 2, 32624181, false, false},
		{999999, 1, 6511984, false, false}, {7, 1, 13052243, true, false},
		{3737, 0, 2000000000, false, true},
	};
	struct fo_sim_params p = seed42();
	for (size_t i = 0; i < ARRAY_SIZE(gold); i++) {
		struct fo_sim_draw d = fo_sim_draw(&p, gold[i].id, gold[i].branch);
		CU_ASSERT_EQUAL(d.latency_ns, gold[i].latency);
		CU_ASSERT_EQUAL(d.fail, gold[i].fail);
		CU_ASSERT_EQUAL(d.tail, gold[i].tail);
	}
	CU_ASSERT_EQUAL((int64_t)fo_sim_mean_ns(&p), 24256085);
}

static void test_digest_matches_go_peer(void)
{
	static const uint8_t want[16] = {0x5d, 0x88, 0x38, 0x24, 0x4b, 0x16, 0x1b, 0x8d,
					 0xda, 0xbc, 0x8b, 0xb6, 0x5d, 0x71, 0xc0, 0x1d};
	uint8_t got[16];
	const char *msg = "hello, fan-out world";
	fo_digest16(msg, strlen(msg), got);
	CU_ASSERT_EQUAL(memcmp(got, want, 16), 0);
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* The brief's shape: base 5 ms, p99 200 ms, the error rate asked for. */
static void test_distribution_shape(void)
{
	struct fo_sim_params p = seed42();
	p.tail_rate = 0;
	enum { N = 200000 };
	int64_t *lat = malloc(N * sizeof(*lat));
	long fails = 0;
	for (int i = 0; i < N; i++) {
		struct fo_sim_draw d = fo_sim_draw(&p, (uint64_t)i, (unsigned)(i % 5));
		lat[i] = d.latency_ns;
		fails += d.fail;
	}
	qsort(lat, N, sizeof(*lat), cmp64);
	CU_ASSERT(lat[N / 2] > 9 * FO_MSEC && lat[N / 2] < 11 * FO_MSEC);
	CU_ASSERT(lat[N * 99 / 100] > 180 * FO_MSEC && lat[N * 99 / 100] < 220 * FO_MSEC);
	CU_ASSERT(fails > N * 0.095 && fails < N * 0.105);
	free(lat);
}

static void test_always_fail_and_tail(void)
{
	struct fo_sim_params p;
	fo_sim_defaults(&p);
	p.tail_rate = 0.01;
	p.fail_mask = 1u << 3;
	long tails = 0;
	for (uint64_t i = 0; i < 100000; i++) {
		struct fo_sim_draw d = fo_sim_draw(&p, i, 3);
		CU_ASSERT_FATAL(d.fail);
		if (d.tail) {
			tails++;
			CU_ASSERT_EQUAL(d.latency_ns, 2 * FO_SEC);
		}
		CU_ASSERT_FALSE(fo_sim_draw(&p, i, 2).fail);
	}
	CU_ASSERT(tails > 850 && tails < 1150);
}

static void test_deterministic(void)
{
	struct fo_sim_params p = seed42();
	for (uint64_t i = 0; i < 1000; i++) {
		struct fo_sim_draw a = fo_sim_draw(&p, i, 2), b = fo_sim_draw(&p, i, 2);
		CU_ASSERT(a.latency_ns == b.latency_ns && a.fail == b.fail);
	}
	struct fo_sim_params q = p;
	q.seed = 43;
	int differ = 0;
	for (uint64_t i = 0; i < 100; i++)
		differ += fo_sim_draw(&p, i, 0).latency_ns != fo_sim_draw(&q, i, 0).latency_ns;
	CU_ASSERT(differ > 90);
}

/* ---- tools/sim-model draws the rows a job numbers: ids 1..N */

/* The line sim-model prints, computed here from fo_sim_draw over ids first..first+n-1. */
static void expected_line(char *buf, size_t size, uint64_t seed, uint64_t first,
			  unsigned long long n, unsigned branches, double timeout_ms)
{
	struct fo_sim_params p;
	fo_sim_defaults(&p);
	p.seed = seed;
	int64_t cap = (int64_t)(timeout_ms * 1e6);
	double sum = 0;
	for (uint64_t id = first; id < first + n; id++) {
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
	snprintf(buf, size,
		 "{\"rows\":%llu,\"branches\":%u,\"timeout_ms\":%.0f,\"mean_row_ms\":%.4f}\n", n,
		 branches, timeout_ms, sum / (double)n / 1e6);
}

/* Runs the built tools/sim-model (this binary is build/tests/unit/sim.test) with args. */
static bool run_sim_model(const char *args, char *out, size_t size)
{
	char exe[4096];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len < 0)
		return false;
	exe[len] = 0;
	char *top = dirname(dirname(dirname(exe)));
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), "'%s/tools/sim-model' %s", top, args);
	FILE *f = popen(cmd, "r");
	if (!f)
		return false;
	bool got = fgets(out, (int)size, f) != NULL;
	int status = pclose(f);
	if (got)
		fprintf(stderr, "sim-model %s: %s", args, out);
	if (!got || status != 0)
		fprintf(stderr, "%s: exit status %d, output '%s'\n", cmd, status, got ? out : "");
	return got && status == 0;
}

static void test_sim_model_draws_ids_from_one(void)
{
	char got[256], want[256], from_zero[256];
	/* One row of one branch: its mean is the draw for id 1, not id 0. */
	CU_ASSERT_TRUE_FATAL(run_sim_model("--count 1 --branches 1 --timeout-ms 100000 --seed 42",
					   got, sizeof(got)));
	expected_line(want, sizeof(want), 42, 1, 1, 1, 100000);
	expected_line(from_zero, sizeof(from_zero), 42, 0, 1, 1, 100000);
	CU_ASSERT_STRING_NOT_EQUAL(want, from_zero); /* the check can tell them apart */
	CU_ASSERT_STRING_EQUAL(got, want);
	/* Many rows, the timeout capping tails: exactly ids 1..N, each once. */
	CU_ASSERT_TRUE_FATAL(run_sim_model("--count 3000 --branches 3 --timeout-ms 500 --seed 1",
					   got, sizeof(got)));
	expected_line(want, sizeof(want), 1, 1, 3000, 3, 500);
	expected_line(from_zero, sizeof(from_zero), 1, 0, 3000, 3, 500);
	CU_ASSERT_STRING_NOT_EQUAL(want, from_zero);
	CU_ASSERT_STRING_EQUAL(got, want);
}

int main(void)
{
	static const struct fo_test tests[] = {
		FO_TEST(test_matches_go_peer),	  FO_TEST(test_digest_matches_go_peer),
		FO_TEST(test_distribution_shape), FO_TEST(test_always_fail_and_tail),
		FO_TEST(test_deterministic),	  FO_TEST(test_sim_model_draws_ids_from_one),
	};
	return fo_test_main("sim", tests, ARRAY_SIZE(tests));
}
