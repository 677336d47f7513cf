/* SPDX-License-Identifier: Apache-2.0 */
/* Upload sessions on disk. See upload.h for the crash-safety argument. The data file is
 * flock'ed while a request works on a session; after taking the lock the path is checked
 * to still name the same file, because a concurrent commit may have renamed it into the
 * blob store meanwhile. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "bucket.h"
#include "fsutil.h"
#include "metrics.h"
#include "name.h"
#include "store-blob.h"
#include "upload.h"
#include "writer.h"

/* The state file, all ours and little-endian: magic (the format's version), offset, the
 * repository, the client's key (or nothing) and the serialised hash state, each with a
 * 16-bit length; since OCTOUPL3, then the bucket's multipart upload (bucket.h): its id (or
 * nothing), the bytes in its parts (64 bits), their count (16 bits) and each one's ETag. */
#define CLIENT_KEY_LEN 16 /* hex digits of the sha256 of the client's address */
#define CLIENTS_DIR "uploads/by-client"
#define STATE_MAGIC_V2 "OCTOUPL2"
#define STATE_MAGIC "OCTOUPL3"
#define STATE_BASE_MAX (8 + 8 + 2 + OCTO_NAME_MAX + 2 + CLIENT_KEY_LEN + 2 + OCTO_HASHER_STATE_MAX)
#define STATE_PARTS_MAX(n)                                                                         \
	(2 + OCTO_S3_UPLOAD_ID_MAX + 8 + 2 + (size_t)(n) * (2 + OCTO_S3_ETAG_MAX))
#define STATE_MAX (STATE_BASE_MAX + STATE_PARTS_MAX(OCTO_S3_MAX_PARTS))
#define IO_CHUNK (64 * 1024)     /* libfcgi blocks until it has this much: keep it small */
#define DIRECT_MIN (1024 * 1024) /* bodies at least this long bypass the page cache */

struct octo_upload {
	struct octo_store *store;
	char id[OCTO_UPLOAD_ID_LEN + 1];
	char repo[OCTO_NAME_MAX + 1];
	char dir[64];                    /* uploads/<id>, relative to the store's root */
	char data_path[80];              /* uploads/<id>/data */
	char state_path[80];             /* uploads/<id>/state */
	char client[CLIENT_KEY_LEN + 1]; /* "" when the session has no client on record */
	int fd;
	int persist;
	int done; /* committed or cancelled */
	uint64_t offset;
	uint64_t max_size; /* 0: no limit */
	struct octo_hasher *hasher;
	/* With a bucket: bytes [0, parted) went to the multipart upload part_id as n_parts parts
	 * (their holes punched in the data file), the rest is in the data file. */
	struct octo_bucket *bucket;
	char part_id[OCTO_S3_UPLOAD_ID_MAX + 1]; /* "" until the first part */
	uint64_t parted;
	int n_parts;
	char (*etags)[OCTO_S3_ETAG_MAX + 1];
};

static int id_valid(const char *id, size_t len)
{
	size_t i;

	if (len != OCTO_UPLOAD_ID_LEN)
		return 0;
	for (i = 0; i < len; i++) {
		char c = id[i];
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return 0;
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
			return 0;
		}
	}
	return 1;
}

static struct octo_upload *upload_alloc(struct octo_store *s, const char *repo, const char *id)
{
	struct octo_upload *u = calloc(1, sizeof(*u));

	if (u == NULL)
		return NULL;
	u->store = s;
	u->bucket = octo_store_bucket(s);
	u->fd = -1;
	memcpy(u->id, id, OCTO_UPLOAD_ID_LEN);
	memcpy(u->repo, repo, strlen(repo) + 1); /* a valid name: at most OCTO_NAME_MAX */
	snprintf(u->dir, sizeof(u->dir), "uploads/%s", u->id);
	snprintf(u->data_path, sizeof(u->data_path), "%s/data", u->dir);
	snprintf(u->state_path, sizeof(u->state_path), "%s/state", u->dir);
	return u;
}

static unsigned char *put_bytes(unsigned char *p, const void *data, size_t len)
{
	p[0] = (unsigned char)(len & 0xff);
	p[1] = (unsigned char)(len >> 8);
	memcpy(p + 2, data, len);
	return p + 2 + len;
}

static unsigned char *put_u64(unsigned char *p, uint64_t v, int bytes)
{
	int i;

	for (i = 0; i < bytes; i++)
		*p++ = (unsigned char)(v >> (8 * i));
	return p;
}

static uint64_t get_u64(const unsigned char *p, int bytes)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < bytes; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static enum octo_err state_save(struct octo_upload *u)
{
	unsigned char hs[OCTO_HASHER_STATE_MAX], *buf, *p;
	size_t hlen = octo_hasher_save(u->hasher, hs);
	enum octo_err err;
	int i;

	buf = malloc(STATE_BASE_MAX + STATE_PARTS_MAX(u->n_parts));
	if (buf == NULL)
		return OCTO_ERR_NOMEM;
	p = buf;
	memcpy(p, STATE_MAGIC, 8);
	p = put_u64(p + 8, u->offset, 8);
	p = put_bytes(p, u->repo, strlen(u->repo));
	p = put_bytes(p, u->client, strlen(u->client));
	p = put_bytes(p, hs, hlen);
	p = put_bytes(p, u->part_id, strlen(u->part_id));
	p = put_u64(p, u->parted, 8);
	p = put_u64(p, (uint64_t)u->n_parts, 2);
	for (i = 0; i < u->n_parts; i++)
		p = put_bytes(p, u->etags[i], strlen(u->etags[i]));
	/* No directory fsync: after a crash the old state is as good as the new one. */
	err = octo_store_write_atomic(u->store, u->state_path, buf, (size_t)(p - buf), 0);
	free(buf);
	return err;
}

/* A length-prefixed field at *p of at most max bytes within end; NULL when it does not fit. */
static const unsigned char *get_bytes(const unsigned char *p, const unsigned char *end, size_t max,
				      size_t *len)
{
	if (end - p < 2)
		return NULL;
	*len = (size_t)p[0] | (size_t)p[1] << 8;
	if (*len > max || (size_t)(end - p - 2) < *len)
		return NULL;
	return p + 2;
}

/* The multipart upload's fields of a state (from p to end); 0, or -1 when damaged. */
static int parts_load(struct octo_upload *u, const unsigned char *p, const unsigned char *end)
{
	const unsigned char *id, *tag;
	size_t id_len, tag_len;
	int i, n;

	id = get_bytes(p, end, OCTO_S3_UPLOAD_ID_MAX, &id_len);
	if (id == NULL || end - (id + id_len) < 10)
		return -1;
	memcpy(u->part_id, id, id_len);
	u->part_id[id_len] = '\0';
	u->parted = get_u64(id + id_len, 8);
	n = (int)get_u64(id + id_len + 8, 2);
	p = id + id_len + 10;
	if (n > OCTO_S3_MAX_PARTS || u->parted > u->offset || (n > 0) != (u->parted > 0) ||
	    (n > 0 && id_len == 0) || memchr(u->part_id, '\0', id_len) != NULL)
		return -1;
	u->etags = n > 0 ? calloc((size_t)n, sizeof(*u->etags)) : NULL;
	if (n > 0 && u->etags == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		tag = get_bytes(p, end, OCTO_S3_ETAG_MAX, &tag_len);
		if (tag == NULL || tag_len == 0 || memchr(tag, '\0', tag_len) != NULL)
			return -1;
		memcpy(u->etags[i], tag, tag_len);
		u->etags[i][tag_len] = '\0';
		p = tag + tag_len;
	}
	u->n_parts = n;
	return p == end ? 0 : -1;
}

/* Read and check the state file completely; any damage makes the session unknown. */
static enum octo_err state_load(struct octo_upload *u)
{
	const unsigned char *p, *end, *repo, *client, *hs;
	enum octo_err err = OCTO_ERR_BLOB_UPLOAD_UNKNOWN;
	size_t len, repo_len, client_len, hlen;
	uint64_t offset = 0;
	char *text;
	int i, v2;

	err = octo_store_read(u->store, u->state_path, STATE_MAX, OCTO_ERR_BLOB_UPLOAD_UNKNOWN,
			      &text, &len);
	if (err == OCTO_ERR_TOO_LARGE)
		err = OCTO_ERR_BLOB_UPLOAD_UNKNOWN;
	if (err != OCTO_OK)
		return err;
	err = OCTO_ERR_BLOB_UPLOAD_UNKNOWN;
	p = (const unsigned char *)text;
	end = p + len;
	v2 = len >= 16 && memcmp(p, STATE_MAGIC_V2, 8) == 0; /* a session from before buckets */
	if (len < 16 || (!v2 && memcmp(p, STATE_MAGIC, 8) != 0))
		goto out;
	offset = get_u64(p + 8, 8);
	repo = get_bytes(p + 16, end, OCTO_NAME_MAX, &repo_len);
	if (repo == NULL || !octo_name_valid((const char *)repo, repo_len))
		goto out;
	client = get_bytes(repo + repo_len, end, CLIENT_KEY_LEN, &client_len);
	if (client == NULL || (client_len != 0 && client_len != CLIENT_KEY_LEN))
		goto out;
	for (i = 0; i < (int)client_len; i++)
		if (!((client[i] >= '0' && client[i] <= '9') ||
		      (client[i] >= 'a' && client[i] <= 'f')))
			goto out;
	hs = get_bytes(client + client_len, end, OCTO_HASHER_STATE_MAX, &hlen);
	if (hs == NULL || (v2 && hs + hlen != end))
		goto out;
	/* a session is only valid in the repository that started it */
	if (strlen(u->repo) != repo_len || memcmp(u->repo, repo, repo_len) != 0)
		goto out;
	u->hasher = octo_hasher_load(hs, hlen);
	if (u->hasher == NULL || octo_hasher_alg(u->hasher) != OCTO_DIGEST_SHA256 ||
	    octo_hasher_length(u->hasher) != offset)
		goto out;
	u->offset = offset;
	if (!v2 && parts_load(u, hs + hlen, end) != 0)
		goto out;
	/* parts of a bucket the store no longer has (storage.type changed under a session) */
	if (u->n_parts > 0 && u->bucket == NULL)
		goto out;
	memcpy(u->client, client, client_len);
	u->client[client_len] = '\0';
	err = OCTO_OK;
out:
	free(text);
	return err;
}

/* Lock the data file and make sure the path still names it. */
static enum octo_err lock_data(struct octo_upload *u)
{
	struct stat a, b;
	int fd;

	while (flock(u->fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK)
			return OCTO_ERR_SESSION_BUSY;
		if (errno != EINTR)
			return octo_fs_error(errno);
	}
	if (fstat(u->fd, &a) != 0)
		return octo_fs_error(errno);
	fd = octo_store_openat(u->store, u->data_path, O_PATH, 0);
	if (fd < 0)
		return OCTO_ERR_BLOB_UPLOAD_UNKNOWN;
	if (fstat(fd, &b) != 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
		close(fd);
		return OCTO_ERR_BLOB_UPLOAD_UNKNOWN;
	}
	close(fd);
	return OCTO_OK;
}

/* The key under which a client's sessions are counted: 16 hex digits of the sha256 of its
 * address (an address is not a file name). */
static void client_key(const char *client, char *key)
{
	struct octo_digest d;

	octo_digest_of(OCTO_DIGEST_SHA256, client, strlen(client), &d);
	memcpy(key, d.hex, CLIENT_KEY_LEN);
	key[CLIENT_KEY_LEN] = '\0';
}

/* uploads/by-client/<key>/<id>: one empty file per session of a client, to count them. */
static enum octo_err marker_rel(const char *key, const char *id, char *buf, size_t size)
{
	return octo_store_path(buf, size, CLIENTS_DIR "/%s%s%s", key, id ? "/" : "", id ? id : "");
}

static void remove_marker(struct octo_upload *u)
{
	char rel[OCTO_STORE_PATH_MAX];

	if (u->client[0] != '\0' && marker_rel(u->client, u->id, rel, sizeof(rel)) == OCTO_OK)
		octo_store_unmark(u->store, rel);
}

/* The session is over: its marker and directory go (the data file too, unless it has
 * been moved into the store), and it is no longer in flight. */
static enum octo_err remove_session(struct octo_upload *u)
{
	enum octo_err err;
	int removed;

	u->done = 1;
	remove_marker(u);
	err = octo_store_remove_dir(u->store, u->dir, &removed);
	if (removed)
		octo_metrics_gauge_add(octo_store_metrics(u->store), OCTO_GAUGE_UPLOADS, -1);
	return err;
}

enum octo_err octo_upload_count(const struct octo_store *s, const char *client, size_t *all,
				size_t *mine)
{
	char key[CLIENT_KEY_LEN + 1], rel[OCTO_STORE_PATH_MAX];
	enum octo_err err;

	*all = *mine = 0;
	err = octo_store_count(s, "uploads", id_valid, OCTO_OK, all);
	if (err != OCTO_OK || client == NULL || client[0] == '\0')
		return err;
	client_key(client, key);
	err = marker_rel(key, NULL, rel, sizeof(rel));
	return err != OCTO_OK ? err : octo_store_count(s, rel, id_valid, OCTO_OK, mine);
}

enum octo_err octo_upload_create(struct octo_store *s, const char *repo, int persist,
				 const char *client, struct octo_upload **out)
{
	char id[OCTO_UPLOAD_ID_LEN + 1];
	struct octo_upload *u;
	enum octo_err err = OCTO_OK;
	uuid_t uu;
	int dir;

	*out = NULL;
	uuid_generate_random(uu);
	uuid_unparse_lower(uu, id);
	u = upload_alloc(s, repo, id);
	if (u == NULL)
		return OCTO_ERR_NOMEM;
	u->persist = persist;
	u->hasher = octo_hasher_new(OCTO_DIGEST_SHA256);
	if (u->hasher == NULL) {
		u->done = 1;
		octo_upload_close(u);
		return OCTO_ERR_NOMEM;
	}
	dir = octo_store_opendir(s, "uploads", 0);
	if (dir < 0 || mkdirat(dir, u->id, 0755) != 0) {
		err = octo_fs_fail("create the session directory", u->data_path, errno);
		if (dir >= 0)
			close(dir);
		u->done = 1;
		octo_upload_close(u);
		return err;
	}
	close(dir);
	octo_metrics_gauge_add(octo_store_metrics(s), OCTO_GAUGE_UPLOADS, 1);
	u->fd = octo_store_openat(s, u->data_path, O_RDWR | O_CREAT | O_EXCL, 0644);
	if (u->fd < 0 || flock(u->fd, LOCK_EX) != 0) {
		err = octo_fs_fail("create", u->data_path, errno);
		goto fail;
	}
	if (persist && client != NULL && client[0] != '\0') {
		char rel[OCTO_STORE_PATH_MAX];
		client_key(client, u->client);
		err = marker_rel(u->client, u->id, rel, sizeof(rel));
		if (err == OCTO_OK)
			err = octo_store_mark(s, rel);
		if (err != OCTO_OK)
			goto fail;
	}
	if (persist && (err = state_save(u)) != OCTO_OK)
		goto fail;
	*out = u;
	return OCTO_OK;
fail:
	remove_session(u);
	octo_upload_close(u);
	return err;
}

enum octo_err octo_upload_open(struct octo_store *s, const char *repo, const char *id,
			       size_t id_len, enum octo_upload_mode mode, struct octo_upload **out)
{
	struct octo_upload *u;
	enum octo_err err = OCTO_OK;
	char idz[OCTO_UPLOAD_ID_LEN + 1];
	uint64_t size;

	*out = NULL;
	if (!id_valid(id, id_len))
		return OCTO_ERR_BLOB_UPLOAD_UNKNOWN;
	memcpy(idz, id, id_len);
	idz[id_len] = '\0';
	u = upload_alloc(s, repo, idz);
	if (u == NULL)
		return OCTO_ERR_NOMEM;
	u->persist = 1;
	if (mode == OCTO_UPLOAD_WRITE) {
		err = octo_store_open_file(s, u->data_path, O_RDWR, OCTO_ERR_BLOB_UPLOAD_UNKNOWN,
					   &u->fd, NULL);
		if (err == OCTO_OK)
			err = lock_data(u);
	}
	/* The state file is replaced atomically, so a reader without the lock sees the
	 * offset of the last append that finished. */
	err = err == OCTO_OK || mode == OCTO_UPLOAD_READ ? state_load(u) : err;
	if (err != OCTO_OK)
		goto fail;
	/* The state's offset is always backed by data; a shorter file is damaged. */
	err = octo_store_stat(s, u->data_path, OCTO_ERR_BLOB_UPLOAD_UNKNOWN, &size);
	if (err == OCTO_OK && size < u->offset)
		err = OCTO_ERR_BLOB_UPLOAD_UNKNOWN;
	if (err != OCTO_OK)
		goto fail;
	/* Bytes past the committed offset are from a request that never finished. */
	if (mode == OCTO_UPLOAD_WRITE && ftruncate(u->fd, (off_t)u->offset) != 0) {
		err = octo_fs_error(errno);
		goto fail;
	}
	*out = u;
	return OCTO_OK;
fail:
	u->done = 1; /* not ours to remove */
	octo_upload_close(u);
	return err;
}

const char *octo_upload_id(const struct octo_upload *u)
{
	return u->id;
}

uint64_t octo_upload_offset(const struct octo_upload *u)
{
	return u->offset;
}

void octo_upload_set_max_size(struct octo_upload *u, uint64_t max)
{
	u->max_size = max;
}

/* Read the body into the data file from u->offset; *end gets the offset reached. */
static enum octo_err append_body(struct octo_upload *u, struct octo_body *body, uint64_t *end)
{
	uint64_t total = 0, pos = u->offset;
	size_t fill = 0;
	enum octo_err err;
	struct octo_writer w;
	int error = 0, closed, direct_fd = -1;
	char *buf;

	if (u->max_size > 0 && body->length >= 0 &&
	    (uint64_t)body->length >
		    u->max_size - (u->offset < u->max_size ? u->offset : u->max_size))
		return OCTO_ERR_TOO_LARGE;
	if (u->offset % OCTO_WRITER_ALIGN == 0 &&
	    (body->length < 0 || (uint64_t)body->length >= DIRECT_MIN))
		direct_fd = octo_store_openat(u->store, u->data_path, O_WRONLY | O_DIRECT, 0);
	err = octo_writer_open(&w, u->fd, direct_fd);
	if (err != OCTO_OK)
		return err;
	buf = octo_writer_buffer(&w);
	for (;;) {
		size_t want = OCTO_WRITER_BATCH - fill;
		ssize_t n;

		if (want > IO_CHUNK)
			want = IO_CHUNK;
		if (body->length >= 0 && (uint64_t)body->length - total < want)
			want = (size_t)((uint64_t)body->length - total);
		n = want == 0 ? 0 : body->read(body->ctx, buf + fill, want);
		if (n < 0) {
			err = OCTO_ERR_INCOMPLETE;
			break;
		}
		if (n > 0 && u->max_size > 0 && u->offset + total + (uint64_t)n > u->max_size) {
			err = OCTO_ERR_TOO_LARGE;
			break;
		}
		if (n > 0) {
			octo_hasher_update(u->hasher, buf + fill, (size_t)n);
			fill += (size_t)n;
			total += (uint64_t)n;
		}
		if (fill > 0 && (n == 0 || fill == OCTO_WRITER_BATCH)) {
			error = octo_writer_submit(&w, fill, pos);
			if (error != 0)
				break;
			pos += fill;
			fill = 0;
			if (n != 0)
				buf = octo_writer_buffer(&w);
		}
		if (n == 0)
			break;
	}
	closed = octo_writer_close(&w);
	if (error == 0)
		error = closed;
	if (error != 0)
		err = octo_fs_fail("write", u->data_path, error);
	else if (err == OCTO_OK && body->length >= 0 && total != (uint64_t)body->length)
		err = OCTO_ERR_INCOMPLETE;
	*end = pos;
	return err;
}

/* Send the data file's full parts to the bucket (all of what is past parted when last, the
 * final part then of any size): each one recorded in the state before its hole is punched, so
 * after a crash a part is either on record or sent again. */
static enum octo_err flush_parts(struct octo_upload *u, int last)
{
	uint64_t part = octo_bucket_part_size(u->bucket);
	char key[OCTO_S3_KEY_MAX + 1];
	enum octo_err err = octo_bucket_session_key(u->store, u->id, key, sizeof(key));

	while (err == OCTO_OK && u->offset > u->parted && (last || u->offset - u->parted >= part)) {
		uint64_t len = u->offset - u->parted < part ? u->offset - u->parted : part;
		void *more;
		if (u->n_parts == OCTO_S3_MAX_PARTS)
			return OCTO_ERR_TOO_LARGE;
		if (u->part_id[0] == '\0') { /* on record first: an abort can always find it */
			err = octo_bucket_session_begin(u->bucket, key, u->part_id);
			if (err == OCTO_OK)
				err = state_save(u);
			if (err != OCTO_OK)
				break;
		}
		more = realloc(u->etags, (size_t)(u->n_parts + 1) * sizeof(*u->etags));
		if (more == NULL)
			return OCTO_ERR_NOMEM;
		u->etags = more;
		err = octo_bucket_session_part(u->bucket, key, u->part_id, u->n_parts + 1, u->fd,
					       u->parted, len, u->etags[u->n_parts]);
		if (err != OCTO_OK)
			break;
		u->n_parts++;
		u->parted += len;
		err = state_save(u);
		if (err != OCTO_OK) {
			u->n_parts--;
			u->parted -= len;
			break;
		}
		/* the space goes back to the disk; where holes are not supported it stays */
		(void)fallocate(u->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				(off_t)(u->parted - len), (off_t)len);
	}
	return err;
}

static enum octo_err append(struct octo_upload *u, struct octo_body *body, int persist)
{
	unsigned char saved[OCTO_HASHER_STATE_MAX];
	size_t saved_len = octo_hasher_save(u->hasher, saved);
	enum octo_err err;
	uint64_t end = u->offset;

	err = append_body(u, body, &end);
	if (err == OCTO_OK && persist && end != u->offset) {
		uint64_t before = u->offset;
		u->offset = end;
		if (octo_fs_sync(u->fd, 1, u->data_path) != 0)
			err = octo_fs_fail("sync", u->data_path, errno);
		else
			err = state_save(u);
		if (err != OCTO_OK)
			u->offset = before;
	} else if (err == OCTO_OK) {
		u->offset = end;
	}
	if (err != OCTO_OK) {
		/* Roll back to the last committed offset and hash state. */
		struct octo_hasher *h = octo_hasher_load(saved, saved_len);
		if (h == NULL)
			return OCTO_ERR_NOMEM;
		octo_hasher_free(u->hasher);
		u->hasher = h;
		/* A failed cut is the store's failure, not the client's: say so. The state on
		 * disk still holds the committed offset, so the next open cuts the tail. */
		if (ftruncate(u->fd, (off_t)u->offset) != 0)
			return octo_fs_error(errno);
	}
	return err;
}

enum octo_err octo_upload_append(struct octo_upload *u, struct octo_body *body)
{
	enum octo_err err = append(u, body, u->persist);

	/* The bytes are durable here: a bucket that fails now fails the commit, not this. */
	if (err == OCTO_OK && u->persist && u->bucket != NULL)
		(void)flush_parts(u, 0);
	return err;
}

enum octo_err octo_upload_append_last(struct octo_upload *u, struct octo_body *body)
{
	return append(u, body, 0);
}

/* The hasher was started as sha256; a sha512 digest needs one pass over the data. */
static enum octo_err rehash(struct octo_upload *u, enum octo_digest_alg alg)
{
	struct octo_hasher *h = octo_hasher_new(alg);
	char *buf = malloc(OCTO_WRITER_BATCH);
	enum octo_err err = OCTO_OK;
	uint64_t pos = 0;

	if (h == NULL || buf == NULL) {
		err = OCTO_ERR_NOMEM;
		goto out;
	}
	while (pos < u->offset) {
		size_t n = u->offset - pos < OCTO_WRITER_BATCH ? (size_t)(u->offset - pos)
							       : OCTO_WRITER_BATCH;
		if (octo_fs_pread_all(u->fd, buf, n, (long long)pos) != 0) {
			err = OCTO_ERR_IO;
			goto out;
		}
		octo_hasher_update(h, buf, n);
		pos += n;
	}
	octo_hasher_free(u->hasher);
	u->hasher = h;
	h = NULL;
out:
	octo_hasher_free(h);
	free(buf);
	return err;
}

static int hash_into(void *ctx, const void *data, size_t len)
{
	octo_hasher_update(ctx, data, len);
	return 0;
}

/* The commit of a session whose bytes went to the bucket in parts, its digest checked already
 * unless it is not sha256 (then the completed object is hashed). */
static enum octo_err commit_parts(struct octo_upload *u, const struct octo_digest *expected)
{
	char key[OCTO_S3_KEY_MAX + 1];
	struct octo_digest actual;
	enum octo_err err = octo_bucket_session_key(u->store, u->id, key, sizeof(key));

	/* the last body's bytes (octo_upload_append_last) go on record as they are sent */
	if (err == OCTO_OK && octo_fs_sync(u->fd, 1, u->data_path) != 0)
		err = octo_fs_fail("sync", u->data_path, errno);
	if (err == OCTO_OK)
		err = flush_parts(u, 1);
	if (err == OCTO_OK)
		err = octo_bucket_session_complete(u->bucket, key, u->part_id, u->etags, u->n_parts,
						   u->offset);
	if (err != OCTO_OK)
		return err;
	u->part_id[0] = '\0'; /* completed: what is left to remove is the object */
	if (expected->alg != OCTO_DIGEST_SHA256) {
		struct octo_hasher *h = octo_hasher_new(expected->alg);
		if (h == NULL)
			return OCTO_ERR_NOMEM;
		err = octo_bucket_session_stream(u->bucket, key, hash_into, h);
		octo_hasher_final(h, &actual);
		octo_hasher_free(h);
		if (err != OCTO_OK)
			return err;
		if (!octo_digest_equal(&actual, expected))
			return OCTO_ERR_DIGEST_INVALID;
	}
	/* the same content is there already (a push of the same bytes): renewed, and kept */
	if (octo_store_blob_renew(u->store, expected) == OCTO_OK)
		return octo_bucket_session_abort(u->bucket, key, NULL);
	err = octo_bucket_session_adopt(u->bucket, key, expected, u->offset);
	return err != OCTO_OK ? err : octo_store_blob_placeholder(u->store, expected, u->offset);
}

/* A failed commit ends the session, but for a bucket that failed a resumable one: its bytes are
 * all here or in parts, and the client's retry of the commit finds them. */
static enum octo_err commit_failed(struct octo_upload *u, enum octo_err err)
{
	if (err != OCTO_ERR_OBJECT_STORE || !u->persist)
		octo_upload_cancel(u);
	return err;
}

enum octo_err octo_upload_commit(struct octo_upload *u, const struct octo_digest *expected)
{
	struct octo_digest actual;
	enum octo_err err;

	if (u->n_parts > 0) {
		if (expected->alg == OCTO_DIGEST_SHA256) {
			/* on a copy: the state the parts save must stay one that a retry goes on from */
			unsigned char hs[OCTO_HASHER_STATE_MAX];
			struct octo_hasher *h =
				octo_hasher_load(hs, octo_hasher_save(u->hasher, hs));
			if (h == NULL)
				return OCTO_ERR_NOMEM;
			octo_hasher_final(h, &actual);
			octo_hasher_free(h);
			if (!octo_digest_equal(&actual, expected)) {
				octo_upload_cancel(u);
				return OCTO_ERR_DIGEST_INVALID;
			}
		}
		err = commit_parts(u, expected);
		if (err != OCTO_OK)
			return commit_failed(u, err);
		remove_session(u);
		return OCTO_OK;
	}
	if (octo_hasher_alg(u->hasher) != expected->alg) {
		err = rehash(u, expected->alg);
		if (err != OCTO_OK)
			return err;
	}
	octo_hasher_final(u->hasher, &actual);
	if (!octo_digest_equal(&actual, expected)) {
		octo_upload_cancel(u);
		return OCTO_ERR_DIGEST_INVALID;
	}
	err = octo_store_commit_blob(u->store, u->fd, u->data_path, &actual);
	if (err != OCTO_OK)
		return commit_failed(u, err);
	remove_session(u); /* the state file; the data has moved */
	return OCTO_OK;
}

enum octo_err octo_upload_cancel(struct octo_upload *u)
{
	char key[OCTO_S3_KEY_MAX + 1];

	/* best effort: what a bucket that fails keeps is aborted by the next collection */
	if (u->bucket != NULL && u->persist &&
	    octo_bucket_session_key(u->store, u->id, key, sizeof(key)) == OCTO_OK)
		(void)octo_bucket_session_abort(u->bucket, key, u->part_id);
	return remove_session(u);
}

/* Newest modification time of the session's files, in seconds. */
static time_t last_touched(struct octo_store *s, const char *dir_rel)
{
	static const char *const files[] = {"state", "data"};
	time_t newest = 0;
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char rel[OCTO_STORE_PATH_MAX];
		struct stat st;
		int fd;
		if (octo_store_path(rel, sizeof(rel), "%s/%s", dir_rel, files[i]) != OCTO_OK)
			continue;
		fd = octo_store_openat(s, rel, O_PATH, 0);
		if (fd < 0)
			continue;
		if (fstat(fd, &st) == 0 && st.st_mtime > newest)
			newest = st.st_mtime;
		close(fd);
	}
	if (newest == 0) { /* neither file: the directory's own time */
		int fd = octo_store_opendir(s, dir_rel, 0);
		struct stat st;
		if (fd >= 0) {
			if (fstat(fd, &st) == 0)
				newest = st.st_mtime;
			close(fd);
		}
	}
	return newest;
}

/* Collect one session directory if it has expired and nobody holds it: 1 if removed. */
static int collect_session(struct octo_store *s, const char *id, time_t now,
			   const struct octo_upload_expiry *exp, uint64_t *bytes)
{
	char dir[OCTO_STORE_PATH_MAX], rel[OCTO_STORE_PATH_MAX];
	uint64_t size = 0;
	time_t touched;
	int fd, removed = 0;

	if (octo_store_path(dir, sizeof(dir), "uploads/%s", id) != OCTO_OK ||
	    octo_store_path(rel, sizeof(rel), "%s/data", dir) != OCTO_OK)
		return 0;
	touched = last_touched(s, dir);
	if (now - touched < exp->empty_after)
		return 0; /* recent: maybe being created right now */
	fd = octo_store_openat(s, rel, O_RDWR, 0);
	if (fd >= 0) {
		struct stat st;
		if (flock(fd, LOCK_EX | LOCK_NB) != 0) { /* in use */
			close(fd);
			return 0;
		}
		if (fstat(fd, &st) == 0)
			size = (uint64_t)st.st_size;
	}
	/* Without data at all it never got a byte; the lock (if any) is held while removing. */
	if ((size == 0 || now - touched >= exp->after) && exp->dry_run)
		removed = 1;
	else if (size == 0 || now - touched >= exp->after)
		octo_store_remove_dir(s, dir, &removed);
	if (removed && !exp->dry_run)
		octo_metrics_gauge_add(octo_store_metrics(s), OCTO_GAUGE_UPLOADS, -1);
	if (removed)
		*bytes += size;
	if (fd >= 0)
		close(fd); /* releases the lock */
	return removed;
}

/* Whether session still has its directory (the bucket's orphans sweep). */
static int session_live(void *ctx, const char *session)
{
	char dir[OCTO_STORE_PATH_MAX];
	int fd;

	if (!id_valid(session, strlen(session)) ||
	    octo_store_path(dir, sizeof(dir), "uploads/%s", session) != OCTO_OK)
		return 0;
	fd = octo_store_opendir(ctx, dir, 0);
	if (fd >= 0)
		close(fd);
	return fd >= 0 || errno != ENOENT;
}

enum octo_err octo_upload_collect(struct octo_store *s, time_t now,
				  const struct octo_upload_expiry *exp,
				  struct octo_upload_collected *out)
{
	struct octo_strv names, keys;
	enum octo_err err;
	size_t i, j;
	int lock;

	memset(out, 0, sizeof(*out));
	/* One collector at a time across the processes sharing the store: the others skip. */
	lock = octo_store_openat(s, "uploads/.collect.lock", O_RDWR | O_CREAT, 0644);
	if (lock < 0)
		return octo_fs_error(errno);
	while (flock(lock, exp->wait ? LOCK_EX : LOCK_EX | LOCK_NB) != 0) {
		if (exp->wait && errno == EINTR)
			continue;
		close(lock);
		return OCTO_OK;
	}
	out->ran = 1;
	err = octo_store_list(s, "uploads", NULL, OCTO_OK, &names);
	for (i = 0; err == OCTO_OK && i < names.n; i++) {
		const char *n = names.v[i];
		if (id_valid(n, strlen(n))) {
			out->sessions += (size_t)collect_session(s, n, now, exp, &out->bytes);
		} else if (strncmp(n, "manifest.", 9) == 0 || strncmp(n, "placeholder.", 12) == 0) {
			/* a manifest's or a placeholder's temporary file, left by a crash */
			char rel[OCTO_STORE_PATH_MAX];
			struct stat st;
			int fd;
			if (octo_store_path(rel, sizeof(rel), "uploads/%s", n) != OCTO_OK)
				continue;
			fd = octo_store_openat(s, rel, O_PATH, 0);
			if (fd < 0)
				continue;
			if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
			    now - st.st_mtime >= exp->empty_after &&
			    (exp->dry_run || octo_store_remove(s, rel, OCTO_OK) == OCTO_OK))
				out->temporaries++;
			close(fd);
		}
	}
	octo_strv_cleanup(&names);
	/* Markers of sessions that are gone (removed here, or by a crash mid-way). */
	if (err == OCTO_OK && !exp->dry_run &&
	    octo_store_list(s, CLIENTS_DIR, NULL, OCTO_OK, &keys) == OCTO_OK) {
		for (i = 0; i < keys.n; i++) {
			char rel[OCTO_STORE_PATH_MAX];
			if (marker_rel(keys.v[i], NULL, rel, sizeof(rel)) != OCTO_OK ||
			    octo_store_list(s, rel, id_valid, OCTO_OK, &names) != OCTO_OK)
				continue;
			for (j = 0; j < names.n; j++) {
				char dir[OCTO_STORE_PATH_MAX], marker[OCTO_STORE_PATH_MAX];
				int fd;
				if (octo_store_path(dir, sizeof(dir), "uploads/%s", names.v[j]) !=
					    OCTO_OK ||
				    marker_rel(keys.v[i], names.v[j], marker, sizeof(marker)) !=
					    OCTO_OK)
					continue;
				fd = octo_store_opendir(s, dir, 0);
				if (fd >= 0)
					close(fd);
				else if (errno == ENOENT && octo_store_unmark(s, marker) == OCTO_OK)
					out->markers++;
			}
			octo_strv_cleanup(&names);
		}
		octo_strv_cleanup(&keys);
	}
	/* The bucket's multipart uploads of sessions that are gone: expired above, cancelled
	 * while it failed, or left by a crash before their session recorded them. */
	if (err == OCTO_OK && !exp->dry_run && octo_store_bucket(s) != NULL)
		err = octo_bucket_session_orphans(octo_store_bucket(s), s, session_live, s,
						  &out->orphans);
	close(lock);
	if (!exp->dry_run) {
		octo_metrics_op_add(octo_store_metrics(s), OCTO_OP_UPLOADS_PURGED, out->sessions);
		octo_metrics_op_add(octo_store_metrics(s), OCTO_OP_UPLOAD_BYTES_PURGED, out->bytes);
	}
	return err;
}

void octo_upload_close(struct octo_upload *u)
{
	if (u == NULL)
		return;
	/* A monolithic upload cannot be resumed: never leave it behind. */
	if (!u->done && !u->persist)
		remove_session(u);
	if (u->fd >= 0)
		close(u->fd);
	octo_hasher_free(u->hasher);
	free(u->etags);
	free(u);
}
