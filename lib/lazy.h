/* SPDX-License-Identifier: Apache-2.0 */
/* A blob a repository here links but whose content is on other nodes (a lazy strategy's
 * non-holder, or a holder still catching up): the responder's side of a lazy fetch
 * (doc/DESIGN.md "How the responder and the peer daemon cooperate"). It leaves a wanted
 * marker (store-wanted.h) and waits, bounded, for the peer daemon to start bringing the
 * bytes; the response then streams from the growing copy as it grows, the last byte held
 * back until the daemon has verified and committed the blob, so a client never receives a
 * whole blob that is not its digest. */
#ifndef OCTO_LAZY_H
#define OCTO_LAZY_H

#include <stdint.h>

#include "digest.h"
#include "error.h"
#include "store.h"

/* Want d (source: the node that wrote the link, asked first) and wait at most timeout_ms
 * for its bytes: OCTO_OK with *fd open on the committed content (*growing 0) or on the
 * copy being fetched (*growing 1); OCTO_ERR_BLOB_UNAVAILABLE when no peer could give it. */
enum octo_err octo_lazy_wait(const struct octo_store *s, const struct octo_digest *d,
			     const char *source, int64_t timeout_ms, int *fd, int *growing);

/* Following a growing copy of size bytes on fd, for octo_response.follow: idle_ms without
 * a new byte ends it. NULL when out of memory. */
struct octo_lazy_follow;
struct octo_lazy_follow *octo_lazy_follow_new(const struct octo_store *s,
					      const struct octo_digest *d, int fd, uint64_t size,
					      int64_t idle_ms);
/* Wait until more than sent bytes are final: 0 with *ready (how many are), or -1 when the
 * fetch failed (the response must be cut short). */
int octo_lazy_follow(void *follow, uint64_t sent, uint64_t *ready);
void octo_lazy_follow_free(void *follow);

#endif
