/* SPDX-License-Identifier: Apache-2.0 */
/* A growable vector of malloc'd strings (directory listings, tags, repositories). */
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

#endif
