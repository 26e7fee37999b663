/* SPDX-License-Identifier: MIT */
/* A well-formed limiter module for the loader tests. */
#include <errno.h>

#include "fanoutd/module.h"

static struct fo_sem *sem_of(struct fo_mod *self)
{
	return self->state;
}

static int init(struct fo_mod *self)
{
	self->state = fo_sem_new(7);
	return self->state ? 0 : -ENOMEM;
}

static void fini(struct fo_mod *self)
{
	fo_sem_free(self->state);
}

static const struct fo_limiter_ops ops = {.sem = sem_of};

FO_MODULE_DEFINE(.type = FO_MODULE_LIMITER, .name = "good", .version = "1", .init = init,
		 .fini = fini, .ops = &ops);
