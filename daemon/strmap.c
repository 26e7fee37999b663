/* SPDX-License-Identifier: MIT */
#include "strmap.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* FNV-1a: short keys, no adversary beyond the operator's own config. */
static size_t hash(const char *key, size_t len)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)key[i]) * 1099511628211ULL;
	return (size_t)(h ^ (h >> 29));
}

static struct fod_strmap_slot *find(struct fod_strmap_slot *slot, size_t cap, const char *key,
				    size_t len)
{
	for (size_t i = hash(key, len) & (cap - 1);; i = (i + 1) & (cap - 1))
		if (!slot[i].key || (slot[i].len == len && memcmp(slot[i].key, key, len) == 0))
			return &slot[i];
}

void *fod_strmap_get(const struct fod_strmap *m, const char *key, size_t len)
{
	if (!m->cap)
		return NULL;
	struct fod_strmap_slot *s = find(m->slot, m->cap, key, len);
	return s->key ? s->val : NULL;
}

int fod_strmap_add(struct fod_strmap *m, const char *key, size_t len, void *val)
{
	if ((m->n + 1) * 2 > m->cap) { /* at most half full: short probes */
		size_t cap = m->cap ? m->cap * 2 : 64;
		struct fod_strmap_slot *slot = calloc(cap, sizeof(*slot));
		if (!slot)
			return -ENOMEM;
		for (size_t i = 0; i < m->cap; i++)
			if (m->slot[i].key)
				*find(slot, cap, m->slot[i].key, m->slot[i].len) = m->slot[i];
		free(m->slot);
		m->slot = slot;
		m->cap = cap;
	}
	*find(m->slot, m->cap, key, len) = (struct fod_strmap_slot){key, len, val};
	m->n++;
	return 0;
}

void fod_strmap_clear(struct fod_strmap *m)
{
	free(m->slot);
	*m = (struct fod_strmap){0};
}
