/* SPDX-License-Identifier: Apache-2.0 */
/* A strong-mode write handed from the responder to the peer daemon and answered back,
 * through the store (doc/DESIGN.md "Strong consistency"). The responder writes a request,
 * peer/strong/<32 hex>, and polls for its answer, peer/strong/<32 hex>.done, bounded by
 * p2p.replication.strong_timeout; the daemon takes each request, brings its blobs to
 * `factor` durable copies, waits for a majority of the voters to hold the journal event it
 * names, has the tag write decided, and answers. Neither file is synced: both live only as long as
 * the waiting client, which a crash of the machine takes with it (a daemon restarted
 * meanwhile finds it); one whose client gave up is removed, and its late answer with it. */
#ifndef OCTO_STRONG_H
#define OCTO_STRONG_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "error.h"
#include "name.h"
#include "store.h"
#include "strv.h"

#define OCTO_STRONG_DIR "peer/strong"
/* The most blobs one request names (a manifest's layers and config). */
#define OCTO_STRONG_BLOBS_MAX 4096

struct octo_strong_request {
	char repo[OCTO_NAME_MAX + 1];
	char tag[OCTO_TAG_MAX + 1];          /* "": no tag write */
	int tombstone;                       /* the tag write is a delete */
	char digest[OCTO_DIGEST_MAX_STRING]; /* the tag's target, unless a delete */
	struct octo_digest *blobs;           /* content to bring to factor copies */
	size_t n_blobs;
	uint64_t seq;         /* the journal event a majority of voters must hold (0: none) */
	uint64_t since_hlc;   /* when the write began: a write of the tag decided later raced it */
	uint64_t deadline_ms; /* wall clock: past it the responder no longer waits */
};
void octo_strong_request_cleanup(struct octo_strong_request *r);

/* The responder's side: ask for req (its deadline set here, timeout_ms from now) and wait.
 * OCTO_OK once the daemon confirmed; OCTO_ERR_TAG_CONFLICT when a racing write of the tag
 * was decided instead; OCTO_ERR_NOT_REPLICATED when the daemon could not confirm (no
 * majority, no copies) or did not answer in time; why into detail. */
enum octo_err octo_strong_wait(const struct octo_store *s, struct octo_strong_request *req,
			       int64_t timeout_ms, char *detail, size_t size);

/* A tag's delete decided by the voters (a request naming the tag as a tombstone, begun now):
 * octo_strong_wait's outcomes. */
enum octo_err octo_strong_delete_tag(const struct octo_store *s, const char *repo, const char *tag,
				     int64_t timeout_ms, char *detail, size_t size);

/* The daemon's side: the ids of the requests waiting (in no order), one read back (checked:
 * names, digests, counts), and its answer (outcome OCTO_OK, OCTO_ERR_TAG_CONFLICT or
 * OCTO_ERR_NOT_REPLICATED, with why), written only while the request is there. */
enum octo_err octo_strong_pending(const struct octo_store *s, struct octo_strv *ids);
enum octo_err octo_strong_read(const struct octo_store *s, const char *id,
			       struct octo_strong_request *req);
enum octo_err octo_strong_answer(const struct octo_store *s, const char *id, enum octo_err outcome,
				 const char *detail);
/* Remove answers nobody waits for any more (their request is gone): a client that gave up
 * just as the answer came. */
void octo_strong_sweep(const struct octo_store *s);

#endif
