/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for what an S3 server answers (s3.h): arbitrary bytes as an error, a
 * multipart upload's creation, a listing, a completion, a copy's reply and a listing of the
 * multipart uploads under way. What is read must stay within its
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

static int check_upload(void *ctx, const char *key, const char *id)
{
	(void)ctx;
	if (strlen(key) > OCTO_S3_KEY_MAX || id[0] == '\0' || strlen(id) > OCTO_S3_UPLOAD_ID_MAX)
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
	{
		char etag[OCTO_S3_ETAG_MAX + 1], km[OCTO_S3_KEY_MAX + 1], im[OCTO_S3_KEY_MAX + 1];
		if (octo_s3_parse_copy(xml, size, etag, &st) == 1 &&
		    (etag[0] == '\0' || strlen(etag) > OCTO_S3_ETAG_MAX))
			abort();
		if (octo_s3_parse_uploads(xml, size, "reg/", check_upload, NULL, &truncated, km, im,
					  sizeof(km)) == 0 &&
		    (strlen(km) > OCTO_S3_KEY_MAX || strlen(im) > OCTO_S3_KEY_MAX))
			abort();
	}
	return 0;
}
