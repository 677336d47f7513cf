/* SPDX-License-Identifier: Apache-2.0 */
/* Garbage collection in a cluster, the peer daemon's part (lib/collect.h): the Collect method,
 * which answers with what this member's own collection would remove (a dry run, with the
 * caller's options), and the thread that answers a local collection's request with what every
 * member would remove, refusing while a member is down. */
#ifndef OCTO_PEER_GCPLAN_H
#define OCTO_PEER_GCPLAN_H

#include "cluster.h"
#include "config.h"
#include "log.h"
#include "rpc.h"
#include "service.h"
#include "store.h"

enum octo_rpc_status octo_peer_collect(void *ctx, const struct octo_rpc_peer *peer,
				       const uint8_t *req, size_t len, struct octo_rpc_piece *reply,
				       const char **detail);

struct octo_peer_collector;
struct octo_peer_collector *octo_peer_collector_start(const struct octo_config *cfg,
						      struct octo_store *store,
						      struct octo_peer_cluster *cluster,
						      struct octo_logger *log);
void octo_peer_collector_stop(struct octo_peer_collector *c);

#endif
