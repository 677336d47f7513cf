/* SPDX-License-Identifier: Apache-2.0 */
/* See apply.h. Each record goes through the noun module that owns it, so a tag applied
 * keeps the tag index, a revision the catalog and the gauges, as a local write does. */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "store-blob.h"
#include "store-manifest.h"
#include "store-record.h"
#include "store-referrer.h"

static enum octo_err apply_record(struct octo_store *s, const char *repo,
				  const struct octo_event_record *r,
				  const struct octo_record_stamp *stamp)
{
	const struct octo_record_key *k = &r->parsed;
	char value[OCTO_DIGEST_MAX_STRING + 128];
	struct octo_digest d;

	if (r->value != NULL && k->kind != OCTO_RECORD_REFERRER) {
		if (r->value_len >= sizeof(value))
			return OCTO_ERR_IO; /* checked by the parser: cannot be */
		memcpy(value, r->value, r->value_len);
		value[r->value_len] = '\0';
	}
	switch (k->kind) {
	case OCTO_RECORD_TAG:
		if (r->value == NULL)
			return octo_store_tag_delete(s, repo, k->tag, stamp);
		if (octo_digest_parse(value, r->value_len, &d) != OCTO_OK)
			return OCTO_ERR_IO;
		return octo_store_tag_set(s, repo, k->tag, &d, stamp);
	case OCTO_RECORD_REVISION:
		return r->value == NULL
			       ? octo_store_unlink_manifest(s, repo, &k->digest, stamp)
			       : octo_store_link_manifest(s, repo, &k->digest, value, stamp);
	case OCTO_RECORD_LINK:
		return r->value == NULL ? octo_store_unlink_blob(s, repo, &k->digest, stamp)
					: octo_store_link_blob(s, repo, &k->digest,
							       strtoull(value, NULL, 10), stamp);
	case OCTO_RECORD_REFERRER:
		if (r->value == NULL)
			return octo_store_referrer_remove(s, repo, &k->subject, &k->digest, stamp);
		{
			char *desc = strndup(r->value, r->value_len);
			enum octo_err err =
				desc == NULL ? OCTO_ERR_NOMEM
					     : octo_store_referrer_add(s, repo, &k->subject,
								       &k->digest, desc, stamp);
			free(desc);
			return err;
		}
	}
	return OCTO_ERR_IO;
}

/* Whether ev writes anything this store does not hold already (a record it lacks, or that
 * ev's write beats). A write relayed again (every member relays what it applied, so in a
 * cluster of three or more the same write comes back from each) is not journalled again:
 * journalled, it would be relayed again, and two members would pass it back and forth for
 * ever. */
static int is_news(const struct octo_store *s, const struct octo_event *ev)
{
	size_t i, lost = 0;
	int news = 0;

	for (i = 0; i < ev->n_records; i++) {
		const struct octo_event_record *r = &ev->records[i];
		struct octo_record in = {.stamp = ev->stamp,
					 .tombstone = r->value == NULL,
					 .value = r->value,
					 .value_len = r->value_len};
		struct octo_store_record cur;
		int cmp;
		if (octo_store_record_read(s, ev->repo, r->key, &cur) != OCTO_OK) {
			news = 1; /* none, or damaged: the write repairs it */
			continue;
		}
		cmp = octo_record_cmp(&in, &cur.rec);
		octo_store_record_cleanup(&cur);
		news |= cmp > 0;
		lost += cmp < 0;
	}
	/* an event that is news has its losing records counted as they are written */
	while (!news && lost-- > 0)
		octo_store_note_lost(s); /* a conflict the rule resolved */
	return news;
}

enum octo_err octo_apply_event(struct octo_store *s, struct octo_journal *j,
			       const struct octo_event *ev, const void *manifest, size_t len)
{
	struct octo_journal_change changes[OCTO_EVENT_RECORDS_MAX];
	struct octo_record_stamp stamp = ev->stamp; /* the writer's, wherever it was relayed */
	struct octo_journal_event je = {.type = ev->type,
					.repo = ev->repo,
					.tag = ev->tag,
					.records = changes,
					.n_records = ev->n_records,
					.origin = &stamp};
	char ds[OCTO_DIGEST_MAX_STRING];
	char *values[OCTO_EVENT_RECORDS_MAX] = {NULL};
	enum octo_err err = OCTO_OK;
	size_t i;

	if (!is_news(s, ev))
		return OCTO_OK; /* held already: taken, nothing to write or relay */
	/* the bytes of a manifest before anything names it */
	for (i = 0; i < ev->n_records && err == OCTO_OK; i++) {
		const struct octo_event_record *r = &ev->records[i];
		struct octo_digest got;
		if (r->parsed.kind != OCTO_RECORD_REVISION || r->value == NULL)
			continue;
		if (manifest == NULL)
			return OCTO_ERR_MANIFEST_INVALID;
		octo_digest_of(r->parsed.digest.alg, manifest, len, &got);
		if (!octo_digest_equal(&got, &r->parsed.digest))
			return OCTO_ERR_MANIFEST_INVALID;
		err = octo_store_put_blob_bytes(s, manifest, len, &got);
	}
	if (ev->has_digest)
		octo_digest_format(&ev->digest, ds, sizeof(ds));
	je.digest = ev->has_digest ? ds : NULL;
	for (i = 0; i < ev->n_records && err == OCTO_OK; i++) {
		changes[i].key = ev->records[i].key;
		if (ev->records[i].value != NULL &&
		    (values[i] = strndup(ev->records[i].value, ev->records[i].value_len)) == NULL)
			err = OCTO_ERR_NOMEM;
		changes[i].value = values[i];
	}
	if (err == OCTO_OK)
		err = octo_journal_append(j, &je, NULL, NULL);
	for (i = 0; i < ev->n_records && err == OCTO_OK; i++)
		err = apply_record(s, ev->repo, &ev->records[i], &stamp);
	for (i = 0; i < ev->n_records; i++)
		free(values[i]);
	return err;
}

enum octo_err octo_apply_record(struct octo_store *s, struct octo_journal *j, const char *repo,
				const char *key, const struct octo_record *r, const void *manifest,
				size_t len)
{
	struct octo_event ev = {.type = OCTO_EVENT_REPAIR, .repo = repo, .n_records = 1};
	struct octo_event_record *er = &ev.records[0];
	const char *node = r->stamp.node != NULL ? r->stamp.node : "";

	if (!octo_name_valid(repo, strlen(repo)) || !octo_node_id_valid(node, strlen(node)) ||
	    octo_record_key_parse(key, strlen(key), &er->parsed) != 0 ||
	    (!r->tombstone && !octo_record_value_valid(&er->parsed, r->value, r->value_len)) ||
	    (r->tombstone && r->value_len > 0))
		return OCTO_ERR_NAME_INVALID;
	er->key = key;
	er->value = r->tombstone ? NULL : r->value;
	er->value_len = r->tombstone ? 0 : r->value_len;
	ev.has_origin = 1;
	ev.stamp = r->stamp;
	ev.stamp.node = node;
	return octo_apply_event(s, j, &ev, manifest, len);
}
