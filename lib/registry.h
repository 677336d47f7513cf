/* SPDX-License-Identifier: Apache-2.0 */
/* The registry's HTTP semantics in one function: a request in, a response out. Web
 * adapters (the FastCGI responder) only translate; unit tests call it directly. */
#ifndef OCTO_REGISTRY_H
#define OCTO_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "body.h"
#include "config.h"
#include "error.h"
#include "log.h"

struct octo_header {
	const char *name; /* matched case-insensitively */
	const char *value;
};

struct octo_request {
	const char *method;
	const char *uri; /* raw REQUEST_URI: path and query, percent-encoding kept */
	const struct octo_header *headers;
	size_t n_headers;
	struct octo_body body;
	const char *remote_user; /* NULL when not authenticated */
};

#define OCTO_RESPONSE_MAX_HEADERS 16

struct octo_response {
	int status;
	size_t n_headers;
	struct {
		const char *name; /* static string */
		char *value;      /* malloc'd */
	} headers[OCTO_RESPONSE_MAX_HEADERS];
	char *body; /* malloc'd, or NULL */
	size_t body_len;
	/* A file to send after the headers: fd (owned, closed by cleanup), range within it. */
	int file_fd;
	uint64_t file_offset;
	uint64_t file_length;
	enum octo_err error; /* what went wrong, for logs (OCTO_OK on success) */
};

struct octo_registry;

/* cfg and log must outlive the registry. */
enum octo_err octo_registry_new(const struct octo_config *cfg, struct octo_logger *log,
				struct octo_registry **out);
void octo_registry_free(struct octo_registry *reg);
/* Handle one request; resp must have been initialised with octo_response_init. Always
 * fills a complete response (errors become the spec's JSON error bodies). Thread-safe. */
void octo_registry_handle(struct octo_registry *reg, const struct octo_request *req,
			  struct octo_response *resp);

void octo_response_init(struct octo_response *resp);
void octo_response_cleanup(struct octo_response *resp);
/* The value of a response header, or NULL. */
const char *octo_response_header(const struct octo_response *resp, const char *name);
/* Content-Length as the adapter found it: the value, -1 when absent or empty (read the
 * body to its end), OCTO_CONTENT_LENGTH_INVALID when malformed (the request gets 400). */
#define OCTO_CONTENT_LENGTH_INVALID (-2LL)
long long octo_content_length(const char *value);
/* The value of a request header, or NULL. */
const char *octo_request_header(const struct octo_request *req, const char *name);

#endif
