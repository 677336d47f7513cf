/* SPDX-License-Identifier: Apache-2.0 */
/* Placement: which members hold a blob. Rendezvous (highest-random-weight) hashing: each
 * member's weight for a digest is a hash of the two, and the factor members of highest
 * weight hold it. Every node computes the same holders from the same members, and when a
 * member joins or leaves only the blobs it held or now holds move (doc/DESIGN.md
 * "Clustering"). */
#ifndef OCTO_PLACEMENT_H
#define OCTO_PLACEMENT_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"

/* The weight of member (its node id) for d. */
uint64_t octo_placement_weight(const char *member, const struct octo_digest *d);
/* The holders of d among members (n of them): the indexes of the min(factor, n) of highest
 * weight, highest first, into holders (room for factor). Returns how many. */
size_t octo_placement_holders(const struct octo_digest *d, const char *const *members, size_t n,
			      size_t factor, size_t *holders);

#endif
