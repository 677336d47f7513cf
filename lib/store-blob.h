/* SPDX-License-Identifier: Apache-2.0 */
/* Blobs and links: content-addressed files blobs/<alg>/<first two hex>/<hex>, and
 * repositories/<name>/_layers/<alg>/<hex>, which say which blobs a repository may serve.
 * Names and digests must be validated by the caller (octo_name_valid, octo_digest_parse):
 * they become path components. */
#ifndef OCTO_STORE_BLOB_H
#define OCTO_STORE_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "error.h"
#include "record.h"
#include "store.h"
#include "strv.h"

/* Absolute path of a blob's content file (for X-Sendfile); OCTO_ERR_IO if it does not fit. */
enum octo_err octo_store_blob_path(const struct octo_store *s, const struct octo_digest *d,
				   char *buf, size_t size);
/* The blob's size if its content is in the store, else OCTO_ERR_BLOB_UNKNOWN; a symlink or
 * anything but a regular file in its place is OCTO_ERR_IO. */
enum octo_err octo_store_blob_stat(const struct octo_store *s, const struct octo_digest *d,
				   uint64_t *size);
/* OCTO_OK if repo links the blob (and its content exists), else OCTO_ERR_BLOB_UNKNOWN;
 * *size (may be NULL) gets the blob's size. */
enum octo_err octo_store_blob_linked(const struct octo_store *s, const char *repo,
				     const struct octo_digest *d, uint64_t *size);
/* A link record's value (len bytes, not NUL-terminated), the blob's size in decimal without
 * a leading zero: 0 with *size, or -1 for anything else. */
int octo_store_link_size(const char *value, size_t len, uint64_t *size);
/* repo's link to d, whether or not the content is here: the blob's size and the node that
 * wrote the link (which had the content then); OCTO_ERR_BLOB_UNKNOWN when repo does not
 * link d (or links it without a size, as stores before records did). node may be NULL. */
enum octo_err octo_store_link_get(const struct octo_store *s, const char *repo,
				  const struct octo_digest *d, uint64_t *size,
				  char node[OCTO_NODE_ID_MAX + 1]);
/* Open a blob for reading as served from repo: checks the link, returns an fd and size. */
enum octo_err octo_store_blob_open(const struct octo_store *s, const char *repo,
				   const struct octo_digest *d, int *fd, uint64_t *size);
/* The key of repo's link to d among its records (store-record.h): _layers/<alg>/<hex>. */
enum octo_err octo_store_link_key(const struct octo_digest *d, char *buf, size_t size);
/* Link the blob into repo, durably: a record holding its size, written with stamp (the
 * clock of its journal event) unless a later write of the link is there. The content must
 * already be in the store. */
enum octo_err octo_store_link_blob(const struct octo_store *s, const char *repo,
				   const struct octo_digest *d, uint64_t size,
				   const struct octo_record_stamp *stamp);
/* The repositories that linked d, from the index the links keep (blob-repos/ in the store: an
 * unsynced marker per link, removed by its unlink). A hint only: an entry may outlive its link
 * (a tombstone that won, a removal by gc) or be lost in a crash, so a caller checks each with
 * octo_store_blob_linked. Links made before the index are not in it. */
enum octo_err octo_store_blob_repos(const struct octo_store *s, const struct octo_digest *d,
				    struct octo_strv *repos);
/* Unlink: a tombstone with stamp, under the same rule. */
enum octo_err octo_store_unlink_blob(const struct octo_store *s, const char *repo,
				     const struct octo_digest *d,
				     const struct octo_record_stamp *stamp);
/* Move a verified temporary file (fd open on tmp, a path relative to the root) into place
 * as the content of d: fdatasync, rename, fsync of the directory. If the content exists
 * already, tmp is removed instead. */
enum octo_err octo_store_commit_blob(const struct octo_store *s, int fd, const char *tmp,
				     const struct octo_digest *d);
/* With a bucket (bucket.h): the placeholder of d, whose content the bucket holds already (another
 * node sharing the bucket put it there), placed as a commit would; *size gets its size.
 * OCTO_ERR_BLOB_UNKNOWN when the bucket does not have it, or the store has no bucket. */
enum octo_err octo_store_blob_adopt(const struct octo_store *s, const struct octo_digest *d,
				    uint64_t *size);
/* The placeholder of d's content of size bytes, which the bucket holds (just stored there). */
enum octo_err octo_store_blob_placeholder(const struct octo_store *s, const struct octo_digest *d,
					  uint64_t size);
/* Bytes [offset, offset + len) of d's content (len 0: to the end), from its file or from the
 * bucket, into sink (0 to go on, -1 to stop: OCTO_ERR_IO), unchecked. OCTO_ERR_BLOB_UNKNOWN
 * when it is not there. */
typedef int octo_store_sink(void *ctx, const void *data, size_t len);
enum octo_err octo_store_blob_stream(const struct octo_store *s, const struct octo_digest *d,
				     uint64_t offset, uint64_t len, octo_store_sink *sink,
				     void *ctx);
/* Store bytes in memory (a manifest) as the content of d, durably. */
enum octo_err octo_store_put_blob_bytes(const struct octo_store *s, const void *data, size_t len,
					const struct octo_digest *d);
/* Read the content of d into a malloc'd buffer, checked against d (a mismatch means the
 * store is damaged: OCTO_ERR_IO); OCTO_ERR_BLOB_UNKNOWN if absent, OCTO_ERR_TOO_LARGE
 * beyond max bytes. */
enum octo_err octo_store_read_blob(const struct octo_store *s, const struct octo_digest *d,
				   size_t max, char **data, size_t *len);
/* Garbage collection's grace (gc.h) is the content file's modification time: a renewal sets it
 * to now, under a shared lock on the file, and a sweep holds the file's exclusive lock while it
 * reads the time and removes, so a renewal either is seen by the sweep or finds the file gone.
 * Every reference to a blob renews it before it checks that the blob is there (a HEAD, a mount,
 * a link, a manifest naming it, a push of the same bytes). OCTO_OK, or OCTO_ERR_BLOB_UNKNOWN when
 * the content is not here; a time that cannot be set (a read-only store) is not an error. */
enum octo_err octo_store_blob_renew(const struct octo_store *s, const struct octo_digest *d);
/* For a sweep: d's content open in *fd with its exclusive lock (close the fd to release it), the
 * time it was last renewed (ms since the epoch) and its size; OCTO_ERR_BLOB_UNKNOWN (*fd -1) when
 * the content is not here. No renewal of d completes while the lock is held. */
enum octo_err octo_store_blob_lock(const struct octo_store *s, const struct octo_digest *d, int *fd,
				   int64_t *renewed_ms, uint64_t *size);
/* Remove d's content, locked in fd by octo_store_blob_lock (still the file at its name):
 * durable, and counted off the store's gauges. */
enum octo_err octo_store_blob_remove_locked(const struct octo_store *s, const struct octo_digest *d,
					    int fd);
/* How many content files the store holds and their total size: a scan of blobs/. */
/* Remove d's content (a surplus copy that its holders have verified): durable; OCTO_OK if
 * it was not there. The repositories' links stay: a client's pull of it is a miss that
 * the peer daemon fetches, as under lazy replication. */
enum octo_err octo_store_drop_blob(const struct octo_store *s, const struct octo_digest *d);
/* fn(ctx, digest, size) for every content file in the store, in no order (names that are not
 * digests, and temporaries, skipped); a failure from fn stops the walk. */
typedef enum octo_err (*octo_store_blob_fn)(void *ctx, const struct octo_digest *d, uint64_t size);
enum octo_err octo_store_blob_each(const struct octo_store *s, octo_store_blob_fn fn, void *ctx);
enum octo_err octo_store_blob_census(const struct octo_store *s, uint64_t *count, uint64_t *bytes);

#endif
