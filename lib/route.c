/* SPDX-License-Identifier: Apache-2.0 */
/* See route.h. */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"
#include "route.h"

static void base(struct octo_registry *reg, struct octo_route *rt, struct octo_response *resp)
{
	(void)reg;
	(void)rt;
	resp->body = strdup("{}");
	resp->body_len = resp->body ? 2 : 0;
	octo_response_add_header(resp, "Content-Type", "application/json");
}

/* Every method of every endpoint, in the order of the Allow header; GET also answers HEAD
 * (the handler drops the body). */
#define PULL OCTO_ACCESS_PULL
#define PUSH (OCTO_ACCESS_PULL | OCTO_ACCESS_PUSH) /* a push reads what it writes, as clients ask */
#define DELETE OCTO_ACCESS_DELETE

static const struct route_entry {
	enum octo_endpoint ep;
	const char *method;
	octo_api_handler *handler;
	int deletes; /* refused while storage.delete_enabled is false */
	enum octo_need_kind need;
	unsigned actions; /* OCTO_NEED_REPOSITORY: on the route's repository */
} routes[] = {
	{OCTO_EP_BASE, "GET", base, 0, OCTO_NEED_LOGIN, 0},
	{OCTO_EP_CATALOG, "GET", octo_api_catalog, 0, OCTO_NEED_CATALOG, 0},
	{OCTO_EP_UPLOADS, "POST", octo_api_upload_start, 0, OCTO_NEED_REPOSITORY, PUSH},
	{OCTO_EP_UPLOAD, "GET", octo_api_upload_status, 0, OCTO_NEED_REPOSITORY, PUSH},
	{OCTO_EP_UPLOAD, "PATCH", octo_api_upload_patch, 0, OCTO_NEED_REPOSITORY, PUSH},
	{OCTO_EP_UPLOAD, "PUT", octo_api_upload_put, 0, OCTO_NEED_REPOSITORY, PUSH},
	/* cancels a session: not a delete */
	{OCTO_EP_UPLOAD, "DELETE", octo_api_upload_delete, 0, OCTO_NEED_REPOSITORY, PUSH},
	{OCTO_EP_BLOB, "GET", octo_api_blob_get, 0, OCTO_NEED_REPOSITORY, PULL},
	{OCTO_EP_BLOB, "DELETE", octo_api_blob_delete, 1, OCTO_NEED_REPOSITORY, DELETE},
	{OCTO_EP_MANIFEST, "GET", octo_api_manifest_get, 0, OCTO_NEED_REPOSITORY, PULL},
	{OCTO_EP_MANIFEST, "PUT", octo_api_manifest_put, 0, OCTO_NEED_REPOSITORY, PUSH},
	{OCTO_EP_MANIFEST, "DELETE", octo_api_manifest_delete, 1, OCTO_NEED_REPOSITORY, DELETE},
	{OCTO_EP_TAGS, "GET", octo_api_tags_list, 0, OCTO_NEED_REPOSITORY, PULL},
	{OCTO_EP_REFERRERS, "GET", octo_api_referrers, 0, OCTO_NEED_REPOSITORY, PULL},
	{OCTO_EP_LIVEZ, "GET", octo_api_livez, 0, OCTO_NEED_NONE, 0},
	{OCTO_EP_READYZ, "GET", octo_api_readyz, 0, OCTO_NEED_NONE, 0},
	{OCTO_EP_METRICS, "GET", octo_api_metrics, 0, OCTO_NEED_NONE, 0}, /* metrics.basic_auth */
	{OCTO_EP_TOKEN, "GET", octo_api_token, 0, OCTO_NEED_NONE, 0},
	{OCTO_EP_TOKEN, "POST", octo_api_token, 0, OCTO_NEED_NONE, 0},
};

#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

/* The methods ep answers ("GET, HEAD, DELETE"), leaving out deletes when they are
 * disabled and all but reads when the registry is read-only, for the Allow header (RFC 9110
 * 15.5.6 and 10.2.1). */
static void add_allow(struct octo_response *resp, enum octo_endpoint ep, int deletes, int readonly)
{
	char allow[128];
	size_t i, pos = 0;

	for (i = 0; i < N_ROUTES; i++) {
		int n;
		if (routes[i].ep != ep || (routes[i].deletes && !deletes) ||
		    (readonly && strcmp(routes[i].method, "GET") != 0))
			continue;
		n = snprintf(allow + pos, sizeof(allow) - pos, "%s%s%s", pos > 0 ? ", " : "",
			     routes[i].method,
			     strcmp(routes[i].method, "GET") == 0 ? ", HEAD" : "");
		if (n < 0 || (size_t)n >= sizeof(allow) - pos)
			break; /* cannot happen: the longest list is 29 bytes */
		pos += (size_t)n;
	}
	allow[pos] = '\0';
	octo_response_add_header(resp, "Allow", "%s", allow);
}

/* Find the last occurrence of needle in path[0..len) whose remainder has no '/'. */
static const char *last_segment(const char *path, size_t len, const char *needle)
{
	size_t nlen = strlen(needle);
	const char *p;

	if (len < nlen)
		return NULL;
	for (p = path + len - nlen;; p--) {
		if (memcmp(p, needle, nlen) == 0)
			return memchr(p + nlen, '/', len - (size_t)(p - path) - nlen) ? NULL : p;
		if (p == path)
			return NULL;
	}
}

/* Split the raw "<name><sep><tail>", then decode each part on its own, so that an encoded
 * '/' can never move a boundary; validate the name. */
static enum octo_err route_name(struct octo_route *rt, const char *path, const char *sep,
				size_t seplen)
{
	size_t nlen = (size_t)(sep - path);
	const char *tail = sep + seplen;
	char *name = malloc(nlen + 1);

	if (name == NULL)
		return OCTO_ERR_NOMEM;
	if (octo_percent_decode(path, nlen, name) != 0 || !octo_name_valid(name, strlen(name))) {
		free(name);
		return OCTO_ERR_NAME_INVALID;
	}
	memcpy(rt->name, name, strlen(name) + 1);
	free(name);
	rt->tail_storage = malloc(strlen(tail) + 1);
	if (rt->tail_storage == NULL)
		return OCTO_ERR_NOMEM;
	if (octo_percent_decode(tail, strlen(tail), rt->tail_storage) != 0)
		return OCTO_ERR_BAD_REQUEST;
	rt->tail = rt->tail_storage;
	rt->tail_len = strlen(rt->tail);
	return OCTO_OK;
}

/* The endpoint of path; metrics: metrics.endpoint, or NULL when metrics are off; issuer: the
 * built-in token issuer's path, or NULL. */
static enum octo_endpoint route(struct octo_route *rt, const char *path, const char *metrics,
				const char *issuer, enum octo_err *err)
{
	size_t len;
	const char *sep;

	*err = OCTO_OK;
	rt->tail = "";
	if (strcmp(path, "/v2") == 0 || strcmp(path, "/v2/") == 0)
		return OCTO_EP_BASE;
	if (strcmp(path, "/livez") == 0)
		return OCTO_EP_LIVEZ;
	if (strcmp(path, "/readyz") == 0)
		return OCTO_EP_READYZ;
	if (metrics != NULL && strcmp(path, metrics) == 0)
		return OCTO_EP_METRICS;
	if (issuer != NULL && strcmp(path, issuer) == 0)
		return OCTO_EP_TOKEN;
	if (strncmp(path, "/v2/", 4) != 0)
		return OCTO_EP_NONE;
	path += 4;
	len = strlen(path);
	if (strcmp(path, "_catalog") == 0)
		return OCTO_EP_CATALOG;
	if (len >= 10 && strcmp(path + len - 10, "/tags/list") == 0) {
		*err = route_name(rt, path, path + len - 10, 10);
		return OCTO_EP_TAGS;
	}
	if (len >= 14 && strcmp(path + len - 14, "/blobs/uploads") == 0) {
		*err = route_name(rt, path, path + len - 14, 14);
		return OCTO_EP_UPLOADS;
	}
	if ((sep = last_segment(path, len, "/blobs/uploads/")) != NULL) {
		*err = route_name(rt, path, sep, 15);
		return rt->tail_len == 0 ? OCTO_EP_UPLOADS : OCTO_EP_UPLOAD;
	}
	if ((sep = last_segment(path, len, "/blobs/")) != NULL) {
		*err = route_name(rt, path, sep, 7);
		return OCTO_EP_BLOB;
	}
	if ((sep = last_segment(path, len, "/manifests/")) != NULL) {
		*err = route_name(rt, path, sep, 11);
		return OCTO_EP_MANIFEST;
	}
	if ((sep = last_segment(path, len, "/referrers/")) != NULL) {
		*err = route_name(rt, path, sep, 11);
		return OCTO_EP_REFERRERS;
	}
	return OCTO_EP_NONE;
}

void octo_route_dispatch(struct octo_registry *reg, struct octo_route *rt, const char *path,
			 struct octo_response *resp)
{
	const char *method = strcmp(rt->method, "HEAD") == 0 ? "GET" : rt->method;
	int deletes = reg->cfg->storage.delete_enabled;
	enum octo_err err;
	enum octo_endpoint ep =
		route(rt, path, reg->metrics != NULL ? reg->cfg->metrics.endpoint : NULL,
		      octo_auth_issuer_path(reg->auth), &err);
	size_t i;

	resp->endpoint = ep;
	if (err != OCTO_OK)
		return octo_response_error(resp, err, NULL);
	if (ep == OCTO_EP_NONE)
		return octo_response_error(resp, OCTO_ERR_NOT_FOUND, NULL);
	for (i = 0; i < N_ROUTES; i++) {
		if (routes[i].ep != ep || strcmp(routes[i].method, method) != 0)
			continue;
		if (reg->auth != NULL && routes[i].need != OCTO_NEED_NONE) {
			struct octo_need need = {routes[i].need, rt->name, routes[i].actions};
			octo_auth_identify(reg->auth, rt->req, &rt->caller);
			snprintf(resp->user, sizeof(resp->user), "%s", rt->caller.user);
			if (!octo_auth_allow(reg->auth, rt->req, reg->base_url, &rt->caller, &need,
					     resp))
				return;
		}
		/* The issuer answers while the store is read-only: it writes nothing that lasts. */
		if (reg->cfg->storage.readonly && strcmp(method, "GET") != 0 &&
		    ep != OCTO_EP_TOKEN) {
			octo_response_error(resp, OCTO_ERR_UNSUPPORTED,
					    "the registry is read-only (storage.readonly): "
					    "pulls go on, pushes and deletes are refused");
			add_allow(resp, ep, 0, 1);
			return;
		}
		if (routes[i].deletes && !deletes) {
			octo_response_error(resp, OCTO_ERR_UNSUPPORTED, "deletes are disabled");
			add_allow(resp, ep, 0, 0);
			return;
		}
		return routes[i].handler(reg, rt, resp);
	}
	octo_response_error(resp, OCTO_ERR_METHOD, rt->method);
	add_allow(resp, ep, 1, reg->cfg->storage.readonly);
}
