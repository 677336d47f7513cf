/* SPDX-License-Identifier: Apache-2.0 */
/* Manifests and tags of a repository, as records (store-record.h) written with the stamp
 * of their journal event: _manifests/revisions/<alg>/<hex> holds a manifest's media type,
 * _manifests/tags/<tag> a tag's digest, and _manifests/tags.index with _manifests/tags.delta
 * every tag in order (see the comment on the tag index). A delete leaves a tombstone. Everything read back is validated: a damaged or foreign
 * file is an error or is skipped, never used. Names, tags and digests must be validated by
 * the caller. */
#ifndef OCTO_STORE_MANIFEST_H
#define OCTO_STORE_MANIFEST_H

#include <stddef.h>

#include "digest.h"
#include "error.h"
#include "record.h"
#include "store.h"
#include "strv.h"

/* The keys of a revision and of a tag among the repository's records. */
enum octo_err octo_store_revision_key(const struct octo_digest *d, char *buf, size_t size);
enum octo_err octo_store_tag_key(const char *tag, char *buf, size_t size);

/* Record that repo holds manifest d, of media_type (unless a later write of it is there). */
enum octo_err octo_store_link_manifest(const struct octo_store *s, const char *repo,
				       const struct octo_digest *d, const char *media_type,
				       const struct octo_record_stamp *stamp);
/* The stored media type (into buf) if repo holds manifest d, else
 * OCTO_ERR_MANIFEST_UNKNOWN; OCTO_ERR_IO if the stored type is not one we accept. */
enum octo_err octo_store_manifest_type(const struct octo_store *s, const char *repo,
				       const struct octo_digest *d, char *buf, size_t size);
/* A tombstone for the revision. */
enum octo_err octo_store_unlink_manifest(const struct octo_store *s, const char *repo,
					 const struct octo_digest *d,
					 const struct octo_record_stamp *stamp);

/* Point tag at d, atomically and durably (unless a later write of the tag is there). */
enum octo_err octo_store_tag_set(const struct octo_store *s, const char *repo, const char *tag,
				 const struct octo_digest *d,
				 const struct octo_record_stamp *stamp);
/* OCTO_ERR_MANIFEST_UNKNOWN when the tag does not exist; OCTO_ERR_IO when its file does not
 * hold a digest. */
enum octo_err octo_store_tag_get(const struct octo_store *s, const char *repo, const char *tag,
				 struct octo_digest *d);
/* A tombstone for the tag, whether it exists or not (a delete that arrives first must
 * still beat an older write that arrives later). */
enum octo_err octo_store_tag_delete(const struct octo_store *s, const char *repo, const char *tag,
				    const struct octo_record_stamp *stamp);
/* All tags of repo, sorted by octo_tag_cmp (file names that are not tags are skipped);
 * OCTO_ERR_NAME_UNKNOWN if the repository has no manifests directory. */
enum octo_err octo_store_tag_list(const struct octo_store *s, const char *repo,
				  struct octo_strv *tags);
/* A page of repo's tags in octo_tag_cmp order: those after last (NULL: from the first), at
 * most limit of them (-1: all), read from the tag index; *more says whether others follow.
 * OCTO_ERR_NAME_UNKNOWN when there is no usable tag index (none was ever written, or it is
 * damaged): list the tags instead. */
enum octo_err octo_store_tag_page(const struct octo_store *s, const char *repo, const char *last,
				  long limit, struct octo_strv *tags, int *more);

#endif
