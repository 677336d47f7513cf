/* SPDX-License-Identifier: Apache-2.0 */
/* The referrers list: distribution-spec end-12a/12b ("Listing Referrers"), in pages bounded
 * by entries and bytes; a page that is not the last ends with Link: <...>; rel="next" (the
 * spec allows it), whose ?last= names the last entry given. */
#include "autoconfig.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "bounds.h"
#include "manifest.h"
#include "store-referrer.h"

/* Append descriptor text to list if it passes the artifactType filter: 1 if appended. */
static int add_descriptor(json_t *list, const char *text, size_t len, const char *filter)
{
	json_t *d = json_loadb(text, len, 0, NULL);
	const char *at = json_string_value(json_object_get(d, "artifactType"));
	int keep = d != NULL && (filter == NULL || (at != NULL && strcmp(at, filter) == 0));

	if (keep)
		json_array_append(list, d);
	json_decref(d);
	return keep;
}

void octo_api_referrers(struct octo_registry *reg, struct octo_route *rt,
			struct octo_response *resp)
{
	const char *filter = octo_query_get(&rt->query, "artifactType");
	const char *last = octo_query_get(&rt->query, "last");
	const char *more = NULL; /* the last entry of a page that is not the last one */
	struct octo_digest subject;
	struct octo_strv names = {0};
	size_t i, entries = 0, bytes = 0;
	json_t *index, *list;
	enum octo_err err = octo_digest_parse(rt->tail, rt->tail_len, &subject);

	if (err == OCTO_OK && last != NULL && !octo_store_referrer_name_valid(last, strlen(last)))
		return octo_response_error(resp, OCTO_ERR_BAD_REQUEST, "last");
	if (err == OCTO_OK)
		err = octo_store_referrer_names(reg->store, rt->name, &subject, &names);
	if (err != OCTO_OK)
		return octo_response_error(resp, err, NULL);
	list = json_array();
	for (i = 0; list != NULL && i < names.n; i++) {
		char *text;
		size_t len;

		if (last != NULL && strcmp(names.v[i], last) <= 0)
			continue;
		if (octo_store_referrer_read(reg->store, rt->name, &subject, names.v[i], &text,
					     &len) != OCTO_OK)
			continue; /* removed meanwhile, or not ours */
		if (entries > 0 && (entries == OCTO_BOUND_REFERRERS_PAGE_ENTRIES ||
				    bytes + len > OCTO_BOUND_REFERRERS_PAGE_BYTES)) {
			free(text);
			more = names.v[i - 1];
			break;
		}
		if (add_descriptor(list, text, len, filter)) {
			entries++;
			bytes += len;
		}
		free(text);
	}
	index = json_pack("{s:i,s:s,s:o}", "schemaVersion", 2, "mediaType", OCTO_MT_OCI_INDEX,
			  "manifests", list);
	resp->body = index ? json_dumps(index, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(index);
	if (resp->body == NULL) {
		octo_strv_cleanup(&names);
		return octo_response_error(resp, OCTO_ERR_NOMEM, NULL);
	}
	resp->body_len = strlen(resp->body);
	octo_response_add_header(resp, "Content-Type", "%s", OCTO_MT_OCI_INDEX);
	if (filter != NULL)
		octo_response_add_header(resp, "OCI-Filters-Applied", "artifactType");
	if (more != NULL) {
		char *f = filter != NULL ? octo_percent_encode(filter) : NULL;
		octo_response_add_header(
			resp, "Link", "</v2/%s/referrers/%.*s?last=%s%s%s>; rel=\"next\"", rt->name,
			(int)rt->tail_len, rt->tail, more, f ? "&artifactType=" : "", f ? f : "");
		free(f);
	}
	octo_strv_cleanup(&names);
}
