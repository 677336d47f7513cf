/* SPDX-License-Identifier: Apache-2.0 */
/* A sorted index of names kept in the store, whose writes cost the same at any size: a
 * snapshot (every name in order, one per line) and a delta (the names added, "+name", and
 * removed, "-name", since), appended to under the owner's lock and folded into a new
 * snapshot past OCTO_INDEX_DELTA_MAX bytes (a merge, amortised over thousands of writes).
 * A page (the names after one, at most n) reads no more than it returns: the delta, then
 * the snapshot mapped read-only, a binary search, and a merge that stops after n.
 *
 * Readers take no lock: a fold replaces the snapshot only once everything in the delta it
 * read is in it, and a reader reads the delta first, so it sees every change the delta it
 * read held. The owner writes a name's "+" before the thing it names exists and its "-"
 * after the thing is gone; pages and folds keep only names whose thing exists, so a crash
 * between the two steps leaves a "+" that is never listed and that the next fold drops. A
 * missing snapshot is made from a scan of the things themselves at the next write; one that
 * is not valid names in order is not used (a page says so: the caller scans) and is made
 * again from a scan at the next fold. The tags of a repository and the catalog are two. */
#ifndef OCTO_INDEX_H
#define OCTO_INDEX_H

#include <stddef.h>

#include "error.h"
#include "store.h"
#include "strv.h"

#define OCTO_INDEX_DELTA_MAX (256 * 1024)

struct octo_index {
	const struct octo_store *store;
	const char *snapshot, *delta; /* their paths in the store */
	size_t name_max;              /* the longest valid name */
	int (*valid)(const char *name, size_t len);
	int (*cmp)(const char *a, const char *b);
	/* Whether the thing a name stands for exists. */
	int (*exists)(const struct octo_index *ix, const char *name);
	/* Every name, sorted by cmp, from the things themselves. */
	enum octo_err (*scan)(const struct octo_index *ix, struct octo_strv *names);
	const void *ctx; /* for exists and scan */
};

/* The names after last (NULL: from the first), at most limit (-1: all); *more says whether
 * others follow. OCTO_ERR_NAME_UNKNOWN when there is no usable snapshot: scan instead. */
enum octo_err octo_index_page(const struct octo_index *ix, const char *last, long limit,
			      struct octo_strv *names, int *more);
/* Under the owner's lock: record op ('+' or '-') on name, durably (the snapshot is made
 * first if there is none, and the delta folded first when past its size, so the op itself
 * is always in the delta). */
enum octo_err octo_index_note(const struct octo_index *ix, char op, const char *name);

#endif
