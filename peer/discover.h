/* SPDX-License-Identifier: Apache-2.0 */
/* DNS discovery (p2p.discovery.method "dns", doc/DESIGN.md "Clustering"): every
 * p2p.discovery.interval, the first at start, each round bounded by p2p.discovery.timeout,
 * p2p.discovery.dns_name is resolved through c-ares: its SRV records (each target's A/AAAA
 * with the record's port), or when it has none its own A/AAAA with p2p.port. Each address
 * found goes to the cluster as a bootstrap peer would. The resolver is
 * p2p.discovery.dns_server when set, else the system's. c-ares is used here only. */
#ifndef OCTO_PEER_DISCOVER_H
#define OCTO_PEER_DISCOVER_H

#include "cluster.h"
#include "config.h"
#include "log.h"

struct octo_peer_discovery;

/* Start the rounds; NULL if c-ares cannot be set up (the reason logged). */
struct octo_peer_discovery *octo_peer_discovery_start(const struct octo_config *cfg,
						      struct octo_peer_cluster *cluster,
						      struct octo_logger *log);
/* Stop (a round in progress ends within a moment) and free; d may be NULL. */
void octo_peer_discovery_stop(struct octo_peer_discovery *d);

#endif
