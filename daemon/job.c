/* SPDX-License-Identifier: MIT */
#include "job.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "apiconn.h"
#include "route.h"
#include "control.h"
#include "faults.h"
#include "generation.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"

#define DEFAULT_LIMIT 1024
#define MAX_LIMIT     100000
#define MAX_WINDOW    200000
/*
 * Memory a job may hold, counted as it is really held (doc/PROTOCOL.md,
 * "Memory"): each held row's slot, its payload and result values as
 * allocated (malloc_usable_size plus the chunk header), and, while it is in
 * flight, its unit, contexts and calls on its engine loop. A row is always
 * taken when none is held. 48 MiB: the brief's Stage 1 job (limit 10,000
 * rows of three sim branches, 3.5 KiB each as counted: 34 MiB) is never held
 * back by it, and the daemon with such a job stays under its 64 MiB target.
 * (At 16 MiB counted this way, Stage 1 ran at 97k rows/s instead of 144k.)
 */
#define MAX_HELD_BYTES (48u << 20)
/* glibc's header before each chunk. */
#define CHUNK_HEADER 8
/*
 * A row in flight on its engine loop, from the sizes on x86-64 with glibc
 * (gdb: fo_unit 592, fo_ctx 136, fo_branch 224, struct call 128; every chunk
 * rounded to 16 with its header): the unit, its group's and the row's
 * contexts and the policy state per row (~1,000 bytes); per branch its slot
 * in the unit, its own context (when its timeout is shorter) and the call
 * (~500 bytes), plus the module's call_size. Measured: a row of two sim
 * branches raised RSS by 2.0 KiB (tools/job-memory.sh).
 */
#define ENGINE_ROW_BYTES    1024
#define ENGINE_BRANCH_BYTES 512
/* A job that held this much gives the allocator's free pages back when it ends. */
#define TRIM_AFTER_BYTES (4u << 20)

struct row {
	struct fod_batch *job;
	struct fo_task *tasks;
	struct fo_result *results;
	struct fo_ctx *ctx;
	struct fo_unit *unit;
	struct fo_report rep;
	char *payload; /* exactly this row's, freed when it is sent */
	size_t len;
	size_t charge; /* what it counts in the job's held_bytes now */
	uint64_t id;
	int64_t start_ns, dur_ns;
	int rc;
	bool done;
	struct fod_loop *engine; /* where its unit and calls run */
	struct row *next_free, *next_handed;
	struct row *next_in_order; /* ordered: the row read after it */
};

/* Rows gathered on one thread for a hand-off, in order (linked by next_handed). */
struct chain {
	struct row *first, *last;
};

static void chain_push(struct chain *c, struct row *r)
{
	r->next_handed = NULL;
	if (c->last)
		c->last->next_handed = r;
	else
		c->first = r;
	c->last = r;
}

/*
 * Rows crossing between the job's loop and another one, in batches: a
 * locked list and one task posted while the list is non-empty, so a burst
 * of rows costs one wake-up, not one per row. The post happens under the
 * lock: the receiving side cannot drain (and the job cannot end) before it.
 */
struct handoff {
	pthread_mutex_t lock;
	struct row *rows;
	bool posted;
	struct fod_post task;
	struct fod_loop *to;
	struct fod_batch *job;
};

/* A row's outcome: metrics.h's, so the job's summary and /metrics count rows alike. */

/* What ended a job: job.close, job.cancel, its client leaving, the daemon's shutdown. */
enum job_ending { END_CLOSE, END_CANCEL, END_DISCONNECT, END_SHUTDOWN };
static const char *const ending_names[] = {"closed", "cancelled", "disconnected", "shutdown"};

struct fod_batch {
	uint64_t id;
	struct fod_api_conn *conn; /* NULL once the client is gone */
	unsigned uid;
	struct fod_loop *loop;
	struct fod_gen *gen;
	struct fod_route *rt;
	struct fo_config cfg;	  /* every row's unit */
	struct fo_ctx *ctx;	  /* cancelling it reaches every row */
	struct fo_ctx **loop_ctx; /* per loop, under ctx: rows' parents (no lock shared by loops) */
	unsigned limit, window;
	bool ordered;
	/*
	 * The window's slots, in one anonymous mapping: a page becomes resident
	 * when a slot on it is first used (slots below `fresh` have been), and
	 * goes back to the kernel at munmap. A large window that the byte bound
	 * never lets fill costs address space, not memory.
	 */
	void *slots;
	size_t slots_len;
	struct row *rows;
	struct fo_task *tasks;
	struct fo_result *results;
	unsigned fresh;
	struct row *free_rows;		     /* last freed first: its pages are warm */
	struct row *order_head, *order_tail; /* ordered: held rows in input order */
	unsigned in_flight, held;
	size_t held_bytes, peak_bytes;
	size_t slot_bytes, engine_bytes; /* per row: its slot; its unit, contexts and calls */
	enum job_ending ending;
	bool early;    /* cancelled, disconnected or cut by shutdown: `ending` says which */
	bool draining; /* shutdown: no more task frames, rows in flight finish */
	bool closing, cancelled, feeding, listed;
	bool settling, end_due;	   /* a batch of rows is being settled: the job ends after it */
	struct handoff *to_engine; /* per loop (unused for the job's own) */
	struct chain *outgoing;	   /* rows read in this pass, per engine loop */
	struct handoff back;	   /* rows whose units joined on another loop */
	uint64_t rows_in, rejected, count[FOD_ROW_N];
	int64_t start_ns;
	msgpack_sbuffer out;
	msgpack_packer pk;
	msgpack_zone zone;
	struct fod_batch *next, *prev;
};

static struct fod_batch *jobs; /* loop 0 only */
static uint64_t last_id;
static long rows_in_flight;

static bool job_has_room(const struct fod_batch *j);

/* The first early ending is the one reported; job.close counts only when nothing cut the job. */
static void job_ended_by(struct fod_batch *j, enum job_ending e)
{
	if (j->early)
		return;
	j->ending = e;
	j->early = e != END_CLOSE;
}

/* ---- the end of a job */

static void job_free(struct fod_batch *j)
{
	if (j->listed) {
		if (j->prev)
			j->prev->next = j->next;
		else
			jobs = j->next;
		if (j->next)
			j->next->prev = j->prev;
	}
	for (unsigned i = 0; j->to_engine && i < fod_nloops; i++)
		pthread_mutex_destroy(&j->to_engine[i].lock);
	free(j->to_engine);
	free(j->outgoing);
	for (unsigned i = 0; j->loop_ctx && i < fod_nloops; i++)
		fo_ctx_unref(j->loop_ctx[i]);
	free(j->loop_ctx);
	pthread_mutex_destroy(&j->back.lock);
	for (unsigned i = 0; i < j->fresh; i++)
		free(j->rows[i].payload); /* rows cut before they were sent */
	if (j->slots)
		munmap(j->slots, j->slots_len);
	fo_ctx_unref(j->ctx);
	fod_gen_unref(j->gen);
	msgpack_sbuffer_destroy(&j->out);
	msgpack_zone_destroy(&j->zone);
	free(j);
}

static uint64_t rows_done(const struct fod_batch *j)
{
	uint64_t done = 0;
	for (int s = 0; s < FOD_ROW_N; s++)
		done += j->count[s];
	return done;
}

static void pack_summary(msgpack_packer *pk, const struct fod_batch *j)
{
	double secs = (double)(fo_now_ns() - j->start_ns) / 1e9;
	uint64_t done = rows_done(j);
	msgpack_pack_map(pk, 6 + FOD_ROW_N);
	mp_kv_uint(pk, "job", j->id);
	mp_kv_str(pk, "ended", ending_names[j->ending]);
	mp_kv_int(pk, "rows", (long long)done);
	for (int s = 0; s < FOD_ROW_N; s++)
		mp_kv_int(pk, fod_row_outcome_names[s], (long long)j->count[s]);
	mp_kv_int(pk, "rejected", (long long)j->rejected);
	mp_kv_double(pk, "duration_s", secs);
	mp_kv_double(pk, "rows_per_s", secs > 0 ? (double)done / secs : 0);
}

static const char *summary_msg(const struct fod_batch *j)
{
	if (!j->early)
		return "job done";
	if (j->ending != END_SHUTDOWN)
		return "job cancelled";
	return j->cancelled ? "job ended by shutdown: rows still in flight at shutdown.drain_ms "
			      "were cancelled, no further task was taken"
			    : "job ended by shutdown: its rows in flight finished, no further task "
			      "was taken";
}

/* The job's last log line: one for every job opened, whatever ended it. */
static void log_closed(const struct fod_batch *j)
{
	log_info("job %llu closed (%s): %s; %llu rows: %llu ok, %llu degraded, %llu failed, "
		 "%llu skipped, %llu cancelled, %llu rejected; held at most %zu bytes",
		 (unsigned long long)j->id, j->rt->job, ending_names[j->ending],
		 (unsigned long long)j->rows_in, (unsigned long long)j->count[FOD_ROW_OK],
		 (unsigned long long)j->count[FOD_ROW_DEGRADED],
		 (unsigned long long)j->count[FOD_ROW_FAILED],
		 (unsigned long long)j->count[FOD_ROW_SKIPPED],
		 (unsigned long long)j->count[FOD_ROW_CANCELLED], (unsigned long long)j->rejected,
		 j->peak_bytes);
}

/*
 * The rows' units, contexts, calls and payloads were freed on several
 * threads, into several glibc arenas, in no order: the freed memory stays
 * resident (218 MiB after 100,000 rows in flight when the bound counted
 * payloads only; 13 MiB after a job at a 16 MiB bound) until trimmed.
 *
 * malloc_trim() gives back the free pages inside every arena, but not a
 * thread arena's top chunk, which is where most of an engine loop's freed
 * rows end up once its fast bins are consolidated (6 to 9 MiB after a
 * cancelled job at the 48 MiB bound stayed in loop 1's arena, by smaps).
 * A thread arena trims its own top when its thread frees a chunk of 64 KiB
 * or more (FASTBIN_CONSOLIDATION_THRESHOLD): so a relay visits loops 1..n-1,
 * each freeing such a chunk in its own arena after what was queued for it
 * when the job ended, then loop 0 calls malloc_trim() (1.3 ms after a job
 * at a 16 MiB bound).
 */
static struct fod_post trim_relay;
static bool trim_pending; /* loop 0 only */

static void trim_own_arena_top(void)
{
	volatile char *p = malloc(64u << 10); /* volatile: the pair is not optimised away */
	if (p) {
		p[0] = 0;
		free((void *)p);
	}
}

static void trim_step(struct fod_post *t)
{
	unsigned self = fod_loop_self()->index;
	if (self == 0) {
		malloc_trim(0);
		trim_pending = false;
	} else {
		trim_own_arena_top();
		fod_loop_post(&fod_loops[(self + 1) % fod_nloops], t);
	}
}

static void give_memory_back(size_t peak_bytes)
{
	if (peak_bytes < TRIM_AFTER_BYTES || trim_pending)
		return;
	trim_pending = true;
	trim_relay.fn = trim_step;
	fod_loop_post(&fod_loops[1 % fod_nloops], &trim_relay);
}

/* Every row has ended and been sent: the summary, then the job is gone. */
static void job_end(struct fod_batch *j)
{
	log_closed(j);
	size_t peak = j->peak_bytes;
	if (j->conn) {
		struct fod_reply r;
		pack_summary(fod_reply_begin(&r, j->early ? FOD_ST_CANCELLED : FOD_ST_OK,
					     summary_msg(j)),
			     j);
		fod_api_reply(j->conn, &r);
		struct fod_api_conn *c = j->conn;
		bool close = j->early;
		job_free(j);
		fod_api_release(c, close);
	} else {
		job_free(j);
	}
	give_memory_back(peak);
}

static bool job_finished(const struct fod_batch *j)
{
	return j->held == 0 && (j->closing || j->cancelled || j->draining || !j->conn);
}

/* ---- results */

/* {id, outcome, us, branches: [outcome codes], values: [bin | nil], error?} */
static void pack_result(struct fod_batch *j, const struct row *r, enum fod_row_outcome st)
{
	msgpack_packer *pk = &j->pk;
	size_t n = j->rt->nbranches;
	const char *err = NULL;
	if (st != FOD_ROW_OK && r->rep.nerrors)
		err = r->rep.errors[0].errmsg ? r->rep.errors[0].errmsg
					      : fo_outcome_str(r->rep.errors[0].outcome);
	msgpack_pack_map(pk, err ? 6 : 5);
	mp_kv_uint(pk, "id", r->id);
	mp_kv_str(pk, "outcome", fod_row_outcome_names[st]);
	mp_kv_int(pk, "us", r->dur_ns / 1000);
	mp_str(pk, "branches");
	msgpack_pack_array(pk, n);
	for (size_t i = 0; i < n; i++)
		msgpack_pack_unsigned_char(pk, (unsigned char)r->results[i].outcome);
	mp_str(pk, "values");
	msgpack_pack_array(pk, n);
	for (size_t i = 0; i < n; i++) {
		const struct fo_result *res = &r->results[i];
		if (res->outcome == FO_OK) {
			msgpack_pack_bin(pk, res->len);
			msgpack_pack_bin_body(pk, fo_result_data(res), res->len);
		} else {
			msgpack_pack_nil(pk);
		}
	}
	if (err)
		mp_kv_str(pk, "error", err);
}

/* What an allocation really takes from the heap. */
static size_t heap_bytes(void *p)
{
	return p ? malloc_usable_size(p) + CHUNK_HEADER : 0;
}

static void charge(struct fod_batch *j, struct row *r, size_t add, size_t sub)
{
	r->charge = r->charge + add - sub;
	j->held_bytes = j->held_bytes + add - sub;
	if (j->held_bytes > j->peak_bytes)
		j->peak_bytes = j->held_bytes;
}

/* Sends a finished row (unless the client is gone) and frees its slot. */
static void row_emit(struct fod_batch *j, struct row *r)
{
	enum fod_row_outcome st = fod_row_classify(r->rc, &r->rep);
	j->count[st]++;
	fod_metrics_job_row(st);
	if (j->conn) {
		msgpack_sbuffer_clear(&j->out);
		pack_result(j, r, st);
		fod_api_send(j->conn, j->out.data, j->out.size);
	}
	for (size_t i = 0; i < j->rt->nbranches; i++)
		fo_result_clear(&r->results[i]);
	fo_report_clear(&r->rep);
	free(r->payload);
	r->payload = NULL;
	r->done = false;
	j->held--;
	charge(j, r, 0, r->charge);
	r->next_free = j->free_rows;
	j->free_rows = r;
}

/* A row has ended (or never started): send what is now in order, end the job or take more. */
static void row_settled(struct fod_batch *j, struct row *r)
{
	r->done = true;
	j->in_flight--;
	rows_in_flight--;
	/* Its unit, contexts and calls are gone; its result values are held until it is sent. */
	size_t values = 0;
	for (size_t i = 0; i < j->rt->nbranches; i++)
		values += heap_bytes(r->results[i].value);
	charge(j, r, values, j->engine_bytes);
	if (!j->ordered) {
		row_emit(j, r);
	} else {
		while (j->order_head && j->order_head->done) {
			struct row *head = j->order_head;
			j->order_head = head->next_in_order;
			if (!j->order_head)
				j->order_tail = NULL;
			row_emit(j, head);
		}
	}
	if (j->settling)
		j->end_due |= job_finished(j); /* the batch's caller ends it */
	else if (job_finished(j))
		job_end(j);
	else if (!j->feeding && j->conn && job_has_room(j))
		fod_api_kick(j->conn);
}

/* A row that never started: a failed row with no branches run, so the client hears of it. */
static void row_unstarted(struct fod_batch *j, struct row *r, int rc)
{
	fo_ctx_unref(r->ctx);
	r->ctx = NULL;
	r->unit = NULL;
	r->rc = rc;
	memset(&r->rep, 0, sizeof(r->rep));
	r->rep.total = j->rt->nbranches;
	r->dur_ns = 0;
}

/*
 * On the thread that ended the unit (normally its engine loop, which
 * allocated it: glibc frees fastest on the allocating thread): the report,
 * the metrics, the unit and contexts freed.
 */
static void row_joined(struct row *r)
{
	struct fod_batch *j = r->job;
	fo_unit_take_report(r->unit, &r->rep);
	r->dur_ns = fo_now_ns() - r->start_ns;
	fod_metrics_observe_unit(j->rt, j->cfg.policy, r->results, &r->rep, r->dur_ns);
	fo_unit_free(r->unit);
	fo_ctx_unref(r->ctx);
	r->unit = NULL;
	r->ctx = NULL;
}

/* Appends the chain first..last (linked by next_handed) for the other side. */
static void hand(struct handoff *h, struct row *first, struct row *last)
{
	pthread_mutex_lock(&h->lock);
	last->next_handed = h->rows;
	h->rows = first;
	if (!h->posted) {
		h->posted = true;
		fod_loop_post(h->to, &h->task);
	}
	pthread_mutex_unlock(&h->lock);
}

/*
 * Rows that joined on a loop other than their job's wait in that loop's
 * batch until it is about to block (ev_prepare), then go back together: a
 * burst of completions costs one wake-up of the job's loop.
 */
struct back_batch {
	ev_prepare flush;
	struct chain rows;
	bool started;
};
static struct back_batch *back_batches; /* one per loop, from the first job */

static void flush_back(struct ev_loop *ev, ev_prepare *w, int revents)
{
	(void)ev;
	(void)revents;
	struct back_batch *b = (struct back_batch *)w;
	while (b->rows.first) {
		/* one chain per job: rows of one job are contiguous in practice */
		struct row *first = b->rows.first, *last = first;
		while (last->next_handed && last->next_handed->job == first->job)
			last = last->next_handed;
		b->rows.first = last->next_handed;
		hand(&first->job->back, first, last);
	}
	b->rows.last = NULL;
}

static void back_later(struct row *r)
{
	struct fod_loop *self = fod_loop_self();
	struct back_batch *b = &back_batches[self->index];
	if (!b->started) {
		ev_prepare_init(&b->flush, flush_back);
		ev_prepare_start(self->ev, &b->flush);
		b->started = true;
	}
	chain_push(&b->rows, r);
}

static struct row *take_handed(struct handoff *h)
{
	pthread_mutex_lock(&h->lock);
	struct row *rows = h->rows;
	h->rows = NULL;
	h->posted = false;
	pthread_mutex_unlock(&h->lock);
	return rows;
}

/* On the job's loop: rows that joined elsewhere. The job may end with the last of them. */
static void rows_back(struct fod_post *t)
{
	struct handoff *h = (struct handoff *)((char *)t - offsetof(struct handoff, task));
	struct fod_batch *j = h->job;
	j->settling = true;
	for (struct row *r = take_handed(h), *next; r; r = next) {
		next = r->next_handed;
		row_settled(j, r);
	}
	j->settling = false;
	if (j->end_due || job_finished(j))
		job_end(j);
	else if (!j->feeding && j->conn && job_has_room(j))
		fod_api_kick(j->conn);
}

static void row_done(struct fo_unit *u, int rc, void *arg)
{
	(void)u;
	struct row *r = arg;
	r->rc = rc;
	row_joined(r);
	if (fod_loop_self() == r->job->loop)
		row_settled(r->job, r);
	else if (fod_loop_self())
		back_later(r);
	else
		hand(&r->job->back, r, r); /* ended on the timer thread: straight back */
}

/* On the row's engine loop: its context and unit; -errno if they could not start. */
static int unit_start(struct row *r)
{
	struct fod_batch *j = r->job;
	r->ctx = fo_ctx_child(j->loop_ctx[r->engine->index], r->start_ns + j->rt->budget_ns);
	if (!r->ctx)
		return -ENOMEM;
	return fo_unit_start(r->ctx, r->tasks, j->rt->nbranches, NULL, r->engine, &j->cfg,
			     r->results, row_done, r, &r->unit);
}

/* On an engine loop: start the rows handed over. Nothing of the job is touched after the last. */
static void rows_to_start(struct fod_post *t)
{
	struct handoff *h = (struct handoff *)((char *)t - offsetof(struct handoff, task));
	for (struct row *r = take_handed(h), *next; r; r = next) {
		next = r->next_handed; /* r may be finished and reused once started */
		int rc = unit_start(r);
		if (rc < 0) {
			row_unstarted(r->job, r, rc);
			back_later(r);
		}
	}
}

/* ---- rows */

/* Whether the job takes another frame now (room in its window, not closing). */
static bool job_has_room(const struct fod_batch *j)
{
	return !j->closing && !j->cancelled && !j->draining && j->in_flight < j->limit &&
	       j->held < j->window && (j->held == 0 || j->held_bytes < MAX_HELD_BYTES);
}

/* A slot's first use: its pages become resident now, not at job.open. */
static struct row *slot_init(struct fod_batch *j, unsigned w)
{
	size_t n = j->rt->nbranches;
	struct row *r = &j->rows[w];
	r->job = j;
	r->tasks = &j->tasks[w * n];
	r->results = &j->results[w * n];
	for (size_t i = 0; i < n; i++)
		r->tasks[i] = fod_route_task(j->rt, i, 0); /* the id is set per row */
	return r;
}

static struct row *row_take(struct fod_batch *j)
{
	struct row *r = j->free_rows;
	if (r)
		j->free_rows = r->next_free;
	else
		r = slot_init(j, j->fresh++); /* held < window: a fresh one is left */
	if (j->ordered) {
		r->next_in_order = NULL;
		if (j->order_tail)
			j->order_tail->next_in_order = r;
		else
			j->order_head = r;
		j->order_tail = r;
	}
	j->held++;
	return r;
}

static void row_start(struct fod_batch *j, uint64_t id, const void *payload, size_t len)
{
	struct row *r = row_take(j);
	int rc = 0;
	r->payload = len ? malloc(len) : NULL;
	if (len && !r->payload) {
		rc = -ENOMEM;
		len = 0;
	}
	if (len)
		memcpy(r->payload, payload, len);
	r->len = len;
	r->charge = 0;
	charge(j, r, j->slot_bytes + j->engine_bytes + heap_bytes(r->payload), 0);
	r->id = id;
	r->start_ns = fo_now_ns();
	for (size_t i = 0; i < j->rt->nbranches; i++) {
		r->tasks[i].id = id;
		r->tasks[i].payload = r->payload;
		r->tasks[i].len = len;
	}
	j->in_flight++;
	rows_in_flight++;
	j->rows_in++;
	r->ctx = NULL;
	if (rc < 0) {
		row_unstarted(j, r, rc);
		row_settled(j, r);
		return;
	}
	/*
	 * Rows take turns over the loops: a row's unit, its downstream calls
	 * and its join run on its engine loop, so the work of a job uses every
	 * core while this loop decodes tasks and encodes results. Rows for
	 * another loop cross in batches (struct handoff).
	 */
	r->engine = &fod_loops[j->rows_in % fod_nloops];
	r->unit = NULL;
	if (r->engine != j->loop) {
		/* queued here; job_flush() hands each loop its batch */
		chain_push(&j->outgoing[r->engine->index], r);
		return;
	}
	if ((rc = unit_start(r)) < 0) {
		row_unstarted(j, r, rc);
		row_settled(j, r);
	}
}

static void reject(struct fod_batch *j, const char *why)
{
	j->rejected++;
	if (j->conn)
		fod_api_error(j->conn, FOD_ST_BAD_REQUEST, "job %llu, frame %llu: %s",
			      (unsigned long long)j->id,
			      (unsigned long long)(j->rows_in + j->rejected), why);
}

/* One frame on the job's connection: a task, or {op: "job.close"}. */
static void job_frame(struct fod_batch *j, const char *frame, size_t len)
{
	msgpack_object o;
	size_t off = 0;
	msgpack_zone_clear(&j->zone);
	enum fod_scan scan = fod_mp_prescan(frame, len);
	if (scan != FOD_SCAN_OK ||
	    msgpack_unpack(frame, len, &off, &j->zone, &o) != MSGPACK_UNPACK_SUCCESS ||
	    off != len) {
		reject(j, scan == FOD_SCAN_TOO_BIG ? "too deep or too wide"
						   : "not exactly one msgpack value");
		return;
	}
	if (o.type != MSGPACK_OBJECT_MAP) {
		reject(j, "a task frame is a map {id, payload}");
		return;
	}
	char op[32];
	int have_op = fod_mp_arg_str(&o, "op", op, sizeof(op));
	if (have_op < 0) {
		reject(j, "'op' in a job is the string \"job.close\"");
		return;
	}
	if (have_op == 1) {
		if (strcmp(op, "job.close") != 0) {
			reject(j, "only task frames and job.close until the job ends");
			return;
		}
		j->closing = true;
		job_ended_by(j, END_CLOSE);
		if (job_finished(j))
			job_end(j);
		return;
	}
	uint64_t id;
	if (fod_mp_arg_uint(&o, "id", 0, UINT64_MAX, &id) != 1) {
		reject(j, "'id' (an unsigned integer) is required");
		return;
	}
	const msgpack_object *p = mp_member(&o, "payload");
	const void *payload = NULL;
	size_t plen = 0;
	if (p && p->type == MSGPACK_OBJECT_BIN) {
		payload = p->via.bin.ptr;
		plen = p->via.bin.size;
	} else if (p && p->type == MSGPACK_OBJECT_STR) {
		payload = p->via.str.ptr;
		plen = p->via.str.size;
	} else if (p && p->type != MSGPACK_OBJECT_NIL) {
		reject(j, "'payload' must be bin or str");
		return;
	}
	j->feeding = true; /* a row may end inside its own start: no kick from there */
	row_start(j, id, payload, plen);
	j->feeding = false;
}

/* End of a pass over the frames read: rows for other loops go to them, one batch each. */
static void job_flush(struct fod_batch *j)
{
	for (unsigned i = 0; i < fod_nloops; i++) {
		struct chain *o = &j->outgoing[i];
		if (o->first)
			hand(&j->to_engine[i], o->first, o->last);
		o->first = o->last = NULL;
	}
}

/* ---- opening */

/* The window's slots: one mapping, untouched (so not resident) until slots are used. */
static int slots_map(struct fod_batch *j)
{
	size_t n = j->rt->nbranches, w = j->window;
	size_t rows = w * sizeof(struct row), tasks = w * n * sizeof(struct fo_task),
	       results = w * n * sizeof(struct fo_result);
	j->slots_len = rows + tasks + results;
	void *m = mmap(NULL, j->slots_len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED)
		return -ENOMEM;
	j->slots = m;
	j->rows = m;
	j->tasks = (struct fo_task *)((char *)m + rows);
	j->results = (struct fo_result *)((char *)m + rows + tasks);
	j->slot_bytes =
		sizeof(struct row) + n * (sizeof(struct fo_task) + sizeof(struct fo_result));
	j->engine_bytes = ENGINE_ROW_BYTES;
	for (size_t i = 0; i < n; i++)
		j->engine_bytes += ENGINE_BRANCH_BYTES + j->rt->branches[i].ds->ops->call_size;
	return 0;
}

static int job_alloc(struct fod_batch *j)
{
	if (slots_map(j) < 0)
		return -ENOMEM;
	j->ctx = fo_ctx_new(FO_NO_DEADLINE);
	j->to_engine = calloc(fod_nloops, sizeof(*j->to_engine));
	j->outgoing = calloc(fod_nloops, sizeof(*j->outgoing));
	j->loop_ctx = calloc(fod_nloops, sizeof(*j->loop_ctx));
	for (unsigned i = 0; j->loop_ctx && j->ctx && i < fod_nloops; i++)
		if (!(j->loop_ctx[i] = fo_ctx_child(j->ctx, FO_NO_DEADLINE)))
			return -ENOMEM;
	if (!back_batches)
		back_batches =
			calloc(fod_nloops, sizeof(*back_batches)); /* never freed: per loop */
	if (!j->ctx || !j->to_engine || !j->outgoing || !j->loop_ctx || !back_batches)
		return -ENOMEM;
	for (unsigned i = 0; i < fod_nloops; i++)
		j->to_engine[i] =
			(struct handoff){.task.fn = rows_to_start, .to = &fod_loops[i], .job = j};
	j->back = (struct handoff){.task.fn = rows_back, .to = j->loop, .job = j};
	pthread_mutex_init(&j->back.lock, NULL);
	for (unsigned i = 0; i < fod_nloops; i++)
		pthread_mutex_init(&j->to_engine[i].lock, NULL);
	return 0;
}

/* job.open: replies {job, ...} and returns the job bound to c, or replies the error. */
static struct fod_batch *job_open(struct fod_api_conn *c, const msgpack_object *req)
{
	char kind[128], pname[64];
	uint64_t limit = DEFAULT_LIMIT, window = 0;
	bool ordered = false;
	if (fod_control_draining() || fod_control_stopping()) {
		fod_api_error(c, FOD_ST_BUSY,
			      fod_control_stopping() ? "shutting down: no new jobs"
						     : "draining: no new jobs");
		return NULL;
	}
	int have_kind = fod_mp_arg_str(req, "kind", kind, sizeof(kind));
	if (have_kind != 1) {
		fod_api_error(c, FOD_ST_BAD_REQUEST,
			      "'kind' (a string of at most %zu bytes) is required: %s",
			      sizeof(kind) - 1, fod_mp_str_problem(have_kind));
		return NULL;
	}
	/* Present but unusable is refused, never replaced by the route's default. */
	int have_policy = fod_mp_arg_str(req, "policy", pname, sizeof(pname));
	if (have_policy < 0) {
		fod_api_error(c, FOD_ST_BAD_REQUEST,
			      "'policy' must be a string naming failfast, collectall or "
			      "besteffort: %s",
			      fod_mp_str_problem(have_policy));
		return NULL;
	}
	if (fod_mp_arg_uint(req, "limit", 1, MAX_LIMIT, &limit) < 0 ||
	    fod_mp_arg_uint(req, "window", 1, MAX_WINDOW, &window) < 0 ||
	    fod_mp_arg_bool(req, "ordered", &ordered) < 0) {
		fod_api_error(
			c, FOD_ST_BAD_REQUEST,
			"'limit' must be in [1, %d], 'window' in [1, %d], 'ordered' a boolean",
			MAX_LIMIT, MAX_WINDOW);
		return NULL;
	}
	if (!window)
		window = ordered ? 2 * limit : limit;
	if (window < limit) {
		fod_api_error(
			c, FOD_ST_BAD_REQUEST,
			"'window' (%llu) holds the rows in flight: it cannot be under 'limit' "
			"(%llu)",
			(unsigned long long)window, (unsigned long long)limit);
		return NULL;
	}
	struct fod_gen *g = fod_gen_current();
	struct fod_route *rt = g ? fod_gen_route_job(g, kind) : NULL;
	if (!rt) {
		fod_gen_unref(g);
		fod_api_error(c, FOD_ST_BAD_REQUEST, "no job kind '%s' in the configuration", kind);
		return NULL;
	}
	const struct fo_policy *policy = rt->policy;
	if (have_policy == 1 && !(policy = fo_policy_by_name(pname))) {
		fod_gen_unref(g);
		fod_api_error(c, FOD_ST_BAD_REQUEST,
			      "policy must be failfast, collectall or besteffort");
		return NULL;
	}
	struct fod_batch *j = calloc(1, sizeof(*j));
	/* The zone first: job_free() destroys it, which a zone that failed to start cannot take. */
	if (!j || !msgpack_zone_init(&j->zone, 4096)) {
		free(j);
		fod_gen_unref(g);
		fod_api_error(c, FOD_ST_INTERNAL, "out of memory");
		return NULL;
	}
	j->gen = g;
	j->rt = rt;
	j->limit = (unsigned)limit;
	j->window = (unsigned)window;
	j->ordered = ordered;
	j->conn = c;
	j->uid = fod_api_peer_uid(c);
	j->loop = &fod_loops[0];
	msgpack_sbuffer_init(&j->out);
	msgpack_packer_init(&j->pk, &j->out, msgpack_sbuffer_write);
	if (job_alloc(j) < 0) {
		job_free(j);
		fod_api_error(c, FOD_ST_INTERNAL, "out of memory for a window of %llu rows",
			      (unsigned long long)window);
		return NULL;
	}
	j->cfg = fod_route_config(rt, policy, g->pool, FOD_WORK_JOB);
	j->id = ++last_id;
	j->start_ns = fo_now_ns();
	struct fod_reply r;
	msgpack_packer *pk = fod_reply_begin(&r, FOD_ST_OK, "job open");
	msgpack_pack_map(pk, 6);
	mp_kv_uint(pk, "job", j->id);
	mp_kv_str(pk, "kind", rt->job);
	mp_kv_str(pk, "policy", policy->name);
	mp_kv_int(pk, "limit", j->limit);
	mp_kv_int(pk, "window", j->window);
	mp_str(pk, "branches");
	msgpack_pack_array(pk, rt->nbranches);
	for (size_t i = 0; i < rt->nbranches; i++)
		mp_str(pk, rt->branches[i].name);
	if (r.failed) { /* a client told "out of memory" must not have a job open */
		msgpack_sbuffer_destroy(&r.buf);
		job_free(j);
		fod_api_error(c, FOD_ST_INTERNAL, "out of memory");
		return NULL;
	}
	j->next = jobs;
	if (jobs)
		jobs->prev = j;
	jobs = j;
	j->listed = true;
	fod_api_reply(c, &r);
	log_info("job %llu opened: kind %s, policy %s, limit %u, window %u, %s",
		 (unsigned long long)j->id, rt->job, policy->name, j->limit, j->window,
		 ordered ? "ordered" : "unordered");
	return j;
}

/* ---- control */

/* The connection is gone: cancel every row; the job frees itself when they have ended. */
static void job_detach(struct fod_batch *j)
{
	j->conn = NULL;
	job_ended_by(j, END_DISCONNECT);
	fo_ctx_cancel(j->ctx, FO_CAUSE_CLIENT_GONE);
	if (job_finished(j))
		job_end(j);
}

static void job_cancel(struct fod_batch *j, enum fo_cause cause)
{
	if (j->cancelled)
		return;
	j->cancelled = true;
	job_ended_by(j, cause == FO_CAUSE_SHUTDOWN ? END_SHUTDOWN : END_CANCEL);
	fo_ctx_cancel(j->ctx, cause);
	if (job_finished(j))
		job_end(j);
}

/* job.cancel: 0, or -ENOENT. The job's client gets the summary with status cancelled. */
static int job_cancel_id(uint64_t id)
{
	for (struct fod_batch *j = jobs; j; j = j->next)
		if (j->id == id) {
			job_cancel(j, FO_CAUSE_CANCELLED);
			return 0;
		}
	return -ENOENT;
}

void fod_jobs_cancel_all(void)
{
	struct fod_batch *j = jobs;
	while (j) {
		struct fod_batch *next = j->next; /* j may be freed */
		job_cancel(j, FO_CAUSE_SHUTDOWN);
		j = next;
	}
}

/*
 * Shutdown begins: like HTTP requests, the rows in flight may finish (until
 * shutdown.drain_ms, when fod_jobs_cancel_all() cuts what is left), but no
 * further task frame is read. A job whose client had not closed it ends
 * because of the shutdown, and its summary says so.
 */
void fod_jobs_drain(void)
{
	struct fod_batch *j = jobs;
	while (j) {
		struct fod_batch *next = j->next; /* j may be freed */
		j->draining = true;
		if (!j->closing)
			job_ended_by(j, END_SHUTDOWN);
		if (job_finished(j))
			job_end(j);
		j = next;
	}
}

/* The `jobs` op: an array of every open job. */
static void jobs_pack(msgpack_packer *pk)
{
	size_t n = fod_jobs_open();
	msgpack_pack_array(pk, n);
	for (struct fod_batch *j = jobs; j; j = j->next) {
		double secs = (double)(fo_now_ns() - j->start_ns) / 1e9;
		uint64_t done = rows_done(j);
		msgpack_pack_map(pk, 15 + FOD_ROW_N);
		mp_kv_uint(pk, "job", j->id);
		mp_kv_str(pk, "kind", j->rt->job);
		mp_kv_str(pk, "policy", j->cfg.policy->name);
		mp_kv_int(pk, "uid", j->uid);
		mp_kv_int(pk, "limit", j->limit);
		mp_kv_int(pk, "window", j->window);
		mp_kv_int(pk, "ordered", j->ordered);
		mp_kv_int(pk, "rows_in", (long long)j->rows_in);
		mp_kv_int(pk, "rows_done", (long long)done);
		mp_kv_int(pk, "in_flight", j->in_flight);
		mp_kv_int(pk, "held", j->held);
		mp_kv_int(pk, "held_bytes", (long long)j->held_bytes);
		for (int s = 0; s < FOD_ROW_N; s++)
			mp_kv_int(pk, fod_row_outcome_names[s], (long long)j->count[s]);
		mp_kv_int(pk, "rejected", (long long)j->rejected);
		mp_kv_double(pk, "age_s", secs);
		mp_kv_str(pk, "state",
			  j->cancelled	? "cancelling"
			  : j->draining ? "draining"
			  : j->closing	? "closing"
					: "running");
	}
}

long fod_jobs_rows_in_flight(void)
{
	return rows_in_flight;
}

size_t fod_jobs_open(void)
{
	size_t n = 0;
	for (struct fod_batch *j = jobs; j; j = j->next)
		n++;
	return n;
}

/* ---- the connection's handlers, and the job ops in the admin socket's command table */

static void conn_frame(void *owner, const char *frame, size_t len)
{
	job_frame(owner, frame, len);
}

static void conn_flush(void *owner)
{
	job_flush(owner);
}

static bool conn_has_room(const void *owner)
{
	return job_has_room(owner);
}

/*
 * The client sends nothing more: a job it closed keeps running to its
 * summary (and keeps the connection for it); one it left open, or whose
 * connection is going, is abandoned: its rows are cancelled.
 */
static bool conn_peer_gone(void *owner, bool can_reply)
{
	struct fod_batch *j = owner;
	if (can_reply && (j->closing || j->cancelled))
		return true;
	job_detach(j);
	return false;
}

static const struct fod_api_conn_ops job_conn_ops = {
	.frame = conn_frame,
	.flush = conn_flush,
	.has_room = conn_has_room,
	.peer_gone = conn_peer_gone,
};

static void cmd_job_open(struct fod_api_conn *c, const msgpack_object *req)
{
	fod_fault_open("job.open");
	struct fod_batch *j = job_open(c, req); /* replies either way */
	if (j)
		fod_api_take(c, &job_conn_ops, j);
	fod_fault_close("job.open", j ? 0 : -EINVAL);
}

static void cmd_job_cancel(struct fod_api_conn *c, const msgpack_object *req)
{
	uint64_t id = 0;
	if (fod_mp_arg_uint(req, "job", 1, UINT64_MAX, &id) != 1) {
		fod_api_error(c, FOD_ST_BAD_REQUEST, "'job' (a job id) is required");
		return;
	}
	if (job_cancel_id(id) < 0) {
		fod_api_error(c, FOD_ST_BAD_REQUEST, "no job %llu", (unsigned long long)id);
		return;
	}
	log_notice("job %llu cancelled over the API", (unsigned long long)id);
	fod_api_error(c, FOD_ST_OK, "job %llu cancelled", (unsigned long long)id);
}

static void cmd_jobs(struct fod_api_conn *c, const msgpack_object *req)
{
	(void)req;
	struct fod_reply r;
	jobs_pack(fod_reply_begin(&r, FOD_ST_OK, "ok"));
	fod_api_reply(c, &r);
}

static const struct fod_api_command job_commands[] = {
	{"jobs", FOD_LEVEL_USER, cmd_jobs},
	{"job.open", FOD_LEVEL_JOB, cmd_job_open},
	{"job.cancel", FOD_LEVEL_OPERATOR, cmd_job_cancel},
	{NULL, 0, NULL},
};

int fod_jobs_init(void)
{
	return fod_api_register(job_commands);
}
