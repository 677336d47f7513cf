/* SPDX-License-Identifier: Apache-2.0 */
/* A client of the S3 API (AWS S3, Ceph radosgw, MinIO, Garage, SeaweedFS) for the object store
 * (storage.type "s3"): objects put, read (whole or a range), probed, removed and listed; multipart
 * uploads; presigned GET URLs. Requests are signed with SigV4 by libcurl (CURLOPT_AWS_SIGV4, with
 * x-amz-content-sha256 given, which radosgw requires), presigned URLs here with OpenSSL's
 * HMAC-SHA256; the XML of list and multipart replies and of errors is read with libxml2, no
 * network, no entities, no DTD. Transient failures (5xx, 429, a connection refused or cut) are
 * retried with backoff; each request has a timeout. Thread-safe: a request takes its own handle. */
#ifndef OCTO_S3_H
#define OCTO_S3_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "error.h"

/* An object key's longest form (S3 allows 1024 bytes), a part's smallest size but the last's
 * (S3: 5 MiB), the most parts of an upload, and an XML reply's largest size. */
#define OCTO_S3_KEY_MAX 1024
#define OCTO_S3_MIN_PART (5u << 20)
#define OCTO_S3_MAX_PARTS 10000
#define OCTO_S3_MAX_REPLY (4u << 20)
#define OCTO_S3_UPLOAD_ID_MAX 1024
#define OCTO_S3_ETAG_MAX 128

struct octo_s3_options {
	const char *endpoint; /* "http://127.0.0.1:7480", "https://s3.eu-west-1.amazonaws.com" */
	const char *region;   /* "us-east-1" */
	const char *bucket;
	const char *prefix; /* "" or "registry/": put before every key */
	const char *access_key;
	const char *secret_key;
	int path_style;    /* 1: endpoint/bucket/key; 0: bucket.endpoint/key */
	long timeout_ms;   /* one attempt */
	int retries;       /* attempts after the first, on transient failures */
	uint64_t copy_max; /* 0: OCTO_S3_COPY_MAX; larger objects are copied in parts this size */
};

/* What a reply said when it was not a success. */
struct octo_s3_status {
	long http;        /* 0: no reply (a connection refused, a timeout) */
	char code[64];    /* the XML error's Code ("NoSuchKey", "SignatureDoesNotMatch"), or "" */
	char detail[256]; /* curl's error, or the XML error's Message */
};

struct octo_s3;
enum octo_err octo_s3_open(const struct octo_s3_options *o, struct octo_s3 **out);
void octo_s3_free(struct octo_s3 *s);

/* The URL of key (prefix added; NULL: the bucket), for requests and presigning; malloc'd or NULL. */
char *octo_s3_url(const struct octo_s3 *s, const char *key, const char *query);

/* A presigned GET URL for key valid for lifetime seconds from now (SigV4 query string). */
char *octo_s3_presign(const struct octo_s3 *s, const char *key, time_t now, long lifetime);

/* A read of the body as it arrives: 0 to go on, -1 to stop (the request fails). */
typedef int octo_s3_sink(void *ctx, const void *data, size_t len);
/* A body to send: len bytes of data, or when data is NULL of the file fd from offset (read with
 * pread, so that a retry sends it again). sha256: its SHA-256 in hex, or NULL to send it
 * unsigned (UNSIGNED-PAYLOAD; TLS or the digest checks guard it). */
struct octo_s3_body {
	const void *data;
	int fd;
	uint64_t offset, len;
	const char *sha256;
};

/* PUT key with body b. */
enum octo_err octo_s3_put(struct octo_s3 *s, const char *key, const struct octo_s3_body *b,
			  struct octo_s3_status *st);
/* GET key, bytes [offset, offset + len) (len 0: to the end) into sink. OCTO_ERR_NOT_FOUND when
 * it does not exist. */
enum octo_err octo_s3_get(struct octo_s3 *s, const char *key, uint64_t offset, uint64_t len,
			  octo_s3_sink *sink, void *ctx, struct octo_s3_status *st);
/* HEAD key: its size. OCTO_ERR_NOT_FOUND when it does not exist. Every call's failures: a
 * refusal (403) OCTO_ERR_STORE_DENIED, no answer or a 5xx after the retries
 * OCTO_ERR_OBJECT_STORE, anything else OCTO_ERR_IO; st says what the server said. */
enum octo_err octo_s3_head(struct octo_s3 *s, const char *key, uint64_t *size,
			   struct octo_s3_status *st);
/* DELETE key (OCTO_OK if it was not there: S3 answers 204 either way). */
enum octo_err octo_s3_delete(struct octo_s3 *s, const char *key, struct octo_s3_status *st);

/* One object of a listing. */
struct octo_s3_object {
	char key[OCTO_S3_KEY_MAX + 1]; /* without the prefix */
	uint64_t size;
};
/* Each object under prefix (after the store's prefix), in key order: fn returns 0 to go on. */
enum octo_err octo_s3_list(struct octo_s3 *s, const char *prefix,
			   int (*fn)(void *ctx, const struct octo_s3_object *o), void *ctx,
			   struct octo_s3_status *st);

/* Multipart uploads: create (an upload id), a part (numbered from 1; its ETag), complete with
 * every part's ETag in order, abort; and the uploads under way under prefix (to abort those
 * left behind). */
enum octo_err octo_s3_upload_create(struct octo_s3 *s, const char *key,
				    char id[OCTO_S3_UPLOAD_ID_MAX + 1], struct octo_s3_status *st);
enum octo_err octo_s3_upload_part(struct octo_s3 *s, const char *key, const char *id, int part,
				  const struct octo_s3_body *b, char etag[OCTO_S3_ETAG_MAX + 1],
				  struct octo_s3_status *st);
enum octo_err octo_s3_upload_complete(struct octo_s3 *s, const char *key, const char *id,
				      char (*etags)[OCTO_S3_ETAG_MAX + 1], int n,
				      struct octo_s3_status *st);
enum octo_err octo_s3_upload_abort(struct octo_s3 *s, const char *key, const char *id,
				   struct octo_s3_status *st);

/* Copy from to to (keys under the prefix) on the server: one request up to the options'
 * copy_max (S3 copies at most OCTO_S3_COPY_MAX at once), else a multipart upload of parts of
 * that size, each copied on the server. size: from's. */
#define OCTO_S3_COPY_MAX (5ull << 30)
enum octo_err octo_s3_copy(struct octo_s3 *s, const char *from, const char *to, uint64_t size,
			   struct octo_s3_status *st);
/* Each multipart upload under way under prefix (after the store's prefix): fn(ctx, key without
 * the store's prefix, upload id), 0 to go on. */
enum octo_err octo_s3_list_uploads(struct octo_s3 *s, const char *prefix,
				   int (*fn)(void *ctx, const char *key, const char *id), void *ctx,
				   struct octo_s3_status *st);

/* The parsers of what a server sends (exported for the fuzz target): each returns 0, or -1
 * when the text is not the document it should be. */
/* <Error><Code>…</Code><Message>…</Message></Error> into st (code and detail). */
int octo_s3_parse_error(const char *xml, size_t len, struct octo_s3_status *st);
/* <InitiateMultipartUploadResult><UploadId>…</UploadId>… */
int octo_s3_parse_upload_id(const char *xml, size_t len, char id[OCTO_S3_UPLOAD_ID_MAX + 1]);
/* <ListBucketResult>: each <Contents><Key>,<Size>, the keys without prefix (those that do not
 * start with it are skipped); *truncated and the next continuation token. fn as octo_s3_list's. */
int octo_s3_parse_list(const char *xml, size_t len, const char *prefix,
		       int (*fn)(void *ctx, const struct octo_s3_object *o), void *ctx,
		       int *truncated, char *next, size_t next_size);
/* <CompleteMultipartUploadResult> (1), or an <Error> that S3 may send with a 200 (0, st filled). */
int octo_s3_parse_complete(const char *xml, size_t len, struct octo_s3_status *st);
/* <CopyObjectResult> or <CopyPartResult> with its ETag (1), or an <Error> (0, st filled). */
int octo_s3_parse_copy(const char *xml, size_t len, char etag[OCTO_S3_ETAG_MAX + 1],
		       struct octo_s3_status *st);
/* <ListMultipartUploadsResult>: each <Upload><Key>,<UploadId> (keys without prefix; those that do
 * not start with it skipped) to fn; *truncated and the next markers (each marker_size bytes). */
int octo_s3_parse_uploads(const char *xml, size_t len, const char *prefix,
			  int (*fn)(void *ctx, const char *key, const char *id), void *ctx,
			  int *truncated, char *key_marker, char *id_marker, size_t marker_size);

#endif
