/* SPDX-License-Identifier: Apache-2.0 */
/* A request as the library sees it (method, raw URI, headers, a body reader), and the
 * parsers of its untrusted parts: percent-encoding, the query string, Content-Length and
 * the body. A leaf: it knows nothing of the store or the endpoints. */
#ifndef OCTO_REQUEST_H
#define OCTO_REQUEST_H

#include <stddef.h>

#include "body.h"
#include "bounds.h"
#include "error.h"

struct octo_header {
	const char *name; /* matched case-insensitively */
	const char *value;
};

struct octo_request {
	const char *method;
	const char *uri; /* raw REQUEST_URI: path and query, percent-encoding kept */
	const struct octo_header *headers;
	size_t n_headers;
	int headers_dropped; /* the adapter could not hold them all: the request gets 431 */
	int over_capacity;   /* the adapter has no room for another body now: 429 */
	struct octo_body body;
	const char *remote_user; /* NULL when not authenticated */
	const char *remote_addr; /* the client's address as the front saw it, or NULL */
	const char *scheme;      /* "https" when the front took the request over TLS, else NULL */
};

/* The value of a request header, or NULL. */
const char *octo_request_header(const struct octo_request *req, const char *name);

/* Content-Length as the adapter found it: the value, -1 when absent or empty (read the
 * body to its end), OCTO_CONTENT_LENGTH_INVALID when malformed (the request gets 400). */
#define OCTO_CONTENT_LENGTH_INVALID (-2LL)
long long octo_content_length(const char *value);

/* Read the whole body into a malloc'd, NUL-terminated buffer, refusing more than max
 * bytes (OCTO_ERR_TOO_LARGE); a body cut short or shorter than its Content-Length is
 * OCTO_ERR_INCOMPLETE. */
enum octo_err octo_request_read_body(const struct octo_request *req, size_t max, char **out,
				     size_t *len);

/* Percent-decode src[0..len) into dst (room for len + 1 bytes), NUL-terminated. Returns -1
 * on a malformed escape or an encoded NUL. */
int octo_percent_decode(const char *src, size_t len, char *dst);

/* Percent-encode src for a query value: every byte but the unreserved ones (RFC 3986
 * 2.3) becomes %XX. A malloc'd string, or NULL out of memory. */
char *octo_percent_encode(const char *src);

/* The same for a URI path: '/' is kept too, as SigV4's canonical URI wants it. */
char *octo_percent_encode_path(const char *src);

/* A parsed query string; keys and values are percent-decoded and NUL-terminated. */
struct octo_query {
	size_t n;
	struct {
		char *key;
		char *value;
	} params[OCTO_BOUND_QUERY_PARAMS];
	char *storage;
};

/* Parse raw (after '?', NUL-terminated) into q. Returns -1 on a malformed escape, more than
 * OCTO_BOUND_QUERY_PARAMS parameters or no memory; q must be cleaned up either way. */
int octo_query_parse(const char *raw, struct octo_query *q);
void octo_query_cleanup(struct octo_query *q);
/* The first value of a query parameter, or NULL. */
const char *octo_query_get(const struct octo_query *q, const char *key);

#endif
