/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon's view of the cluster: the member table (lib/member.h) and the health checks
 * that keep it: every p2p.health_check.interval, a Health call to each member (at most
 * p2p.health_check.workers at once, each bounded by timeout), whose answer also lists the
 * members the peer knows (peer exchange). After each round the table goes to the store
 * (peer/status.json) for `octoserve-peer status`. */
#ifndef OCTO_PEER_CLUSTER_H
#define OCTO_PEER_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "digest.h"
#include "journal.h"
#include "rpc.h"
#include "log.h"
#include "metrics.h"
#include "member.h"
#include "strv.h"
#include "store.h"

struct octo_peer_cluster;

/* The cluster as cfg describes it (bootstrap peers learned by address); self_address is
 * where peers reach this node; tls (NULL: plaintext) is how its channels talk; the journal
 * (may be NULL) gives the members' lag in the status. NULL when out of memory. */
struct octo_peer_cluster *octo_peer_cluster_new(
	const struct octo_config *cfg, const char *self_address, const struct octo_rpc_tls *tls,
	struct octo_store *store, struct octo_journal *journal, struct octo_logger *log);
/* Start and stop the health checks (stop waits for the round in progress). */
int octo_peer_cluster_start(struct octo_peer_cluster *c);
void octo_peer_cluster_free(struct octo_peer_cluster *c);
/* An address where a member may be (DNS discovery found it): learned as a bootstrap peer is,
 * and checked at once if it is new. 1 if the table grew, 0 if not, -1 for an address that
 * is not host:port (or no memory). */
int octo_peer_cluster_learn(struct octo_peer_cluster *c, const char *address);
/* A caller of Health told us who it is: learn it. */
void octo_peer_cluster_heard(struct octo_peer_cluster *c, const char *id, const char *address);
/* The members that are up, for a Health answer: fn(ctx, id, address) each, under the lock. */
void octo_peer_cluster_each_up(struct octo_peer_cluster *c,
			       void (*fn)(void *ctx, const char *id, const char *address),
			       void *ctx);

/* Why a peer naming cluster_id, whose clock reads hlc, is refused (its writes would win every
 * conflict for as long as its clock runs ahead), or NULL: both sides of a Health call ask,
 * the callee of its caller (caller 1), the caller of the answer. */
const char *octo_peer_refusal(const struct octo_config *cfg, const char *cluster_id, uint64_t hlc,
			      int caller);

/* Members removed for good (store-member.h): forget one (from a peer's health message; the
 * store keeps it), whether id is one, and the ids, to spread in health messages. */
void octo_peer_cluster_forget(struct octo_peer_cluster *c, const char *id);
int octo_peer_cluster_forgotten(struct octo_peer_cluster *c, const char *id);
void octo_peer_cluster_forgotten_ids(struct octo_peer_cluster *c, struct octo_strv *out);

/* Traffic with the member at address, counted for the status (and /metrics). */
enum octo_peer_traffic {
	OCTO_PEER_SENT_CHANGES,
	OCTO_PEER_SENT_BYTES,
	OCTO_PEER_FETCHED_BYTES,
	OCTO_PEER_FAILED_SENDS,  /* an Apply to it that failed (retried) */
	OCTO_PEER_FAILED_FETCHES /* a fetch from it that broke or could not be written here */
};
void octo_peer_cluster_count(struct octo_peer_cluster *c, const char *address,
			     enum octo_peer_traffic what, uint64_t n);

/* A count that grows each time a member comes up (or back). */
uint64_t octo_peer_cluster_ups(struct octo_peer_cluster *c);
/* Poke t whenever a member comes up (at most four tickers), until unwatched (before t goes). */
struct octo_peer_ticker;
void octo_peer_cluster_watch_ups(struct octo_peer_cluster *c, struct octo_peer_ticker *t);
void octo_peer_cluster_unwatch_ups(struct octo_peer_cluster *c, struct octo_peer_ticker *t);
/* A count that grows each time a member answers from a new store (wiped or replaced). */
uint64_t octo_peer_cluster_renewals(struct octo_peer_cluster *c);

/* A snapshot of the members that have an id (for placement and replication). */
#define OCTO_PEER_VIEW_MAX 256
struct octo_peer_view {
	struct octo_peer_view_member {
		char id[OCTO_NODE_ID_MAX + 1];
		char address[OCTO_MEMBER_ADDRESS_MAX + 1];
		int up;
		int placed; /* counts in placement (octo_member_placed) */
	} v[OCTO_PEER_VIEW_MAX];
	size_t n;
};
void octo_peer_cluster_view(struct octo_peer_cluster *c, struct octo_peer_view *out);
/* The holders of d among self and the view's placed members (factor of them): indexes into
 * {self, view->v[0], ...}, 0 for self, highest weight first; how many. */
size_t octo_peer_view_holders(const struct octo_peer_view *view, const char *self,
			      const struct octo_digest *d, int factor,
			      size_t holders[OCTO_PEER_VIEW_MAX + 1]);
/* Whether self holds d among the view's members and itself, factor of them holding it. */
int octo_peer_view_holds(const struct octo_peer_view *view, const char *self,
			 const struct octo_digest *d, int factor);

/* The channel to a member's address (made at the first use, kept; under TLS, one for the id
 * known at that address, whose certificate must name it); NULL: no memory. */
struct octo_rpc_channel *octo_peer_cluster_channel(struct octo_peer_cluster *c,
						   const char *address);

/* A member's journal cursor, journal/cursors/peer-<32 hex of sha256(id)> (ids may hold
 * characters cursor names may not): the outbox of what it has still to receive. */
void octo_peer_cursor_name(const char *id, char *buf, size_t size);
/* The journal cursor below which no member is sent anything (a stale store's writes, set
 * when it rejoined empty): where a member new to this journal starts. */
#define OCTO_PEER_FLOOR_CURSOR "peer-floor"

/* Where the status is kept in the store: OCTO_PEER_STATUS_REL and
 * OCTO_PEER_SYNC_STATUS_REL of metrics.h. */

#endif
