/* SPDX-License-Identifier: Apache-2.0 */
/* See bucket.h. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bucket.h"
#include "fsutil.h"

#define MARKER_REL "bucket" /* in the store's root: "s3 <bucket> <prefix>\n" */
#define SECRET_MAX 256      /* a secret key file's longest content */
#define RETRIES 3           /* attempts after the first, on a transient failure */

struct octo_bucket {
	struct octo_s3 *s3;
	uint64_t part_size;
	long redirect_s; /* 0: downloads stream */
};

/* What the bucket answered, recorded for the logs (fsutil's failure), as the store error. */
static enum octo_err failed(const char *op, const char *key, enum octo_err err,
			    const struct octo_s3_status *st)
{
	char reason[400];

	if (err == OCTO_ERR_NOT_FOUND)
		return OCTO_ERR_BLOB_UNKNOWN;
	if (st->http != 0)
		snprintf(reason, sizeof(reason), "the bucket answered %ld %s%s%s", st->http,
			 st->code, st->detail[0] ? ": " : "", st->detail);
	else
		snprintf(reason, sizeof(reason), "the bucket did not answer: %s", st->detail);
	octo_fs_fail_because(op, key, reason);
	return err;
}

static enum octo_err read_secret(const char *path, char *buf, size_t size, char *why,
				 size_t whysize)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0) {
		snprintf(why, whysize, "storage.s3.secret_key_file %s: %s", path, strerror(errno));
		return OCTO_ERR_CONFIG;
	}
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0 || (size_t)n == size - 1) {
		snprintf(why, whysize, "storage.s3.secret_key_file %s: %s", path,
			 n < 0 ? strerror(errno) : "longer than a secret key");
		return OCTO_ERR_CONFIG;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	if (n == 0) {
		snprintf(why, whysize, "storage.s3.secret_key_file %s is empty", path);
		return OCTO_ERR_CONFIG;
	}
	return OCTO_OK;
}

enum octo_err octo_bucket_open(const struct octo_config_s3 *cfg, struct octo_bucket **out,
			       char *why, size_t whysize)
{
	char secret[SECRET_MAX];
	struct octo_s3_options o = {.endpoint = cfg->endpoint,
				    .region = cfg->region,
				    .bucket = cfg->bucket,
				    .prefix = cfg->prefix,
				    .access_key = cfg->access_key,
				    .secret_key = cfg->secret_key,
				    .path_style = cfg->path_style,
				    .timeout_ms = (long)cfg->timeout_ms,
				    .retries = RETRIES};
	struct octo_bucket *b;
	enum octo_err err;

	*out = NULL;
	if (cfg->secret_key_file != NULL) {
		err = read_secret(cfg->secret_key_file, secret, sizeof(secret), why, whysize);
		if (err != OCTO_OK)
			return err;
		o.secret_key = secret;
	}
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return OCTO_ERR_NOMEM;
	err = octo_s3_open(&o, &b->s3);
	explicit_bzero(secret, sizeof(secret));
	if (err != OCTO_OK) {
		free(b);
		snprintf(why, whysize, "cannot set up the S3 client");
		return err;
	}
	b->part_size = (uint64_t)cfg->part_size;
	b->redirect_s = cfg->redirect ? (long)(cfg->redirect_lifetime_ms / 1000) : 0;
	*out = b;
	return OCTO_OK;
}

void octo_bucket_free(struct octo_bucket *b)
{
	if (b == NULL)
		return;
	octo_s3_free(b->s3);
	free(b);
}

enum octo_err octo_bucket_attach(struct octo_store *s, const struct octo_config *cfg, int readonly,
				 char *why, size_t whysize)
{
	char want[512], *have = NULL;
	struct octo_bucket *b;
	enum octo_err err;
	size_t len;

	err = octo_store_read(s, MARKER_REL, sizeof(want), OCTO_ERR_NOT_FOUND, &have, &len);
	if (err != OCTO_OK && err != OCTO_ERR_NOT_FOUND) {
		snprintf(why, whysize, "cannot read %s/%s", octo_store_root(s), MARKER_REL);
		return err;
	}
	if (!octo_config_s3(cfg)) {
		free(have);
		if (err == OCTO_ERR_NOT_FOUND)
			return OCTO_OK;
		snprintf(why, whysize,
			 "the store %s keeps its content in an S3 bucket (its file \"%s\" says "
			 "which): set storage.type \"s3\" and storage.s3",
			 octo_store_root(s), MARKER_REL);
		return OCTO_ERR_CONFIG;
	}
	snprintf(want, sizeof(want), "s3 %s %s\n", cfg->storage.s3.bucket, cfg->storage.s3.prefix);
	if (err == OCTO_OK && (len != strlen(want) || memcmp(have, want, len) != 0)) {
		snprintf(why, whysize,
			 "the store %s keeps its content in another bucket or under another prefix "
			 "(its file \"%s\": %.*s), not bucket %s prefix \"%s\"",
			 octo_store_root(s), MARKER_REL, (int)(len > 0 ? len - 1 : 0), have,
			 cfg->storage.s3.bucket, cfg->storage.s3.prefix);
		free(have);
		return OCTO_ERR_CONFIG;
	}
	free(have);
	if (err == OCTO_ERR_NOT_FOUND && !readonly &&
	    (err = octo_store_write_atomic(s, MARKER_REL, want, strlen(want), 1)) != OCTO_OK) {
		snprintf(why, whysize, "cannot write %s/%s", octo_store_root(s), MARKER_REL);
		return err;
	}
	err = octo_bucket_open(&cfg->storage.s3, &b, why, whysize);
	if (err == OCTO_OK)
		octo_store_set_bucket(s, b, octo_bucket_free);
	return err;
}

/* The object key of d's content: its path in a store's directory. */
static enum octo_err key_of(const struct octo_digest *d, char *key, size_t size)
{
	return octo_store_blob_rel(d, key, size);
}

/* A multipart upload of the file's len bytes in parts of b->part_size, aborted on failure. */
static enum octo_err put_parts(struct octo_bucket *b, const char *key, int fd, uint64_t len,
			       struct octo_s3_status *st)
{
	char id[OCTO_S3_UPLOAD_ID_MAX + 1] = "", (*etags)[OCTO_S3_ETAG_MAX + 1];
	uint64_t parts = (len + b->part_size - 1) / b->part_size, i;
	struct octo_s3_status ignored;
	enum octo_err err;

	if (parts > OCTO_S3_MAX_PARTS)
		return OCTO_ERR_TOO_LARGE;
	etags = calloc((size_t)parts, sizeof(*etags));
	if (etags == NULL)
		return OCTO_ERR_NOMEM;
	err = octo_s3_upload_create(b->s3, key, id, st);
	for (i = 0; err == OCTO_OK && i < parts; i++) {
		struct octo_s3_body body = {.fd = fd, .offset = i * b->part_size};
		body.len = len - body.offset < b->part_size ? len - body.offset : b->part_size;
		err = octo_s3_upload_part(b->s3, key, id, (int)i + 1, &body, etags[i], st);
	}
	if (err == OCTO_OK)
		err = octo_s3_upload_complete(b->s3, key, id, etags, (int)parts, st);
	else if (id[0] != '\0')
		(void)octo_s3_upload_abort(b->s3, key, id, &ignored);
	free(etags);
	return err;
}

enum octo_err octo_bucket_put(struct octo_bucket *b, const struct octo_digest *d, const void *data,
			      int fd, uint64_t len)
{
	char key[OCTO_S3_KEY_MAX + 1];
	struct octo_s3_status st = {0};
	struct octo_s3_body body = {.data = data, .fd = fd, .len = len};
	enum octo_err err = key_of(d, key, sizeof(key));

	if (err != OCTO_OK)
		return err;
	/* S3 checks a payload's signed SHA-256: for a sha256 digest, the digest itself */
	if (d->alg == OCTO_DIGEST_SHA256)
		body.sha256 = d->hex;
	if (data != NULL || len <= b->part_size)
		err = octo_s3_put(b->s3, key, &body, &st);
	else
		err = put_parts(b, key, fd, len, &st);
	return err == OCTO_OK ? OCTO_OK : failed("store in the bucket", key, err, &st);
}

struct growing {
	char *data;
	size_t len, cap, max;
	enum octo_err stopped; /* why grow stopped the transfer */
};

static int grow(void *ctx, const void *data, size_t len)
{
	struct growing *g = ctx;

	if (len > g->max - g->len) {
		g->stopped = OCTO_ERR_TOO_LARGE;
		return -1;
	}
	if (g->len + len > g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 64 * 1024;
		char *p;
		while (cap < g->len + len)
			cap *= 2;
		if (cap > g->max)
			cap = g->max;
		p = realloc(g->data, cap);
		if (p == NULL) {
			g->stopped = OCTO_ERR_NOMEM;
			return -1;
		}
		g->data = p;
		g->cap = cap;
	}
	memcpy(g->data + g->len, data, len);
	g->len += len;
	return 0;
}

enum octo_err octo_bucket_read(struct octo_bucket *b, const struct octo_digest *d, size_t max,
			       char **data, size_t *len)
{
	char key[OCTO_S3_KEY_MAX + 1];
	struct growing g = {.max = max, .stopped = OCTO_OK};
	struct octo_s3_status st = {0};
	enum octo_err err = key_of(d, key, sizeof(key));

	*data = NULL;
	*len = 0;
	if (err == OCTO_OK)
		err = octo_s3_get(b->s3, key, 0, 0, grow, &g, &st);
	if (err != OCTO_OK) {
		free(g.data);
		if (g.stopped != OCTO_OK)
			return g.stopped;
		return failed("read from the bucket", key, err, &st);
	}
	*data = g.data;
	*len = g.len;
	return OCTO_OK;
}

enum octo_err octo_bucket_stream(struct octo_bucket *b, const struct octo_digest *d,
				 uint64_t offset, uint64_t len, octo_s3_sink *sink, void *ctx)
{
	char key[OCTO_S3_KEY_MAX + 1];
	struct octo_s3_status st = {0};
	enum octo_err err = key_of(d, key, sizeof(key));

	if (err == OCTO_OK)
		err = octo_s3_get(b->s3, key, offset, len, sink, ctx, &st);
	return err == OCTO_OK ? OCTO_OK : failed("read from the bucket", key, err, &st);
}

enum octo_err octo_bucket_head(struct octo_bucket *b, const struct octo_digest *d, uint64_t *size)
{
	char key[OCTO_S3_KEY_MAX + 1];
	struct octo_s3_status st = {0};
	enum octo_err err = key_of(d, key, sizeof(key));

	if (err == OCTO_OK)
		err = octo_s3_head(b->s3, key, size, &st);
	return err == OCTO_OK ? OCTO_OK : failed("look up in the bucket", key, err, &st);
}

enum octo_err octo_bucket_remove(struct octo_bucket *b, const struct octo_digest *d)
{
	char key[OCTO_S3_KEY_MAX + 1];
	struct octo_s3_status st = {0};
	enum octo_err err = key_of(d, key, sizeof(key));

	if (err == OCTO_OK)
		err = octo_s3_delete(b->s3, key, &st);
	return err == OCTO_OK ? OCTO_OK : failed("remove from the bucket", key, err, &st);
}

char *octo_bucket_redirect_url(const struct octo_bucket *b, const struct octo_digest *d, time_t now)
{
	char key[OCTO_S3_KEY_MAX + 1];

	if (b->redirect_s == 0 || key_of(d, key, sizeof(key)) != OCTO_OK)
		return NULL;
	return octo_s3_presign(b->s3, key, now, b->redirect_s);
}

uint64_t octo_bucket_part_size(const struct octo_bucket *b)
{
	return b->part_size;
}

enum octo_err octo_bucket_session_key(const struct octo_store *s, const char *session, char *buf,
				      size_t size)
{
	int n = snprintf(buf, size, "uploads/%s/%s", octo_store_incarnation(s), session);

	return n < 0 || (size_t)n >= size ? OCTO_ERR_NAME_INVALID : OCTO_OK;
}

enum octo_err octo_bucket_session_begin(struct octo_bucket *b, const char *key,
					char id[OCTO_S3_UPLOAD_ID_MAX + 1])
{
	struct octo_s3_status st = {0};
	enum octo_err err = octo_s3_upload_create(b->s3, key, id, &st);

	return err == OCTO_OK ? OCTO_OK : failed("start an upload in the bucket", key, err, &st);
}

enum octo_err octo_bucket_session_part(struct octo_bucket *b, const char *key, const char *id,
				       int n, int fd, uint64_t offset, uint64_t len,
				       char etag[OCTO_S3_ETAG_MAX + 1])
{
	struct octo_s3_body body = {.fd = fd, .offset = offset, .len = len};
	struct octo_s3_status st = {0};
	enum octo_err err = octo_s3_upload_part(b->s3, key, id, n, &body, etag, &st);

	return err == OCTO_OK ? OCTO_OK : failed("send a part to the bucket", key, err, &st);
}

enum octo_err octo_bucket_session_complete(struct octo_bucket *b, const char *key, const char *id,
					   char (*etags)[OCTO_S3_ETAG_MAX + 1], int n,
					   uint64_t size)
{
	struct octo_s3_status st = {0}, head = {0};
	enum octo_err err = octo_s3_upload_complete(b->s3, key, id, etags, n, &st);
	uint64_t have = 0;

	/* An upload the bucket no longer knows, its object there: an earlier attempt completed it
	 * and its answer was lost, or what came after it failed (a retried commit comes here). */
	if (err == OCTO_ERR_NOT_FOUND && octo_s3_head(b->s3, key, &have, &head) == OCTO_OK &&
	    have == size)
		return OCTO_OK;
	return err == OCTO_OK ? OCTO_OK : failed("complete an upload in the bucket", key, err, &st);
}

enum octo_err octo_bucket_session_adopt(struct octo_bucket *b, const char *key,
					const struct octo_digest *d, uint64_t size)
{
	char to[OCTO_S3_KEY_MAX + 1];
	struct octo_s3_status st = {0};
	enum octo_err err = key_of(d, to, sizeof(to));

	if (err == OCTO_OK)
		err = octo_s3_copy(b->s3, key, to, size, &st);
	if (err != OCTO_OK)
		return failed("copy in the bucket", key, err, &st);
	err = octo_s3_delete(b->s3, key, &st);
	/* left behind, it is only space: the next collection's orphans sweep finds no upload
	 * for it, so say it */
	return err == OCTO_OK ? OCTO_OK : failed("remove from the bucket", key, err, &st);
}

enum octo_err octo_bucket_session_stream(struct octo_bucket *b, const char *key, octo_s3_sink *sink,
					 void *ctx)
{
	struct octo_s3_status st = {0};
	enum octo_err err = octo_s3_get(b->s3, key, 0, 0, sink, ctx, &st);

	return err == OCTO_OK ? OCTO_OK : failed("read from the bucket", key, err, &st);
}

enum octo_err octo_bucket_session_abort(struct octo_bucket *b, const char *key, const char *id)
{
	struct octo_s3_status st = {0};
	enum octo_err err =
		id != NULL && id[0] != '\0' ? octo_s3_upload_abort(b->s3, key, id, &st) : OCTO_OK;

	if (err == OCTO_OK) /* completed before a failure: the object */
		err = octo_s3_delete(b->s3, key, &st);
	return err == OCTO_OK ? OCTO_OK : failed("abort an upload in the bucket", key, err, &st);
}

struct orphans {
	struct octo_bucket *b;
	size_t plen;
	int (*live)(void *ctx, const char *session);
	void *ctx;
	size_t aborted;
	enum octo_err err;
};

static int abort_orphan(void *ctx, const char *key, const char *id)
{
	struct orphans *o = ctx;
	struct octo_s3_status st = {0};

	if (o->live(o->ctx, key + o->plen))
		return 0;
	o->err = octo_s3_upload_abort(o->b->s3, key, id, &st);
	if (o->err != OCTO_OK) {
		o->err = failed("abort an upload in the bucket", key, o->err, &st);
		return 1;
	}
	o->aborted++;
	return 0;
}

enum octo_err octo_bucket_session_orphans(struct octo_bucket *b, const struct octo_store *s,
					  int (*live)(void *ctx, const char *session), void *ctx,
					  size_t *aborted)
{
	char prefix[OCTO_S3_KEY_MAX + 1];
	struct orphans o = {.b = b, .live = live, .ctx = ctx, .err = OCTO_OK};
	struct octo_s3_status st = {0};
	enum octo_err err = octo_bucket_session_key(s, "", prefix, sizeof(prefix));

	*aborted = 0;
	o.plen = strlen(prefix);
	if (err == OCTO_OK)
		err = octo_s3_list_uploads(b->s3, prefix, abort_orphan, &o, &st);
	if (err != OCTO_OK)
		return failed("list the uploads in the bucket", prefix, err, &st);
	*aborted = o.aborted;
	return o.err;
}
