/* SPDX-License-Identifier: Apache-2.0 */
/* Anti-entropy (doc/DESIGN.md "Anti-entropy"): every p2p.replication.sync_interval the
 * daemon compares its summary of the records (lib/summary.h) with each member that is up,
 * level by level from the root hash down, and takes the records whose writes beat its own;
 * then it brings the blobs it holds by placement (whatever the strategy) and drops the
 * copies it holds beyond them once their holders have verified their own. It also answers
 * the same questions for its peers (the Summary method). */
#ifndef OCTO_PEER_SYNC_H
#define OCTO_PEER_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "cluster.h"
#include "config.h"
#include "journal.h"
#include "log.h"
#include "metrics.h"
#include "rpc.h"
#include "store.h"

struct octo_peer_syncer;

struct octo_peer_syncer *octo_peer_syncer_start(const struct octo_config *cfg,
						struct octo_store *store,
						struct octo_journal *journal,
						struct octo_peer_cluster *cluster,
						struct octo_logger *log);
void octo_peer_syncer_stop(struct octo_peer_syncer *y);

/* The Summary method's handler (ctx: the service, whose syncer answers; under mutual TLS
 * the caller must be the node it names). */
enum octo_rpc_status octo_peer_summary(void *ctx, const struct octo_rpc_peer *peer,
				       const uint8_t *req, size_t len, struct octo_rpc_piece *reply,
				       const char **detail);

/* At the daemon's start: a store that holds repositories and was last in contact with a
 * member longer ago than p2p.replication.max_absence (octo_member_away_too_long) could bring
 * back what its peers deleted and have forgotten. Its repositories are set aside
 * (stale/<time> in the store, octo_store_repos_set_aside), the outboxes forget what its
 * journal holds, and the node rejoins empty: anti-entropy brings back every name. Logged;
 * 0, or -1 when that failed (the daemon must not run). */
int octo_peer_syncer_rejoin(const struct octo_config *cfg, struct octo_store *store,
			    struct octo_journal *journal, struct octo_logger *log);

/* When a round last reached a member (decimal wall ms), for octo_peer_syncer_rejoin. */
#define OCTO_PEER_CONTACT_REL "peer/contact"

#endif
