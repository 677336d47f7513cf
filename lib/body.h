/* SPDX-License-Identifier: Apache-2.0 */
/* A request body as the library reads it: a pull reader the web adapter provides. */
#ifndef OCTO_BODY_H
#define OCTO_BODY_H

#include <sys/types.h>

struct octo_body {
	/* Read up to n bytes: > 0 bytes read, 0 at the end of the body, -1 when the body
	 * was cut (client abort, protocol error). */
	ssize_t (*read)(void *ctx, void *buf, size_t n);
	void *ctx;
	/* Content-Length, or -1 when the body has none (chunked: read to the end). */
	long long length;
};

#endif
