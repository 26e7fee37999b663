/* SPDX-License-Identifier: MIT */
/*
 * A compact validating JSON scanner (RFC 8259): the http downstream embeds
 * response bodies unparsed in the joined document, so it only needs to know
 * that a body is one complete JSON value (strict UTF-8, bounded nesting).
 */
#ifndef FO_HTTP_JSON_H
#define FO_HTTP_JSON_H

#include <stdbool.h>
#include <stddef.h>

/* Containers nested deeper than this are refused (no recursion, no stack risk). */
#define FO_JSON_MAX_DEPTH 512

/* Whether p[0..n) is exactly one JSON value, with optional surrounding whitespace. */
bool fo_json_valid(const char *p, size_t n);

#endif
