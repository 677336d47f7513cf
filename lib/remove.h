/* SPDX-License-Identifier: Apache-2.0 */
/* Removals as every part of the registry makes them (the DELETE endpoints, garbage collection,
 * retention): the journal's event first, then the tombstones with its stamp, so no change is
 * visible without its event and a peer applies the same records. Names, tags and digests must
 * be validated by the caller. */
#ifndef OCTO_REMOVE_H
#define OCTO_REMOVE_H

#include "digest.h"
#include "error.h"
#include "journal.h"
#include "store.h"

/* Remove tag from repo (event "tag.delete"): OCTO_ERR_MANIFEST_UNKNOWN when it does not
 * exist. */
enum octo_err octo_remove_tag(const struct octo_store *s, struct octo_journal *j, const char *repo,
			      const char *tag);

/* How a manifest's tags go when it is removed: octo_remove_tag, or (strong mode) a decision of
 * the cluster's voters; NULL untag: octo_remove_tag. */
typedef enum octo_err (*octo_remove_untag_fn)(void *ctx, const char *tag);

/* Remove manifest d from repo (event "manifest.delete", with the tombstone of its entry among
 * subject's referrers when subject is not NULL), then every tag of repo that points at it (each
 * through untag), the entry and the revision; *seq (may be NULL) gets the event's number.
 * OCTO_ERR_MANIFEST_UNKNOWN when repo does not hold d. */
enum octo_err octo_remove_manifest(const struct octo_store *s, struct octo_journal *j,
				   const char *repo, const struct octo_digest *d,
				   const struct octo_digest *subject, octo_remove_untag_fn untag,
				   void *ctx, uint64_t *seq);
/* The same as garbage collection removes it: event "manifest.collect" (it has no tag). */
enum octo_err octo_remove_collected_manifest(const struct octo_store *s, struct octo_journal *j,
					     const char *repo, const struct octo_digest *d,
					     const struct octo_digest *subject);

/* Remove repo's link to blob d (event "blob.delete"): OCTO_ERR_BLOB_UNKNOWN when repo does not
 * link it. The content stays (garbage collection's). */
enum octo_err octo_remove_link(const struct octo_store *s, struct octo_journal *j, const char *repo,
			       const struct octo_digest *d);
/* The same as garbage collection removes it: event "blob.collect". */
enum octo_err octo_remove_collected_link(const struct octo_store *s, struct octo_journal *j,
					 const char *repo, const struct octo_digest *d);

#endif
