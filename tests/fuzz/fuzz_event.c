/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the journal event parser (octo_event_parse): what a consumer reads
 * back from the journal, and what a peer will send. An event it accepts must hold only keys
 * that parse again and values that fit them; crashes and sanitizer reports are failures. */
#include "autoconfig.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct octo_record_key k;
	struct octo_event ev;
	const char *why;
	size_t i;

	if (octo_event_parse((const char *)data, size, &ev, &why) != 0)
		return 0;
	for (i = 0; i < ev.n_records; i++) {
		const struct octo_event_record *r = &ev.records[i];
		if (octo_record_key_parse(r->key, strlen(r->key), &k) != 0 ||
		    (r->value != NULL && !octo_record_value_valid(&k, r->value, r->value_len)))
			abort();
	}
	octo_event_cleanup(&ev);
	return 0;
}
