/* SPDX-License-Identifier: MIT */
/* fixed: a counting semaphore; every branch weighs 1. */
#define LIMITER_NAME	 "fixed"
#define LIMITER_WEIGHTED false
#include "../semaphore-limiter.h"
