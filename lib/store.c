/* SPDX-License-Identifier: Apache-2.0 */
/* Layout: blobs/<alg>/<first two hex>/<hex>, repositories/<name>/_layers/<alg>/<hex>. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "store.h"

struct octo_store {
	char *root;
};

static const char *const store_dirs[] = {"blobs", "repositories", "uploads", "journal"};

enum octo_err octo_store_open(const char *root, struct octo_store **out)
{
	struct octo_store *s;
	char path[PATH_MAX];
	size_t i;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return OCTO_ERR_NOMEM;
	s->root = realpath(root, NULL);
	if (s->root == NULL) {
		if (octo_fs_mkdirs(root) != 0 || (s->root = realpath(root, NULL)) == NULL) {
			free(s);
			return OCTO_ERR_IO;
		}
	}
	for (i = 0; i < sizeof(store_dirs) / sizeof(store_dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", s->root, store_dirs[i]);
		if (octo_fs_mkdirs(path) != 0) {
			octo_store_free(s);
			return OCTO_ERR_IO;
		}
	}
	*out = s;
	return OCTO_OK;
}

void octo_store_free(struct octo_store *s)
{
	if (s == NULL)
		return;
	free(s->root);
	free(s);
}

const char *octo_store_root(const struct octo_store *s)
{
	return s->root;
}

enum octo_err octo_store_blob_path(const struct octo_store *s, const struct octo_digest *d,
				   char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s/blobs/%s/%.2s/%s", s->root, octo_digest_alg_name(d->alg),
			 d->hex, d->hex);
	return n < 0 || (size_t)n >= size ? OCTO_ERR_IO : OCTO_OK;
}

static enum octo_err link_path(const struct octo_store *s, const char *repo,
			       const struct octo_digest *d, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s/repositories/%s/_layers/%s/%s", s->root, repo,
			 octo_digest_alg_name(d->alg), d->hex);
	return n < 0 || (size_t)n >= size ? OCTO_ERR_IO : OCTO_OK;
}

enum octo_err octo_store_blob_stat(const struct octo_store *s, const struct octo_digest *d,
				   uint64_t *size)
{
	char path[PATH_MAX];
	struct stat st;

	if (octo_store_blob_path(s, d, path, sizeof(path)) != OCTO_OK)
		return OCTO_ERR_IO;
	if (stat(path, &st) != 0)
		return errno == ENOENT ? OCTO_ERR_BLOB_UNKNOWN : OCTO_ERR_IO;
	if (size != NULL)
		*size = (uint64_t)st.st_size;
	return OCTO_OK;
}

enum octo_err octo_store_blob_linked(const struct octo_store *s, const char *repo,
				     const struct octo_digest *d)
{
	char path[PATH_MAX];

	if (link_path(s, repo, d, path, sizeof(path)) != OCTO_OK)
		return OCTO_ERR_IO;
	if (access(path, F_OK) != 0)
		return errno == ENOENT || errno == ENOTDIR ? OCTO_ERR_BLOB_UNKNOWN : OCTO_ERR_IO;
	return octo_store_blob_stat(s, d, NULL);
}

enum octo_err octo_store_blob_open(const struct octo_store *s, const char *repo,
				   const struct octo_digest *d, int *fd, uint64_t *size)
{
	char path[PATH_MAX];
	struct stat st;
	enum octo_err err;

	*fd = -1;
	err = octo_store_blob_linked(s, repo, d);
	if (err != OCTO_OK)
		return err;
	if (octo_store_blob_path(s, d, path, sizeof(path)) != OCTO_OK)
		return OCTO_ERR_IO;
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return errno == ENOENT ? OCTO_ERR_BLOB_UNKNOWN : OCTO_ERR_IO;
	if (fstat(*fd, &st) != 0) {
		close(*fd);
		*fd = -1;
		return OCTO_ERR_IO;
	}
	*size = (uint64_t)st.st_size;
	return OCTO_OK;
}

/* Make sure the directory that will hold path exists (durably). */
static int make_parent(const char *path)
{
	char dir[PATH_MAX];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL)
		return 0;
	*slash = '\0';
	return octo_fs_mkdirs(dir);
}

enum octo_err octo_store_link_blob(const struct octo_store *s, const char *repo,
				   const struct octo_digest *d)
{
	char path[PATH_MAX];

	if (link_path(s, repo, d, path, sizeof(path)) != OCTO_OK)
		return OCTO_ERR_IO;
	if (make_parent(path) != 0 || octo_fs_touch(path) != 0)
		return octo_fs_error(errno);
	return OCTO_OK;
}

enum octo_err octo_store_unlink_blob(const struct octo_store *s, const char *repo,
				     const struct octo_digest *d)
{
	char path[PATH_MAX];

	if (link_path(s, repo, d, path, sizeof(path)) != OCTO_OK)
		return OCTO_ERR_IO;
	if (unlink(path) != 0)
		return errno == ENOENT || errno == ENOTDIR ? OCTO_ERR_BLOB_UNKNOWN
							   : octo_fs_error(errno);
	if (octo_fs_fsync_parent(path) != 0)
		return octo_fs_error(errno);
	return OCTO_OK;
}

enum octo_err octo_store_commit_blob(const struct octo_store *s, int fd, const char *tmp_path,
				     const struct octo_digest *d)
{
	char path[PATH_MAX];

	if (octo_store_blob_path(s, d, path, sizeof(path)) != OCTO_OK)
		return OCTO_ERR_IO;
	if (octo_store_blob_stat(s, d, NULL) == OCTO_OK) {
		/* Same digest, same bytes: keep the copy that is already durable. */
		unlink(tmp_path);
		return OCTO_OK;
	}
	if (fdatasync(fd) != 0 || make_parent(path) != 0 || rename(tmp_path, path) != 0 ||
	    octo_fs_fsync_parent(path) != 0)
		return octo_fs_error(errno);
	return OCTO_OK;
}
