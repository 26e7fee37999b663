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
