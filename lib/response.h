/* SPDX-License-Identifier: Apache-2.0 */
/* A response as the library fills it: status, headers, a body in memory or a file to send,
 * and the spec's JSON error bodies. A leaf, like request.h. */
#ifndef OCTO_RESPONSE_H
#define OCTO_RESPONSE_H

#include <stddef.h>
#include <stdint.h>

#include "endpoint.h"
#include "error.h"

#define OCTO_RESPONSE_MAX_HEADERS 16
/* A request id: the client's X-Request-Id if it is at most this long and of [A-Za-z0-9._:-],
 * else 32 random hex digits. */
#define OCTO_REQUEST_ID_MAX 64

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
	/* A file still being written (a blob a peer is sending, lazy.h): before sending past
	 * what is final, the sender calls follow(follow_ctx, sent, &ready) (sent: the offset
	 * reached), which waits until more is final or returns -1 (cut the response short);
	 * follow_free(follow_ctx) at cleanup. NULL for a file that is whole. */
	int (*follow)(void *ctx, uint64_t sent, uint64_t *ready);
	void *follow_ctx;
	void (*follow_free)(void *ctx);
	/* Content that is in no file here (a bucket's): after the headers, the sender calls
	 * stream(stream_ctx, file_offset, file_length, put, out), which hands exactly those
	 * bytes in order to put(out, data, len) (0 to go on) and returns 0, or -1 (cut the
	 * response short); stream_free(stream_ctx) at cleanup. NULL when there is none. */
	int (*stream)(void *ctx, uint64_t offset, uint64_t length,
		      int (*put)(void *out, const void *data, size_t len), void *out);
	void *stream_ctx;
	void (*stream_free)(void *ctx);
	enum octo_err error; /* what went wrong, for logs (OCTO_OK on success) */
	char *error_detail;  /* malloc'd, or NULL */
	char request_id[OCTO_REQUEST_ID_MAX + 1]; /* also sent as X-Request-Id */
	enum octo_endpoint endpoint; /* what the router made of the path, for metrics */
	char user[256]; /* who asked, as authentication found ("": anonymous), for the log */
};

void octo_response_init(struct octo_response *resp);
/* Free everything and start over as after init. */
void octo_response_cleanup(struct octo_response *resp);
/* Forget the stream (a HEAD sends none). */
void octo_response_drop_stream(struct octo_response *resp);
/* The value of a response header, or NULL. */
const char *octo_response_header(const struct octo_response *resp, const char *name);
/* Add a header (name: a static string). 0, or -1 when the response is full or out of
 * memory (the caller then answers 500). */
int octo_response_add_header(struct octo_response *resp, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Replace whatever the response held by the error err: its status and the spec's JSON body
 * {"errors":[{"code","message","detail"}]}; detail may be NULL. */
void octo_response_error(struct octo_response *resp, enum octo_err err, const char *detail);

#endif
