/* SPDX-License-Identifier: Apache-2.0 */
/* Request routing (distribution-spec "Endpoints" table) and response helpers. Routing works
 * on the raw REQUEST_URI, which every web front passes unchanged (notes/web-fronts.md). */
#include "autoconfig.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "journal.h"
#include "registry-int.h"

enum octo_err octo_registry_new(const struct octo_config *cfg, struct octo_logger *log,
				struct octo_registry **out)
{
	struct octo_registry *reg;
	enum octo_err err;
	size_t len;

	*out = NULL;
	reg = calloc(1, sizeof(*reg));
	if (reg == NULL)
		return OCTO_ERR_NOMEM;
	reg->cfg = cfg;
	reg->log = log;
	reg->base_url = strdup(cfg->server.external_url ? cfg->server.external_url : "");
	if (reg->base_url == NULL) {
		free(reg);
		return OCTO_ERR_NOMEM;
	}
	len = strlen(reg->base_url);
	while (len > 0 && reg->base_url[len - 1] == '/')
		reg->base_url[--len] = '\0';
	err = octo_store_open(cfg->storage.path, &reg->store);
	if (err != OCTO_OK) {
		octo_registry_free(reg);
		return err;
	}
	*out = reg;
	return OCTO_OK;
}

void octo_registry_free(struct octo_registry *reg)
{
	if (reg == NULL)
		return;
	octo_store_free(reg->store);
	free(reg->base_url);
	free(reg);
}

void octo_response_init(struct octo_response *resp)
{
	memset(resp, 0, sizeof(*resp));
	resp->status = 200;
	resp->file_fd = -1;
}

void octo_response_cleanup(struct octo_response *resp)
{
	size_t i;

	for (i = 0; i < resp->n_headers; i++)
		free(resp->headers[i].value);
	free(resp->body);
	if (resp->file_fd >= 0)
		close(resp->file_fd);
	octo_response_init(resp);
}

const char *octo_response_header(const struct octo_response *resp, const char *name)
{
	size_t i;

	for (i = 0; i < resp->n_headers; i++)
		if (strcasecmp(resp->headers[i].name, name) == 0)
			return resp->headers[i].value;
	return NULL;
}

const char *octo_request_header(const struct octo_request *req, const char *name)
{
	size_t i;

	for (i = 0; i < req->n_headers; i++)
		if (strcasecmp(req->headers[i].name, name) == 0)
			return req->headers[i].value;
	return NULL;
}

enum octo_err record_change(struct octo_registry *reg, const char *type, const char *repo,
			    const struct octo_digest *d, const char *tag)
{
	char ds[OCTO_DIGEST_MAX_STRING];
	struct octo_journal_event ev = {
		.type = type, .repo = repo, .digest = d ? ds : NULL, .tag = tag};

	if (d != NULL)
		octo_digest_format(d, ds, sizeof(ds));
	return octo_journal_append(octo_store_root(reg->store), &ev, NULL);
}

long long octo_content_length(const char *value)
{
	unsigned long long v = 0;
	const char *p;

	if (value == NULL || *value == '\0')
		return -1;
	for (p = value; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || v > (unsigned long long)(LLONG_MAX - 9) / 10)
			return OCTO_CONTENT_LENGTH_INVALID;
		v = v * 10 + (unsigned)(*p - '0');
	}
	return (long long)v;
}

int resp_header(struct octo_response *resp, const char *name, const char *fmt, ...)
{
	va_list ap;
	char *value;
	int n;

	if (resp->n_headers == OCTO_RESPONSE_MAX_HEADERS)
		return -1;
	va_start(ap, fmt);
	n = vasprintf(&value, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	resp->headers[resp->n_headers].name = name;
	resp->headers[resp->n_headers].value = value;
	resp->n_headers++;
	return 0;
}

void resp_error(struct octo_registry *reg, struct octo_response *resp, enum octo_err err,
		const char *detail)
{
	octo_response_cleanup(resp); /* drop whatever the handler had put together */
	resp->error = err;
	resp->status = octo_err_status(err);
	resp->body = octo_err_json(err, detail, &resp->body_len);
	resp_header(resp, "Content-Type", "application/json");
	if (resp->status >= 500) {
		struct octo_log_field f[] = {{.key = "code", .str = octo_err_code(err)},
					     {.key = "detail", .str = detail ? detail : ""}};
		octo_log(reg->log, OCTO_LOG_ERROR, "store error", f, 2);
	}
}

void resp_deletes_disabled(struct octo_registry *reg, struct octo_response *resp, const char *allow)
{
	resp_error(reg, resp, OCTO_ERR_UNSUPPORTED, "deletes are disabled");
	resp_header(resp, "Allow", "%s", allow);
}

/* Percent-decode src[0..len) into dst (room for len + 1). Rejects bad escapes and NUL. */
static int percent_decode(const char *src, size_t len, char *dst)
{
	static const char hex[] = "0123456789abcdef0123456789ABCDEF";
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		if (src[i] == '%') {
			const char *h, *l;
			if (i + 2 >= len)
				return -1;
			h = memchr(hex, src[i + 1], sizeof(hex) - 1);
			l = memchr(hex, src[i + 2], sizeof(hex) - 1);
			if (h == NULL || l == NULL)
				return -1;
			dst[o] = (char)((((h - hex) & 15) << 4) | ((l - hex) & 15));
			if (dst[o] == '\0')
				return -1;
			o++;
			i += 2;
		} else {
			dst[o++] = src[i];
		}
	}
	dst[o] = '\0';
	return 0;
}

static int query_parse(const char *raw, struct query *q)
{
	size_t len = strlen(raw);
	char *p;

	memset(q, 0, sizeof(*q));
	if (len == 0)
		return 0;
	q->storage = malloc(2 * len + 2);
	if (q->storage == NULL)
		return -1;
	p = q->storage;
	while (*raw != '\0') {
		const char *amp = strchr(raw, '&');
		size_t plen = amp ? (size_t)(amp - raw) : strlen(raw);
		const char *eq = memchr(raw, '=', plen);
		size_t klen = eq ? (size_t)(eq - raw) : plen;

		if (plen > 0) {
			if (q->n == QUERY_MAX_PARAMS)
				return -1;
			q->params[q->n].key = p;
			if (percent_decode(raw, klen, p) != 0)
				return -1;
			p += strlen(p) + 1;
			q->params[q->n].value = p;
			if (percent_decode(eq ? eq + 1 : raw + plen, eq ? plen - klen - 1 : 0, p) !=
			    0)
				return -1;
			p += strlen(p) + 1;
			q->n++;
		}
		raw += plen;
		if (*raw == '&')
			raw++;
	}
	return 0;
}

const char *query_get(const struct query *q, const char *key)
{
	size_t i;

	for (i = 0; i < q->n; i++)
		if (strcmp(q->params[i].key, key) == 0)
			return q->params[i].value;
	return NULL;
}

static int method_is(const struct route *rt, const char *m)
{
	return strcmp(rt->method, m) == 0;
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

enum endpoint {
	EP_NONE,
	EP_BASE,
	EP_CATALOG,
	EP_UPLOADS,
	EP_UPLOAD,
	EP_BLOB,
	EP_MANIFEST,
	EP_TAGS,
	EP_REFERRERS
};

/* Split the raw "<name><sep><tail>", then decode each part on its own, so that an encoded
 * '/' can never move a boundary; validate the name. */
static enum octo_err route_name(struct route *rt, const char *path, const char *sep, size_t seplen)
{
	size_t nlen = (size_t)(sep - path);
	const char *tail = sep + seplen;
	char *name = malloc(nlen + 1);

	if (name == NULL)
		return OCTO_ERR_NOMEM;
	if (percent_decode(path, nlen, name) != 0 || !octo_name_valid(name, strlen(name))) {
		free(name);
		return OCTO_ERR_NAME_INVALID;
	}
	memcpy(rt->name, name, strlen(name) + 1);
	free(name);
	rt->tail_storage = malloc(strlen(tail) + 1);
	if (rt->tail_storage == NULL)
		return OCTO_ERR_NOMEM;
	if (percent_decode(tail, strlen(tail), rt->tail_storage) != 0)
		return OCTO_ERR_BAD_REQUEST;
	rt->tail = rt->tail_storage;
	rt->tail_len = strlen(rt->tail);
	return OCTO_OK;
}

static enum endpoint route(struct route *rt, const char *path, enum octo_err *err)
{
	size_t len;
	const char *sep;

	*err = OCTO_OK;
	if (strcmp(path, "/v2") == 0 || strcmp(path, "/v2/") == 0)
		return EP_BASE;
	if (strncmp(path, "/v2/", 4) != 0)
		return EP_NONE;
	path += 4;
	len = strlen(path);
	if (strcmp(path, "_catalog") == 0)
		return EP_CATALOG;
	if (len >= 10 && strcmp(path + len - 10, "/tags/list") == 0) {
		*err = route_name(rt, path, path + len - 10, 10);
		return EP_TAGS;
	}
	if (len >= 14 && strcmp(path + len - 14, "/blobs/uploads") == 0) {
		*err = route_name(rt, path, path + len - 14, 14);
		return EP_UPLOADS;
	}
	if ((sep = last_segment(path, len, "/blobs/uploads/")) != NULL) {
		*err = route_name(rt, path, sep, 15);
		return rt->tail_len == 0 ? EP_UPLOADS : EP_UPLOAD;
	}
	if ((sep = last_segment(path, len, "/blobs/")) != NULL) {
		*err = route_name(rt, path, sep, 7);
		return EP_BLOB;
	}
	if ((sep = last_segment(path, len, "/manifests/")) != NULL) {
		*err = route_name(rt, path, sep, 11);
		return EP_MANIFEST;
	}
	if ((sep = last_segment(path, len, "/referrers/")) != NULL) {
		*err = route_name(rt, path, sep, 11);
		return EP_REFERRERS;
	}
	return EP_NONE;
}

static void base(struct octo_response *resp)
{
	resp->body = strdup("{}");
	resp->body_len = resp->body ? 2 : 0;
	resp_header(resp, "Content-Type", "application/json");
}

/* The methods each endpoint answers, for the Allow header of a 405 (RFC 9110 15.5.6). */
static const char *const allowed[] = {
	[EP_NONE] = "",
	[EP_BASE] = "GET, HEAD",
	[EP_CATALOG] = "GET, HEAD",
	[EP_UPLOADS] = "POST",
	[EP_UPLOAD] = "GET, HEAD, PATCH, PUT, DELETE",
	[EP_BLOB] = "GET, HEAD, DELETE",
	[EP_MANIFEST] = "GET, HEAD, PUT, DELETE",
	[EP_TAGS] = "GET, HEAD",
	[EP_REFERRERS] = "GET, HEAD",
};

static void dispatch(struct octo_registry *reg, struct route *rt, enum endpoint ep,
		     struct octo_response *resp)
{
	int get = method_is(rt, "GET") || method_is(rt, "HEAD");

	switch (ep) {
	case EP_BASE:
		if (get)
			return base(resp);
		break;
	case EP_CATALOG:
		if (get)
			return catalog(reg, rt, resp);
		break;
	case EP_MANIFEST:
		if (get)
			return manifest_get(reg, rt, resp);
		if (method_is(rt, "PUT"))
			return manifest_put(reg, rt, resp);
		if (method_is(rt, "DELETE"))
			return manifest_delete(reg, rt, resp);
		break;
	case EP_TAGS:
		if (get)
			return tags_list(reg, rt, resp);
		break;
	case EP_REFERRERS:
		if (get)
			return referrers(reg, rt, resp);
		break;
	case EP_UPLOADS:
		if (method_is(rt, "POST"))
			return upload_start(reg, rt, resp);
		break;
	case EP_UPLOAD:
		if (get)
			return upload_status(reg, rt, resp);
		if (method_is(rt, "PATCH"))
			return upload_patch(reg, rt, resp);
		if (method_is(rt, "PUT"))
			return upload_put(reg, rt, resp);
		if (method_is(rt, "DELETE"))
			return upload_delete(reg, rt, resp);
		break;
	case EP_BLOB:
		if (get)
			return blob_get(reg, rt, resp);
		if (method_is(rt, "DELETE"))
			return blob_delete(reg, rt, resp);
		break;
	case EP_NONE:
		return resp_error(reg, resp, OCTO_ERR_NOT_FOUND, NULL);
	}
	resp_error(reg, resp, OCTO_ERR_METHOD, rt->method);
	resp_header(resp, "Allow", "%s", allowed[ep]);
}

/* Headers every response carries, Content-Length, and no body for HEAD. */
static void finish(const struct route *rt, struct octo_response *resp)
{
	if (octo_response_header(resp, "Content-Length") == NULL &&
	    octo_response_header(resp, "X-Sendfile") == NULL &&
	    octo_response_header(resp, "X-Accel-Redirect") == NULL)
		resp_header(resp, "Content-Length", "%llu",
			    resp->file_fd >= 0 ? (unsigned long long)resp->file_length
					       : (unsigned long long)resp->body_len);
	resp_header(resp, "Docker-Distribution-API-Version", "registry/2.0");
	if (method_is(rt, "HEAD")) {
		free(resp->body);
		resp->body = NULL;
		resp->body_len = 0;
		if (resp->file_fd >= 0)
			close(resp->file_fd);
		resp->file_fd = -1;
	}
}

void octo_registry_handle(struct octo_registry *reg, const struct octo_request *req,
			  struct octo_response *resp)
{
	struct route rt;
	const char *qmark = strchr(req->uri, '?');
	size_t plen = qmark ? (size_t)(qmark - req->uri) : strlen(req->uri);
	char *path = malloc(plen + 1);
	enum octo_err err;
	enum endpoint ep;

	memset(&rt, 0, sizeof(rt));
	rt.req = req;
	rt.method = req->method;
	if (path == NULL) {
		resp_error(reg, resp, OCTO_ERR_NOMEM, NULL);
		goto out;
	}
	/* Routing works on the raw path; this only rejects malformed escapes early. */
	if (percent_decode(req->uri, plen, path) != 0) {
		resp_error(reg, resp, OCTO_ERR_BAD_REQUEST, "bad percent-encoding in path");
		goto out;
	}
	memcpy(path, req->uri, plen);
	path[plen] = '\0';
	if (req->body.length == OCTO_CONTENT_LENGTH_INVALID) {
		resp_error(reg, resp, OCTO_ERR_BAD_REQUEST, "malformed Content-Length");
		goto out;
	}
	if (query_parse(qmark ? qmark + 1 : "", &rt.query) != 0) {
		resp_error(reg, resp, OCTO_ERR_BAD_REQUEST, "malformed query string");
		goto out;
	}
	ep = route(&rt, path, &err);
	if (err != OCTO_OK)
		resp_error(reg, resp, err, NULL);
	else
		dispatch(reg, &rt, ep, resp);
out:
	if (resp->status >= 500 && resp->body == NULL && resp->n_headers == 0)
		resp_error(reg, resp, OCTO_ERR_NOMEM, NULL);
	finish(&rt, resp);
	free(rt.query.storage);
	free(rt.tail_storage);
	free(path);
}
