/* SPDX-License-Identifier: Apache-2.0 */
/* Manifest validation with jansson: duplicate keys and invalid UTF-8 are rejected by the
 * parser itself (JSON_REJECT_DUPLICATES; jansson always checks UTF-8). */
#include "autoconfig.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "manifest.h"

static const char *const known_types[] = {OCTO_MT_OCI_MANIFEST, OCTO_MT_OCI_INDEX,
					  OCTO_MT_DOCKER_MANIFEST, OCTO_MT_DOCKER_LIST};

int octo_manifest_media_type_known(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(known_types) / sizeof(known_types[0]); i++)
		if (strcmp(s, known_types[i]) == 0)
			return 1;
	return 0;
}

/* Content-Type without parameters or surrounding blanks, in buf. */
static const char *bare_content_type(const char *ct, char *buf, size_t size)
{
	size_t len;

	if (ct == NULL)
		return NULL;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	len = strcspn(ct, "; \t");
	if (len == 0 || len >= size)
		return NULL;
	memcpy(buf, ct, len);
	buf[len] = '\0';
	return buf;
}

/* descriptor.md: mediaType (string), digest (valid), size (integer >= 0); optional urls
 * (array of strings), annotations (object of strings), artifactType (string). */
static int descriptor_valid(json_t *d, struct octo_manifest_ref *ref)
{
	json_t *mt = json_object_get(d, "mediaType"), *dg = json_object_get(d, "digest");
	json_t *sz = json_object_get(d, "size"), *urls = json_object_get(d, "urls");
	json_t *ann = json_object_get(d, "annotations"), *at = json_object_get(d, "artifactType");
	const char *key;
	json_t *v;
	size_t i;

	if (!json_is_object(d) || !json_is_string(mt) || json_string_length(mt) == 0 ||
	    !json_is_string(dg) || !json_is_integer(sz) || json_integer_value(sz) < 0)
		return 0;
	if (octo_digest_parse(json_string_value(dg), json_string_length(dg), &ref->digest) !=
	    OCTO_OK)
		return 0;
	ref->size = json_integer_value(sz);
	ref->external = 0;
	if (urls != NULL) {
		if (!json_is_array(urls))
			return 0;
		json_array_foreach(urls, i, v) if (!json_is_string(v)) return 0;
		ref->external = json_array_size(urls) > 0;
	}
	if (ann != NULL) {
		if (!json_is_object(ann))
			return 0;
		json_object_foreach(ann, key, v) if (!json_is_string(v)) return 0;
	}
	if (at != NULL && !json_is_string(at))
		return 0;
	return 1;
}

static int add_ref(struct octo_manifest *m, json_t *d, int is_manifest)
{
	struct octo_manifest_ref *r = &m->refs[m->n_refs];

	if (!descriptor_valid(d, r))
		return 0;
	r->is_manifest = is_manifest;
	m->n_refs++;
	return 1;
}

static enum octo_err fail(const char **detail, const char *why)
{
	*detail = why;
	return OCTO_ERR_MANIFEST_INVALID;
}

static enum octo_err parse_image(json_t *root, struct octo_manifest *m, const char **detail)
{
	json_t *config = json_object_get(root, "config"), *layers = json_object_get(root, "layers");
	json_t *layer;
	size_t i;

	if (!json_is_object(config))
		return fail(detail, "config must be a descriptor");
	if (!json_is_array(layers))
		return fail(detail, "layers must be an array");
	m->refs = calloc(json_array_size(layers) + 1, sizeof(*m->refs));
	if (m->refs == NULL)
		return OCTO_ERR_NOMEM;
	if (!add_ref(m, config, 0))
		return fail(detail, "invalid config descriptor");
	json_array_foreach(layers, i, layer) if (!add_ref(m, layer, 0)) return fail(
		detail, "invalid layer descriptor");
	if (m->artifact_type == NULL)
		m->artifact_type = strdup(json_string_value(json_object_get(config, "mediaType")));
	return OCTO_OK;
}

static enum octo_err parse_index(json_t *root, struct octo_manifest *m, const char **detail)
{
	json_t *manifests = json_object_get(root, "manifests"), *child;
	size_t i;

	if (!json_is_array(manifests))
		return fail(detail, "manifests must be an array");
	m->refs = calloc(json_array_size(manifests) + 1, sizeof(*m->refs));
	if (m->refs == NULL)
		return OCTO_ERR_NOMEM;
	json_array_foreach(manifests, i, child)
	{
		json_t *platform = json_object_get(child, "platform");
		if (!add_ref(m, child, 1))
			return fail(detail, "invalid manifest descriptor");
		if (platform != NULL && !json_is_object(platform))
			return fail(detail, "platform must be an object");
	}
	return OCTO_OK;
}

size_t octo_manifest_weight(const char *data, size_t len, size_t *depth)
{
	size_t i, weight = 1, level = 0;
	int in_string = 0;

	*depth = 0;
	for (i = 0; i < len; i++) {
		char c = data[i];
		if (in_string) {
			if (c == '\\')
				i++; /* the escaped byte cannot end the string */
			else if (c == '"')
				in_string = 0;
			continue;
		}
		switch (c) {
		case '"':
			in_string = 1;
			break;
		case '{':
		case '[':
			weight++;
			if (++level > *depth)
				*depth = level;
			break;
		case '}':
		case ']':
			if (level > 0)
				level--;
			break;
		case ':':
		case ',':
			weight++;
			break;
		default:
			break;
		}
	}
	return weight;
}

enum octo_err octo_manifest_parse(const char *data, size_t len, const char *content_type,
				  struct octo_manifest *m, const char **detail)
{
	char ctbuf[256];
	const char *ct = bare_content_type(content_type, ctbuf, sizeof(ctbuf));
	json_t *root, *mt, *sv, *subject, *at, *ann;
	json_error_t jerr;
	enum octo_err err;
	const char *type;
	size_t weight, depth;

	memset(m, 0, sizeof(*m));
	*detail = NULL;
	/* jansson has no budget of its own: 4 MiB of "{}," cost 320 MB to parse. */
	weight = octo_manifest_weight(data, len, &depth);
	if (weight > OCTO_BOUND_MANIFEST_VALUES)
		return fail(detail,
			    "too many JSON values (at most " OCTO_BOUND_MANIFEST_VALUES_TEXT ")");
	if (depth > OCTO_BOUND_MANIFEST_DEPTH)
		return fail(detail, "JSON nested too deep (at most " OCTO_BOUND_MANIFEST_DEPTH_TEXT
				    " levels)");
	root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return fail(detail, "not well-formed JSON (syntax, duplicate key or UTF-8)");
	err = OCTO_ERR_MANIFEST_INVALID;
	if (!json_is_object(root)) {
		*detail = "not a JSON object";
		goto out;
	}
	mt = json_object_get(root, "mediaType");
	if (mt != NULL && !json_is_string(mt)) {
		*detail = "mediaType must be a string";
		goto out;
	}
	type = mt != NULL ? json_string_value(mt) : ct;
	if (type == NULL || !octo_manifest_media_type_known(type)) {
		*detail = "unknown or missing manifest media type";
		goto out;
	}
	/* "application/json" and "application/octet-stream" carry no claim; anything else
	 * must agree with the body. */
	if (mt != NULL && ct != NULL && strcmp(ct, type) != 0 &&
	    strcmp(ct, "application/json") != 0 && strcmp(ct, "application/octet-stream") != 0) {
		*detail = "mediaType does not match Content-Type";
		goto out;
	}
	sv = json_object_get(root, "schemaVersion");
	if (!json_is_integer(sv) || json_integer_value(sv) != 2) {
		*detail = "schemaVersion must be 2";
		goto out;
	}
	m->media_type = strdup(type);
	at = json_object_get(root, "artifactType");
	if (at != NULL) {
		if (!json_is_string(at)) {
			*detail = "artifactType must be a string";
			goto out;
		}
		/* empty means absent: an image then falls back to its config's media type */
		if (json_string_length(at) > 0)
			m->artifact_type = strdup(json_string_value(at));
	}
	ann = json_object_get(root, "annotations");
	if (ann != NULL) {
		const char *key;
		json_t *v;
		if (!json_is_object(ann)) {
			*detail = "annotations must be an object";
			goto out;
		}
		json_object_foreach(ann, key, v) if (!json_is_string(v))
		{
			*detail = "annotation values must be strings";
			goto out;
		}
		m->annotations = json_dumps(ann, JSON_COMPACT | JSON_PRESERVE_ORDER);
	}
	subject = json_object_get(root, "subject");
	if (subject != NULL) {
		struct octo_manifest_ref sref;
		if (!descriptor_valid(subject, &sref)) {
			*detail = "invalid subject descriptor";
			goto out;
		}
		m->has_subject = 1;
		m->subject = sref.digest;
	}
	if (strcmp(type, OCTO_MT_OCI_INDEX) == 0 || strcmp(type, OCTO_MT_DOCKER_LIST) == 0) {
		m->kind = OCTO_MANIFEST_INDEX;
		err = parse_index(root, m, detail);
	} else {
		m->kind = OCTO_MANIFEST_IMAGE;
		err = parse_image(root, m, detail);
	}
	if (err == OCTO_OK && m->media_type == NULL)
		err = OCTO_ERR_NOMEM;
out:
	json_decref(root);
	if (err != OCTO_OK)
		octo_manifest_cleanup(m);
	return err;
}

void octo_manifest_cleanup(struct octo_manifest *m)
{
	free(m->media_type);
	free(m->artifact_type);
	free(m->annotations);
	free(m->refs);
	memset(m, 0, sizeof(*m));
}
