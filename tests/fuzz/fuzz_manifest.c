/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target for manifest validation: the first line is the Content-Type, the rest the
 * body. Accepted manifests must have a known media type. */
#include "autoconfig.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *nl = memchr(data, '\n', size);
	size_t ctlen = nl ? (size_t)(nl - (const char *)data) : 0;
	char *ct = malloc(ctlen + 1);
	struct octo_manifest m;
	const char *detail;

	memcpy(ct, data, ctlen);
	ct[ctlen] = '\0';
	if (nl != NULL) {
		data += ctlen + 1;
		size -= ctlen + 1;
	}
	if (octo_manifest_parse((const char *)data, size, ct, &m, &detail) == OCTO_OK) {
		if (!octo_manifest_media_type_known(m.media_type))
			abort();
		octo_manifest_cleanup(&m);
	} else if (detail == NULL) {
		abort();
	}
	free(ct);
	return 0;
}
