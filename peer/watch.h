/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon's one inotify instance (a machine allows 128 for all of a user's processes):
 * directories of the store whose changes poke a ticker, so the thread behind it works at
 * once instead of at its next period (which stays, as the fallback should inotify drop
 * events or be unavailable). */
#ifndef OCTO_PEER_WATCH_H
#define OCTO_PEER_WATCH_H

#include "store.h"
#include "ticker.h"

struct octo_peer_watch;

/* NULL when inotify cannot be had (the threads then go by their periods). */
struct octo_peer_watch *octo_peer_watch_start(void);
/* Poke each of tickers (n of them) when a file in the store's directory rel is written,
 * created or renamed into it (rel is made if missing). 0, or -1. */
int octo_peer_watch_add(struct octo_peer_watch *w, const struct octo_store *s, const char *rel,
			struct octo_peer_ticker *tickers, size_t n);
void octo_peer_watch_stop(struct octo_peer_watch *w);

#endif
