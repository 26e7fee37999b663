/* SPDX-License-Identifier: MIT */
/*
 * What a gateway request says and what it is answered, without I/O: the id
 * in its path, the ?policy= and ?budget_ms= of its query within the route's
 * guardrails, and the HTTP status its unit's report earns. Apart from
 * gateway.c so that tests/unit/test-query.c reaches them alone.
 */
#ifndef FOD_QUERY_H
#define FOD_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fanoutd/fanout.h"

struct fod_route;

/* A decimal id of 1 to 20 digits that fits 64 bits (no sign, no blank): true with *out set. */
bool fod_query_id(const char *s, size_t n, uint64_t *out);

/*
 * The least budget with which the route's branches can start: its join
 * reserve, a branch's minimum (min_branch_ms), and 1 ms for the fan-out
 * itself (the clock runs from the request's start). Less, and every branch
 * is refused at its start: a request that can only fail. A client's
 * ?budget_ms= is held to it, and so is the route's own budget_ms (generation.c).
 */
int64_t fod_query_min_budget_ns(const struct fod_route *rt);

/*
 * ?policy=...&budget_ms=... (q, len: the query without its '?'): unknown keys
 * are ignored. 0 with *policy and *budget set from what the query asks (left
 * alone when it does not); or, for a bad value or one past the route's
 * guardrails, -EINVAL (-EPERM: a policy the route does not let clients
 * choose) with *bad naming the key and msg saying the limit.
 */
int fod_query_parse(const struct fod_route *rt, const char *q, size_t len,
		    const struct fo_policy **policy, int64_t *budget, const char **bad, char *msg,
		    size_t msglen);

/* The answer's HTTP status from the unit's report, its result code and the route's min_ok. */
int fod_query_status(const struct fo_report *rep, int rc, unsigned min_ok);

#endif
