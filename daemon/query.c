/* SPDX-License-Identifier: MIT */
/* A gateway request's id, query and status (query.h). */
#include "query.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "generation.h"

bool fod_query_id(const char *s, size_t n, uint64_t *out)
{
	if (n == 0 || n > 20)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

/*
 * The most a client's ?budget_ms= may ask for on rt: its max_budget_ms, and
 * never less than the route's own budget.
 */
static int64_t max_client_budget(const struct fod_route *rt)
{
	return rt->max_budget_ns > rt->budget_ns ? rt->max_budget_ns : rt->budget_ns;
}

int64_t fod_query_min_budget_ns(const struct fod_route *rt)
{
	return rt->join_reserve_ns + rt->min_branch_ns + FO_MSEC;
}

int fod_query_parse(const struct fod_route *rt, const char *q, size_t len,
		    const struct fo_policy **policy, int64_t *budget, const char **bad, char *msg,
		    size_t msglen)
{
	const char *end = q + len;
	long long max_ms = (long long)(max_client_budget(rt) / FO_MSEC);
	/* Less than this and no branch could start: refused, not answered 502/504. */
	long long min_ms = (long long)(fod_query_min_budget_ns(rt) / FO_MSEC);
	while (q < end) {
		const char *amp = memchr(q, '&', (size_t)(end - q));
		const char *stop = amp ? amp : end;
		const char *eq = memchr(q, '=', (size_t)(stop - q));
		size_t klen = (size_t)((eq ? eq : stop) - q);
		const char *v = eq ? eq + 1 : stop;
		size_t vlen = (size_t)(stop - v);
		char val[32];
		if (vlen >= sizeof(val))
			vlen = sizeof(val) - 1;
		memcpy(val, v, vlen);
		val[vlen] = '\0';
		if (klen == 6 && memcmp(q, "policy", 6) == 0) {
			*bad = "policy";
			if (!(*policy = fo_policy_by_name(val))) {
				snprintf(msg, msglen,
					 "policy must be failfast, collectall or besteffort");
				return -EINVAL;
			}
			/* Naming the route's own policy changes nothing: allowed. */
			if (*policy != rt->policy && !rt->allow_policy_override) {
				snprintf(
					msg, msglen,
					"route '%s' does not allow ?policy= (allow_policy_override "
					"= false; its policy is %s)",
					rt->name, rt->policy->name);
				return -EPERM;
			}
		} else if (klen == 9 && memcmp(q, "budget_ms", 9) == 0) {
			uint64_t ms;
			*bad = "budget_ms";
			if (!fod_query_id(val, vlen, &ms) || ms < (uint64_t)min_ms ||
			    ms > (uint64_t)max_ms) {
				snprintf(
					msg, msglen,
					"budget_ms must be an integer in [%lld, %lld] (route '%s': "
					"join_reserve_ms + min_branch_ms + 1 to max_budget_ms)",
					min_ms, max_ms, rt->name);
				return -EINVAL;
			}
			*budget = (int64_t)ms * FO_MSEC;
		}
		q = stop + 1;
	}
	return 0;
}

/*
 * The status: 503 when nothing was admitted (backpressure, not failure),
 * the policy's verdict (504 past the deadline, 502), and a 502 when fewer
 * than min_ok branches succeeded, whatever the policy: an answer with
 * nothing (or too little) in it is not a success.
 */
int fod_query_status(const struct fo_report *rep, int rc, unsigned min_ok)
{
	if (rep->count[FO_SHED] && !rep->count[FO_OK])
		return 503;
	if (rc < 0)
		return rc == -ETIMEDOUT ? 504 : 502;
	if (rep->count[FO_OK] < min_ok)
		return 502;
	return 200;
}
