/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for what an S3 server answers (s3.h): arbitrary bytes as an error, a
 * multipart upload's creation, a listing and a completion. What is read must stay within its
 * bounds: keys and ids NUL-terminated within their sizes, never outside the prefix asked for.
 * Crashes and sanitizer reports are failures. */
#include "autoconfig.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "s3.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int check(void *ctx, const struct octo_s3_object *o)
{
	(void)ctx;
	if (strlen(o->key) > OCTO_S3_KEY_MAX)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *xml = (const char *)data;
	struct octo_s3_status st = {0};
	char id[OCTO_S3_UPLOAD_ID_MAX + 1], next[1024];
	int truncated;

	if (octo_s3_parse_error(xml, size, &st) == 0 && strlen(st.code) >= sizeof(st.code))
		abort();
	if (octo_s3_parse_upload_id(xml, size, id) == 0 &&
	    (id[0] == '\0' || strlen(id) > OCTO_S3_UPLOAD_ID_MAX))
		abort();
	if (octo_s3_parse_list(xml, size, "reg/", check, NULL, &truncated, next, sizeof(next)) ==
		    0 &&
	    strlen(next) >= sizeof(next))
		abort();
	(void)octo_s3_parse_complete(xml, size, &st);
	return 0;
}
