/* SPDX-License-Identifier: Apache-2.0 */
/* See strv.h. */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>

#include "strv.h"

int octo_strv_push(struct octo_strv *sv, const char *s, size_t len)
{
	char *copy;

	if (sv->n == sv->cap) {
		size_t cap = sv->cap ? sv->cap * 2 : 16;
		char **v = realloc(sv->v, cap * sizeof(*v));
		if (v == NULL)
			return -1;
		sv->v = v;
		sv->cap = cap;
	}
	copy = malloc(len + 1);
	if (copy == NULL)
		return -1;
	memcpy(copy, s, len);
	copy[len] = '\0';
	sv->v[sv->n++] = copy;
	return 0;
}

static int compare(const void *a, const void *b, void *cmp)
{
	return ((int (*)(const char *, const char *))cmp)(*(char *const *)a, *(char *const *)b);
}

void octo_strv_sort(struct octo_strv *sv, int (*cmp)(const char *, const char *))
{
	if (sv->n > 1)
		qsort_r(sv->v, sv->n, sizeof(*sv->v), compare, (void *)cmp);
}

void octo_strv_cleanup(struct octo_strv *sv)
{
	size_t i;

	for (i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	memset(sv, 0, sizeof(*sv));
}

int octo_str_copy(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (n >= size)
		return -1;
	memcpy(dst, src, n + 1);
	return 0;
}
