/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon's blob fetches: workers that take the store's wanted markers (store-wanted.h:
 * left by the responder for a client's miss, by Apply for a blob this node should hold)
 * and bring each blob from a peer over Fetch: into peer/incoming/ (which a waiting
 * responder streams from), resumed from its length after a broken stream, from the next
 * source if need be, verified against the digest and committed like any blob. One fetch
 * per digest at a time; a blob no peer could give is noted unavailable and tried again
 * later, so a marker is only removed once its blob is here. The workers look when a marker
 * is written (watch.h), and every second besides (every 100 ms without inotify). */
#ifndef OCTO_PEER_FETCH_H
#define OCTO_PEER_FETCH_H

#include "cluster.h"
#include "config.h"
#include "log.h"
#include "store.h"
#include "watch.h"

struct octo_peer_fetcher;

struct octo_peer_fetcher *octo_peer_fetcher_start(const struct octo_config *cfg,
						  struct octo_store *store,
						  struct octo_peer_cluster *cluster,
						  struct octo_peer_watch *watch,
						  struct octo_logger *log);
/* Stop the workers (a fetch in progress ends at its next chunk; its bytes so far stay for
 * the next start to resume from). */
void octo_peer_fetcher_stop(struct octo_peer_fetcher *f);

#endif
