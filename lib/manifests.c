/* SPDX-License-Identifier: Apache-2.0 */
/* Manifest, tag, catalog and referrers endpoints: distribution-spec end-3, end-7, end-8a/8b,
 * end-9, end-12a/12b, "Listing Referrers", and Docker's /v2/_catalog. */
#include "autoconfig.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "registry-int.h"

#define MEDIA_TYPE_MAX 256
#define LIST_MAX 100000 /* ceiling for ?n= */

/* A manifest reference: a tag, or a digest. */
struct reference {
	int is_digest;
	char tag[OCTO_TAG_MAX + 1];
	struct octo_digest digest;
};

static enum octo_err parse_reference(const struct route *rt, struct reference *ref)
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
static enum octo_err resolve(struct octo_registry *reg, const struct route *rt,
			     const struct reference *ref, struct octo_digest *d, char *type)
{
	enum octo_err err = OCTO_OK;

	if (ref->is_digest)
		*d = ref->digest;
	else
		err = octo_store_tag_get(reg->store, rt->name, ref->tag, d);
	if (err == OCTO_OK)
		err = octo_store_manifest_type(reg->store, rt->name, d, type, MEDIA_TYPE_MAX);
	return err;
}

void manifest_get(struct octo_registry *reg, struct route *rt, struct octo_response *resp)
{
	char type[MEDIA_TYPE_MAX], ds[OCTO_DIGEST_MAX_STRING];
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
		return resp_error(reg, resp, err, NULL);
	octo_digest_format(&d, ds, sizeof(ds));
	/* The stored bytes and type whatever Accept says: no conversion between formats. */
	resp_header(resp, "Content-Type", "%s", type);
	resp_header(resp, "Docker-Content-Digest", "%s", ds);
	resp_header(resp, "ETag", "\"%s\"", ds);
}

/* Read the whole body, refusing more than max bytes. */
static enum octo_err read_body(const struct octo_request *req, size_t max, char **out, size_t *len)
{
	size_t cap = 64 * 1024, n = 0;
	char *buf;

	*out = NULL;
	*len = 0;
	if (req->body.length > (long long)max)
		return OCTO_ERR_TOO_LARGE;
	buf = malloc(cap + 1);
	if (buf == NULL)
		return OCTO_ERR_NOMEM;
	for (;;) {
		ssize_t got;
		if (n == cap) {
			char *nb;
			if (cap > max) {
				free(buf);
				return OCTO_ERR_TOO_LARGE;
			}
			cap *= 2;
			nb = realloc(buf, cap + 1);
			if (nb == NULL) {
				free(buf);
				return OCTO_ERR_NOMEM;
			}
			buf = nb;
		}
		got = req->body.read(req->body.ctx, buf + n, cap - n);
		if (got < 0) {
			free(buf);
			return OCTO_ERR_INCOMPLETE;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	if (n > max) {
		free(buf);
		return OCTO_ERR_TOO_LARGE;
	}
	if (req->body.length >= 0 && n != (size_t)req->body.length) {
		free(buf);
		return OCTO_ERR_INCOMPLETE;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return OCTO_OK;
}

/* Every blob and child manifest the manifest references must be in this repository. */
static enum octo_err check_references(struct octo_registry *reg, const struct route *rt,
				      const struct octo_manifest *m)
{
	char type[MEDIA_TYPE_MAX];
	size_t i;

	for (i = 0; i < m->n_refs; i++) {
		const struct octo_manifest_ref *r = &m->refs[i];
		enum octo_err err;
		uint64_t size;

		if (r->external)
			continue;
		if (r->is_manifest) {
			err = octo_store_manifest_type(reg->store, rt->name, &r->digest, type,
						       sizeof(type));
		} else {
			err = octo_store_blob_linked(reg->store, rt->name, &r->digest, &size);
			if (err == OCTO_OK && size != (uint64_t)r->size)
				return OCTO_ERR_MANIFEST_INVALID;
		}
		if (err == OCTO_ERR_MANIFEST_UNKNOWN || err == OCTO_ERR_BLOB_UNKNOWN)
			return OCTO_ERR_MANIFEST_BLOB_UNKNOWN;
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

/* Store a validated manifest: content, revision link, referrers entry, then the tag, so
 * that nothing ever points at a manifest that is not yet durable. */
static enum octo_err store_manifest(struct octo_registry *reg, const struct route *rt,
				    const struct reference *ref, const struct octo_manifest *m,
				    const char *body, size_t len, const struct octo_digest *d)
{
	enum octo_err err = octo_store_put_blob_bytes(reg->store, body, len, d);

	if (err == OCTO_OK)
		err = octo_store_link_manifest(reg->store, rt->name, d, m->media_type);
	if (err == OCTO_OK && m->has_subject) {
		char *desc = referrer_descriptor(m, d, len);
		err = desc ? octo_store_referrer_add(reg->store, rt->name, &m->subject, d, desc)
			   : OCTO_ERR_NOMEM;
		free(desc);
	}
	if (err == OCTO_OK && !ref->is_digest)
		err = octo_store_tag_set(reg->store, rt->name, ref->tag, d);
	if (err == OCTO_OK)
		err = record_change(reg, "manifest.put", rt->name, d,
				    ref->is_digest ? NULL : ref->tag);
	return err;
}

void manifest_put(struct octo_registry *reg, struct route *rt, struct octo_response *resp)
{
	const char *detail = NULL;
	char ds[OCTO_DIGEST_MAX_STRING];
	struct octo_manifest m;
	struct reference ref;
	struct octo_digest d;
	char *body = NULL;
	size_t len;
	enum octo_err err = parse_reference(rt, &ref);

	memset(&m, 0, sizeof(m));
	if (err == OCTO_ERR_MANIFEST_INVALID)
		detail = "invalid tag";
	if (err == OCTO_OK)
		err = read_body(rt->req, (size_t)reg->cfg->storage.max_manifest_size, &body, &len);
	if (err == OCTO_OK) {
		octo_digest_of(ref.is_digest ? ref.digest.alg : OCTO_DIGEST_SHA256, body, len, &d);
		if (ref.is_digest && !octo_digest_equal(&d, &ref.digest))
			err = OCTO_ERR_DIGEST_INVALID;
	}
	if (err == OCTO_OK)
		err = octo_manifest_parse(body, len, octo_request_header(rt->req, "Content-Type"),
					  &m, &detail);
	if (err == OCTO_OK)
		err = check_references(reg, rt, &m);
	if (err == OCTO_OK)
		err = store_manifest(reg, rt, &ref, &m, body, len, &d);
	free(body);
	if (err != OCTO_OK) {
		octo_manifest_cleanup(&m);
		return resp_error(reg, resp, err, detail);
	}
	octo_digest_format(&d, ds, sizeof(ds));
	resp->status = 201;
	resp_header(resp, "Location", "%s/v2/%s/manifests/%s", reg->base_url, rt->name, ds);
	resp_header(resp, "Docker-Content-Digest", "%s", ds);
	if (m.has_subject) {
		octo_digest_format(&m.subject, ds, sizeof(ds));
		resp_header(resp, "OCI-Subject", "%s", ds);
	}
	octo_manifest_cleanup(&m);
}

/* Remove every tag of the repository that points at d. */
static enum octo_err untag_all(struct octo_registry *reg, const struct route *rt,
			       const struct octo_digest *d)
{
	enum octo_err err;
	char **tags;
	size_t n, i;

	err = octo_store_tag_list(reg->store, rt->name, &tags, &n);
	for (i = 0; err == OCTO_OK && i < n; i++) {
		struct octo_digest td;
		if (octo_store_tag_get(reg->store, rt->name, tags[i], &td) == OCTO_OK &&
		    octo_digest_equal(&td, d)) {
			err = octo_store_tag_delete(reg->store, rt->name, tags[i]);
			if (err == OCTO_ERR_MANIFEST_UNKNOWN) /* deleted meanwhile */
				err = OCTO_OK;
		}
	}
	octo_strv_free(tags, n);
	return err == OCTO_ERR_NAME_UNKNOWN ? OCTO_OK : err;
}

/* Remove d from its subject's referrers index, if it has a subject. */
static enum octo_err unrefer(struct octo_registry *reg, const struct route *rt,
			     const struct octo_digest *d, const char *media_type)
{
	const char *detail;
	struct octo_manifest m;
	char *body;
	size_t len;
	enum octo_err err = octo_store_read_blob(reg->store, d, SIZE_MAX / 2, &body, &len);

	if (err != OCTO_OK)
		return err == OCTO_ERR_BLOB_UNKNOWN ? OCTO_OK : err;
	/* The stored media type stands in for a body without "mediaType", as at PUT. It was
	 * valid then, so a failure now means the store is damaged. */
	if (octo_manifest_parse(body, len, media_type, &m, &detail) != OCTO_OK) {
		err = OCTO_ERR_IO;
	} else {
		if (m.has_subject)
			err = octo_store_referrer_remove(reg->store, rt->name, &m.subject, d);
		octo_manifest_cleanup(&m);
	}
	free(body);
	return err;
}

void manifest_delete(struct octo_registry *reg, struct route *rt, struct octo_response *resp)
{
	char type[MEDIA_TYPE_MAX];
	struct reference ref;
	struct octo_digest d;
	enum octo_err err;

	if (!reg->cfg->storage.delete_enabled)
		return resp_deletes_disabled(reg, resp, "GET, HEAD, PUT");
	err = parse_reference(rt, &ref);
	if (err == OCTO_ERR_MANIFEST_INVALID)
		err = OCTO_ERR_MANIFEST_UNKNOWN;
	if (err == OCTO_OK && !ref.is_digest) {
		/* by tag: only the tag goes */
		err = octo_store_tag_delete(reg->store, rt->name, ref.tag);
		if (err == OCTO_OK)
			err = record_change(reg, "tag.delete", rt->name, NULL, ref.tag);
	} else if (err == OCTO_OK) {
		d = ref.digest;
		err = octo_store_manifest_type(reg->store, rt->name, &d, type, sizeof(type));
		if (err == OCTO_OK)
			err = untag_all(reg, rt, &d);
		if (err == OCTO_OK)
			err = unrefer(reg, rt, &d, type);
		if (err == OCTO_OK)
			err = octo_store_unlink_manifest(reg->store, rt->name, &d);
		if (err == OCTO_OK)
			err = record_change(reg, "manifest.delete", rt->name, &d, NULL);
	}
	if (err != OCTO_OK)
		return resp_error(reg, resp, err, NULL);
	resp->status = 202;
}

/* ?n= and ?last= of a paginated list (tags, catalog): the slice [*start, *end) of items.
 * Returns OCTO_ERR_BAD_REQUEST for a malformed n. */
static enum octo_err paginate(const struct route *rt, char **items, size_t count,
			      int (*cmp)(const char *, const char *), size_t *start, size_t *end,
			      long *limit)
{
	const char *n = query_get(&rt->query, "n"), *last = query_get(&rt->query, "last");

	*limit = -1;
	if (n != NULL) {
		char *stop;
		long v;
		if (n[0] < '0' || n[0] > '9')
			return OCTO_ERR_BAD_REQUEST;
		v = strtol(n, &stop, 10);
		if (*stop != '\0' || v < 0)
			return OCTO_ERR_BAD_REQUEST;
		*limit = v > LIST_MAX ? LIST_MAX : v;
	}
	*start = 0;
	if (last != NULL)
		while (*start < count && cmp(items[*start], last) <= 0)
			(*start)++;
	*end = count;
	if (*limit >= 0 && count - *start > (size_t)*limit)
		*end = *start + (size_t)*limit;
	return OCTO_OK;
}

/* {"<key0>": <name>, "<key>": [items...]} and a Link header when more remain. */
static void list_response(struct octo_registry *reg, struct route *rt, struct octo_response *resp,
			  const char *key, char **items, size_t count,
			  int (*cmp)(const char *, const char *), const char *link_path)
{
	size_t start, end, i;
	long limit;
	json_t *o, *arr;
	enum octo_err err = paginate(rt, items, count, cmp, &start, &end, &limit);

	if (err != OCTO_OK)
		return resp_error(reg, resp, err, "n must be a non-negative integer");
	arr = json_array();
	for (i = start; arr != NULL && i < end; i++)
		json_array_append_new(arr, json_string(items[i]));
	o = strcmp(key, "tags") == 0 ? json_pack("{s:s,s:o}", "name", rt->name, key, arr)
				     : json_pack("{s:o}", key, arr);
	resp->body = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(o);
	if (resp->body == NULL)
		return resp_error(reg, resp, OCTO_ERR_NOMEM, NULL);
	resp->body_len = strlen(resp->body);
	resp_header(resp, "Content-Type", "application/json");
	if (end < count && end > start)
		resp_header(resp, "Link", "<%s?n=%ld&last=%s>; rel=\"next\"", link_path, limit,
			    items[end - 1]);
}

/* Tags are [A-Za-z0-9_.-] and names [a-z0-9._/-]: nothing in them needs JSON escaping. */
/* Tags need no JSON escaping (their grammar has no quote or backslash); memcpy rather than
 * sprintf, which was a third of the responder's time on a list of 1000 tags. */
static size_t append_tag(char *out, size_t pos, const char *tag, size_t len, int comma)
{
	if (comma)
		out[pos++] = ',';
	out[pos++] = '"';
	memcpy(out + pos, tag, len);
	pos += len;
	out[pos++] = '"';
	return pos;
}

static void tags_from_index(struct octo_registry *reg, struct route *rt, struct octo_response *resp,
			    char *text, size_t len)
{
	const char *last = query_get(&rt->query, "last"), *nq = query_get(&rt->query, "n");
	char *line = text, *end = text + len, *out, *prev = NULL;
	long limit = -1, count = 0;
	size_t pos;

	if (nq != NULL) {
		char *stop;
		limit = nq[0] >= '0' && nq[0] <= '9' ? strtol(nq, &stop, 10) : -1;
		if (limit < 0 || *stop != '\0')
			return resp_error(reg, resp, OCTO_ERR_BAD_REQUEST,
					  "n must be a non-negative integer");
		if (limit > LIST_MAX)
			limit = LIST_MAX;
	}
	out = malloc(len * 3 + strlen(rt->name) + 32);
	if (out == NULL)
		return resp_error(reg, resp, OCTO_ERR_NOMEM, NULL);
	pos = (size_t)sprintf(out, "{\"name\":\"%s\",\"tags\":[", rt->name);
	for (char *next; line < end; line = next) {
		next = memchr(line, '\n', (size_t)(end - line));
		if (next == NULL)
			break; /* the index always ends with a newline */
		*next++ = '\0';
		if (last != NULL && octo_tag_cmp(line, last) <= 0)
			continue;
		if (limit >= 0 && count == limit) {
			if (count > 0) /* more remain */
				resp_header(resp, "Link",
					    "</v2/%s/tags/list?n=%ld&last=%s>; rel=\"next\"",
					    rt->name, limit, prev);
			break;
		}
		pos = append_tag(out, pos, line, (size_t)(next - 1 - line), count > 0);
		prev = line;
		count++;
	}
	memcpy(out + pos, "]}", 3);
	resp->body = out;
	resp->body_len = pos + 2;
	resp_header(resp, "Content-Type", "application/json");
}

void tags_list(struct octo_registry *reg, struct route *rt, struct octo_response *resp)
{
	char link[OCTO_NAME_MAX + 32];
	char **tags, *text;
	size_t n;
	enum octo_err err = octo_store_tag_index(reg->store, rt->name, &text, &n);

	if (err == OCTO_OK) {
		tags_from_index(reg, rt, resp, text, n);
		free(text);
		return;
	}
	/* no index yet: scan the tag directory */
	err = octo_store_tag_list(reg->store, rt->name, &tags, &n);
	if (err != OCTO_OK)
		return resp_error(reg, resp, err, NULL);
	snprintf(link, sizeof(link), "/v2/%s/tags/list", rt->name);
	list_response(reg, rt, resp, "tags", tags, n, octo_tag_cmp, link);
	octo_strv_free(tags, n);
}

void catalog(struct octo_registry *reg, struct route *rt, struct octo_response *resp)
{
	char **names;
	size_t n;
	enum octo_err err = octo_store_repo_list(reg->store, &names, &n);

	if (err != OCTO_OK)
		return resp_error(reg, resp, err, NULL);
	list_response(reg, rt, resp, "repositories", names, n, strcmp, "/v2/_catalog");
	octo_strv_free(names, n);
}

void referrers(struct octo_registry *reg, struct route *rt, struct octo_response *resp)
{
	const char *filter = query_get(&rt->query, "artifactType");
	struct octo_digest subject;
	char **descs = NULL;
	size_t n = 0, i;
	json_t *index, *list;
	enum octo_err err = octo_digest_parse(rt->tail, rt->tail_len, &subject);

	if (err == OCTO_OK)
		err = octo_store_referrer_list(reg->store, rt->name, &subject, &descs, &n);
	if (err != OCTO_OK)
		return resp_error(reg, resp, err, NULL);
	list = json_array();
	for (i = 0; list != NULL && i < n; i++) {
		json_t *d = json_loads(descs[i], 0, NULL);
		const char *at = json_string_value(json_object_get(d, "artifactType"));
		if (d != NULL && (filter == NULL || (at != NULL && strcmp(at, filter) == 0)))
			json_array_append(list, d);
		json_decref(d);
	}
	octo_strv_free(descs, n);
	index = json_pack("{s:i,s:s,s:o}", "schemaVersion", 2, "mediaType", OCTO_MT_OCI_INDEX,
			  "manifests", list);
	resp->body = index ? json_dumps(index, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(index);
	if (resp->body == NULL)
		return resp_error(reg, resp, OCTO_ERR_NOMEM, NULL);
	resp->body_len = strlen(resp->body);
	resp_header(resp, "Content-Type", "%s", OCTO_MT_OCI_INDEX);
	if (filter != NULL)
		resp_header(resp, "OCI-Filters-Applied", "artifactType");
}
