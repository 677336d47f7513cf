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
#include <unistd.h>
#include <uuid/uuid.h>

#include "fsutil.h"
#include "name.h"
#include "upload.h"

#define STATE_MAGIC "OCTOUPL1"
#define IO_CHUNK (64 * 1024)     /* libfcgi blocks until it has this much: keep it small */
#define WRITE_BATCH (256 * 1024) /* bytes gathered before one write(2) */
#define DIRECT_ALIGN 4096        /* offsets, lengths and buffers of O_DIRECT writes */
#define DIRECT_MIN (1024 * 1024) /* bodies at least this long bypass the page cache */

struct octo_upload {
	struct octo_store *store;
	char id[OCTO_UPLOAD_ID_LEN + 1];
	char repo[OCTO_NAME_MAX + 1];
	char dir[PATH_MAX - 32];
	char data_path[PATH_MAX];
	int fd;
	int persist;
	int done; /* committed or cancelled */
	uint64_t offset;
	struct octo_hasher *hasher;
};

/* On-disk state: fixed header, then the hasher bytes. */
struct state_header {
	char magic[8];
	uint64_t offset;
	uint32_t repo_len;
	uint32_t hasher_len;
	char repo[OCTO_NAME_MAX + 1];
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
	u->fd = -1;
	memcpy(u->id, id, OCTO_UPLOAD_ID_LEN);
	snprintf(u->repo, sizeof(u->repo), "%s", repo);
	snprintf(u->dir, sizeof(u->dir), "%s/uploads/%s", octo_store_root(s), u->id);
	snprintf(u->data_path, sizeof(u->data_path), "%s/data", u->dir);
	return u;
}

static void state_path(const struct octo_upload *u, char *buf, size_t size)
{
	snprintf(buf, size, "%s/state", u->dir);
}

static enum octo_err state_save(struct octo_upload *u)
{
	size_t hlen = octo_hasher_state_size();
	struct state_header *h;
	char path[PATH_MAX];
	int rc;

	h = calloc(1, sizeof(*h) + hlen);
	if (h == NULL)
		return OCTO_ERR_NOMEM;
	memcpy(h->magic, STATE_MAGIC, sizeof(h->magic));
	h->offset = u->offset;
	h->repo_len = (uint32_t)strlen(u->repo);
	h->hasher_len = (uint32_t)hlen;
	memcpy(h->repo, u->repo, h->repo_len);
	octo_hasher_save(u->hasher, (char *)(h + 1));
	state_path(u, path, sizeof(path));
	/* No directory fsync: after a crash the old state is as good as the new one. */
	rc = octo_fs_write_atomic(path, h, sizeof(*h) + hlen, 0);
	free(h);
	return rc == 0 ? OCTO_OK : octo_fs_error(errno);
}

static enum octo_err state_load(struct octo_upload *u)
{
	size_t hlen = octo_hasher_state_size();
	struct state_header *h;
	char path[PATH_MAX];
	enum octo_err err = OCTO_ERR_BLOB_UPLOAD_UNKNOWN;
	int fd;

	state_path(u, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? OCTO_ERR_BLOB_UPLOAD_UNKNOWN : OCTO_ERR_IO;
	h = malloc(sizeof(*h) + hlen + 1);
	if (h == NULL) {
		close(fd);
		return OCTO_ERR_NOMEM;
	}
	if (read(fd, h, sizeof(*h) + hlen + 1) != (ssize_t)(sizeof(*h) + hlen) ||
	    memcmp(h->magic, STATE_MAGIC, sizeof(h->magic)) != 0 || h->hasher_len != hlen ||
	    h->repo_len > OCTO_NAME_MAX)
		goto out;
	if (strlen(u->repo) != h->repo_len || memcmp(u->repo, h->repo, h->repo_len) != 0)
		goto out; /* a session is only valid in the repository that started it */
	u->hasher = octo_hasher_load(h + 1, hlen);
	if (u->hasher == NULL)
		goto out;
	u->offset = h->offset;
	err = OCTO_OK;
out:
	free(h);
	close(fd);
	return err;
}

/* Lock the data file and make sure the path still names it. */
static enum octo_err lock_data(struct octo_upload *u)
{
	struct stat a, b;

	while (flock(u->fd, LOCK_EX) != 0)
		if (errno != EINTR)
			return OCTO_ERR_IO;
	if (fstat(u->fd, &a) != 0)
		return OCTO_ERR_IO;
	if (stat(u->data_path, &b) != 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev)
		return OCTO_ERR_BLOB_UPLOAD_UNKNOWN;
	return OCTO_OK;
}

enum octo_err octo_upload_create(struct octo_store *s, const char *repo, int persist,
				 struct octo_upload **out)
{
	char id[OCTO_UPLOAD_ID_LEN + 1];
	struct octo_upload *u;
	enum octo_err err = OCTO_ERR_IO;
	uuid_t uu;

	*out = NULL;
	uuid_generate_random(uu);
	uuid_unparse_lower(uu, id);
	u = upload_alloc(s, repo, id);
	if (u == NULL)
		return OCTO_ERR_NOMEM;
	u->persist = persist;
	u->hasher = octo_hasher_new(OCTO_DIGEST_SHA256);
	if (u->hasher == NULL) {
		err = OCTO_ERR_NOMEM;
		goto fail;
	}
	if (mkdir(u->dir, 0755) != 0)
		goto fail;
	u->fd = open(u->data_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (u->fd < 0 || flock(u->fd, LOCK_EX) != 0)
		goto fail;
	if (persist && (err = state_save(u)) != OCTO_OK)
		goto fail;
	*out = u;
	return OCTO_OK;
fail:
	if (err == OCTO_ERR_IO)
		err = octo_fs_error(errno);
	u->done = 1;
	octo_fs_remove_dir(u->dir);
	octo_upload_close(u);
	return err;
}

enum octo_err octo_upload_open(struct octo_store *s, const char *repo, const char *id,
			       size_t id_len, struct octo_upload **out)
{
	struct octo_upload *u;
	enum octo_err err;
	char idz[OCTO_UPLOAD_ID_LEN + 1];

	*out = NULL;
	if (!id_valid(id, id_len))
		return OCTO_ERR_BLOB_UPLOAD_UNKNOWN;
	memcpy(idz, id, id_len);
	idz[id_len] = '\0';
	u = upload_alloc(s, repo, idz);
	if (u == NULL)
		return OCTO_ERR_NOMEM;
	u->persist = 1;
	u->fd = open(u->data_path, O_RDWR | O_CLOEXEC);
	if (u->fd < 0) {
		err = errno == ENOENT || errno == ENOTDIR ? OCTO_ERR_BLOB_UPLOAD_UNKNOWN
							  : OCTO_ERR_IO;
		goto fail;
	}
	err = lock_data(u);
	if (err == OCTO_OK)
		err = state_load(u);
	if (err != OCTO_OK)
		goto fail;
	/* Bytes past the committed offset are from a request that never finished. */
	if (ftruncate(u->fd, (off_t)u->offset) != 0) {
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

/* Large bodies are written with O_DIRECT: the page-cache copy was half the CPU a push took
 * in the responder, and nothing reads an upload before it is committed. A direct write
 * waits for the disk, so a writer thread does the writing while the request's thread reads
 * and hashes the next batches. Only aligned batches go that way; a tail shorter than
 * DIRECT_ALIGN, or anything on a file system that refuses O_DIRECT, goes through the page
 * cache. */
#define SINK_BUFFERS 4

struct sink {
	struct octo_upload *u;
	int direct_fd; /* -1: page cache only, written by the caller's thread */
	char *buf[SINK_BUFFERS];
	size_t len[SINK_BUFFERS];
	uint64_t pos[SINK_BUFFERS];
	unsigned queued, written; /* batches handed over, batches done */
	int closing;
	int error; /* errno of the first failed write */
	int threaded;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

/* Write buf[0..len) at pos, the aligned part through direct_fd when there is one. */
static int write_batch(struct octo_upload *u, int *direct_fd, const char *buf, size_t len,
		       uint64_t pos)
{
	size_t head = len - len % DIRECT_ALIGN;

	if (*direct_fd >= 0 && head > 0) {
		if (octo_fs_pwrite_all(*direct_fd, buf, head, (long long)pos) == 0) {
			buf += head;
			pos += head;
			len -= head;
		} else if (errno == EINVAL) {
			close(*direct_fd); /* refused after all: the page cache it is */
			*direct_fd = -1;
		} else {
			return -1;
		}
	}
	if (len == 0)
		return 0;
	if (octo_fs_pwrite_all(u->fd, buf, len, (long long)pos) != 0)
		return -1;
	/* Start writeback now, so that the fdatasync before the 201 finds little left to
	 * write (it still waits for all of it). */
	sync_file_range(u->fd, (off_t)pos, (off_t)len, SYNC_FILE_RANGE_WRITE);
	return 0;
}

static void *sink_writer(void *arg)
{
	struct sink *k = arg;

	pthread_mutex_lock(&k->lock);
	for (;;) {
		unsigned i = k->written % SINK_BUFFERS;

		if (k->written == k->queued) {
			if (k->closing)
				break;
			pthread_cond_wait(&k->cond, &k->lock);
			continue;
		}
		pthread_mutex_unlock(&k->lock);
		int rc = k->error != 0 ? 0
				       : write_batch(k->u, &k->direct_fd, k->buf[i], k->len[i],
						     k->pos[i]);
		pthread_mutex_lock(&k->lock);
		if (rc != 0 && k->error == 0)
			k->error = errno != 0 ? errno : EIO;
		k->written++;
		pthread_cond_broadcast(&k->cond);
	}
	pthread_mutex_unlock(&k->lock);
	return NULL;
}

static void sink_free_buffers(struct sink *k)
{
	for (int i = 0; i < SINK_BUFFERS; i++)
		free(k->buf[i]);
}

static enum octo_err sink_open(struct sink *k, struct octo_upload *u, int64_t length)
{
	int nbuf = 1;

	memset(k, 0, sizeof(*k));
	k->u = u;
	k->direct_fd = -1;
	if (u->offset % DIRECT_ALIGN == 0 && (length < 0 || (uint64_t)length >= DIRECT_MIN)) {
		k->direct_fd = open(u->data_path, O_WRONLY | O_DIRECT | O_CLOEXEC);
		nbuf = k->direct_fd >= 0 ? SINK_BUFFERS : 1;
	}
	for (int i = 0; i < nbuf; i++)
		if (posix_memalign((void **)&k->buf[i], DIRECT_ALIGN, WRITE_BATCH) != 0) {
			k->buf[i] = NULL;
			goto nomem;
		}
	if (k->direct_fd < 0)
		return OCTO_OK;
	pthread_mutex_init(&k->lock, NULL);
	pthread_cond_init(&k->cond, NULL);
	if (pthread_create(&k->thread, NULL, sink_writer, k) == 0) {
		k->threaded = 1;
		return OCTO_OK;
	}
	pthread_cond_destroy(&k->cond);
	pthread_mutex_destroy(&k->lock);
nomem:
	if (k->direct_fd >= 0)
		close(k->direct_fd);
	sink_free_buffers(k);
	return OCTO_ERR_NOMEM;
}

/* The buffer to fill next: waits for the writer to free one. */
static char *sink_buffer(struct sink *k)
{
	if (!k->threaded)
		return k->buf[0];
	pthread_mutex_lock(&k->lock);
	while (k->queued - k->written == SINK_BUFFERS)
		pthread_cond_wait(&k->cond, &k->lock);
	pthread_mutex_unlock(&k->lock);
	return k->buf[k->queued % SINK_BUFFERS];
}

/* Hand over the buffer sink_buffer returned, holding len bytes for offset pos. */
static int sink_write(struct sink *k, size_t len, uint64_t pos)
{
	unsigned i = k->queued % SINK_BUFFERS;
	int error;

	if (!k->threaded)
		return write_batch(k->u, &k->direct_fd, k->buf[0], len, pos) == 0 ? 0 : errno;
	pthread_mutex_lock(&k->lock);
	k->len[i] = len;
	k->pos[i] = pos;
	k->queued++;
	error = k->error;
	pthread_cond_broadcast(&k->cond);
	pthread_mutex_unlock(&k->lock);
	return error;
}

/* Wait for every batch to be written; the errno of the first failure, or 0. */
static int sink_close(struct sink *k)
{
	int error = 0;

	if (k->threaded) {
		pthread_mutex_lock(&k->lock);
		k->closing = 1;
		pthread_cond_broadcast(&k->cond);
		pthread_mutex_unlock(&k->lock);
		pthread_join(k->thread, NULL);
		pthread_cond_destroy(&k->cond);
		pthread_mutex_destroy(&k->lock);
		error = k->error;
	}
	if (k->direct_fd >= 0)
		close(k->direct_fd);
	sink_free_buffers(k);
	return error;
}

/* Read the body into the data file from u->offset; *end gets the offset reached. */
static enum octo_err append_body(struct octo_upload *u, struct octo_body *body, uint64_t *end)
{
	uint64_t total = 0, pos = u->offset;
	size_t fill = 0;
	enum octo_err err;
	struct sink sink;
	char *buf;
	int error = 0, closed;

	err = sink_open(&sink, u, body->length);
	if (err != OCTO_OK)
		return err;
	buf = sink_buffer(&sink);
	for (;;) {
		size_t want = WRITE_BATCH - fill;
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
		if (n > 0) {
			octo_hasher_update(u->hasher, buf + fill, (size_t)n);
			fill += (size_t)n;
			total += (uint64_t)n;
		}
		if (fill > 0 && (n == 0 || fill == WRITE_BATCH)) {
			error = sink_write(&sink, fill, pos);
			if (error != 0)
				break;
			pos += fill;
			fill = 0;
			if (n != 0)
				buf = sink_buffer(&sink);
		}
		if (n == 0)
			break;
	}
	closed = sink_close(&sink);
	if (error == 0)
		error = closed;
	if (error != 0)
		err = octo_fs_error(error);
	else if (err == OCTO_OK && body->length >= 0 && total != (uint64_t)body->length)
		err = OCTO_ERR_INCOMPLETE;
	*end = pos;
	return err;
}

enum octo_err octo_upload_append(struct octo_upload *u, struct octo_body *body)
{
	size_t hlen = octo_hasher_state_size();
	char *saved = NULL;
	enum octo_err err = OCTO_ERR_NOMEM;
	uint64_t end = u->offset;

	saved = malloc(hlen);
	if (saved == NULL)
		goto out;
	octo_hasher_save(u->hasher, saved);
	err = append_body(u, body, &end);
	if (err == OCTO_OK && u->persist && end != u->offset) {
		uint64_t before = u->offset;
		u->offset = end;
		if (fdatasync(u->fd) != 0)
			err = octo_fs_error(errno);
		else
			err = state_save(u);
		if (err != OCTO_OK)
			u->offset = before;
	} else if (err == OCTO_OK) {
		u->offset = end;
	}
	if (err != OCTO_OK) {
		/* Roll back to the last committed offset and hash state. */
		struct octo_hasher *h = octo_hasher_load(saved, hlen);
		if (h != NULL) {
			octo_hasher_free(u->hasher);
			u->hasher = h;
		}
		if (ftruncate(u->fd, (off_t)u->offset) != 0 && err == OCTO_OK)
			err = OCTO_ERR_IO;
	}
out:
	free(saved);
	return err;
}

/* The hasher was started as sha256; a sha512 digest needs one pass over the data. */
static enum octo_err rehash(struct octo_upload *u, enum octo_digest_alg alg)
{
	struct octo_hasher *h = octo_hasher_new(alg);
	char *buf = malloc(WRITE_BATCH);
	enum octo_err err = OCTO_OK;
	uint64_t pos = 0;

	if (h == NULL || buf == NULL) {
		err = OCTO_ERR_NOMEM;
		goto out;
	}
	while (pos < u->offset) {
		size_t n = u->offset - pos < WRITE_BATCH ? (size_t)(u->offset - pos) : WRITE_BATCH;
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

enum octo_err octo_upload_commit(struct octo_upload *u, const struct octo_digest *expected)
{
	struct octo_digest actual;
	char path[PATH_MAX];
	enum octo_err err;

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
	if (err != OCTO_OK) {
		octo_upload_cancel(u);
		return err;
	}
	state_path(u, path, sizeof(path));
	unlink(path);
	rmdir(u->dir);
	u->done = 1;
	return OCTO_OK;
}

enum octo_err octo_upload_cancel(struct octo_upload *u)
{
	u->done = 1;
	return octo_fs_remove_dir(u->dir) == 0 ? OCTO_OK : octo_fs_error(errno);
}

void octo_upload_close(struct octo_upload *u)
{
	if (u == NULL)
		return;
	/* A monolithic upload cannot be resumed: never leave it behind. */
	if (!u->done && !u->persist)
		octo_fs_remove_dir(u->dir);
	if (u->fd >= 0)
		close(u->fd);
	octo_hasher_free(u->hasher);
	free(u);
}
