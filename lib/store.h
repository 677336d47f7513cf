/* SPDX-License-Identifier: Apache-2.0 */
/* The filesystem store (DESIGN.md "The store"): content-addressed blobs, and per-repository
 * links that say which blobs a repository may serve. Names and digests must be validated by
 * the caller (octo_name_valid, octo_digest_parse): they become path components. */
#ifndef OCTO_STORE_H
#define OCTO_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "error.h"

struct octo_store;

/* Open (creating if needed) the store rooted at root. */
enum octo_err octo_store_open(const char *root, struct octo_store **out);
void octo_store_free(struct octo_store *s);
const char *octo_store_root(const struct octo_store *s);

/* Absolute path of a blob's content file; OCTO_ERR_IO if it does not fit. */
enum octo_err octo_store_blob_path(const struct octo_store *s, const struct octo_digest *d,
				   char *buf, size_t size);
/* The blob's size if its content is in the store, else OCTO_ERR_BLOB_UNKNOWN. */
enum octo_err octo_store_blob_stat(const struct octo_store *s, const struct octo_digest *d,
				   uint64_t *size);
/* OCTO_OK if repo links the blob (and its content exists), else OCTO_ERR_BLOB_UNKNOWN. */
enum octo_err octo_store_blob_linked(const struct octo_store *s, const char *repo,
				     const struct octo_digest *d);
/* Open a blob for reading as served from repo: checks the link, returns an fd and size. */
enum octo_err octo_store_blob_open(const struct octo_store *s, const char *repo,
				   const struct octo_digest *d, int *fd, uint64_t *size);
/* Link the blob into repo, durably. The content must already be in the store. */
enum octo_err octo_store_link_blob(const struct octo_store *s, const char *repo,
				   const struct octo_digest *d);
/* Remove repo's link; OCTO_ERR_BLOB_UNKNOWN if there was none. */
enum octo_err octo_store_unlink_blob(const struct octo_store *s, const char *repo,
				     const struct octo_digest *d);
/* Move a verified temporary file (fd open on tmp_path, same filesystem) into place as the
 * content of d: fdatasync, rename, fsync of the directory. If the content exists already,
 * tmp_path is removed instead. */
enum octo_err octo_store_commit_blob(const struct octo_store *s, int fd, const char *tmp_path,
				     const struct octo_digest *d);

#endif
