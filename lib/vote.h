/* SPDX-License-Identifier: Apache-2.0 */
/* This node as a voter in strong consistency's agreement on tag writes (doc/DESIGN.md
 * "Strong consistency"): single-decree Paxos for each write of a tag, the writes of one tag
 * numbered by slot. A voter keeps, per tag, durably in peer/votes/<32 hex of sha256(repo,
 * tag)>: its open slot (every write before it is decided), the highest ballot it promised
 * (kept across slots: ballots of one tag only grow), what it accepted in the open slot, and
 * the write decided in the slot before. The rules are Paxos's: promise a ballot above every
 * promise; accept in the open slot under a ballot no lower than the promise; a decided
 * write moves the slot on and is written to the store as the tag's record (its stamp the
 * proposer's, the same on every node). A voter whose state cannot be read votes no more for
 * that tag (an error, never a vote from nothing). */
#ifndef OCTO_VOTE_H
#define OCTO_VOTE_H

#include <stdint.h>

#include "digest.h"
#include "error.h"
#include "journal.h"
#include "record.h"
#include "store.h"

#define OCTO_VOTES_DIR "peer/votes"

/* A proposer's ballot: a clock tick and its node, ordered by the tick, then the node. */
struct octo_vote_ballot {
	uint64_t hlc;
	char node[OCTO_NODE_ID_MAX + 1]; /* "" in the zero ballot, below every other */
};
int octo_vote_ballot_cmp(const struct octo_vote_ballot *a, const struct octo_vote_ballot *b);

/* A write of a tag: the record every node writes once it is decided. */
struct octo_vote_write {
	uint64_t hlc, time_ms;
	char node[OCTO_NODE_ID_MAX + 1];
	int tombstone;                       /* a delete of the tag */
	char digest[OCTO_DIGEST_MAX_STRING]; /* what the tag points at, unless a tombstone */
};
/* Whether w is a write a peer may send: a valid node, a digest or a tombstone. */
int octo_vote_write_valid(const struct octo_vote_write *w);

struct octo_vote_state {
	uint64_t slot;
	struct octo_vote_ballot promised;
	int has_accepted;
	struct octo_vote_ballot accepted_ballot;
	struct octo_vote_write accepted;
	int has_chosen; /* the write decided in slot - 1 */
	struct octo_vote_write chosen;
};

/* The three phases, each under the tag's lock (peer/votes/<hex>.lock), each durable
 * (fdatasync and rename) before it returns; *ok says whether the voter promised, accepted
 * or learned, and *st is its state after. repo and tag must be valid. */
enum octo_err octo_vote_prepare(const struct octo_store *s, const char *repo, const char *tag,
				const struct octo_vote_ballot *b, int *ok,
				struct octo_vote_state *st);
enum octo_err octo_vote_accept(const struct octo_store *s, const char *repo, const char *tag,
			       uint64_t slot, const struct octo_vote_ballot *b,
			       const struct octo_vote_write *w, int *ok,
			       struct octo_vote_state *st);
/* Write slot is w: the tag's record written through octo_apply_record (journalled with w's
 * stamp, so it reaches every member as any change does), then the slot moved past it. A
 * slot already behind the open one is written all the same (the record rule keeps the
 * later write). */
enum octo_err octo_vote_learn(struct octo_store *s, struct octo_journal *j, const char *repo,
			      const char *tag, uint64_t slot, const struct octo_vote_write *w,
			      struct octo_vote_state *st);

#endif
