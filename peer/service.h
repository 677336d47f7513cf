/* SPDX-License-Identifier: Apache-2.0 */
/* The Peer service of proto/peer.proto over the store: what each method answers. */
#ifndef OCTO_PEER_SERVICE_H
#define OCTO_PEER_SERVICE_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include "cluster.h"
#include "config.h"
#include "journal.h"
#include "log.h"
#include "rpc.h"
#include "store.h"

struct octo_peer_syncer;

/* What the handlers share (the rpc server's ctx). */
struct octo_peer_service {
	const struct octo_config *cfg;
	struct octo_store *store;
	struct octo_journal *journal; /* where changes applied from peers are journalled */
	struct octo_peer_cluster *cluster;
	struct octo_peer_syncer *syncer; /* answers Summary; NULL until it runs */
	struct octo_logger *log;
	size_t chunk_size; /* Fetch's chunks: at most 1 MiB and within max_message_size */
};

/* Under mutual TLS, why a caller claiming node id claimed is refused (its certificate does
 * not name it; logged), in buf, or NULL. */
const char *octo_peer_claim_refused(struct octo_peer_service *svc, const struct octo_rpc_peer *peer,
				    const char *claimed, char *buf, size_t size);

/* A reply message packed into its piece. */
enum octo_rpc_status octo_peer_pack_reply(const ProtobufCMessage *m, struct octo_rpc_piece *reply);

/* The methods, for octo_rpc_server_start. */
extern const struct octo_rpc_method octo_peer_methods[];
extern const size_t octo_peer_n_methods;

#endif
