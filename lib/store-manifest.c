/* SPDX-License-Identifier: Apache-2.0 */
/* See store-manifest.h. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bounds.h"
#include "fsutil.h"
#include "index.h"
#include "manifest.h"
#include "metrics.h"
#include "name.h"
#include "store-manifest.h"
#include "store-record.h"
#include "store-repo.h"

enum octo_err octo_store_revision_key(const struct octo_digest *d, char *buf, size_t size)
{
	return octo_store_path(buf, size, "_manifests/revisions/%s/%s",
			       octo_digest_alg_name(d->alg), d->hex);
}

enum octo_err octo_store_tag_key(const char *tag, char *buf, size_t size)
{
	return octo_store_path(buf, size, "_manifests/tags/%s", tag);
}

/* The value of the live record under key into buf (NUL-terminated): missing when there is
 * none; OCTO_ERR_IO when it is not a record or does not fit. */
static enum octo_err read_value(const struct octo_store *s, const char *repo, const char *key,
				char *buf, size_t size, enum octo_err missing)
{
	struct octo_store_record sr;
	enum octo_err err = octo_store_record_get(s, repo, key, size - 1, missing, &sr);

	if (err != OCTO_OK)
		return err;
	memcpy(buf, sr.rec.value, sr.rec.value_len);
	buf[sr.rec.value_len] = '\0';
	octo_store_record_cleanup(&sr);
	return OCTO_OK;
}

/* Take the repository's tag lock (_manifests/tags.lock) into *fd, making _manifests first
 * when create; without create, a repository with no _manifests is OCTO_ERR_MANIFEST_UNKNOWN. */
static enum octo_err lock_tags(const struct octo_store *s, const char *repo, int create, int *fd)
{
	char rel[OCTO_STORE_PATH_MAX];
	enum octo_err err =
		octo_store_path(rel, sizeof(rel), "repositories/%s/_manifests/tags.lock", repo);

	if (err != OCTO_OK)
		return err;
	*fd = octo_store_lock(s, rel, create);
	if (*fd >= 0)
		return OCTO_OK;
	return !create && errno == ENOENT ? OCTO_ERR_MANIFEST_UNKNOWN
					  : octo_fs_fail("lock", rel, errno);
}

/* Revisions are added and removed under the tag lock, so that exactly one request sees
 * the repository gain its first manifest or lose its last (the repositories gauge). */
enum octo_err octo_store_link_manifest(const struct octo_store *s, const char *repo,
				       const struct octo_digest *d, const char *media_type,
				       const struct octo_record_stamp *stamp)
{
	char key[OCTO_STORE_PATH_MAX];
	struct octo_record r = {
		.stamp = *stamp, .value = media_type, .value_len = strlen(media_type)};
	enum octo_err err = octo_store_revision_key(d, key, sizeof(key));
	int lock, had, won = 0;

	if (err == OCTO_OK)
		err = lock_tags(s, repo, 1, &lock);
	if (err != OCTO_OK)
		return err;
	had = octo_store_repo_holds_manifests(s, repo);
	err = had ? OCTO_OK : octo_store_repo_note(s, '+', repo); /* the catalog first */
	if (err == OCTO_OK)
		err = octo_store_record_put(s, repo, key, &r, &won);
	if (won && !had)
		octo_metrics_gauge_add(octo_store_metrics(s), OCTO_GAUGE_REPOSITORIES, 1);
	close(lock); /* releases the lock */
	return err;
}

enum octo_err octo_store_manifest_type(const struct octo_store *s, const char *repo,
				       const struct octo_digest *d, char *buf, size_t size)
{
	char key[OCTO_STORE_PATH_MAX], type[OCTO_MANIFEST_TYPE_MAX];
	enum octo_err err = octo_store_revision_key(d, key, sizeof(key));

	if (err == OCTO_OK)
		err = read_value(s, repo, key, type, sizeof(type), OCTO_ERR_MANIFEST_UNKNOWN);
	if (err != OCTO_OK)
		return err;
	/* It becomes a Content-Type header: only the types a PUT accepts, never other bytes. */
	if (!octo_manifest_media_type_known(type) || strlen(type) >= size)
		return OCTO_ERR_IO;
	memcpy(buf, type, strlen(type) + 1);
	return OCTO_OK;
}

enum octo_err octo_store_unlink_manifest(const struct octo_store *s, const char *repo,
					 const struct octo_digest *d,
					 const struct octo_record_stamp *stamp)
{
	char key[OCTO_STORE_PATH_MAX];
	struct octo_record r = {.stamp = *stamp, .tombstone = 1};
	enum octo_err err = octo_store_revision_key(d, key, sizeof(key));
	int lock, had, won = 0;

	if (err == OCTO_OK)
		err = lock_tags(s, repo, 1, &lock);
	if (err != OCTO_OK)
		return err;
	had = octo_store_repo_holds_manifests(s, repo);
	err = octo_store_record_put(s, repo, key, &r, &won);
	if (won && had && !octo_store_repo_holds_manifests(s, repo)) {
		octo_metrics_gauge_add(octo_store_metrics(s), OCTO_GAUGE_REPOSITORIES, -1);
		err = octo_store_repo_note(s, '-', repo); /* the catalog after */
	}
	close(lock); /* releases the lock */
	return err;
}

enum octo_err octo_store_tag_get(const struct octo_store *s, const char *repo, const char *tag,
				 struct octo_digest *d)
{
	char key[OCTO_STORE_PATH_MAX], ds[OCTO_DIGEST_MAX_STRING + 1];
	enum octo_err err = octo_store_tag_key(tag, key, sizeof(key));

	if (err == OCTO_OK)
		err = read_value(s, repo, key, ds, sizeof(ds), OCTO_ERR_MANIFEST_UNKNOWN);
	if (err != OCTO_OK)
		return err;
	return octo_digest_parse(ds, strlen(ds), d) == OCTO_OK ? OCTO_OK : OCTO_ERR_IO;
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

/* The tag index of a repository (index.h): _manifests/tags.index and _manifests/tags.delta,
 * written under the tag lock; a tag exists while its record holds a digest. */
struct tag_index {
	struct octo_index ix;
	char snapshot[OCTO_STORE_PATH_MAX], delta[OCTO_STORE_PATH_MAX];
};

static int tag_exists(const struct octo_index *ix, const char *tag)
{
	struct octo_digest d;

	return octo_store_tag_get(ix->store, ix->ctx, tag, &d) == OCTO_OK;
}

static enum octo_err tag_scan(const struct octo_index *ix, struct octo_strv *tags)
{
	return octo_store_tag_list(ix->store, ix->ctx, tags);
}

static enum octo_err tag_index(const struct octo_store *s, const char *repo, struct tag_index *ti)
{
	enum octo_err err = octo_store_path(ti->snapshot, sizeof(ti->snapshot),
					    "repositories/%s/_manifests/tags.index", repo);

	if (err == OCTO_OK)
		err = octo_store_path(ti->delta, sizeof(ti->delta),
				      "repositories/%s/_manifests/tags.delta", repo);
	ti->ix = (struct octo_index){.store = s,
				     .snapshot = ti->snapshot,
				     .delta = ti->delta,
				     .name_max = OCTO_TAG_MAX,
				     .valid = octo_tag_valid,
				     .cmp = octo_tag_cmp,
				     .exists = tag_exists,
				     .scan = tag_scan,
				     .ctx = repo};
	return err;
}

enum octo_err octo_store_tag_page(const struct octo_store *s, const char *repo, const char *last,
				  long limit, struct octo_strv *tags, int *more)
{
	struct tag_index ti;
	enum octo_err err = tag_index(s, repo, &ti);

	memset(tags, 0, sizeof(*tags));
	*more = 0;
	return err != OCTO_OK ? err : octo_index_page(&ti.ix, last, limit, tags, more);
}

static enum octo_err index_note(const struct octo_store *s, const char *repo, char op,
				const char *tag)
{
	struct tag_index ti;
	enum octo_err err = tag_index(s, repo, &ti);

	return err != OCTO_OK ? err : octo_index_note(&ti.ix, op, tag);
}

enum octo_err octo_store_tag_set(const struct octo_store *s, const char *repo, const char *tag,
				 const struct octo_digest *d, const struct octo_record_stamp *stamp)
{
	char key[OCTO_STORE_PATH_MAX], ds[OCTO_DIGEST_MAX_STRING];
	struct octo_record r = {.stamp = *stamp, .value = ds};
	struct octo_digest old;
	enum octo_err err = octo_store_tag_key(tag, key, sizeof(key));
	int lock;

	if (err == OCTO_OK)
		err = lock_tags(s, repo, 1, &lock);
	if (err != OCTO_OK)
		return err;
	octo_digest_format(d, ds, sizeof(ds));
	r.value_len = strlen(ds);
	/* The index first (a new tag only: a retag leaves it as it is), then the tag. */
	if (octo_store_tag_get(s, repo, tag, &old) == OCTO_ERR_MANIFEST_UNKNOWN)
		err = index_note(s, repo, '+', tag);
	if (err == OCTO_OK)
		err = octo_store_record_put(s, repo, key, &r, NULL);
	close(lock); /* releases the lock */
	return err;
}

enum octo_err octo_store_tag_delete(const struct octo_store *s, const char *repo, const char *tag,
				    const struct octo_record_stamp *stamp)
{
	char key[OCTO_STORE_PATH_MAX];
	struct octo_record r = {.stamp = *stamp, .tombstone = 1};
	struct octo_digest old;
	enum octo_err err = octo_store_tag_key(tag, key, sizeof(key));
	int lock, had, won = 0;

	if (err == OCTO_OK)
		err = lock_tags(s, repo, 1, &lock);
	if (err != OCTO_OK)
		return err;
	had = octo_store_tag_get(s, repo, tag, &old) == OCTO_OK;
	/* The tombstone first, then the index. */
	err = octo_store_record_put(s, repo, key, &r, &won);
	if (err == OCTO_OK && had && won)
		err = index_note(s, repo, '-', tag);
	close(lock); /* releases the lock */
	return err;
}
