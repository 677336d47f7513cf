/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the record parser (octo_record_parse), which reads every tag,
 * revision, link and referrer file in the store: arbitrary bytes. A record it accepts must
 * format back to the same bytes (a file from before records aside), and the last-writer-wins
 * rule must be antisymmetric on what it parsed. Crashes and sanitizer reports are failures. */
#include "autoconfig.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char node[OCTO_NODE_ID_MAX + 1], node2[OCTO_NODE_ID_MAX + 1];
	struct octo_record r, half;
	size_t len;
	char *text;

	if (octo_record_parse((const char *)data, size, &r, node) != 0)
		return 0;
	if (size > 0 && data[0] >= '0' && data[0] <= '9') {
		text = octo_record_format(&r, &len);
		if (text == NULL || len != size || memcmp(text, data, size) != 0)
			abort();
		free(text);
	}
	if (octo_record_parse((const char *)data, size / 2, &half, node2) == 0 &&
	    (octo_record_cmp(&r, &half) > 0) == (octo_record_cmp(&half, &r) > 0) &&
	    octo_record_cmp(&r, &half) != 0)
		abort();
	return 0;
}
