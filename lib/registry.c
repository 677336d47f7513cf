/* SPDX-License-Identifier: Apache-2.0 */
/* The registry object and its one entry point: parse what every request shares (path
 * escapes, query, Content-Length), route, then add the headers every response carries. */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "bounds.h"
#include "bucket.h"
#include "clock.h"
#include "fsutil.h"
#include "registry.h"
#include "route.h"
#include "store-blob.h"
#include "store-record.h"
#include "store-repo.h"
#include "upload.h"

enum octo_err octo_registry_census(const struct octo_store *s, int64_t gauges[OCTO_GAUGE__COUNT])
{
	struct octo_strv repos;
	uint64_t blobs, bytes;
	size_t all, mine;
	enum octo_err err = octo_store_blob_census(s, &blobs, &bytes);

	if (err == OCTO_OK)
		err = octo_store_repo_list(s, &repos);
	if (err != OCTO_OK)
		return err;
	gauges[OCTO_GAUGE_REPOSITORIES] = (int64_t)repos.n;
	octo_strv_cleanup(&repos);
	err = octo_upload_count(s, NULL, &all, &mine);
	gauges[OCTO_GAUGE_BLOBS] = (int64_t)blobs;
	gauges[OCTO_GAUGE_BLOB_BYTES] = (int64_t)bytes;
	gauges[OCTO_GAUGE_UPLOADS] = (int64_t)all;
	return err;
}

static void observe_sync(void *metrics, long long us)
{
	octo_metrics_fsync(metrics, us);
}

enum octo_err octo_registry_new(const struct octo_config *cfg, struct octo_logger *log,
				struct octo_registry **out, char *why, size_t size)
{
	char spare[512];
	struct octo_registry *reg;
	enum octo_err err;
	size_t len;

	*out = NULL;
	reg = calloc(1, sizeof(*reg));
	if (reg == NULL)
		return OCTO_ERR_NOMEM;
	reg->cfg = cfg;
	reg->log = log;
	octo_budget_init(&reg->parse_budget, OCTO_BOUND_PARSE_BUDGET);
	reg->base_url = strdup(cfg->server.external_url ? cfg->server.external_url : "");
	if (reg->base_url == NULL) {
		free(reg);
		return OCTO_ERR_NOMEM;
	}
	len = strlen(reg->base_url);
	while (len > 0 && reg->base_url[len - 1] == '/')
		reg->base_url[--len] = '\0';
	/* Read-only (storage.readonly): nothing is written, so no journal, and counters of
	 * this process's own (the store may be on a read-only mount). */
	err = octo_store_open_mode(cfg->storage.path, cfg->storage.readonly, &reg->store);
	if (err == OCTO_OK && !cfg->storage.readonly)
		err = octo_journal_open(reg->store, cfg->p2p.node_id,
					(uint64_t)cfg->storage.journal_segment_size, &reg->journal);
	if (err == OCTO_OK && cfg->metrics.enabled)
		err = cfg->storage.readonly
			      ? octo_metrics_open_private(reg->store, octo_registry_census,
							  &reg->metrics)
			      : octo_metrics_open(reg->store, octo_registry_census, &reg->metrics);
	if (err == OCTO_OK && reg->metrics != NULL) {
		octo_store_set_metrics(reg->store, reg->metrics);
		octo_fs_observe_syncs(observe_sync, reg->metrics);
	}
	if (why == NULL || size == 0) { /* the caller wants no reason */
		why = spare;
		size = sizeof(spare);
	}
	why[0] = '\0';
	if (err == OCTO_OK) {
		err = octo_bucket_attach(reg->store, cfg, cfg->storage.readonly, why, size);
		if (err != OCTO_OK && why[0] != '\0') {
			struct octo_log_field f[] = {OCTO_LOG_STR("error", why)};
			octo_log(log, OCTO_LOG_ERROR, "the store's bucket cannot be used", f, 1);
		}
	}
	if (err == OCTO_OK) {
		err = octo_auth_open(cfg, log, reg->store, &reg->auth, why, size);
		if (err == OCTO_ERR_CONFIG) {
			struct octo_log_field f[] = {OCTO_LOG_STR("error", why)};
			octo_log(log, OCTO_LOG_ERROR, "authentication cannot start", f, 1);
		}
	}
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
	octo_auth_free(reg->auth);
	octo_fs_unobserve_syncs(reg->metrics);
	octo_metrics_close(reg->metrics);
	octo_journal_close(reg->journal);
	octo_store_free(reg->store);
	octo_budget_cleanup(&reg->parse_budget);
	free(reg->base_url);
	free(reg);
}

void octo_registry_collect(struct octo_registry *reg)
{
	struct octo_upload_expiry exp = {.empty_after = OCTO_BOUND_EMPTY_UPLOAD_TTL,
					 .after = (time_t)(reg->cfg->storage.upload_ttl_ms / 1000)};
	struct octo_upload_collected got;
	size_t swept = 0, expired = 0;
	time_t now = time(NULL);
	enum octo_err err;

	if (reg->cfg->storage.readonly)
		return; /* nothing may change: expired sessions wait for the store to be writable */
	err = octo_upload_collect(reg->store, now, &exp, &got);

	/* The temporaries of atomic writes a crash left beside records, and the tombstones past
	 * storage.tombstone_ttl: walks of every repository, so at start and then hourly only. */
	if (err == OCTO_OK && got.ran && now - reg->swept >= OCTO_BOUND_SWEEP_INTERVAL) {
		reg->swept = now;
		err = octo_store_sweep(reg->store, "repositories", now, OCTO_BOUND_EMPTY_UPLOAD_TTL,
				       OCTO_BOUND_CATALOG_DEPTH + 8, &swept);
		if (err == OCTO_OK)
			err = octo_store_expire_tombstones(
				reg->store, octo_clock_wall_ms(),
				(uint64_t)reg->cfg->storage.tombstone_ttl_ms, &expired);
	}
	if (err != OCTO_OK) {
		struct octo_log_field f[] = {OCTO_LOG_STR("code", octo_err_code(err))};
		octo_log(reg->log, OCTO_LOG_ERROR, "collect failed", f, 1);
	} else if (got.sessions + got.temporaries + got.markers + got.orphans + swept + expired >
		   0) {
		struct octo_log_field f[] = {
			OCTO_LOG_NUM("sessions", (long long)got.sessions),
			OCTO_LOG_NUM("temporaries", (long long)(got.temporaries + swept)),
			OCTO_LOG_NUM("markers", (long long)got.markers),
			OCTO_LOG_NUM("tombstones", (long long)expired),
			OCTO_LOG_NUM("bucket_uploads", (long long)got.orphans)};
		octo_log(reg->log, OCTO_LOG_INFO, "collected", f, 5);
	}
}

/* Headers every response carries, Content-Length, and no body for HEAD. */
static void finish(const struct octo_route *rt, struct octo_response *resp)
{
	if (resp->request_id[0] != '\0')
		octo_response_add_header(resp, "X-Request-Id", "%s", resp->request_id);
	if (octo_response_header(resp, "Content-Length") == NULL &&
	    octo_response_header(resp, "X-Sendfile") == NULL &&
	    octo_response_header(resp, "X-Accel-Redirect") == NULL)
		octo_response_add_header(resp, "Content-Length", "%llu",
					 resp->file_fd >= 0 || resp->stream != NULL
						 ? (unsigned long long)resp->file_length
						 : (unsigned long long)resp->body_len);
	octo_response_add_header(resp, "Docker-Distribution-API-Version", "registry/2.0");
	if (strcmp(rt->method, "HEAD") == 0) {
		free(resp->body);
		resp->body = NULL;
		resp->body_len = 0;
		if (resp->file_fd >= 0)
			close(resp->file_fd);
		resp->file_fd = -1;
		octo_response_drop_stream(resp);
	}
}

/* The client's X-Request-Id when it is a sane token, else a fresh random one. */
static void request_id(const struct octo_request *req, char *id)
{
	const char *given = octo_request_header(req, "X-Request-Id");
	unsigned char r[16];
	size_t i, n = given != NULL ? strlen(given) : 0;

	if (n > 0 && n <= OCTO_REQUEST_ID_MAX &&
	    strspn(given, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-") ==
		    n) {
		memcpy(id, given, n + 1);
		return;
	}
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		memset(r, 0, sizeof(r)); /* cannot happen after boot; an id is no secret */
	for (i = 0; i < sizeof(r); i++)
		snprintf(id + 2 * i, 3, "%02x", r[i]);
}

void octo_registry_request_done(const struct octo_registry *reg, const struct octo_request *req,
				const struct octo_response *resp,
				const struct octo_request_stats *stats)
{
	const char *ua = octo_request_header(req, "User-Agent");
	int failed = resp->error != OCTO_OK;
	struct octo_log_field f[] = {
		OCTO_LOG_STR("method", req->method),
		OCTO_LOG_STR("uri", req->uri),
		OCTO_LOG_NUM("status", resp->status),
		OCTO_LOG_STR("remote_addr", req->remote_addr != NULL ? req->remote_addr : ""),
		OCTO_LOG_STR("user_agent", ua != NULL ? ua : ""),
		OCTO_LOG_STR("request_id", resp->request_id),
		OCTO_LOG_NUM("pid", getpid()), /* which responder, when the front runs several */
		/* under authentication, who it found; else what a front said */
		OCTO_LOG_STR("user", reg->auth != NULL          ? resp->user
				     : req->remote_user != NULL ? req->remote_user
								: ""),
		OCTO_LOG_NUM("bytes_in", (long long)stats->bytes_in),
		OCTO_LOG_NUM("bytes_out", (long long)stats->bytes_out),
		OCTO_LOG_NUM("duration_ms", stats->duration_us / 1000),
		/* whether the front sent the body from the file (X-Sendfile etc.) */
		OCTO_LOG_NUM("sendfile",
			     octo_response_header(resp, "X-Sendfile") != NULL ||
				     octo_response_header(resp, "X-Accel-Redirect") != NULL),
		OCTO_LOG_STR("code", failed ? octo_err_code(resp->error) : ""),
		OCTO_LOG_STR("detail",
			     failed && resp->error_detail != NULL ? resp->error_detail : ""),
		OCTO_LOG_STR("error", stats->client_gone ? "client gone" : ""),
	};
	enum octo_log_level level = resp->status >= 500  ? OCTO_LOG_ERROR
				    : stats->client_gone ? OCTO_LOG_WARN
							 : OCTO_LOG_INFO;

	octo_log(reg->log, level, "request", f, sizeof(f) / sizeof(f[0]));
	octo_metrics_request(reg->metrics, req->method, resp->endpoint, resp->status,
			     stats->bytes_in, stats->bytes_out, stats->duration_us, resp->error);
}

/* A request whose slowest fsync took logging.slow_fsync or more: a warning naming it (a
 * failing disk, an overloaded one, or a file system that syncs more than it should). */
static void warn_slow_sync(const struct octo_registry *reg, const struct octo_response *resp)
{
	char what[256];
	long long ms = octo_fs_slowest_sync(what, sizeof(what));

	if (ms >= 0 && ms >= reg->cfg->logging.slow_fsync_ms) {
		struct octo_log_field f[] = {OCTO_LOG_STR("path", what), OCTO_LOG_NUM("ms", ms),
					     OCTO_LOG_STR("request_id", resp->request_id)};
		octo_log(reg->log, OCTO_LOG_WARN, "slow fsync", f, 3);
	}
}

void octo_registry_handle(struct octo_registry *reg, const struct octo_request *req,
			  struct octo_response *resp)
{
	struct octo_route rt;
	const char *qmark = strchr(req->uri, '?');
	size_t plen = qmark ? (size_t)(qmark - req->uri) : strlen(req->uri);
	char *path = malloc(plen + 1);

	octo_fs_failure_clear();
	request_id(req, resp->request_id);
	memset(&rt, 0, sizeof(rt));
	rt.req = req;
	rt.method = req->method;
	if (path == NULL) {
		octo_response_error(resp, OCTO_ERR_NOMEM, NULL);
		goto out;
	}
	/* Routing works on the raw path; this only rejects malformed escapes early. */
	if (octo_percent_decode(req->uri, plen, path) != 0) {
		octo_response_error(resp, OCTO_ERR_BAD_REQUEST, "bad percent-encoding in path");
		goto out;
	}
	memcpy(path, req->uri, plen);
	path[plen] = '\0';
	if (req->headers_dropped) {
		octo_response_error(resp, OCTO_ERR_HEADERS_TOO_LARGE, NULL);
		goto out;
	}
	if (req->over_capacity) {
		octo_response_error(resp, OCTO_ERR_TOOMANYREQUESTS,
				    "too many uploads in progress: try again shortly");
		goto out;
	}
	if (req->body.length == OCTO_CONTENT_LENGTH_INVALID) {
		octo_response_error(resp, OCTO_ERR_BAD_REQUEST, "malformed Content-Length");
		goto out;
	}
	if (octo_query_parse(qmark ? qmark + 1 : "", &rt.query) != 0) {
		octo_response_error(resp, OCTO_ERR_BAD_REQUEST, "malformed query string");
		goto out;
	}
	octo_route_dispatch(reg, &rt, path, resp);
out:
	if (resp->status >= 500 && resp->body == NULL && resp->n_headers == 0)
		octo_response_error(resp, OCTO_ERR_NOMEM, NULL);
	if (resp->status >= 500 && resp->error != OCTO_OK) { /* not /readyz's 503 */
		char cause[512] = "";
		struct octo_log_field f[] = {
			OCTO_LOG_STR("code", octo_err_code(resp->error)),
			OCTO_LOG_STR("message", octo_err_message(resp->error)),
			OCTO_LOG_STR("detail", resp->error_detail ? resp->error_detail : ""),
			OCTO_LOG_STR("cause", cause)};
		octo_fs_failure(cause, sizeof(cause)); /* what failed, on what path, and errno */
		octo_log(reg->log, OCTO_LOG_ERROR, "store error", f, sizeof(f) / sizeof(f[0]));
	}
	warn_slow_sync(reg, resp);
	finish(&rt, resp);
	octo_query_cleanup(&rt.query);
	octo_caller_cleanup(&rt.caller);
	free(rt.tail_storage);
	free(path);
}
