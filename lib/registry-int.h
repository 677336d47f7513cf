/* SPDX-License-Identifier: Apache-2.0 */
/* Shared between the registry's request handlers (not installed, not for adapters). */
#ifndef OCTO_REGISTRY_INT_H
#define OCTO_REGISTRY_INT_H

#include "digest.h"
#include "name.h"
#include "registry.h"
#include "store.h"

struct octo_registry {
	const struct octo_config *cfg;
	struct octo_logger *log;
	struct octo_store *store;
	char *base_url; /* server.external_url without a trailing '/', or "" */
};

#define QUERY_MAX_PARAMS 16

/* A parsed query string; keys and values are percent-decoded and NUL-terminated. */
struct query {
	size_t n;
	struct {
		char *key;
		char *value;
	} params[QUERY_MAX_PARAMS];
	char *storage;
};

/* One routed request: the repository name and what follows it, both decoded. */
struct route {
	const struct octo_request *req;
	const char *method;
	char name[OCTO_NAME_MAX + 1];
	const char *tail;   /* digest, upload id, reference; "" when none */
	char *tail_storage; /* owns tail */
	size_t tail_len;
	struct query query;
};

/* The first value of a query parameter, or NULL. */
const char *query_get(const struct query *q, const char *key);

/* Append a change to the journal (durable before the response). d and tag may be NULL. */
enum octo_err record_change(struct octo_registry *reg, const char *type, const char *repo,
			    const struct octo_digest *d, const char *tag);

/* Response building. Each returns 0, or -1 when the response is full (the handler then
 * answers 500). */
int resp_header(struct octo_response *resp, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void resp_error(struct octo_registry *reg, struct octo_response *resp, enum octo_err err,
		const char *detail);
/* 405 UNSUPPORTED for a DELETE while storage.delete_enabled is false; allow lists the
 * methods that remain. */
void resp_deletes_disabled(struct octo_registry *reg, struct octo_response *resp,
			   const char *allow);

/* Blob and upload endpoints (blobs.c). */
void blob_get(struct octo_registry *reg, struct route *rt, struct octo_response *resp);
void blob_delete(struct octo_registry *reg, struct route *rt, struct octo_response *resp);
void upload_start(struct octo_registry *reg, struct route *rt, struct octo_response *resp);
void upload_status(struct octo_registry *reg, struct route *rt, struct octo_response *resp);
void upload_patch(struct octo_registry *reg, struct route *rt, struct octo_response *resp);
void upload_put(struct octo_registry *reg, struct route *rt, struct octo_response *resp);
void upload_delete(struct octo_registry *reg, struct route *rt, struct octo_response *resp);

/* Manifest, tag, catalog and referrers endpoints (manifests.c). */
void manifest_get(struct octo_registry *reg, struct route *rt, struct octo_response *resp);
void manifest_put(struct octo_registry *reg, struct route *rt, struct octo_response *resp);
void manifest_delete(struct octo_registry *reg, struct route *rt, struct octo_response *resp);
void tags_list(struct octo_registry *reg, struct route *rt, struct octo_response *resp);
void catalog(struct octo_registry *reg, struct route *rt, struct octo_response *resp);
void referrers(struct octo_registry *reg, struct route *rt, struct octo_response *resp);

#endif
