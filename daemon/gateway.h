/* SPDX-License-Identifier: MIT */
/*
 * The fan-out gateway: GET /product/{id} (any route with an `http` path)
 * becomes one fo_unit whose branches are downstream calls on the request's
 * own loop, admitted through the route's global limiter and joined into one
 * JSON answer.
 */
#ifndef FOD_GATEWAY_H
#define FOD_GATEWAY_H

#include <stdbool.h>

#include "http.h"

struct fod_loop;

/* Registers the gateway's routes (the prefix "/") in http.c's route table; 0 or -errno. */
int fod_gateway_register(void);
/* Units still running (drain waits for 0). */
long fod_gateway_in_flight(void);
/* Operator drain (`fanoutctl drain`): new requests and jobs are refused with 503 / busy. */
bool fod_gateway_draining(void);
void fod_gateway_set_draining(bool on);

#endif
