/* SPDX-License-Identifier: Apache-2.0 */
/* Records: what a tag, a manifest revision, a blob link or a referrer entry holds, with the
 * stamp that orders every write of it across nodes (doc/DESIGN.md "Clustering"). Every node
 * applies the same rule to the same writes, so all end up holding the same record. */
#ifndef OCTO_RECORD_H
#define OCTO_RECORD_H

#include <stdint.h>

/* The part of a record the last-writer-wins rule looks at. */
struct octo_record_stamp {
	uint64_t hlc;     /* the hybrid logical clock of the write (clock.h) */
	const char *node; /* the node that made it (p2p.node_id) */
	int tombstone;    /* a delete */
};

/* Last writer wins: > 0 if a wins over b, < 0 if b wins, 0 for the same write. The higher
 * clock wins; at equal clocks a tombstone wins (a delete and a write that no node saw in
 * either order: the delete stands); then the higher node id, bytewise. */
int octo_record_cmp(const struct octo_record_stamp *a, const struct octo_record_stamp *b);

#endif
