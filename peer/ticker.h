/* SPDX-License-Identifier: Apache-2.0 */
/* The pace of a daemon thread that works every so often until it is stopped: waits on the
 * monotonic clock (a wall clock stepping moves no round), cut short by a stop. */
#ifndef OCTO_PEER_TICKER_H
#define OCTO_PEER_TICKER_H

#include <pthread.h>
#include <time.h>

struct octo_peer_ticker {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct timespec last; /* when the last wait returned */
	int stopping;
	int poked; /* work came: the wait in progress (or the next) returns at once */
};

void octo_peer_ticker_init(struct octo_peer_ticker *t);
void octo_peer_ticker_destroy(struct octo_peer_ticker *t);
/* Wait until period_ms after the last wait returned (at once if that is past, so a round
 * that overran starts the next at once): 1, or 0 once the ticker is stopped. */
int octo_peer_ticker_wait(struct octo_peer_ticker *t, long period_ms);
/* Work came (a file the thread watches changed): the current wait returns now, or the next
 * at once. */
void octo_peer_ticker_poke(struct octo_peer_ticker *t);
/* Stop: every wait returns 0 from now on. */
void octo_peer_ticker_stop(struct octo_peer_ticker *t);

/* A thread paced by t (initialised): start fn(arg) on it (0), or destroy t (-1); join
 * stops t, waits for the thread and destroys t. */
int octo_peer_ticker_start(struct octo_peer_ticker *t, pthread_t *thread, void *(*fn)(void *),
			   void *arg);
void octo_peer_ticker_join(struct octo_peer_ticker *t, pthread_t thread);

#endif
