/* SPDX-License-Identifier: MIT */
/*
 * fo-bench: streams a deterministic work-set through fo_fanout_stream and
 * prints one JSON line (throughput, threads, RSS), the same fields and the
 * same checksum as the Go peer's `enrich`, so the two compare line by line.
 *
 *   fo-bench noop  -n 50000000 --limit 2 --pool 2 [--ordered]
 *       each task hashes its 32-byte payload (blocking, on the pool)
 *   fo-bench sleep -n 1000000 --limit 10000 [--ordered]
 *       each task waits a latency drawn from the canonical sim model on a
 *       libev timer (async: no thread per task), then hashes its payload
 *
 * Task i's payload is the Go peer's: splitmix words from Mix(seed ^ i).
 * A sampler records threads and RSS every 100 ms (--csv writes them out).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evsim.h"
#include "fanoutd/fanout.h"
#include "fanoutd/sim.h"
#include "options.h"
#include "procstat.h"

struct opts {
	const char *kind;
	uint64_t n, seed;
	unsigned limit, pool;
	size_t payload, in_cap, out_cap, window;
	bool ordered;
	const char *csv;
	double err_rate, tail_rate;
};

/* ---- the producer: deterministic tasks into the input channel */

/*
 * Payloads live in a ring of slots. A slot is busy from the moment the
 * producer fills it until the task has read it (the task function or the
 * async start releases it); a producer that comes round to a busy slot
 * waits. In-flight tasks are bounded but their ids are not close together:
 * a worker preempted with a batch in hand leaves old slots busy while the
 * others run far ahead, so the ring must not be reused on position alone.
 */
struct producer {
	const struct opts *o;
	struct fo_chan *in;
	uint8_t *ring;
	atomic_uchar *busy;
	uint64_t ring_mask;
	pthread_t thread;
};

static struct producer prod;

static void release_slot(const struct fo_task *t)
{
	atomic_store_explicit(&prod.busy[(uintptr_t)t->udata], 0, memory_order_release);
}

static void make_payload(uint64_t seed, uint64_t i, uint8_t *p, size_t len)
{
	uint64_t s = fo_splitmix_mix(seed ^ i);
	for (size_t off = 0; off < len; off += 8) {
		uint64_t w = fo_splitmix_next(&s);
		memcpy(p + off, &w, len - off < 8 ? len - off : 8);
	}
}

static void *produce(void *arg)
{
	struct producer *p = arg;
	const struct opts *o = p->o;
	struct fo_task batch[256];
	size_t k = 0;
	for (uint64_t i = 0; i < o->n; i++) {
		uint64_t idx = i & p->ring_mask;
		while (atomic_load_explicit(&p->busy[idx], memory_order_acquire))
			sched_yield();
		atomic_store_explicit(&p->busy[idx], 1, memory_order_relaxed);
		uint8_t *slot = p->ring + idx * o->payload;
		make_payload(o->seed, i, slot, o->payload);
		batch[k++] = (struct fo_task){.id = i,
					      .kind = o->kind,
					      .payload = slot,
					      .len = o->payload,
					      .udata = (void *)(uintptr_t)idx};
		if (k == 256 || i + 1 == o->n) {
			if (fo_chan_send(p->in, NULL, batch, k) != (long)k)
				break;
			k = 0;
		}
	}
	fo_chan_close(p->in);
	return NULL;
}

/* Enough slots that the producer rarely finds one still busy. */
static uint64_t ring_slots(const struct opts *o)
{
	uint64_t need = 4 * ((uint64_t)o->in_cap + o->limit) + 4096, r = 1;
	while (r < need)
		r <<= 1;
	return r;
}

/* ---- the sampler */

struct sampler {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	atomic_ulong *done;
	long peak_threads, peak_rss_kib;
	FILE *csv;
	int64_t start;
};

static void sample(struct sampler *s)
{
	struct procstat ps;
	procstat_read(&ps);
	if (ps.threads > s->peak_threads)
		s->peak_threads = ps.threads;
	if (ps.rss_kib > s->peak_rss_kib)
		s->peak_rss_kib = ps.rss_kib;
	if (s->csv)
		fprintf(s->csv, "%.3f,%lu,%ld,%ld\n", (double)(fo_now_ns() - s->start) / 1e9,
			atomic_load(s->done), ps.threads, ps.rss_kib);
}

static void *sampler_main(void *arg)
{
	struct sampler *s = arg;
	pthread_mutex_lock(&s->lock);
	while (!s->stop) {
		pthread_mutex_unlock(&s->lock);
		sample(s);
		pthread_mutex_lock(&s->lock);
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000 * 1000;
		ts.tv_sec += ts.tv_nsec / 1000000000;
		ts.tv_nsec %= 1000000000;
		if (!s->stop)
			pthread_cond_timedwait(&s->cond, &s->lock, &ts);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* ---- the blocking task */

static int noop(struct fo_ctx *ctx, const struct fo_task *t, struct fo_result *out, void *arg)
{
	(void)ctx;
	(void)arg;
	fo_digest16(t->payload, t->len, out->small); /* inline: no allocation */
	out->len = 16;
	release_slot(t);
	return 0;
}

static void sleep_start(struct fo_ctx *ctx, const struct fo_task *t, struct fo_branch *b, void *arg)
{
	evsim_start(ctx, t, b, arg); /* reads (digests) the payload before it returns */
	release_slot(t);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: fo-bench noop|sleep [-n N] [--seed S] [--limit L] [--pool P] [--ordered]\n"
		"                [--window W] [--payload B] [--in-cap C] [--out-cap C]\n"
		"                [--err-rate R] [--tail-rate R] [--csv FILE]\n");
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option longs[] = {
		{"seed", required_argument, NULL, 's'},
		{"limit", required_argument, NULL, 'l'},
		{"pool", required_argument, NULL, 'p'},
		{"ordered", no_argument, NULL, 'o'},
		{"window", required_argument, NULL, 'w'},
		{"payload", required_argument, NULL, 'b'},
		{"in-cap", required_argument, NULL, 'i'},
		{"out-cap", required_argument, NULL, 'O'},
		{"csv", required_argument, NULL, 'c'},
		{"err-rate", required_argument, NULL, 'e'},
		{"tail-rate", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	if (argc < 2 || (strcmp(argv[1], "noop") && strcmp(argv[1], "sleep"))) {
		usage(stderr);
		return -1;
	}
	bool sleep = strcmp(argv[1], "sleep") == 0;
	*o = (struct opts){.kind = argv[1],
			   .n = sleep ? 1000000 : 50000000,
			   .seed = 1,
			   .limit = sleep ? 10000 : 2,
			   .pool = 2,
			   .payload = 32,
			   .in_cap = 4096,
			   .out_cap = 4096,
			   .tail_rate = 0.001};
	opt_program = "fo-bench";
	optind = 2;
	int c;
	while ((c = getopt_long(argc, argv, "n:h", longs, NULL)) != -1) {
		switch (c) {
		case 'n':
			o->n = opt_u64("n", optarg, 1, UINT64_MAX);
			break;
		case 's':
			o->seed = opt_u64("seed", optarg, 0, UINT64_MAX);
			break;
		case 'l':
			o->limit = (unsigned)opt_u64("limit", optarg, 1, 10000000);
			break;
		case 'p':
			o->pool = (unsigned)opt_u64("pool", optarg, 1, 1024);
			break;
		case 'o':
			o->ordered = true;
			break;
		case 'w':
			o->window = opt_u64("window", optarg, 0, 100000000);
			break;
		case 'b':
			o->payload = opt_u64("payload", optarg, 1, 65536);
			break;
		case 'i':
			o->in_cap = opt_u64("in-cap", optarg, 1, 16777216);
			break;
		case 'O':
			o->out_cap = opt_u64("out-cap", optarg, 1, 16777216);
			break;
		case 'c':
			o->csv = optarg;
			break;
		case 'e':
			o->err_rate = opt_real("err-rate", optarg, 0, 1);
			break;
		case 't':
			o->tail_rate = opt_real("tail-rate", optarg, 0, 1);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "fo-bench: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	if (parse(argc, argv, &o) < 0)
		return 2;
	bool sleep = strcmp(o.kind, "sleep") == 0;
	struct fo_sim_params sp;
	fo_sim_defaults(&sp);
	sp.seed = o.seed;
	sp.err_rate = o.err_rate;
	sp.tail_rate = o.tail_rate;

	struct fo_pool *pool = fo_pool_new(o.pool);
	struct evsim *es = sleep ? evsim_new(&sp) : NULL;
	struct fo_chan *in = fo_chan_new(o.in_cap, sizeof(struct fo_task));
	struct fo_chan *out = fo_chan_new(o.out_cap, sizeof(struct fo_result));
	prod = (struct producer){.o = &o, .in = in, .ring_mask = ring_slots(&o) - 1};
	prod.ring = malloc((prod.ring_mask + 1) * o.payload);
	prod.busy = calloc(prod.ring_mask + 1, sizeof(*prod.busy));
	if (!pool || (sleep && !es) || !in || !out || !prod.ring || !prod.busy) {
		fprintf(stderr, "fo-bench: setup failed: %s\n", strerror(errno));
		return 1;
	}
	atomic_ulong done = 0;
	struct procstat ps0;
	procstat_read(&ps0);
	struct sampler smp = {.lock = PTHREAD_MUTEX_INITIALIZER,
			      .cond = PTHREAD_COND_INITIALIZER,
			      .done = &done,
			      .start = fo_now_ns()};
	if (o.csv && !(smp.csv = fopen(o.csv, "w"))) {
		fprintf(stderr, "fo-bench: %s: %s\n", o.csv, strerror(errno));
		return 1;
	}
	if (smp.csv)
		fprintf(smp.csv, "t_s,done,threads,rss_kib\n");
	pthread_create(&smp.thread, NULL, sampler_main, &smp);

	struct fo_config cfg = {.limit = o.limit,
				.policy = fo_policy_builtin(FO_COLLECTALL),
				.ordered = o.ordered,
				.reorder_window = o.window,
				.pool = pool,
				.start = sleep ? sleep_start : NULL};
	int64_t start = fo_now_ns();
	pthread_create(&prod.thread, NULL, produce, &prod);
	struct fo_stream *s = fo_fanout_stream(NULL, in, out, sleep ? NULL : noop, es, &cfg);
	if (!s) {
		fprintf(stderr, "fo-bench: fo_fanout_stream: %s\n", strerror(errno));
		return 1;
	}
	uint64_t checksum = 0, errors = 0, n = 0, misordered = 0;
	uint64_t mark10 = o.n / 10, mark90 = o.n - o.n / 10, mark99 = o.n - o.n / 100;
	int64_t t10 = 0, t90 = 0, t99 = 0, sum_dur = 0;
	struct fo_result r[256];
	long k;
	while ((k = fo_chan_recv(out, NULL, r, 256, NULL)) > 0) {
		for (long i = 0; i < k; i++) {
			if (r[i].outcome != FO_OK) {
				errors++;
			} else if (r[i].len >= 16) {
				uint64_t a, b;
				memcpy(&a, fo_result_data(&r[i]), 8);
				memcpy(&b, (const uint8_t *)fo_result_data(&r[i]) + 8, 8);
				checksum += fo_splitmix_mix(a ^ b);
			}
			if (o.ordered && r[i].task_id != n)
				misordered++;
			sum_dur += r[i].dur_ns;
			fo_result_clear(&r[i]);
			n++;
		}
		atomic_store_explicit(&done, n, memory_order_relaxed);
		int64_t now = fo_now_ns();
		if (!t10 && n >= mark10)
			t10 = now;
		if (!t90 && n >= mark90)
			t90 = now;
		if (!t99 && n >= mark99)
			t99 = now;
	}
	int64_t wall = fo_now_ns() - start;
	struct fo_report rep;
	fo_stream_wait(s, &rep);
	pthread_join(prod.thread, NULL);
	pthread_mutex_lock(&smp.lock);
	smp.stop = true;
	pthread_cond_signal(&smp.cond);
	pthread_mutex_unlock(&smp.lock);
	pthread_join(smp.thread, NULL);
	sample(&smp);

	printf("{\"impl\":\"fanoutd\",\"mode\":\"stream\",\"kind\":\"%s\",\"n\":%" PRIu64
	       ",\"done\":%" PRIu64 ",\"limit\":%u,\"pool\":%u,\"ordered\":%s,\"errors\":%" PRIu64
	       ",\"misordered\":%" PRIu64 ",\"checksum\":\"%016" PRIx64 "\",\"wall_s\":%.3f"
	       ",\"tasks_per_s\":%.0f,\"start_threads\":%ld,\"peak_threads\":%ld"
	       ",\"peak_rss_mb\":%.1f",
	       o.kind, o.n, n, o.limit, o.pool, o.ordered ? "true" : "false", errors, misordered,
	       checksum, (double)wall / 1e9, (double)n / ((double)wall / 1e9), ps0.threads,
	       smp.peak_threads, (double)smp.peak_rss_kib / 1024.0);
	if (t99)
		printf(",\"t99_s\":%.3f,\"tasks_per_s_to_99pct\":%.0f", (double)(t99 - start) / 1e9,
		       (double)mark99 / ((double)(t99 - start) / 1e9));
	if (t10 && t90 > t10)
		printf(",\"steady_per_s\":%.0f",
		       (double)(mark90 - mark10) / ((double)(t90 - t10) / 1e9));
	if (sleep && n) {
		double drawn = 0;
		for (uint64_t i = 0; i < o.n; i++)
			drawn += (double)fo_sim_draw(&sp, i, 0).latency_ns;
		drawn /= (double)o.n;
		printf(",\"mean_drawn_ms\":%.2f,\"mean_model_ms\":%.2f,\"mean_task_dur_ms\":%.2f"
		       ",\"little_bound_per_s\":%.0f",
		       drawn / 1e6, fo_sim_mean_ns(&sp) / 1e6, (double)sum_dur / (double)n / 1e6,
		       (double)o.limit / (drawn / 1e9));
	}
	printf("}\n");
	fo_report_clear(&rep);
	if (smp.csv)
		fclose(smp.csv);
	fo_chan_free(in);
	fo_chan_free(out);
	free(prod.ring);
	free(prod.busy);
	evsim_free(es);
	fo_pool_free(pool);
	return n == o.n && !misordered ? 0 : 1;
}
