/* SPDX-License-Identifier: Apache-2.0 */
/* The library's one error enum, and the table that maps each error to an HTTP status and an
 * OCI error code (distribution-spec "Error Codes"). New codes go last; none is removed. */
#ifndef OCTO_ERROR_H
#define OCTO_ERROR_H

#include <stddef.h>

enum octo_err {
	OCTO_OK = 0,
	OCTO_ERR_BLOB_UNKNOWN,        /* 404 BLOB_UNKNOWN */
	OCTO_ERR_BLOB_UPLOAD_INVALID, /* 400 BLOB_UPLOAD_INVALID */
	OCTO_ERR_BLOB_UPLOAD_UNKNOWN, /* 404 BLOB_UPLOAD_UNKNOWN */
	OCTO_ERR_DIGEST_INVALID,      /* 400 DIGEST_INVALID */
	OCTO_ERR_MANIFEST_BLOB_UNKNOWN,
	OCTO_ERR_MANIFEST_INVALID,
	OCTO_ERR_MANIFEST_UNKNOWN,
	OCTO_ERR_NAME_INVALID, /* 400 NAME_INVALID */
	OCTO_ERR_NAME_UNKNOWN, /* 404 NAME_UNKNOWN */
	OCTO_ERR_SIZE_INVALID, /* 400 SIZE_INVALID */
	OCTO_ERR_UNAUTHORIZED,
	OCTO_ERR_DENIED,
	OCTO_ERR_UNSUPPORTED, /* 405 UNSUPPORTED (deletes disabled) */
	OCTO_ERR_TOOMANYREQUESTS,
	OCTO_ERR_RANGE_INVALID,       /* 416 BLOB_UPLOAD_INVALID: Content-Range out of order */
	OCTO_ERR_RANGE_UNSATISFIABLE, /* 416 SIZE_INVALID: GET Range beyond the blob */
	OCTO_ERR_NOT_FOUND,           /* 404 UNSUPPORTED: no such endpoint */
	OCTO_ERR_METHOD,              /* 405 UNSUPPORTED: method not allowed on this endpoint */
	OCTO_ERR_TOO_LARGE,           /* 413 SIZE_INVALID */
	OCTO_ERR_BAD_REQUEST,         /* 400 UNSUPPORTED: malformed request (query, headers) */
	OCTO_ERR_INCOMPLETE,          /* 400 BLOB_UPLOAD_INVALID: body shorter than declared */
	OCTO_ERR_IO,                  /* 500 UNKNOWN: the store failed (disk full, permissions) */
	OCTO_ERR_NOMEM,               /* 500 UNKNOWN */
	OCTO_ERR_CONFIG,              /* configuration error (never an HTTP reply) */
	OCTO_ERR_SESSION_BUSY,        /* 429 TOOMANYREQUESTS: another request writes the session */
	OCTO_ERR_HEADERS_TOO_LARGE,   /* 431 UNSUPPORTED: more headers than the adapter holds */
	OCTO_ERR_NO_SPACE,            /* 507 DENIED: the store is below storage.min_free */
	OCTO_ERR_STORE_FULL,          /* 507 DENIED: the file system is full (ENOSPC, EDQUOT) */
	OCTO_ERR_STORE_READONLY,      /* 503 DENIED: the store's file system is read-only */
	OCTO_ERR_STORE_DENIED,        /* 503 DENIED: the store is not writable (EACCES, EPERM) */
	OCTO_ERR_BLOB_UNAVAILABLE, /* 503 BLOB_UNKNOWN: its content is on peers none of which answer */
	OCTO_ERR_NOT_REPLICATED, /* 503 UNAVAILABLE: strong mode could not confirm the copies */
	OCTO_ERR_TAG_CONFLICT,   /* 409 DENIED: strong mode decided a racing write of the tag */
	OCTO_ERR_OBJECT_STORE, /* 503 UNAVAILABLE: the object store (S3) does not answer, or fails */
	OCTO_ERR_LOGIN_THROTTLED, /* 429 TOOMANYREQUESTS: too many failed logins (Retry-After: the
				   * window's end, set by the issuer) */
	OCTO_ERR__COUNT
};

/* HTTP status for err (200 for OCTO_OK). */
int octo_err_status(enum octo_err err);
/* The seconds a client should wait before it tries again (a Retry-After header: RFC 6585 4
 * for 429, RFC 9110 10.2.3 for a 503 that passes), or 0. */
int octo_err_retry_after(enum octo_err err);
/* OCI error code string, e.g. "BLOB_UNKNOWN". */
const char *octo_err_code(enum octo_err err);
/* Human-readable message for err. */
const char *octo_err_message(enum octo_err err);
/* The spec's JSON error body {"errors":[{"code","message","detail"}]} in a malloc'd,
 * NUL-terminated string (NULL on allocation failure). detail may be NULL. */
char *octo_err_json(enum octo_err err, const char *detail, size_t *len);

#endif
