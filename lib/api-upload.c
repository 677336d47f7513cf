/* SPDX-License-Identifier: Apache-2.0 */
/* Upload endpoints: distribution-spec end-4a/4b (POST), end-5 (PATCH), end-6 (PUT), end-11
 * ("Mounting a blob from another repository"), end-13 (GET status) and DELETE of a
 * session. */
#include "autoconfig.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "store.h"
#include "journal.h"
#include "range.h"
#include "store-blob.h"
#include "upload.h"
#include "strong.h"

/* Below storage.min_free every write answers 507 (reads go on); a body that says it would
 * take the store below it is refused before a byte is read. */
static enum octo_err check_space(struct octo_registry *reg, const struct octo_route *rt)
{
	long long length = rt->req->body.length;

	return octo_store_check_space(reg->store, length > 0 ? (uint64_t)length : 0,
				      (uint64_t)reg->cfg->storage.min_free_bytes,
				      (uint64_t)reg->cfg->storage.min_free_inodes);
}

/* storage.max_uploads sessions in the store, storage.max_uploads_per_client of one
 * client's address: past either, POST answers 429. */
static enum octo_err check_sessions(struct octo_registry *reg, const struct octo_route *rt)
{
	size_t all, mine;
	enum octo_err err = octo_upload_count(reg->store, rt->req->remote_addr, &all, &mine);

	if (err != OCTO_OK)
		return err;
	if (all >= (size_t)reg->cfg->storage.max_uploads ||
	    mine >= (size_t)reg->cfg->storage.max_uploads_per_client)
		return OCTO_ERR_TOOMANYREQUESTS;
	return OCTO_OK;
}

/* Open the session a request names for writing, held to storage.max_blob_size. */
static enum octo_err open_session(struct octo_registry *reg, const struct octo_route *rt,
				  struct octo_upload **u)
{
	enum octo_err err = check_space(reg, rt);

	if (err == OCTO_OK)
		err = octo_upload_open(reg->store, rt->name, rt->tail, rt->tail_len,
				       OCTO_UPLOAD_WRITE, u);
	if (err == OCTO_OK)
		octo_upload_set_max_size(*u, (uint64_t)reg->cfg->storage.max_blob_size);
	return err;
}

/* 201 for a blob now linked into the repository. */
static void blob_created(struct octo_registry *reg, struct octo_route *rt,
			 struct octo_response *resp, const struct octo_digest *d)
{
	char ds[OCTO_DIGEST_MAX_STRING];

	octo_digest_format(d, ds, sizeof(ds));
	resp->status = 201;
	octo_response_add_header(resp, "Location", "%s/v2/%s/blobs/%s", reg->base_url, rt->name,
				 ds);
	octo_response_add_header(resp, "Docker-Content-Digest", "%s", ds);
}

/* Record d's link into rt->name, then link it (the journal first, so that no change is
 * visible without its event: a reader of an event checks the store); then answer 201. */
static void link_and_answer(struct octo_registry *reg, struct octo_route *rt,
			    struct octo_response *resp, const struct octo_digest *d, uint64_t size,
			    const char *event)
{
	char key[OCTO_STORE_PATH_MAX], value[24], why[512] = "";
	struct octo_journal_change link = {.key = key, .value = value};
	struct octo_record_stamp stamp;
	enum octo_err err = octo_store_link_key(d, key, sizeof(key));

	snprintf(value, sizeof(value), "%llu", (unsigned long long)size);
	if (err == OCTO_OK)
		err = octo_journal_record(reg->journal, event, rt->name, d, NULL, &link, 1, &stamp);
	if (err == OCTO_OK)
		err = octo_store_link_blob(reg->store, rt->name, d, size, &stamp);
	if (err == OCTO_OK && octo_api_strong(reg)) {
		/* strong: the 201 only once factor nodes hold the content */
		struct octo_strong_request sr = {.blobs = (struct octo_digest *)d, .n_blobs = 1};
		snprintf(sr.repo, sizeof(sr.repo), "%s", rt->name);
		err = octo_strong_wait(reg->store, &sr, reg->cfg->p2p.replication.strong_timeout_ms,
				       why, sizeof(why));
	}
	if (err != OCTO_OK)
		return octo_response_error(resp, err, why[0] != '\0' ? why : NULL);
	blob_created(reg, rt, resp, d);
}

/* Headers of a session that goes on: Location, Range, Docker-Upload-UUID. */
static void session_headers(struct octo_registry *reg, struct octo_route *rt,
			    struct octo_response *resp, const struct octo_upload *u)
{
	uint64_t off = octo_upload_offset(u);

	octo_response_add_header(resp, "Location", "%s/v2/%s/blobs/uploads/%s", reg->base_url,
				 rt->name, octo_upload_id(u));
	octo_response_add_header(resp, "Range", "0-%" PRIu64, off > 0 ? off - 1 : 0);
	octo_response_add_header(resp, "Docker-Upload-UUID", "%s", octo_upload_id(u));
}

/* The automatic mount under authentication: d only if a repository the caller may pull links
 * it, found through the index of d's repositories (each entry checked, since it is a hint). */
static enum octo_err linked_where_pullable(struct octo_registry *reg, const struct octo_route *rt,
					   const struct octo_digest *d, uint64_t *size)
{
	struct octo_strv repos;
	enum octo_err err = octo_store_blob_repos(reg->store, d, &repos);
	size_t i;

	for (i = 0; err == OCTO_OK && i < repos.n; i++)
		if (octo_auth_rules_pull(reg->auth, &rt->caller, repos.v[i]) &&
		    octo_store_blob_linked(reg->store, repos.v[i], d, size) == OCTO_OK)
			break;
	if (err == OCTO_OK && i == repos.n)
		err = OCTO_ERR_BLOB_UNKNOWN;
	octo_strv_cleanup(&repos);
	return err;
}

/* ?mount=<digest>[&from=<repo>]: 1 when answered (201 or an error), 0 to fall through to
 * a normal upload. Without from, any blob in the store can be mounted (automatic mount). Under
 * authentication a mount from a repository the caller may not pull is a plain upload, and an
 * automatic mount links only what a repository the caller may pull links: neither may tell
 * that a blob exists elsewhere. */
static int try_mount(struct octo_registry *reg, struct octo_route *rt, struct octo_response *resp,
		     const char *mount)
{
	const char *from = octo_query_get(&rt->query, "from");
	struct octo_digest d;
	enum octo_err err;
	uint64_t size;

	if (octo_digest_parse(mount, strlen(mount), &d) != OCTO_OK) {
		octo_response_error(resp, OCTO_ERR_DIGEST_INVALID, "mount");
		return 1;
	}
	if (from != NULL && !octo_name_valid(from, strlen(from))) {
		octo_response_error(resp, OCTO_ERR_NAME_INVALID, "from");
		return 1;
	}
	if (reg->auth != NULL && from != NULL &&
	    !(octo_auth_actions(reg->auth, &rt->caller, from) & OCTO_ACCESS_PULL))
		return 0;
	(void)octo_store_blob_renew(reg->store, &d); /* a reference: renewed before the check */
	err = from != NULL ? octo_store_blob_linked(reg->store, from, &d, &size)
	      : reg->auth != NULL && !octo_auth_unlimited(reg->auth, &rt->caller)
		      ? linked_where_pullable(reg, rt, &d, &size)
		      : octo_store_blob_stat(reg->store, &d, &size);
	if (err == OCTO_ERR_BLOB_UNKNOWN)
		return 0;
	if (err != OCTO_OK)
		octo_response_error(resp, err, NULL);
	else
		link_and_answer(reg, rt, resp, &d, size, "blob.mount");
	return 1;
}

/* Append the request's body to u (last: the request commits it next), saying in the log
 * when it resumes a session with data (debug) and when the client went away mid-body (warn:
 * the session keeps what it had). */
static enum octo_err append(struct octo_registry *reg, const struct octo_route *rt,
			    struct octo_upload *u, int last)
{
	uint64_t before = octo_upload_offset(u);
	enum octo_err err;

	if (before > 0) {
		struct octo_log_field f[] = {OCTO_LOG_STR("repository", rt->name),
					     OCTO_LOG_STR("upload", rt->tail),
					     OCTO_LOG_NUM("offset", (long long)before)};
		octo_log(reg->log, OCTO_LOG_DEBUG, "upload resumed", f, 3);
	}
	err = last ? octo_upload_append_last(u, (struct octo_body *)&rt->req->body)
		   : octo_upload_append(u, (struct octo_body *)&rt->req->body);
	if (err == OCTO_ERR_INCOMPLETE) {
		struct octo_log_field f[] = {
			OCTO_LOG_STR("repository", rt->name), OCTO_LOG_STR("upload", rt->tail),
			OCTO_LOG_NUM("kept", (long long)octo_upload_offset(u))};
		octo_log(reg->log, OCTO_LOG_WARN, "client gone mid-body", f, 3);
	}
	return err;
}

/* Read the body into u and commit it as expected; u is closed. */
static void finish_upload(struct octo_registry *reg, struct octo_route *rt,
			  struct octo_response *resp, struct octo_upload *u,
			  const struct octo_digest *expected)
{
	enum octo_err err = OCTO_OK;
	uint64_t size = 0;

	if (rt->req->body.length != 0)
		err = append(reg, rt, u, 1);

	if (err == OCTO_OK)
		err = octo_upload_commit(u, expected);
	if (err == OCTO_OK)
		size = octo_upload_offset(u); /* the committed blob's */
	octo_upload_close(u);
	if (err != OCTO_OK)
		return octo_response_error(resp, err, NULL);
	link_and_answer(reg, rt, resp, expected, size, "blob.put");
}

/* The ?digest= parameter of a finishing request. */
static enum octo_err query_digest(const struct octo_route *rt, struct octo_digest *d)
{
	const char *s = octo_query_get(&rt->query, "digest");

	if (s == NULL)
		return OCTO_ERR_DIGEST_INVALID;
	return octo_digest_parse(s, strlen(s), d);
}

void octo_api_upload_start(struct octo_registry *reg, struct octo_route *rt,
			   struct octo_response *resp)
{
	const char *mount = octo_query_get(&rt->query, "mount");
	struct octo_upload *u;
	struct octo_digest d;
	enum octo_err err;

	err = check_space(reg, rt);
	if (err != OCTO_OK)
		return octo_response_error(resp, err, NULL);
	if (mount != NULL && try_mount(reg, rt, resp, mount))
		return;
	if (octo_query_get(&rt->query, "digest") != NULL) { /* monolithic: POST ?digest= */
		err = query_digest(rt, &d);
		if (err == OCTO_OK)
			err = octo_upload_create(reg->store, rt->name, 0, NULL, &u);
		if (err != OCTO_OK)
			return octo_response_error(resp, err, NULL);
		octo_upload_set_max_size(u, (uint64_t)reg->cfg->storage.max_blob_size);
		return finish_upload(reg, rt, resp, u, &d);
	}
	err = check_sessions(reg, rt);
	if (err != OCTO_OK)
		return octo_response_error(
			resp, err,
			err != OCTO_ERR_TOOMANYREQUESTS
				? NULL
				: "too many upload sessions open: finish or cancel "
				  "some, or wait for them to expire");
	err = octo_upload_create(reg->store, rt->name, 1, rt->req->remote_addr, &u);
	if (err != OCTO_OK)
		return octo_response_error(resp, err, NULL);
	resp->status = 202;
	session_headers(reg, rt, resp, u);
	octo_upload_close(u);
}

void octo_api_upload_status(struct octo_registry *reg, struct octo_route *rt,
			    struct octo_response *resp)
{
	struct octo_upload *u;
	enum octo_err err = octo_upload_open(reg->store, rt->name, rt->tail, rt->tail_len,
					     OCTO_UPLOAD_READ, &u);

	if (err != OCTO_OK)
		return octo_response_error(resp, err, NULL);
	resp->status = 204;
	session_headers(reg, rt, resp, u);
	octo_upload_close(u);
}

/* Check Content-Range "<start>-<end>" against the session: the chunk must start where the
 * data ends (distribution-spec: out-of-order chunks get 416) and match Content-Length. */
static enum octo_err check_content_range(const struct octo_route *rt, const struct octo_upload *u)
{
	const char *h = octo_request_header(rt->req, "Content-Range");
	uint64_t first, last;

	if (h == NULL)
		return OCTO_OK;
	if (octo_range_content(h, &first, &last) != 0 || first != octo_upload_offset(u))
		return OCTO_ERR_RANGE_INVALID;
	if (rt->req->body.length >= 0 && last - first + 1 != (uint64_t)rt->req->body.length)
		return OCTO_ERR_RANGE_INVALID;
	return OCTO_OK;
}

void octo_api_upload_patch(struct octo_registry *reg, struct octo_route *rt,
			   struct octo_response *resp)
{
	struct octo_upload *u;
	enum octo_err err = open_session(reg, rt, &u);

	if (err != OCTO_OK)
		return octo_response_error(resp, err, NULL);
	err = check_content_range(rt, u);
	if (err == OCTO_OK)
		err = append(reg, rt, u, 0);
	if (err != OCTO_OK)
		octo_response_error(resp, err, NULL);
	else
		resp->status = 202;
	session_headers(reg, rt, resp, u);
	octo_upload_close(u);
}

void octo_api_upload_put(struct octo_registry *reg, struct octo_route *rt,
			 struct octo_response *resp)
{
	struct octo_upload *u;
	struct octo_digest d;
	enum octo_err err = query_digest(rt, &d);

	if (err == OCTO_OK)
		err = open_session(reg, rt, &u);
	if (err != OCTO_OK)
		return octo_response_error(resp, err, NULL);
	err = check_content_range(rt, u);
	if (err != OCTO_OK) {
		octo_response_error(resp, err, NULL);
		session_headers(reg, rt, resp, u);
		octo_upload_close(u);
		return;
	}
	finish_upload(reg, rt, resp, u, &d);
}

void octo_api_upload_delete(struct octo_registry *reg, struct octo_route *rt,
			    struct octo_response *resp)
{
	struct octo_upload *u;
	enum octo_err err = octo_upload_open(reg->store, rt->name, rt->tail, rt->tail_len,
					     OCTO_UPLOAD_WRITE, &u);

	(void)reg;
	if (err == OCTO_OK) {
		err = octo_upload_cancel(u);
		octo_upload_close(u);
	}
	if (err != OCTO_OK)
		return octo_response_error(resp, err, NULL);
	resp->status = 204;
}
