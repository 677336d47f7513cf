/* SPDX-License-Identifier: Apache-2.0 */
/* Garbage collection, online (doc/DESIGN.md "Garbage collection"): a mark from every
 * repository's records (tags, the manifests they and indexes reach, referrers, links), then
 * sweeps of what nothing marked: manifests (only when asked: delete_untagged, or referrers of a
 * subject that is gone under the "remove" policy), links no kept manifest names, and content no
 * repository links or holds. Nothing renewed within the grace is removed, and each candidate
 * is checked again under its content's lock (store-blob.h), so a push, a mount or a HEAD that
 * runs at the same time always wins. Removals of records are journalled as tombstones. One
 * collection at a time per store. */
#ifndef OCTO_GC_H
#define OCTO_GC_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "journal.h"
#include "store.h"

struct octo_gc_options {
	int64_t grace_ms;            /* storage.gc.grace */
	int delete_untagged;         /* remove manifests no tag reaches (never an index's child) */
	int remove_orphan_referrers; /* storage.gc.referrers "remove" */
	int dry_run;                 /* remove nothing: report what would go */
	size_t max_manifest_size;    /* storage.max_manifest_size: larger stored bytes are damage */
	/* how far a phase ("mark", "sweep") is: done of total items; may be NULL */
	void (*progress)(void *ctx, const char *phase, uint64_t done, uint64_t total);
	/* each removal (or what would go): kind "manifest", "link" or "blob", the repository
	 * ("" for content), the digest and the bytes; may be NULL */
	void (*removed)(void *ctx, const char *kind, const char *repo, const char *digest,
			uint64_t size);
	void *ctx;
};

struct octo_gc_result {
	uint64_t started_ms;              /* wall clock at the start */
	uint64_t mark_ms, sweep_ms;       /* how long each phase took */
	uint64_t repositories;            /* looked at */
	uint64_t manifests, links, blobs; /* looked at */
	uint64_t manifests_removed, links_removed, blobs_removed;
	uint64_t bytes_freed;
	uint64_t kept_in_grace;        /* candidates renewed within the grace, kept */
	uint64_t skipped_repositories; /* with a manifest that could not be read: nothing swept */
	uint64_t dry_run;
};

/* One collection of the store; OCTO_ERR_SESSION_BUSY when another is running. */
enum octo_err octo_gc_run(const struct octo_store *s, struct octo_journal *j,
			  const struct octo_gc_options *o, struct octo_gc_result *r);

/* The last collection's result, kept in the store (ops/gc.json, report.h) for stats and metrics. */
enum octo_err octo_gc_save(const struct octo_store *s, const struct octo_gc_result *r);
enum octo_err octo_gc_last(const struct octo_store *s, struct octo_gc_result *r);

#endif
