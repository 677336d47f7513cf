/* SPDX-License-Identifier: Apache-2.0 */
/* Event notifications (notifications.endpoints): what an endpoint is sent, decided here; the
 * HTTP POST is octoserve-admin's (libcurl stays out of the library). Each endpoint reads the
 * journal from its own cursor (journal/cursors/notify-<name>), so delivery survives a restart
 * or a kill -9 (at least once: a batch sent but not yet noted is sent again, with the same
 * ids), and an endpoint that is down holds journal segments on disk, never memory. Only
 * changes that happened on this node are announced (a peer's write applied here, and
 * anti-entropy's repairs, are its origin's to announce), so in a cluster each change is
 * announced once, with an id unique across the cluster: the store's incarnation id and the
 * event's sequence number. */
#ifndef OCTO_NOTIFY_H
#define OCTO_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "error.h"
#include "journal.h"
#include "store.h"

/* The envelope's media type (Distribution's, whose shape the events follow where they can). */
#define OCTO_NOTIFY_MEDIA_TYPE "application/vnd.docker.distribution.events.v1+json"
/* The journal cursor of endpoint name, into buf. */
enum octo_err octo_notify_cursor_name(const char *name, char *buf, size_t size);

/* A batch of events for one endpoint: the journal after `after`, at most e->batch events the
 * endpoint's filters let through; *last_seq gets the last sequence number looked at (events
 * filtered out up to it need no sending either), *n the events, *body the envelope (malloc'd
 * JSON, NULL when none was taken), *oldest_ms the first event's time. A line that is not a
 * valid event is skipped. */
struct octo_notify_batch {
	char *body;
	size_t len, n;
	uint64_t last_seq, oldest_ms;
};
enum octo_err octo_notify_batch(const struct octo_journal *j, const char *incarnation,
				const struct octo_notify_endpoint *e, uint64_t after,
				struct octo_notify_batch *b);
void octo_notify_batch_cleanup(struct octo_notify_batch *b);

/* Each endpoint's delivery as the notifier last saw it, kept in ops/notify.json for stats and
 * /metrics: counts since the notifier first ran on this store. */
struct octo_notify_status {
	char name[33];
	uint64_t cursor, lag_events, lag_ms, delivered, failures, last_success_ms;
	char last_error[200];
};
enum octo_err octo_notify_status_save(const struct octo_store *s,
				      const struct octo_notify_status *st, size_t n);
/* The status of name from the file, if there (else zeros, OCTO_ERR_NAME_UNKNOWN). */
enum octo_err octo_notify_status_load(const struct octo_store *s, const char *name,
				      struct octo_notify_status *st);

#endif
