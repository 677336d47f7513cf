/* SPDX-License-Identifier: Apache-2.0 */
/* See store-repo.h. The walk goes directory fd to directory fd with O_NOFOLLOW, so a
 * symlink planted under repositories/ is never entered. */
#include "autoconfig.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bounds.h"
#include "fsutil.h"
#include "index.h"
#include "name.h"
#include "store-repo.h"

/* Whether the directory named name in dir has an entry whose name does not start with a dot;
 * with depth 1, whether one of its directories has (revisions/<alg>/<hex>). */
static int has_entry(int dir, const char *name, int depth)
{
	int fd = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct dirent *e;
	int found = 0;
	DIR *d;

	if (fd < 0)
		return 0;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return 0;
	}
	while (!found && (e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			found = depth == 0 || has_entry(dirfd(d), e->d_name, depth - 1);
	closedir(d);
	return found;
}

/* Whether the repository directory dir holds a manifest: one revision at least (a
 * repository whose last manifest was deleted is not listed). */
static int holds_manifests(int dir)
{
	int fd = openat(dir, "_manifests", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int found;

	if (fd < 0)
		return 0;
	found = has_entry(fd, "revisions", 1);
	close(fd);
	return found;
}

/* fn for every repository directory below the directory fd (consumed): one holding an
 * entry whose name starts with '_' (_manifests, _layers, ...: no name component can);
 * prefix is the name so far ("" or "a/b/"). */
static enum octo_err walk(int fd, const char *prefix, octo_store_repo_fn fn, void *ctx, int depth)
{
	enum octo_err err = OCTO_OK;
	char name[OCTO_NAME_MAX + 2];
	size_t plen = strlen(prefix);
	int visited = 0;
	struct dirent *e;
	DIR *d = fdopendir(fd);

	if (d == NULL) {
		close(fd);
		return OCTO_OK;
	}
	while (err == OCTO_OK && (e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		int sub;

		if (e->d_name[0] == '.')
			continue;
		if (e->d_name[0] == '_') {
			if (!visited && plen > 0 && octo_name_valid(prefix, plen - 1)) {
				memcpy(name, prefix, plen - 1);
				name[plen - 1] = '\0';
				err = fn(ctx, dirfd(d), name);
			}
			visited = 1;
			continue;
		}
		if (depth >= OCTO_BOUND_CATALOG_DEPTH || plen + len + 1 >= sizeof(name))
			continue;
		sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			continue; /* a file, a symlink, or gone */
		memcpy(name, prefix, plen);
		memcpy(name + plen, e->d_name, len);
		name[plen + len] = '/';
		name[plen + len + 1] = '\0';
		err = walk(sub, name, fn, ctx, depth + 1);
	}
	closedir(d);
	return err;
}

enum octo_err octo_store_repo_walk(const struct octo_store *s, octo_store_repo_fn fn, void *ctx)
{
	int fd = octo_store_opendir(s, "repositories", 0);

	if (fd < 0)
		return octo_store_error(errno, OCTO_OK);
	return walk(fd, "", fn, ctx, 0);
}

static enum octo_err collect_holding(void *ctx, int dir, const char *name)
{
	struct octo_strv *out = ctx;

	if (holds_manifests(dir) && octo_strv_push(out, name, strlen(name)) != 0)
		return OCTO_ERR_NOMEM;
	return OCTO_OK;
}

enum octo_err octo_store_repo_list(const struct octo_store *s, struct octo_strv *names)
{
	enum octo_err err;

	memset(names, 0, sizeof(*names));
	err = octo_store_repo_walk(s, collect_holding, names);
	if (err != OCTO_OK)
		octo_strv_cleanup(names);
	else
		octo_strv_sort(names, strcmp);
	return err;
}

int octo_store_repo_holds_manifests(const struct octo_store *s, const char *repo)
{
	char rel[OCTO_STORE_PATH_MAX];
	int fd, found;

	if (octo_store_path(rel, sizeof(rel), "repositories/%s", repo) != OCTO_OK ||
	    (fd = octo_store_opendir(s, rel, 0)) < 0)
		return 0;
	found = holds_manifests(fd);
	close(fd);
	return found;
}

/* The catalog index (index.h): repositories.index and repositories.delta at the root,
 * written under repositories.lock; a repository is listed while it holds a manifest. */
static int repo_exists(const struct octo_index *ix, const char *name)
{
	return octo_store_repo_holds_manifests(ix->store, name);
}

static enum octo_err repo_scan(const struct octo_index *ix, struct octo_strv *names)
{
	return octo_store_repo_list(ix->store, names);
}

static struct octo_index catalog_index(const struct octo_store *s)
{
	return (struct octo_index){.store = s,
				   .snapshot = "repositories.index",
				   .delta = "repositories.delta",
				   .name_max = OCTO_NAME_MAX,
				   .valid = octo_name_valid,
				   .cmp = strcmp,
				   .exists = repo_exists,
				   .scan = repo_scan};
}

enum octo_err octo_store_repo_page(const struct octo_store *s, const char *last, long limit,
				   struct octo_strv *names, int *more)
{
	struct octo_index ix = catalog_index(s);

	return octo_index_page(&ix, last, limit, names, more);
}

enum octo_err octo_store_repo_note(const struct octo_store *s, char op, const char *repo)
{
	struct octo_index ix = catalog_index(s);
	enum octo_err err;
	int lock = octo_store_lock(s, "repositories.lock", 0);

	if (lock < 0)
		return octo_fs_fail("lock", "repositories.lock", errno);
	err = octo_index_note(&ix, op, repo);
	close(lock); /* releases the lock */
	return err;
}

enum octo_err octo_store_repos_set_aside(const struct octo_store *s, const char *aside)
{
	static const char *const names[] = {"repositories", "repositories.index",
					    "repositories.delta"};
	char to[OCTO_STORE_PATH_MAX];
	enum octo_err err = OCTO_OK;
	int lock = octo_store_lock(s, "repositories.lock", 1);
	size_t i;

	if (lock < 0)
		return octo_fs_fail("lock", "repositories.lock", errno);
	for (i = 0; err == OCTO_OK && i < sizeof(names) / sizeof(names[0]); i++) {
		char from[OCTO_STORE_PATH_MAX];
		int dir;
		if (octo_store_path(from, sizeof(from), "%s", names[i]) != OCTO_OK)
			continue;
		if ((dir = octo_store_opendir(s, from, 0)) >= 0)
			close(dir);
		else if (octo_store_stat(s, from, OCTO_ERR_NAME_UNKNOWN, NULL) != OCTO_OK)
			continue; /* not there: nothing to move */
		err = octo_store_path(to, sizeof(to), "%s/%s", aside, names[i]);
		if (err == OCTO_OK)
			err = octo_store_rename(s, from, to);
	}
	/* what moved is durable in aside, aside in its parent, and gone from the root */
	if (err == OCTO_OK && (err = octo_store_path(to, sizeof(to), "%s/x", aside)) == OCTO_OK)
		err = octo_store_sync_parent(s, to);
	if (err == OCTO_OK)
		err = octo_store_sync_parent(s, aside);
	if (err == OCTO_OK)
		err = octo_store_sync_parent(s, "repositories");
	close(lock);
	return err;
}
