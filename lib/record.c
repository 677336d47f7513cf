/* SPDX-License-Identifier: Apache-2.0 */
/* See record.h. */
#include "autoconfig.h"

#include <string.h>

#include "record.h"

int octo_record_cmp(const struct octo_record_stamp *a, const struct octo_record_stamp *b)
{
	int by_node;

	if (a->hlc != b->hlc)
		return a->hlc > b->hlc ? 1 : -1;
	if (!a->tombstone != !b->tombstone)
		return a->tombstone ? 1 : -1;
	by_node = strcmp(a->node != NULL ? a->node : "", b->node != NULL ? b->node : "");
	return (by_node > 0) - (by_node < 0);
}
