/* SPDX-License-Identifier: Apache-2.0 */
/* The endpoint handlers (distribution-spec "Endpoints"), one module per noun: api-blob.c,
 * api-upload.c, api-manifest.c, api-list.c (tags and catalog), api-referrer.c. route.c
 * calls them; they call the store and never each other or the router. Not installed, not
 * for adapters. */
#ifndef OCTO_API_H
#define OCTO_API_H

#include <string.h>
#include <time.h>

#include "auth.h"
#include "budget.h"
#include "config.h"
#include "journal.h"
#include "log.h"
#include "metrics.h"
#include "name.h"
#include "request.h"
#include "response.h"
#include "store.h"

struct octo_registry {
	const struct octo_config *cfg;
	struct octo_logger *log;
	struct octo_store *store;
	char *base_url;                  /* server.external_url without a trailing '/', or "" */
	struct octo_budget parse_budget; /* manifests parsed at once (OCTO_BOUND_PARSE_BUDGET) */
	time_t swept; /* when octo_registry_collect last swept repositories/ (0: never) */
	struct octo_metrics *metrics; /* the store's shared counters (NULL: metrics.enabled off) */
	struct octo_journal *journal; /* the store's change journal */
	struct octo_auth *auth;       /* NULL: no authentication (auth.*) */
};

/* One routed request: the repository name and what follows it, both decoded. */
struct octo_route {
	const struct octo_request *req;
	const char *method;
	char name[OCTO_NAME_MAX + 1];
	const char *tail;   /* digest, upload id, reference; "" when none */
	char *tail_storage; /* owns tail */
	size_t tail_len;
	struct octo_query query;
	struct octo_caller caller; /* who asks (auth on) */
};

/* Strong consistency (strong.h): whether this node's writes wait for the cluster's
 * confirmation before they are answered. */
static inline int octo_api_strong(const struct octo_registry *reg)
{
	return reg->cfg->p2p.enabled &&
	       strcmp(reg->cfg->p2p.replication.consistency_mode, "strong") == 0;
}

typedef void octo_api_handler(struct octo_registry *reg, struct octo_route *rt,
			      struct octo_response *resp);

/* Blobs (api-blob.c): GET and HEAD, DELETE. */
octo_api_handler octo_api_blob_get;
octo_api_handler octo_api_blob_delete;
/* Uploads (api-upload.c): POST (with mount and monolithic forms), GET status, PATCH, PUT,
 * DELETE. */
octo_api_handler octo_api_upload_start;
octo_api_handler octo_api_upload_status;
octo_api_handler octo_api_upload_patch;
octo_api_handler octo_api_upload_put;
octo_api_handler octo_api_upload_delete;
/* Manifests (api-manifest.c). */
octo_api_handler octo_api_manifest_get;
octo_api_handler octo_api_manifest_put;
octo_api_handler octo_api_manifest_delete;
/* Lists (api-list.c, api-referrer.c). */
octo_api_handler octo_api_tags_list;
octo_api_handler octo_api_catalog;
octo_api_handler octo_api_referrers;
/* Health (api-health.c): GET /livez and /readyz. */
octo_api_handler octo_api_livez;
octo_api_handler octo_api_readyz;
/* Metrics (api-metrics.c): GET metrics.endpoint, Prometheus text. */
octo_api_handler octo_api_metrics;
/* The built-in token issuer (api-token.c): GET and POST at auth.token.realm. */
octo_api_handler octo_api_token;

#endif
