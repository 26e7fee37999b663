/* SPDX-License-Identifier: MIT */
/* Results, outcomes and reports: the data that leaves a fan-out. */
#include <errno.h>
#include <string.h>

#include "internal.h"

const char *fo_outcome_str(enum fo_outcome o)
{
	static const char *const names[] = {
		[FO_OK] = "ok",		  [FO_ERROR] = "error",
		[FO_TIMEOUT] = "timeout", [FO_CANCELLED] = "cancelled",
		[FO_SKIPPED] = "skipped", [FO_SHED] = "shed",
		[FO_LOST] = "lost",
	};
	if ((unsigned)o < FO_OUTCOME_MAX)
		return names[o];
	return "unknown";
}

int fo_result_set(struct fo_result *r, const void *data, size_t len)
{
	fo_result_clear(r);
	if (len <= FO_RESULT_INLINE) {
		if (len)
			memcpy(r->small, data, len);
	} else {
		r->value = malloc(len);
		if (!r->value)
			return -ENOMEM;
		memcpy(r->value, data, len);
	}
	r->len = len;
	return 0;
}

void fo_result_clear(struct fo_result *r)
{
	free(r->value);
	r->value = NULL;
	r->len = 0;
}

/* The outcome a branch gets from its error code and its context. */
static enum fo_outcome fo__classify(int err, struct fo_ctx *ctx)
{
	if (err == 0)
		return FO_OK;
	/* A branch that failed because its context ended was cut, not broken. */
	switch (fo_ctx_cause(ctx)) {
	case FO_LIVE:
		break;
	case FO_CAUSE_DEADLINE:
		return FO_TIMEOUT;
	default:
		return FO_CANCELLED;
	}
	if (err == -ETIMEDOUT)
		return FO_TIMEOUT;
	if (err == -ECANCELED)
		return FO_CANCELLED;
	return FO_ERROR;
}

void fo__settle(struct fo_result *r, struct fo_ctx *ctx)
{
	r->outcome = fo__classify(r->err, ctx);
	/* Cut by its context: say why in one way, whatever the branch reported. */
	if (r->outcome == FO_TIMEOUT) {
		r->err = -ETIMEDOUT;
		r->errmsg = "deadline exceeded";
	} else if (r->outcome == FO_CANCELLED) {
		r->err = -ECANCELED;
		if (fo_ctx_done(ctx))
			r->errmsg = fo_cause_str(fo_ctx_cause(ctx));
	}
}

bool fo__feedback_worthy(enum fo_outcome o, enum fo_cause cause)
{
	/* A branch cut short for someone else's reason says nothing about load. */
	return !(o == FO_CANCELLED && (cause == FO_CAUSE_SIBLING || cause == FO_CAUSE_POLICY ||
				       cause == FO_CAUSE_CLIENT_GONE ||
				       cause == FO_CAUSE_CANCELLED || cause == FO_CAUSE_SHUTDOWN));
}

/* Appends an error entry; -ENOMEM on failure. */
static int fo__report_add_error(struct fo_report *rep, size_t *cap, const struct fo_result *r)
{
	if (rep->nerrors == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		struct fo_branch_error *e = realloc(rep->errors, ncap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		rep->errors = e;
		*cap = ncap;
	}
	rep->errors[rep->nerrors++] = (struct fo_branch_error){
		.index = r->index,
		.task_id = r->task_id,
		.err = r->err,
		.errmsg = r->errmsg,
		.outcome = r->outcome,
	};
	return 0;
}

enum fo_cause fo__report_feed(struct fo_report *rep, size_t *errcap, size_t max_errors,
			      const struct fo_policy *policy, void *pstate,
			      const struct fo_result *r)
{
	rep->total++;
	rep->count[r->outcome]++;
	if (r->outcome != FO_OK &&
	    (rep->nerrors >= max_errors || fo__report_add_error(rep, errcap, r) < 0))
		rep->errors_dropped++;
	if (policy->on_result(pstate, r) != FO_CANCEL_REST)
		return FO_LIVE;
	/* Fail-fast's cancel is a sibling's failure; any other policy's, its answer. */
	return policy == fo_policy_builtin(FO_FAILFAST) ? FO_CAUSE_SIBLING : FO_CAUSE_POLICY;
}

static int by_index(const void *a, const void *b)
{
	const struct fo_branch_error *x = a, *y = b;
	return (x->index > y->index) - (x->index < y->index);
}

void fo__report_finish(struct fo_report *rep)
{
	if (rep->nerrors > 1)
		qsort(rep->errors, rep->nerrors, sizeof(*rep->errors), by_index);
	rep->failed = rep->total - rep->count[FO_OK];
	rep->fail_ratio = rep->total ? (double)rep->failed / (double)rep->total : 0.0;
}

void fo_report_clear(struct fo_report *rep)
{
	if (!rep)
		return;
	free(rep->errors);
	memset(rep, 0, sizeof(*rep));
}
