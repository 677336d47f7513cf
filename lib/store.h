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
/* OCTO_OK if repo links the blob (and its content exists), else OCTO_ERR_BLOB_UNKNOWN;
 * *size (may be NULL) gets the blob's size. */
enum octo_err octo_store_blob_linked(const struct octo_store *s, const char *repo,
				     const struct octo_digest *d, uint64_t *size);
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

/* Store bytes in memory (a manifest) as the content of d, durably. */
enum octo_err octo_store_put_blob_bytes(const struct octo_store *s, const void *data, size_t len,
					const struct octo_digest *d);
/* Read the content of d into a malloc'd buffer; OCTO_ERR_BLOB_UNKNOWN if absent,
 * OCTO_ERR_TOO_LARGE beyond max bytes. */
enum octo_err octo_store_read_blob(const struct octo_store *s, const struct octo_digest *d,
				   size_t max, char **data, size_t *len);

/* Manifests of a repository: _manifests/revisions/<alg>/<hex>, holding the media type. */
enum octo_err octo_store_link_manifest(const struct octo_store *s, const char *repo,
				       const struct octo_digest *d, const char *media_type);
/* The stored media type (into buf) if repo holds manifest d, else OCTO_ERR_MANIFEST_UNKNOWN. */
enum octo_err octo_store_manifest_type(const struct octo_store *s, const char *repo,
				       const struct octo_digest *d, char *buf, size_t size);
enum octo_err octo_store_unlink_manifest(const struct octo_store *s, const char *repo,
					 const struct octo_digest *d);

/* Tags: _manifests/tags/<tag>, holding the digest; replaced atomically and durably. */
enum octo_err octo_store_tag_set(const struct octo_store *s, const char *repo, const char *tag,
				 const struct octo_digest *d);
/* OCTO_ERR_MANIFEST_UNKNOWN when the tag does not exist. */
enum octo_err octo_store_tag_get(const struct octo_store *s, const char *repo, const char *tag,
				 struct octo_digest *d);
enum octo_err octo_store_tag_delete(const struct octo_store *s, const char *repo, const char *tag);
/* Tag order: "lexical order (i.e. case-insensitive alphanumeric order)" (distribution-spec
 * "Listing Tags"), ties broken bytewise so the order is total. */
int octo_tag_cmp(const char *a, const char *b);
/* All tags of repo, sorted by octo_tag_cmp; OCTO_ERR_NAME_UNKNOWN if the repository has no
 * manifests directory. Free with octo_strv_free. */
enum octo_err octo_store_tag_list(const struct octo_store *s, const char *repo, char ***tags,
				  size_t *n);

/* The repository's tags as text, one per line in octo_tag_cmp order (malloc'd);
 * OCTO_ERR_NAME_UNKNOWN when there is no tag index (no tag was ever written). */
enum octo_err octo_store_tag_index(const struct octo_store *s, const char *repo, char **text,
				   size_t *len);

/* Referrers index: _referrers/<alg>/<subject hex>/<alg>-<hex>, each holding the referrer's
 * descriptor as JSON. */
enum octo_err octo_store_referrer_add(const struct octo_store *s, const char *repo,
				      const struct octo_digest *subject,
				      const struct octo_digest *d, const char *descriptor);
enum octo_err octo_store_referrer_remove(const struct octo_store *s, const char *repo,
					 const struct octo_digest *subject,
					 const struct octo_digest *d);
/* The descriptors (JSON texts) of subject's referrers, sorted by file name; an empty list
 * when there are none. */
enum octo_err octo_store_referrer_list(const struct octo_store *s, const char *repo,
				       const struct octo_digest *subject, char ***descriptors,
				       size_t *n);
/* Names of the repositories that hold manifests, sorted. */
enum octo_err octo_store_repo_list(const struct octo_store *s, char ***names, size_t *n);
void octo_strv_free(char **v, size_t n);

#endif
