/* SPDX-License-Identifier: Apache-2.0 */
/* See remove.h. */
#include "autoconfig.h"

#include "event.h"
#include "manifest.h"
#include "remove.h"
#include "store-blob.h"
#include "store-manifest.h"
#include "store-record.h"
#include "store-referrer.h"

enum octo_err octo_remove_tag(const struct octo_store *s, struct octo_journal *j, const char *repo,
			      const char *tag)
{
	char key[OCTO_STORE_PATH_MAX];
	struct octo_journal_change gone = {.key = key, .value = NULL};
	struct octo_record_stamp stamp;
	struct octo_digest d;
	enum octo_err err = octo_store_tag_get(s, repo, tag, &d); /* the event once it exists */

	if (err == OCTO_OK)
		err = octo_store_tag_key(tag, key, sizeof(key));
	if (err == OCTO_OK)
		err = octo_journal_record(j, "tag.delete", repo, NULL, tag, &gone, 1, &stamp);
	return err != OCTO_OK ? err : octo_store_tag_delete(s, repo, tag, &stamp);
}

/* Remove every tag of repo that points at d, each through untag. */
static enum octo_err untag_all(const struct octo_store *s, struct octo_journal *j, const char *repo,
			       const struct octo_digest *d, octo_remove_untag_fn untag, void *ctx)
{
	struct octo_strv tags;
	enum octo_err err = octo_store_tag_list(s, repo, &tags);
	size_t i;

	for (i = 0; err == OCTO_OK && i < tags.n; i++) {
		struct octo_digest td;
		if (octo_store_tag_get(s, repo, tags.v[i], &td) != OCTO_OK ||
		    !octo_digest_equal(&td, d))
			continue;
		err = untag != NULL ? untag(ctx, tags.v[i])
				    : octo_remove_tag(s, j, repo, tags.v[i]);
		if (err == OCTO_ERR_MANIFEST_UNKNOWN)
			err = OCTO_OK; /* removed meanwhile */
	}
	octo_strv_cleanup(&tags);
	return err == OCTO_ERR_NAME_UNKNOWN ? OCTO_OK : err;
}

static enum octo_err remove_manifest(const struct octo_store *s, struct octo_journal *j,
				     const char *type, const char *repo,
				     const struct octo_digest *d, const struct octo_digest *subject,
				     octo_remove_untag_fn untag, void *ctx, uint64_t *seq)
{
	char media_type[OCTO_MANIFEST_TYPE_MAX], rev_key[OCTO_STORE_PATH_MAX];
	char ref_key[OCTO_STORE_PATH_MAX], ds[OCTO_DIGEST_MAX_STRING];
	struct octo_journal_change records[2] = {{rev_key, NULL}, {ref_key, NULL}};
	struct octo_record_stamp stamp;
	/* the event once the manifest is known to be here */
	enum octo_err err = octo_store_manifest_type(s, repo, d, media_type, sizeof(media_type));

	if (err == OCTO_OK)
		err = octo_store_revision_key(d, rev_key, sizeof(rev_key));
	if (err == OCTO_OK && subject != NULL)
		err = octo_store_referrer_key(subject, d, ref_key, sizeof(ref_key));
	if (err == OCTO_OK) {
		struct octo_journal_event ev = {.type = type,
						.repo = repo,
						.digest = ds,
						.records = records,
						.n_records = subject != NULL ? 2 : 1};
		octo_digest_format(d, ds, sizeof(ds));
		err = octo_journal_append(j, &ev, seq, &stamp);
	}
	if (err == OCTO_OK)
		err = untag_all(s, j, repo, d, untag, ctx);
	if (err == OCTO_OK && subject != NULL)
		err = octo_store_referrer_remove(s, repo, subject, d, &stamp);
	if (err == OCTO_OK)
		err = octo_store_unlink_manifest(s, repo, d, &stamp);
	return err;
}

enum octo_err octo_remove_manifest(const struct octo_store *s, struct octo_journal *j,
				   const char *repo, const struct octo_digest *d,
				   const struct octo_digest *subject, octo_remove_untag_fn untag,
				   void *ctx, uint64_t *seq)
{
	return remove_manifest(s, j, "manifest.delete", repo, d, subject, untag, ctx, seq);
}

enum octo_err octo_remove_collected_manifest(const struct octo_store *s, struct octo_journal *j,
					     const char *repo, const struct octo_digest *d,
					     const struct octo_digest *subject)
{
	return remove_manifest(s, j, OCTO_EVENT_COLLECT_MANIFEST, repo, d, subject, NULL, NULL,
			       NULL);
}

static enum octo_err remove_link(const struct octo_store *s, struct octo_journal *j,
				 const char *type, const char *repo, const struct octo_digest *d)
{
	char key[OCTO_STORE_PATH_MAX];
	struct octo_journal_change link = {.key = key, .value = NULL};
	struct octo_record_stamp stamp;
	struct octo_store_record live;
	enum octo_err err = octo_store_link_key(d, key, sizeof(key));

	/* the event once the link is known to exist, its content here or not */
	if (err == OCTO_OK && (err = octo_store_record_get(s, repo, key, 64, OCTO_ERR_BLOB_UNKNOWN,
							   &live)) == OCTO_OK)
		octo_store_record_cleanup(&live);
	if (err == OCTO_OK)
		err = octo_journal_record(j, type, repo, d, NULL, &link, 1, &stamp);
	return err != OCTO_OK ? err : octo_store_unlink_blob(s, repo, d, &stamp);
}

enum octo_err octo_remove_link(const struct octo_store *s, struct octo_journal *j, const char *repo,
			       const struct octo_digest *d)
{
	return remove_link(s, j, "blob.delete", repo, d);
}

enum octo_err octo_remove_collected_link(const struct octo_store *s, struct octo_journal *j,
					 const char *repo, const struct octo_digest *d)
{
	return remove_link(s, j, OCTO_EVENT_COLLECT_LINK, repo, d);
}
