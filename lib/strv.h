/* SPDX-License-Identifier: Apache-2.0 */
/* A growable vector of malloc'd strings (directory listings, tags, repositories), and the
 * bounded copy of one string into a buffer. */
#ifndef OCTO_STRV_H
#define OCTO_STRV_H

#include <stddef.h>

struct octo_strv {
	char **v;
	size_t n, cap;
};

/* Append a copy of s (len bytes, NUL added). 0, or -1 out of memory. */
int octo_strv_push(struct octo_strv *sv, const char *s, size_t len);
/* Sort with a strcmp-like comparison. */
void octo_strv_sort(struct octo_strv *sv, int (*cmp)(const char *, const char *));
/* Free every string and the vector; sv is then empty. */
void octo_strv_cleanup(struct octo_strv *sv);

/* Copy src into dst (size bytes, NUL included): 0, or -1 (dst untouched) when it does not
 * fit. */
int octo_str_copy(char *dst, size_t size, const char *src);

#endif
