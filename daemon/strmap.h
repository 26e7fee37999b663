/* SPDX-License-Identifier: MIT */
/*
 * A map from byte strings to pointers (open addressing, linear probing):
 * the metrics registries look a name up in constant time, so a config of
 * 100,000 replicas registers its series in linear time. The keys are not
 * copied: each must live as long as its entry (it is kept in the value).
 * Not locked: its owner's lock covers it.
 */
#ifndef FOD_STRMAP_H
#define FOD_STRMAP_H

#include <stddef.h>

struct fod_strmap_slot {
	const char *key; /* NULL: empty */
	size_t len;
	void *val;
};
struct fod_strmap {
	struct fod_strmap_slot *slot;
	size_t cap, n; /* cap: 0 or a power of two */
};

void *fod_strmap_get(const struct fod_strmap *m, const char *key, size_t len);
/* Adds key (absent from the map): 0 or -ENOMEM. */
int fod_strmap_add(struct fod_strmap *m, const char *key, size_t len, void *val);
/* Empties the map (keeps nothing: no deletion of single keys, rebuild instead). */
void fod_strmap_clear(struct fod_strmap *m);

#endif
