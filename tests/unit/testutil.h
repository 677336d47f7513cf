/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the unit tests: temporary stores, in-memory request bodies, one-call requests. */
#ifndef OCTO_TESTUTIL_H
#define OCTO_TESTUTIL_H

#include <stddef.h>

#include "registry.h"

/* mkdtemp under /tmp; the caller frees and removes with tu_rmtree. */
char *tu_tempdir(void);
void tu_rmtree(const char *path);

/* A body over a buffer; fail_after >= 0 makes reads fail once that many bytes were read
 * (a client that went away). */
struct tu_body {
	const char *data;
	size_t len;
	size_t pos;
	long long fail_after;
};
void tu_body_init(struct octo_body *body, struct tu_body *tb, const void *data, size_t len,
		  long long declared_length);

/* A registry over a fresh store, with default configuration. */
struct tu_registry {
	char *dir;
	struct octo_config cfg;
	struct octo_registry *reg;
};
void tu_registry_start(struct tu_registry *t);
void tu_registry_stop(struct tu_registry *t);
/* cmocka setup and teardown of a struct tu_registry as the test's state. */
int tu_setup(void **state);
int tu_teardown(void **state);

/* The client address tu_request's requests come from (NULL: none). */
extern const char *tu_remote_addr;
/* Make one request; headers as "Name", "value" pairs ending with NULL. The response must
 * be cleaned up by the caller. */
void tu_request(struct tu_registry *t, const char *method, const char *uri, const void *body,
		size_t body_len, struct octo_response *resp, ...);

/* Push data as a monolithic upload (asserting 201); its digest string (static). */
const char *tu_push(struct tu_registry *t, const char *repo, const char *data);
/* Push a config blob and an OCI image manifest tagged tag (asserting 201); the manifest's
 * digest string (static). */
const char *tu_put_tag(struct tu_registry *t, const char *repo, const char *tag);
/* The first error code of a JSON error body ("" when none), in a static buffer. */
const char *tu_error_code(const struct octo_response *resp);
/* Write len bytes to path (creating or truncating it); aborts on failure. */
void tu_write_file(const char *path, const void *data, size_t len);

/* "sha256:<hex>" of data, in a static buffer. */
const char *tu_sha256(const void *data, size_t len);

#endif
