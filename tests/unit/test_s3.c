/* SPDX-License-Identifier: Apache-2.0 */
/* The S3 client's own parts (s3.h): URLs in both styles, the presigned URL of AWS's SigV4
 * example ("Authenticating Requests: Using Query Parameters", its signature known), and the
 * XML replies read: errors, a multipart upload's id, listings (keys under the prefix, pages),
 * completions that fail inside a 200. The requests themselves run against a real radosgw
 * (tests/s3/). */
#include "autoconfig.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "s3.h"

static struct octo_s3 *open_example(int path_style, const char *prefix)
{
	struct octo_s3_options o = {.endpoint = "https://s3.amazonaws.com/",
				    .region = "us-east-1",
				    .bucket = "examplebucket",
				    .prefix = prefix,
				    .access_key = "AKIAIOSFODNN7EXAMPLE",
				    .secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
				    .path_style = path_style};
	struct octo_s3 *s;

	assert_int_equal(octo_s3_open(&o, &s), OCTO_OK);
	return s;
}

static void test_urls(void **state)
{
	struct octo_s3 *s = open_example(0, "reg/");
	char *u;

	(void)state;
	u = octo_s3_url(s, "blobs/sha256/ab/x y", "uploads=");
	assert_string_equal(
		u, "https://examplebucket.s3.amazonaws.com/reg/blobs/sha256/ab/x%20y?uploads=");
	free(u);
	u = octo_s3_url(s, NULL, "list-type=2");
	assert_string_equal(u, "https://examplebucket.s3.amazonaws.com/?list-type=2");
	free(u);
	octo_s3_free(s);
	s = open_example(1, "");
	u = octo_s3_url(s, "a/b", NULL);
	assert_string_equal(u, "https://s3.amazonaws.com/examplebucket/a/b");
	free(u);
	octo_s3_free(s);
}

static void test_presign(void **state)
{
	struct octo_s3 *s = open_example(0, "");
	char *u = octo_s3_presign(s, "test.txt", 1369353600 /* 2013-05-24T00:00:00Z */, 86400);

	(void)state;
	assert_string_equal(
		u,
		"https://examplebucket.s3.amazonaws.com/test.txt"
		"?X-Amz-Algorithm=AWS4-HMAC-SHA256"
		"&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
		"&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
		"&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
	free(u);
	octo_s3_free(s);
}

static int collect(void *ctx, const struct octo_s3_object *o)
{
	char *out = ctx;

	sprintf(out + strlen(out), "%s=%llu;", o->key, (unsigned long long)o->size);
	return 0;
}

static int stop_at_first(void *ctx, const struct octo_s3_object *o)
{
	(void)o;
	(*(int *)ctx)++;
	return 1;
}

static void test_xml(void **state)
{
	static const char err[] = "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code>"
				  "<Message>gone</Message><RequestId>1</RequestId></Error>";
	static const char init[] =
		"<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/"
		"2006-03-01/\"><Bucket>b</Bucket><Key>k</Key><UploadId>2~abc</UploadId>"
		"</InitiateMultipartUploadResult>";
	static const char list[] =
		"<ListBucketResult><IsTruncated>true</IsTruncated>"
		"<NextContinuationToken>tok/1</NextContinuationToken>"
		"<Contents><Key>reg/blobs/a</Key><Size>3</Size></Contents>"
		"<Contents><Key>other/x</Key><Size>9</Size></Contents>"
		"<Contents><Key>reg/blobs/b</Key><Size>12345678901</Size></Contents>"
		"</ListBucketResult>";
	static const char *const bad_lists[] = {
		"<ListBucketResult><Contents><Key>reg/a</Key><Size>-1</Size></Contents></ListBucketResult>",
		"<ListBucketResult><Contents><Key>reg/a</Key></Contents></ListBucketResult>",
		"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
		"<Error/>",
		"",
		"<ListBucketResult>",
		"<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><ListBucketResult>"
		"<Contents><Key>reg/&e;</Key><Size>1</Size></Contents></ListBucketResult>",
	};
	struct octo_s3_status st = {0};
	char id[OCTO_S3_UPLOAD_ID_MAX + 1], next[64], got[256] = "";
	int truncated, n = 0;
	size_t i;

	(void)state;
	assert_int_equal(octo_s3_parse_error(err, strlen(err), &st), 0);
	assert_string_equal(st.code, "NoSuchKey");
	assert_string_equal(st.detail, "gone");
	assert_int_equal(octo_s3_parse_error(init, strlen(init), &st), -1);
	assert_int_equal(octo_s3_parse_upload_id(init, strlen(init), id), 0);
	assert_string_equal(id, "2~abc");
	assert_int_equal(octo_s3_parse_upload_id(err, strlen(err), id), -1);
	assert_int_equal(octo_s3_parse_list(list, strlen(list), "reg/", collect, got, &truncated,
					    next, sizeof(next)),
			 0);
	assert_string_equal(got, "blobs/a=3;blobs/b=12345678901;");
	assert_true(truncated);
	assert_string_equal(next, "tok/1");
	assert_int_equal(octo_s3_parse_list(list, strlen(list), "reg/", stop_at_first, &n,
					    &truncated, next, sizeof(next)),
			 0);
	assert_int_equal(n, 1);
	assert_false(truncated); /* the caller stopped: no next page */
	for (i = 0; i < sizeof(bad_lists) / sizeof(bad_lists[0]); i++) {
		got[0] = '\0';
		assert_int_equal(octo_s3_parse_list(bad_lists[i], strlen(bad_lists[i]), "reg/",
						    collect, got, &truncated, next, sizeof(next)),
				 -1);
		assert_string_equal(got, ""); /* and never an entity's expansion */
	}
	{
		static const char done[] = "<CompleteMultipartUploadResult><ETag>\"x\"</ETag>"
					   "</CompleteMultipartUploadResult>";
		assert_int_equal(octo_s3_parse_complete(done, strlen(done), &st), 1);
	}
	assert_int_equal(octo_s3_parse_complete(err, strlen(err), &st), 0);
	assert_string_equal(st.code, "NoSuchKey");
	assert_int_equal(octo_s3_parse_complete("junk", 4, &st), -1);
}

static int collect_upload(void *ctx, const char *key, const char *id)
{
	char *got = ctx;

	snprintf(got + strlen(got), 256 - strlen(got), "%s=%s;", key, id);
	return 0;
}

/* A copy's reply (with its ETag, or an error sent with a 200) and the multipart uploads under
 * way, page by page. */
static void test_copy_and_uploads(void **state)
{
	static const char copied[] = "<CopyObjectResult><LastModified>x</LastModified>"
				     "<ETag>\"e1\"</ETag></CopyObjectResult>";
	static const char part[] = "<CopyPartResult><ETag>\"e2\"</ETag></CopyPartResult>";
	static const char err[] = "<Error><Code>InternalError</Code><Message>m</Message></Error>";
	static const char uploads[] =
		"<ListMultipartUploadsResult><IsTruncated>true</IsTruncated>"
		"<NextKeyMarker>reg/uploads/a</NextKeyMarker>"
		"<NextUploadIdMarker>2~x</NextUploadIdMarker>"
		"<Upload><Key>reg/uploads/s/1</Key><UploadId>2~a</UploadId></Upload>"
		"<Upload><Key>other/uploads/s/2</Key><UploadId>2~b</UploadId></Upload>"
		"<Upload><Key>reg/uploads/s/3</Key><UploadId>2~c</UploadId></Upload>"
		"</ListMultipartUploadsResult>";
	static const char *const bad[] = {
		"<ListMultipartUploadsResult><Upload><Key>reg/k</Key></Upload>"
		"</ListMultipartUploadsResult>",
		"<ListMultipartUploadsResult><IsTruncated>true</IsTruncated>"
		"</ListMultipartUploadsResult>",
		"<ListBucketResult/>",
		"",
	};
	struct octo_s3_status st = {0};
	char etag[OCTO_S3_ETAG_MAX + 1], got[256] = "", km[64], im[64];
	int truncated;
	size_t i;

	(void)state;
	assert_int_equal(octo_s3_parse_copy(copied, strlen(copied), etag, &st), 1);
	assert_string_equal(etag, "\"e1\"");
	assert_int_equal(octo_s3_parse_copy(part, strlen(part), etag, &st), 1);
	assert_string_equal(etag, "\"e2\"");
	assert_int_equal(octo_s3_parse_copy(err, strlen(err), etag, &st), 0);
	assert_string_equal(st.code, "InternalError");
	assert_int_equal(octo_s3_parse_copy("<CopyObjectResult/>", 19, etag, &st), -1);
	assert_int_equal(octo_s3_parse_uploads(uploads, strlen(uploads), "reg/", collect_upload,
					       got, &truncated, km, im, sizeof(km)),
			 0);
	assert_string_equal(got, "uploads/s/1=2~a;uploads/s/3=2~c;");
	assert_true(truncated);
	assert_string_equal(km, "reg/uploads/a");
	assert_string_equal(im, "2~x");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(octo_s3_parse_uploads(bad[i], strlen(bad[i]), "reg/",
						       collect_upload, got, &truncated, km, im,
						       sizeof(km)),
				 -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_urls),
		cmocka_unit_test(test_presign),
		cmocka_unit_test(test_xml),
		cmocka_unit_test(test_copy_and_uploads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
