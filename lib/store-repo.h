/* SPDX-License-Identifier: Apache-2.0 */
/* Repositories: the directories under repositories/ that hold a _manifests directory, and
 * the catalog index of those that hold a manifest. */
#ifndef OCTO_STORE_REPO_H
#define OCTO_STORE_REPO_H

#include "error.h"
#include "store.h"
#include "strv.h"

/* Names of the repositories that hold manifests, sorted bytewise; directories whose names
 * are not repository names are skipped. */
enum octo_err octo_store_repo_list(const struct octo_store *s, struct octo_strv *names);
/* fn(ctx, its directory fd, its name) for every repository directory in the store, held
 * manifests or not, to any valid depth; a failure from fn stops the walk. */
typedef enum octo_err (*octo_store_repo_fn)(void *ctx, int dir, const char *name);
enum octo_err octo_store_repo_walk(const struct octo_store *s, octo_store_repo_fn fn, void *ctx);
/* Whether repo holds a manifest (one revision at least), as octo_store_repo_list counts. */
int octo_store_repo_holds_manifests(const struct octo_store *s, const char *repo);
/* A page of the catalog from its index (index.h: repositories.index, repositories.delta):
 * the repositories after last (NULL: from the first), at most limit (-1: all), in bytewise
 * order; *more says whether others follow. OCTO_ERR_NAME_UNKNOWN when there is no usable
 * index: list them instead. */
enum octo_err octo_store_repo_page(const struct octo_store *s, const char *last, long limit,
				   struct octo_strv *names, int *more);
/* Under repo's tag lock: repo gains its first manifest (op '+', before the revision is
 * written) or has lost its last ('-', once it is removed). */
enum octo_err octo_store_repo_note(const struct octo_store *s, char op, const char *repo);

/* Move every repository and the catalog's index into aside (a directory made for it, such as
 * "stale/<time>"): the store then holds no name, its blobs stay. Under the catalog's lock;
 * durable (the root's and aside's directories synced). For a store too stale to rejoin its
 * cluster with (its records could bring back what the others deleted): nothing is lost, the
 * operator decides what becomes of it. */
enum octo_err octo_store_repos_set_aside(const struct octo_store *s, const char *aside);

#endif
