/* SPDX-License-Identifier: Apache-2.0 */
/* The change journal: one JSON line per committed change, with a sequence number and a
 * hybrid logical clock that are strictly increasing across every process sharing the
 * store. An event is durable
 * (fdatasync, shared by concurrent appenders: group commit) before octo_journal_append
 * returns, so before the client's 201. */
#ifndef OCTO_JOURNAL_H
#define OCTO_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "error.h"
#include "record.h"
#include "store.h"
#include "strv.h"

/* A record an event writes (store-record.h): its key in the repository, and its value, or
 * NULL for a tombstone. The record's stamp is the event's (hlc, time_ms, node). */
struct octo_journal_change {
	const char *key;
	const char *value;
};

struct octo_journal_event {
	const char *type;   /* "blob.put", "blob.mount", "blob.delete", "manifest.put", ... */
	const char *repo;   /* repository name */
	const char *digest; /* "sha256:…" or NULL */
	const char *tag;    /* or NULL */
	const struct octo_journal_change *records; /* what the change writes, in order */
	size_t n_records;
	/* NULL for a change made here; for a peer's write applied here, its stamp: the records
	 * carry it, the event's own clock moves past it (octo_hlc_merge), and the line names
	 * it as "origin", so that the write is never sent back to where it came from. */
	const struct octo_record_stamp *origin;
};

struct octo_journal;

/* Open the store's journal for appending; node (p2p.node_id) goes into every event, and the
 * current file is sealed into a segment once it holds segment_size bytes. */
enum octo_err octo_journal_open(const struct octo_store *s, const char *node, uint64_t segment_size,
				struct octo_journal **out);
void octo_journal_close(struct octo_journal *j);
/* Whether the journal can be opened for appending (readiness), writing nothing. */
enum octo_err octo_journal_check(const struct octo_journal *j);
/* Append ev to journal/events, returning once it is durable (its fdatasync may be another
 * appender's: concurrent appends share one). The event gets the next sequence number and
 * the next tick of the node's clock (past the last event's, whatever the wall clock did),
 * the node id and the store's incarnation id; *seq (may be NULL) gets the first, *stamp
 * (may be NULL) the clock, the wall clock and the node: the stamp of the event's records
 * (node points into j). A journal whose last line does not begin with {"seq":<number>, is
 * not ours: OCTO_ERR_IO. */
enum octo_err octo_journal_append(struct octo_journal *j, const struct octo_journal_event *ev,
				  uint64_t *seq, struct octo_record_stamp *stamp);
/* Record a change: append {type, repo, d, tag, records} (d and tag may be NULL). */
enum octo_err octo_journal_record(struct octo_journal *j, const char *type, const char *repo,
				  const struct octo_digest *d, const char *tag,
				  const struct octo_journal_change *records, size_t n_records,
				  struct octo_record_stamp *stamp);
/* Consumers (the peer daemon, notifications, GC) each keep a named cursor in the store
 * (journal/cursors/<name>, [a-z0-9_-]{1,64}): the last sequence number they have acted on.
 * Setting one registers the consumer, dropping it unregisters; sealed segments every
 * registered consumer is past are removed (all but the newest, when none is registered).
 * OCTO_ERR_NAME_INVALID for a bad name, OCTO_ERR_NAME_UNKNOWN for a missing cursor. */
enum octo_err octo_journal_cursor_set(struct octo_journal *j, const char *name, uint64_t seq);
enum octo_err octo_journal_cursor_get(const struct octo_journal *j, const char *name,
				      uint64_t *seq);
enum octo_err octo_journal_cursor_drop(struct octo_journal *j, const char *name);
/* The names of the cursors keep (may be NULL) accepts, in no order (none: an empty list). */
enum octo_err octo_journal_cursor_list(const struct octo_journal *j,
				       int (*keep)(const char *name, size_t len),
				       struct octo_strv *names);
/* The last sequence number in the journal (0 for none), read from its end: how a consumer
 * knows, without a scan, that nothing came after its cursor. */
enum octo_err octo_journal_last(const struct octo_journal *j, uint64_t *seq);
/* Remove the sealed segments no cursor needs (the append does it at each seal); *removed
 * (may be NULL) counts them. */
enum octo_err octo_journal_trim(struct octo_journal *j, size_t *removed);
/* fn(ctx, seq, line, len) for every event numbered after `after`, in order, across the
 * segments (a segment sealed during the scan is followed); fn returns non-zero to stop.
 * Events already trimmed are an error. */
enum octo_err octo_journal_scan(const struct octo_journal *j, uint64_t after,
				int (*fn)(void *ctx, uint64_t seq, const char *line, size_t len),
				void *ctx);
/* The head of a journal line: {"seq":<digits>, then "hlc":<digits>, (0 when absent, in lines
 * from before clocks), each with no sign, no leading zero and no overflow. 0, or -1. */
int octo_journal_parse_head(const char *line, size_t len, uint64_t *seq, uint64_t *hlc);
/* Absolute path of the journal file, written into buf; OCTO_ERR_IO if it does not fit. */
enum octo_err octo_journal_path(const struct octo_store *s, char *buf, size_t size);

#endif
