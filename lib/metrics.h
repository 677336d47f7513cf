/* SPDX-License-Identifier: Apache-2.0 */
/* Counters shared by every process and thread serving one store: a file of the store
 * (metrics.counters) of fixed slots, mapped shared by each, added to atomically. Each slot is
 * the total since the file was made, so a responder that dies or is respawned takes nothing
 * with it and nothing is summed at scrape. The peer daemon and tools can map the same file.
 * Not synced: after a power loss the counters may lose recent increments (Prometheus sees
 * a reset), never data. */
#ifndef OCTO_METRICS_H
#define OCTO_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "endpoint.h"
#include "error.h"
#include "store.h"

struct octo_metrics;

/* What the store holds, kept up to date by the code that changes it. */
enum octo_gauge {
	OCTO_GAUGE_BLOBS,        /* content files in blobs/ (manifests included) */
	OCTO_GAUGE_BLOB_BYTES,   /* their total size */
	OCTO_GAUGE_REPOSITORIES, /* repositories holding a manifest, as _catalog lists them */
	OCTO_GAUGE_UPLOADS, /* upload sessions open: started, not finished, cancelled or expired */
	OCTO_GAUGE__COUNT
};

/* Counts the gauges' values from the store itself (a scan). */
typedef enum octo_err (*octo_metrics_census_fn)(const struct octo_store *s,
						int64_t gauges[OCTO_GAUGE__COUNT]);

/* Map the store's counters, creating or re-creating the file when it is missing or of
 * another layout. Every process that maps them holds a shared lock on the file for as long
 * as it does; the first one (nobody else holds it) sets the gauges from census, while the
 * others wait to map, so no change is counted twice or lost. */
enum octo_err octo_metrics_open(const struct octo_store *s, octo_metrics_census_fn census,
				struct octo_metrics **out);
/* Counters of this process alone (a read-only store, where no file can be shared): the
 * gauges from census, the counts from zero. */
enum octo_err octo_metrics_open_private(const struct octo_store *s, octo_metrics_census_fn census,
					struct octo_metrics **out);
void octo_metrics_close(struct octo_metrics *m);

/* Add delta (may be negative) to a gauge. NULL m: nothing. */
void octo_metrics_gauge_add(struct octo_metrics *m, enum octo_gauge g, int64_t delta);
int64_t octo_metrics_gauge(const struct octo_metrics *m, enum octo_gauge g);
/* One fsync (or fdatasync) that took us microseconds. NULL m: nothing. */
void octo_metrics_fsync(struct octo_metrics *m, long long us);
/* A strong-mode write (strong.h) ended so, its client having waited us microseconds. */
enum octo_strong_outcome {
	OCTO_STRONG_CONFIRMED,
	OCTO_STRONG_CONFLICT,
	OCTO_STRONG_REFUSED,
	OCTO_STRONG_TIMEOUT,
	OCTO_STRONG__COUNT
};
void octo_metrics_strong(struct octo_metrics *m, enum octo_strong_outcome o, long long us);

/* What the operations (octoserve-admin, and the responder's collection of expired uploads)
 * did: counters, and the times of the last runs. */
enum octo_op_counter {
	OCTO_OP_GC_RUNS,
	OCTO_OP_GC_MANIFESTS, /* removed */
	OCTO_OP_GC_LINKS,
	OCTO_OP_GC_BLOBS,
	OCTO_OP_GC_BYTES,
	OCTO_OP_GC_LAST,          /* ms since the epoch (set) */
	OCTO_OP_GC_LAST_DURATION, /* ms (set) */
	OCTO_OP_UPLOADS_PURGED,
	OCTO_OP_UPLOAD_BYTES_PURGED,
	OCTO_OP_SCRUB_RUNS,
	OCTO_OP_SCRUB_BLOBS,
	OCTO_OP_SCRUB_BYTES,
	OCTO_OP_SCRUB_CORRUPT,
	OCTO_OP_SCRUB_LAST, /* ms since the epoch (set) */
	OCTO_OP_RETENTION_RUNS,
	OCTO_OP_RETENTION_TAGS, /* removed */
	OCTO_OP__COUNT
};
void octo_metrics_op_add(struct octo_metrics *m, enum octo_op_counter c, uint64_t delta);
void octo_metrics_op_set(struct octo_metrics *m, enum octo_op_counter c, uint64_t value);

/* One answered request: its method, endpoint, status, body bytes read and
 * written, duration, and the error it ended with (OCTO_OK if none). NULL m: nothing. */
void octo_metrics_request(struct octo_metrics *m, const char *method, enum octo_endpoint ep,
			  int status, uint64_t bytes_in, uint64_t bytes_out, long long duration_us,
			  enum octo_err err);

/* The Prometheus text exposition (version 0.0.4) of the counters, malloc'd (NULL: out of
 * memory); only series that have counted something. */
char *octo_metrics_text(const struct octo_metrics *m, size_t *len);

/* The peer daemon's state as it writes it in the store, for `octoserve-peer status` and for
 * the metrics below: its members and outboxes, and its last anti-entropy round. */
#define OCTO_PEER_STATUS_REL "peer/status.json"
#define OCTO_PEER_SYNC_STATUS_REL "peer/sync.json"

/* Append to text (len bytes, from octo_metrics_text; grown with realloc) the peer daemon's
 * state as gauges: members by state, each member's outbox (events and the oldest one's
 * age), the fetch queue, and the last anti-entropy round (when, what it repaired, the blobs
 * this node should hold and lacks), with the time the daemon wrote them (a daemon that
 * stopped shows as a time that no longer moves). Nothing when the daemon never wrote them.
 * The text, or NULL (out of memory: text freed). */
char *octo_metrics_peer_text(const struct octo_store *s, char *text, size_t *len);
/* The same for the event notifications' delivery (ops/notify.json), when there is any. */
#define OCTO_NOTIFY_STATUS_REL "ops/notify.json"
char *octo_metrics_notify_text(const struct octo_store *s, char *text, size_t *len);

#endif
