/* SPDX-License-Identifier: Apache-2.0 */
/* Blob endpoints: distribution-spec end-2 (GET, HEAD) and end-10 (DELETE). */
#include "autoconfig.h"

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "bucket.h"
#include "journal.h"
#include "lazy.h"
#include "range.h"
#include "remove.h"
#include "store-blob.h"

/* Point the front at the blob file (X-Sendfile / X-Accel-Redirect) instead of streaming;
 * -1 when the header cannot be built (the caller streams instead). The link check before
 * it opened every component without following a symlink; the fronts are told not to
 * follow one either (contrib/). */
static int blob_sendfile(struct octo_registry *reg, struct octo_response *resp,
			 const struct octo_digest *d)
{
	char path[PATH_MAX];

	switch (reg->cfg->fcgi.sendfile) {
	case OCTO_SENDFILE_X_SENDFILE:
		if (octo_store_blob_path(reg->store, d, path, sizeof(path)) != OCTO_OK)
			return -1;
		return octo_response_add_header(resp, "X-Sendfile", "%s", path);
	case OCTO_SENDFILE_X_ACCEL:
		return octo_response_add_header(resp, "X-Accel-Redirect", "%s%s/%.2s/%s",
						reg->cfg->fcgi.sendfile_prefix,
						octo_digest_alg_name(d->alg), d->hex, d->hex);
	case OCTO_SENDFILE_NONE:
		break;
	}
	return -1;
}

/* err as the response; an unknown blob is named, with its repository. */
static void blob_error(struct octo_response *resp, const struct octo_route *rt,
		       const struct octo_digest *d, enum octo_err err)
{
	char ds[OCTO_DIGEST_MAX_STRING], why[OCTO_DIGEST_MAX_STRING + OCTO_NAME_MAX + 40];

	if (err != OCTO_ERR_BLOB_UNKNOWN)
		return octo_response_error(resp, err, NULL);
	octo_digest_format(d, ds, sizeof(ds));
	snprintf(why, sizeof(why), "blob %s is not in repository %s", ds, rt->name);
	octo_response_error(resp, err, why);
}

/* A blob repo links whose content is not here, in a cluster: HEAD answers from the link
 * (which holds the size); GET waits for the peer daemon to bring the bytes (lazy.h), *fd
 * then open on them, *growing while they are still arriving. */
static enum octo_err blob_from_peers(struct octo_registry *reg, const struct octo_route *rt,
				     const struct octo_digest *d, int get, int *fd, uint64_t *size,
				     int *growing)
{
	char writer[OCTO_NODE_ID_MAX + 1];
	enum octo_err err = octo_store_link_get(reg->store, rt->name, d, size, writer);

	if (err != OCTO_OK || !get)
		return err;
	err = octo_lazy_wait(reg->store, d, writer, reg->cfg->p2p.replication.fetch_timeout_ms, fd,
			     growing);
	if (err == OCTO_ERR_BLOB_UNAVAILABLE) {
		struct octo_log_field f[] = {OCTO_LOG_STR("repository", rt->name),
					     OCTO_LOG_STR("node", writer)};
		octo_log(reg->log, OCTO_LOG_WARN, "a blob's content is on no reachable peer", f, 2);
	}
	return err;
}

/* A download from the bucket as it streams through us. */
struct bucket_stream {
	const struct octo_store *store;
	struct octo_digest d;
	uint64_t left; /* bytes still owed to the response */
	int (*put)(void *out, const void *data, size_t len);
	void *out;
};

static int pass_on(void *ctx, const void *data, size_t len)
{
	struct bucket_stream *bs = ctx;

	if (len > bs->left) /* more than the placeholder's size: never sent past Content-Length */
		return -1;
	bs->left -= len;
	return bs->put(bs->out, data, len);
}

static int stream_bucket(void *ctx, uint64_t offset, uint64_t length,
			 int (*put)(void *out, const void *data, size_t len), void *out)
{
	struct bucket_stream *bs = ctx;

	bs->left = length;
	bs->put = put;
	bs->out = out;
	if (length == 0)
		return 0;
	/* cut short (the client sees fewer bytes than promised) if the bucket fails meanwhile */
	return octo_store_blob_stream(bs->store, &bs->d, offset, length, pass_on, bs) == OCTO_OK &&
			       bs->left == 0
		       ? 0
		       : -1;
}

/* A GET of content in the bucket: a 307 to a presigned URL (storage.s3.redirect), 1; or the
 * response set to stream it, 0. */
static int from_bucket(struct octo_registry *reg, struct octo_response *resp,
		       const struct octo_digest *d)
{
	char *url = octo_bucket_redirect_url(octo_store_bucket(reg->store), d, time(NULL));
	struct bucket_stream *bs;

	if (url != NULL) {
		resp->status = 307;
		if (octo_response_add_header(resp, "Location", "%s", url) != 0)
			octo_response_error(resp, OCTO_ERR_NOMEM, NULL);
		free(url);
		return 1;
	}
	bs = calloc(1, sizeof(*bs));
	if (bs == NULL) {
		octo_response_error(resp, OCTO_ERR_NOMEM, NULL);
		return 1;
	}
	bs->store = reg->store;
	bs->d = *d;
	resp->stream = stream_bucket;
	resp->stream_ctx = bs;
	resp->stream_free = free;
	return 0;
}

void octo_api_blob_get(struct octo_registry *reg, struct octo_route *rt, struct octo_response *resp)
{
	int get = strcmp(rt->method, "GET") == 0;
	struct octo_bucket *bucket = octo_store_bucket(reg->store);
	/* Only a streamed GET needs the file open: HEAD and sendfile answers need its size (and
	 * a bucket's placeholder holds no bytes). */
	int stream = get && reg->cfg->fcgi.sendfile == OCTO_SENDFILE_NONE && bucket == NULL;
	char ds[OCTO_DIGEST_MAX_STRING];
	struct octo_digest d;
	uint64_t size, start = 0, end = 0;
	enum octo_err err;
	int fd = -1, range, growing = 0;

	err = octo_digest_parse(rt->tail, rt->tail_len, &d);
	/* A HEAD is how a client learns it need not push a blob before the manifest that names
	 * it: the blob's grace is renewed before the check (store-blob.h). */
	if (err == OCTO_OK && !get && !reg->cfg->storage.readonly)
		(void)octo_store_blob_renew(reg->store, &d);
	if (err == OCTO_OK)
		err = stream ? octo_store_blob_open(reg->store, rt->name, &d, &fd, &size)
			     : octo_store_blob_linked(reg->store, rt->name, &d, &size);
	/* read-only: a HEAD answers from the link, a GET cannot ask for the content */
	if (err == OCTO_ERR_BLOB_UNKNOWN && reg->cfg->p2p.enabled &&
	    !(get && reg->cfg->storage.readonly))
		err = blob_from_peers(reg, rt, &d, get, &fd, &size, &growing);
	if (err != OCTO_OK)
		return blob_error(resp, rt, &d, err);
	if (fd >= 0 && bucket != NULL && !growing) { /* it arrived: a placeholder */
		close(fd);
		fd = -1;
	}
	if (fd >= 0)
		stream = 1; /* this once: the content is arriving, or just arrived */
	range = get ? octo_range_request(octo_request_header(rt->req, "Range"), size, &start, &end)
		    : 0;
	if (range < 0) {
		if (fd >= 0)
			close(fd);
		octo_response_error(resp, OCTO_ERR_RANGE_UNSATISFIABLE, NULL);
		octo_response_add_header(resp, "Content-Range", "bytes */%" PRIu64, size);
		return;
	}
	octo_digest_format(&d, ds, sizeof(ds));
	octo_response_add_header(resp, "Docker-Content-Digest", "%s", ds);
	octo_response_add_header(resp, "Content-Type", "application/octet-stream");
	octo_response_add_header(resp, "ETag", "\"%s\"", ds);
	/* nginx says Accept-Ranges itself for an X-Accel-Redirect; mod_xsendfile does not. */
	if (!get || reg->cfg->fcgi.sendfile != OCTO_SENDFILE_X_ACCEL)
		octo_response_add_header(resp, "Accept-Ranges", "bytes");
	if (!get) {
		octo_response_add_header(resp, "Content-Length", "%" PRIu64, size);
		return;
	}
	if (bucket != NULL && fd < 0) {
		if (from_bucket(reg, resp, &d) != 0)
			return; /* redirected, or out of memory */
	} else if (!stream && blob_sendfile(reg, resp, &d) == 0) {
		/* The front answers Range and Content-Length itself for a sendfile response
		 * (doc/notes/web-fronts.md §2). */
		if (octo_log_enabled(reg->log, OCTO_LOG_DEBUG)) {
			const char *to = octo_response_header(resp, "X-Sendfile");
			struct octo_log_field f[] = {
				OCTO_LOG_STR("digest", ds),
				OCTO_LOG_STR("path",
					     to ? to
						: octo_response_header(resp, "X-Accel-Redirect"))};
			octo_log(reg->log, OCTO_LOG_DEBUG, "sendfile", f, 2);
		}
		return;
	} else {
		if (fd < 0) { /* the sendfile header could not be built: stream after all */
			err = octo_store_blob_open(reg->store, rt->name, &d, &fd, &size);
			if (err != OCTO_OK)
				return blob_error(resp, rt, &d, err);
		}
		resp->file_fd = fd;
		if (growing) {
			resp->follow_ctx =
				octo_lazy_follow_new(reg->store, &d, fd, size,
						     reg->cfg->p2p.replication.fetch_timeout_ms);
			if (resp->follow_ctx == NULL)
				return octo_response_error(resp, OCTO_ERR_NOMEM, NULL);
			resp->follow = octo_lazy_follow;
			resp->follow_free = octo_lazy_follow_free;
		}
	}
	if (range > 0) {
		resp->status = 206;
		resp->file_offset = start;
		resp->file_length = end - start + 1;
		octo_response_add_header(resp, "Content-Range",
					 "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, start, end,
					 size);
	} else {
		resp->file_length = size;
	}
}

void octo_api_blob_delete(struct octo_registry *reg, struct octo_route *rt,
			  struct octo_response *resp)
{
	struct octo_digest d;
	enum octo_err err = octo_digest_parse(rt->tail, rt->tail_len, &d);

	if (err == OCTO_OK) /* served here: linked, and the content here */
		err = octo_store_blob_linked(reg->store, rt->name, &d, NULL);
	if (err == OCTO_OK)
		err = octo_remove_link(reg->store, reg->journal, rt->name, &d);
	if (err != OCTO_OK)
		return blob_error(resp, rt, &d, err);
	resp->status = 202;
}
