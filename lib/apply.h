/* SPDX-License-Identifier: Apache-2.0 */
/* A peer's change applied to this node's store (doc/DESIGN.md "Records"): the manifest's
 * bytes first (checked against their digest), then the event journalled here with its
 * origin (so this node's clock moves past the peer's, and the change is never sent back),
 * then each record written with the peer's stamp under the one last-writer-wins rule, so
 * that applying the same events in any order, any number of times, leaves the same store. */
#ifndef OCTO_APPLY_H
#define OCTO_APPLY_H

#include <stddef.h>

#include "error.h"
#include "event.h"
#include "journal.h"
#include "store.h"

/* Apply ev (parsed and checked by octo_event_parse) with the stamp of its records (its
 * origin's when the peer relays a write it applied itself) and manifest (len bytes, NULL
 * unless ev writes a revision). OCTO_ERR_MANIFEST_INVALID for bytes that are missing or not the
 * revision's digest; the store's and the journal's errors. */
enum octo_err octo_apply_event(struct octo_store *s, struct octo_journal *j,
			       const struct octo_event *ev, const void *manifest, size_t len);

/* A record a peer holds (anti-entropy: the peer's r under key of repo), applied as an event
 * of type OCTO_EVENT_REPAIR with r's stamp, checked first as octo_event_parse checks a line:
 * the repository's name, the key's shape, the value, the node. OCTO_ERR_NAME_INVALID for
 * what is not valid; else as octo_apply_event (manifest: the bytes of a revision's
 * manifest, NULL otherwise). */
enum octo_err octo_apply_record(struct octo_store *s, struct octo_journal *j, const char *repo,
				const char *key, const struct octo_record *r, const void *manifest,
				size_t len);

#endif
