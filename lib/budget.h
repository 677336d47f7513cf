/* SPDX-License-Identifier: Apache-2.0 */
/* A budget shared by a registry's threads: work of a known weight (the parse of a
 * manifest, weighed by octo_manifest_weight) waits until its weight fits in what is left,
 * so many costly requests at once cost the budget, not one each. */
#ifndef OCTO_BUDGET_H
#define OCTO_BUDGET_H

#include <pthread.h>
#include <stddef.h>

struct octo_budget {
	pthread_mutex_t lock;
	pthread_cond_t freed;
	size_t total, used;
};

void octo_budget_init(struct octo_budget *b, size_t total);
void octo_budget_cleanup(struct octo_budget *b);
/* Take weight (clamped to the total, so every request can run, alone if need be), waiting
 * for others to give theirs back; returns what was taken, to give back. */
size_t octo_budget_take(struct octo_budget *b, size_t weight);
void octo_budget_give(struct octo_budget *b, size_t taken);

#endif
