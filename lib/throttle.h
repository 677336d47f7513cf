/* SPDX-License-Identifier: Apache-2.0 */
/* Failed logins counted per key (a user name, a client address) in fixed windows, in a table
 * of fixed size in the store (auth/failures) that every responder process of the node shares,
 * so that guessing is limited without a sleeping thread: past the limit the token endpoint
 * answers 429 until the window ends. The table is a ceiling of its own: OCTO_THROTTLE_BUCKETS
 * buckets of OCTO_THROTTLE_WAYS slots; a full bucket gives up its oldest window. */
#ifndef OCTO_THROTTLE_H
#define OCTO_THROTTLE_H

#include <stdint.h>

#include "error.h"
#include "store.h"

#define OCTO_THROTTLE_BUCKETS 2048
#define OCTO_THROTTLE_WAYS 8

struct octo_throttle;

/* The table of store s (created when missing); in process memory when the store is read-only
 * or s is NULL. */
enum octo_err octo_throttle_open(const struct octo_store *s, struct octo_throttle **out);
void octo_throttle_free(struct octo_throttle *t);

/* Milliseconds until key may try again (0: now) with limit failures per window_ms. */
int64_t octo_throttle_wait(struct octo_throttle *t, const char *key, int limit, int64_t window_ms,
			   int64_t now_ms);
/* Count a failure of key. */
void octo_throttle_fail(struct octo_throttle *t, const char *key, int64_t window_ms,
			int64_t now_ms);

#endif
