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
#include "strv.h"

struct octo_gc_options {
	int64_t grace_ms;            /* storage.gc.grace */
	int delete_untagged;         /* remove manifests no tag reaches (never an index's child) */
	int remove_orphan_referrers; /* storage.gc.referrers "remove" */
	int dry_run;                 /* remove nothing: report what would go */
	size_t max_manifest_size;    /* storage.max_manifest_size: larger stored bytes are damage */
	/* in a cluster: the items (collect.h) every other member would remove, sorted; only they
	 * may go, but for the content of cache copies (this node holds them for no one); NULL on a
	 * single node: anything may */
	const struct octo_strv *agreed;
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
	uint64_t kept_for_cluster;     /* candidates here that another member still needs */
	uint64_t dry_run;
};

/* One collection of the store; OCTO_ERR_SESSION_BUSY when another is running (a dry run
 * changes nothing and runs beside anything). */
enum octo_err octo_gc_run(const struct octo_store *s, struct octo_journal *j,
			  const struct octo_gc_options *o, struct octo_gc_result *r);

/* What a collection with o's options would remove (a dry run), as sorted items (collect.h):
 * the candidates a cluster's collection asks its members about. */
enum octo_err octo_gc_candidates(const struct octo_store *s, struct octo_journal *j,
				 const struct octo_gc_options *o, struct octo_strv *items);

/* A member's side of a cluster's collection (collect.h): which of items (sorted) this node would
 * remove too, into agreed (sorted): a dry run with o's options; a manifest or link item when it
 * would remove it, a blob item when it would remove the content here or, not holding it,
 * nothing here links, holds or names it. */
enum octo_err octo_gc_agree(const struct octo_store *s, struct octo_journal *j,
			    const struct octo_gc_options *o, const struct octo_strv *items,
			    struct octo_strv *agreed);

/* A collection's removal of repo's record naming d came from a peer (an event of type
 * blob.collect or manifest.collect, already applied here): if this node still needs it (a link:
 * a live revision of repo names d, as one pushed here after this node agreed to the removal
 * would; a manifest: a live tag of repo points at it), it is written again, journalled as a
 * repair with a stamp past the removal's, so it wins on every node. *restored says whether. */
enum octo_err octo_gc_restore(const struct octo_store *s, struct octo_journal *j, const char *repo,
			      const struct octo_digest *d, int manifest, size_t max_manifest_size,
			      int *restored);

/* The last collection's result, kept in the store (ops/gc.json, report.h) for stats and metrics. */
enum octo_err octo_gc_save(const struct octo_store *s, const struct octo_gc_result *r);
enum octo_err octo_gc_last(const struct octo_store *s, struct octo_gc_result *r);

#endif
