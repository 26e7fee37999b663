/* SPDX-License-Identifier: MIT */
/*
 * fo_pool: a fixed number of threads running caller-embedded jobs in FIFO
 * order. The thread count is set at creation and never follows the load; the
 * queue needs no allocation (jobs are intrusive), and its length is bounded
 * by whoever submits (fan-outs submit at most their limit).
 */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "internal.h"

struct fo_pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct fo_job *head, *tail;
	unsigned nthreads, idle;
	bool stopping;
	pthread_t *threads;
};

static void *worker_main(void *arg)
{
	struct fo_pool *pool = arg;
	pthread_mutex_lock(&pool->lock);
	for (;;) {
		struct fo_job *job = pool->head;
		if (!job) {
			if (pool->stopping)
				break;
			pool->idle++;
			pthread_cond_wait(&pool->cond, &pool->lock);
			pool->idle--;
			continue;
		}
		pool->head = job->next;
		if (!pool->head)
			pool->tail = NULL;
		pthread_mutex_unlock(&pool->lock);
		job->fn(job);
		pthread_mutex_lock(&pool->lock);
	}
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

static unsigned online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

/* Sized from the CPUs, like the pool: a unit's default concurrency is never unbounded. */
unsigned fo_effective_limit(unsigned limit)
{
	return limit ? limit : 4 * online_cpus();
}

struct fo_pool *fo_pool_new(unsigned nthreads)
{
	if (nthreads == 0)
		nthreads = online_cpus();
	struct fo_pool *pool = calloc(1, sizeof(*pool));
	if (!pool)
		return NULL;
	pool->threads = calloc(nthreads, sizeof(*pool->threads));
	if (!pool->threads) {
		free(pool);
		return NULL;
	}
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->cond, NULL);
	for (unsigned i = 0; i < nthreads; i++) {
		int r = pthread_create(&pool->threads[i], NULL, worker_main, pool);
		if (r != 0) {
			pool->nthreads = i;
			fo_pool_free(pool);
			errno = r;
			return NULL;
		}
		char name[16];
		snprintf(name, sizeof(name), "fo-pool-%u", i % 10000u);
		pthread_setname_np(pool->threads[i], name);
		pool->nthreads = i + 1;
	}
	return pool;
}

void fo_pool_free(struct fo_pool *pool)
{
	if (!pool)
		return;
	pthread_mutex_lock(&pool->lock);
	pool->stopping = true;
	pthread_cond_broadcast(&pool->cond);
	pthread_mutex_unlock(&pool->lock);
	for (unsigned i = 0; i < pool->nthreads; i++)
		pthread_join(pool->threads[i], NULL);
	pthread_cond_destroy(&pool->cond);
	pthread_mutex_destroy(&pool->lock);
	free(pool->threads);
	free(pool);
}

void fo_pool_submit(struct fo_pool *pool, struct fo_job *job)
{
	job->next = NULL;
	pthread_mutex_lock(&pool->lock);
	if (pool->tail)
		pool->tail->next = job;
	else
		pool->head = job;
	pool->tail = job;
	if (pool->idle)
		pthread_cond_signal(&pool->cond);
	pthread_mutex_unlock(&pool->lock);
}

unsigned fo_pool_threads(const struct fo_pool *pool)
{
	return pool->nthreads;
}

static struct fo_pool *default_pool;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

/*
 * As many threads as the default per-unit limit, so that a unit left at its
 * defaults runs all its admitted branches at once even when they block.
 */
static void default_create(void)
{
	default_pool = fo_pool_new(fo_effective_limit(0));
}

struct fo_pool *fo_pool_default(void)
{
	pthread_once(&default_once, default_create);
	return default_pool;
}
