/* SPDX-License-Identifier: Apache-2.0 */
/* Layout: blobs/<alg>/<first two hex>/<hex>, repositories/<name>/_layers/<alg>/<hex>. */
#include "autoconfig.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "name.h"
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
				     const struct octo_digest *d, uint64_t *size)
{
	char path[PATH_MAX];

	if (link_path(s, repo, d, path, sizeof(path)) != OCTO_OK)
		return OCTO_ERR_IO;
	if (access(path, F_OK) != 0)
		return errno == ENOENT || errno == ENOTDIR ? OCTO_ERR_BLOB_UNKNOWN : OCTO_ERR_IO;
	return octo_store_blob_stat(s, d, size);
}

enum octo_err octo_store_blob_open(const struct octo_store *s, const char *repo,
				   const struct octo_digest *d, int *fd, uint64_t *size)
{
	char path[PATH_MAX];
	struct stat st;
	enum octo_err err;

	*fd = -1;
	err = octo_store_blob_linked(s, repo, d, NULL);
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
		/* Same digest, same bytes: keep the copy already there, but make sure its name is
		 * durable: it may come from a request that died before syncing the directory. */
		unlink(tmp_path);
		return octo_fs_fsync_parent(path) == 0 ? OCTO_OK : octo_fs_error(errno);
	}
	if (fdatasync(fd) != 0 || make_parent(path) != 0 || rename(tmp_path, path) != 0 ||
	    octo_fs_fsync_parent(path) != 0)
		return octo_fs_error(errno);
	return OCTO_OK;
}

enum octo_err octo_store_put_blob_bytes(const struct octo_store *s, const void *data, size_t len,
					const struct octo_digest *d)
{
	char tmp[PATH_MAX];
	enum octo_err err;
	int fd;

	if (octo_store_blob_stat(s, d, NULL) == OCTO_OK) {
		/* as in octo_store_commit_blob: the name may not be durable yet */
		if (octo_store_blob_path(s, d, tmp, sizeof(tmp)) != OCTO_OK)
			return OCTO_ERR_IO;
		return octo_fs_fsync_parent(tmp) == 0 ? OCTO_OK : octo_fs_error(errno);
	}
	snprintf(tmp, sizeof(tmp), "%s/uploads/manifest.%s.%ld.%lx", s->root, d->hex,
		 (long)getpid(), (unsigned long)random());
	fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return octo_fs_error(errno);
	if (octo_fs_pwrite_all(fd, data, len, 0) != 0) {
		err = octo_fs_error(errno);
		unlink(tmp);
	} else {
		err = octo_store_commit_blob(s, fd, tmp, d);
		if (err != OCTO_OK)
			unlink(tmp);
	}
	close(fd);
	return err;
}

/* Read the whole file at path into a malloc'd, NUL-terminated buffer of at most max bytes;
 * missing when it does not exist, OCTO_ERR_TOO_LARGE beyond max. */
static enum octo_err read_file(const char *path, size_t max, enum octo_err missing, char **data,
			       size_t *len)
{
	enum octo_err err = OCTO_OK;
	struct stat st;
	char *buf = NULL;
	int fd;

	*data = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR ? missing : OCTO_ERR_IO;
	if (fstat(fd, &st) != 0)
		err = OCTO_ERR_IO;
	else if ((uint64_t)st.st_size > max)
		err = OCTO_ERR_TOO_LARGE;
	else if ((buf = malloc((size_t)st.st_size + 1)) == NULL)
		err = OCTO_ERR_NOMEM;
	else if (octo_fs_pread_all(fd, buf, (size_t)st.st_size, 0) != 0)
		err = OCTO_ERR_IO;
	close(fd);
	if (err != OCTO_OK) {
		free(buf);
		return err;
	}
	buf[st.st_size] = '\0';
	*data = buf;
	*len = (size_t)st.st_size;
	return OCTO_OK;
}

enum octo_err octo_store_read_blob(const struct octo_store *s, const struct octo_digest *d,
				   size_t max, char **data, size_t *len)
{
	char path[PATH_MAX];

	*data = NULL;
	*len = 0;
	if (octo_store_blob_path(s, d, path, sizeof(path)) != OCTO_OK)
		return OCTO_ERR_IO;
	return read_file(path, max, OCTO_ERR_BLOB_UNKNOWN, data, len);
}

static enum octo_err repo_path(const struct octo_store *s, char *buf, size_t size, const char *fmt,
			       ...) __attribute__((format(printf, 4, 5)));

static enum octo_err repo_path(const struct octo_store *s, char *buf, size_t size, const char *fmt,
			       ...)
{
	va_list ap;
	int n = snprintf(buf, size, "%s/repositories/", s->root), m;

	if (n < 0 || (size_t)n >= size)
		return OCTO_ERR_IO;
	va_start(ap, fmt);
	m = vsnprintf(buf + n, size - (size_t)n, fmt, ap);
	va_end(ap);
	return m < 0 || (size_t)m >= size - (size_t)n ? OCTO_ERR_IO : OCTO_OK;
}

/* Replace path's content with text, creating its directory. */
static enum octo_err write_small(const char *path, const char *text)
{
	if (make_parent(path) != 0 || octo_fs_write_atomic(path, text, strlen(text), 1) != 0)
		return octo_fs_error(errno);
	return OCTO_OK;
}

/* Read a small file into buf (NUL-terminated, trailing newline dropped). */
static enum octo_err read_small(const char *path, char *buf, size_t size, enum octo_err missing)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR ? missing : OCTO_ERR_IO;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return OCTO_ERR_IO;
	buf[n] = '\0';
	if (n > 0 && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	return OCTO_OK;
}

static enum octo_err remove_durably(const char *path, enum octo_err missing)
{
	if (unlink(path) != 0)
		return errno == ENOENT || errno == ENOTDIR ? missing : octo_fs_error(errno);
	return octo_fs_fsync_parent(path) == 0 ? OCTO_OK : octo_fs_error(errno);
}

enum octo_err octo_store_link_manifest(const struct octo_store *s, const char *repo,
				       const struct octo_digest *d, const char *media_type)
{
	char path[PATH_MAX];

	if (repo_path(s, path, sizeof(path), "%s/_manifests/revisions/%s/%s", repo,
		      octo_digest_alg_name(d->alg), d->hex) != OCTO_OK)
		return OCTO_ERR_IO;
	return write_small(path, media_type);
}

enum octo_err octo_store_manifest_type(const struct octo_store *s, const char *repo,
				       const struct octo_digest *d, char *buf, size_t size)
{
	char path[PATH_MAX];

	if (repo_path(s, path, sizeof(path), "%s/_manifests/revisions/%s/%s", repo,
		      octo_digest_alg_name(d->alg), d->hex) != OCTO_OK)
		return OCTO_ERR_IO;
	return read_small(path, buf, size, OCTO_ERR_MANIFEST_UNKNOWN);
}

enum octo_err octo_store_unlink_manifest(const struct octo_store *s, const char *repo,
					 const struct octo_digest *d)
{
	char path[PATH_MAX];

	if (repo_path(s, path, sizeof(path), "%s/_manifests/revisions/%s/%s", repo,
		      octo_digest_alg_name(d->alg), d->hex) != OCTO_OK)
		return OCTO_ERR_IO;
	return remove_durably(path, OCTO_ERR_MANIFEST_UNKNOWN);
}

static enum octo_err update_tag_index(const struct octo_store *s, const char *repo,
				      const char *removed, const char *removed_path);

enum octo_err octo_store_tag_set(const struct octo_store *s, const char *repo, const char *tag,
				 const struct octo_digest *d)
{
	char path[PATH_MAX], ds[OCTO_DIGEST_MAX_STRING];
	enum octo_err err;

	if (repo_path(s, path, sizeof(path), "%s/_manifests/tags/%s", repo, tag) != OCTO_OK)
		return OCTO_ERR_IO;
	octo_digest_format(d, ds, sizeof(ds));
	/* The tag first, then the index: the index never names a tag that does not exist. */
	err = write_small(path, ds);
	return err == OCTO_OK ? update_tag_index(s, repo, NULL, NULL) : err;
}

enum octo_err octo_store_tag_get(const struct octo_store *s, const char *repo, const char *tag,
				 struct octo_digest *d)
{
	char path[PATH_MAX], ds[OCTO_DIGEST_MAX_STRING + 2];
	enum octo_err err;

	if (repo_path(s, path, sizeof(path), "%s/_manifests/tags/%s", repo, tag) != OCTO_OK)
		return OCTO_ERR_IO;
	err = read_small(path, ds, sizeof(ds), OCTO_ERR_MANIFEST_UNKNOWN);
	if (err != OCTO_OK)
		return err;
	return octo_digest_parse(ds, strlen(ds), d) == OCTO_OK ? OCTO_OK : OCTO_ERR_IO;
}

enum octo_err octo_store_tag_delete(const struct octo_store *s, const char *repo, const char *tag)
{
	char path[PATH_MAX];

	if (repo_path(s, path, sizeof(path), "%s/_manifests/tags/%s", repo, tag) != OCTO_OK)
		return OCTO_ERR_IO;
	/* The index first, then the tag, for the same reason as in octo_store_tag_set. */
	return update_tag_index(s, repo, tag, path);
}

void octo_strv_free(char **v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

struct strv {
	char **v;
	size_t n, cap;
};

static int strv_push(struct strv *sv, const char *s)
{
	if (sv->n == sv->cap) {
		size_t cap = sv->cap ? sv->cap * 2 : 16;
		char **v = realloc(sv->v, cap * sizeof(*v));
		if (v == NULL)
			return -1;
		sv->v = v;
		sv->cap = cap;
	}
	sv->v[sv->n] = strdup(s);
	if (sv->v[sv->n] == NULL)
		return -1;
	sv->n++;
	return 0;
}

static int strv_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int octo_tag_cmp(const char *a, const char *b)
{
	int c = strcasecmp(a, b);

	return c != 0 ? c : strcmp(a, b);
}

static int tag_cmp(const void *a, const void *b)
{
	return octo_tag_cmp(*(char *const *)a, *(char *const *)b);
}

/* The names in dir, sorted by cmp; dot names (temporary files of atomic writes) are
 * skipped. */
static enum octo_err list_dir(const char *dir, int (*cmp)(const void *, const void *), char ***out,
			      size_t *n, enum octo_err missing)
{
	struct strv sv = {0};
	struct dirent *e;
	DIR *d = opendir(dir);

	*out = NULL;
	*n = 0;
	if (d == NULL)
		return errno == ENOENT || errno == ENOTDIR ? missing : OCTO_ERR_IO;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (strv_push(&sv, e->d_name) != 0) {
			closedir(d);
			octo_strv_free(sv.v, sv.n);
			return OCTO_ERR_NOMEM;
		}
	}
	closedir(d);
	if (sv.n > 1)
		qsort(sv.v, sv.n, sizeof(*sv.v), cmp);
	*out = sv.v;
	*n = sv.n;
	return OCTO_OK;
}

enum octo_err octo_store_tag_list(const struct octo_store *s, const char *repo, char ***tags,
				  size_t *n)
{
	char path[PATH_MAX];
	enum octo_err err;

	*tags = NULL;
	*n = 0;
	if (repo_path(s, path, sizeof(path), "%s/_manifests", repo) != OCTO_OK)
		return OCTO_ERR_IO;
	if (access(path, F_OK) != 0)
		return OCTO_ERR_NAME_UNKNOWN;
	strcat(path, "/tags");
	err = list_dir(path, tag_cmp, tags, n, OCTO_ERR_NAME_UNKNOWN);
	return err == OCTO_ERR_NAME_UNKNOWN ? OCTO_OK : err; /* no tags yet */
}

/* The tag index, _manifests/tags.index: every tag of the repository in octo_tag_cmp order,
 * one per line, so that listing tags reads one file instead of scanning and sorting a
 * directory. It is derived from the tag files and rewritten from a scan of them, under
 * _manifests/tags.lock, after every tag write and before every tag removal (which happens
 * under the same lock: removed_path is then unlinked); a tag write lost to a crash in
 * between (never acknowledged) is picked up by the next rewrite. */
static enum octo_err update_tag_index(const struct octo_store *s, const char *repo,
				      const char *removed, const char *removed_path)
{
	char dir[PATH_MAX - 32], path[PATH_MAX];
	enum octo_err err;
	char **tags = NULL, *text = NULL;
	size_t n = 0, i, len = 0;
	int lock;

	if (repo_path(s, dir, sizeof(dir), "%s/_manifests", repo) != OCTO_OK)
		return OCTO_ERR_IO;
	snprintf(path, sizeof(path), "%s/tags.lock", dir);
	lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (lock < 0) /* no _manifests directory: nothing to remove */
		return errno == ENOENT && removed_path != NULL ? OCTO_ERR_MANIFEST_UNKNOWN
							       : octo_fs_error(errno);
	while (flock(lock, LOCK_EX) != 0)
		if (errno != EINTR) {
			close(lock);
			return OCTO_ERR_IO;
		}
	snprintf(path, sizeof(path), "%s/tags", dir);
	err = list_dir(path, tag_cmp, &tags, &n, OCTO_OK);
	if (err == OCTO_OK) {
		text = malloc(n * (OCTO_TAG_MAX + 1) + 1);
		if (text == NULL)
			err = OCTO_ERR_NOMEM;
	}
	for (i = 0; err == OCTO_OK && i < n; i++) {
		size_t tl = strlen(tags[i]);
		if (removed != NULL && strcmp(tags[i], removed) == 0)
			continue;
		memcpy(text + len, tags[i], tl);
		len += tl;
		text[len++] = '\n';
	}
	if (err == OCTO_OK && removed_path != NULL && access(removed_path, F_OK) != 0)
		err = OCTO_ERR_MANIFEST_UNKNOWN;
	if (err == OCTO_OK) {
		snprintf(path, sizeof(path), "%s/tags.index", dir);
		if (octo_fs_write_atomic(path, text, len, 1) != 0)
			err = octo_fs_error(errno);
	}
	if (err == OCTO_OK && removed_path != NULL)
		err = remove_durably(removed_path, OCTO_ERR_MANIFEST_UNKNOWN);
	free(text);
	octo_strv_free(tags, n);
	close(lock); /* releases the lock */
	return err;
}

enum octo_err octo_store_tag_index(const struct octo_store *s, const char *repo, char **text,
				   size_t *len)
{
	char path[PATH_MAX];

	*text = NULL;
	*len = 0;
	if (repo_path(s, path, sizeof(path), "%s/_manifests/tags.index", repo) != OCTO_OK)
		return OCTO_ERR_IO;
	return read_file(path, SIZE_MAX / 2, OCTO_ERR_NAME_UNKNOWN, text, len);
}

static enum octo_err referrer_path(const struct octo_store *s, const char *repo,
				   const struct octo_digest *subject, const struct octo_digest *d,
				   char *buf, size_t size)
{
	if (d == NULL)
		return repo_path(s, buf, size, "%s/_referrers/%s/%s", repo,
				 octo_digest_alg_name(subject->alg), subject->hex);
	return repo_path(s, buf, size, "%s/_referrers/%s/%s/%s-%s", repo,
			 octo_digest_alg_name(subject->alg), subject->hex,
			 octo_digest_alg_name(d->alg), d->hex);
}

enum octo_err octo_store_referrer_add(const struct octo_store *s, const char *repo,
				      const struct octo_digest *subject,
				      const struct octo_digest *d, const char *descriptor)
{
	char path[PATH_MAX];

	if (referrer_path(s, repo, subject, d, path, sizeof(path)) != OCTO_OK)
		return OCTO_ERR_IO;
	return write_small(path, descriptor);
}

enum octo_err octo_store_referrer_remove(const struct octo_store *s, const char *repo,
					 const struct octo_digest *subject,
					 const struct octo_digest *d)
{
	char path[PATH_MAX];

	if (referrer_path(s, repo, subject, d, path, sizeof(path)) != OCTO_OK)
		return OCTO_ERR_IO;
	return remove_durably(path, OCTO_OK);
}

enum octo_err octo_store_referrer_list(const struct octo_store *s, const char *repo,
				       const struct octo_digest *subject, char ***descriptors,
				       size_t *n)
{
	char dir[PATH_MAX], path[PATH_MAX + 300];
	enum octo_err err;
	char **names;
	size_t i;

	*descriptors = NULL;
	*n = 0;
	if (referrer_path(s, repo, subject, NULL, dir, sizeof(dir)) != OCTO_OK)
		return OCTO_ERR_IO;
	err = list_dir(dir, strv_cmp, &names, n, OCTO_OK);
	if (err != OCTO_OK || *n == 0)
		return err;
	/* Replace each file name by the descriptor it holds ("" if it cannot be read). */
	for (i = 0; i < *n; i++) {
		char *text;
		size_t len;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (read_file(path, 1024 * 1024, OCTO_ERR_IO, &text, &len) != OCTO_OK)
			text = strdup("");
		free(names[i]);
		names[i] = text;
	}
	*descriptors = names;
	return OCTO_OK;
}

/* Depth-first walk collecting directories that hold a _manifests directory. */
static enum octo_err walk_repos(const char *base, const char *prefix, struct strv *sv, int depth)
{
	char path[PATH_MAX], name[PATH_MAX];
	struct dirent *e;
	DIR *d;

	if (depth > 64)
		return OCTO_OK;
	snprintf(path, sizeof(path), "%s/%s", base, prefix);
	d = opendir(path);
	if (d == NULL)
		return OCTO_OK;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (strcmp(e->d_name, "_manifests") == 0 && prefix[0] != '\0') {
			snprintf(name, sizeof(name), "%.*s", (int)strlen(prefix) - 1, prefix);
			if (strv_push(sv, name) != 0) {
				closedir(d);
				return OCTO_ERR_NOMEM;
			}
		} else if (e->d_name[0] != '_') {
			snprintf(name, sizeof(name), "%s%s/", prefix, e->d_name);
			if (walk_repos(base, name, sv, depth + 1) != OCTO_OK) {
				closedir(d);
				return OCTO_ERR_NOMEM;
			}
		}
	}
	closedir(d);
	return OCTO_OK;
}

enum octo_err octo_store_repo_list(const struct octo_store *s, char ***names, size_t *n)
{
	char base[PATH_MAX];
	struct strv sv = {0};

	snprintf(base, sizeof(base), "%s/repositories", s->root);
	if (walk_repos(base, "", &sv, 0) != OCTO_OK) {
		octo_strv_free(sv.v, sv.n);
		return OCTO_ERR_NOMEM;
	}
	if (sv.n > 1)
		qsort(sv.v, sv.n, sizeof(*sv.v), strv_cmp);
	*names = sv.v;
	*n = sv.n;
	return OCTO_OK;
}
