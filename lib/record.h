/* SPDX-License-Identifier: Apache-2.0 */
/* Records: what a tag, a manifest revision, a blob link or a referrer entry holds, with the
 * stamp that orders every write of it across nodes (doc/DESIGN.md "Records"). Every node
 * applies the same rule to the same writes, so all end up holding the same record.
 *
 * A record file is one header line and the value:
 *   <hlc> <time_ms> <v|t> <node>\n<value>
 * (decimal numbers without leading zeros; t, a tombstone, has no value). A file from before
 * records, the bare value, reads as a record of clock 0 from no node. */
#ifndef OCTO_RECORD_H
#define OCTO_RECORD_H

#include <stddef.h>
#include <stdint.h>

/* Node ids (p2p.node_id): 1 to 255 of [A-Za-z0-9._:-], so that a record's header and a
 * journal line carry them as they are. */
#define OCTO_NODE_ID_MAX 255
int octo_node_id_valid(const char *id, size_t len);

/* When and where a write was made: its hybrid logical clock (clock.h), the node's wall
 * clock then (for people and for tombstone expiry, never for ordering) and the node. */
struct octo_record_stamp {
	uint64_t hlc;
	uint64_t time_ms;
	const char *node; /* NULL reads as "" */
};

struct octo_record {
	struct octo_record_stamp stamp;
	int tombstone;     /* a delete: no value */
	const char *value; /* value_len bytes, not NUL-terminated */
	size_t value_len;
};

/* Last writer wins: > 0 if a wins over b, < 0 if b wins, 0 for the same write. The higher
 * clock wins; at equal clocks a tombstone wins (a delete and a write that no node saw in
 * either order: the delete stands); then the higher node id, bytewise. */
int octo_record_cmp(const struct octo_record *a, const struct octo_record *b);

/* r as a record file, malloc'd into *text (*len bytes); NULL on a node id that is not
 * valid or no memory. */
char *octo_record_format(const struct octo_record *r, size_t *len);
/* Parse a record file (len bytes; r points into text, and node is NUL-terminated in a copy
 * kept in node_buf). Legacy text (not starting with a digit) is a value of clock 0 with its
 * trailing newline dropped. 0, or -1 for a header that is not ours or a tombstone with a
 * value. */
int octo_record_parse(const char *text, size_t len, struct octo_record *r,
		      char node_buf[OCTO_NODE_ID_MAX + 1]);

#endif
