/* SPDX-License-Identifier: Apache-2.0 */
/* See store-blob.h. */
#include "autoconfig.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "metrics.h"
#include "store-blob.h"
#include "store-record.h"

/* A link's value: the blob's size in decimal. */
#define LINK_VALUE_MAX 20

enum octo_err octo_store_blob_rel(const struct octo_digest *d, char *buf, size_t size)
{
	return octo_store_path(buf, size, "blobs/%s/%.2s/%s", octo_digest_alg_name(d->alg), d->hex,
			       d->hex);
}

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
	if (err == OCTO_OK)
		err = octo_store_blob_rel(d, rel, sizeof(rel));
	if (err == OCTO_OK)
		err = octo_store_open_file(s, rel, O_RDONLY, OCTO_ERR_BLOB_UNKNOWN, fd, size);
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
	return err != OCTO_OK ? err : octo_store_record_put(s, repo, key, &r, NULL);
}

enum octo_err octo_store_unlink_blob(const struct octo_store *s, const char *repo,
				     const struct octo_digest *d,
				     const struct octo_record_stamp *stamp)
{
	char key[OCTO_STORE_PATH_MAX];
	struct octo_record r = {.stamp = *stamp, .tombstone = 1};
	enum octo_err err = octo_store_link_key(d, key, sizeof(key));

	return err != OCTO_OK ? err : octo_store_record_put(s, repo, key, &r, NULL);
}

enum octo_err octo_store_commit_blob(const struct octo_store *s, int fd, const char *tmp,
				     const struct octo_digest *d)
{
	char rel[OCTO_STORE_PATH_MAX];
	enum octo_err err = octo_store_blob_rel(d, rel, sizeof(rel));
	struct stat st;
	int placed;

	if (err != OCTO_OK)
		return err;
	if (octo_store_blob_stat(s, d, NULL) == OCTO_OK) {
		/* Same digest, same bytes: keep the copy already there, but make sure its name is
		 * durable: it may come from a request that died before syncing the directory. */
		octo_store_remove(s, tmp, OCTO_OK);
		return octo_store_sync_parent(s, rel);
	}
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

enum octo_err octo_store_put_blob_bytes(const struct octo_store *s, const void *data, size_t len,
					const struct octo_digest *d)
{
	char rel[OCTO_STORE_PATH_MAX], tmp[OCTO_STORE_PATH_MAX];
	enum octo_err err;
	int fd;

	if (octo_store_blob_stat(s, d, NULL) == OCTO_OK) {
		/* as in octo_store_commit_blob: the name may not be durable yet */
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
		err = octo_store_commit_blob(s, fd, tmp, d);
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
	if (!octo_digest_equal(&actual, d)) {
		free(*data);
		*data = NULL;
		*len = 0;
		return OCTO_ERR_IO;
	}
	return OCTO_OK;
}

/* Count the regular files in directory rel (a blobs/<alg>/<xx> directory), adding to the
 * totals. A directory that vanished counts nothing. */
static enum octo_err census_dir(const struct octo_store *s, const char *rel, uint64_t *count,
				uint64_t *bytes)
{
	int fd = octo_store_opendir(s, rel, 0);
	struct dirent *e;
	DIR *d;

	if (fd < 0)
		return errno == ENOENT ? OCTO_OK : octo_fs_fail("open", rel, errno);
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return octo_fs_fail("read", rel, errno);
	}
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		if (e->d_name[0] == '.' /* temporary files too */ ||
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		(*count)++;
		*bytes += (uint64_t)st.st_size;
	}
	closedir(d);
	return OCTO_OK;
}

enum octo_err octo_store_blob_census(const struct octo_store *s, uint64_t *count, uint64_t *bytes)
{
	struct octo_strv algs, prefixes = {0};
	enum octo_err err;
	size_t i, j;

	*count = *bytes = 0;
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
				err = census_dir(s, dir, count, bytes);
		}
		octo_strv_cleanup(&prefixes);
	}
	octo_strv_cleanup(&algs);
	return err;
}
