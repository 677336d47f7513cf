/* SPDX-License-Identifier: Apache-2.0 */
/* The members a node knows and what their health checks said (doc/DESIGN.md "Clustering"):
 * learned from the bootstrap peers (an address whose id comes with its first answer) and
 * from the members each peer lists in its answers (peer exchange). A member is down after
 * failure_threshold failed checks in a row and up again after one success. The table is
 * plain data: the daemon locks it. */
#ifndef OCTO_MEMBER_H
#define OCTO_MEMBER_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"

#define OCTO_MEMBER_ADDRESS_MAX 255

enum octo_member_state {
	OCTO_MEMBER_UNKNOWN,
	OCTO_MEMBER_UP,
	OCTO_MEMBER_DOWN
};

struct octo_member {
	char id[OCTO_NODE_ID_MAX + 1];             /* "" until its first answer */
	char address[OCTO_MEMBER_ADDRESS_MAX + 1]; /* host:port of its peer port */
	enum octo_member_state state;
	int misses;            /* failed checks in a row */
	uint64_t last_seen_ms; /* its last answer, 0: never */
	uint64_t changed_ms;   /* when state last changed */
	int refused;           /* the last check was refused (the daemon logs the first) */
	char store[64];        /* its store's incarnation as it last answered ("": not yet) */
	/* since the daemon started: changes it took from this node, their bytes, and the blob
	 * bytes this node fetched from it */
	uint64_t sent_changes, sent_bytes, fetched_bytes;
	uint64_t failed_sends, failed_fetches; /* Apply calls and fetches from it that failed */
};

struct octo_members {
	struct octo_member *v;
	size_t n, cap;
	const char *self;         /* this node's id: never a member of its own table */
	const char *self_address; /* nor its own address */
	int failure_threshold;
	/* other addresses this node answered at ("localhost:6000", a DNS record listing every
	 * node): never learned again */
	char (*self_aliases)[OCTO_MEMBER_ADDRESS_MAX + 1];
	size_t n_self_aliases;
	char (*forgotten)[OCTO_NODE_ID_MAX + 1]; /* removed for good (octo_members_forget) */
	size_t n_forgotten;
};

void octo_members_init(struct octo_members *m, const char *self, const char *self_address,
		       int failure_threshold);
void octo_members_cleanup(struct octo_members *m);
/* Learn a member: by address (id "" for a bootstrap peer not yet heard from) or by id and
 * address (peer exchange). An id already known keeps its entry (its address updated); an
 * address known without an id gets the id. Self is ignored. 1 if the table grew, 0 if not,
 * -1 for an id or address that is not valid, or no memory. */
int octo_members_learn(struct octo_members *m, const char *id, const char *address);
/* The outcome of a check of member i at now_ms: ok with the id it answered with (a member
 * answering with another id than the one known is a failure: a different node now has that
 * address), or a failure. An address without an id that answers with the id of a member
 * known at another address is the same member: its entry goes (the last entry moves into
 * its place). Returns the index of the entry that stands for the member now, or -1 when the
 * address answered with this node's own id: its entry goes, and the address is not learned
 * again. */
long octo_members_observe(struct octo_members *m, size_t i, int ok, const char *id,
			  uint64_t now_ms);
/* Whether m counts in placement at now_ms: a member down for grace_ms or more does not (its
 * blobs are placed around it); one down for less still does, so that a restart moves
 * nothing (new copies skip it meanwhile: it cannot take them). */
int octo_member_placed(const struct octo_member *m, uint64_t now_ms, uint64_t grace_ms);
/* Whether this node, last in contact with a member at last_contact_ms (0: never), has been
 * away too long at now_ms to bring its records back (max_ms: p2p.replication.max_absence):
 * its peers may have expired the tombstones of what it still holds. */
int octo_member_away_too_long(uint64_t last_contact_ms, uint64_t now_ms, uint64_t max_ms);
/* Forget member id for good (an operator's `octoserve-peer forget`, or a peer that knows of
 * it): its entry goes, and it is never a member again, learned by id or found answering at
 * an address (octo_members_observe then drops the address's entry and returns -1). 1 if id
 * is newly forgotten, 0 if it was already, -1 for an id that is not valid or no memory. */
int octo_members_forget(struct octo_members *m, const char *id);
int octo_members_forgotten(const struct octo_members *m, const char *id);
const char *octo_member_state_name(enum octo_member_state s);
/* Whether a certificate naming names (its DNS and URI subject alternative names) is one for
 * node id: one name is the id exactly (no wildcard: a certificate for "*.example" must not
 * speak for every node). */
int octo_member_certified(const char *const *names, size_t n, const char *id);

#endif
