/* SPDX-License-Identifier: MIT */
/*
 * libfanout: split one unit of work into N branches, run them under hard
 * resource ceilings, join the results, and leak nothing when a branch is slow
 * or failing.
 *
 * The pieces, bottom up:
 *   fo_ctx    a refcounted cancellation tree with deadlines and cancel hooks
 *             (Go's context.Context);
 *   fo_sem    an exact, FIFO-fair weighted semaphore, blocking or callback
 *             driven (x/sync/semaphore);
 *   fo_pool   a fixed-size worker pool for blocking task functions;
 *   fo_chan   a bounded, closable channel of fixed-size elements;
 *   fo_unit   one fan-out as an event-driven state machine: admission, per
 *             branch deadline budget, partial-failure policy, join;
 *   fo_fanout the blocking wrapper around a unit (errgroup.Wait);
 *   fo_stream the streaming variant over channels, with backpressure.
 *
 * Conventions: functions return 0 or a negative errno; nothing here logs;
 * every destructor accepts NULL. Times are CLOCK_MONOTONIC nanoseconds.
 */
#ifndef FANOUTD_FANOUT_H
#define FANOUTD_FANOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ time */

/* A deadline that never comes. */
#define FO_NO_DEADLINE INT64_MAX
#define FO_MSEC	       INT64_C(1000000)
#define FO_SEC	       INT64_C(1000000000)

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t fo_now_ns(void);

/* --------------------------------------------------------------- context */

/* Why a context ended. FO_LIVE means it has not. */
enum fo_cause {
	FO_LIVE = 0,
	FO_CAUSE_CANCELLED,   /* the owner cancelled it */
	FO_CAUSE_DEADLINE,    /* its deadline passed */
	FO_CAUSE_SIBLING,     /* fail-fast: another branch of the unit failed */
	FO_CAUSE_CLIENT_GONE, /* the client that asked for the work went away */
	FO_CAUSE_SHUTDOWN,    /* the process is stopping */
	FO_CAUSE_POLICY,      /* the policy has its answer (e.g. quorum reached) */
};

struct fo_ctx;

/*
 * A cancel hook, embedded in the caller's own structure. It runs once, on the
 * thread that cancels the context (or on libfanout's timer thread when a
 * deadline passes), outside the context's lock, one hook at a time, after it
 * has been taken off the context's list. So it may call back into libfanout
 * (cancel, add or delete hooks, even on this context), drop the last
 * reference its owner holds on the context it runs for (the canceller keeps
 * the context alive until every hook has run), and free the structure it is
 * embedded in: the canceller does not touch a hook once it has returned. It
 * should be short: the other hooks wait for it.
 */
struct fo_ctx_hook {
	void (*fn)(struct fo_ctx_hook *hook, enum fo_cause cause);
	/* private */
	struct fo_ctx_hook *next, *prev;
};

/* A root context that ends at deadline_ns (FO_NO_DEADLINE for none). NULL on ENOMEM. */
struct fo_ctx *fo_ctx_new(int64_t deadline_ns);
/*
 * A child of parent: it ends when the parent ends (with the parent's cause),
 * when it is cancelled, or at min(deadline_ns, parent's deadline). It holds a
 * reference on its parent. NULL on ENOMEM.
 */
struct fo_ctx *fo_ctx_child(struct fo_ctx *parent, int64_t deadline_ns);
struct fo_ctx *fo_ctx_ref(struct fo_ctx *ctx);
void fo_ctx_unref(struct fo_ctx *ctx);
/* Ends ctx and every descendant; the first cause wins; idempotent. */
void fo_ctx_cancel(struct fo_ctx *ctx, enum fo_cause cause);
/* FO_LIVE while the context runs; notices a passed deadline by itself. */
enum fo_cause fo_ctx_cause(struct fo_ctx *ctx);
static inline bool fo_ctx_done(struct fo_ctx *ctx)
{
	return fo_ctx_cause(ctx) != FO_LIVE;
}
/* 0 while live, -ETIMEDOUT after the deadline, -ECANCELED for any other cause. */
int fo_ctx_err(struct fo_ctx *ctx);
/* The effective (earliest inherited) deadline. */
int64_t fo_ctx_deadline(const struct fo_ctx *ctx);
/* Nanoseconds left until the deadline (may be negative); INT64_MAX if none. */
int64_t fo_ctx_remaining(const struct fo_ctx *ctx);
/*
 * Registers a hook. Returns 0, or -ECANCELED when ctx has already ended (the
 * hook is then neither added nor run: the caller acts on the end itself).
 */
int fo_ctx_hook_add(struct fo_ctx *ctx, struct fo_ctx_hook *hook);
/*
 * Unregisters a hook; on return it will never run, and it is not running
 * (a hook another thread is running is waited for; called from inside the
 * hook itself, it returns at once).
 */
void fo_ctx_hook_del(struct fo_ctx *ctx, struct fo_ctx_hook *hook);
/* Sleeps ns nanoseconds or until ctx ends: 0 when the full time passed, else fo_ctx_err(). */
int fo_ctx_sleep(struct fo_ctx *ctx, int64_t ns);
/* Human-readable cause ("deadline", "sibling-failed", ...). */
const char *fo_cause_str(enum fo_cause cause);

/* ------------------------------------------------------------- semaphore */

struct fo_sem;

/*
 * An asynchronous acquire in progress, embedded in the caller's structure.
 * granted runs exactly once, on the thread that released capacity or ended
 * the context, with status 0 (the weight is now held), fo_ctx_err(), or
 * -E2BIG if the semaphore was shrunk below the waiter's weight.
 */
struct fo_sem_waiter {
	void (*granted)(struct fo_sem_waiter *w, int status);
	unsigned partition; /* set before fo_sem_acquire_async(): 0 unless partitioned */
	/* private */
	uint64_t arrival;
	int64_t weight;
	int status;
	struct fo_sem_waiter *next_granted;
	struct fo_sem *sem;
	struct fo_ctx *ctx;
	struct fo_ctx_hook hook;
	struct fo_sem_waiter *next, *prev;
};

/* A semaphore of the given capacity (>= 1). NULL on EINVAL/ENOMEM. */
struct fo_sem *fo_sem_new(int64_t size);

#define FO_SEM_MAX_PARTITIONS 4
/*
 * Divides an idle semaphore (-EBUSY otherwise) into n partitions, each
 * guaranteed shares[i] of the size (shares in 0..1, summing to at most 1;
 * resizing keeps the shares). A partition may borrow what the others leave
 * idle; while a partition waits below its guarantee, nothing it is owed is
 * lent and its waiters go first as capacity frees. Borrowed capacity is never
 * taken back: it returns when its holder releases it. The size is never
 * exceeded. Holders name their partition: fo_sem_waiter.partition,
 * fo_sem_acquire_in(), fo_sem_release_in(), fo_config.global_partition.
 * -EINVAL on bad shares.
 */
int fo_sem_partition(struct fo_sem *sem, const double *shares, unsigned n);
/* The semaphore must be idle (no holder, no waiter). */
void fo_sem_free(struct fo_sem *sem);
/*
 * Blocks until weight units are free, in FIFO order: a heavy waiter at the
 * head is never overtaken by lighter ones behind it. Returns 0, fo_ctx_err()
 * (a context that has already ended fails at once, even if capacity is free),
 * or -E2BIG when weight exceeds the capacity. ctx may be NULL.
 */
int fo_sem_acquire(struct fo_sem *sem, struct fo_ctx *ctx, int64_t weight);
/* The same in a partition (fo_sem_acquire() is partition 0); -EINVAL for no such partition. */
int fo_sem_acquire_in(struct fo_sem *sem, unsigned partition, struct fo_ctx *ctx, int64_t weight);
/*
 * Non-blocking acquire. Returns 0 when granted now (granted is not called),
 * -EINPROGRESS when queued (granted will be called), or an immediate error as
 * fo_sem_acquire().
 */
int fo_sem_acquire_async(struct fo_sem *sem, struct fo_ctx *ctx, int64_t weight,
			 struct fo_sem_waiter *w);
/* Takes weight (partition 0) only if it is free now and nobody it would overtake is queued. */
bool fo_sem_try_acquire(struct fo_sem *sem, int64_t weight);
/* The same in a partition: false also for no such partition. */
bool fo_sem_try_acquire_in(struct fo_sem *sem, unsigned partition, int64_t weight);
void fo_sem_release(struct fo_sem *sem, int64_t weight);
/* Releases weight held in a partition (what fo_sem_acquire_in() took there). */
void fo_sem_release_in(struct fo_sem *sem, unsigned partition, int64_t weight);
/* Changes the capacity live; waiters that now fit are granted at once. */
int fo_sem_resize(struct fo_sem *sem, int64_t size);
int64_t fo_sem_size(struct fo_sem *sem);
int64_t fo_sem_in_use(struct fo_sem *sem);
/* The highest in_use ever seen: proof that admission never overshot. */
int64_t fo_sem_high_water(struct fo_sem *sem);
size_t fo_sem_waiting(struct fo_sem *sem);
/* Partitions (1 when unpartitioned), and each one's holdings, guarantee and waiters. */
unsigned fo_sem_partitions(struct fo_sem *sem);
int64_t fo_sem_partition_in_use(struct fo_sem *sem, unsigned partition);
int64_t fo_sem_partition_guaranteed(struct fo_sem *sem, unsigned partition);
size_t fo_sem_partition_waiting(struct fo_sem *sem, unsigned partition);

/* ------------------------------------------------------------ worker pool */

struct fo_pool;

/* A unit of pool work, embedded in the caller's structure (no allocation). */
struct fo_job {
	void (*fn)(struct fo_job *job);
	/* private */
	struct fo_job *next;
};

/* nthreads threads (0 = number of online CPUs). NULL on error (errno set). */
struct fo_pool *fo_pool_new(unsigned nthreads);
/* Runs the queued jobs, then joins every thread. */
void fo_pool_free(struct fo_pool *pool);
/* Queues a job; never blocks. */
void fo_pool_submit(struct fo_pool *pool, struct fo_job *job);
unsigned fo_pool_threads(const struct fo_pool *pool);
/* The process-wide default pool (4 x online CPUs, the default limit), created on first use. */
struct fo_pool *fo_pool_default(void);

/* ---------------------------------------------------------------- channel */

struct fo_chan;

/* A bounded FIFO of cap elements of elem_size bytes. NULL on EINVAL/ENOMEM. */
struct fo_chan *fo_chan_new(size_t cap, size_t elem_size);
void fo_chan_free(struct fo_chan *ch);
/*
 * Copies n elements in, blocking while the channel is full (this is the
 * backpressure). Returns n, or fewer when it stopped part way, or, when none
 * went in, -EPIPE (the channel is closed) or fo_ctx_err() (ctx ended).
 */
long fo_chan_send(struct fo_chan *ch, struct fo_ctx *ctx, const void *elems, size_t n);
/*
 * Copies 1..max elements out, blocking while the channel is empty. Returns how
 * many, 0 once the channel is closed and drained, or fo_ctx_err(). When seq is
 * not NULL it receives the arrival sequence number of the first element.
 */
long fo_chan_recv(struct fo_chan *ch, struct fo_ctx *ctx, void *elems, size_t max, uint64_t *seq);
/* No more sends; receivers drain what is left, then get 0. */
void fo_chan_close(struct fo_chan *ch);
size_t fo_chan_len(struct fo_chan *ch);
size_t fo_chan_cap(const struct fo_chan *ch);

/* ------------------------------------------------------------ data model */

struct fo_task {
	uint64_t id;
	const char *kind;
	const void *payload;
	size_t len;
	uint32_t weight;    /* cost against a weighted limiter; 0 counts as 1 */
	int64_t timeout_ns; /* this branch's own timeout; 0 = cfg->per_task_timeout_ns */
	void *udata;	    /* the caller's, handed back in the result */
};

/* How a branch ended. */
enum fo_outcome {
	FO_OK = 0,
	FO_ERROR,     /* the task function failed */
	FO_TIMEOUT,   /* its deadline passed */
	FO_CANCELLED, /* cancelled by the caller, a sibling or the policy */
	FO_SKIPPED,   /* not started: its remaining budget was under the minimum */
	FO_SHED,      /* not started: admission to the global limiter was refused */
	FO_LOST,      /* never answered (distributed branches) */
	FO_OUTCOME_MAX
};
const char *fo_outcome_str(enum fo_outcome o);

#define FO_RESULT_INLINE 32

struct fo_result {
	uint64_t task_id;
	size_t index; /* input position (fo_fanout) or arrival sequence (stream) */
	/*
	 * The value: either heap memory in value (the receiver owns it and frees
	 * it with free()) or up to FO_RESULT_INLINE bytes in small with value
	 * NULL. fo_result_data() hides the difference.
	 */
	void *value;
	size_t len;
	uint8_t small[FO_RESULT_INLINE];
	int err;	    /* 0 or a negative errno */
	const char *errmsg; /* static string, or NULL */
	int64_t dur_ns;	    /* start to completion */
	enum fo_outcome outcome;
	void *udata; /* the task's */
};

static inline const void *fo_result_data(const struct fo_result *r)
{
	return r->value ? r->value : r->small;
}
/* Stores a copy of len bytes (inline when small). -ENOMEM on failure. */
int fo_result_set(struct fo_result *r, const void *data, size_t len);
/* Frees a heap value, if any. */
void fo_result_clear(struct fo_result *r);

/*
 * A blocking task function: runs on a pool thread, must honour ctx (return
 * soon after it ends), fills out->value/out->err. Return 0 or a negative
 * errno; a non-zero return is the branch's error.
 */
typedef int (*fo_task_fn)(struct fo_ctx *ctx, const struct fo_task *t, struct fo_result *out,
			  void *arg);

struct fo_branch;
/*
 * A non-blocking branch: starts work (a timer, a socket) and returns at once.
 * Exactly once, from any thread, it must call fo_branch_done(). It must stop
 * promptly when ctx ends (register a hook with fo_ctx_hook_add()).
 */
typedef void (*fo_async_fn)(struct fo_ctx *ctx, const struct fo_task *t, struct fo_branch *b,
			    void *arg);
/*
 * Completes an async branch. err is 0 or a negative errno; on success the
 * value (len bytes, copied) becomes the result. -ETIMEDOUT / -ECANCELED are
 * recorded as timeout / cancelled outcomes.
 */
void fo_branch_done(struct fo_branch *b, int err, const void *value, size_t len,
		    const char *errmsg);

/* --------------------------------------------------------------- policies */

struct fo_report;

enum fo_policy_kind {
	FO_FAILFAST = 0, /* first error cancels the siblings and is returned */
	FO_COLLECTALL,	 /* run all; return every error with its index */
	FO_BESTEFFORT,	 /* run all; drop failures; report count, ratio, indexes */
};

/* What a policy says after each branch. */
enum fo_verdict {
	FO_CONTINUE,   /* keep going */
	FO_CANCEL_REST /* cancel every branch still running or not started */
};

/*
 * A partial-failure policy: a small state machine fed every branch outcome.
 * Loadable policies (quorum, ...) implement this table.
 */
struct fo_policy {
	const char *name;
	/* Bytes of per-unit state; zeroed before init. */
	size_t state_size;
	int (*init)(void *state, size_t nbranches, const void *params);
	enum fo_verdict (*on_result)(void *state, const struct fo_result *r);
	/* The unit's return value once every branch has ended. */
	int (*finish)(void *state, const struct fo_report *rep);
	/* Whether a failed branch's result is delivered (ordered array / callback). */
	bool deliver_failures;
};
const struct fo_policy *fo_policy_builtin(enum fo_policy_kind kind);
/* "failfast", "collectall", "besteffort" (also with a dash); NULL if unknown. */
const struct fo_policy *fo_policy_by_name(const char *name);

/* --------------------------------------------------------------- limiting */

/*
 * Feedback for adaptive limiters: called after each branch that held a slot
 * of cfg->global, with its outcome and duration. Branches cancelled because
 * a sibling failed or the policy was satisfied are not reported.
 */
typedef void (*fo_feedback_fn)(void *arg, enum fo_outcome o, int64_t dur_ns);

/* ----------------------------------------------------------------- config */

struct fo_config {
	/* Branches of one unit running at once; 0 = 4 x online CPUs, never unbounded. */
	unsigned limit;
	const struct fo_policy *policy; /* NULL = fail-fast */
	const void *policy_params;
	/* Ordered: results[i] is task i. Unordered: on_result gets each as it completes. */
	bool ordered;
	/* Stream only, ordered: results held for reordering at most (0 = max(4 x limit, 2048)). */
	size_t reorder_window;
	/* Per-branch timeout (0 = only the unit's deadline); a task's own timeout_ns wins. */
	int64_t per_task_timeout_ns;
	/* Kept free at the end of the unit's budget for the join itself. */
	int64_t join_reserve_ns;
	/* A branch with less budget than this left is skipped, not started. */
	int64_t min_task_budget_ns;
	/* Shared limiter across units (may be NULL): every branch holds task weight of it. */
	struct fo_sem *global;
	/* The partition of global the branches are admitted in (fo_sem_partition()). */
	unsigned global_partition;
	fo_feedback_fn feedback;
	void *feedback_arg;
	/* Blocking branches run here (NULL = fo_pool_default()). */
	struct fo_pool *pool;
	/* Set to run branches asynchronously instead of through fn on the pool. */
	fo_async_fn start;
	/*
	 * Unordered fo_fanout: called once per delivered result, as it completes,
	 * one call at a time. The result is the callee's (value included).
	 */
	void (*on_result)(struct fo_result *r, void *arg);
	void *on_result_arg;
};

/* ----------------------------------------------------------------- report */

struct fo_branch_error {
	size_t index;
	uint64_t task_id;
	int err;
	const char *errmsg;
	enum fo_outcome outcome;
};

struct fo_report {
	size_t total;
	size_t count[FO_OUTCOME_MAX]; /* branches per outcome */
	size_t failed;		      /* every outcome but FO_OK */
	double fail_ratio;	      /* failed / total */
	/* Every failed branch by index order (errors.Join, with indexes). */
	struct fo_branch_error *errors;
	size_t nerrors;
	int64_t wall_ns;       /* start to join */
	int64_t admit_wait_ns; /* summed time branches waited for the global limiter */
	enum fo_cause cause;   /* why the unit's context ended, FO_LIVE if it did not */
	size_t errors_dropped; /* streams keep at most FO_STREAM_MAX_ERRORS entries */
};
#define FO_STREAM_MAX_ERRORS 1024
void fo_report_clear(struct fo_report *rep);

/* ------------------------------------------------------------ the fan-out */

/*
 * Runs tasks[0..n) with at most cfg->limit at once and joins them: returns
 * only after every started branch has ended (no branch outlives the call).
 * ctx (may be NULL) bounds the whole unit; cfg may be NULL for defaults.
 *
 * Ordered: results (n entries, may be NULL) receives task i at index i; with
 * best-effort, failed slots keep outcome/err but no value. Unordered:
 * cfg->on_result gets each delivered result. report (may be NULL) receives
 * the counts and the error list; release it with fo_report_clear().
 *
 * Returns what the policy says: fail-fast the first error, collect-all the
 * lowest-index error when any failed, best-effort 0; -ECANCELED/-ETIMEDOUT
 * when ctx ended before the work did; -EINVAL/-ENOMEM.
 */
int fo_fanout(struct fo_ctx *ctx, const struct fo_task *tasks, size_t n, fo_task_fn fn, void *arg,
	      const struct fo_config *cfg, struct fo_result *results, struct fo_report *report);

/*
 * The event-driven form underneath fo_fanout: starts the unit and returns at
 * once; done(unit, rc, arg) runs exactly once, on whichever thread ended the
 * last branch (possibly inside this call), after which fo_unit_free() may be
 * called. tasks and results must stay valid until then. Admission to
 * cfg->global never blocks the caller: waiting units queue FIFO.
 */
struct fo_unit;
typedef void (*fo_unit_done_fn)(struct fo_unit *u, int rc, void *arg);
int fo_unit_start(struct fo_ctx *ctx, const struct fo_task *tasks, size_t n, fo_task_fn fn,
		  void *arg, const struct fo_config *cfg, struct fo_result *results,
		  fo_unit_done_fn done, void *done_arg, struct fo_unit **out);
/* Cancels every branch of a running unit (e.g. the client went away). */
void fo_unit_cancel(struct fo_unit *u, enum fo_cause cause);
/* The report of a finished unit (moved out: the unit no longer owns it). */
void fo_unit_take_report(struct fo_unit *u, struct fo_report *rep);
void fo_unit_free(struct fo_unit *u);

/* --------------------------------------------------------------- streaming */

/*
 * Streams tasks from in (a channel of struct fo_task) through fn (or
 * cfg->start) to out (a channel of struct fo_result), with at most cfg->limit
 * branches in flight. Unordered emits on completion; ordered emits in arrival
 * order, holding at most cfg->reorder_window results. The memory held is the
 * two channels, the in-flight branches and the window: never the work-set.
 * A consumer that stops reading out stops the stream taking from in, so the
 * producer blocks. out is closed when the stream ends (in closed and drained,
 * or ctx ended, or fail-fast tripped). NULL on error (errno set).
 */
struct fo_stream;
struct fo_stream *fo_fanout_stream(struct fo_ctx *ctx, struct fo_chan *in, struct fo_chan *out,
				   fo_task_fn fn, void *arg, const struct fo_config *cfg);
/* Waits for the stream to end, fills report, frees it; returns as fo_fanout. */
int fo_stream_wait(struct fo_stream *s, struct fo_report *report);

/* ------------------------------------------------------ accounting helpers */

/* Branch objects alive in the process (leak checks). */
long fo_live_branches(void);
/* The effective per-unit limit for a configured one (0 -> default). */
unsigned fo_effective_limit(unsigned limit);

#ifdef __cplusplus
}
#endif
#endif
