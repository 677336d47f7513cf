/* SPDX-License-Identifier: Apache-2.0 */
/* Blob and upload endpoints: distribution-spec end-2, end-4a/4b, end-5, end-6, end-10,
 * end-11, end-13 and "Mounting a blob from another repository". */
#include "autoconfig.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "registry-int.h"
#include "upload.h"

static enum octo_err tail_digest(const struct route *rt, struct octo_digest *d)
{
	return octo_digest_parse(rt->tail, rt->tail_len, d);
}

/* Parse a single "bytes=a-b", "bytes=a-" or "bytes=-n" range against size. Returns 1 and
 * sets [*start, *end] for a satisfiable range, 0 to ignore the header (absent, malformed
 * or several ranges: RFC 9110 14.2 lets a server ignore those), -1 when unsatisfiable. */
static int parse_range(const char *h, uint64_t size, uint64_t *start, uint64_t *end)
{
	unsigned long long a = 0, b = 0;
	int n = 0;

	if (h == NULL || strncmp(h, "bytes=", 6) != 0 || strchr(h, ',') != NULL)
		return 0;
	h += 6;
	if (h[0] == '-') {
		if (sscanf(h, "-%llu%n", &b, &n) != 1 || h[n] != '\0')
			return 0;
		if (b == 0 || size == 0)
			return -1;
		*start = b >= size ? 0 : size - b;
		*end = size - 1;
		return 1;
	}
	if (h[0] < '0' || h[0] > '9')
		return 0;
	if (sscanf(h, "%llu-%n", &a, &n) == 1 && h[n] == '\0') {
		b = size == 0 ? 0 : size - 1;
	} else if (sscanf(h, "%llu-%llu%n", &a, &b, &n) != 2 || h[n] != '\0' || b < a) {
		return 0;
	}
	if (a >= size)
		return -1;
	*start = a;
	*end = b >= size ? size - 1 : b;
	return 1;
}

/* Point the front at the blob file (X-Sendfile / X-Accel-Redirect) instead of streaming. */
static int blob_sendfile(struct octo_registry *reg, struct octo_response *resp,
			 const struct octo_digest *d)
{
	char path[PATH_MAX];

	switch (reg->cfg->fcgi.sendfile) {
	case OCTO_SENDFILE_X_SENDFILE:
		if (octo_store_blob_path(reg->store, d, path, sizeof(path)) != OCTO_OK)
			return -1;
		return resp_header(resp, "X-Sendfile", "%s", path);
	case OCTO_SENDFILE_X_ACCEL:
		return resp_header(resp, "X-Accel-Redirect", "%s%s/%.2s/%s",
				   reg->cfg->fcgi.sendfile_prefix, octo_digest_alg_name(d->alg),
				   d->hex, d->hex);
	case OCTO_SENDFILE_NONE:
		break;
	}
	return -1;
}

void blob_get(struct octo_registry *reg, struct route *rt, struct octo_response *resp)
{
	int get = strcmp(rt->method, "GET") == 0;
	/* Only a streamed GET needs the file open: HEAD and sendfile answers need its size. */
	int stream = get && reg->cfg->fcgi.sendfile == OCTO_SENDFILE_NONE;
	char ds[OCTO_DIGEST_MAX_STRING];
	struct octo_digest d;
	uint64_t size, start = 0, end = 0;
	enum octo_err err;
	int fd = -1, range;

	err = tail_digest(rt, &d);
	if (err == OCTO_OK)
		err = stream ? octo_store_blob_open(reg->store, rt->name, &d, &fd, &size)
			     : octo_store_blob_linked(reg->store, rt->name, &d, &size);
	if (err != OCTO_OK)
		return resp_error(reg, resp, err, NULL);
	range = get ? parse_range(octo_request_header(rt->req, "Range"), size, &start, &end) : 0;
	if (range < 0) {
		if (fd >= 0)
			close(fd);
		resp_error(reg, resp, OCTO_ERR_RANGE_UNSATISFIABLE, NULL);
		resp_header(resp, "Content-Range", "bytes */%" PRIu64, size);
		return;
	}
	octo_digest_format(&d, ds, sizeof(ds));
	resp_header(resp, "Docker-Content-Digest", "%s", ds);
	resp_header(resp, "Content-Type", "application/octet-stream");
	resp_header(resp, "ETag", "\"%s\"", ds);
	/* nginx says Accept-Ranges itself for an X-Accel-Redirect; mod_xsendfile does not. */
	if (!get || reg->cfg->fcgi.sendfile != OCTO_SENDFILE_X_ACCEL)
		resp_header(resp, "Accept-Ranges", "bytes");
	/* The front answers Range and Content-Length itself for a sendfile response
	 * (web-fronts.md §2). */
	if (get && !stream && blob_sendfile(reg, resp, &d) == 0)
		return;
	if (!get) {
		resp_header(resp, "Content-Length", "%" PRIu64, size);
		return;
	}
	resp->file_fd = fd;
	if (range > 0) {
		resp->status = 206;
		resp->file_offset = start;
		resp->file_length = end - start + 1;
		resp_header(resp, "Content-Range", "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, start,
			    end, size);
	} else {
		resp->file_length = size;
	}
}

void blob_delete(struct octo_registry *reg, struct route *rt, struct octo_response *resp)
{
	struct octo_digest d;
	enum octo_err err;

	if (!reg->cfg->storage.delete_enabled)
		return resp_deletes_disabled(reg, resp, "GET, HEAD");
	err = tail_digest(rt, &d);
	if (err == OCTO_OK)
		err = octo_store_unlink_blob(reg->store, rt->name, &d);
	if (err == OCTO_OK)
		err = record_change(reg, "blob.delete", rt->name, &d, NULL);
	if (err != OCTO_OK)
		return resp_error(reg, resp, err, NULL);
	resp->status = 202;
}

/* 201 for a blob now linked into the repository. */
static void blob_created(struct octo_registry *reg, struct route *rt, struct octo_response *resp,
			 const struct octo_digest *d)
{
	char ds[OCTO_DIGEST_MAX_STRING];

	octo_digest_format(d, ds, sizeof(ds));
	resp->status = 201;
	resp_header(resp, "Location", "%s/v2/%s/blobs/%s", reg->base_url, rt->name, ds);
	resp_header(resp, "Docker-Content-Digest", "%s", ds);
}

/* Link d into rt->name and record it; then answer 201. */
static void link_and_answer(struct octo_registry *reg, struct route *rt, struct octo_response *resp,
			    const struct octo_digest *d, const char *event)
{
	enum octo_err err = octo_store_link_blob(reg->store, rt->name, d);

	if (err == OCTO_OK)
		err = record_change(reg, event, rt->name, d, NULL);
	if (err != OCTO_OK)
		return resp_error(reg, resp, err, NULL);
	blob_created(reg, rt, resp, d);
}

/* Headers of a session that goes on: Location, Range, Docker-Upload-UUID. */
static void session_headers(struct octo_registry *reg, struct route *rt, struct octo_response *resp,
			    const struct octo_upload *u)
{
	uint64_t off = octo_upload_offset(u);

	resp_header(resp, "Location", "%s/v2/%s/blobs/uploads/%s", reg->base_url, rt->name,
		    octo_upload_id(u));
	resp_header(resp, "Range", "0-%" PRIu64, off > 0 ? off - 1 : 0);
	resp_header(resp, "Docker-Upload-UUID", "%s", octo_upload_id(u));
}

/* ?mount=<digest>[&from=<repo>]: 1 when answered (201 or an error), 0 to fall through to
 * a normal upload. Without from, any blob in the store can be mounted (automatic mount). */
static int try_mount(struct octo_registry *reg, struct route *rt, struct octo_response *resp,
		     const char *mount)
{
	const char *from = query_get(&rt->query, "from");
	struct octo_digest d;
	enum octo_err err;

	if (octo_digest_parse(mount, strlen(mount), &d) != OCTO_OK) {
		resp_error(reg, resp, OCTO_ERR_DIGEST_INVALID, "mount");
		return 1;
	}
	if (from != NULL && !octo_name_valid(from, strlen(from))) {
		resp_error(reg, resp, OCTO_ERR_NAME_INVALID, "from");
		return 1;
	}
	err = from != NULL ? octo_store_blob_linked(reg->store, from, &d, NULL)
			   : octo_store_blob_stat(reg->store, &d, NULL);
	if (err == OCTO_ERR_BLOB_UNKNOWN)
		return 0;
	if (err != OCTO_OK)
		resp_error(reg, resp, err, NULL);
	else
		link_and_answer(reg, rt, resp, &d, "blob.mount");
	return 1;
}

/* Read the body into u and commit it as expected; u is closed. */
static void finish_upload(struct octo_registry *reg, struct route *rt, struct octo_response *resp,
			  struct octo_upload *u, const struct octo_digest *expected)
{
	enum octo_err err = OCTO_OK;

	if (rt->req->body.length != 0)
		err = octo_upload_append(u, (struct octo_body *)&rt->req->body);
	if (err == OCTO_OK)
		err = octo_upload_commit(u, expected);
	octo_upload_close(u);
	if (err != OCTO_OK)
		return resp_error(reg, resp, err, NULL);
	link_and_answer(reg, rt, resp, expected, "blob.put");
}

/* The ?digest= parameter of a finishing request. */
static enum octo_err query_digest(const struct route *rt, struct octo_digest *d)
{
	const char *s = query_get(&rt->query, "digest");

	if (s == NULL)
		return OCTO_ERR_DIGEST_INVALID;
	return octo_digest_parse(s, strlen(s), d);
}

void upload_start(struct octo_registry *reg, struct route *rt, struct octo_response *resp)
{
	const char *mount = query_get(&rt->query, "mount");
	struct octo_upload *u;
	struct octo_digest d;
	enum octo_err err;

	if (mount != NULL && try_mount(reg, rt, resp, mount))
		return;
	if (query_get(&rt->query, "digest") != NULL) { /* monolithic: POST ?digest= */
		err = query_digest(rt, &d);
		if (err == OCTO_OK)
			err = octo_upload_create(reg->store, rt->name, 0, &u);
		if (err != OCTO_OK)
			return resp_error(reg, resp, err, NULL);
		return finish_upload(reg, rt, resp, u, &d);
	}
	err = octo_upload_create(reg->store, rt->name, 1, &u);
	if (err != OCTO_OK)
		return resp_error(reg, resp, err, NULL);
	resp->status = 202;
	session_headers(reg, rt, resp, u);
	octo_upload_close(u);
}

void upload_status(struct octo_registry *reg, struct route *rt, struct octo_response *resp)
{
	struct octo_upload *u;
	enum octo_err err = octo_upload_open(reg->store, rt->name, rt->tail, rt->tail_len, &u);

	if (err != OCTO_OK)
		return resp_error(reg, resp, err, NULL);
	resp->status = 204;
	session_headers(reg, rt, resp, u);
	octo_upload_close(u);
}

/* Check Content-Range "<start>-<end>" against the session: the chunk must start where the
 * data ends (distribution-spec: out-of-order chunks get 416) and match Content-Length. */
static enum octo_err check_content_range(const struct route *rt, const struct octo_upload *u)
{
	const char *h = octo_request_header(rt->req, "Content-Range");
	unsigned long long a, b;
	int n = 0;

	if (h == NULL)
		return OCTO_OK;
	if (strncmp(h, "bytes=", 6) == 0 || strncmp(h, "bytes ", 6) == 0)
		h += 6;
	if (sscanf(h, "%llu-%llu%n", &a, &b, &n) != 2 || h[n] != '\0' || b < a)
		return OCTO_ERR_RANGE_INVALID;
	if (a != octo_upload_offset(u))
		return OCTO_ERR_RANGE_INVALID;
	if (rt->req->body.length >= 0 && b - a + 1 != (unsigned long long)rt->req->body.length)
		return OCTO_ERR_RANGE_INVALID;
	return OCTO_OK;
}

void upload_patch(struct octo_registry *reg, struct route *rt, struct octo_response *resp)
{
	struct octo_upload *u;
	enum octo_err err = octo_upload_open(reg->store, rt->name, rt->tail, rt->tail_len, &u);

	if (err != OCTO_OK)
		return resp_error(reg, resp, err, NULL);
	err = check_content_range(rt, u);
	if (err == OCTO_OK)
		err = octo_upload_append(u, (struct octo_body *)&rt->req->body);
	if (err != OCTO_OK)
		resp_error(reg, resp, err, NULL);
	else
		resp->status = 202;
	session_headers(reg, rt, resp, u);
	octo_upload_close(u);
}

void upload_put(struct octo_registry *reg, struct route *rt, struct octo_response *resp)
{
	struct octo_upload *u;
	struct octo_digest d;
	enum octo_err err = query_digest(rt, &d);

	if (err == OCTO_OK)
		err = octo_upload_open(reg->store, rt->name, rt->tail, rt->tail_len, &u);
	if (err != OCTO_OK)
		return resp_error(reg, resp, err, NULL);
	err = check_content_range(rt, u);
	if (err != OCTO_OK) {
		resp_error(reg, resp, err, NULL);
		session_headers(reg, rt, resp, u);
		octo_upload_close(u);
		return;
	}
	finish_upload(reg, rt, resp, u, &d);
}

void upload_delete(struct octo_registry *reg, struct route *rt, struct octo_response *resp)
{
	struct octo_upload *u;
	enum octo_err err = octo_upload_open(reg->store, rt->name, rt->tail, rt->tail_len, &u);

	if (err == OCTO_OK) {
		err = octo_upload_cancel(u);
		octo_upload_close(u);
	}
	if (err != OCTO_OK)
		return resp_error(reg, resp, err, NULL);
	resp->status = 204;
}
