/* SPDX-License-Identifier: Apache-2.0 */
/* See response.h. */
#include "autoconfig.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "response.h"

void octo_response_init(struct octo_response *resp)
{
	memset(resp, 0, sizeof(*resp));
	resp->status = 200;
	resp->file_fd = -1;
}

/* Drop what a handler put together (status, headers, body, file, error), keeping what
 * belongs to the request (its id, its endpoint). */
static void drop_content(struct octo_response *resp)
{
	size_t i;

	for (i = 0; i < resp->n_headers; i++)
		free(resp->headers[i].value);
	resp->n_headers = 0;
	free(resp->body);
	resp->body = NULL;
	resp->body_len = 0;
	free(resp->error_detail);
	resp->error_detail = NULL;
	resp->error = OCTO_OK;
	if (resp->file_fd >= 0)
		close(resp->file_fd);
	resp->file_fd = -1;
	resp->file_offset = resp->file_length = 0;
	if (resp->follow_free != NULL)
		resp->follow_free(resp->follow_ctx);
	resp->follow = NULL;
	resp->follow_ctx = NULL;
	resp->follow_free = NULL;
	octo_response_drop_stream(resp);
	resp->status = 200;
}

void octo_response_drop_stream(struct octo_response *resp)
{
	if (resp->stream_free != NULL)
		resp->stream_free(resp->stream_ctx);
	resp->stream = NULL;
	resp->stream_ctx = NULL;
	resp->stream_free = NULL;
}

void octo_response_cleanup(struct octo_response *resp)
{
	drop_content(resp);
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

int octo_response_add_header(struct octo_response *resp, const char *name, const char *fmt, ...)
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

void octo_response_error(struct octo_response *resp, enum octo_err err, const char *detail)
{
	drop_content(resp);
	resp->error = err;
	resp->status = octo_err_status(err);
	resp->body = octo_err_json(err, detail, &resp->body_len);
	if (detail != NULL)
		resp->error_detail = strdup(detail);
	octo_response_add_header(resp, "Content-Type", "application/json");
	if (octo_err_retry_after(err) > 0) /* say when to come back */
		octo_response_add_header(resp, "Retry-After", "%d", octo_err_retry_after(err));
}
