/* SPDX-License-Identifier: Apache-2.0 */
/* Scrub: every content file (blobs and manifests) hashed again and compared with its name. A
 * file that is not its digest (a flipped byte, a truncation) is moved, under its content lock,
 * to quarantine/<alg>-<hex>.<time> and reported; in a cluster it is wanted again
 * (store-wanted.h), so the peer daemon fetches a good copy from a holder. */
#ifndef OCTO_SCRUB_H
#define OCTO_SCRUB_H

#include <stdint.h>

#include "error.h"
#include "store.h"

struct octo_scrub_options {
	int dry_run; /* report, move nothing */
	int refetch; /* in a cluster: want each quarantined blob again */
	/* items done of total (may be NULL); each bad file: its digest and why (may be NULL) */
	void (*progress)(void *ctx, const char *phase, uint64_t done, uint64_t total);
	void (*corrupt)(void *ctx, const char *digest, const char *why);
	void *ctx;
};

struct octo_scrub_result {
	uint64_t started_ms, duration_ms;
	uint64_t blobs, bytes; /* hashed */
	uint64_t corrupt;      /* found not to be their digest */
	uint64_t quarantined;  /* of them, moved aside (all but in a dry run) */
	uint64_t refetching;   /* of them, wanted again from the cluster */
	uint64_t dry_run;
};

enum octo_err octo_scrub_run(const struct octo_store *s, const struct octo_scrub_options *o,
			     struct octo_scrub_result *r);

/* The last scrub's result, kept in the store (ops/scrub.json). */
enum octo_err octo_scrub_save(const struct octo_store *s, const struct octo_scrub_result *r);
enum octo_err octo_scrub_last(const struct octo_store *s, struct octo_scrub_result *r);

#endif
