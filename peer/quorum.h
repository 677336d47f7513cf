/* SPDX-License-Identifier: Apache-2.0 */
/* Strong consistency (doc/DESIGN.md "Strong consistency"): the daemon's side of the writes
 * the responder hands over through the store (lib/strong.h). Each request is worked on by
 * one of a few workers: its blobs are brought to factor durable copies (Hold, asked of the
 * members placement ranks first among those up), a majority of the voters must have taken
 * the journal event it names (their outbox cursors past it), and its tag write is decided by
 * single-decree Paxos among the voters (Vote; lib/vote.h keeps each voter's state), after
 * which a majority must have written the decided record. The voters are fixed: this node and
 * p2p.bootstrap_peers, as the members advertise themselves there; peer exchange and DNS add
 * members, never voters. The Vote and Hold methods are answered here too. */
#ifndef OCTO_PEER_QUORUM_H
#define OCTO_PEER_QUORUM_H

#include "cluster.h"
#include "config.h"
#include "journal.h"
#include "log.h"
#include "rpc.h"
#include "store.h"
#include "watch.h"

struct octo_peer_quorum;

/* Start the workers (a no-op object unless consistency_mode is strong); NULL on failure. */
struct octo_peer_quorum *octo_peer_quorum_start(
	const struct octo_config *cfg, struct octo_store *store, struct octo_journal *journal,
	struct octo_peer_cluster *cluster, struct octo_peer_watch *watch, struct octo_logger *log);
void octo_peer_quorum_stop(struct octo_peer_quorum *s);

/* The Vote and Hold methods (ctx: the service). */
enum octo_rpc_status octo_peer_vote(void *ctx, const struct octo_rpc_peer *peer, const uint8_t *req,
				    size_t len, struct octo_rpc_piece *reply, const char **detail);
enum octo_rpc_status octo_peer_hold(void *ctx, const struct octo_rpc_peer *peer, const uint8_t *req,
				    size_t len, struct octo_rpc_piece *reply, const char **detail);

#endif
