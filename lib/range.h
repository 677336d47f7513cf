/* SPDX-License-Identifier: Apache-2.0 */
/* Byte ranges: the one parser for a GET's Range (RFC 9110 14.2) and an upload chunk's
 * Content-Range (distribution-spec "Pushing a blob in chunks"). Digits only, no signs or
 * spaces, every value at most OCTO_RANGE_MAX, so nothing can wrap. */
#ifndef OCTO_RANGE_H
#define OCTO_RANGE_H

#include <stddef.h>
#include <stdint.h>

#define OCTO_RANGE_MAX ((uint64_t)INT64_MAX) /* fits an off_t */

struct octo_range {
	uint64_t first, last;
	int has_first, has_last; /* "a-b": both; "a-": first only; "-n": last only (a suffix) */
};

/* Parse one "first-last", "first-" or "-suffix" from s[0..len) (not NUL-terminated).
 * "-" alone, a last below first, and anything else are -1; 0 on success. */
int octo_range_parse(const char *s, size_t len, struct octo_range *r);
/* A GET's Range header against a resource of size bytes: 1 and [*start, *end] for one
 * satisfiable range; 0 to ignore the header (absent, malformed, or several ranges, which
 * RFC 9110 14.2 lets a server ignore); -1 when unsatisfiable (416). */
int octo_range_request(const char *header, uint64_t size, uint64_t *start, uint64_t *end);
/* An upload chunk's Content-Range "first-last", optionally after "bytes " or "bytes=":
 * 0 with both ends, -1 when malformed. */
int octo_range_content(const char *header, uint64_t *first, uint64_t *last);

#endif
