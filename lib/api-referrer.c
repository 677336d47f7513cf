/* SPDX-License-Identifier: Apache-2.0 */
/* The referrers list: distribution-spec end-12a/12b ("Listing Referrers"). */
#include "autoconfig.h"

#include <jansson.h>
#include <string.h>

#include "api.h"
#include "manifest.h"
#include "store-referrer.h"

void octo_api_referrers(struct octo_registry *reg, struct octo_route *rt,
			struct octo_response *resp)
{
	const char *filter = octo_query_get(&rt->query, "artifactType");
	struct octo_digest subject;
	struct octo_strv descs = {0};
	size_t i;
	json_t *index, *list;
	enum octo_err err = octo_digest_parse(rt->tail, rt->tail_len, &subject);

	if (err == OCTO_OK)
		err = octo_store_referrer_list(reg->store, rt->name, &subject, &descs);
	if (err != OCTO_OK)
		return octo_response_error(resp, err, NULL);
	list = json_array();
	for (i = 0; list != NULL && i < descs.n; i++) {
		json_t *d = json_loads(descs.v[i], 0, NULL);
		const char *at = json_string_value(json_object_get(d, "artifactType"));
		if (d != NULL && (filter == NULL || (at != NULL && strcmp(at, filter) == 0)))
			json_array_append(list, d);
		json_decref(d);
	}
	octo_strv_cleanup(&descs);
	index = json_pack("{s:i,s:s,s:o}", "schemaVersion", 2, "mediaType", OCTO_MT_OCI_INDEX,
			  "manifests", list);
	resp->body = index ? json_dumps(index, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(index);
	if (resp->body == NULL)
		return octo_response_error(resp, OCTO_ERR_NOMEM, NULL);
	resp->body_len = strlen(resp->body);
	octo_response_add_header(resp, "Content-Type", "%s", OCTO_MT_OCI_INDEX);
	if (filter != NULL)
		octo_response_add_header(resp, "OCI-Filters-Applied", "artifactType");
}
