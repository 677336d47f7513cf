/* SPDX-License-Identifier: Apache-2.0 */
/* See event.h. */
#include "autoconfig.h"

#include <jansson.h>
#include <string.h>

#include "event.h"
#include "manifest.h"
#include "store-blob.h"
#include "store-referrer.h"

/* "<alg>/<hex>" at p (up to end): a digest, and where it stopped. */
static int alg_hex(const char *p, const char *end, char sep, struct octo_digest *d,
		   const char **next)
{
	char text[OCTO_DIGEST_MAX_STRING];
	const char *slash = memchr(p, sep, (size_t)(end - p)), *stop;
	size_t n;

	if (slash == NULL)
		return -1;
	stop = memchr(slash + 1, '/', (size_t)(end - slash - 1));
	if (stop == NULL)
		stop = end;
	n = (size_t)(stop - p);
	if (n >= sizeof(text))
		return -1;
	memcpy(text, p, n);
	text[slash - p] = ':';
	if (octo_digest_parse(text, n, d) != OCTO_OK)
		return -1;
	*next = stop;
	return 0;
}

static int starts(const char *key, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);

	return len > n && memcmp(key, prefix, n) == 0;
}

int octo_record_key_parse(const char *key, size_t len, struct octo_record_key *out)
{
	const char *end = key + len, *p;

	memset(out, 0, sizeof(*out));
	if (starts(key, len, "_manifests/tags/")) {
		p = key + 16;
		if (!octo_tag_valid(p, (size_t)(end - p)))
			return -1;
		out->kind = OCTO_RECORD_TAG;
		memcpy(out->tag, p, (size_t)(end - p));
		return 0;
	}
	if (starts(key, len, "_manifests/revisions/")) {
		out->kind = OCTO_RECORD_REVISION;
		return alg_hex(key + 21, end, '/', &out->digest, &p) == 0 && p == end ? 0 : -1;
	}
	if (starts(key, len, "_layers/")) {
		out->kind = OCTO_RECORD_LINK;
		return alg_hex(key + 8, end, '/', &out->digest, &p) == 0 && p == end ? 0 : -1;
	}
	if (starts(key, len, "_referrers/")) {
		out->kind = OCTO_RECORD_REFERRER;
		if (alg_hex(key + 11, end, '/', &out->subject, &p) != 0 || p == end || *p != '/')
			return -1;
		return alg_hex(p + 1, end, '-', &out->digest, &p) == 0 && p == end ? 0 : -1;
	}
	return -1;
}

int octo_record_value_valid(const struct octo_record_key *k, const char *value, size_t len)
{
	struct octo_digest d;
	char ds[OCTO_DIGEST_MAX_STRING], type[128];
	json_t *o;
	int ok;
	uint64_t size;

	switch (k->kind) {
	case OCTO_RECORD_TAG:
		return octo_digest_parse(value, len, &d) == OCTO_OK;
	case OCTO_RECORD_REVISION:
		if (len >= sizeof(type))
			return 0;
		memcpy(type, value, len);
		type[len] = '\0';
		return strlen(type) == len && octo_manifest_media_type_known(type);
	case OCTO_RECORD_LINK:
		return octo_store_link_size(value, len, &size) == 0;
	case OCTO_RECORD_REFERRER:
		if (!octo_store_referrer_descriptor_valid(value, len))
			return 0;
		octo_digest_format(&k->digest, ds, sizeof(ds));
		o = json_loadb(value, len, 0, NULL);
		ok = o != NULL && strcmp(json_string_value(json_object_get(o, "digest")), ds) == 0;
		json_decref(o);
		return ok;
	}
	return 0;
}

static const char *const types[] = {
	"blob.put",        "blob.mount", "blob.delete",           "manifest.put",
	"manifest.delete", "tag.delete", OCTO_EVENT_COLLECT_LINK, OCTO_EVENT_COLLECT_MANIFEST,
	OCTO_EVENT_REPAIR};

static int known_type(const char *t)
{
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(t, types[i]) == 0)
			return 1;
	return 0;
}

/* A string member of o (NULL when absent or not a string, or with a NUL inside). */
static const char *string_of(json_t *o, const char *name)
{
	json_t *v = json_object_get(o, name);

	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
		return NULL;
	return json_string_value(v);
}

/* A non-negative integer member of o. */
static int number_of(json_t *o, const char *name, uint64_t *v)
{
	json_t *n = json_object_get(o, name);

	if (!json_is_integer(n) || json_integer_value(n) < 0)
		return -1;
	*v = (uint64_t)json_integer_value(n);
	return 0;
}

static int parse_records(json_t *a, struct octo_event *ev, const char **why)
{
	size_t i;
	json_t *r;

	if (a == NULL)
		return 0; /* an event from before records */
	if (!json_is_array(a) || json_array_size(a) > OCTO_EVENT_RECORDS_MAX) {
		*why = "records";
		return -1;
	}
	json_array_foreach(a, i, r)
	{
		struct octo_event_record *er = &ev->records[ev->n_records];
		json_t *tomb = json_object_get(r, "tombstone");
		if (!json_is_object(r) || (er->key = string_of(r, "key")) == NULL ||
		    octo_record_key_parse(er->key, strlen(er->key), &er->parsed) != 0) {
			*why = "records: key";
			return -1;
		}
		er->value = string_of(r, "value");
		if ((er->value == NULL) == !json_is_true(tomb) || (tomb != NULL && er->value)) {
			*why = "records: a value or a tombstone";
			return -1;
		}
		er->value_len = er->value != NULL ? strlen(er->value) : 0;
		if (er->value != NULL &&
		    !octo_record_value_valid(&er->parsed, er->value, er->value_len)) {
			*why = "records: value";
			return -1;
		}
		ev->n_records++;
	}
	return 0;
}

int octo_event_parse(const char *line, size_t len, struct octo_event *ev, const char **why)
{
	json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	const char *digest;

	memset(ev, 0, sizeof(*ev));
	ev->json = o;
	*why = "not a JSON object";
	if (!json_is_object(o))
		goto bad;
	*why = "seq, hlc or time_ms";
	if (number_of(o, "seq", &ev->seq) != 0 || ev->seq == 0 || number_of(o, "hlc", &ev->hlc) ||
	    number_of(o, "time_ms", &ev->time_ms) != 0)
		goto bad;
	*why = "node";
	if ((ev->node = string_of(o, "node")) == NULL ||
	    !octo_node_id_valid(ev->node, strlen(ev->node)))
		goto bad;
	*why = "store";
	if ((ev->store = string_of(o, "store")) == NULL || strlen(ev->store) != OCTO_STORE_ID_LEN ||
	    strspn(ev->store, "0123456789abcdef") != OCTO_STORE_ID_LEN)
		goto bad;
	*why = "type";
	if ((ev->type = string_of(o, "type")) == NULL || !known_type(ev->type))
		goto bad;
	*why = "repo";
	if ((ev->repo = string_of(o, "repo")) == NULL ||
	    !octo_name_valid(ev->repo, strlen(ev->repo)))
		goto bad;
	*why = "digest";
	digest = string_of(o, "digest");
	if (json_object_get(o, "digest") != NULL && json_object_get(o, "digest") != json_null() &&
	    (digest == NULL || octo_digest_parse(digest, strlen(digest), &ev->digest) != OCTO_OK))
		goto bad;
	ev->has_digest = digest != NULL;
	*why = "tag";
	ev->tag = string_of(o, "tag");
	if (json_object_get(o, "tag") != NULL && json_object_get(o, "tag") != json_null() &&
	    (ev->tag == NULL || !octo_tag_valid(ev->tag, strlen(ev->tag))))
		goto bad;
	if (parse_records(json_object_get(o, "records"), ev, why) != 0)
		goto bad;
	ev->stamp = (struct octo_record_stamp){
		.hlc = ev->hlc, .time_ms = ev->time_ms, .node = ev->node};
	*why = "origin";
	if (json_object_get(o, "origin") != NULL) {
		json_t *org = json_object_get(o, "origin");
		ev->has_origin = 1;
		if (!json_is_object(org) || (ev->stamp.node = string_of(org, "node")) == NULL ||
		    !octo_node_id_valid(ev->stamp.node, strlen(ev->stamp.node)) ||
		    number_of(org, "hlc", &ev->stamp.hlc) != 0 || ev->stamp.hlc >= ev->hlc ||
		    number_of(org, "time_ms", &ev->stamp.time_ms) != 0)
			goto bad;
	}
	*why = NULL;
	return 0;
bad:
	octo_event_cleanup(ev);
	return -1;
}

void octo_event_cleanup(struct octo_event *ev)
{
	json_decref(ev->json);
	memset(ev, 0, sizeof(*ev));
}
