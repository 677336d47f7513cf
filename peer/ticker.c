/* SPDX-License-Identifier: Apache-2.0 */
/* See ticker.h. */
#include "autoconfig.h"

#include <errno.h>

#include "ticker.h"

void octo_peer_ticker_init(struct octo_peer_ticker *t)
{
	pthread_condattr_t attr;

	pthread_mutex_init(&t->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&t->wake, &attr);
	pthread_condattr_destroy(&attr);
	clock_gettime(CLOCK_MONOTONIC, &t->last);
	t->stopping = 0;
	t->poked = 0;
}

void octo_peer_ticker_destroy(struct octo_peer_ticker *t)
{
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->wake);
}

int octo_peer_ticker_wait(struct octo_peer_ticker *t, long period_ms)
{
	struct timespec until = t->last;
	int running;

	until.tv_sec += period_ms / 1000;
	until.tv_nsec += (period_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&t->lock);
	while (!t->stopping && !t->poked &&
	       pthread_cond_timedwait(&t->wake, &t->lock, &until) != ETIMEDOUT)
		;
	t->poked = 0;
	running = !t->stopping;
	pthread_mutex_unlock(&t->lock);
	clock_gettime(CLOCK_MONOTONIC, &t->last);
	return running;
}

void octo_peer_ticker_stop(struct octo_peer_ticker *t)
{
	pthread_mutex_lock(&t->lock);
	t->stopping = 1;
	pthread_cond_broadcast(&t->wake);
	pthread_mutex_unlock(&t->lock);
}

void octo_peer_ticker_poke(struct octo_peer_ticker *t)
{
	pthread_mutex_lock(&t->lock);
	t->poked = 1;
	pthread_cond_broadcast(&t->wake);
	pthread_mutex_unlock(&t->lock);
}

int octo_peer_ticker_start(struct octo_peer_ticker *t, pthread_t *thread, void *(*fn)(void *),
			   void *arg)
{
	if (pthread_create(thread, NULL, fn, arg) == 0)
		return 0;
	octo_peer_ticker_destroy(t);
	return -1;
}

void octo_peer_ticker_join(struct octo_peer_ticker *t, pthread_t thread)
{
	octo_peer_ticker_stop(t);
	pthread_join(thread, NULL);
	octo_peer_ticker_destroy(t);
}
