/* SPDX-License-Identifier: Apache-2.0 */
/* Health endpoints for load balancers and orchestrators, named as Kubernetes and zot name
 * them: GET /livez (the responder answers) and GET /readyz (it can take writes: the store
 * writable, the journal appendable, free space above storage.min_free). Reads may still
 * work on a node that is not ready; /v2/ says nothing about writes. */
#include "autoconfig.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "fsutil.h"
#include "journal.h"

static void health_body(struct octo_response *resp, int status, const char *reason)
{
	json_t *doc = json_pack("{s:s}", "status", status == 200 ? "ok" : "not ready");

	if (doc != NULL && reason != NULL)
		json_object_set_new(doc, "reason", json_string(reason));
	resp->status = status;
	resp->body = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
	resp->body_len = resp->body != NULL ? strlen(resp->body) : 0;
	json_decref(doc);
	octo_response_add_header(resp, "Content-Type", "application/json");
	octo_response_add_header(resp, "Cache-Control", "no-store");
}

void octo_api_livez(struct octo_registry *reg, struct octo_route *rt, struct octo_response *resp)
{
	(void)reg;
	(void)rt;
	health_body(resp, 200, NULL);
}

void octo_api_readyz(struct octo_registry *reg, struct octo_route *rt, struct octo_response *resp)
{
	const struct octo_config *cfg = reg->cfg;
	char why[512], cause[400];
	enum octo_err err;

	(void)rt;
	if (cfg->storage.readonly) /* serving reads is all it is asked to do */
		return health_body(resp, 200, "read-only (storage.readonly): pulls only");
	err = octo_store_check_space(reg->store, 0, (uint64_t)cfg->storage.min_free_bytes,
				     (uint64_t)cfg->storage.min_free_inodes);
	if (err == OCTO_ERR_NO_SPACE)
		return health_body(resp, 503, "free space or inodes below storage.min_free");
	if (err == OCTO_OK)
		err = octo_store_check_writable(reg->store);
	if (err == OCTO_OK)
		err = octo_journal_check(reg->journal);
	if (err == OCTO_OK)
		return health_body(resp, 200, NULL);
	if (octo_fs_failure(cause, sizeof(cause)) != 0)
		snprintf(why, sizeof(why), "%s (%s)", octo_err_message(err), cause);
	else
		snprintf(why, sizeof(why), "%s", octo_err_message(err));
	health_body(resp, 503, why);
}
