/* SPDX-License-Identifier: MIT */
/*
 * The three built-in partial-failure policies. A policy is a state machine
 * fed each branch's result in completion order; the engine holds the unit's
 * lock around on_result, so policies need no locking of their own.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

struct failfast_state {
	int first_err;
};

static enum fo_verdict failfast_on_result(void *state, const struct fo_result *r)
{
	struct failfast_state *st = state;
	if (r->outcome == FO_OK || st->first_err)
		return FO_CONTINUE;
	st->first_err = r->err ? r->err : -EIO;
	return FO_CANCEL_REST;
}

/* The unit's own end (deadline, caller cancel) as an error, if it cut work short. */
static int cut_short(const struct fo_report *rep)
{
	if (rep->count[FO_OK] == rep->total)
		return 0;
	switch (rep->cause) {
	case FO_CAUSE_DEADLINE:
		return -ETIMEDOUT;
	case FO_CAUSE_CANCELLED:
	case FO_CAUSE_CLIENT_GONE:
	case FO_CAUSE_SHUTDOWN:
		return -ECANCELED;
	default:
		return 0;
	}
}

static int failfast_finish(void *state, const struct fo_report *rep)
{
	struct failfast_state *st = state;
	return st->first_err ? st->first_err : cut_short(rep);
}

static enum fo_verdict run_all_on_result(void *state, const struct fo_result *r)
{
	(void)state;
	(void)r;
	return FO_CONTINUE;
}

static int collectall_finish(void *state, const struct fo_report *rep)
{
	(void)state;
	if (rep->nerrors)
		return rep->errors[0].err ? rep->errors[0].err : -EIO;
	if (rep->failed)
		return cut_short(rep) ?: -EIO;
	return 0;
}

static int besteffort_finish(void *state, const struct fo_report *rep)
{
	(void)state;
	(void)rep;
	return 0;
}

static const struct fo_policy policies[] = {
	[FO_FAILFAST] =
		{
			.name = "failfast",
			.state_size = sizeof(struct failfast_state),
			.on_result = failfast_on_result,
			.finish = failfast_finish,
			.deliver_failures = true,
		},
	[FO_COLLECTALL] =
		{
			.name = "collectall",
			.on_result = run_all_on_result,
			.finish = collectall_finish,
			.deliver_failures = true,
		},
	[FO_BESTEFFORT] =
		{
			.name = "besteffort",
			.on_result = run_all_on_result,
			.finish = besteffort_finish,
			.deliver_failures = false,
		},
};

const struct fo_policy *fo_policy_builtin(enum fo_policy_kind kind)
{
	if ((unsigned)kind < sizeof(policies) / sizeof(policies[0]))
		return &policies[kind];
	return NULL;
}

const struct fo_policy *fo_policy_by_name(const char *name)
{
	static const struct {
		const char *alias;
		enum fo_policy_kind kind;
	} names[] = {
		{"failfast", FO_FAILFAST},     {"fail-fast", FO_FAILFAST},
		{"collectall", FO_COLLECTALL}, {"collect-all", FO_COLLECTALL},
		{"besteffort", FO_BESTEFFORT}, {"best-effort", FO_BESTEFFORT},
	};
	if (!name)
		return NULL;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(name, names[i].alias) == 0)
			return &policies[names[i].kind];
	return NULL;
}
