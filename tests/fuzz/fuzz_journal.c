/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the journal's line head parser (octo_journal_parse_head), which reads
 * the last line of a journal file in the store: arbitrary bytes, split at newlines as the
 * appender and the scan split them. Any result is fine; crashes and sanitizer reports are
 * not. */
#include "autoconfig.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		uint64_t seq, hlc;
		(void)octo_journal_parse_head(p, len, &seq, &hlc);
		p += len + 1;
	}
	return 0;
}
