/* SPDX-License-Identifier: Apache-2.0 */
/* Replication of changes (doc/DESIGN.md "How the responder and the peer daemon
 * cooperate"): the daemon tails the journal and sends every member that is up the events it
 * has not had, with the manifests' bytes, by Apply. Each member has a cursor of its own in
 * the journal (journal/cursors/peer-<hash of its id>), moved only once the member has taken
 * the events, so the journal and the cursors are the durable outbox: a member that is down,
 * or a daemon killed at any moment, loses nothing, and the journal keeps what a cursor still
 * needs. A member's own writes are never sent back to it. The thread works when the journal
 * changes (watch.h), and every second besides (every 100 ms without inotify). */
#ifndef OCTO_PEER_REPLICATE_H
#define OCTO_PEER_REPLICATE_H

#include "cluster.h"
#include "config.h"
#include "journal.h"
#include "log.h"
#include "store.h"
#include "watch.h"

struct octo_peer_replicator;

struct octo_peer_replicator *octo_peer_replicator_start(
	const struct octo_config *cfg, struct octo_store *store, struct octo_journal *journal,
	struct octo_peer_cluster *cluster, struct octo_peer_watch *watch, struct octo_logger *log);
void octo_peer_replicator_stop(struct octo_peer_replicator *r);

#endif
