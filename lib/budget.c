/* SPDX-License-Identifier: Apache-2.0 */
/* See budget.h. */
#include "autoconfig.h"

#include "budget.h"

void octo_budget_init(struct octo_budget *b, size_t total)
{
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->freed, NULL);
	b->total = total;
	b->used = 0;
}

void octo_budget_cleanup(struct octo_budget *b)
{
	pthread_cond_destroy(&b->freed);
	pthread_mutex_destroy(&b->lock);
}

size_t octo_budget_take(struct octo_budget *b, size_t weight)
{
	if (weight > b->total)
		weight = b->total;
	pthread_mutex_lock(&b->lock);
	while (b->total - b->used < weight)
		pthread_cond_wait(&b->freed, &b->lock);
	b->used += weight;
	pthread_mutex_unlock(&b->lock);
	return weight;
}

void octo_budget_give(struct octo_budget *b, size_t taken)
{
	pthread_mutex_lock(&b->lock);
	b->used -= taken;
	pthread_cond_broadcast(&b->freed);
	pthread_mutex_unlock(&b->lock);
}
