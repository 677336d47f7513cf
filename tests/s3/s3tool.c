/* SPDX-License-Identifier: Apache-2.0 */
/* The library's S3 client (lib/s3) as a command, for the tests against a real radosgw
 * (tests/s3/test_s3_client.py): each command one call, its outcome in the exit status and what
 * the server said on stderr. The store comes from the environment: S3_ENDPOINT, S3_REGION,
 * S3_BUCKET, S3_PREFIX, S3_ACCESS_KEY, S3_SECRET_KEY, S3_PATH_STYLE (1), S3_RETRIES, S3_COPY_MAX.
 *   put KEY FILE [SHA256]        get KEY [OFFSET LEN] (to stdout)   head KEY   delete KEY
 *   list PREFIX                  presign KEY SECONDS
 *   multipart KEY FILE PART_SIZE (create, the parts, complete; prints the upload id)
 *   abort KEY                    (create, then abort: prints the upload id)
 *   copy FROM TO SIZE            (on the server; in parts past S3_COPY_MAX bytes)
 *   begin KEY                    (create and leave it: prints the upload id)
 *   uploads PREFIX               (the multipart uploads under way: "key id" lines)
 * Exit status: 0 done, 3 not found, 4 denied, 5 the store does not answer, 1 anything else. */
#include "autoconfig.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "s3.h"

static const char *env(const char *name, const char *def)
{
	const char *v = getenv(name);
	return v != NULL ? v : def;
}

static int status(enum octo_err err, const struct octo_s3_status *st)
{
	if (err != OCTO_OK)
		fprintf(stderr, "s3tool: %s: http %ld code %s: %s\n", octo_err_code(err), st->http,
			st->code, st->detail);
	return err == OCTO_OK                 ? 0
	       : err == OCTO_ERR_NOT_FOUND    ? 3
	       : err == OCTO_ERR_STORE_DENIED ? 4
	       : err == OCTO_ERR_OBJECT_STORE ? 5
					      : 1;
}

static int to_stdout(void *ctx, const void *data, size_t len)
{
	(void)ctx;
	return fwrite(data, 1, len, stdout) == len ? 0 : -1;
}

static int print_object(void *ctx, const struct octo_s3_object *o)
{
	(void)ctx;
	printf("%s %llu\n", o->key, (unsigned long long)o->size);
	return 0;
}

static int print_upload(void *ctx, const char *key, const char *id)
{
	(void)ctx;
	printf("%s %s\n", key, id);
	return 0;
}

static int open_file(const char *path, struct octo_s3_body *b)
{
	struct stat sb;

	memset(b, 0, sizeof(*b));
	b->fd = open(path, O_RDONLY);
	if (b->fd < 0 || fstat(b->fd, &sb) != 0)
		return -1;
	b->len = (uint64_t)sb.st_size;
	return 0;
}

int main(int argc, char **argv)
{
	struct octo_s3_options o = {.endpoint = env("S3_ENDPOINT", ""),
				    .region = env("S3_REGION", "us-east-1"),
				    .bucket = env("S3_BUCKET", ""),
				    .prefix = env("S3_PREFIX", ""),
				    .access_key = env("S3_ACCESS_KEY", ""),
				    .secret_key = env("S3_SECRET_KEY", ""),
				    .path_style = atoi(env("S3_PATH_STYLE", "1")),
				    .timeout_ms = 30000,
				    .retries = atoi(env("S3_RETRIES", "2")),
				    .copy_max = strtoull(env("S3_COPY_MAX", "0"), NULL, 10)};
	struct octo_s3_status st = {0};
	struct octo_s3_body b;
	struct octo_s3 *s;
	enum octo_err err = OCTO_ERR_BAD_REQUEST;
	const char *cmd = argc > 1 ? argv[1] : "";

	if (octo_s3_open(&o, &s) != OCTO_OK)
		return 1;
	if (strcmp(cmd, "put") == 0 && argc >= 4) {
		if (open_file(argv[3], &b) != 0)
			return 1;
		b.sha256 = argc > 4 ? argv[4] : NULL;
		err = octo_s3_put(s, argv[2], &b, &st);
	} else if (strcmp(cmd, "get") == 0 && argc >= 3) {
		err = octo_s3_get(s, argv[2], argc > 4 ? strtoull(argv[3], NULL, 10) : 0,
				  argc > 4 ? strtoull(argv[4], NULL, 10) : 0, to_stdout, NULL, &st);
	} else if (strcmp(cmd, "head") == 0 && argc >= 3) {
		uint64_t size;
		err = octo_s3_head(s, argv[2], &size, &st);
		if (err == OCTO_OK)
			printf("%llu\n", (unsigned long long)size);
	} else if (strcmp(cmd, "delete") == 0 && argc >= 3) {
		err = octo_s3_delete(s, argv[2], &st);
	} else if (strcmp(cmd, "list") == 0 && argc >= 3) {
		err = octo_s3_list(s, argv[2], print_object, NULL, &st);
	} else if (strcmp(cmd, "presign") == 0 && argc >= 4) {
		char *url = octo_s3_presign(s, argv[2], time(NULL), atol(argv[3]));
		if (url != NULL)
			printf("%s\n", url);
		free(url);
		err = url != NULL ? OCTO_OK : OCTO_ERR_NOMEM;
	} else if (strcmp(cmd, "multipart") == 0 && argc >= 5) {
		char id[OCTO_S3_UPLOAD_ID_MAX + 1], (*etags)[OCTO_S3_ETAG_MAX + 1];
		uint64_t part = strtoull(argv[4], NULL, 10), off;
		int n = 0;
		if (open_file(argv[3], &b) != 0 || part == 0)
			return 1;
		etags = calloc(OCTO_S3_MAX_PARTS, sizeof(*etags));
		err = octo_s3_upload_create(s, argv[2], id, &st);
		if (err == OCTO_OK)
			printf("%s\n", id);
		for (off = 0; err == OCTO_OK && (off < b.len || n == 0); off += part) {
			struct octo_s3_body pb = {.fd = b.fd,
						  .offset = off,
						  .len = b.len - off < part ? b.len - off : part};
			err = octo_s3_upload_part(s, argv[2], id, n + 1, &pb, etags[n], &st);
			n++;
		}
		if (err == OCTO_OK)
			err = octo_s3_upload_complete(s, argv[2], id, etags, n, &st);
		free(etags);
	} else if (strcmp(cmd, "copy") == 0 && argc >= 5) {
		err = octo_s3_copy(s, argv[2], argv[3], strtoull(argv[4], NULL, 10), &st);
	} else if (strcmp(cmd, "begin") == 0 && argc >= 3) {
		char id[OCTO_S3_UPLOAD_ID_MAX + 1];
		err = octo_s3_upload_create(s, argv[2], id, &st);
		if (err == OCTO_OK)
			printf("%s\n", id);
	} else if (strcmp(cmd, "uploads") == 0 && argc >= 3) {
		err = octo_s3_list_uploads(s, argv[2], print_upload, NULL, &st);
	} else if (strcmp(cmd, "abort") == 0 && argc >= 3) {
		char id[OCTO_S3_UPLOAD_ID_MAX + 1];
		err = octo_s3_upload_create(s, argv[2], id, &st);
		if (err == OCTO_OK) {
			printf("%s\n", id);
			err = octo_s3_upload_abort(s, argv[2], id, &st);
		}
	} else {
		fprintf(stderr, "s3tool: usage: see tests/s3/s3tool.c\n");
		octo_s3_free(s);
		return 2;
	}
	octo_s3_free(s);
	return status(err, &st);
}
