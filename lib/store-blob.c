/* SPDX-License-Identifier: Apache-2.0 */
/* See store-blob.h. */
#include "autoconfig.h"

#include <dirent.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bucket.h"
#include "fsutil.h"
#include "metrics.h"
#include "name.h"
#include "store-blob.h"
#include "store-record.h"
#include "strv.h"

/* A link's value: the blob's size in decimal. */
#define LINK_VALUE_MAX 20

static enum octo_err repos_dir(const struct octo_digest *d, char *buf, size_t size);

/* With a bucket only the placeholder goes: the bucket's object may be what other nodes'
 * placeholders stand for. */
enum octo_err octo_store_drop_blob(const struct octo_store *s, const struct octo_digest *d)
{
	char rel[OCTO_STORE_PATH_MAX];
	uint64_t size;
	enum octo_err err = octo_store_blob_rel(d, rel, sizeof(rel));

	if (err != OCTO_OK ||
	    (err = octo_store_stat(s, rel, OCTO_ERR_BLOB_UNKNOWN, &size)) != OCTO_OK)
		return err == OCTO_ERR_BLOB_UNKNOWN ? OCTO_OK : err;
	err = octo_store_remove(s, rel, OCTO_ERR_BLOB_UNKNOWN);
	if (err == OCTO_ERR_BLOB_UNKNOWN)
		return OCTO_OK; /* another dropped it */
	if (err == OCTO_OK) {
		octo_metrics_gauge_add(octo_store_metrics(s), OCTO_GAUGE_BLOBS, -1);
		octo_metrics_gauge_add(octo_store_metrics(s), OCTO_GAUGE_BLOB_BYTES,
				       -(int64_t)size);
	}
	return err;
}

enum octo_err octo_store_link_key(const struct octo_digest *d, char *buf, size_t size)
{
	return octo_store_path(buf, size, "_layers/%s/%s", octo_digest_alg_name(d->alg), d->hex);
}

enum octo_err octo_store_blob_path(const struct octo_store *s, const struct octo_digest *d,
				   char *buf, size_t size)
{
	char rel[OCTO_STORE_PATH_MAX];
	enum octo_err err = octo_store_blob_rel(d, rel, sizeof(rel));

	return err != OCTO_OK ? err : octo_store_abspath(s, rel, buf, size);
}

enum octo_err octo_store_blob_stat(const struct octo_store *s, const struct octo_digest *d,
				   uint64_t *size)
{
	char rel[OCTO_STORE_PATH_MAX];
	enum octo_err err = octo_store_blob_rel(d, rel, sizeof(rel));

	return err != OCTO_OK ? err : octo_store_stat(s, rel, OCTO_ERR_BLOB_UNKNOWN, size);
}

enum octo_err octo_store_blob_linked(const struct octo_store *s, const char *repo,
				     const struct octo_digest *d, uint64_t *size)
{
	char key[OCTO_STORE_PATH_MAX];
	struct octo_store_record link;
	enum octo_err err = octo_store_link_key(d, key, sizeof(key));

	if (err == OCTO_OK)
		err = octo_store_record_get(s, repo, key, LINK_VALUE_MAX, OCTO_ERR_BLOB_UNKNOWN,
					    &link);
	if (err != OCTO_OK)
		return err;
	octo_store_record_cleanup(&link);
	/* the content too: this node serves only what it holds */
	return octo_store_blob_stat(s, d, size);
}

int octo_store_link_size(const char *value, size_t len, uint64_t *size)
{
	size_t i;

	*size = 0;
	if (len == 0 || len > 19 || (value[0] == '0' && len > 1)) /* 19 digits: within 64 bits */
		return -1;
	for (i = 0; i < len; i++) {
		if (value[i] < '0' || value[i] > '9')
			return -1;
		*size = *size * 10 + (uint64_t)(value[i] - '0');
	}
	return 0;
}

enum octo_err octo_store_link_get(const struct octo_store *s, const char *repo,
				  const struct octo_digest *d, uint64_t *size,
				  char node[OCTO_NODE_ID_MAX + 1])
{
	char key[OCTO_STORE_PATH_MAX];
	struct octo_store_record link;
	enum octo_err err = octo_store_link_key(d, key, sizeof(key));

	if (err == OCTO_OK)
		err = octo_store_record_get(s, repo, key, LINK_VALUE_MAX, OCTO_ERR_BLOB_UNKNOWN,
					    &link);
	if (err != OCTO_OK)
		return err;
	/* a link from before records holds no size: the content is here, or it is unknown */
	if (octo_store_link_size(link.rec.value, link.rec.value_len, size) != 0)
		err = OCTO_ERR_BLOB_UNKNOWN;
	if (node != NULL)
		snprintf(node, OCTO_NODE_ID_MAX + 1, "%s", link.node);
	octo_store_record_cleanup(&link);
	return err;
}

enum octo_err octo_store_blob_open(const struct octo_store *s, const char *repo,
				   const struct octo_digest *d, int *fd, uint64_t *size)
{
	char rel[OCTO_STORE_PATH_MAX];
	enum octo_err err;

	*fd = -1;
	err = octo_store_blob_linked(s, repo, d, NULL);
	if (err == OCTO_OK && octo_store_bucket(s) != NULL) {
		/* a placeholder holds no bytes: the content is read with octo_store_blob_stream */
		octo_fs_fail_because("open", "a blob", "its content is in the bucket");
		return OCTO_ERR_IO;
	}
	if (err == OCTO_OK)
		err = octo_store_blob_rel(d, rel, sizeof(rel));
	if (err == OCTO_OK)
		err = octo_store_open_file(s, rel, O_RDONLY, OCTO_ERR_BLOB_UNKNOWN, fd, size);
	return err;
}

static int flock_wait(int fd, int how)
{
	int rc;

	while ((rc = flock(fd, how)) != 0 && errno == EINTR)
		;
	return rc;
}

/* d's content open and locked (how), still at its name: 0 with *fd; else -1 with errno
 * (ENOENT: not here). A file a sweep removed while this waited for its lock is not taken: a
 * copy placed since is tried once more. */
static int open_locked(const struct octo_store *s, const struct octo_digest *d, int how, int *fd,
		       struct stat *st)
{
	char rel[OCTO_STORE_PATH_MAX];
	int attempt;

	if (octo_store_blob_rel(d, rel, sizeof(rel)) != OCTO_OK) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (attempt = 0; attempt < 2; attempt++) {
		*fd = octo_store_openat(s, rel, O_RDONLY, 0);
		if (*fd < 0)
			return -1;
		if (flock_wait(*fd, how) != 0 || fstat(*fd, st) != 0) {
			int e = errno;
			close(*fd);
			*fd = -1;
			errno = e;
			return -1;
		}
		if (!S_ISREG(st->st_mode)) {
			close(*fd);
			*fd = -1;
			errno = EINVAL;
			return -1;
		}
		if (st->st_nlink > 0)
			return 0;
		close(*fd); /* swept while we waited */
		*fd = -1;
	}
	errno = ENOENT;
	return -1;
}

enum octo_err octo_store_blob_renew(const struct octo_store *s, const struct octo_digest *d)
{
	struct stat st;
	int fd;

	if (open_locked(s, d, LOCK_SH, &fd, &st) != 0)
		return octo_store_error(errno, OCTO_ERR_BLOB_UNKNOWN);
	(void)futimens(fd, NULL); /* EROFS on a read-only store: nothing is swept there */
	close(fd);
	return OCTO_OK;
}

enum octo_err octo_store_blob_lock(const struct octo_store *s, const struct octo_digest *d, int *fd,
				   int64_t *renewed_ms, uint64_t *size)
{
	struct stat st;

	if (open_locked(s, d, LOCK_EX, fd, &st) != 0)
		return octo_store_error(errno, OCTO_ERR_BLOB_UNKNOWN);
	*renewed_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
	*size = (uint64_t)st.st_size;
	return OCTO_OK;
}

enum octo_err octo_store_blob_remove_locked(const struct octo_store *s, const struct octo_digest *d,
					    int fd)
{
	char rel[OCTO_STORE_PATH_MAX];
	struct stat st;
	enum octo_err err = octo_store_blob_rel(d, rel, sizeof(rel));

	if (err != OCTO_OK)
		return err;
	if (fstat(fd, &st) != 0)
		return octo_fs_fail("stat", rel, errno);
	/* The object before its placeholder: a failure leaves both for the next sweep, and a
	 * placeholder never outlives its object but for a crash in between (which that sweep
	 * finishes). */
	if (octo_store_bucket(s) != NULL &&
	    (err = octo_bucket_remove(octo_store_bucket(s), d)) != OCTO_OK)
		return err;
	err = octo_store_remove(s, rel, OCTO_ERR_BLOB_UNKNOWN);
	if (err == OCTO_OK) {
		octo_metrics_gauge_add(octo_store_metrics(s), OCTO_GAUGE_BLOBS, -1);
		octo_metrics_gauge_add(octo_store_metrics(s), OCTO_GAUGE_BLOB_BYTES,
				       -(int64_t)st.st_size);
		/* what is left of its repositories' index: entries whose links went otherwise */
		if (repos_dir(d, rel, sizeof(rel)) == OCTO_OK)
			(void)octo_store_remove_dir(s, rel, NULL);
	}
	return err;
}

/* The index of d's repositories, and repo's entry in it ('/' as '+', which no name holds). */
static enum octo_err repos_dir(const struct octo_digest *d, char *buf, size_t size)
{
	return octo_store_path(buf, size, "blob-repos/%s/%.2s/%s", octo_digest_alg_name(d->alg),
			       d->hex, d->hex);
}

static enum octo_err repos_entry(const struct octo_digest *d, const char *repo, char *buf,
				 size_t size)
{
	char dir[OCTO_STORE_PATH_MAX], name[OCTO_NAME_MAX + 1], *p;
	enum octo_err err = repos_dir(d, dir, sizeof(dir));

	if (err != OCTO_OK || octo_str_copy(name, sizeof(name), repo) != 0)
		return OCTO_ERR_NAME_INVALID;
	for (p = name; *p; p++)
		if (*p == '/')
			*p = '+';
	return octo_store_path(buf, size, "%s/%s", dir, name);
}

static int any_name(const char *name, size_t len)
{
	(void)name;
	(void)len;
	return 1;
}

enum octo_err octo_store_blob_repos(const struct octo_store *s, const struct octo_digest *d,
				    struct octo_strv *repos)
{
	char rel[OCTO_STORE_PATH_MAX];
	enum octo_err err = repos_dir(d, rel, sizeof(rel));
	size_t i;

	memset(repos, 0, sizeof(*repos));
	if (err == OCTO_OK)
		err = octo_store_list(s, rel, any_name, OCTO_ERR_NOT_FOUND, repos);
	if (err == OCTO_ERR_NOT_FOUND)
		return OCTO_OK;
	for (i = 0; err == OCTO_OK && i < repos->n; i++) {
		char *p;
		for (p = repos->v[i]; *p; p++)
			if (*p == '+')
				*p = '/';
	}
	return err;
}

enum octo_err octo_store_link_blob(const struct octo_store *s, const char *repo,
				   const struct octo_digest *d, uint64_t size,
				   const struct octo_record_stamp *stamp)
{
	char key[OCTO_STORE_PATH_MAX], value[LINK_VALUE_MAX + 1];
	struct octo_record r = {.stamp = *stamp, .value = value};
	enum octo_err err = octo_store_link_key(d, key, sizeof(key));

	r.value_len = (size_t)snprintf(value, sizeof(value), "%llu", (unsigned long long)size);
	/* a link is a reference: renewed first (gc.h); content elsewhere in a cluster is no error */
	if (err == OCTO_OK)
		(void)octo_store_blob_renew(s, d);
	if (err == OCTO_OK)
		err = octo_store_record_put(s, repo, key, &r, NULL);
	if (err == OCTO_OK && repos_entry(d, repo, key, sizeof(key)) == OCTO_OK)
		(void)octo_store_mark(s, key); /* a hint: one lost costs a mount, never a link */
	return err;
}

enum octo_err octo_store_unlink_blob(const struct octo_store *s, const char *repo,
				     const struct octo_digest *d,
				     const struct octo_record_stamp *stamp)
{
	char key[OCTO_STORE_PATH_MAX];
	struct octo_record r = {.stamp = *stamp, .tombstone = 1};
	enum octo_err err = octo_store_link_key(d, key, sizeof(key));

	if (err == OCTO_OK)
		err = octo_store_record_put(s, repo, key, &r, NULL);
	if (err == OCTO_OK && repos_entry(d, repo, key, sizeof(key)) == OCTO_OK)
		(void)octo_store_unmark(s, key);
	return err;
}

/* How a commit treats a bucket: the content goes there first and tmp becomes its placeholder,
 * its bytes dropped (PLACEHOLDER) or kept (KEEP: a manifest's, read without asking the bucket);
 * or tmp is the placeholder of what the bucket holds already (PLACE). */
enum commit_mode {
	COMMIT_PLACEHOLDER,
	COMMIT_KEEP,
	COMMIT_PLACE
};

static enum octo_err place(const struct octo_store *s, int fd, const char *tmp, const char *rel);

/* octo_store_commit_blob, with mode. */
static enum octo_err commit(const struct octo_store *s, int fd, const char *tmp,
			    const struct octo_digest *d, enum commit_mode mode)
{
	char rel[OCTO_STORE_PATH_MAX];
	enum octo_err err = octo_store_blob_rel(d, rel, sizeof(rel));
	struct octo_bucket *b = octo_store_bucket(s);
	struct stat st;

	if (err != OCTO_OK)
		return err;
	if (octo_store_blob_renew(s, d) == OCTO_OK) {
		/* Same digest, same bytes: keep the copy already there (renewed, so a sweep leaves
		 * it to the link that follows), but make sure its name is durable: it may come from
		 * a request that died before syncing the directory. */
		octo_store_remove(s, tmp, OCTO_OK);
		return octo_store_sync_parent(s, rel);
	}
	if (b != NULL && mode != COMMIT_PLACE) {
		uint64_t have;
		if (fstat(fd, &st) != 0)
			return octo_fs_fail("stat", tmp, errno);
		/* another node sharing the bucket may have stored it: the same bytes, kept */
		err = octo_bucket_head(b, d, &have);
		if (err == OCTO_OK && have != (uint64_t)st.st_size)
			err = OCTO_ERR_BLOB_UNKNOWN;
		if (err == OCTO_ERR_BLOB_UNKNOWN)
			err = octo_bucket_put(b, d, NULL, fd, (uint64_t)st.st_size);
		if (err != OCTO_OK || mode == COMMIT_KEEP)
			return err != OCTO_OK ? err : place(s, fd, tmp, rel);
		/* a new file, not tmp cut short: a reader may be following tmp (lazy.h) */
		err = octo_store_blob_placeholder(s, d, (uint64_t)st.st_size);
		if (err == OCTO_OK)
			octo_store_remove(s, tmp, OCTO_OK);
		return err;
	}
	return place(s, fd, tmp, rel);
}

/* The second half of a commit: tmp (open in fd) durable and in place as rel. */
static enum octo_err place(const struct octo_store *s, int fd, const char *tmp, const char *rel)
{
	enum octo_err err;
	struct stat st;
	int placed;

	/* its time is its grace: now, not when the session's last byte came */
	if (futimens(fd, NULL) != 0)
		return octo_fs_fail("set the time of", tmp, errno);
	if (octo_fs_sync(fd, 1, tmp) != 0)
		return octo_fs_fail("sync", tmp, errno);
	if (fstat(fd, &st) != 0)
		return octo_fs_fail("stat", tmp, errno);
	err = octo_store_place(s, tmp, rel, &placed);
	if (err == OCTO_OK && placed) { /* not when another request placed it first */
		octo_metrics_gauge_add(octo_store_metrics(s), OCTO_GAUGE_BLOBS, 1);
		octo_metrics_gauge_add(octo_store_metrics(s), OCTO_GAUGE_BLOB_BYTES, st.st_size);
	}
	return err;
}

enum octo_err octo_store_commit_blob(const struct octo_store *s, int fd, const char *tmp,
				     const struct octo_digest *d)
{
	return commit(s, fd, tmp, d, COMMIT_PLACEHOLDER);
}

enum octo_err octo_store_blob_placeholder(const struct octo_store *s, const struct octo_digest *d,
					  uint64_t size)
{
	char tmp[OCTO_STORE_PATH_MAX];
	enum octo_err err = octo_store_tmpname(tmp, sizeof(tmp), "uploads/placeholder.");
	int fd;

	if (err != OCTO_OK)
		return err;
	fd = octo_store_openat(s, tmp, O_RDWR | O_CREAT | O_EXCL, 0644);
	if (fd < 0)
		return octo_fs_error(errno);
	if (ftruncate(fd, (off_t)size) != 0)
		err = octo_fs_fail("make a placeholder of", tmp, errno);
	else
		err = commit(s, fd, tmp, d, COMMIT_PLACE);
	if (err != OCTO_OK)
		octo_store_remove(s, tmp, OCTO_OK);
	close(fd);
	return err;
}

enum octo_err octo_store_blob_adopt(const struct octo_store *s, const struct octo_digest *d,
				    uint64_t *size)
{
	enum octo_err err;

	if (octo_store_bucket(s) == NULL)
		return OCTO_ERR_BLOB_UNKNOWN;
	err = octo_bucket_head(octo_store_bucket(s), d, size);
	return err != OCTO_OK ? err : octo_store_blob_placeholder(s, d, *size);
}

enum octo_err octo_store_put_blob_bytes(const struct octo_store *s, const void *data, size_t len,
					const struct octo_digest *d)
{
	char rel[OCTO_STORE_PATH_MAX], tmp[OCTO_STORE_PATH_MAX];
	enum octo_err err;
	int fd;

	if (octo_store_blob_renew(s, d) == OCTO_OK) {
		/* as in octo_store_commit_blob: renewed, and the name may not be durable yet */
		err = octo_store_blob_rel(d, rel, sizeof(rel));
		return err != OCTO_OK ? err : octo_store_sync_parent(s, rel);
	}
	err = octo_store_tmpname(tmp, sizeof(tmp), "uploads/manifest.");
	if (err != OCTO_OK)
		return err;
	fd = octo_store_openat(s, tmp, O_RDWR | O_CREAT | O_EXCL, 0644);
	if (fd < 0)
		return octo_fs_error(errno);
	if (octo_fs_pwrite_all(fd, data, len, 0) != 0)
		err = octo_fs_error(errno);
	else
		err = commit(s, fd, tmp, d, COMMIT_KEEP);
	if (err != OCTO_OK)
		octo_store_remove(s, tmp, OCTO_OK);
	close(fd);
	return err;
}

enum octo_err octo_store_read_blob(const struct octo_store *s, const struct octo_digest *d,
				   size_t max, char **data, size_t *len)
{
	char rel[OCTO_STORE_PATH_MAX];
	struct octo_digest actual;
	enum octo_err err = octo_store_blob_rel(d, rel, sizeof(rel));

	*data = NULL;
	*len = 0;
	if (err == OCTO_OK)
		err = octo_store_read(s, rel, max, OCTO_ERR_BLOB_UNKNOWN, data, len);
	if (err != OCTO_OK)
		return err;
	octo_digest_of(d->alg, *data, *len, &actual);
	if (!octo_digest_equal(&actual, d) && octo_store_bucket(s) != NULL) {
		/* a placeholder without the bytes (a blob pushed as one): they are in the bucket */
		free(*data);
		err = octo_bucket_read(octo_store_bucket(s), d, max, data, len);
		if (err != OCTO_OK)
			return err == OCTO_ERR_BLOB_UNKNOWN ? OCTO_ERR_IO : err;
		octo_digest_of(d->alg, *data, *len, &actual);
	}
	if (!octo_digest_equal(&actual, d)) {
		free(*data);
		*data = NULL;
		*len = 0;
		return OCTO_ERR_IO;
	}
	return OCTO_OK;
}

#define STREAM_CHUNK (256 * 1024)

enum octo_err octo_store_blob_stream(const struct octo_store *s, const struct octo_digest *d,
				     uint64_t offset, uint64_t len, octo_store_sink *sink,
				     void *ctx)
{
	char rel[OCTO_STORE_PATH_MAX], *buf;
	enum octo_err err = octo_store_blob_rel(d, rel, sizeof(rel));
	uint64_t size, end;
	int fd;

	if (err == OCTO_OK && octo_store_bucket(s) != NULL)
		return octo_bucket_stream(octo_store_bucket(s), d, offset, len, sink, ctx);
	if (err == OCTO_OK)
		err = octo_store_open_file(s, rel, O_RDONLY, OCTO_ERR_BLOB_UNKNOWN, &fd, &size);
	if (err != OCTO_OK)
		return err;
	buf = malloc(STREAM_CHUNK);
	if (buf == NULL) {
		close(fd);
		return OCTO_ERR_NOMEM;
	}
	end = len == 0 || len > size - (offset < size ? offset : size) ? size : offset + len;
	while (err == OCTO_OK && offset < end) {
		size_t want = end - offset < STREAM_CHUNK ? (size_t)(end - offset) : STREAM_CHUNK;
		ssize_t n = pread(fd, buf, want, (off_t)offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			err = octo_fs_fail("read", rel, n < 0 ? errno : EIO);
		else if (sink(ctx, buf, (size_t)n) != 0)
			err = OCTO_ERR_IO;
		else
			offset += (uint64_t)n;
	}
	free(buf);
	close(fd);
	return err;
}

/* fn for the content files of directory rel (blobs/<alg>/<xx>). A directory that vanished
 * holds nothing. */
static enum octo_err each_in_dir(const struct octo_store *s, const char *rel, const char *alg,
				 octo_store_blob_fn fn, void *ctx)
{
	int fd = octo_store_opendir(s, rel, 0);
	enum octo_err err = OCTO_OK;
	struct dirent *e;
	DIR *d;

	if (fd < 0)
		return errno == ENOENT ? OCTO_OK : octo_fs_fail("open", rel, errno);
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return octo_fs_fail("read", rel, errno);
	}
	while (err == OCTO_OK && (e = readdir(d)) != NULL) {
		char name[OCTO_DIGEST_MAX_STRING];
		struct octo_digest dg;
		struct stat st;
		int n;
		if (e->d_name[0] == '.' /* temporary files too */)
			continue;
		n = snprintf(name, sizeof(name), "%s:%s", alg, e->d_name);
		if (n < 0 || (size_t)n >= sizeof(name) ||
		    octo_digest_parse(name, (size_t)n, &dg) != OCTO_OK ||
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		err = fn(ctx, &dg, (uint64_t)st.st_size);
	}
	closedir(d);
	return err;
}

enum octo_err octo_store_blob_each(const struct octo_store *s, octo_store_blob_fn fn, void *ctx)
{
	struct octo_strv algs, prefixes = {0};
	enum octo_err err;
	size_t i, j;

	err = octo_store_list(s, "blobs", NULL, OCTO_OK, &algs);
	for (i = 0; err == OCTO_OK && i < algs.n; i++) {
		char rel[OCTO_STORE_PATH_MAX];
		err = octo_store_path(rel, sizeof(rel), "blobs/%s", algs.v[i]);
		if (err == OCTO_OK)
			err = octo_store_list(s, rel, NULL, OCTO_OK, &prefixes);
		for (j = 0; err == OCTO_OK && j < prefixes.n; j++) {
			char dir[OCTO_STORE_PATH_MAX];
			err = octo_store_path(dir, sizeof(dir), "%s/%s", rel, prefixes.v[j]);
			if (err == OCTO_OK)
				err = each_in_dir(s, dir, algs.v[i], fn, ctx);
		}
		octo_strv_cleanup(&prefixes);
	}
	octo_strv_cleanup(&algs);
	return err;
}

struct census {
	uint64_t count, bytes;
};

static enum octo_err count_blob(void *ctx, const struct octo_digest *d, uint64_t size)
{
	struct census *c = ctx;

	(void)d;
	c->count++;
	c->bytes += size;
	return OCTO_OK;
}

enum octo_err octo_store_blob_census(const struct octo_store *s, uint64_t *count, uint64_t *bytes)
{
	struct census c = {0, 0};
	enum octo_err err = octo_store_blob_each(s, count_blob, &c);

	*count = c.count;
	*bytes = c.bytes;
	return err;
}
