/* SPDX-License-Identifier: Apache-2.0 */
/* Blobs this node wants from its peers (doc/DESIGN.md "How the responder and the peer daemon
 * cooperate"). A marker peer/wanted/<alg>-<hex> holds the node id of a peer likely to have the
 * blob ("" when none is known): the responder leaves one for a client's miss (lazy), the
 * daemon one for a blob this node should hold (eager). The markers are the daemon's fetch
 * queue, on disk, so a restart loses no fetch. While a fetch runs, the bytes grow in
 * peer/incoming/<alg>-<hex>; when no peer could give the blob, the daemon leaves
 * peer/unavailable/<alg>-<hex>, which a waiting responder answers with 503. */
#ifndef OCTO_STORE_WANTED_H
#define OCTO_STORE_WANTED_H

#include <stddef.h>
#include <time.h>

#include "digest.h"
#include "error.h"
#include "store.h"
#include "strv.h"

#define OCTO_WANTED_DIR "peer/wanted"
#define OCTO_INCOMING_DIR "peer/incoming"
#define OCTO_UNAVAILABLE_DIR "peer/unavailable"
#define OCTO_CACHED_DIR "peer/cached"

/* The marker's name for d: "<alg>-<hex>". */
void octo_store_wanted_name(const struct octo_digest *d, char *buf, size_t size);
/* The digest a marker's name stands for; OCTO_ERR_DIGEST_INVALID for any other name. */
enum octo_err octo_store_wanted_digest(const char *name, struct octo_digest *d);
/* Want d, source (may be "") the peer to ask first; durable (an fsync of the marker and of
 * its directory) unless the marker is there already. */
enum octo_err octo_store_want_blob(const struct octo_store *s, const struct octo_digest *d,
				   const char *source);
/* Every marker's name, in no order (an empty list when there is none). */
enum octo_err octo_store_wanted_list(const struct octo_store *s, struct octo_strv *out);
/* The source a marker names, into buf; OCTO_ERR_NAME_UNKNOWN if it is gone. */
enum octo_err octo_store_wanted_source(const struct octo_store *s, const struct octo_digest *d,
				       char *buf, size_t size);
/* Done with d: the marker and any unavailable note removed (OCTO_OK if absent). */
enum octo_err octo_store_unwant_blob(const struct octo_store *s, const struct octo_digest *d);
/* Relative paths of d's growing copy and of its unavailable note. */
enum octo_err octo_store_incoming_rel(const struct octo_digest *d, char *buf, size_t size);
enum octo_err octo_store_unavailable_rel(const struct octo_digest *d, char *buf, size_t size);
/* Note that no peer could give d (now, in the note's time), or read when that was last
 * noted: OCTO_ERR_NAME_UNKNOWN when it was not (or the fetch has begun since). */
enum octo_err octo_store_note_unavailable(const struct octo_store *s, const struct octo_digest *d);
enum octo_err octo_store_unavailable_since(const struct octo_store *s, const struct octo_digest *d,
					   struct timespec *when);

/* A cache copy: a blob fetched for a client by a node that does not hold it by placement,
 * noted peer/cached/<alg>-<hex> so that anti-entropy does not drop it as a surplus copy (it
 * is a cache: it counts toward no replication factor). Losing the note in a crash costs
 * only the copy. */
enum octo_err octo_store_note_cached(const struct octo_store *s, const struct octo_digest *d);
int octo_store_is_cached(const struct octo_store *s, const struct octo_digest *d);
/* The cache copy is gone: its note too (OCTO_OK if there was none). */
enum octo_err octo_store_uncache(const struct octo_store *s, const struct octo_digest *d);

#endif
