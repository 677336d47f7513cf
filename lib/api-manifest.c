/* SPDX-License-Identifier: Apache-2.0 */
/* Manifest endpoints: distribution-spec end-3 (GET, HEAD), end-7 (PUT) and end-9 (DELETE),
 * with the referrers index and tags they maintain. */
#include "autoconfig.h"

#include <inttypes.h>
#include <jansson.h>
#include <malloc.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "bounds.h"
#include "clock.h"
#include "journal.h"
#include "manifest.h"
#include "remove.h"
#include "store-blob.h"
#include "store-manifest.h"
#include "store-referrer.h"
#include "strong.h"

/* A manifest reference: a tag, or a digest. */
struct reference {
	int is_digest;
	char tag[OCTO_TAG_MAX + 1];
	struct octo_digest digest;
};

static enum octo_err parse_reference(const struct octo_route *rt, struct reference *ref)
{
	memset(ref, 0, sizeof(*ref));
	if (memchr(rt->tail, ':', rt->tail_len) != NULL) {
		ref->is_digest = 1;
		return octo_digest_parse(rt->tail, rt->tail_len, &ref->digest);
	}
	if (!octo_tag_valid(rt->tail, rt->tail_len))
		return OCTO_ERR_MANIFEST_INVALID;
	memcpy(ref->tag, rt->tail, rt->tail_len);
	return OCTO_OK;
}

/* Resolve a reference to a digest this repository holds, with its media type. */
static enum octo_err resolve(struct octo_registry *reg, const struct octo_route *rt,
			     const struct reference *ref, struct octo_digest *d, char *type)
{
	enum octo_err err = OCTO_OK;

	if (ref->is_digest)
		*d = ref->digest;
	else
		err = octo_store_tag_get(reg->store, rt->name, ref->tag, d);
	if (err == OCTO_OK)
		err = octo_store_manifest_type(reg->store, rt->name, d, type,
					       OCTO_MANIFEST_TYPE_MAX);
	return err;
}

void octo_api_manifest_get(struct octo_registry *reg, struct octo_route *rt,
			   struct octo_response *resp)
{
	char type[OCTO_MANIFEST_TYPE_MAX], ds[OCTO_DIGEST_MAX_STRING];
	struct reference ref;
	struct octo_digest d;
	enum octo_err err = parse_reference(rt, &ref);

	if (err == OCTO_ERR_MANIFEST_INVALID)
		err = OCTO_ERR_MANIFEST_UNKNOWN; /* not a valid tag: no such manifest */
	if (err == OCTO_OK)
		err = resolve(reg, rt, &ref, &d, type);
	if (err == OCTO_OK)
		err = octo_store_read_blob(reg->store, &d, SIZE_MAX / 2, &resp->body,
					   &resp->body_len);
	if (err == OCTO_ERR_BLOB_UNKNOWN)
		err = OCTO_ERR_MANIFEST_UNKNOWN;
	if (err != OCTO_OK)
		return octo_response_error(resp, err, NULL);
	octo_digest_format(&d, ds, sizeof(ds));
	/* The stored bytes and type whatever Accept says: no conversion between formats. */
	octo_response_add_header(resp, "Content-Type", "%s", type);
	octo_response_add_header(resp, "Docker-Content-Digest", "%s", ds);
	octo_response_add_header(resp, "ETag", "\"%s\"", ds);
}

/* Parse a manifest within the registry's parse budget (see budget.h). The memory of a
 * large parse is handed back to the system before the budget is: freed, it would stay in
 * its thread's malloc arena, and eight threads' arenas held 440 MB. */
static enum octo_err parse_manifest(struct octo_registry *reg, const char *body, size_t len,
				    const char *content_type, struct octo_manifest *m,
				    const char **detail)
{
	size_t depth, weight = octo_manifest_weight(body, len, &depth);
	size_t taken = octo_budget_take(&reg->parse_budget, weight);
	enum octo_err err = octo_manifest_parse(body, len, content_type, m, detail);

#ifdef __GLIBC__
	if (weight >= OCTO_BOUND_PARSE_TRIM)
		malloc_trim(0);
#endif
	octo_budget_give(&reg->parse_budget, taken);
	return err;
}

/* Every blob and child manifest the manifest references must be in this repository; why
 * (size bytes) names the first that is not. */
static enum octo_err check_references(struct octo_registry *reg, const struct octo_route *rt,
				      const struct octo_manifest *m, char *why, size_t size)
{
	char type[OCTO_MANIFEST_TYPE_MAX], ds[OCTO_DIGEST_MAX_STRING];
	size_t i;

	for (i = 0; i < m->n_refs; i++) {
		const struct octo_manifest_ref *r = &m->refs[i];
		enum octo_err err;
		uint64_t stored;

		if (r->external)
			continue;
		/* a reference renews the blob or child before it is checked (store-blob.h) */
		(void)octo_store_blob_renew(reg->store, &r->digest);
		octo_digest_format(&r->digest, ds, sizeof(ds));
		if (r->is_manifest) {
			err = octo_store_manifest_type(reg->store, rt->name, &r->digest, type,
						       sizeof(type));
		} else {
			err = octo_store_blob_linked(reg->store, rt->name, &r->digest, &stored);
			/* in a cluster the content may be on the blob's holders only (lazy, or
			 * a pusher's copy dropped as surplus): the link, with its size, is enough */
			if (err == OCTO_ERR_BLOB_UNKNOWN && reg->cfg->p2p.enabled)
				err = octo_store_link_get(reg->store, rt->name, &r->digest, &stored,
							  NULL);
			if (err == OCTO_OK && stored != (uint64_t)r->size) {
				snprintf(why, size, "blob %s has %" PRIu64 " bytes, not %lld", ds,
					 stored, (long long)r->size);
				return OCTO_ERR_MANIFEST_INVALID;
			}
		}
		if (err == OCTO_ERR_MANIFEST_UNKNOWN || err == OCTO_ERR_BLOB_UNKNOWN) {
			snprintf(why, size, "%s %s is not in repository %s",
				 r->is_manifest ? "manifest" : "blob", ds, rt->name);
			return OCTO_ERR_MANIFEST_BLOB_UNKNOWN;
		}
		if (err != OCTO_OK)
			return err;
	}
	return OCTO_OK;
}

/* The descriptor the referrers API lists for manifest m (image-spec image-index.md). */
static char *referrer_descriptor(const struct octo_manifest *m, const struct octo_digest *d,
				 size_t size)
{
	char ds[OCTO_DIGEST_MAX_STRING];
	json_t *o, *ann;
	char *text;

	octo_digest_format(d, ds, sizeof(ds));
	o = json_pack("{s:s,s:s,s:I}", "mediaType", m->media_type, "digest", ds, "size",
		      (json_int_t)size);
	if (o == NULL)
		return NULL;
	if (m->artifact_type != NULL)
		json_object_set_new(o, "artifactType", json_string(m->artifact_type));
	if (m->annotations != NULL && (ann = json_loads(m->annotations, 0, NULL)) != NULL)
		json_object_set_new(o, "annotations", ann);
	text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return text;
}

/* Store a validated manifest: content (not visible by itself), the journal's event with the
 * records it writes (its seq into *seq), then revision, referrers entry and tag with the
 * event's stamp, so that nothing ever points at a manifest that is not yet durable and no
 * change is visible without its event. In strong mode the tag is not written here: it is
 * the peer daemon's once the voters decided it. */
static enum octo_err store_manifest(struct octo_registry *reg, const struct octo_route *rt,
				    const struct reference *ref, const struct octo_manifest *m,
				    const char *body, size_t len, const struct octo_digest *d,
				    const char *desc, uint64_t *seq, uint64_t *hlc)
{
	int tagged = !ref->is_digest && !octo_api_strong(reg);
	char rev_key[OCTO_STORE_PATH_MAX], ref_key[OCTO_STORE_PATH_MAX];
	char tag_key[OCTO_STORE_PATH_MAX], ds[OCTO_DIGEST_MAX_STRING];
	struct octo_journal_change records[3];
	struct octo_record_stamp stamp;
	size_t n = 0;
	enum octo_err err = octo_store_put_blob_bytes(reg->store, body, len, d);

	octo_digest_format(d, ds, sizeof(ds));
	if (err == OCTO_OK &&
	    (err = octo_store_revision_key(d, rev_key, sizeof(rev_key))) == OCTO_OK)
		records[n++] = (struct octo_journal_change){rev_key, m->media_type};
	if (err == OCTO_OK && desc != NULL &&
	    (err = octo_store_referrer_key(&m->subject, d, ref_key, sizeof(ref_key))) == OCTO_OK)
		records[n++] = (struct octo_journal_change){ref_key, desc};
	if (err == OCTO_OK && tagged &&
	    (err = octo_store_tag_key(ref->tag, tag_key, sizeof(tag_key))) == OCTO_OK)
		records[n++] = (struct octo_journal_change){tag_key, ds};
	if (err == OCTO_OK) {
		struct octo_journal_event ev = {.type = "manifest.put",
						.repo = rt->name,
						.digest = ds,
						.tag = tagged ? ref->tag : NULL,
						.records = records,
						.n_records = n};
		err = octo_journal_append(reg->journal, &ev, seq, &stamp);
		*hlc = stamp.hlc;
	}
	if (err == OCTO_OK)
		err = octo_store_link_manifest(reg->store, rt->name, d, m->media_type, &stamp);
	if (err == OCTO_OK && desc != NULL)
		err = octo_store_referrer_add(reg->store, rt->name, &m->subject, d, desc, &stamp);
	if (err == OCTO_OK && tagged)
		err = octo_store_tag_set(reg->store, rt->name, ref->tag, d, &stamp);
	return err;
}

/* Strong mode: the manifest's blobs at factor copies, its event (seq) on a majority of the
 * voters, and the tag write (a delete when digest is NULL) decided, before the answer. */
static enum octo_err confirm(struct octo_registry *reg, const struct octo_route *rt,
			     const char *tag, const struct octo_digest *digest,
			     const struct octo_manifest *m, uint64_t seq, uint64_t since_hlc,
			     char *why, size_t size)
{
	struct octo_strong_request sr = {
		.seq = seq,
		.since_hlc = since_hlc != 0 ? since_hlc : octo_hlc_tick(0, octo_clock_wall_ms()),
		.tombstone = tag != NULL && digest == NULL};
	enum octo_err err;
	size_t i;

	snprintf(sr.repo, sizeof(sr.repo), "%s", rt->name);
	snprintf(sr.tag, sizeof(sr.tag), "%s", tag != NULL ? tag : "");
	if (digest != NULL)
		octo_digest_format(digest, sr.digest, sizeof(sr.digest));
	if (m != NULL && m->n_refs > 0) {
		sr.blobs = calloc(m->n_refs, sizeof(*sr.blobs));
		if (sr.blobs == NULL)
			return OCTO_ERR_NOMEM;
		for (i = 0; i < m->n_refs && sr.n_blobs < OCTO_STRONG_BLOBS_MAX; i++)
			if (!m->refs[i].external && !m->refs[i].is_manifest)
				sr.blobs[sr.n_blobs++] = m->refs[i].digest;
	}
	err = octo_strong_wait(reg->store, &sr, reg->cfg->p2p.replication.strong_timeout_ms, why,
			       size);
	octo_strong_request_cleanup(&sr);
	return err;
}

void octo_api_manifest_put(struct octo_registry *reg, struct octo_route *rt,
			   struct octo_response *resp)
{
	const char *detail = NULL;
	char ds[OCTO_DIGEST_MAX_STRING], why[2 * OCTO_DIGEST_MAX_STRING + OCTO_NAME_MAX] = "";
	struct octo_manifest m;
	struct reference ref;
	struct octo_digest d;
	char *body = NULL, *desc = NULL, strong_why[512] = "";
	uint64_t seq = 0, since = 0;
	size_t len;
	enum octo_err err = parse_reference(rt, &ref);

	memset(&m, 0, sizeof(m));
	if (err == OCTO_ERR_MANIFEST_INVALID)
		detail = "invalid tag";
	if (err == OCTO_OK) /* below storage.min_free: 507, before the body is read */
		err = octo_store_check_space(
			reg->store, rt->req->body.length > 0 ? (uint64_t)rt->req->body.length : 0,
			(uint64_t)reg->cfg->storage.min_free_bytes,
			(uint64_t)reg->cfg->storage.min_free_inodes);
	if (err == OCTO_OK)
		err = octo_request_read_body(rt->req, (size_t)reg->cfg->storage.max_manifest_size,
					     &body, &len);
	if (err == OCTO_OK) {
		octo_digest_of(ref.is_digest ? ref.digest.alg : OCTO_DIGEST_SHA256, body, len, &d);
		if (ref.is_digest && !octo_digest_equal(&d, &ref.digest))
			err = OCTO_ERR_DIGEST_INVALID;
	}
	if (err == OCTO_OK)
		err = parse_manifest(reg, body, len, octo_request_header(rt->req, "Content-Type"),
				     &m, &detail);
	if (err == OCTO_OK) {
		err = check_references(reg, rt, &m, why, sizeof(why));
		if (err != OCTO_OK && why[0] != '\0')
			detail = why;
	}
	/* Every referrer that gets a 201 is listed: one whose descriptor the index cannot
	 * hold is refused here, before anything is stored. */
	if (err == OCTO_OK && m.has_subject) {
		desc = referrer_descriptor(&m, &d, len);
		if (desc == NULL)
			err = OCTO_ERR_NOMEM;
		else if (strlen(desc) > OCTO_BOUND_DESCRIPTOR) {
			err = OCTO_ERR_MANIFEST_INVALID;
			detail =
				"annotations too large for the referrers index: its descriptor may "
				"be at most " OCTO_BOUND_DESCRIPTOR_TEXT " bytes";
		}
	}
	if (err == OCTO_OK)
		err = store_manifest(reg, rt, &ref, &m, body, len, &d, desc, &seq, &since);
	if (err == OCTO_OK && octo_api_strong(reg)) {
		err = confirm(reg, rt, ref.is_digest ? NULL : ref.tag, &d, &m, seq, since,
			      strong_why, sizeof(strong_why));
		detail = strong_why;
	}
	free(desc);
	free(body);
	if (err != OCTO_OK) {
		octo_manifest_cleanup(&m);
		return octo_response_error(resp, err, detail);
	}
	octo_digest_format(&d, ds, sizeof(ds));
	resp->status = 201;
	octo_response_add_header(resp, "Location", "%s/v2/%s/manifests/%s", reg->base_url, rt->name,
				 ds);
	octo_response_add_header(resp, "Docker-Content-Digest", "%s", ds);
	if (m.has_subject) {
		octo_digest_format(&m.subject, ds, sizeof(ds));
		octo_response_add_header(resp, "OCI-Subject", "%s", ds);
	}
	octo_manifest_cleanup(&m);
}

/* A tag's delete in strong mode: decided by the voters. */
struct strong_untag {
	struct octo_registry *reg;
	const struct octo_route *rt;
	char *why;
	size_t size;
};

static enum octo_err strong_untag(void *ctx, const char *tag)
{
	struct strong_untag *u = ctx;

	return octo_strong_delete_tag(u->reg->store, u->rt->name, tag,
				      u->reg->cfg->p2p.replication.strong_timeout_ms, u->why,
				      u->size);
}

/* The subject of stored manifest d, if it has one (*has). */
static enum octo_err subject_of(struct octo_registry *reg, const struct octo_digest *d,
				const char *media_type, int *has, struct octo_digest *subject)
{
	const char *detail;
	struct octo_manifest m;
	char *body;
	size_t len;
	enum octo_err err = octo_store_read_blob(reg->store, d, SIZE_MAX / 2, &body, &len);

	*has = 0;
	if (err != OCTO_OK)
		return err == OCTO_ERR_BLOB_UNKNOWN ? OCTO_OK : err;
	/* The stored media type stands in for a body without "mediaType", as at PUT. It was
	 * valid then, so a failure now means the store is damaged. */
	if (parse_manifest(reg, body, len, media_type, &m, &detail) != OCTO_OK) {
		err = OCTO_ERR_IO;
	} else {
		*has = m.has_subject;
		*subject = m.subject;
		octo_manifest_cleanup(&m);
	}
	free(body);
	return err;
}

/* Delete manifest d (remove.h); in strong mode its tags go by the voters' decision and the
 * revision's delete waits for a majority. */
static enum octo_err delete_manifest(struct octo_registry *reg, const struct octo_route *rt,
				     const struct octo_digest *d, char *why, size_t size)
{
	char type[OCTO_MANIFEST_TYPE_MAX];
	struct strong_untag u = {reg, rt, why, size};
	struct octo_digest subject;
	int strong = octo_api_strong(reg), has_subject = 0;
	uint64_t seq = 0;
	enum octo_err err = octo_store_manifest_type(reg->store, rt->name, d, type, sizeof(type));

	if (err == OCTO_OK)
		err = subject_of(reg, d, type, &has_subject, &subject);
	if (err == OCTO_OK)
		err = octo_remove_manifest(reg->store, reg->journal, rt->name, d,
					   has_subject ? &subject : NULL,
					   strong ? strong_untag : NULL, &u, &seq);
	if (err == OCTO_OK && strong) /* the revision's delete on a majority */
		err = confirm(reg, rt, NULL, NULL, NULL, seq, 0, why, size);
	return err;
}

void octo_api_manifest_delete(struct octo_registry *reg, struct octo_route *rt,
			      struct octo_response *resp)
{
	char why[512] = "";
	struct reference ref;
	struct octo_digest d;
	enum octo_err err;

	err = parse_reference(rt, &ref);
	if (err == OCTO_ERR_MANIFEST_INVALID)
		err = OCTO_ERR_MANIFEST_UNKNOWN;
	if (err == OCTO_OK && !ref.is_digest) {
		/* by tag: only the tag goes; the event first, once the tag is known to exist */
		err = octo_store_tag_get(reg->store, rt->name, ref.tag, &d);
		if (err == OCTO_OK && octo_api_strong(reg))
			err = octo_strong_delete_tag(reg->store, rt->name, ref.tag,
						     reg->cfg->p2p.replication.strong_timeout_ms,
						     why, sizeof(why));
		else if (err == OCTO_OK)
			err = octo_remove_tag(reg->store, reg->journal, rt->name, ref.tag);
	} else if (err == OCTO_OK) {
		err = delete_manifest(reg, rt, &ref.digest, why, sizeof(why));
	}
	if (err != OCTO_OK)
		return octo_response_error(resp, err, why[0] != '\0' ? why : NULL);
	resp->status = 202;
}
