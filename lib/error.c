/* SPDX-License-Identifier: Apache-2.0 */
/* Error table: one row per enum octo_err, in enum order. */
#include "autoconfig.h"

#include <jansson.h>
#include <string.h>

#include "error.h"

struct err_row {
	int status;
	const char *code;
	const char *message;
	int retry_after; /* seconds a client should wait before trying again; 0: say nothing */
};

static const struct err_row err_table[OCTO_ERR__COUNT] = {
	[OCTO_OK] = {200, "", "ok"},
	[OCTO_ERR_BLOB_UNKNOWN] = {404, "BLOB_UNKNOWN", "blob unknown to registry"},
	[OCTO_ERR_BLOB_UPLOAD_INVALID] = {400, "BLOB_UPLOAD_INVALID", "blob upload invalid"},
	[OCTO_ERR_BLOB_UPLOAD_UNKNOWN] = {404, "BLOB_UPLOAD_UNKNOWN",
					  "blob upload unknown to registry"},
	[OCTO_ERR_DIGEST_INVALID] = {400, "DIGEST_INVALID",
				     "provided digest did not match uploaded content"},
	[OCTO_ERR_MANIFEST_BLOB_UNKNOWN] =
		{404, "MANIFEST_BLOB_UNKNOWN",
		 "manifest references a manifest or blob unknown to registry"},
	[OCTO_ERR_MANIFEST_INVALID] = {400, "MANIFEST_INVALID", "manifest invalid"},
	[OCTO_ERR_MANIFEST_UNKNOWN] = {404, "MANIFEST_UNKNOWN", "manifest unknown to registry"},
	[OCTO_ERR_NAME_INVALID] = {400, "NAME_INVALID", "invalid repository name"},
	[OCTO_ERR_NAME_UNKNOWN] = {404, "NAME_UNKNOWN", "repository name not known to registry"},
	[OCTO_ERR_SIZE_INVALID] = {400, "SIZE_INVALID",
				   "provided length did not match content length"},
	[OCTO_ERR_UNAUTHORIZED] = {401, "UNAUTHORIZED", "authentication required"},
	[OCTO_ERR_DENIED] = {403, "DENIED", "requested access to the resource is denied"},
	[OCTO_ERR_UNSUPPORTED] = {405, "UNSUPPORTED", "the operation is unsupported"},
	[OCTO_ERR_TOOMANYREQUESTS] = {429, "TOOMANYREQUESTS", "too many requests", 1},
	[OCTO_ERR_RANGE_INVALID] = {416, "BLOB_UPLOAD_INVALID", "content range out of order"},
	[OCTO_ERR_RANGE_UNSATISFIABLE] = {416, "SIZE_INVALID", "requested range not satisfiable"},
	[OCTO_ERR_NOT_FOUND] = {404, "UNSUPPORTED", "no such endpoint"},
	[OCTO_ERR_METHOD] = {405, "UNSUPPORTED", "method not allowed"},
	[OCTO_ERR_TOO_LARGE] = {413, "SIZE_INVALID", "request body too large"},
	[OCTO_ERR_BAD_REQUEST] = {400, "UNSUPPORTED", "malformed request"},
	[OCTO_ERR_INCOMPLETE] = {400, "BLOB_UPLOAD_INVALID",
				 "request body shorter than its Content-Length"},
	[OCTO_ERR_IO] = {500, "UNKNOWN", "storage error"},
	[OCTO_ERR_NOMEM] = {500, "UNKNOWN", "out of memory"},
	[OCTO_ERR_CONFIG] = {500, "UNKNOWN", "configuration error"},
	[OCTO_ERR_OBJECT_STORE] = {503, "UNAVAILABLE",
				   "the object store does not answer: try again", 5},
	[OCTO_ERR_LOGIN_THROTTLED] = {429, "TOOMANYREQUESTS", "too many failed logins"},
	[OCTO_ERR_SESSION_BUSY] = {429, "TOOMANYREQUESTS",
				   "upload session busy: another request is writing to it", 1},
	[OCTO_ERR_HEADERS_TOO_LARGE] = {431, "UNSUPPORTED",
					"too many request headers, or a header name too long"},
	[OCTO_ERR_NO_SPACE] =
		{507, "DENIED",
		 "insufficient storage: the store is at its free space floor, or the body would "
		 "cross it"},
	[OCTO_ERR_STORE_FULL] = {507, "DENIED", "insufficient storage: no space left on device"},
	[OCTO_ERR_STORE_READONLY] = {503, "DENIED",
				     "the store is on a read-only file system: writes are refused"},
	[OCTO_ERR_STORE_DENIED] = {503, "DENIED",
				   "the store is not writable by the registry: permission denied"},
	[OCTO_ERR_BLOB_UNAVAILABLE] =
		{503, "BLOB_UNKNOWN",
		 "blob content is on other nodes, none of which can give it now", 5},
	[OCTO_ERR_NOT_REPLICATED] =
		{503, "UNAVAILABLE",
		 "not acknowledged: the cluster could not confirm the copies and records strong "
		 "consistency needs; retrying is safe",
		 1},
	[OCTO_ERR_TAG_CONFLICT] =
		{409, "DENIED",
		 "not acknowledged: a concurrent write of this tag on another node "
		 "was decided instead"},
};

static const struct err_row *err_row(enum octo_err err)
{
	if ((unsigned)err >= OCTO_ERR__COUNT)
		err = OCTO_ERR_IO;
	return &err_table[err];
}

int octo_err_status(enum octo_err err)
{
	return err_row(err)->status;
}

int octo_err_retry_after(enum octo_err err)
{
	return err_row(err)->retry_after;
}

const char *octo_err_code(enum octo_err err)
{
	return err_row(err)->code;
}

const char *octo_err_message(enum octo_err err)
{
	return err_row(err)->message;
}

char *octo_err_json(enum octo_err err, const char *detail, size_t *len)
{
	const struct err_row *row = err_row(err);
	json_t *root = json_pack("{s:[{s:s,s:s,s:s*}]}", "errors", "code", row->code, "message",
				 row->message, "detail", detail);
	char *out = NULL;

	if (root == NULL)
		return NULL;
	out = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (out != NULL && len != NULL)
		*len = strlen(out);
	return out;
}
