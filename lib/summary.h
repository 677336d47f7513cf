/* SPDX-License-Identifier: Apache-2.0 */
/* Summaries for anti-entropy (doc/DESIGN.md "Anti-entropy"): what a node's records are, in
 * a few bytes, so that two nodes holding the same find it out at the cost of one hash. A
 * record's hash covers its repository, key, clock, node and whether it is a tombstone (the
 * stamp names one write: its value cannot differ); a repository's hash is the XOR of its
 * records', a bucket's (256 of them, by a hash of the repository's name) the XOR of its
 * repositories', and the root the XOR of the buckets'. XOR makes every level independent
 * of order. Tombstones are counted only until they are near their expiry, so that nodes
 * whose expiries run at different times do not differ for it.
 *
 * The same walk lists what the blob side of anti-entropy needs: every blob some repository
 * links (with its size), and every manifest some repository holds. */
#ifndef OCTO_SUMMARY_H
#define OCTO_SUMMARY_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "error.h"
#include "record.h"
#include "store.h"

#define OCTO_SUMMARY_BUCKETS 256
#define OCTO_SUMMARY_HASH 16

struct octo_summary_repo {
	char *name;
	uint8_t hash[OCTO_SUMMARY_HASH];
	unsigned bucket;
};

struct octo_summary_blob {
	struct octo_digest digest;
	uint64_t size;
};

struct octo_summary {
	uint8_t root[OCTO_SUMMARY_HASH];
	uint8_t buckets[OCTO_SUMMARY_BUCKETS][OCTO_SUMMARY_HASH];
	struct octo_summary_repo *repos; /* by bucket, then name */
	size_t n_repos;
	struct octo_summary_blob *linked; /* distinct, sorted by digest */
	size_t n_linked;
	struct octo_digest *manifests; /* distinct, sorted */
	size_t n_manifests;
	size_t n_records;
};

/* The bucket of a repository. */
unsigned octo_summary_bucket(const char *repo);
/* Whether r counts at now_ms: a value always; a tombstone while younger than horizon_ms. */
int octo_summary_counts(const struct octo_record *r, uint64_t now_ms, uint64_t horizon_ms);
/* XOR the hash of the record r under key of repo into acc. */
void octo_summary_add(uint8_t acc[OCTO_SUMMARY_HASH], const char *repo, const char *key,
		      const struct octo_record *r);

/* Whether key is a record's key (event.h's shapes), for octo_store_record_each. */
int octo_summary_is_key(const char *key);

/* Summarise the store at now_ms (tombstones counted while younger than horizon_ms). */
enum octo_err octo_summary_build(const struct octo_store *s, uint64_t now_ms, uint64_t horizon_ms,
				 struct octo_summary *out);
void octo_summary_cleanup(struct octo_summary *sum);
/* The repository of that name in bucket order, or NULL. */
const struct octo_summary_repo *octo_summary_find(const struct octo_summary *sum, const char *repo);
/* Whether d is a manifest some repository holds, or a blob some repository links (its
 * size into *size, which may be NULL). */
int octo_summary_is_manifest(const struct octo_summary *sum, const struct octo_digest *d);
int octo_summary_is_linked(const struct octo_summary *sum, const struct octo_digest *d,
			   uint64_t *size);

#endif
