/* SPDX-License-Identifier: Apache-2.0 */
/* See range.h. Written as lighttpd's http_range.c is: explicit digit loops with a bound
 * checked before each step, rather than sscanf (whose %llu accepts "-5" and wraps). */
#include "autoconfig.h"

#include <string.h>

#include "range.h"

/* Digits s[*pos..) up to a non-digit: 1 and *v, 0 when there is no digit, -1 beyond
 * OCTO_RANGE_MAX. */
static int parse_number(const char *s, size_t len, size_t *pos, uint64_t *v)
{
	size_t start = *pos;

	*v = 0;
	while (*pos < len && s[*pos] >= '0' && s[*pos] <= '9') {
		unsigned d = (unsigned)(s[*pos] - '0');
		if (*v > (OCTO_RANGE_MAX - d) / 10)
			return -1;
		*v = *v * 10 + d;
		(*pos)++;
	}
	return *pos > start;
}

int octo_range_parse(const char *s, size_t len, struct octo_range *r)
{
	size_t pos = 0;
	int n;

	memset(r, 0, sizeof(*r));
	n = parse_number(s, len, &pos, &r->first);
	if (n < 0 || pos == len || s[pos] != '-')
		return -1;
	r->has_first = n;
	pos++;
	n = parse_number(s, len, &pos, &r->last);
	if (n < 0 || pos != len)
		return -1;
	r->has_last = n;
	if (!r->has_first && !r->has_last)
		return -1;
	if (r->has_first && r->has_last && r->last < r->first)
		return -1;
	return 0;
}

int octo_range_request(const char *header, uint64_t size, uint64_t *start, uint64_t *end)
{
	struct octo_range r;

	if (header == NULL || strncmp(header, "bytes=", 6) != 0)
		return 0;
	header += 6;
	if (octo_range_parse(header, strlen(header), &r) != 0)
		return 0;   /* also several ranges: the ',' makes it malformed here */
	if (!r.has_first) { /* the last r.last bytes */
		if (r.last == 0 || size == 0)
			return -1;
		*start = r.last >= size ? 0 : size - r.last;
		*end = size - 1;
		return 1;
	}
	if (r.first >= size)
		return -1;
	*start = r.first;
	*end = !r.has_last || r.last >= size ? size - 1 : r.last;
	return 1;
}

int octo_range_content(const char *header, uint64_t *first, uint64_t *last)
{
	struct octo_range r;

	if (strncmp(header, "bytes=", 6) == 0 || strncmp(header, "bytes ", 6) == 0)
		header += 6;
	if (octo_range_parse(header, strlen(header), &r) != 0 || !r.has_first || !r.has_last)
		return -1;
	*first = r.first;
	*last = r.last;
	return 0;
}
