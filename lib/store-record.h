/* SPDX-License-Identifier: Apache-2.0 */
/* Records in the store (record.h; doc/DESIGN.md "Records"): the record under key of a
 * repository lives at repositories/<repo>/<key> while it holds a value, and at
 * repositories/<repo>/_tombstones/<key> once it is a tombstone, so listing a directory
 * lists live records only and tombstones can be expired without a walk of everything.
 * Writes go through the last-writer-wins rule under the repository's record lock
 * (_records.lock, held only to compare and rename: the bytes are synced before it); a
 * reader takes no lock and lets a tombstone that wins hide a live file a crash left
 * beside it. Keys (built by the noun modules) must be valid: they become paths. */
#ifndef OCTO_STORE_RECORD_H
#define OCTO_STORE_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "record.h"
#include "store.h"

/* A record read back: rec points into text and node. */
struct octo_store_record {
	struct octo_record rec;
	char node[OCTO_NODE_ID_MAX + 1];
	char *text;
};
void octo_store_record_cleanup(struct octo_store_record *sr);

/* Write r under key unless the record there wins over it (or is the same write): a value
 * replaces a tombstone and the reverse. *won (may be NULL) says whether r was written.
 * Durable on return. */
enum octo_err octo_store_record_put(const struct octo_store *s, const char *repo, const char *key,
				    const struct octo_record *r, int *won);
/* The live record under key: OCTO_OK, or missing when there is none or a tombstone wins;
 * OCTO_ERR_IO for a file that is not a record or whose value exceeds max. */
enum octo_err octo_store_record_get(const struct octo_store *s, const char *repo, const char *key,
				    size_t max, enum octo_err missing,
				    struct octo_store_record *out);
/* The record that stands under key, live or tombstone (the winner, where a crash left
 * both): OCTO_OK, OCTO_ERR_NAME_UNKNOWN when there is neither, OCTO_ERR_IO for a file that
 * is not a record. */
enum octo_err octo_store_record_read(const struct octo_store *s, const char *repo, const char *key,
				     struct octo_store_record *out);
/* fn(ctx, key, record) for every record of repo (dir: its directory, as
 * octo_store_repo_walk gives it), live or tombstone, in key order; only files whose names
 * is_key accepts are read (indexes and locks sit beside the records), files that are not
 * records are skipped; a failure from fn stops the walk. */
typedef enum octo_err (*octo_store_record_fn)(void *ctx, const char *key,
					      const struct octo_record *r);
enum octo_err octo_store_record_each(const struct octo_store *s, const char *repo, int dir,
				     int (*is_key)(const char *key), octo_store_record_fn fn,
				     void *ctx);
/* Remove, in every repository, the tombstones written at least ttl_ms before now_ms (by
 * their time, so a wall clock stepping back keeps them longer, never shorter); *removed
 * counts them. */
enum octo_err octo_store_expire_tombstones(const struct octo_store *s, uint64_t now_ms,
					   uint64_t ttl_ms, size_t *removed);

#endif
