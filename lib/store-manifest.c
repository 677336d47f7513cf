/* SPDX-License-Identifier: Apache-2.0 */
/* See store-manifest.h. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "bounds.h"
#include "fsutil.h"
#include "manifest.h"
#include "metrics.h"
#include "name.h"
#include "store-manifest.h"
#include "store-repo.h"

static enum octo_err revision_rel(const char *repo, const struct octo_digest *d, char *buf,
				  size_t size)
{
	return octo_store_path(buf, size, "repositories/%s/_manifests/revisions/%s/%s", repo,
			       octo_digest_alg_name(d->alg), d->hex);
}

static enum octo_err tag_rel(const char *repo, const char *tag, char *buf, size_t size)
{
	return octo_store_path(buf, size, "repositories/%s/_manifests/tags/%s", repo, tag);
}

/* A small file's text with its trailing newline dropped, into buf. */
static enum octo_err read_small(const struct octo_store *s, const char *rel, char *buf, size_t size,
				enum octo_err missing)
{
	enum octo_err err;
	char *text;
	size_t len;

	err = octo_store_read(s, rel, size - 1, missing, &text, &len);
	if (err == OCTO_ERR_TOO_LARGE)
		return OCTO_ERR_IO; /* not a file we wrote */
	if (err != OCTO_OK)
		return err;
	if (len > 0 && text[len - 1] == '\n')
		len--;
	memcpy(buf, text, len);
	buf[len] = '\0';
	free(text);
	return OCTO_OK;
}

static int lock_tags(const struct octo_store *s, const char *repo);

/* Revisions are added and removed under the tag lock, so that exactly one request sees
 * the repository gain its first manifest or lose its last (the repositories gauge). */
enum octo_err octo_store_link_manifest(const struct octo_store *s, const char *repo,
				       const struct octo_digest *d, const char *media_type)
{
	char rel[OCTO_STORE_PATH_MAX];
	enum octo_err err = revision_rel(repo, d, rel, sizeof(rel));
	int lock, had;

	if (err == OCTO_OK)
		err = octo_store_path(rel, sizeof(rel), "repositories/%s/_manifests", repo);
	if (err != OCTO_OK)
		return err;
	lock = octo_store_opendir(s, rel, 1);
	if (lock < 0)
		return octo_fs_fail("create", rel, errno);
	close(lock);
	lock = lock_tags(s, repo);
	if (lock < 0)
		return octo_fs_fail("lock", rel, errno);
	had = octo_store_repo_holds_manifests(s, repo);
	err = revision_rel(repo, d, rel, sizeof(rel));
	if (err == OCTO_OK)
		err = octo_store_write_atomic(s, rel, media_type, strlen(media_type), 1);
	if (err == OCTO_OK && !had)
		octo_metrics_gauge_add(octo_store_metrics(s), OCTO_GAUGE_REPOSITORIES, 1);
	close(lock); /* releases the lock */
	return err;
}

enum octo_err octo_store_manifest_type(const struct octo_store *s, const char *repo,
				       const struct octo_digest *d, char *buf, size_t size)
{
	char rel[OCTO_STORE_PATH_MAX], type[OCTO_MANIFEST_TYPE_MAX];
	enum octo_err err = revision_rel(repo, d, rel, sizeof(rel));

	if (err == OCTO_OK)
		err = read_small(s, rel, type, sizeof(type), OCTO_ERR_MANIFEST_UNKNOWN);
	if (err != OCTO_OK)
		return err;
	/* It becomes a Content-Type header: only the types a PUT accepts, never other bytes. */
	if (!octo_manifest_media_type_known(type) || strlen(type) >= size)
		return OCTO_ERR_IO;
	memcpy(buf, type, strlen(type) + 1);
	return OCTO_OK;
}

enum octo_err octo_store_unlink_manifest(const struct octo_store *s, const char *repo,
					 const struct octo_digest *d)
{
	char rel[OCTO_STORE_PATH_MAX];
	enum octo_err err = revision_rel(repo, d, rel, sizeof(rel));
	int lock;

	if (err != OCTO_OK)
		return err;
	lock = lock_tags(s, repo);
	if (lock < 0) /* no _manifests directory: no revision either */
		return errno == ENOENT ? OCTO_ERR_MANIFEST_UNKNOWN
				       : octo_fs_fail("lock", rel, errno);
	err = octo_store_remove(s, rel, OCTO_ERR_MANIFEST_UNKNOWN);
	if (err == OCTO_OK && !octo_store_repo_holds_manifests(s, repo))
		octo_metrics_gauge_add(octo_store_metrics(s), OCTO_GAUGE_REPOSITORIES, -1);
	close(lock); /* releases the lock */
	return err;
}

static enum octo_err update_tag_index(const struct octo_store *s, const char *repo,
				      const char *removed);

enum octo_err octo_store_tag_set(const struct octo_store *s, const char *repo, const char *tag,
				 const struct octo_digest *d)
{
	char rel[OCTO_STORE_PATH_MAX], ds[OCTO_DIGEST_MAX_STRING];
	enum octo_err err = tag_rel(repo, tag, rel, sizeof(rel));

	if (err != OCTO_OK)
		return err;
	octo_digest_format(d, ds, sizeof(ds));
	/* The tag first, then the index: the index never names a tag that does not exist. */
	err = octo_store_write_atomic(s, rel, ds, strlen(ds), 1);
	return err == OCTO_OK ? update_tag_index(s, repo, NULL) : err;
}

enum octo_err octo_store_tag_get(const struct octo_store *s, const char *repo, const char *tag,
				 struct octo_digest *d)
{
	char rel[OCTO_STORE_PATH_MAX], ds[OCTO_DIGEST_MAX_STRING + 2];
	enum octo_err err = tag_rel(repo, tag, rel, sizeof(rel));

	if (err == OCTO_OK)
		err = read_small(s, rel, ds, sizeof(ds), OCTO_ERR_MANIFEST_UNKNOWN);
	if (err != OCTO_OK)
		return err;
	return octo_digest_parse(ds, strlen(ds), d) == OCTO_OK ? OCTO_OK : OCTO_ERR_IO;
}

enum octo_err octo_store_tag_delete(const struct octo_store *s, const char *repo, const char *tag)
{
	/* The index first, then the tag, for the same reason as in octo_store_tag_set. */
	return update_tag_index(s, repo, tag);
}

enum octo_err octo_store_tag_list(const struct octo_store *s, const char *repo,
				  struct octo_strv *tags)
{
	char rel[OCTO_STORE_PATH_MAX];
	enum octo_err err;
	int fd;

	memset(tags, 0, sizeof(*tags));
	err = octo_store_path(rel, sizeof(rel), "repositories/%s/_manifests", repo);
	if (err != OCTO_OK)
		return err;
	fd = octo_store_opendir(s, rel, 0);
	if (fd < 0)
		return octo_store_error(errno, OCTO_ERR_NAME_UNKNOWN);
	close(fd);
	err = octo_store_path(rel, sizeof(rel), "repositories/%s/_manifests/tags", repo);
	if (err == OCTO_OK)
		err = octo_store_list(s, rel, octo_tag_valid, OCTO_ERR_NAME_UNKNOWN, tags);
	if (err == OCTO_ERR_NAME_UNKNOWN)
		return OCTO_OK; /* no tags yet */
	if (err == OCTO_OK)
		octo_strv_sort(tags, octo_tag_cmp);
	return err;
}

/* Take the repository's tag lock (_manifests/tags.lock): an fd to close, or -1. */
static int lock_tags(const struct octo_store *s, const char *repo)
{
	char rel[OCTO_STORE_PATH_MAX];
	int fd;

	if (octo_store_path(rel, sizeof(rel), "repositories/%s/_manifests/tags.lock", repo) !=
	    OCTO_OK) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = octo_store_openat(s, rel, O_RDWR | O_CREAT, 0644);
	if (fd < 0)
		return -1;
	while (flock(fd, LOCK_EX) != 0)
		if (errno != EINTR) {
			close(fd);
			return -1;
		}
	return fd;
}

/* The tag index, _manifests/tags.index: every tag of the repository in octo_tag_cmp order,
 * one per line, so that listing tags reads one file instead of scanning and sorting a
 * directory. It is derived from the tag files and rewritten from a scan of them, under
 * _manifests/tags.lock, after every tag write and before every tag removal (which happens
 * under the same lock: the tag removed is then unlinked); a tag write lost to a crash in
 * between (never acknowledged) is picked up by the next rewrite. */
static enum octo_err update_tag_index(const struct octo_store *s, const char *repo,
				      const char *removed)
{
	char rel[OCTO_STORE_PATH_MAX], tag[OCTO_STORE_PATH_MAX];
	struct octo_strv tags = {0};
	enum octo_err err;
	char *text = NULL;
	size_t i, len = 0, size = 1;
	int lock;

	lock = lock_tags(s, repo);
	if (lock < 0) /* no _manifests directory: nothing to remove */
		return errno == ENOENT && removed != NULL ? OCTO_ERR_MANIFEST_UNKNOWN
							  : octo_store_error(errno, OCTO_ERR_IO);
	err = octo_store_tag_list(s, repo, &tags);
	for (i = 0; err == OCTO_OK && i < tags.n; i++)
		size += strlen(tags.v[i]) + 1;
	if (err == OCTO_OK && (text = malloc(size)) == NULL)
		err = OCTO_ERR_NOMEM;
	for (i = 0; err == OCTO_OK && i < tags.n; i++) {
		size_t tl = strlen(tags.v[i]);
		if (removed != NULL && strcmp(tags.v[i], removed) == 0)
			continue;
		memcpy(text + len, tags.v[i], tl);
		len += tl;
		text[len++] = '\n';
	}
	if (err == OCTO_OK && removed != NULL) {
		err = tag_rel(repo, removed, tag, sizeof(tag));
		if (err == OCTO_OK)
			err = octo_store_stat(s, tag, OCTO_ERR_MANIFEST_UNKNOWN, NULL);
	}
	if (err == OCTO_OK)
		err = octo_store_path(rel, sizeof(rel), "repositories/%s/_manifests/tags.index",
				      repo);
	if (err == OCTO_OK)
		err = octo_store_write_atomic(s, rel, text, len, 1);
	if (err == OCTO_OK && removed != NULL)
		err = octo_store_remove(s, tag, OCTO_ERR_MANIFEST_UNKNOWN);
	free(text);
	octo_strv_cleanup(&tags);
	close(lock); /* releases the lock */
	return err;
}

/* Every line a tag, strictly in octo_tag_cmp order, the last one ended. */
static int index_valid(char *text, size_t len)
{
	const char *prev = NULL;
	char *line = text, *end = text + len;

	if (len > 0 && text[len - 1] != '\n')
		return 0;
	while (line < end) {
		char *nl = memchr(line, '\n', (size_t)(end - line));
		if (!octo_tag_valid(line, (size_t)(nl - line)))
			return 0;
		*nl = '\0';
		if (prev != NULL && octo_tag_cmp(prev, line) >= 0) {
			*nl = '\n';
			return 0;
		}
		*nl = '\n';
		prev = line;
		line = nl + 1;
	}
	return 1;
}

enum octo_err octo_store_tag_index(const struct octo_store *s, const char *repo, char **text,
				   size_t *len)
{
	char rel[OCTO_STORE_PATH_MAX];
	enum octo_err err;

	*text = NULL;
	*len = 0;
	err = octo_store_path(rel, sizeof(rel), "repositories/%s/_manifests/tags.index", repo);
	if (err == OCTO_OK)
		err = octo_store_read(s, rel, OCTO_BOUND_TAG_INDEX, OCTO_ERR_NAME_UNKNOWN, text,
				      len);
	if (err == OCTO_OK && !index_valid(*text, *len))
		err = OCTO_ERR_NAME_UNKNOWN;
	if (err != OCTO_OK) {
		free(*text);
		*text = NULL;
		*len = 0;
	}
	return err == OCTO_ERR_TOO_LARGE || err == OCTO_ERR_IO ? OCTO_ERR_NAME_UNKNOWN : err;
}
