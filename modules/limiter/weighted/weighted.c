/* SPDX-License-Identifier: MIT */
/*
 * weighted: a FIFO-fair weighted semaphore; each branch holds its route's
 * `weight` while it runs (a 4 MB task should not count like a 4 KB one), and
 * a heavy branch at the head of the queue is not overtaken by light ones.
 */
#define LIMITER_NAME	 "weighted"
#define LIMITER_WEIGHTED true
#include "../semaphore-limiter.h"
